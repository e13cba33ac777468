package view

import (
	"testing"
	"time"
	"unsafe"
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
		// A POP3 poll that downloaded some mail and broke logs a step
		// but is no completed sync: the next step's prev (or the last
		// completed sync) is older than it.
		{"a poll that broke, then one that completed: the latter, a bound", []step{{-1, 5}, {5, 12}, {5, 15}}, 10, 20, 15, false},
		{"a poll under way, or broken, none since: it, the only one", []step{{-1, 5}, {5, 12}}, 10, 5, 12, true},
		{"two polls broke, then one completed: the latter, a bound", []step{{-1, 5}, {5, 12}, {5, 14}, {5, 15}}, 10, 20, 15, false},
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

// TestSyncLogStamped: a message's stamp names the sync that showed it,
// so a first sync since t that changed nothing (a server that showed the
// change late) no longer reads as "shown before t"; a stamp of a sync
// begun before t (one that read the server after the action, a flag the
// message had, a copy held from before) is t itself; one the log dropped
// (Keep made it StampOld) is t when the log's oldest followed a sync begun
// before t, else a bound; StampNone tells nothing. A message that left
// the view with a sync since t before the stamp's (MarkLeft), or maybe
// with one the log dropped, makes the stamp a bound: the message may have
// been shown before and come back.
func TestSyncLogStamped(t *testing.T) {
	base := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	type step struct {
		prev, start int  // minutes; prev -1: none
		left        bool // a message left the view with it (MarkLeft)
	}
	// dropOne returns a sync at 1, then MaxSyncLog a minute apart from
	// from, the first of them following one at prev.
	dropOne := func(prev, from int) []step {
		out := []step{{-1, 1, false}, {prev, from, false}}
		for i := 1; i < MaxSyncLog; i++ {
			out = append(out, step{from + i - 1, from + i, false})
		}
		return out
	}
	for _, tt := range []struct {
		name                 string
		steps                []step
		stampOf              int // index of the step whose stamp is asked; -1 StampNone, -2 StampOld
		t                    int
		want                 int
		wantOK, exact, first bool
	}{
		{"shown late: the quiet sync at 11 did not show it", []step{{-1, 5, false}, {11, 12, false}}, 1, 10, 12, true, true, true},
		{"a sync begun before t read it after", []step{{-1, 5, false}, {5, 9, false}}, 1, 10, 10, true, true, true},
		{"a flag it had, synced since with no change", []step{{-1, 5, false}}, 0, 10, 10, true, true, true},
		{"another sync since changed the view first", []step{{-1, 5, false}, {5, 11, false}, {11, 12, false}}, 2, 10, 12, true, true, false},
		{"none", []step{{-1, 5, false}}, -1, 10, 0, false, false, false},
		// MaxSyncLog+1 syncs: the first, at 1, is dropped.
		{"old, the oldest held followed a sync before t", dropOne(8, 12), -2, 10, 10, true, true, true},
		{"old, the oldest held followed a sync since t", dropOne(11, 12), -2, 10, 11, true, false, false},
		{"a message left with a sync since t before the stamp's: a bound",
			[]step{{-1, 5, false}, {5, 11, true}, {11, 12, false}}, 2, 10, 12, true, false, false},
		{"a message left before t", []step{{-1, 5, true}, {5, 12, false}}, 1, 10, 12, true, true, true},
		{"a message left with the stamp's own sync", []step{{-1, 5, false}, {5, 11, false}, {11, 12, true}}, 2, 10, 12, true, true, false},
		{"the oldest held, syncs since t dropped: a bound", dropOne(11, 12), 1, 10, 12, true, false, false},
		{"a message left, the log dropped a step since", func() []step {
			out := dropOne(8, 12) // 12..19 held
			out[4].left = true    // the step at 15
			return out
		}(), 5, 10, 16, true, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var l SyncLog
			var stamps []Stamp
			for _, s := range tt.steps {
				var prev time.Time
				if s.prev >= 0 {
					prev = at(s.prev)
				}
				stamps = append(stamps, l.Add(prev, at(s.start)))
				if s.left {
					l.MarkLeft()
				}
			}
			st := StampNone
			switch {
			case tt.stampOf == -2:
				st = StampOld
			case tt.stampOf >= 0:
				st = stamps[tt.stampOf]
			}
			sh, ok := l.Stamped(st, at(tt.t))
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if !sh.At.Equal(at(tt.want)) || sh.Exact != tt.exact || sh.First != tt.first {
				t.Errorf("Stamped = %v exact %v first %v; want %v, %v, %v", sh.At, sh.Exact, sh.First, at(tt.want), tt.exact, tt.first)
			}
			// The log alone: "shown before" for the late server.
			if tt.name == "shown late: the quiet sync at 11 did not show it" {
				if got, _ := l.ShownAt(at(tt.t), at(12)); !got.Equal(at(10)) {
					t.Errorf("ShownAt = %v, want the log's blind spot %v", got, at(10))
				}
			}
		})
	}
}

// TestSyncLogKeep: the stamps cycle, so Keep turns one of a sync the log
// dropped into StampOld however many syncs later, and keeps those it holds.
func TestSyncLogKeep(t *testing.T) {
	base := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	var l SyncLog
	first := l.Add(time.Time{}, base)
	kept := first
	var recent []Stamp
	for i := 1; i <= 3*stampCycle; i++ {
		s := l.Add(base.Add(time.Duration(i-1)*time.Second), base.Add(time.Duration(i)*time.Second))
		kept = l.Keep(kept)
		recent = append(recent, s)
		if i > MaxSyncLog && kept != StampOld {
			t.Fatalf("after %d syncs the first's stamp is %d, want StampOld", i, kept)
		}
	}
	for _, s := range recent[len(recent)-MaxSyncLog:] {
		if l.Keep(s) != s {
			t.Errorf("Keep(%d) = %d: the log holds it", s, l.Keep(s))
		}
		if _, ok := l.index(s); !ok {
			t.Errorf("stamp %d not found", s)
		}
	}
	if got := l.Keep(recent[len(recent)-MaxSyncLog-1]); got != StampOld {
		t.Errorf("Keep of the last dropped = %d, want StampOld", got)
	}
}

// TestSyncLogSize pins a log at 136 bytes: the devices keep one per folder
// (docs/performance.md); the MarkLeft bits share the step count's word.
func TestSyncLogSize(t *testing.T) {
	if got := unsafe.Sizeof(SyncLog{}); got != 136 {
		t.Errorf("SyncLog is %d bytes, want 136", got)
	}
}
