package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// feedWindow sends 40 SELECTs of 1 ms through rec, each tracked from its
// start to its end, and starts 4 more 5 s before now that the server never
// answers (a stall in the window's last seconds); it returns the start of
// one of the stalled commands.
func feedWindow(rec *windowGate, now time.Time) time.Time {
	for range 40 {
		start := now.Add(-time.Second)
		rec.CommandStarted(clients.ProtocolIMAP, "SELECT", start)
		rec.Command(clients.CommandEvent{Protocol: clients.ProtocolIMAP, Command: "SELECT", Outcome: transport.OutcomeOK,
			Duration: time.Millisecond, Start: start})
	}
	stalled := now.Add(-5 * time.Second)
	for i := range 4 {
		rec.CommandStarted(clients.ProtocolIMAP, "SELECT", stalled.Add(time.Duration(i)))
	}
	return stalled
}

// TestWindowGateCountsCommandsInFlight: a command still waiting for the
// server when a step's window closes counts in the window as a sample of
// its age, so a server that stalls in the window's last seconds fails a
// latency line (fresh steps: windowGate.close; live steps: inFlight and
// addCommandSamples). Before, the stalled commands were left out and p95
// was 1 ms.
func TestWindowGateCountsCommandsInFlight(t *testing.T) {
	check := func(t *testing.T, s metrics.CommandStats) {
		t.Helper()
		if s.Count != 44 || s.Errors != 0 {
			t.Errorf("SELECT count %d errors %d, want 44 and 0", s.Count, s.Errors)
		}
		if s.P95 < 4.5 || s.P99 < 4.5 {
			t.Errorf("SELECT p95 %gs p99 %gs: want the stalled commands' age (5 s)", s.P95, s.P99)
		}
	}
	t.Run("fresh", func(t *testing.T) {
		client := metrics.NewClient(metrics.NewRegistry())
		g := &windowGate{next: client}
		g.open.Store(true)
		now := time.Now()
		stalled := feedWindow(g, now)
		g.close(now)
		// A stalled command that ends after the close is not counted
		// again.
		g.Command(clients.CommandEvent{Protocol: clients.ProtocolIMAP, Command: "SELECT", Outcome: transport.OutcomeOK,
			Duration: 9 * time.Second, Start: stalled})
		check(t, client.Stats()[clients.ProtocolIMAP]["SELECT"])
		if n := g.commands.Load(); n != 44 {
			t.Errorf("window commands %d, want 44", n)
		}
		// The 4 stalled ones had no outcome: error_rate leaves them out.
		if p := g.pendingCommands(); fmt.Sprint(p) != "map[imap:4]" {
			t.Errorf("pending %v, want the 4 stalled imap commands", p)
		}
	})
	t.Run("live", func(t *testing.T) {
		client := metrics.NewClient(metrics.NewRegistry())
		g := &windowGate{next: client}
		g.open.Store(true)
		before := client.Stats()
		now := time.Now()
		feedWindow(g, now)
		stalled := g.inFlight(now, false)
		cmds := addCommandSamples(metrics.StatsSince(client.Stats(), before), stalled)
		check(t, cmds[clients.ProtocolIMAP]["SELECT"])
		if p := pendingByProtocol(stalled); fmt.Sprint(p) != "map[imap:4]" {
			t.Errorf("pending %v, want the 4 stalled imap commands", p)
		}
		if !g.open.Load() {
			t.Error("the live gate closed")
		}
	})
	t.Run("closed idle", func(t *testing.T) {
		client := metrics.NewClient(metrics.NewRegistry())
		g := &windowGate{next: client}
		g.ClosedIdle(clients.ProtocolIMAP)
		if n := client.Totals().Protocols[clients.ProtocolIMAP].ClosedIdle; n != 1 {
			t.Errorf("closed idle %d, want the 1 passed on", n)
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		g := &windowGate{next: metrics.NewClient(metrics.NewRegistry())}
		start := time.Now()
		g.CommandStarted(clients.ProtocolIMAP, "SELECT", start)
		g.CommandAbandoned(clients.ProtocolIMAP, "SELECT", start)
		if evs := g.inFlight(time.Now(), false); len(evs) != 0 {
			t.Errorf("in flight after abandon: %v", evs)
		}
	})
}

// capacityStall is a scenario of one device (a YAML mapping, named dev,
// e.g. a phone polling every 2 s wall, through a fault proxy in front of
// an embedded server) and one QoS line. Its arguments: the IMAP, POP3,
// submission and LMTP addresses, the device and the line.
const capacityStall = `
version: 1
name: capacity-stall
seed: 7
duration: 5s
time_scale: 30
ramp_up: 1s
settle: 1s
target:
  imap: {addr: %q, tls: none}
  pop3: {addr: %q, tls: none}
  submission: {addr: %q, tls: none}
  delivery: {protocol: lmtp, addr: %q}
users: {count: 1, username: "user{n}", password: pass}
groups:
  - {name: g, share: 100%%, devices: [dev], behavior: b}
behaviors:
  b:
    inbound: {interval: 10m, size: {min: 2KiB, max: 4KiB}}
    on_new_mail: {read: 90%%}
devices:
  dev: %s
capacity:
  start_users: 1
  max_users: 1
  step_duration: 8s
  confirm: false
  qos: [%q]
`

// checkStalledStep checks that a capacity search of capacityStall (res,
// its JSON report at js) failed its one step on the QoS line qos, with a
// measured value of at least 1 s (the stall), and returns the step.
func checkStalledStep(t *testing.T, res cliResult, js, qos string) map[string]any {
	t.Helper()
	if res.code != exitThresholds || !strings.Contains(res.stdout, "first broke: "+qos) {
		t.Fatalf("exit %d, want %d with %s broken:\n%s", res.code, exitThresholds, qos, res)
	}
	rep := readReport(t, js)
	st := rep["steps"].([]any)[0].(map[string]any)
	t.Logf("step qos %v", st["qos"])
	q := st["qos"].([]any)[0].(map[string]any)
	if v, ok := q["value"].(float64); !ok || v < 1 {
		t.Errorf("%s: value %v, want the stall (at least 1 s)", qos, q["value"])
	}
	// The stalled command was in flight at the close: no outcome yet, so
	// error_rate left it out.
	if m, _ := st["metrics"].(map[string]any); m["pending_commands"] == nil || m["pending_commands"].(float64) < 1 {
		t.Errorf("metrics.pending_commands %v, want the stalled command(s)", m["pending_commands"])
	}
	return st
}

// TestCapacityStallAtWindowEnd searches a server that stalls in the last
// seconds of the step's window and past its end (a fault proxy holds every
// IMAP byte from the first EXAMINE after 5 s on): the step must fail its
// latency line, fresh (--restart) and live. Before, the EXAMINE the stall
// held was recorded only when it ended, after the window closed, and the
// step passed on the commands answered before the stall. The stall (at
// least about 2 s at the close against a 1 s line, one sample of some 20)
// is long against the line, so the result does not hang on timing.
func TestCapacityStallAtWindowEnd(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"fresh", "live"} {
		t.Run(mode, func(t *testing.T) {
			_, addrs := startEmbedded(t, 1, mailserver.ListenConfig{})
			p := startProxy(t, addrs.IMAP, 1)
			scen := writeScenario(t, fmt.Sprintf(capacityStall, p.Addr(), addrs.POP3, addrs.SMTP, addrs.LMTP,
				"{kind: phone, protocol: imap, poll_interval: 1m}", "p99(imap.EXAMINE) < 1s"))
			js := filepath.Join(t.TempDir(), "cap.json")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			// The window opens about 1 s (ramp_up) after the step's start
			// and lasts 8 s: the phone's next EXAMINE 5 s after the run's
			// first connection (within 2 s) stalls the server until 13 s
			// after it, past the window's close even when the preflight
			// and the fresh step's reset took up to 4 s.
			faultFor(ctx, p, 5*time.Second, 8*time.Second, func() { p.StallOn([]byte(" EXAMINE")) })
			args := []string{"capacity", scen, "--report", js, "--quiet", "--harness-max-sched", "2s", "--harness-max-cpu", "100%"}
			if mode == "fresh" {
				args = append(args, "--restart")
			}
			res := mailsim(args...)
			cancel()
			st := checkStalledStep(t, res, js, "p99(imap.EXAMINE) < 1s")
			if live, _ := st["live"].(bool); live != (mode == "live") {
				t.Errorf("step live %v, want %v", st["live"], mode == "live")
			}
		})
	}
}

