package transport_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
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
		// sends, when set (start is then unset), is what the server
		// sends of the greeting before it resets the connection: once
		// the client has read it all (sentMeter), so that the reset
		// cannot overtake it.
		sends func(greeting string) string
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
		{name: "half a greeting, then a reset", want: transport.OutcomeError, sends: func(g string) string { return g[:3] }},
		{name: "greeting, then a reset", greeted: true, want: transport.OutcomeError, sends: func(g string) string { return g }},
	} {
		for _, g := range greeters {
			t.Run(srv.name+"/"+g.proto, func(t *testing.T) {
				t.Parallel()
				var (
					addr  string
					after func()
					m     transport.Meter
				)
				if srv.sends != nil {
					sent := srv.sends(g.greeting)
					read := newSentMeter(len(sent))
					addr, m = resetAfterRead(t, sent, read.all), read
				} else {
					addr, after = srv.start(t, g.greeting)
				}
				conn, err := transport.Dial(context.Background(), transport.Config{Protocol: g.proto, Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second, Meter: m})
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

// sentMeter is a transport.Meter whose all is closed once the client has
// read n bytes: what the server sent.
type sentMeter struct {
	n    int64
	read atomic.Int64
	once sync.Once
	all  chan struct{}
}

func newSentMeter(n int) *sentMeter { return &sentMeter{n: int64(n), all: make(chan struct{})} }

func (m *sentMeter) Bytes(_ string, in, _ int64) {
	if m.read.Add(in) >= m.n {
		m.once.Do(func() { close(m.all) })
	}
}

func (m *sentMeter) Connection(string, int) {}

// resetAfterRead starts a server that sends sent, then resets the
// connection once read is closed (the client read it all), or after 10 s.
func resetAfterRead(t *testing.T, sent string, read <-chan struct{}) string {
	return fakeServer(t, func(c net.Conn) {
		_, _ = c.Write([]byte(sent))
		timer := time.NewTimer(10 * time.Second)
		defer timer.Stop()
		select {
		case <-read:
		case <-timer.C:
		}
		_ = c.(*net.TCPConn).SetLinger(0)
	})
}
