package harnessmon

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Heap floor: Go's collector starts a cycle when the heap reaches its
// goal, the live heap times 1+GOGC/100 and at least 4 MiB×GOGC/100. A
// small run's live heap is a few MiB (the side-by-side population's 2–3
// MiB), so it collects every 2–3 MiB allocated, about every 1.5 s at
// full rate, and each cycle marks the whole live heap and every
// goroutine's stack however little garbage there is: about a fifth of the
// harness's user instructions (docs/performance.md, "A heap floor
// (2026-12-04)"). FloorHeap raises GOGC while the live heap is small, so
// that the goal is about a fixed floor; once twice the live heap reaches
// the floor it leaves GOGC as it found it, so a large run's memory is what
// it was.

// DefaultHeapFloor is the heap goal FloorHeap keeps a small run at when
// given none: 32 MiB.
const DefaultHeapFloor = 32 << 20

// goHeapMinimum is the Go runtime's smallest heap goal at GOGC=100
// (defaultHeapMinimum in the runtime's pacer), which it scales with GOGC.
const goHeapMinimum = 4 << 20

// heapFloorInterval is how often FloorHeap looks at the live heap (which
// changes only when a cycle ends).
const heapFloorInterval = time.Second

// liveHeapMetric is the runtime/metrics name of the heap the last GC
// cycle marked (0 before the first).
const liveHeapMetric = "/gc/heap/live:bytes"

// GCPercent returns the GOGC that puts the collector's heap goal at about
// floor bytes for a live heap of live bytes (0: not known yet), never
// below base (the GOGC the process had): (floor-live)/live×100, rounded
// up, and at most floor/4 MiB×100 (at which the runtime's minimum goal is
// floor itself). base < 0 (the GC off) is kept.
func GCPercent(base int, floor, live uint64) int {
	if base < 0 || floor == 0 {
		return base
	}
	p := floor * 100 / goHeapMinimum
	switch {
	case live >= floor:
		p = 0
	case live > 0:
		p = min(p, ((floor-live)*100+live-1)/live)
	}
	return max(base, int(min(p, 1<<30)))
}

// flooring is set while a FloorHeap runs: GOGC is the process's, so a
// second one (two runs in one process, as in tests) leaves it to the
// first.
var flooring atomic.Bool

// FloorHeap sets GOGC to GCPercent of the GOGC the process had, floor and
// the live heap, and again every second until ctx ends, when it puts back
// the GOGC it found and returns. floor 0 changes nothing. Run it on a
// goroutine of its own. While another FloorHeap runs in the process it
// changes nothing and only waits for ctx.
func FloorHeap(ctx context.Context, floor uint64) {
	if floor == 0 || !flooring.CompareAndSwap(false, true) {
		<-ctx.Done()
		return
	}
	defer flooring.Store(false)
	t := time.NewTicker(heapFloorInterval)
	defer t.Stop()
	s := []metrics.Sample{{Name: liveHeapMetric}}
	live := func() uint64 {
		metrics.Read(s)
		if s[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[0].Value.Uint64()
	}
	floorHeap(ctx, floor, t.C, live, debug.SetGCPercent)
}

// floorHeap is FloorHeap with its clock (tick), live heap reader and
// GOGC setter (which returns the previous value, as debug.SetGCPercent
// does) given.
func floorHeap(ctx context.Context, floor uint64, tick <-chan time.Time, live func() uint64, set func(int) int) {
	// The GOGC the process has: read by setting it, at once set again.
	base := set(100)
	cur := GCPercent(base, floor, live())
	set(cur)
	defer set(base)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if p := GCPercent(base, floor, live()); p != cur {
			set(p)
			cur = p
		}
	}
}
