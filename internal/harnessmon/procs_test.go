package harnessmon

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestNextProcs(t *testing.T) {
	tests := []struct {
		name     string
		cur, max int
		used     float64
		want     int
	}{
		{"idle stays on one", 1, 2, 0.1, 1},
		{"half a core stays on one", 1, 2, 0.5, 1},
		{"busy one grows", 1, 2, 0.7, 2},
		{"at the ceiling", 2, 2, 1.9, 2},
		{"ceiling of one", 1, 1, 1.0, 1},
		{"between the thresholds stays", 2, 4, 0.4, 2},
		{"quiet two shrinks", 2, 4, 0.2, 1},
		{"busy two grows", 2, 4, 1.1, 3},
		{"quiet four shrinks by one", 4, 4, 0.1, 3},
		{"never below one", 1, 4, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextProcs(tc.cur, tc.max, tc.used); got != tc.want {
				t.Errorf("NextProcs(%d, %d, %v) = %d, want %d", tc.cur, tc.max, tc.used, got, tc.want)
			}
		})
	}
}

func TestCores(t *testing.T) {
	n := runtime.NumCPU()
	for _, tc := range []struct{ procs, want int }{{0, 1}, {1, 1}, {n, n}, {n + 8, n}} {
		if got := Cores(tc.procs); got != tc.want {
			t.Errorf("Cores(%d) = %d, want %d", tc.procs, got, tc.want)
		}
	}
}

// TestSizeProcs drives the sizing loop with a fake clock and CPU reading:
// it starts on one P, follows the load up to the ceiling and down again,
// and puts back the GOMAXPROCS it found when ctx ends.
func TestSizeProcs(t *testing.T) {
	// The CPU seconds used in each one-second interval: NextProcs moves
	// GOMAXPROCS to 1, 2, 3, 3, 3, 2, 1 after them (ceiling 3).
	used := []float64{0.1, 0.9, 1.5, 2.9, 1.0, 0.4, 0.1}
	// The readings the loop takes, in order: one at the start, then one
	// per tick. Only the loop's goroutine touches them.
	var (
		cpus  = []time.Duration{0}
		times = []time.Time{time.Unix(0, 0)}
	)
	for i, u := range used {
		cpus = append(cpus, cpus[i]+time.Duration(u*float64(time.Second)))
		times = append(times, times[i].Add(time.Second))
	}
	cpu := func() (c time.Duration) { c, cpus = cpus[0], cpus[1:]; return c }
	now := func() (t time.Time) { t, times = times[0], times[1:]; return t }
	procs := 7 // the value found
	var history []int
	set := func(n int) int {
		old := procs
		procs = n
		history = append(history, n)
		return old
	}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sizeProcs(ctx, 3, tick, cpu, now, set)
	}()
	for range used {
		tick <- time.Time{}
	}
	// The loop handles the tick it took before it looks at ctx again.
	cancel()
	<-done
	// 1 at the start, every change, then the value put back.
	want := []int{1, 2, 3, 2, 1, 7}
	if !slices.Equal(history, want) {
		t.Errorf("GOMAXPROCS set to %v, want %v", history, want)
	}
}
