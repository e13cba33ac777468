package main

import (
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/report"
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
			// The window opens about 1 s (ramp_up) after the step's start
			// and lasts 8 s: the freeze comes 5 s after the run's first
			// connection and lasts until 14 s after it, past the window's
			// close even when the preflight took up to 4 s.
			faultFor(ctx, p, 5*time.Second, 9*time.Second, func() { tt.freeze(p) })
			res := mailsim("capacity", scen, "--report", js, "--quiet", "--harness-max-sched", "2s", "--harness-max-cpu", "100%")
			cancel()
			checkStalledStep(t, res, js, tt.qos)
		})
	}
}

// capacityQueueDrained is a live capacity search of one user whose inbound
// mail (about one delivery every 0.7 s wall, one delivery connection)
// goes to LMTP at %q; the POP3 device and submission are on the embedded
// server (%q, %q). At time_scale 30 a delivery waiting over 2 s wall for
// the connection is late (a simulated minute).
const capacityQueueDrained = `
version: 1
name: capacity-queue-drained
seed: 11
duration: 5s
time_scale: 30
ramp_up: 1s
settle: 1s
max_parallel_deliveries: 1
target:
  pop3: {addr: %q, tls: none}
  submission: {addr: %q, tls: none}
  delivery: {protocol: lmtp, addr: %q}
users: {count: 1, username: "user{n}", password: pass}
groups:
  - {name: g, share: 100%%, devices: [dev], behavior: b}
behaviors:
  b:
    inbound: {interval: 5s, size: {min: 1KiB, max: 2KiB}}
    on_new_mail: {read: 0%%}
devices:
  dev: {kind: pc, protocol: pop3, poll_interval: 10m, leave_on_server: true}
capacity:
  start_users: 1
  max_users: 1
  step_duration: 8s
  confirm: false
  qos: ["delivery_failure_rate < 50%%"]
`

// TestCapacityLiveQueueLateThenDrained: a live step whose inbound mail
// was held back past a simulated minute within the window (the delivery
// server frozen for 4 s from the moment the window opened and mail had
// flowed, the window 8 s), though the queue drained before the close, is
// invalid: the server did not carry the step's mail for seconds of its
// window. Before, only the queue at the close was judged, and the step
// passed. Not parallel: the freeze must fall within the window.
func TestCapacityLiveQueueLateThenDrained(t *testing.T) {
	_, addrs := startEmbedded(t, 1, mailserver.ListenConfig{})
	p := startProxy(t, addrs.LMTP, 1)
	scen := writeScenario(t, fmt.Sprintf(capacityQueueDrained, addrs.POP3, addrs.SMTP, p.Addr()))
	js := filepath.Join(t.TempDir(), "cap.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The live window opens with the population; its first deliveries
	// reach the proxy on the injector's connection (the preflight's
	// connection came first), and the freeze starts a second later.
	go func() {
		for i := 0; i < 3000 && ctx.Err() == nil; i++ {
			if st := p.Stats(); st.Accepted >= 2 && st.Bytes[faultproxy.Upstream] > 4000 {
				faultFor(ctx, p, time.Second, 4*time.Second, func() { p.Stall(0) })
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	res := mailsim("capacity", scen, "--report", js, "--quiet", "--harness-max-sched", "2s", "--harness-max-cpu", "100%")
	cancel()
	rep := readReport(t, js)
	st := rep["steps"].([]any)[0].(map[string]any)
	t.Logf("step pass %v, invalid %v, qos %v, metrics %v, proxy %+v", st["pass"], st["invalid"], st["qos"], st["metrics"], p.Stats())
	if res.code != exitThresholds {
		t.Fatalf("exit %d, want %d (the step invalid):\n%s", res.code, exitThresholds, res)
	}
	inv, _ := st["invalid"].([]any)
	if st["pass"] != false || !slices.ContainsFunc(inv, func(p any) bool {
		s, _ := p.(string)
		return strings.Contains(s, "within the window") && !strings.Contains(s, "at the window's close")
	}) {
		t.Errorf("the step is not invalid for mail late within its window alone: pass %v, invalid %q", st["pass"], inv)
	}
}

// TestCapacityStepRunNotes: a step whose own run report has a note (here
// the commands that failed, a fault proxy in front of the POP3 server
// resetting every new connection from about a second into the window)
// carries it into the capacity report: in the step's notes, the same
// string among the top-level notes, on the summary's note lines and in the
// HTML report, naming the step. A fresh step's run and a live step's
// window alike; the live window has no audit, and no note says its
// server state was not read. Before, the run's notes were dropped and the
// capacity report did not say that commands had failed.
func TestCapacityStepRunNotes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		live bool
	}{{"fresh", false}, {"live", true}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, addrs := startEmbedded(t, 1, mailserver.ListenConfig{})
			p := startProxy(t, addrs.POP3, 1)
			scen := writeScenario(t, fmt.Sprintf(capacityStall, addrs.IMAP, p.Addr(), addrs.SMTP, addrs.LMTP,
				"{kind: pc, protocol: pop3, poll_interval: 30s, leave_on_server: true}", "p99(pop3.UIDL) < 10s"))
			dir := t.TempDir()
			js, htmlPath := filepath.Join(dir, "cap.json"), filepath.Join(dir, "cap.html")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The first polls log in (the step's logins are valid); the
			// polls from 2 s after the run's first connection on, inside
			// the window (1 s of ramp-up, 8 s long), fail at their
			// greeting.
			faultFor(ctx, p, 2*time.Second, time.Minute, func() { p.SetResetNew(true) })
			args := []string{"capacity", scen, "--report", js, "--html", htmlPath, "--quiet", "--harness-max-sched", "2s", "--harness-max-cpu", "100%"}
			if !tt.live {
				args = append(args, "--restart") // the one step is a fresh run
			}
			res := mailsim(args...)
			cancel()
			if res.code != exitOK && res.code != exitThresholds {
				t.Fatalf("capacity: %s", res)
			}
			rep := readReport(t, js)
			st := rep["steps"].([]any)[0].(map[string]any)
			t.Logf("step pass %v, qos %v, notes %v, proxy %+v", st["pass"], st["qos"], st["notes"], p.Stats())
			if live := st["live"] == true; live != tt.live {
				t.Fatalf("step live %v, want %v", live, tt.live)
			}
			const want = "at step 1 (1 users) the run noted: "
			var note string
			notes, _ := st["notes"].([]any)
			for _, n := range notes {
				s, _ := n.(string)
				if strings.HasPrefix(s, want) && strings.Contains(s, "commands failed: pop3 CONNECT") {
					note = s
				}
				if strings.Contains(s, report.StateUnreadNote) {
					t.Errorf("step note %q: the step had no audit to miss", s)
				}
			}
			if note == "" {
				t.Fatalf("the step's notes %v lack the run's failed commands (%q...)", st["notes"], want)
			}
			top, _ := rep["notes"].([]any)
			if !slices.Contains(top, any(note)) {
				t.Errorf("top-level notes %q lack the step's %q", top, note)
			}
			if !strings.Contains(res.stdout, "note: "+note+"\n") {
				t.Errorf("summary lacks the note %q:\n%s", note, res.stdout)
			}
			b, err := os.ReadFile(htmlPath)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "<p>Note: "+html.EscapeString(note)+"</p>") {
				t.Errorf("HTML report lacks the note %q", note)
			}
		})
	}
}