// TestCapacityDropsAreNoErrors searches an embedded server with one phone
// whose simulated network drops its IDLE connection every simulated 30 s
// (1 s wall at time_scale 30): the drops are mailsim's, not the server's,
// so the step passes "error_rate < 1%" with the drops counted apart
// (metrics.dropped_commands). Before, each drop was an error and the step
// failed the line.
func TestCapacityDropsAreNoErrors(t *testing.T) {
	t.Parallel()
	_, addrs := startEmbedded(t, 1, mailserver.ListenConfig{})
	scen := writeScenario(t, fmt.Sprintf(capacityStall, addrs.IMAP, addrs.POP3, addrs.SMTP, addrs.LMTP,
		"{kind: phone, protocol: imap, idle: true, poll_interval: 10m, network: {disconnect_every: 30s}}", "error_rate < 1%"))
	js := filepath.Join(t.TempDir(), "cap.json")
	res := mailsim("capacity", scen, "--report", js, "--quiet", "--restart", "--harness-max-sched", "2s", "--harness-max-cpu", "100%")
	if res.code != exitOK {
		t.Fatalf("exit %d, want %d (the step passes):\n%s", res.code, exitOK, res)
	}
	st := readReport(t, js)["steps"].([]any)[0].(map[string]any)
	m, _ := st["metrics"].(map[string]any)
	if d, _ := m["dropped_commands"].(float64); d < 1 || m["error_rate"] != 0.0 {
		t.Errorf("metrics dropped_commands %v, error_rate %v; want the IDLEs the network dropped and no error", m["dropped_commands"], m["error_rate"])
	}
}

