package metrics

import (
	"math"
	"math/rand/v2"
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
				h.observe(d, i%10 == 0)
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
	if s := h.stats(); s != (CommandStats{}) {
		t.Errorf("stats of empty histogram = %+v, want zero", s)
	}
}
