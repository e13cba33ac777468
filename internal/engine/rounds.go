package engine

import (
	"sync"
	"time"
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
	byProf   map[string]*durationSample
	failed   map[string]int
	capacity int
}

func newRoundTracker() *roundTracker {
	return &roundTracker{byProf: make(map[string]*durationSample), failed: make(map[string]int), capacity: maxRoundSamples}
}

// round records one sync round of a device of profile that took wall. A
// round that failed is only counted: its time is a failure's (a refused
// connection in no time, a timeout's wait), no sync's, and the failure
// itself counts in the commands' outcomes.
func (t *roundTracker) round(profile string, wall time.Duration, failed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if failed {
		t.failed[profile]++
		return
	}
	s := t.byProf[profile]
	if s == nil {
		s = newDurationSample(t.capacity, 3, 4)
		t.byProf[profile] = s
	}
	s.add(wall)
}

// SyncRounds summarises one device profile's sync rounds (wall time).
type SyncRounds struct {
	// Rounds counts the rounds that completed; P50 and P99 are the
	// quantiles of a uniform sample of at most maxRoundSamples of them,
	// Max the longest of all. Failed counts the rounds that failed, left
	// out of the rest.
	Rounds        int
	Failed        int
	P50, P99, Max time.Duration
}

// result returns the summary of each profile's rounds so far.
func (t *roundTracker) result() map[string]SyncRounds {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byProf) == 0 && len(t.failed) == 0 {
		return nil
	}
	out := make(map[string]SyncRounds, len(t.byProf))
	for p, s := range t.byProf {
		q := s.quantiles(0.5, 0.99)
		out[p] = SyncRounds{Rounds: int(s.n), P50: q[0], P99: q[1], Max: s.max}
	}
	for p, n := range t.failed {
		r := out[p]
		r.Failed = n
		out[p] = r
	}
	return out
}
