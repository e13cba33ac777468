package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/capacity"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// capacityLive is a small scenario every QoS line of which is measured
// over a step's window: people only read, so every message delivered
// stays on the server; their PCs idle, so they log in once, as they
// start.
const capacityLive = `
version: 1
name: live
seed: 11
duration: 5s
time_scale: 60
ramp_up: 1s
settle: 1s
users: {count: 2, username: "user{n}", password: pass}
groups:
  - {name: imap, share: 100%, devices: [pc-imap], behavior: office}
behaviors:
  office:
    inbound: {interval: 1m, size: {min: 2KiB, max: 8KiB}}
    on_new_mail: {read: 100%}
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true}
capacity:
  start_users: 1
  max_users: 4
  step_duration: 2s
  confirm: false
  qos: ["p95(imap.UID FETCH) < 5s", "error_rate < 1%", "login_failure_rate < 1%"]
`

// newTestLiveRun returns the live population of s's capacity search, from
// one user up to liveMax, without a harness guard that could fail a step
// (its tests share the machine).
func newTestLiveRun(s *scenarios.Scenario, liveMax int) *liveRun {
	reg := metrics.NewRegistry()
	var running atomic.Pointer[engine.Engine]
	var stopping atomic.Bool
	sr := &stepRunner{s: s, c: s.Capacity, log: slog.New(slog.DiscardHandler), stderr: io.Discard,
		running: &running, stopping: &stopping, progress: metrics.NewCapacity(reg),
		gatherer:  &metrics.SwappableGatherer{Base: reg},
		guard:     harnessmon.Options{MaxCPU: 1, MaxSchedP99: time.Hour},
		liveStart: 1, liveMax: liveMax}
	return &liveRun{sr: sr}
}

// liveScenario parses yaml, a scenario whose capacity search can grow
// live (restartReason).
func liveScenario(t *testing.T, yaml string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Parse("live.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if r := restartReason(s.Capacity.QoS); r != "" {
		t.Fatalf("the scenario cannot grow live: %s", r)
	}
	return s
}

