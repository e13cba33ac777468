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
	p := newPushTracker()
	t0 := time.Now()
	for i := 0; i < maxPushPending+10; i++ {
		p.delivered("u", strconv.Itoa(i), t0)
	}
	if len(p.pending) != maxPushPending || p.dropped != 10 {
		t.Fatalf("pending %d dropped %d, want %d and 10", len(p.pending), p.dropped, maxPushPending)
	}
	ids := make([]string, 0, maxPushSamples+5)
	for i := 0; i < maxPushSamples+5; i++ {
		ids = append(ids, strconv.Itoa(i))
	}
	p.pushed("u", ids, t0.Add(time.Second))
	if len(p.samples) != maxPushSamples || p.dropped != 15 {
		t.Fatalf("samples %d dropped %d, want %d and 15", len(p.samples), p.dropped, maxPushSamples)
	}
}
