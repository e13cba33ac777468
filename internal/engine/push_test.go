package engine

import (
	"strconv"
	"testing"
	"time"
)

func TestPushTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPushTracker()
	p.delivered("u1", "<a>", t0)
	p.delivered("u1", "<b>", t0.Add(time.Second))
	p.delivered("u2", "<c>", t0)
	p.delivered("u1", "<a>", t0.Add(time.Hour)) // a retry's later note keeps the first
	// u1's PC is notified of <a> and <b> at t0+3s; <x> was never delivered
	// by the injector, and <c> is u2's.
	p.pushed("u1", []string{"<a>", "<b>", "<x>", "<c>"}, t0.Add(3*time.Second))
	// A second PC of u1 is notified of <a> at t0+61s.
	p.pushed("u1", []string{"<a>"}, t0.Add(61*time.Second))
	// A notification before the try began counts as 0.
	p.pushed("u2", []string{"<c>"}, t0.Add(-time.Second))
	got := p.result()
	want := PushLatency{Samples: 4, P50: 2 * time.Second, P95: 61 * time.Second, Max: 61 * time.Second}
	if got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}
	if r := newPushTracker().result(); r != (PushLatency{}) {
		t.Errorf("empty result = %+v", r)
	}
}

func TestPushTrackerBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPushTrackerSized(3, 100)
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		p.delivered("u", id, t0.Add(time.Duration(i)*time.Second))
	}
	// d and e made room: a (remembered 3s) and b (3s) are forgotten, so
	// their notifications give no sample; c's, d's and e's do.
	p.pushed("u", []string{"a", "b", "c", "d", "e"}, t0.Add(10*time.Second))
	got := p.result()
	if got.Samples != 3 || got.Forgotten != 2 || got.Horizon != 3*time.Second || got.Max != 8*time.Second {
		t.Errorf("result = %+v, want 3 samples, 2 forgotten over a 3s horizon, max 8s", got)
	}
	if len(p.pending) != 3 {
		t.Errorf("pending %d, want 3", len(p.pending))
	}
}

// TestPushTrackerUniform checks that the kept latencies are a sample of
// the whole run, not its start: the first half's pushes take 1s, the
// second half's 9s, and the tracker keeps 100 of 10,000.
func TestPushTrackerUniform(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := newPushTrackerSized(20000, 100)
	for i := range 10000 {
		id := strconv.Itoa(i)
		p.delivered("u", id, t0)
		lat := time.Second
		if i >= 5000 {
			lat = 9 * time.Second
		}
		p.pushed("u", []string{id}, t0.Add(lat))
	}
	got := p.result()
	if got.Samples != 10000 || got.P95 != 9*time.Second || got.Max != 9*time.Second || got.Forgotten != 0 {
		t.Errorf("result = %+v, want 10000 samples, p95 and max 9s, none forgotten", got)
	}
}
