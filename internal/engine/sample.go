package engine

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
)

// durationSample is a bounded uniform sample of durations (reservoir
// sampling, seeded: the same durations give the same sample), with the
// count and the maximum of all of them. The zero value is not usable:
// see newDurationSample. Not safe for concurrent use.
type durationSample struct {
	kept []time.Duration
	n    int64
	max  time.Duration
	cap  int
	rand *rand.PCG
}

// newDurationSample returns a sample of at most capacity durations whose
// replacements are drawn from a PCG seeded with seed1, seed2.
func newDurationSample(capacity int, seed1, seed2 uint64) *durationSample {
	return &durationSample{cap: capacity, rand: rand.NewPCG(seed1, seed2)}
}

// add counts d and keeps it in the sample with the probability that keeps
// the sample uniform.
func (s *durationSample) add(d time.Duration) {
	s.n++
	s.max = max(s.max, d)
	if len(s.kept) < s.cap {
		s.kept = append(s.kept, d)
	} else if i := s.rand.Uint64() % uint64(s.n); i < uint64(s.cap) {
		s.kept[i] = d
	}
}

// quantiles returns the qs-quantiles (0..1) of the sample by the nearest
// rank, as the convergence lags' (audit.KindResult.Quantile); zeros
// without durations.
func (s *durationSample) quantiles(qs ...float64) []time.Duration {
	out := make([]time.Duration, len(qs))
	if len(s.kept) == 0 {
		return out
	}
	sorted := slices.Clone(s.kept)
	slices.Sort(sorted)
	for i, q := range qs {
		out[i], _ = audit.KindResult{Lags: sorted}.Quantile(q)
	}
	return out
}
