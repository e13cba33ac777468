package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// activeUsers returns the users who acted or received inbound mail in
// the events traced so far.
func (t *tracer) activeUsers() map[string]bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]bool{}
	for _, ev := range t.events {
		if ev.Kind != "deliver" || ev.Inbound {
			m[ev.User] = true
		}
	}
	return m
}

// TestAddUsersGrowsOneRun grows one running population, 2 users then 3
// more, and checks that only the users added ever act, that every one of
// them does, that the plan bounds the growth, and that the run's result
// counts the users it started.
func TestAddUsersGrowsOneRun(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{Users: 6, Duration: time.Minute})
	srv, ep := startEmbedded(t, plan)
	tr := &tracer{}
	noSettle := time.Duration(0)
	e, err := New(Options{Plan: plan, Endpoints: ep, Truth: storeTruth{srv}, Trace: tr.add, Grow: true, Settle: &noSettle})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AddUsers(context.Background(), 1); !errors.Is(err, ErrNotGrowing) {
		t.Errorf("AddUsers before Run: %v, want ErrNotGrowing", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res *Result
	var runErr error
	done := make(chan struct{})
	go func() { defer close(done); res, runErr = e.Run(ctx) }()
	for i := 0; e.Status().Phase != PhaseActive; i++ {
		if i == 200 {
			t.Fatal("the run did not become active within 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// waitActive waits until every one of the first n users acted.
	waitActive := func(n int) {
		t.Helper()
		for i := 0; ; i++ {
			act := tr.activeUsers()
			missing := ""
			for _, u := range plan.Users[:n] {
				if !act[u.Username] {
					missing = u.Username
				}
			}
			if missing == "" {
				return
			}
			if i == 300 {
				t.Fatalf("%s never acted within 30 s", missing)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// notActive checks that no user from the n-th on acted.
	notActive := func(n int) {
		t.Helper()
		act := tr.activeUsers()
		for _, u := range plan.Users[n:] {
			if act[u.Username] {
				t.Errorf("%s acted but was never added", u.Username)
			}
		}
	}
	for _, step := range []struct{ add, total int }{{2, 2}, {3, 5}} {
		n, err := e.AddUsers(ctx, step.add)
		if err != nil || n != step.add {
			t.Fatalf("AddUsers(%d): %d, %v", step.add, n, err)
		}
		if got := e.Status().UsersStarted; got != step.total {
			t.Errorf("after AddUsers(%d): %d users started, want %d", step.add, got, step.total)
		}
		waitActive(step.total)
		notActive(step.total)
	}
	if n, err := e.AddUsers(ctx, 2); n != 0 || !errors.Is(err, ErrPopulationFull) {
		t.Errorf("AddUsers past the plan: %d, %v; want 0, ErrPopulationFull", n, err)
	}
	e.Stop()
	<-done
	if runErr != nil {
		t.Fatalf("run: %v", runErr)
	}
	if res.Users != 5 {
		t.Errorf("result: %d users, want the 5 added", res.Users)
	}
	notActive(5)
	if _, err := e.AddUsers(ctx, 1); !errors.Is(err, ErrNotGrowing) {
		t.Errorf("AddUsers after the run: %v, want ErrNotGrowing", err)
	}
}

// TestAddUsersNeedsGrow: an engine built without Options.Grow starts its
// plan itself and refuses AddUsers.
func TestAddUsersNeedsGrow(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{})
	_, ep := startEmbedded(t, plan)
	e, err := New(Options{Plan: plan, Endpoints: ep})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := e.AddUsers(context.Background(), 1); n != 0 || !errors.Is(err, ErrNotGrowing) {
		t.Errorf("AddUsers without Grow: %d, %v; want 0, ErrNotGrowing", n, err)
	}
}
