package engine

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
)

// Sync rounds are the scheduled syncs of the devices' loops — a webmail's
// page load, a phone's poll of its folders, a PC's folder checks, a POP3
// poll (clients.Options.OnSyncRound) — and their wall time, by device
// profile. A round's commands, login and network take wall time, which
// time_scale does not compress: at time_scale 240 a round of 10 s costs
// the device 40 simulated minutes before it can sync again, and the
// report weighs that against the convergence thresholds (docs/report.md,
// "Sync rounds and time compression").

// maxRoundSamples bounds the round times kept per device profile.
const maxRoundSamples = 20000

// roundTracker collects the wall time of the devices' sync rounds by
// device profile. Safe for concurrent use.
type roundTracker struct {
	mu       sync.Mutex
	byProf   map[string]*roundSamples
	capacity int
	// rand picks the rounds kept past capacity (reservoir sampling,
	// seeded: the same rounds give the same sample); under mu.
	rand *rand.PCG
}

// roundSamples are one profile's round times: a uniform sample of at most
// capacity of them, over the whole run, every one counted.
type roundSamples struct {
	kept  []time.Duration
	count int
	max   time.Duration
}

func newRoundTracker() *roundTracker {
	return &roundTracker{byProf: make(map[string]*roundSamples), capacity: maxRoundSamples, rand: rand.NewPCG(3, 4)}
}

// round records one sync round of a device of profile that took wall.
func (t *roundTracker) round(profile string, wall time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.byProf[profile]
	if s == nil {
		s = &roundSamples{}
		t.byProf[profile] = s
	}
	s.count++
	s.max = max(s.max, wall)
	if len(s.kept) < t.capacity {
		s.kept = append(s.kept, wall)
	} else if i := t.rand.Uint64() % uint64(s.count); i < uint64(t.capacity) {
		s.kept[i] = wall
	}
}

// SyncRounds summarises one device profile's sync rounds (wall time).
type SyncRounds struct {
	// Rounds counts the rounds; P50 and P99 are the quantiles of a
	// uniform sample of at most maxRoundSamples of them, Max the longest
	// of all.
	Rounds        int
	P50, P99, Max time.Duration
}

// result returns the summary of each profile's rounds so far.
func (t *roundTracker) result() map[string]SyncRounds {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byProf) == 0 {
		return nil
	}
	out := make(map[string]SyncRounds, len(t.byProf))
	for p, s := range t.byProf {
		kept := slices.Clone(s.kept)
		slices.Sort(kept)
		// Nearest rank, as the convergence lags' (audit.KindResult).
		q := audit.KindResult{Lags: kept}.Quantile
		p50, _ := q(0.5)
		p99, _ := q(0.99)
		out[p] = SyncRounds{Rounds: s.count, P50: p50, P99: p99, Max: s.max}
	}
	return out
}
