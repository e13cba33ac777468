package metrics

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// logHist is a lock-free latency histogram with log-linear buckets, in the
// manner of HDR histograms: durations in nanoseconds below 64 have a bucket
// each, and every power of two above is split into 32 linear sub-buckets.
// A bucket's midpoint is within 1/64 (≈1.6%) of every value in it, which
// bounds the relative error of the percentiles it reports. Durations above
// 2^40 ns (≈18 minutes) are clamped into the last bucket.
type logHist struct {
	count   atomic.Uint64
	errors  atomic.Uint64
	sumNano atomic.Uint64
	maxNano atomic.Uint64
	buckets [logHistBuckets]atomic.Uint64
}

const (
	logHistSubBits = 5
	logHistSub     = 1 << logHistSubBits // sub-buckets per power of two
	logHistLinear  = 2 * logHistSub      // values below this have a bucket each
	logHistMaxBits = 40
	logHistBuckets = logHistLinear + (logHistMaxBits-logHistSubBits-1)*logHistSub
)

// logHistIndex returns the bucket of a duration of ns nanoseconds.
func logHistIndex(ns uint64) int {
	if ns < logHistLinear {
		return int(ns)
	}
	if ns >= 1<<logHistMaxBits {
		return logHistBuckets - 1
	}
	shift := bits.Len64(ns) - logHistSubBits - 1 // ≥ 1
	top := ns >> uint(shift)                     // in [logHistSub, 2*logHistSub)
	return logHistLinear + (shift-1)*logHistSub + int(top-logHistSub)
}

// logHistMid returns the midpoint, in nanoseconds, of bucket i.
func logHistMid(i int) float64 {
	if i < logHistLinear {
		return float64(i)
	}
	shift := (i-logHistLinear)/logHistSub + 1
	top := uint64((i-logHistLinear)%logHistSub + logHistSub)
	lo := top << uint(shift)
	hi := (top + 1) << uint(shift)
	return (float64(lo) + float64(hi-1)) / 2
}

// observe records one command of duration d; failed counts it as an error.
func (h *logHist) observe(d time.Duration, failed bool) {
	ns := uint64(0)
	if d > 0 {
		ns = uint64(d)
	}
	h.buckets[logHistIndex(ns)].Add(1)
	h.sumNano.Add(ns)
	for {
		m := h.maxNano.Load()
		if ns <= m || h.maxNano.CompareAndSwap(m, ns) {
			break
		}
	}
	if failed {
		h.errors.Add(1)
	}
	h.count.Add(1)
}

// stats summarises the histogram. Concurrent observations may or may not be
// included; the result is always internally consistent for percentiles.
func (h *logHist) stats() CommandStats {
	var counts [logHistBuckets]uint64
	var total uint64
	for i := range h.buckets {
		counts[i] = h.buckets[i].Load()
		total += counts[i]
	}
	s := CommandStats{
		Count:  h.count.Load(),
		Errors: h.errors.Load(),
		Sum:    float64(h.sumNano.Load()) / 1e9,
		Max:    float64(h.maxNano.Load()) / 1e9,
	}
	if total == 0 {
		return s
	}
	qs := [3]float64{0.50, 0.95, 0.99}
	var out [3]float64
	var cum uint64
	q := 0
	for i := 0; i < logHistBuckets && q < len(qs); i++ {
		cum += counts[i]
		for q < len(qs) && float64(cum) >= qs[q]*float64(total) && cum > 0 {
			out[q] = logHistMid(i) / 1e9
			q++
		}
	}
	s.P50, s.P95, s.P99 = out[0], out[1], out[2]
	if s.Max > 0 {
		// A bucket's midpoint can exceed the largest value seen.
		s.P50, s.P95, s.P99 = min(s.P50, s.Max), min(s.P95, s.Max), min(s.P99, s.Max)
	}
	return s
}

// CommandStats summarises the commands of one protocol and command name.
type CommandStats struct {
	// Count is the number of commands.
	Count uint64
	// Errors is the number of commands whose outcome was not "ok" (no, bad
	// or error).
	Errors uint64
	// P50, P95 and P99 are latency percentiles in seconds, within about 2%
	// of the exact values.
	P50, P95, P99 float64
	// Sum is the total latency in seconds (Sum/Count is the mean).
	Sum float64
	// Max is the largest latency in seconds.
	Max float64
}
