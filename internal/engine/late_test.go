package engine

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// TestOnLateReportsEveryStart: every action and inbound hand-over reports
// its lateness, never negative, by whose schedule it is (LateAction for a
// person's action, LateArrival for the arrival scheduler's hand-over: the
// first waits for the server and the person's writing, the second only
// for the harness); the end of ramp-up is reported once.
func TestOnLateReportsEveryStart(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{})
	var (
		mu   sync.Mutex
		n    = map[string]int{}
		neg  int
		maxL time.Duration
	)
	tr := &tracer{}
	ramped := 0
	var phases []Phase
	res := runOnEmbeddedWith(t, plan, newTestRecorder(), tr, func(o *Options) {
		o.OnRampedUp = func() { mu.Lock(); ramped++; mu.Unlock() }
		o.OnPhase = func(p Phase) { mu.Lock(); phases = append(phases, p); mu.Unlock() }
		o.OnLate = func(kind string, d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			n[kind]++
			if d < 0 {
				neg++
			}
			maxL = max(maxL, d)
		}
	})
	kinds := tr.kinds()
	started := 0
	for k, c := range kinds {
		if k != "deliver" {
			started += c
		}
	}
	inbound := 0
	for _, ids := range tr.inbound() {
		inbound += len(ids)
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%v starts reported, max lateness %v; actions %d, inbound delivered %d, delivered %d", n, maxL, started, inbound, res.Delivered)
	if want := []Phase{PhaseActive, PhaseSettle, PhaseAudit, PhaseDone}; !slices.Equal(phases, want) {
		t.Errorf("phases %v, want %v", phases, want)
	}
	if ramped != 1 {
		t.Errorf("OnRampedUp called %d times, want once", ramped)
	}
	if neg > 0 {
		t.Errorf("%d negative lateness values", neg)
	}
	// Each successful action was started once at least, and each inbound
	// message was handed over once.
	if n[LateAction] < started {
		t.Errorf("%d action starts reported (%v), fewer than the %d actions done", n[LateAction], n, started)
	}
	if inbound == 0 || n[LateArrival] < inbound {
		t.Errorf("%d hand-overs reported (%v) for %d inbound messages delivered; want one for each at least, and some", n[LateArrival], n, inbound)
	}
	if len(n) != 2 {
		t.Errorf("lateness of kinds %v, want %s and %s only", n, LateAction, LateArrival)
	}
}
