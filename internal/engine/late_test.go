package engine

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// TestOnLateReportsEveryStart: every action and inbound hand-over reports
// its lateness, never negative; the end of ramp-up is reported once.
func TestOnLateReportsEveryStart(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{})
	var (
		mu   sync.Mutex
		n    int
		neg  int
		maxL time.Duration
	)
	tr := &tracer{}
	ramped := 0
	var phases []Phase
	res := runOnEmbeddedWith(t, plan, newTestRecorder(), tr, func(o *Options) {
		o.OnRampedUp = func() { mu.Lock(); ramped++; mu.Unlock() }
		o.OnPhase = func(p Phase) { mu.Lock(); phases = append(phases, p); mu.Unlock() }
		o.OnLate = func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			n++
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
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d starts reported, max lateness %v; actions %d, delivered %d", n, maxL, started, res.Delivered)
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
	if n < started {
		t.Errorf("%d starts reported, fewer than the %d actions done", n, started)
	}
}
