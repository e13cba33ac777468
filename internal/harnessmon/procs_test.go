package harnessmon

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestNextProcs(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name     string
		cur, max int
		load     Load
		want     int
	}{
		{"idle stays on one", 1, 2, Load{0.1, 0}, 1},
		{"half a core stays on one", 1, 2, Load{0.5, 100 * time.Microsecond}, 1},
		{"busy one grows", 1, 2, Load{0.7, 0}, 2},
		{"queueing one grows", 1, 2, Load{0.3, 2 * ms}, 2},
		{"waiting but mostly idle stays on one", 1, 2, Load{0.2, 5 * ms}, 1},
		{"at the ceiling", 2, 2, Load{1.9, 5 * ms}, 2},
		{"ceiling of one", 1, 1, Load{1.0, 5 * ms}, 1},
		{"between the thresholds stays", 2, 4, Load{0.4, 0}, 2},
		{"quiet two shrinks", 2, 4, Load{0.2, 100 * time.Microsecond}, 1},
		{"quiet two shrinks though goroutines wait", 2, 4, Load{0.2, 5 * ms}, 1},
		{"half-busy two with a wait grows", 2, 4, Load{0.6, 2 * ms}, 3},
		{"half-busy two without a wait stays", 2, 4, Load{0.6, 0}, 2},
		{"busy two grows", 2, 4, Load{1.1, 0}, 3},
		{"quiet four shrinks by one", 4, 4, Load{0.1, 0}, 3},
		{"never below one", 1, 4, Load{0, 0}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextProcs(tc.cur, tc.max, tc.load); got != tc.want {
				t.Errorf("NextProcs(%d, %d, %+v) = %d, want %d", tc.cur, tc.max, tc.load, got, tc.want)
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

// drive runs sizeProcs with a ceiling over loads, one fake tick each,
// starting from GOMAXPROCS found, and returns every value it set.
func drive(ceiling, found int, loads []Load) []int {
	n := len(loads)
	next := func() (l Load) { l, loads = loads[0], loads[1:]; return l } // only the loop calls it
	procs := found
	var history []int
	set := func(v int) int {
		old := procs
		procs = v
		history = append(history, v)
		return old
	}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sizeProcs(ctx, ceiling, tick, next, set)
	}()
	for range n {
		tick <- time.Time{}
	}
	// The loop handles the tick it took before it looks at ctx again.
	cancel()
	<-done
	return history
}

// TestSizeProcs drives the sizing loop with fake ticks and loads: it
// starts on one P, follows the load up to the ceiling, keeps an added P
// for procsHold intervals, comes down when the load stays low, and puts
// back the GOMAXPROCS it found when ctx ends.
func TestSizeProcs(t *testing.T) {
	quiet := Load{Used: 0.1}
	loads := []Load{quiet, {Used: 0.9}, {Used: 1.5}, {Used: 2.9}, {Used: 1.0}}
	// Quiet from now on: the third P came at interval 3, so it stays until
	// its hold of procsHold intervals ends, then one P goes per interval
	// (the second P's hold ended within the third's).
	for range procsHold + 2 {
		loads = append(loads, quiet)
	}
	// 1 at the start, every change, then the value found (7) put back.
	want := []int{1, 2, 3, 2, 1, 7}
	if got := drive(3, 7, loads); !slices.Equal(got, want) {
		t.Errorf("GOMAXPROCS set to %v, want %v", got, want)
	}
}

// TestSizeProcsQueue checks that a process whose goroutines wait for the
// P in two intervals in a row while it keeps its P more than a quarter
// busy gets another, one waiting in a single interval does not, nor one
// whose P is mostly idle however long its goroutines wait (the machine's
// wait, not the P's), and an added P is kept for procsHold intervals
// however quiet the process becomes, and given back after.
func TestSizeProcsQueue(t *testing.T) {
	wait := Load{Used: 0.3, SchedP99: 5 * time.Millisecond}
	idleWait := Load{Used: 0.2, SchedP99: 20 * time.Millisecond}
	tests := []struct {
		name  string
		loads []Load
		quiet int // quiet intervals after loads
		want  []int
	}{
		{"one busy second", []Load{wait, {}, wait}, 3, []int{1, 4}},
		{"held", []Load{wait, wait}, procsHold, []int{1, 2, 4}},
		{"given back", []Load{wait, wait}, procsHold + 1, []int{1, 2, 1, 4}},
		{"mostly idle", []Load{idleWait, idleWait, idleWait, idleWait}, 0, []int{1, 4}},
	}
	for _, tc := range tests {
		loads := tc.loads
		for range tc.quiet {
			loads = append(loads, Load{})
		}
		if got := drive(2, 4, loads); !slices.Equal(got, tc.want) {
			t.Errorf("%s: GOMAXPROCS set to %v, want %v", tc.name, got, tc.want)
		}
	}
}
