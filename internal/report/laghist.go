package report

import (
	"math"
	"slices"
	"time"
)

// LagSubBuckets is the number of LagHist buckets per doubling of the lag.
const LagSubBuckets = 32

// LagHist is a mergeable histogram of convergence lags: bucket 0 holds
// lags under a millisecond, bucket i ≥ 1 lags of [2^((i-1)/32),
// 2^(i/32)) milliseconds. Each bucket is 2.2% wide, so a percentile read
// from it (the bucket's geometric midpoint) is within 1.1% of the exact
// lag. Its JSON form maps the bucket index to its count; histograms of
// shards add bucket by bucket (docs/distributed.md).
type LagHist map[int]int

// lagBucket returns the bucket of a lag.
func lagBucket(d time.Duration) int {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return 0
	}
	return 1 + int(math.Floor(LagSubBuckets*math.Log2(ms)))
}

// lagMid returns the geometric midpoint of bucket i in seconds (0 for
// bucket 0).
func lagMid(i int) float64 {
	if i <= 0 {
		return 0
	}
	return math.Exp2((float64(i)-0.5)/LagSubBuckets) / 1000
}

// Add counts one lag.
func (h LagHist) Add(d time.Duration) { h[lagBucket(d)]++ }

// Merge adds the counts of o into h.
func (h LagHist) Merge(o LagHist) {
	for i, n := range o {
		h[i] += n
	}
}

// Count returns the number of lags counted.
func (h LagHist) Count() int {
	n := 0
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile returns the q-quantile of the lags in seconds, by the rank rule
// of the audit's exact percentiles (internal/audit/final.go); false when
// the histogram is empty.
func (h LagHist) Quantile(q float64) (float64, bool) {
	n := h.Count()
	if n == 0 {
		return 0, false
	}
	rank := int(q*float64(n)+0.999999999) - 1
	rank = min(max(rank, 0), n-1)
	idx := make([]int, 0, len(h))
	for i := range h {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	seen := 0
	for _, i := range idx {
		seen += h[i]
		if seen > rank {
			return lagMid(i), true
		}
	}
	return lagMid(idx[len(idx)-1]), true
}
