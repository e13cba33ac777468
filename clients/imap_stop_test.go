package clients

import (
	"bytes"
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// stallProxy relays connections to upstream. Once armed, the first client
// write holding verb stalls it: from then on it relays nothing to the
// clients (a server that stalls: the connections stay open, no reply
// comes), and sent is closed. (internal/faultproxy stalls when the test
// calls it; this one at a given command, so that the device is stopped
// with that command unanswered, whatever the device was doing.)
type stallProxy struct {
	addr    string
	verb    []byte
	armed   atomic.Bool
	stalled atomic.Bool
	sent    chan struct{}
	once    sync.Once
}

func startStallProxy(t *testing.T, upstream, verb string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{addr: ln.Addr().String(), verb: []byte(" " + verb), sent: make(chan struct{})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	pipe := func(dst, src net.Conn, fromClient bool) {
		defer wg.Done()
		defer func() {
			src.Close()
			// A stalled server does not hang up: the client's
			// connection stays open (until the client closes it, or
			// the cleanup) when the upstream one ends.
			if fromClient || !p.stalled.Load() {
				dst.Close()
			}
		}()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 && fromClient && p.armed.Load() && bytes.Contains(buf[:n], p.verb) {
				p.once.Do(func() {
					p.stalled.Store(true)
					close(p.sent)
				})
			}
			if n > 0 && (fromClient || !p.stalled.Load()) {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.DialTimeout("tcp", upstream, 5*time.Second)
			if err != nil {
				c.Close()
				continue
			}
			// A bound on each connection, past the test's.
			_ = c.SetDeadline(time.Now().Add(2 * time.Minute))
			_ = u.SetDeadline(time.Now().Add(2 * time.Minute))
			track(c)
			track(u)
			wg.Add(2)
			go pipe(u, c, true)
			go pipe(c, u, false)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return p
}

// TestIMAPStopWhileServerStalls stops a device while its server stalls,
// with either IMAP client: Run returns within the stop's grace, far before
// the device's 60 s timeout. A command cut by the stop (shutdownGrace,
// then no LOGOUT on the cut connection) is recorded as a timeout; a
// LOGOUT said at the stop has its own short bound (imapSession.logout)
// and is not recorded when it fails. The bound is generous on purpose (a
// liveness check that fails on the full timeout, not a timing assertion).
func TestIMAPStopWhileServerStalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		// verb is the command whose write stalls the server: the
		// device is stopped once it is sent (mid-command), or right
		// after the stall is armed ("LOGOUT": the stop's own).
		verb string
		// ready is a command the device ran before the stall is armed.
		ready string
		// wantCut is the command recorded as a timeout ("": none).
		wantCut string
	}{
		{"mid-command", KindPhone, "EXAMINE", "EXAMINE", "EXAMINE"},
		{"logout at stop", KindPC, "LOGOUT", "IDLE", ""},
	} {
		for _, client := range IMAPClients {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				env := newIMAPEnv(t)
				env.client = client
				p := startStallProxy(t, env.addrs.IMAP, tc.verb)
				rec := &imapRecorder{}
				o := env.options(tc.kind, rec, nil)
				o.IMAP.Addr = p.addr
				o.Timeout = 60 * time.Second
				d, err := New(o)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- d.Run(ctx) }()
				waitCommands(t, rec, "AUTHENTICATE", tc.ready)
				before := len(rec.names())
				p.armed.Store(true)
				start := time.Now()
				if tc.verb == "LOGOUT" {
					cancel()
				}
				select {
				case <-p.sent: // a command the server will not answer
				case <-time.After(20 * time.Second):
					t.Fatalf("the device sent no %s after the stall was armed", tc.verb)
				}
				if tc.verb != "LOGOUT" {
					start = time.Now()
					cancel()
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("Run did not return 20 s after the stop (device timeout %v)", o.Timeout)
				}
				took := time.Since(start)
				rec.mu.Lock()
				after := slices.Clone(rec.cmds[min(before, len(rec.cmds)):])
				rec.mu.Unlock()
				var cut []string
				for _, ev := range after {
					if ev.Outcome == transport.OutcomeTimeout {
						cut = append(cut, ev.Command)
					}
				}
				if want := []string{tc.wantCut}; !slices.Equal(cut, want) && !(tc.wantCut == "" && len(cut) == 0) {
					t.Errorf("commands recorded as timeouts after the stall %v, want %v", cut, want)
				}
				t.Logf("Run returned %v after the stop; timeouts %v; commands after the stall %v", took, cut, rec.names()[before:])
			})
		}
	}
}