// TestStepOfNoData: a QoS line the step had no data for fails the step
// as "no data: LINE (NOTE)" (the search's limited_by), not as a line
// that broke; a measured line that failed is named verbatim.
func TestStepOfNoData(t *testing.T) {
	rep := &report.Report{Thresholds: []report.ThresholdResult{
		{Expr: "error_rate < 1%", OK: true},
		{Expr: "delivery_failure_rate < 1%", Value: report.Num(math.NaN()), Note: "no deliveries in the step's window"},
		{Expr: "p95(imap.SELECT) < 250ms", Value: 0.3},
	}}
	st := stepOf(rep, harnessmon.Window{}, 0, time.Second)
	if want := "no data: delivery_failure_rate < 1% (no deliveries in the step's window)"; st.Pass || st.FirstFailed != want {
		t.Errorf("pass %v first_failed %q, want false and %q", st.Pass, st.FirstFailed, want)
	}
	rep.Thresholds = rep.Thresholds[2:]
	if st := stepOf(rep, harnessmon.Window{}, 0, time.Second); st.FirstFailed != "p95(imap.SELECT) < 250ms" {
		t.Errorf("first_failed %q", st.FirstFailed)
	}
}

// TestCapacityNoDataInWindow searches with a QoS line on a command no
// device sends (pop3.RETR, of IMAP phones only), fresh (--restart) and
// live: the step fails "no data", and its note names the step's window,
// where its figures were measured. It said "in the run", the run report's
// words, of a step whose commands count only in its window.
func TestCapacityNoDataInWindow(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"fresh", "live"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			_, addrs := startEmbedded(t, 1, mailserver.ListenConfig{})
			scen := writeScenario(t, fmt.Sprintf(capacityStall, addrs.IMAP, addrs.POP3, addrs.SMTP, addrs.LMTP,
				"{kind: phone, protocol: imap, poll_interval: 1m}", "p99(pop3.RETR) < 1s"))
			js := filepath.Join(t.TempDir(), "cap.json")
			args := []string{"capacity", scen, "--report", js, "--quiet", "--step-duration", "2s", "--harness-max-sched", "2s", "--harness-max-cpu", "100%"}
			if mode == "fresh" {
				args = append(args, "--restart")
			}
			res := mailsim(args...)
			const want = "no data: p99(pop3.RETR) < 1s (no pop3 RETR commands in the step's window)"
			if res.code != exitThresholds || !strings.Contains(res.stdout, want) {
				t.Fatalf("exit %d, want %d with %q:\n%s", res.code, exitThresholds, want, res)
			}
			st := readReport(t, js)["steps"].([]any)[0].(map[string]any)
			if q := st["qos"].([]any)[0].(map[string]any); q["note"] != "no pop3 RETR commands in the step's window" {
				t.Errorf("step's QoS note %q", q["note"])
			}
		})
	}
}

