package metrics

import (
	"math"
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
	dropped atomic.Uint64 // commands the simulated network dropped (not in errors)
	// errorsBy splits errors by outcome index (labels.go): only a failed
	// command touches it.
	errorsBy [numOutcomes]atomic.Uint64
	sumNano  atomic.Uint64
	maxNano  atomic.Uint64
	buckets  [logHistBuckets]atomic.Uint64
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

// observe records one command of duration d that ended with outcome o
// (an index of labels.go): every outcome but ok and dropped counts as an
// error, dropped apart.
func (h *logHist) observe(d time.Duration, o int) {
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
	switch o {
	case outOK:
	case outDropped:
		h.dropped.Add(1)
	default:
		h.errors.Add(1)
		h.errorsBy[o].Add(1)
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
		Count:   h.count.Load(),
		Errors:  h.errors.Load(),
		Dropped: h.dropped.Load(),
		Sum:     float64(h.sumNano.Load()) / 1e9,
		Max:     float64(h.maxNano.Load()) / 1e9,
	}
	for o := range h.errorsBy {
		if n := h.errorsBy[o].Load(); n > 0 {
			if s.ErrorsBy == nil {
				s.ErrorsBy = make(map[string]uint64)
			}
			s.ErrorsBy[outcomeNames[o]] = n
		}
	}
	if total == 0 {
		return s
	}
	s.Buckets = make(map[int]uint64)
	for i, n := range counts {
		if n > 0 {
			s.Buckets[i] = n
		}
	}
	s.P50, s.P95, s.P99 = latencyQuantiles(counts[:], total, s.Max)
	return s
}

// latencyQuantiles returns the 0.50, 0.95 and 0.99 quantiles in seconds of
// total latencies counted per logHist bucket, none above max (seconds; 0:
// unknown).
func latencyQuantiles(counts []uint64, total uint64, max float64) (p50, p95, p99 float64) {
	qs := [3]float64{0.50, 0.95, 0.99}
	var out [3]float64
	var cum uint64
	q := 0
	for i := 0; i < len(counts) && q < len(qs); i++ {
		cum += counts[i]
		for q < len(qs) && float64(cum) >= qs[q]*float64(total) && cum > 0 {
			out[q] = logHistMid(i) / 1e9
			q++
		}
	}
	if max > 0 {
		// A bucket's midpoint can exceed the largest value seen.
		out = [3]float64{min(out[0], max), min(out[1], max), min(out[2], max)}
	}
	return out[0], out[1], out[2]
}

// LatencyQuantiles returns the p50, p95 and p99 latencies in seconds of
// the per-bucket counts of CommandStats.Buckets, none above max (seconds;
// 0: unknown) — what one process that had counted them all would report:
// the counts of several processes add bucket by bucket (mailsim report
// merge). ok is false when the buckets are empty or not ones of this
// histogram.
func LatencyQuantiles(buckets map[int]uint64, max float64) (p50, p95, p99 float64, ok bool) {
	counts := make([]uint64, logHistBuckets)
	var total uint64
	for i, n := range buckets {
		if i < 0 || i >= logHistBuckets {
			return 0, 0, 0, false
		}
		counts[i] += n
		total += n
	}
	if total == 0 {
		return 0, 0, 0, false
	}
	p50, p95, p99 = latencyQuantiles(counts, total, max)
	return p50, p95, p99, true
}

// CommandStats summarises the commands of one protocol and command name.
type CommandStats struct {
	// Count is the number of commands.
	Count uint64
	// Errors is the number of commands that failed (no, bad, error,
	// timeout...): every outcome but "ok" and "dropped".
	Errors uint64
	// ErrorsBy splits Errors by outcome (no, bad, error, refused,
	// timeout, tls, auth: docs/report.md, Outcomes); nil when none
	// failed. A snapshot taken while commands end may show an outcome's
	// count a command ahead of Errors or behind it.
	ErrorsBy map[string]uint64
	// Dropped is the number of commands the simulated network dropped
	// (outcome "dropped", a profile's disconnect_every): failed, but not
	// by the server, and not in Errors.
	Dropped uint64
	// P50, P95 and P99 are latency percentiles in seconds, within about 2%
	// of the exact values.
	P50, P95, P99 float64
	// Sum is the total latency in seconds (Sum/Count is the mean).
	Sum float64
	// Max is the largest latency in seconds.
	Max float64
	// Buckets counts the latencies per bucket of the log-linear
	// histogram behind the percentiles (bucket index → count, empty
	// buckets left out), so that the figures of several processes merge
	// exactly (LatencyQuantiles); nil without commands.
	Buckets map[int]uint64
}

// Since returns the commands s counted after earlier, an earlier snapshot
// of the same histogram (Client.Stats): counts, errors, drops and latency sums
// subtract, buckets subtract bucket by bucket, and the percentiles are
// those of the window's own buckets (mailsim capacity measures each step
// over its window this way). The window's largest latency is not known:
// Max is NaN.
func (s CommandStats) Since(earlier CommandStats) CommandStats {
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	out := CommandStats{Count: sub(s.Count, earlier.Count), Errors: sub(s.Errors, earlier.Errors),
		Dropped: sub(s.Dropped, earlier.Dropped), Sum: max(0, s.Sum-earlier.Sum), Max: math.NaN()}
	for o, n := range s.ErrorsBy {
		if d := sub(n, earlier.ErrorsBy[o]); d > 0 {
			if out.ErrorsBy == nil {
				out.ErrorsBy = make(map[string]uint64)
			}
			out.ErrorsBy[o] = d
		}
	}
	for i, n := range s.Buckets {
		if d := sub(n, earlier.Buckets[i]); d > 0 {
			if out.Buckets == nil {
				out.Buckets = make(map[int]uint64)
			}
			out.Buckets[i] = d
		}
	}
	out.P50, out.P95, out.P99, _ = LatencyQuantiles(out.Buckets, 0)
	return out
}

// StatsSince applies CommandStats.Since to every command of now, two
// snapshots of Client.Stats (protocol → command); a command absent from
// earlier counts from zero, and one without commands in the window is
// left out.
func StatsSince(now, earlier map[string]map[string]CommandStats) map[string]map[string]CommandStats {
	out := map[string]map[string]CommandStats{}
	for proto, cmds := range now {
		for name, s := range cmds {
			d := s.Since(earlier[proto][name])
			if d.Count == 0 {
				continue
			}
			if out[proto] == nil {
				out[proto] = map[string]CommandStats{}
			}
			out[proto][name] = d
		}
	}
	return out
}
