package harnessmon

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"testing"
	"time"
)

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name        string
		base        int
		floor, live uint64
		want        int
	}{
		{"before the first cycle: the minimum goal is the floor", 100, 32 * mib, 0, 800},
		{"a small heap: capped so that the minimum goal is the floor", 100, 32 * mib, 3 * mib, 800},
		{"a heap whose goal at the cap passes the floor", 100, 32 * mib, 8 * mib, 300},
		{"rounded up", 100, 32 * mib, 10 * mib, 220},
		{"twice the heap reaches the floor: the base", 100, 32 * mib, 16 * mib, 100},
		{"a large heap: the base", 100, 32 * mib, 500 * mib, 100},
		{"a heap above the floor: the base", 100, 32 * mib, 40 * mib, 100},
		{"a higher base kept", 1000, 32 * mib, 8 * mib, 1000},
		{"GC off kept", -1, 32 * mib, 3 * mib, -1},
		{"no floor", 100, 0, 3 * mib, 100},
		{"a floor under the runtime's minimum", 100, 2 * mib, 1 * mib, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := GCPercent(tc.base, tc.floor, tc.live)
			if got != tc.want {
				t.Fatalf("GCPercent(%d, %d, %d) = %d, want %d", tc.base, tc.floor, tc.live, got, tc.want)
			}
			// The goal the runtime derives from it is the floor or more,
			// and no more than the floor or the base's goal.
			if tc.base < 0 || tc.floor == 0 {
				return
			}
			goal := func(p int) uint64 { return max(tc.live*uint64(100+p)/100, goHeapMinimum*uint64(p)/100) }
			if g := goal(got); g < tc.floor || g > max(tc.floor+tc.live/100+1, goal(tc.base)) {
				t.Errorf("goal %d for floor %d, live %d (base's %d)", g, tc.floor, tc.live, goal(tc.base))
			}
		})
	}
}

// TestFloorHeapLoop follows the live heap each tick, sets GOGC only when
// it changes and puts back the GOGC it found when ctx ends.
func TestFloorHeapLoop(t *testing.T) {
	const mib = 1 << 20
	lives := []uint64{0, 3 * mib, 3 * mib, 10 * mib, 40 * mib}
	i := 0
	live := func() uint64 { v := lives[min(i, len(lives)-1)]; i++; return v }
	var set []int
	gogc := 150
	setter := func(p int) int { set = append(set, p); old := gogc; gogc = p; return old }
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); floorHeap(ctx, 32*mib, tick, live, setter) }()
	for range len(lives) - 1 {
		tick <- time.Time{}
	}
	cancel()
	<-done
	// 100 reads the base (150); then 800 for no live heap yet, 3 MiB
	// unchanged, 220 for 10 MiB, the base for 40 MiB, the base at the end.
	if want := []int{100, 800, 220, 150, 150}; !slices.Equal(set, want) {
		t.Errorf("GOGC set to %v, want %v", set, want)
	}
	if gogc != 150 {
		t.Errorf("GOGC %d at the end, want the 150 it found", gogc)
	}
}

// TestFloorHeap raises the real collector's heap goal to the floor while
// it runs, leaves a second FloorHeap without effect, and puts GOGC back.
func TestFloorHeap(t *testing.T) {
	const floor = 256 << 20 // above this test binary's heap goal at GOGC 100
	before := debug.SetGCPercent(100)
	debug.SetGCPercent(before)
	goal := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	readGoal := func() uint64 { metrics.Read(goal); return goal[0].Value.Uint64() }
	if g := readGoal(); g >= floor {
		t.Skipf("the heap goal is %d already", g)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { FloorHeap(ctx, floor); done <- struct{}{} }()
	deadline := time.Now().Add(10 * time.Second)
	var g uint64
	for g = readGoal(); g < floor && time.Now().Before(deadline); g = readGoal() {
		time.Sleep(time.Millisecond)
	}
	if g < floor {
		t.Errorf("heap goal %d while FloorHeap(%d) runs", g, uint64(floor))
	}
	// A second one changes nothing (and returns when its ctx ends).
	ended, end := context.WithCancel(context.Background())
	end()
	FloorHeap(ended, floor/8)
	if g := readGoal(); g < floor {
		t.Errorf("heap goal %d after a second FloorHeap(%d)", g, uint64(floor/8))
	}
	cancel()
	<-done
	if p := debug.SetGCPercent(before); p != before {
		t.Errorf("GOGC %d after FloorHeap, want the %d it found", p, before)
	}
}
