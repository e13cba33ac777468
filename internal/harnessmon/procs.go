package harnessmon

import (
	"context"
	"runtime"
	"sync/atomic"
	"time"
)

// Procs sizing: a load generator whose population keeps well under one
// core spends less CPU per command on one P (GOMAXPROCS=1): fewer threads
// wake, spin and hand goroutines over (docs/performance.md, "Parallelism").
// A busy one needs the cores. SizeProcs starts the process on one P and
// moves GOMAXPROCS with the process's CPU use, between 1 and a ceiling.

// procsUp and procsDown are the thresholds of the sizing rule, as shares
// of the current GOMAXPROCS: one P more when the process used more than
// procsUp of its P's over the last interval, one fewer when what it used
// would fill less than procsDown of one P fewer.
const (
	procsUp   = 0.5
	procsDown = 0.25
)

// procsInterval is how often SizeProcs looks at the process's CPU use.
const procsInterval = time.Second

// NextProcs returns the GOMAXPROCS to use next: cur, one more (up to max)
// when used, the cores the process kept busy over the last interval (CPU
// seconds per wall second), exceeds procsUp of cur, or one fewer (down to
// 1) when used is under procsDown of cur-1.
func NextProcs(cur, max int, used float64) int {
	switch {
	case cur < max && used > procsUp*float64(cur):
		return cur + 1
	case cur > 1 && used < procsDown*float64(cur-1):
		return cur - 1
	}
	return cur
}

// Cores returns the number of cores the process can use when GOMAXPROCS
// is procs: procs, but no more than the machine's (runtime.NumCPU, which
// follows the CPU affinity mask), and at least 1.
func Cores(procs int) int {
	return max(1, min(procs, runtime.NumCPU()))
}

// sizing is set while a SizeProcs sizes GOMAXPROCS, which is the
// process's: a second one (two runs in one process, as in tests) leaves
// it to the first.
var sizing atomic.Bool

// SizeProcs sets GOMAXPROCS to 1 and then, every second until ctx ends,
// to NextProcs of the process's CPU use, never above Cores(max). When ctx
// ends it puts back the GOMAXPROCS it found and returns. Run it on a
// goroutine of its own. While another SizeProcs runs in the process it
// changes nothing and only waits for ctx.
func SizeProcs(ctx context.Context, max int) {
	if !sizing.CompareAndSwap(false, true) {
		<-ctx.Done()
		return
	}
	defer sizing.Store(false)
	t := time.NewTicker(procsInterval)
	defer t.Stop()
	sizeProcs(ctx, Cores(max), t.C, processCPU, time.Now, runtime.GOMAXPROCS)
}

// sizeProcs is SizeProcs with its clock, CPU reading and GOMAXPROCS setter
// (which returns the previous value, as runtime.GOMAXPROCS does) given.
func sizeProcs(ctx context.Context, max int, tick <-chan time.Time, cpu func() time.Duration, now func() time.Time, set func(int) int) {
	prev := set(1)
	defer set(prev)
	cur := 1
	lastCPU, last := cpu(), now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		c, t := cpu(), now()
		wall := t.Sub(last).Seconds()
		if wall <= 0 {
			continue
		}
		next := NextProcs(cur, max, (c-lastCPU).Seconds()/wall)
		lastCPU, last = c, t
		if next != cur {
			set(next)
			cur = next
		}
	}
}
