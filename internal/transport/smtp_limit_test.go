package transport_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestSMTPReplyBounded: a server whose reply to the hello never ends — a
// multi-line reply of short "250-" lines, each within go-smtp's line
// limit — fails the command with ErrReplyTooLarge (an error outcome) at
// once, holding a few KiB, on SMTP and LMTP alike. Before the bound
// go-smtp kept every line until the command's deadline: a timeout after
// hundreds of MiB a second. A reply of exactly the 100 lines allowed
// still works, and the next reply starts its own count.
func TestSMTPReplyBounded(t *testing.T) {
	const endless = 64 << 20 // what the server sends: far over the bound
	for _, tt := range []struct {
		name  string
		lmtp  bool
		lines int // the reply's lines (0: endless)
	}{
		{"smtp endless", false, 0},
		{"lmtp endless", true, 0},
		{"smtp 100 lines", false, 100},
		{"smtp 101 lines", false, 101},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			srv := faketest.Start(t, faketest.Options{ConnTimeout: 10 * time.Second}, func(c net.Conn) {
				r := bufio.NewReader(c)
				_, _ = c.Write([]byte("220 hostile ready\r\n"))
				for range 2 { // the hello twice: the second reply counts from zero
					if _, err := r.ReadString('\n'); err != nil {
						return
					}
					if tt.lines == 0 {
						_ = faketest.Repeat(c, []byte("250-hostile never ends\r\n"), endless)
						return
					}
					_, _ = c.Write([]byte(strings.Repeat("250-x\r\n", tt.lines-1) + "250 done\r\n"))
				}
				_, _ = r.ReadString('\n')
			})
			ep := transport.Endpoint{Addr: srv.Addr}
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp", Endpoint: ep, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			nc, err := transport.ReadSMTPGreeting(conn)
			if err != nil {
				t.Fatal(err)
			}
			c, err := transport.OpenSMTP(conn, nc, ep, tt.lmtp, nil)
			if err != nil {
				t.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			err = c.Hello("client.test")
			runtime.ReadMemStats(&m1)
			if tt.lines == 100 {
				if err != nil {
					t.Fatalf("a reply of 100 lines: %v", err)
				}
				if err = c.Noop(); err != nil { // a second reply of 100 lines
					t.Fatalf("a second reply of 100 lines: %v", err)
				}
			} else {
				if !errors.Is(err, transport.ErrReplyTooLarge) || transport.OutcomeOf(err) != transport.OutcomeError {
					t.Errorf("hello: %.300v (outcome %s), want ErrReplyTooLarge (error)", err, transport.OutcomeOf(err))
				}
				if err2 := c.Noop(); !errors.Is(err2, transport.ErrReplyTooLarge) {
					t.Errorf("the command after: %v, want the same bound", err2)
				}
			}
			if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 4<<20 {
				t.Errorf("the hello allocated %d MiB", grew>>20)
			}
			_ = conn.Close()
			srv.Close()
			faketest.GoroutinesBack(t, before, 5*time.Second, "after Close")
		})
	}
}
