package transport

import (
	"bufio"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"
)

// FuzzReadSMTPReply feeds arbitrary server bytes to the SMTP reply reader
// of ReadSMTPGreeting and StartTLSSMTP: it never panics, keeps at most
// maxReplyLines lines of at most maxReplyLine bytes, accepts no empty
// reply, and a refusal it reports as an *smtp.SMTPError carries a valid
// code other than the one wanted.
func FuzzReadSMTPReply(f *testing.F) {
	for _, seed := range []string{
		"220 ready\r\n",
		"220-first\r\n220 second\r\n",
		"250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n",
		"454 4.7.0 TLS not available\r\n",
		"2200 x\r\n",
		"22\r\n",
		"220-" + strings.Repeat("x", 5000) + "\r\n",
		strings.Repeat("220-x\r\n", 150),
		"",
	} {
		f.Add(seed, 220)
	}
	f.Fuzz(func(t *testing.T, in string, want int) {
		lines, err := readSMTPReply(bufio.NewReaderSize(strings.NewReader(in), maxReplyLine), &Conn{protocol: "smtp", addr: "a"}, "X", want)
		if len(lines) > maxReplyLines {
			t.Fatalf("%d lines kept, over %d", len(lines), maxReplyLines)
		}
		for _, l := range lines {
			if len(l) > maxReplyLine {
				t.Fatalf("a line of %d bytes kept, over %d", len(l), maxReplyLine)
			}
		}
		if err == nil {
			if len(lines) == 0 {
				t.Fatal("a reply of no line accepted")
			}
			return
		}
		var se *smtp.SMTPError
		if errors.As(err, &se) && (se.Code == want || se.Code < 100 || se.Code > 599) {
			t.Fatalf("refused with code %d (want %d): %v", se.Code, want, err)
		}
	})
}
