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
		r.round("webmail", time.Duration(i)*time.Second, false)
	}
	r.round("phone-imap", 3*time.Second, false)
	// Failed rounds are counted apart, their times left out: a refused
	// connection's none, a timeout's whole wait.
	r.round("webmail", 0, true)
	r.round("webmail", 30*time.Second, true)
	r.round("pop3-pc", time.Second, true)
	want := map[string]SyncRounds{
		"webmail":    {Rounds: 100, Failed: 2, P50: 50 * time.Second, P99: 99 * time.Second, Max: 100 * time.Second},
		"phone-imap": {Rounds: 1, P50: 3 * time.Second, P99: 3 * time.Second, Max: 3 * time.Second},
		"pop3-pc":    {Failed: 1},
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
		r.round("pc-imap", time.Duration(s)*time.Second, false)
	}
	got := r.result()["pc-imap"]
	if got.Rounds != 6 || got.Max != 70*time.Second || len(r.byProf["pc-imap"].kept) != 4 {
		t.Errorf("result = %+v with %d kept, want 6 rounds, max 70s, 4 kept", got, len(r.byProf["pc-imap"].kept))
	}
	// A sample over the whole run: rounds that slow down late show in
	// the percentiles, not only in the maximum (the first capacity kept
	// would say 1s).
	r = newRoundTracker()
	r.capacity = 100
	for i := range 10000 {
		wall := time.Second
		if i >= 5000 {
			wall = time.Minute
		}
		r.round("webmail", wall, false)
	}
	if got := r.result()["webmail"]; got.P99 != time.Minute || got.P50 == 0 {
		t.Errorf("half the rounds slow late in the run: %+v, want p99 1m0s", got)
	}
}
