package transport_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestUnservedIsRefused: a connection the server ends or resets before it
// sends a byte was never served, and its greeting's failure is refused,
// as the connect refused a moment later; a restarting Dovecot resets the
// connections its listen queue held (TestFaultDovecotRestart, cmd/mailsim:
// the injector's LMTP setups counted error before). A server that sent
// something first — half a greeting, or a whole one and then nothing more
// — broke a session it had begun: error. Over each protocol's greeting
// reader.
func TestUnservedIsRefused(t *testing.T) {
	greeters := []struct {
		proto    string
		greeting string
		// open reads the greeting and returns a command to send after
		// it, which fails with the connection's error, explained.
		open func(t *testing.T, conn *transport.Conn) (next func() error, err error)
	}{
		{"imap", "* OK ready\r\n", func(t *testing.T, conn *transport.Conn) (func() error, error) {
			c, err := transport.OpenIMAP(conn, nil, false)
			if err != nil {
				return nil, err
			}
			t.Cleanup(func() { _ = c.Close() })
			return func() error { return conn.Explain(c.Noop().Wait()) }, nil
		}},
		{"pop3", "+OK ready\r\n", func(t *testing.T, conn *transport.Conn) (func() error, error) {
			p, err := transport.OpenPOP3(conn, nil)
			if err != nil {
				return nil, err
			}
			return func() error { _, err := p.Cmd("NOOP", "NOOP"); return conn.Explain(err) }, nil
		}},
		{"lmtp", "220 ready\r\n", func(t *testing.T, conn *transport.Conn) (func() error, error) {
			if _, err := transport.ReadSMTPGreeting(conn); err != nil {
				return nil, conn.Explain(err) // as clients.DialSMTP
			}
			return func() error {
				_, err := conn.Read(make([]byte, 64))
				return conn.Explain(err)
			}, nil
		}},
	}
	// The servers: each returns the address to dial and, when the
	// server's close must wait for the dial, what to do after it.
	type server func(t *testing.T, greeting string) (addr string, after func())
	for _, srv := range []struct {
		name string
		// greeted: the greeting arrives whole, and then the next read
		// fails.
		greeted bool
		want    transport.Outcome
		start   server
	}{
		{name: "listen queue reset", want: transport.OutcomeRefused, start: func(t *testing.T, _ string) (string, func()) {
			// Connected in the kernel's listen queue, never accepted:
			// the listener's close resets it.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ln.Close() })
			return ln.Addr().String(), func() { _ = ln.Close() }
		}},
		{name: "reset at once", want: transport.OutcomeRefused, start: func(t *testing.T, _ string) (string, func()) {
			return fakeServer(t, func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0) }), nil
		}},
		{name: "closed at once", want: transport.OutcomeRefused, start: func(t *testing.T, _ string) (string, func()) {
			return fakeServer(t, func(net.Conn) {}), nil
		}},
		{name: "half a greeting, then a reset", want: transport.OutcomeError, start: func(t *testing.T, g string) (string, func()) {
			return fakeServer(t, func(c net.Conn) {
				_, _ = c.Write([]byte(g[:3]))
				time.Sleep(50 * time.Millisecond) // the bytes go out before the reset
				_ = c.(*net.TCPConn).SetLinger(0)
			}), nil
		}},
		{name: "greeting, then a reset", greeted: true, want: transport.OutcomeError, start: func(t *testing.T, g string) (string, func()) {
			return fakeServer(t, func(c net.Conn) {
				_, _ = c.Write([]byte(g))
				time.Sleep(50 * time.Millisecond)
				_ = c.(*net.TCPConn).SetLinger(0)
			}), nil
		}},
	} {
		for _, g := range greeters {
			t.Run(srv.name+"/"+g.proto, func(t *testing.T) {
				t.Parallel()
				addr, after := srv.start(t, g.greeting)
				conn, err := transport.Dial(context.Background(), transport.Config{Protocol: g.proto, Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second})
				if err != nil {
					// A reset can come before the dial returns: refused
					// as well.
					if srv.want != transport.OutcomeRefused || transport.OutcomeOf(err) != srv.want {
						t.Fatal(err)
					}
					return
				}
				defer conn.Close()
				if after != nil {
					after()
				}
				next, err := g.open(t, conn)
				if srv.greeted {
					if err != nil {
						t.Fatalf("greeting: %v", err)
					}
					time.Sleep(100 * time.Millisecond) // the reset arrives
					err = next()
				}
				if err == nil {
					t.Fatal("no error")
				}
				if got := transport.OutcomeOf(err); got != srv.want {
					t.Errorf("outcome %s, want %s: %v", got, srv.want, err)
				}
				if got := transport.LoginOutcome(err); got != srv.want {
					t.Errorf("login outcome %s, want %s: %v", got, srv.want, err)
				}
				if unserved := errors.Is(err, transport.ErrUnserved); unserved != (srv.want == transport.OutcomeRefused) {
					t.Errorf("errors.Is(%v, ErrUnserved) = %v", err, unserved)
				}
			})
		}
	}
}
