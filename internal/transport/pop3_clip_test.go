package transport_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestPOP3LongRepliesClipped: a reply quoted in an error (a greeting that
// is not +OK, a -ERR's text) is cut to a line a person can read, not the
// kilobytes a server sent; the error still says what it is.
func TestPOP3LongRepliesClipped(t *testing.T) {
	long := strings.Repeat("é", 2000) // two bytes each: the cut must not split one
	for _, tt := range []struct {
		name  string
		serve func(*bufio.Reader, net.Conn)
		want  string
	}{
		{"garbage greeting", func(_ *bufio.Reader, c net.Conn) { _, _ = c.Write([]byte("GARBAGE " + long + "\r\n")) }, "unknown response: GARBAGE"},
		{"long -ERR", func(r *bufio.Reader, c net.Conn) {
			_, _ = c.Write([]byte("+OK ready\r\n"))
			_, _ = r.ReadString('\n')
			_, _ = c.Write([]byte("-ERR " + long + "\r\n"))
		}, "USER"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) {
				r := bufio.NewReader(c)
				tt.serve(r, c)
				_, _ = r.ReadString('\n')
			})
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "pop3", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			p, err := transport.OpenPOP3(conn, nil)
			if err == nil {
				_, err = p.Cmd("USER", "USER alice")
			}
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if len(msg) > 400 || !strings.Contains(msg, tt.want) || !strings.HasSuffix(msg, "…") || strings.ContainsRune(msg, '\uFFFD') {
				t.Errorf("error of %d bytes: %.500s", len(msg), msg)
			}
			var pe *transport.POP3Error
			if tt.name == "long -ERR" && !errors.As(err, &pe) {
				t.Errorf("a -ERR is not a *POP3Error: %v", err)
			}
		})
	}
}
