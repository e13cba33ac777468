package engine

import (
	"context"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/scenarios"
)

// stallScenario is IMAP users who send often: a send's copy to Sent is
// stored after its submission, so a server that stalls then leaves the
// person a resume to finish after the active phase.
const stallScenario = `
version: 1
name: stall
seed: 5
duration: 4s
time_scale: 60
settle: 1s
audit: 500ms
users: {count: 3, username: "user{n}", password: pass}
groups:
  - {name: imap, share: 100%, devices: [pc-imap], behavior: sender}
behaviors:
  sender:
    inbound: {interval: 1h, size: {min: 2KiB, max: 4KiB}}
    send: {interval: 20s}
    on_new_mail: {read: 100%}
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true}
`

// newStallEngine builds the engine of stallScenario on an embedded server
// whose IMAP is reached through a fault proxy that stalls for good at the
// first APPEND to Sent (the submission goes straight to the server).
func newStallEngine(t *testing.T, peopleWait time.Duration) (*Engine, <-chan struct{}) {
	t.Helper()
	plan := mustPlan(t, stallScenario, scenarios.PlanOptions{})
	srv, ep := startEmbedded(t, plan)
	proxy, err := faultproxy.New(faultproxy.Options{Backend: ep.IMAP.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	hit := proxy.StallOn([]byte("APPEND Sent"))
	ep.IMAP.Addr = proxy.Addr()
	e, err := New(Options{Plan: plan, Endpoints: ep, Truth: storeTruth{srv}, PeopleWait: peopleWait})
	if err != nil {
		t.Fatal(err)
	}
	return e, hit
}

// checkCut checks that the wait for the people was cut and that what it
// cut is counted.
func checkCut(t *testing.T, r runResult, hit <-chan struct{}) {
	t.Helper()
	select {
	case <-hit:
	default:
		t.Fatal("the proxy never stalled at an APPEND to Sent: the test did not stall where intended")
	}
	if !r.res.Settle.PeopleCut {
		t.Errorf("the wait for the people was not cut (waited %s)", r.res.Settle.PeopleWait)
	}
	if r.res.ActionsDropped == 0 {
		t.Error("no action counted as given up, though the wait for them was cut")
	}
}

// TestPeopleWaitBoundedOnStalledServer: a server that stalls mid-run,
// while a send waits to store its copy in Sent, does not keep the run
// going by a greeting deadline per resume: the wait for the people ends
// with its budget, and the resume it cut is counted as given up.
func TestPeopleWaitBoundedOnStalledServer(t *testing.T) {
	const budget = 2 * time.Second
	e, hit := newStallEngine(t, budget)
	start := time.Now()
	r := waitRun(t, runAsync(context.Background(), e))
	checkCut(t, r, hit)
	// Generous: the bound (duration, budget, settle) plus 20 s; each
	// resume the budget does not cut waits for a 30 s greeting deadline.
	if limit := 4*time.Second + budget + time.Second + 20*time.Second; time.Since(start) > limit {
		t.Errorf("Run lasted %s, want at most %s", time.Since(start), limit)
	}
	if r.res.Settle.PeopleWait > budget+20*time.Second {
		t.Errorf("waited %s for the people, budget %s", r.res.Settle.PeopleWait, budget)
	}
}

// TestPeopleWaitShortenedByStop: a Stop (the first ^C) while the run waits
// for the people after the active phase shortens that wait to
// stoppedEarlySettle, though its budget is longer.
func TestPeopleWaitShortenedByStop(t *testing.T) {
	e, hit := newStallEngine(t, 10*time.Minute)
	ch := runAsync(context.Background(), e)
	deadline := time.Now().Add(hangLimit)
	for e.Status().Phase != PhaseSettle && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	e.Stop()
	stopped := time.Now()
	r := waitRun(t, ch)
	checkCut(t, r, hit)
	if limit := stoppedEarlySettle + time.Second + 20*time.Second; time.Since(stopped) > limit {
		t.Errorf("Run lasted %s after Stop, want at most %s", time.Since(stopped), limit)
	}
}
