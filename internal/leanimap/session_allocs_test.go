package leanimap

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestSessionAllocs pins the fixed cost of a session in allocations: Dial
// (transport.SetupIMAP, the greeting), LOGIN, LOGOUT and Close, as the
// injector opens one per APPEND (internal/engine/injector.go appendOne),
// with a CapCache shared by the sessions. The server runs in a child
// process, so AllocsPerRun counts the client's allocations only. Before
// issue 14's "cost of a connection" work a session allocated 47 objects
// (docs/performance.md).
func TestSessionAllocs(t *testing.T) {
	srv := serverProcess(t)
	late := transport.NewLateCloser()
	caps := &CapCache{}
	for _, tc := range []struct {
		name  string
		cfg   transport.Config
		bound bool    // DialBound with an Ender, as the injector
		max   float64 // allocations per session
	}{
		// With an Ender, as the injector: its dial is a transport.Setup
		// bound from before the TCP connect (the Setup, its context and
		// the context's cancel: 17 before 2026-12-05, when the run's end
		// cut an imap-append connect at once).
		{"injector", transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: srv.imap}, Timeout: 30 * time.Second, LateCloser: late, KeepAlive: -1}, true, 21},
		{"dial", transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: srv.imap}, Timeout: 30 * time.Second, LateCloser: late}, false, 17},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var runErr error
			session := func() {
				opts := Options{Timeout: 30 * time.Second, Caps: caps}
				var c *Client
				var err error
				if tc.bound {
					var stop func() bool
					_, c, stop, err = DialBound(ctx, tc.cfg, opts, closeEnder{})
					if err == nil {
						defer stop()
					}
				} else {
					_, c, err = Dial(ctx, tc.cfg, opts)
				}
				if err != nil {
					runErr = err
					return
				}
				defer c.Close() // as the injector: the client closes the connection
				if err := c.Login(srv.user, srv.pass); err != nil {
					runErr = err
					return
				}
				if err := c.Logout(); err != nil {
					runErr = err
				}
			}
			session() // warm up: the first session fills the caches
			n := testing.AllocsPerRun(50, session)
			must(t, runErr)
			t.Logf("%s: %v allocations per session", tc.name, n)
			if raceEnabled {
				return // sync.Pool drops buffers at random under the race detector
			}
			if n > tc.max {
				t.Fatalf("%s: %v allocations per session, want at most %v", tc.name, n, tc.max)
			}
		})
	}
}

// closeEnder is a transport.Ender that closes the connection at once.
type closeEnder struct{}

func (closeEnder) Ended(setup io.Closer) { _ = setup.Close() }

// TestCloseReusesBuffers checks that a closed client fails its commands
// with net.ErrClosed (its buffers went to the next client) and that the
// next client, on those buffers, works.
func TestCloseReusesBuffers(t *testing.T) {
	srv := embedded(t)
	for i := range 3 {
		c := login(t, srv, Options{})
		_, err := c.Select("INBOX", false)
		must(t, err)
		must(t, c.Logout())
		must(t, c.Close())
		if err := c.Noop(); !errorIs(err, net.ErrClosed) {
			t.Fatalf("session %d: NOOP after Close: %v, want net.ErrClosed", i, err)
		}
		_ = c.Close() // a second Close is harmless
	}
}