// TestCapacityLiveGrowthOnePopulation grows one live population from 1
// to 3 users: both steps run on one embedded server and one engine (the
// mail the first user received in step 1 is still in their mailbox in
// step 2, where a fresh server would hold none of it), the step windows
// are disjoint and each follows its newcomers' ramp-up, and each step
// counts the logins of its own newcomers only.
//
// Not parallel: its harness guard measures the whole process, and the
// first user's mail in the 2 s of step 1 can be late with other tests
// beside it (it once held none).
func TestCapacityLiveGrowthOnePopulation(t *testing.T) {
	s := liveScenario(t, capacityLive)
	lr := newTestLiveRun(s, 4)
	defer lr.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	st1, err := lr.step(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	eng, srv := lr.eng, lr.tgt.embedded
	first := lr.plan.Users[0].Username
	before, err := srv.UserState(first)
	if err != nil {
		t.Fatal(err)
	}
	st2, err := lr.step(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if lr.eng != eng || lr.tgt.embedded != srv {
		t.Fatal("step 2 ran on another engine or server")
	}
	if got := eng.Status().UsersStarted; got != 3 {
		t.Errorf("%d users started, want 3", got)
	}
	after, err := srv.UserState(first)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s held %d messages after step 1, %d after step 2", first, len(before.Messages), len(after.Messages))
	if len(before.Messages) == 0 {
		t.Fatalf("%s received no mail in step 1: the test proves nothing", first)
	}
	for id := range before.Messages {
		if _, ok := after.Messages[id]; !ok {
			t.Errorf("message %s of step 1 is gone in step 2: not the same population", id)
		}
	}
	m1, m2 := st1.Metrics, st2.Metrics
	t.Logf("windows [%.2f, %.2f] and [%.2f, %.2f] s", m1["window_from_s"], m1["window_to_s"], m2["window_from_s"], m2["window_to_s"])
	if !(m1["window_from_s"] < m1["window_to_s"] && m1["window_to_s"] < m2["window_from_s"] && m2["window_from_s"] < m2["window_to_s"]) {
		t.Errorf("step windows not disjoint and in order: %v, %v", m1, m2)
	}
	// Step 2's two newcomers ramp up over ramp_up (1 s): the second
	// starts half of it after the first, before the window opens.
	if gap := m2["window_from_s"] - m1["window_to_s"]; gap < 0.5 {
		t.Errorf("step 2's window opened %.2f s after step 1's closed, before its newcomers' ramp-up", gap)
	}
	if m1["users_added"] != 1 || m2["users_added"] != 2 {
		t.Errorf("users added %v then %v, want 1 then 2", m1["users_added"], m2["users_added"])
	}
	for i, st := range []capacity.Step{st1, st2} {
		if !st.Pass || st.Live != false {
			// Live is set by the search, not by the step.
			t.Errorf("step %d: pass %v live %v (%v %v)", i+1, st.Pass, st.Live, st.FirstFailed, st.Invalid)
		}
		if cps := st.Metrics["commands_per_second"]; math.IsNaN(cps) || cps <= 0 {
			t.Errorf("step %d: %v commands per second", i+1, cps)
		}
	}
	// A step that adds no one (a saturated step's retry) measures a new
	// window of the same population; its logins count from the start of
	// the step it repeats, so the login line has a value.
	st3, err := lr.step(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if m3 := st3.Metrics; m3["users_added"] != 0 || m3["window_from_s"] < m2["window_to_s"] || !st3.Pass {
		t.Errorf("repeated step: %v users added, window from %v (last ended %v), pass %v %v %v", m3["users_added"], m3["window_from_s"], m2["window_to_s"], st3.Pass, st3.FirstFailed, st3.Invalid)
	}
	if q := st3.QoS[2]; math.IsNaN(q.Value) || !q.OK {
		t.Errorf("repeated step: %s = %v (%s)", q.Expr, q.Value, q.Note)
	}
	if !math.IsNaN(st3.Metrics["lost"]) {
		t.Errorf("a live step reports %v lost messages without an audit", st3.Metrics["lost"])
	}
	lr.close()
	select {
	case <-lr.done:
	default:
		t.Error("the live population still runs after close")
	}
}

// TestCapacityGrowthMode: a scenario whose QoS has a line that needs the
// final audit (lost_messages) runs every step on a fresh population and
// says why; so does --restart; the live scenario grows one population.
// Not parallel: a live step of one user lasts 1 s, in which its PC must
// log in and fetch a message for the UID FETCH line to have a sample;
// with seven other tests beside it, it sometimes had none.
func TestCapacityGrowthMode(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.yaml")
	audited := filepath.Join(dir, "audited.yaml")
	if err := os.WriteFile(live, []byte(capacityLive), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(audited, []byte(strings.Replace(capacityLive, `"login_failure_rate < 1%"`, `"lost_messages == 0"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, scen   string
		args         []string
		mode, reason string
	}{
		{"audit-only line", audited, nil, "restart", `"lost_messages == 0" needs the final audit`},
		{"--restart", live, []string{"--restart"}, "restart", "--restart"},
		{"live", live, nil, "live", "each step's own window"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			js := filepath.Join(dir, tt.name+".json")
			args := append([]string{"capacity", tt.scen, "--max-users", "2", "--step-duration", "1s", "--report", js, "--quiet", "--harness-max-sched", "2s"}, tt.args...)
			res := mailsim(args...)
			if res.code != exitOK {
				t.Fatalf("capacity: %s", res)
			}
			rep := readReport(t, js)
			mode, _ := field(rep, "capacity.growth_mode")
			reason, _ := field(rep, "capacity.growth_reason")
			if mode != tt.mode || !strings.Contains(reason.(string), tt.reason) {
				t.Errorf("growth mode %v (%v), want %s (%s)", mode, reason, tt.mode, tt.reason)
			}
			if want := "growth: " + tt.mode; !strings.Contains(res.stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, res.stdout)
			}
			for _, s := range rep["steps"].([]any) {
				st := s.(map[string]any)
				if isLive := st["live"] == true; isLive != (tt.mode == "live" && st["phase"] == "grow") {
					t.Errorf("step %v (%v): live %v in %s mode", st["users"], st["phase"], isLive, tt.mode)
				}
			}
		})
	}
}

// TestRestartReason: the lines measurable over a step's window allow live
// growth; the audit, convergence and cost lines do not.
func TestRestartReason(t *testing.T) {
	for _, tt := range []struct {
		metric string
		live   bool
	}{
		{"p95", true}, {"p50", true}, {"error_rate", true}, {"login_failure_rate", true},
		{"delivery_failure_rate", true}, {"delivery_failed", true}, {"submission_failure_rate", true},
		{"lost_messages", false}, {"divergence_ratio", false}, {"users_converged_ratio", false},
		{"convergence_p99", false}, {"commands_per_user_day", false}, {"delivery_queue_p99", false},
	} {
		got := restartReason([]scenarios.Threshold{{Expr: "x", Metric: "p95"}, {Expr: tt.metric + " < 1", Metric: tt.metric}})
		if (got == "") != tt.live || (!tt.live && !strings.Contains(got, tt.metric)) {
			t.Errorf("%s: reason %q, want live %v", tt.metric, got, tt.live)
		}
	}
}

// TestGrowthOrder: every prefix of the live population holds the groups
// in their shares within one user, and the order keeps every user once.
func TestGrowthOrder(t *testing.T) {
	const yaml = `
version: 1
name: mix
duration: 5s
users: {count: 20, username: "user{n}", password: pass}
groups:
  - {name: a, share: 70%, devices: [pc], behavior: b}
  - {name: c, share: 20%, devices: [pc], behavior: b}
  - {name: d, share: 10%, devices: [pc], behavior: b}
behaviors:
  b: {inbound: {interval: 1m}}
devices:
  pc: {kind: pc, protocol: imap, idle: true}
`
	s, err := scenarios.Parse("mix.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: 20})
	if err != nil {
		t.Fatal(err)
	}
	got := growthOrder(plan)
	if len(got.Users) != 20 || len(plan.Users) != 20 {
		t.Fatalf("%d users, want 20", len(got.Users))
	}
	seen := map[string]bool{}
	count := map[string]int{}
	shares := map[string]float64{"a": 0.7, "c": 0.2, "d": 0.1}
	for i, u := range got.Users {
		if seen[u.Username] {
			t.Fatalf("%s twice", u.Username)
		}
		seen[u.Username] = true
		count[u.Group.Name]++
		for g, sh := range shares {
			if d := float64(count[g]) - sh*float64(i+1); d > 1 || d < -1 {
				t.Errorf("prefix of %d users holds %d of group %s (share %.0f%%)", i+1, count[g], g, 100*sh)
			}
		}
	}
	if &plan.Users[0] == &got.Users[0] {
		t.Error("growthOrder reordered the plan's own slice (a plan is immutable)")
	}
}

// TestCapacityUserFileBoundsMax: a user file shorter than max_users bounds
// the search (the live population is built for max_users up front), with
// a note. Not parallel: its 1 s steps need a UID FETCH sample, which
// other tests beside it can delay past the step (as TestCapacityGrowthMode).
func TestCapacityUserFileBoundsMax(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte("ann:pw\nbob:pw\ncid:pw\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	scen := filepath.Join(dir, "file.yaml")
	body := strings.Replace(capacityLive, `users: {count: 2, username: "user{n}", password: pass}`, `users: {count: 2, file: users.txt}`, 1)
	if err := os.WriteFile(scen, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "cap.json")
	res := mailsim("capacity", scen, "--start-users", "2", "--max-users", "10", "--step-duration", "1s", "--report", js, "--quiet", "--harness-max-sched", "2s")
	if res.code != exitOK {
		t.Fatalf("capacity: %s", res)
	}
	rep := readReport(t, js)
	if u := num(t, rep, "capacity.users"); u != 3 {
		t.Errorf("capacity %v users, want the 3 of the file", u)
	}
	if lb, _ := field(rep, "capacity.limited_by"); lb != "max_users" {
		t.Errorf("limited by %v, want max_users", lb)
	}
	if !strings.Contains(res.stdout, "max_users lowered from 10 to the 3 users") {
		t.Errorf("summary lacks the note:\n%s", res.stdout)
	}
}

// TestDeliveryTallyPassesQueueWaits: the live search's tally wraps the
// metrics client, and the queue's waits still reach it
// (mailsim_delivery_queue_wait_seconds), as its outcomes do; an Observer
// that does not watch the queue is left alone.
func TestDeliveryTallyPassesQueueWaits(t *testing.T) {
	reg := metrics.NewRegistry()
	tally := &deliveryTally{Observer: metrics.NewClient(reg), done: map[string]int64{}}
	var q engine.QueueObserver = tally
	q.DeliveryQueued("lmtp", 2*time.Millisecond)
	tally.DeliveryDone("lmtp", engine.DeliveryOK)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var waits uint64
	for _, mf := range mfs {
		if mf.GetName() == "mailsim_delivery_queue_wait_seconds" {
			for _, m := range mf.GetMetric() {
				waits += m.GetHistogram().GetSampleCount()
			}
		}
	}
	if waits != 1 {
		t.Errorf("%d queue waits observed through the tally, want 1", waits)
	}
	if got := tally.snapshot()[engine.DeliveryOK]; got != 1 {
		t.Errorf("tally counted %d ok deliveries, want 1", got)
	}
	plain := &deliveryTally{Observer: struct{ engine.Observer }{metrics.NewClient(nil)}, done: map[string]int64{}}
	plain.DeliveryQueued("lmtp", time.Second) // nothing to pass it to: no panic
}

// TestDeliveryTallyLateInWindow: a delivery that left the queue within a
// step's window after passing the late wait within it counts against the
// window, though the queue drained before the close; one late already
// before the window opened, one within the late wait, and any before a
// window was opened do not.
func TestDeliveryTallyLateInWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	type dequeue struct {
		at   time.Duration // after t0
		wait time.Duration
	}
	for _, tt := range []struct {
		name        string
		open        bool // the window opens at t0
		deliveries  []dequeue
		wantLate    int
		wantLongest time.Duration
	}{
		{"no window opened", false, []dequeue{{5 * time.Second, 3 * time.Second}}, 0, 0},
		{"within the late wait", true, []dequeue{{5 * time.Second, time.Second}, {6 * time.Second, 500 * time.Millisecond}}, 0, 0},
		{"late within the window", true, []dequeue{{5 * time.Second, 3 * time.Second}, {6 * time.Second, 2 * time.Second}}, 2, 3 * time.Second},
		// Became late (wait passed 1s) 0.5s before the window opened.
		{"late before the window", true, []dequeue{{time.Second, 2500 * time.Millisecond}}, 0, 0},
		// Became late exactly at the window's opening.
		{"late at the opening", true, []dequeue{{time.Second, 2 * time.Second}}, 1, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			now := t0
			tally := &deliveryTally{done: map[string]int64{}, lateWall: time.Second, now: func() time.Time { return now }}
			if tt.open {
				tally.openWindow(t0)
			}
			for _, d := range tt.deliveries {
				now = t0.Add(d.at)
				tally.DeliveryQueued("lmtp", d.wait)
			}
			late, longest := tally.lateInWindow()
			if late != tt.wantLate || longest != tt.wantLongest {
				t.Errorf("late %d, longest %s; want %d, %s", late, longest, tt.wantLate, tt.wantLongest)
			}
			// A new window starts from nothing.
			tally.openWindow(now)
			if late, _ := tally.lateInWindow(); late != 0 {
				t.Errorf("a new window starts with %d late deliveries", late)
			}
		})
	}
}

// TestCapacityStopCutsTheStep: a stop (the first ^C) during a step cuts
// it: the step is not judged (errStopped, no step), whether it runs a
// fresh population or the live one, and a live step whose engine does not
// stop (a frozen server) does not wait for its window's end.
func TestCapacityStopCutsTheStep(t *testing.T) {
	s, err := scenarios.Parse("live.yaml", []byte(capacityLive), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		live bool
	}{{"fresh", false}, {"live", true}} {
		t.Run(tt.name, func(t *testing.T) {
			reg := metrics.NewRegistry()
			var running atomic.Pointer[engine.Engine]
			var stopping atomic.Bool
			c := s.Capacity
			c.StepDuration = time.Hour // only a stop ends it
			sr := &stepRunner{s: s, c: c, log: slog.New(slog.DiscardHandler), stderr: io.Discard,
				running: &running, stopping: &stopping, progress: metrics.NewCapacity(reg),
				gatherer:  &metrics.SwappableGatherer{Base: reg},
				guard:     harnessmon.Options{MaxCPU: 1, MaxSchedP99: time.Hour},
				liveStart: 1, liveMax: 4, flags: capacityFlags{settle: -1}}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			run := sr.run
			if tt.live {
				lr := &liveRun{sr: sr}
				defer lr.close()
				run = lr.step
			}
			type result struct {
				st  capacity.Step
				err error
			}
			done := make(chan result, 1)
			go func() {
				st, err := run(ctx, 2)
				done <- result{st, err}
			}()
			// Stop once the step's engine runs.
			for running.Load() == nil {
				select {
				case r := <-done:
					t.Fatalf("the step ended before its engine ran: %v", r.err)
				case <-time.After(10 * time.Millisecond):
				}
			}
			if tt.live {
				// A frozen server: the engine does not stop, only the
				// stop signal is given.
				stopping.Store(true)
				sr.stopSignal()
				sr.stopOnce.Do(func() { close(sr.stop) })
			} else {
				sr.requestStop()
			}
			select {
			case r := <-done:
				if !errors.Is(r.err, errStopped) {
					t.Errorf("the cut step returned %+v, %v; want errStopped and no step", r.st, r.err)
				}
			case <-ctx.Done():
				t.Fatal("the step did not end on the stop")
			}
		})
	}
}

// TestExecuteStopAskedBeforeTheEngine: a stop asked for before execute set
// the engine in running (a ^C while a fresh capacity step checked its
// target and made its population: the signal handler found no engine to
// stop) stops the engine as soon as it exists, so an hour-long step ends
// in seconds, stopped early, instead of running whole to be dropped.
func TestExecuteStopAskedBeforeTheEngine(t *testing.T) {
	s, err := scenarios.Parse("live.yaml", []byte(capacityLive), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: 2, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg := metrics.NewRegistry()
	client := metrics.NewClient(reg)
	log := slog.New(slog.DiscardHandler)
	tgt, err := openTarget(ctx, plan, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.close()
	var running atomic.Pointer[engine.Engine]
	er, code := execute(ctx, plan, execution{reg: reg, client: client, recorder: client, tgt: tgt, log: log,
		running: &running, stopped: func() bool { return true }, progress: io.Discard, quiet: true}, io.Discard)
	if ctx.Err() != nil {
		t.Fatal("the run did not end on the stop asked for before it")
	}
	if er == nil {
		t.Fatalf("no result (exit %d)", code)
	}
	if !er.rep.StoppedEarly {
		t.Error("the report does not say the run was stopped early")
	}
}

// TestCapacityLiveInboundFellBehind: a live step whose inbound mail piles
// up in the injector's queue (a server that takes fewer deliveries than
// the step's users are sent: the embedded server's command rate limit,
// one delivery connection) is invalid, though every delivery that ended
// in its window succeeded: the server carried less mail than the step's
// population makes.
func TestCapacityLiveInboundFellBehind(t *testing.T) {
	const scenario = `
version: 1
name: behind
seed: 5
duration: 5s
time_scale: 60
ramp_up: 1s
settle: 1s
max_parallel_deliveries: 1
server: {max_commands_per_second: 10}
users: {count: 1, username: "user{n}", password: pass}
groups:
  - {name: imap, share: 100%, devices: [pc-imap], behavior: flood}
behaviors:
  flood:
    inbound: {interval: 5s, size: {min: 1KiB, max: 2KiB}}
    on_new_mail: {read: 0%}
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true}
capacity:
  start_users: 1
  max_users: 1
  step_duration: 3s
  confirm: false
  qos: ["error_rate < 50%", "delivery_failure_rate < 50%"]
`
	s, err := scenarios.Parse("behind.yaml", []byte(scenario), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	lr := newTestLiveRun(s, 1)
	defer lr.close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := lr.step(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pass %v, first failed %q, invalid %q, qos %+v", st.Pass, st.FirstFailed, st.Invalid, st.QoS)
	if st.Pass || !slices.ContainsFunc(st.Invalid, func(p string) bool { return strings.Contains(p, "inbound mail fell behind") }) {
		t.Errorf("the step passed or was not invalid for its queue: pass %v, invalid %q", st.Pass, st.Invalid)
	}
	// The delivery line held: every delivery that ended in the window
	// succeeded, and only the queue shows the server fell behind.
	if st.FirstFailed != "" || len(st.QoS) != 2 || !st.QoS[1].OK {
		t.Errorf("a QoS line failed (%q, %+v): the test does not isolate the queue", st.FirstFailed, st.QoS)
	}
}

// TestLoginsSince: a live step's logins are those between its two counts,
// by outcome, and so are the connections the server closed while their
// devices were idle (closed_idle), which a live step's report left out
// before.
func TestLoginsSince(t *testing.T) {
	before := liveCounts{
		logins:     map[string]map[string]uint64{"imap": {"ok": 10, "refused": 2}},
		closedIdle: map[string]uint64{"imap": 3},
	}
	end := liveCounts{
		logins:     map[string]map[string]uint64{"imap": {"ok": 15, "refused": 6}, "pop3": {"ok": 4}},
		closedIdle: map[string]uint64{"imap": 8, "pop3": 0},
	}
	got := loginsSince(before, end)
	if imap := got["imap"]; imap.OK != 5 || imap.Failed != 4 || imap.FailedBy["refused"] != 4 || imap.ClosedIdle != 5 {
		t.Errorf("imap %+v, want 5 ok, 4 refused, 5 closed idle", imap)
	}
	if pop3 := got["pop3"]; pop3.OK != 4 || pop3.Failed != 0 || pop3.ClosedIdle != 0 {
		t.Errorf("pop3 %+v, want 4 ok and nothing else", pop3)
	}
}

// TestLiveStepCountsItsSubmissions: a live step's figures hold the
// devices' submissions that ended in its window, by outcome (the
// difference of the engine's counts at its open and close), and a QoS
// line on submission_failure_rate judges them: a step whose submissions
// collapse fails, though its commands and deliveries look healthy.
func TestLiveStepCountsItsSubmissions(t *testing.T) {
	yaml := strings.Replace(capacityLive, `qos: ["p95(imap.UID FETCH) < 5s", "error_rate < 1%", "login_failure_rate < 1%"]`,
		`qos: ["error_rate < 1%", "submission_failure_rate < 10%"]`, 1)
	s := liveScenario(t, yaml)
	lr := newTestLiveRun(s, 4)
	var err error
	if lr.plan, err = scenarios.NewPlan(s, scenarios.PlanOptions{Users: 4}); err != nil {
		t.Fatal(err)
	}
	open := liveCounts{submissions: engine.SubmissionStats{Sent: 10, Failed: 1}}
	end := liveCounts{submissions: engine.SubmissionStats{Sent: 14, Failed: 9, Unanswered: 2}}
	cmds := map[string]map[string]metrics.CommandStats{"imap": {"NOOP": {Count: 100}}}
	rep := report.Build(lr.windowInput(2, 2*time.Second, cmds, open, open, end))
	st := stepOf(rep, harnessmon.Window{Wall: 2 * time.Second}, 100, time.Second)
	for k, want := range map[string]float64{"submissions_started": 14, "submissions_sent": 4, "submissions_failed": 8,
		"submissions_unanswered": 2, "submissions_cut": 0} {
		if got, ok := st.Metrics[k]; !ok || got != want {
			t.Errorf("step metrics.%s %v, want %v (the window's)", k, got, want)
		}
	}
	if want := "submission_failure_rate < 10%"; st.Pass || st.FirstFailed != want {
		t.Errorf("step pass %v first_failed %q, want it failed by %q (qos %+v)", st.Pass, st.FirstFailed, want, st.QoS)
	}
	if len(st.QoS) == 2 && math.Abs(st.QoS[1].Value-10.0/14) > 1e-9 {
		t.Errorf("submission_failure_rate %v, want 10/14", st.QoS[1].Value)
	}
	if cell := report.NewCapacityStep(st).SubmissionsCell(); cell != "8+2 of 14" {
		t.Errorf("the step's submissions cell %q, want %q", cell, "8+2 of 14")
	}
}
