package clients

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestSMTPSubmitterNamesServerOnce: a failed submission's error names the
// server once, however the session failed. Before transport's errors were
// all typed (transport.ServerError), a refused greeting read "smtp ADDR:
// smtp ADDR: greeting: SMTP error 554: go away" and a server without
// STARTTLS "smtp ADDR: smtp ADDR: EHLO: STARTTLS not offered". Until
// 2026-12-04 a submission without a reply after its message data
// (UnansweredError) put the reason first: "no reply after the message data
// (the server may have taken it): smtp ADDR: EOF".
func TestSMTPSubmitterNamesServerOnce(t *testing.T) {
	tests := []struct {
		name  string
		tls   transport.TLSMode
		serve func(c net.Conn, r *bufio.Reader)
		want  string // after "smtp ADDR: "
		// answer, when set, stands for serve: fakeSubmission's server.
		answer func(c net.Conn, verb string) (handled, goOn bool)
	}{
		{"greeting refused", transport.TLSNone, func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "554 go away\r\n")
			_, _ = io.Copy(io.Discard, r)
		}, "greeting", nil},
		{"garbage greeting", transport.TLSNone, func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "hello there\r\n")
			_, _ = io.Copy(io.Discard, r)
		}, "greeting", nil},
		{"no STARTTLS", transport.TLSStartTLS, func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake\r\n")
			_, _ = r.ReadString('\n')
			fmt.Fprintf(c, "250-fake\r\n250 8BITMIME\r\n")
			_, _ = io.Copy(io.Discard, r)
		}, "STARTTLS not offered", nil},
		{"AUTH refused", transport.TLSNone, func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake\r\n")
			_, _ = r.ReadString('\n')
			fmt.Fprintf(c, "250-fake\r\n250 AUTH PLAIN\r\n")
			_, _ = r.ReadString('\n')
			fmt.Fprintf(c, "535 5.7.8 no\r\n")
			_, _ = r.ReadString('\n') // QUIT
			fmt.Fprintf(c, "221 bye\r\n")
		}, "535", nil},
		// fakeSubmission's server, which hangs up after the message data.
		{name: "no reply after the data", tls: transport.TLSNone, want: "no reply after the message data",
			answer: func(c net.Conn, verb string) (handled, goOn bool) { return verb == ".", verb != "." }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var addr string
			if tt.answer != nil {
				addr = fakeSubmission(t, tt.answer)
			} else {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				addr = serveLoopback(t, ln, func(c net.Conn) { tt.serve(c, bufio.NewReader(c)) })
			}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr, TLS: tt.tls},
				SMTPOptions{Username: "alice", Password: "x", Recorder: &c2Recorder{}, Timeout: 10 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := sub.Submit(ctx, "alice@example.com", []string{"bob@example.com"}, []byte("x\r\n"))
			prefix := "smtp " + addr + ": "
			if err == nil {
				t.Fatal("the submission succeeded")
			}
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || len(regexp.MustCompile(`(lmtp|smtp|imap|pop3) `+regexp.QuoteMeta(addr)+`: `).FindAllString(msg, -1)) != 1 || !strings.Contains(msg, tt.want) {
				t.Errorf("err %q, want %q, the server named once, then %q", msg, prefix, tt.want)
			}
		})
	}
}

// TestSMTPSubmitterSomeRefusedAtTheStop: a submission the server accepted
// for some recipients, whose DATA it answered within the stop's grace
// after the stop came, returns the *RecipientsError that tells the device
// the message was sent. Before, the stop's wording turned it into text
// ("smtp A: context canceled (smtp: 1 recipient(s) refused ...)"): the
// device failed the send, kept no copy in Sent, and nothing recorded the
// colleague's copy.
func TestSMTPSubmitterSomeRefusedAtTheStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rcpts := 0
	addr := fakeSubmission(t, func(c net.Conn, verb string) (handled, goOn bool) {
		switch verb {
		case "RCPT":
			if rcpts++; rcpts == 1 {
				fmt.Fprintf(c, "550 5.1.1 no such user\r\n")
				return true, true
			}
		case ".":
			cancel() // the stop has come (ctx.Err is set) before DATA's reply goes out
			fmt.Fprintf(c, "250 ok\r\n")
			return true, true
		}
		return false, true
	})
	sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr},
		SMTPOptions{Username: "alice", Password: "x", Recorder: &c2Recorder{}, Timeout: 10 * time.Second, StopGrace: 10 * time.Second})
	err := sub.Submit(ctx, "alice@example.com", []string{"nobody@example.com", "bob@example.com"}, []byte("x\r\n"))
	var re *RecipientsError
	if !errors.As(err, &re) || re.Accepted != 1 || len(re.Rejected) != 1 {
		t.Errorf("submission: %v, want a *RecipientsError with one accepted and one refused", err)
	}
}
