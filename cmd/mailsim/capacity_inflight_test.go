package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailserver"
)

// TestCapacityFrozenServerFailsTheStep freezes the server in the last
// seconds of a step's window and past its close (a fault proxy in front
// of the embedded server holds every byte, in both directions, of every
// connection, new ones accepted: what a SIGSTOPped server looks like to
// its clients) while the device waits on a wait that was not tracked
// before: a POP3 command, or the greeting of a new connection. The step
// must fail its latency line on a measured value. Before, such waits
// were recorded only when they ended, after the window closed: the step
// passed on the commands answered before the freeze (or had no data for
// the greeting, which was never recorded). The freeze (at least about
// 2 s at the close against a 1 s line) is long against the line, so the
// result does not hang on timing.
func TestCapacityFrozenServerFailsTheStep(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, qos string
		// freeze freezes p at a moment the device waits on the wait
		// under test.
		freeze func(p *faultproxy.Proxy)
	}{
		// The next poll's UIDL is held: the device waits on a POP3
		// command.
		{"pop3 command", "p99(pop3.UIDL) < 1s", func(p *faultproxy.Proxy) { p.StallOn([]byte("UIDL")) }},
		// Frozen between two polls (no connection open): the next poll
		// waits for its greeting.
		{"pop3 greeting", "p99(pop3.CONNECT) < 1s", func(p *faultproxy.Proxy) {
			for i := 0; i < 1000 && p.Stats().Live > 0; i++ {
				time.Sleep(5 * time.Millisecond)
			}
			p.Stall(0)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, addrs := startEmbedded(t, 1, mailserver.ListenConfig{})
			p := startProxy(t, addrs.POP3, 1)
			scen := writeScenario(t, fmt.Sprintf(capacityStall, addrs.IMAP, p.Addr(), addrs.SMTP, addrs.LMTP,
				"{kind: pc, protocol: pop3, poll_interval: 1m, leave_on_server: true}", tt.qos))
			js := filepath.Join(t.TempDir(), "cap.json")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The window opens about 1 s (ramp_up) after the start and
			// lasts 8 s: the freeze comes after 5 s and lasts until 12 s,
			// past the window's close.
			faultFor(ctx, p, 5*time.Second, 7*time.Second, func() { tt.freeze(p) })
			res := mailsim("capacity", scen, "--report", js, "--quiet", "--harness-max-sched", "2s", "--harness-max-cpu", "100%")
			cancel()
			checkStalledStep(t, res, js, tt.qos)
		})
	}
}
