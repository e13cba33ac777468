package mailserver

import (
	"bufio"
	"bytes"
	"net/textproto"
	"strings"
	"testing"
)

// TestWriteDotStuffed checks that writeDotStuffed writes every body as
// net/textproto's DotWriter does, whether it takes the DotWriter or writes
// the body as it is (but an empty body, which DotWriter writes as one empty
// line), and that it calls extend before each write.
func TestWriteDotStuffed(t *testing.T) {
	big := strings.Repeat("0123456789abcdef\r\n", (1<<20)/18+10) // over one 1 MiB chunk
	tests := []struct {
		name  string
		body  string
		plain bool // written as it is
	}{
		{"empty", "", true},
		{"CRLF", "Subject: x\r\n\r\nhello\r\n", true},
		{"dot inside a line", "a.b\r\nc .\r\n", true},
		{"large", big, true},
		{"no final CRLF", "Subject: x\r\n\r\nhello", false},
		{"first line dot", ".hidden\r\nrest\r\n", false},
		{"dot line", "a\r\n.\r\n..\r\nb\r\n", false},
		{"bare LF", "a\nb\r\n", false},
		{"bare CR", "a\rb\r\n", true},
		{"large with a dot line", big + ".\r\n" + big, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := !needsDotWriter([]byte(tc.body)); got != tc.plain {
				t.Errorf("written as it is: %v, want %v", got, tc.plain)
			}
			var want bytes.Buffer
			ww := bufio.NewWriter(&want)
			dw := textproto.NewWriter(ww).DotWriter()
			if _, err := dw.Write([]byte(tc.body)); err != nil {
				t.Fatal(err)
			}
			if err := dw.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.body == "" {
				want.Reset()
				want.WriteString(".\r\n") // no line at all
			}
			var got bytes.Buffer
			w := bufio.NewWriterSize(&got, 4096)
			extended := 0
			if err := writeDotStuffed(w, []byte(tc.body), func() { extended++ }); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("wrote %q..., DotWriter %q... (%d and %d bytes)", head(got.Bytes()), head(want.Bytes()), got.Len(), want.Len())
			}
			if chunks := (len(tc.body) + 1<<20 - 1) >> 20; extended != chunks+1 {
				t.Errorf("extend called %d times, want %d (before each of %d chunks and the end)", extended, chunks+1, chunks)
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 40)] }
