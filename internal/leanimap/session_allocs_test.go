package leanimap

import (
	"context"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestSessionAllocs pins the fixed cost of a session in allocations: Dial
// (transport.SetupIMAP, the greeting), LOGIN, LOGOUT and Close, as the
// injector opens one per APPEND (internal/engine/injector.go appendOne)
// and a device at every re-login. The server runs in a child process, so
// AllocsPerRun counts the client's allocations only.
func TestSessionAllocs(t *testing.T) {
	srv := serverProcess(t)
	late := transport.NewLateCloser()
	caps := &CapCache{}
	for _, tc := range []struct {
		name  string
		cfg   transport.Config
		bound bool // DialBound, as the injector
		max   float64
	}{
		{"injector", transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: srv.imap}, Timeout: 30 * time.Second, LateCloser: late, KeepAlive: -1}, true, 24},
		{"dial", transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: srv.imap}, Timeout: 30 * time.Second, LateCloser: late}, false, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var runErr error
			session := func() {
				opts := Options{Timeout: 30 * time.Second, Caps: caps}
				var conn *transport.Conn
				var c *Client
				var err error
				if tc.bound {
					var stop func() bool
					conn, c, stop, err = DialBound(ctx, tc.cfg, opts)
					if err == nil {
						defer stop()
					}
				} else {
					conn, c, err = Dial(ctx, tc.cfg, opts)
				}
				if err != nil {
					runErr = err
					return
				}
				defer conn.Close()
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
			if n > tc.max {
				t.Fatalf("%s: %v allocations per session, want at most %v", tc.name, n, tc.max)
			}
		})
	}
}
