package engine

import (
	"reflect"
	"testing"
	"time"
)

func TestRoundTracker(t *testing.T) {
	r := newRoundTracker()
	if got := r.result(); got != nil {
		t.Errorf("no round: result = %v, want nil", got)
	}
	for i := 1; i <= 100; i++ {
		r.round("webmail", time.Duration(i)*time.Second)
	}
	r.round("phone-imap", 3*time.Second)
	want := map[string]SyncRounds{
		"webmail":    {Rounds: 100, P50: 50 * time.Second, P99: 99 * time.Second, Max: 100 * time.Second},
		"phone-imap": {Rounds: 1, P50: 3 * time.Second, P99: 3 * time.Second, Max: 3 * time.Second},
	}
	if got := r.result(); !reflect.DeepEqual(got, want) {
		t.Errorf("result = %+v, want %+v", got, want)
	}
}

// TestRoundTrackerBounded: past its capacity a profile's rounds are
// counted, and the longest kept as the maximum, but not sampled.
func TestRoundTrackerBounded(t *testing.T) {
	r := newRoundTracker()
	r.capacity = 4
	for _, s := range []int{1, 2, 3, 4, 60, 70} {
		r.round("pc-imap", time.Duration(s)*time.Second)
	}
	got := r.result()["pc-imap"]
	want := SyncRounds{Rounds: 6, P50: 2 * time.Second, P99: 4 * time.Second, Max: 70 * time.Second}
	if got != want {
		t.Errorf("result = %+v, want %+v", got, want)
	}
}