// TestCapacityStepWindowTooShort: a step window under 1 s is refused
// (exit 2) before any step runs; one too short for the scenario's inbound
// mail to reach a delivery line, or for its sends, replies and forwards
// to reach a submission line, is warned about (stderr and the report's
// notes) — checked here without running a step. Before, a
// submission_failure_rate line got no warning whatever its window.
func TestCapacityStepWindowTooShort(t *testing.T) {
	res := mailsim("capacity", "testdata/capacity-knee.yaml", "--step-duration", "1ms", "--quiet")
	if res.code != exitScenario || !strings.Contains(res.stderr, "step_duration 1ms is shorter than 1s") {
		t.Errorf("--step-duration 1ms: %s", res)
	}
	// 2 users at start, one delivery per user every 4 s (wall), 10% of
	// them replied to: 0.5 deliveries and 0.05 submissions a second.
	const delivery, submission = "delivery_failure_rate < 1%", "submission_failure_rate < 5%"
	for _, tt := range []struct {
		name    string
		step    time.Duration
		qos     []string
		noReply bool     // the behavior replies to nothing
		want    []string // one substring per warning, in order
	}{
		{"deliveries enough", 8 * time.Second, []string{delivery}, false, nil},
		{"deliveries too few", 3 * time.Second, []string{delivery},
			false, []string{`about 1.5 deliveries at 2 users (one every 2s): the QoS line "delivery_failure_rate < 1%" may have no data`}},
		{"submissions too few", 8 * time.Second, []string{delivery, submission},
			false, []string{`about 0.4 submissions at 2 users (one every 20s): the QoS line "submission_failure_rate < 5%" may have no data`}},
		{"both too few", 3 * time.Second, []string{submission, delivery},
			false, []string{"about 1.5 deliveries", "about 0.15 submissions"}},
		{"submissions enough", 80 * time.Second, []string{submission}, false, nil},
		{"no submissions", 80 * time.Second, []string{submission},
			true, []string{`the scenario's groups send, reply to and forward no mail: the QoS line "submission_failure_rate < 5%" has no data to judge`}},
		{"no submission line", 3 * time.Second, []string{"error_rate < 1%"}, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scenarios.Load("testdata/capacity-knee.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noReply {
				s.Behaviors["office"].OnNewMail.Reply = 0
			}
			c := s.Capacity
			c.StepDuration = tt.step
			c.QoS = nil
			for _, expr := range tt.qos {
				q, err := scenarios.ParseThreshold(expr, s)
				if err != nil {
					t.Fatal(err)
				}
				c.QoS = append(c.QoS, q)
			}
			warnings, err := checkStepWindow(s, c)
			if err != nil {
				t.Fatal(err)
			}
			ok := len(warnings) == len(tt.want)
			for i := 0; ok && i < len(warnings); i++ {
				ok = strings.Contains(warnings[i], tt.want[i])
			}
			if !ok {
				t.Errorf("%v window, QoS %q: warnings %q, want %q", tt.step, tt.qos, warnings, tt.want)
			}
		})
	}
}
