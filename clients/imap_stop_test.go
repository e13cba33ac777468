package clients

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/transport"
)

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
				p, err := faultproxy.New(faultproxy.Options{Backend: env.addrs.IMAP})
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				rec := &imapRecorder{}
				o := env.options(tc.kind, rec, nil)
				o.IMAP.Addr = p.Addr()
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
				// The first write holding the verb stalls the server
				// (internal/faultproxy StallOn): the connections stay
				// open and no reply comes.
				sent := p.StallOn([]byte(" " + tc.verb))
				start := time.Now()
				if tc.verb == "LOGOUT" {
					cancel()
				}
				select {
				case <-sent: // a command the server will not answer
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
