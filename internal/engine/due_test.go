package engine

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestDueIndex(t *testing.T) {
	at := func(m int) time.Time { return simEpoch.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name     string
		set      map[int]int // place → minute (-1: not pending)
		now      int
		first    int
		earliest int // -1: none
	}{
		{name: "empty", now: 5, first: -1, earliest: -1},
		{name: "nothing due yet", set: map[int]int{0: 10, 1: 20}, now: 5, first: -1, earliest: 10},
		{name: "first in order, not earliest", set: map[int]int{0: 10, 1: 3, 2: 4}, now: 10, first: 0, earliest: 3},
		{name: "only a later one due", set: map[int]int{0: 10, 1: 3}, now: 5, first: 1, earliest: 3},
		{name: "due exactly now", set: map[int]int{0: 9, 1: 5}, now: 5, first: 1, earliest: 5},
		{name: "finished ones skipped", set: map[int]int{0: -1, 1: -1, 2: 7}, now: 8, first: 2, earliest: 7},
		{name: "beyond the first leaves", set: map[int]int{0: 50, 40: 2, 100: 1}, now: 2, first: 40, earliest: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x dueIndex
			for i, m := range tc.set {
				d := time.Time{}
				if m >= 0 {
					d = at(m)
				}
				x.set(i, d)
			}
			if got := x.first(at(tc.now)); got != tc.first {
				t.Errorf("first(%d) = %d, want %d", tc.now, got, tc.first)
			}
			want := time.Time{}
			if tc.earliest >= 0 {
				want = at(tc.earliest)
			}
			if got := x.earliest(); !got.Equal(want) {
				t.Errorf("earliest = %v, want %v", got, want)
			}
		})
	}
}

// TestDueIndexMatchesScan holds dueIndex to the scan of every pending
// message that person.actionDue and person.mailDue made before it.
func TestDueIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var x dueIndex
	var dues []time.Time // the reference: by place, zero when not pending
	for step := range 20000 {
		i := rng.IntN(len(dues) + 2)
		d := time.Time{}
		if rng.IntN(3) > 0 {
			d = simEpoch.Add(time.Duration(rng.IntN(500)) * time.Second)
		}
		if rng.IntN(2000) == 0 { // compact: as person.compact rebuilds
			x.reset(dueMinLeaves)
			for j, v := range dues {
				x.set(j, v)
			}
		}
		x.set(i, d)
		for len(dues) <= i {
			dues = append(dues, time.Time{})
		}
		dues[i] = d
		now := simEpoch.Add(time.Duration(rng.IntN(500)) * time.Second)
		first, earliest := -1, time.Time{}
		for j, v := range dues {
			if v.IsZero() {
				continue
			}
			if first < 0 && !now.Before(v) {
				first = j
			}
			if earliest.IsZero() || v.Before(earliest) {
				earliest = v
			}
		}
		if got := x.first(now); got != first {
			t.Fatalf("step %d: first = %d, a scan finds %d", step, got, first)
		}
		if got := x.earliest(); !got.Equal(earliest) {
			t.Fatalf("step %d: earliest = %v, a scan finds %v", step, got, earliest)
		}
	}
}
