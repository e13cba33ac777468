package metrics

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestLogHistIndexMonotonicAndMidInBucket(t *testing.T) {
	prev := -1
	for _, ns := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456, 1e9, 1e11, 1<<40 - 1} {
		i := logHistIndex(ns)
		if i < prev {
			t.Fatalf("index(%d) = %d < previous %d", ns, i, prev)
		}
		prev = i
		if i >= logHistBuckets {
			t.Fatalf("index(%d) = %d out of range", ns, i)
		}
		mid := logHistMid(i)
		if ns > 0 && math.Abs(mid-float64(ns))/float64(ns) > 1.0/64+1e-9 {
			t.Errorf("mid of bucket of %d = %v: relative error above 1/64", ns, mid)
		}
	}
	if got := logHistIndex(1 << 50); got != logHistBuckets-1 {
		t.Errorf("index(2^50) = %d, want last bucket %d", got, logHistBuckets-1)
	}
}

func TestLogHistPercentiles(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform 1-100ms", func(r *rand.Rand) time.Duration {
			return time.Millisecond + time.Duration(r.Int64N(int64(99*time.Millisecond)))
		}},
		{"lognormal around 2ms", func(r *rand.Rand) time.Duration {
			return time.Duration(2e6 * math.Exp(r.NormFloat64()))
		}},
		{"bimodal 200us and 3s", func(r *rand.Rand) time.Duration {
			if r.IntN(10) == 0 {
				return 3*time.Second + time.Duration(r.Int64N(int64(time.Second)))
			}
			return 200*time.Microsecond + time.Duration(r.Int64N(int64(50*time.Microsecond)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h logHist
			var vals []float64
			for i := 0; i < 20000; i++ {
				d := tt.gen(r)
				h.observe(d, failedIf(i%10 == 0))
				vals = append(vals, d.Seconds())
			}
			slices.Sort(vals)
			s := h.stats()
			if s.Count != 20000 || s.Errors != 2000 {
				t.Fatalf("count %d errors %d, want 20000 and 2000", s.Count, s.Errors)
			}
			for _, c := range []struct {
				q   float64
				got float64
			}{{0.50, s.P50}, {0.95, s.P95}, {0.99, s.P99}} {
				exact := vals[int(math.Ceil(c.q*float64(len(vals))))-1]
				if rel := math.Abs(c.got-exact) / exact; rel > 0.02 {
					t.Errorf("p%v = %v, exact %v: relative error %.3f > 2%%", c.q*100, c.got, exact, rel)
				}
			}
			if want := vals[len(vals)-1]; math.Abs(s.Max-want) > 1e-9 {
				t.Errorf("max = %v, want %v", s.Max, want)
			}
		})
	}
}

func TestLogHistEmpty(t *testing.T) {
	var h logHist
	if s := h.stats(); !reflect.DeepEqual(s, CommandStats{}) {
		t.Errorf("stats of empty histogram = %+v, want zero", s)
	}
}

// TestLatencyQuantilesMerge: the bucket counts of histograms that each saw
// part of the latencies, added, give the percentiles of one histogram that
// saw them all — what "mailsim report merge" relies on.
func TestLatencyQuantilesMerge(t *testing.T) {
	var whole logHist
	parts := make([]logHist, 3)
	for i := range 3000 {
		d := time.Duration(1+(i*7919)%100000) * time.Microsecond * time.Duration(1+i%3)
		whole.observe(d, outOK)
		parts[i%3].observe(d, outOK)
	}
	sum := map[int]uint64{}
	var max float64
	for i := range parts {
		s := parts[i].stats()
		for b, n := range s.Buckets {
			sum[b] += n
		}
		max = math.Max(max, s.Max)
	}
	w := whole.stats()
	p50, p95, p99, ok := LatencyQuantiles(sum, max)
	if !ok || p50 != w.P50 || p95 != w.P95 || p99 != w.P99 {
		t.Errorf("merged %v %v %v (ok %v), one histogram %v %v %v", p50, p95, p99, ok, w.P50, w.P95, w.P99)
	}
	if p := parts[2].stats(); p.P50 == w.P50 {
		t.Fatal("test setup: a part has the whole's median, the merge is not exercised")
	}
	for _, bad := range []map[int]uint64{nil, {}, {-1: 3}, {logHistBuckets: 1}} {
		if _, _, _, ok := LatencyQuantiles(bad, 0); ok {
			t.Errorf("LatencyQuantiles(%v) ok", bad)
		}
	}
}

// TestStatsSinceIsTheWindow: the commands counted after a snapshot have
// the figures of a histogram that saw only them: a fast first window and a
// slow second one give the second's percentiles, not a mix.
func TestStatsSinceIsTheWindow(t *testing.T) {
	var h, window logHist
	for i := range 1000 {
		h.observe(time.Duration(1+i%50)*time.Millisecond, failedIf(i%100 == 0))
	}
	before := map[string]map[string]CommandStats{"imap": {"SELECT": h.stats()}}
	for i := range 500 {
		d := time.Duration(200+i%300) * time.Millisecond
		h.observe(d, failedIf(i%10 == 0))
		window.observe(d, failedIf(i%10 == 0))
	}
	now := map[string]map[string]CommandStats{"imap": {"SELECT": h.stats(), "NOOP": {Count: 3}}, "pop3": {"STAT": {Count: 2}}}
	before["pop3"] = map[string]CommandStats{"STAT": {Count: 2}}
	got := StatsSince(now, before)
	w := window.stats()
	d := got["imap"]["SELECT"]
	if d.Count != 500 || d.Errors != 50 || d.ErrorsBy["timeout"] != 50 || len(d.ErrorsBy) != 1 || d.P50 != w.P50 || d.P95 != w.P95 || d.P99 != w.P99 || !reflect.DeepEqual(d.Buckets, w.Buckets) {
		t.Errorf("window %+v, want %+v", d, w)
	}
	if math.Abs(d.Sum-w.Sum) > 1e-6 || !math.IsNaN(d.Max) {
		t.Errorf("window sum %v max %v, want %v and NaN (unknown)", d.Sum, d.Max, w.Sum)
	}
	if n := got["imap"]["NOOP"]; n.Count != 3 || n.Buckets != nil {
		t.Errorf("a command new in the window: %+v, want its 3 commands and no latency", n)
	}
	if _, ok := got["pop3"]; ok {
		t.Errorf("a protocol without commands in the window is present: %+v", got["pop3"])
	}
}

// failedIf returns the outcome of a command that failed (a timeout) when
// failed, else ok.
func failedIf(failed bool) int {
	if failed {
		return outTimeout
	}
	return outOK
}
