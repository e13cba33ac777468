package view

import (
	"testing"
	"time"
)

// TestSyncLogShownAt: the first logged sync since t whose sync before began
// before t is the one that showed a change the server had from t; a sync
// since t that changed nothing means it was shown before (t); a log that
// dropped its oldest syncs cannot tell when its oldest held may not be
// the first (an upper bound); an empty log falls back to the last sync.
func TestSyncLogShownAt(t *testing.T) {
	base := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	type step struct{ prev, start int } // minutes; prev -1: none
	// steps returns n syncs a minute apart from minute from, each after
	// the one before, then one at last if last > 0.
	steps := func(from, n, last int) []step {
		out := []step{{-1, from}}
		for i := 1; i < n; i++ {
			out = append(out, step{from + i - 1, from + i})
		}
		if last > 0 {
			out = append(out, step{from + n - 1, last})
		}
		return out
	}
	for _, tt := range []struct {
		name      string
		steps     []step
		t, last   int
		want      int
		wantExact bool
	}{
		{"the first changing sync since", []step{{-1, 5}, {5, 12}, {12, 17}}, 10, 20, 12, true},
		{"none since: shown before", []step{{-1, 5}, {5, 8}}, 10, 20, 10, true},
		{"a quiet sync since first: shown before", []step{{-1, 5}, {11, 12}}, 10, 20, 10, true},
		{"a sync at t counts", []step{{-1, 5}, {5, 10}}, 10, 20, 10, true},
		// MaxSyncLog+1 syncs: the first is dropped.
		{"dropped, the oldest held is the first", steps(1, MaxSyncLog, 12), 10, 30, 12, true},
		{"dropped, the first may be gone", steps(11, MaxSyncLog+1, 0), 10, 30, 12, false},
		{"no log, synced since: the last, a bound", nil, 10, 15, 15, false},
		{"no log, not synced since", nil, 10, 5, 10, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var l SyncLog
			for _, s := range tt.steps {
				var prev time.Time
				if s.prev >= 0 {
					prev = at(s.prev)
				}
				l.Add(prev, at(s.start))
			}
			got, exact := l.ShownAt(at(tt.t), at(tt.last))
			if !got.Equal(at(tt.want)) || exact != tt.wantExact {
				t.Errorf("ShownAt = %v, %v; want %v, %v", got, exact, at(tt.want), tt.wantExact)
			}
		})
	}
}
