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
// A busy one needs the cores, and so does one whose goroutines queue for
// the single P: the harness's own scheduling delay would add to the
// latencies it measures. SizeProcs starts the process on one P and moves
// GOMAXPROCS with the process's CPU use and scheduler latency, between 1
// and a ceiling.

// The sizing rule's thresholds. procsUp, procsBusy and procsDown are
// shares of the current GOMAXPROCS: one P more when the process used more
// than procsUp of its P's over the last interval, or when the p99 time
// runnable goroutines waited for a P passed procsSchedUp in each of the
// last two intervals (one busy second, a burst of starts, is not a queue)
// while the process used more than procsBusy of its P's; one fewer when
// what it used would fill less than procsDown of one P fewer.
//
// The wait counts only above procsBusy because it is the scheduler's wait
// for a running thread, not only for a P: on a machine whose cores other
// processes keep busy the operating system leaves the process's one
// thread waiting too, and a P that is mostly idle is no queue. There a
// second P costs 15–25 % more CPU per command and does not bring the wait
// down (docs/performance.md, "The round trip's own cost"). procsBusy
// equals procsDown, so a P added for a wait is given back only when the
// wait would not count with one P fewer either.
const (
	procsUp      = 0.5
	procsBusy    = 0.25
	procsDown    = procsBusy
	procsSchedUp = time.Millisecond
)

// procsInterval is how often SizeProcs looks at the process; procsHold is
// how many intervals it keeps a P it added before it may take one away, so
// that a load the extra P made comfortable does not flip it every second.
const (
	procsInterval = time.Second
	procsHold     = 15
)

// Load is what the process did over one sizing interval.
type Load struct {
	// Used is the cores the process kept busy: CPU seconds per wall
	// second.
	Used float64
	// SchedP99 is the p99 time runnable goroutines waited for a P.
	SchedP99 time.Duration
}

// NextProcs returns the GOMAXPROCS to use next, from cur, under the rule
// above: one more (up to max) for a busy process or one whose goroutines
// queue for its P's, one fewer (down to 1) for a quiet one, else cur.
func NextProcs(cur, max int, l Load) int {
	switch {
	case cur < max && (l.Used > procsUp*float64(cur) ||
		l.SchedP99 > procsSchedUp && l.Used > procsBusy*float64(cur)):
		return cur + 1
	case cur > 1 && l.Used < procsDown*float64(cur-1):
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
// to NextProcs of the process's CPU use over the last second and its
// scheduler latency over the last two (the lower of their p99s), never
// above Cores(max), keeping a P it added for at least procsHold seconds. When
// ctx ends it puts back the GOMAXPROCS it found and returns. Run it on a
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
	sizeProcs(ctx, Cores(max), t.C, newLoadMeter(), runtime.GOMAXPROCS)
}

// newLoadMeter returns a function that reports the process's Load since
// its previous call (the first call: since newLoadMeter).
func newLoadMeter() func() Load {
	cpu, at, sched := processCPU(), time.Now(), readSched()
	return func() Load {
		c, now, s := processCPU(), time.Now(), readSched()
		var l Load
		if wall := now.Sub(at).Seconds(); wall > 0 {
			l.Used = (c - cpu).Seconds() / wall
		}
		l.SchedP99 = histP99(sched, s)
		cpu, at, sched = c, now, s
		return l
	}
}

// sizeProcs is SizeProcs with its clock (tick), load meter and GOMAXPROCS
// setter (which returns the previous value, as runtime.GOMAXPROCS does)
// given.
func sizeProcs(ctx context.Context, ceiling int, tick <-chan time.Time, load func() Load, set func(int) int) {
	prev := set(1)
	defer set(prev)
	cur, hold := 1, 0
	var lastSched time.Duration
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		l := load()
		// The wait must have lasted two intervals.
		l.SchedP99, lastSched = min(l.SchedP99, lastSched), l.SchedP99
		next := NextProcs(cur, ceiling, l)
		if hold > 0 {
			hold--
			next = max(next, cur)
		}
		if next > cur {
			hold = procsHold
		}
		if next != cur {
			set(next)
			cur = next
		}
	}
}
