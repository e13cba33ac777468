package report

import (
	"sync"
	"time"
)

// Sample is the state of the run at one moment.
type Sample struct {
	// At is the wall time since the start; Sim the simulated time.
	At, Sim time.Duration
	// DivergenceByGroup is the live divergence ratio per group.
	DivergenceByGroup map[string]float64
	// CommandsPerSec (wall) and P99ByProtocol (seconds) by protocol.
	CommandsPerSec map[string]float64
	P99ByProtocol  map[string]float64
	// StoredMessages and StoredBytes are the server's store; NoStorage
	// says it was not read (a real server).
	StoredMessages int
	StoredBytes    int64
	NoStorage      bool
	Connections    int
}

// SampleJSON is a Sample in the JSON report.
type SampleJSON struct {
	WallSeconds       float64            `json:"wall_seconds"`
	SimulatedSeconds  float64            `json:"simulated_seconds"`
	DivergenceByGroup map[string]float64 `json:"divergence_by_group"`
	CommandsPerSecond map[string]float64 `json:"commands_per_second"`
	P99ByProtocol     map[string]float64 `json:"p99_seconds"`
	// StoredMessages and StoredBytes are absent when the server's store
	// was not read (a real server).
	StoredMessages *int   `json:"stored_messages,omitempty"`
	StoredBytes    *int64 `json:"stored_bytes,omitempty"`
	Connections    int    `json:"connections"`
}

// DefaultMaxSamples bounds a Timeline whose Max is 0.
const DefaultMaxSamples = 2000

// Timeline collects samples during a run. It is safe for concurrent use
// and bounded: past Max samples (default DefaultMaxSamples) it keeps every
// other sample and from then on takes only every second one offered (and so
// on, doubling), so it always spans the whole run.
type Timeline struct {
	// Max is the most samples kept; 0 means DefaultMaxSamples.
	Max int

	mu      sync.Mutex
	samples []Sample
	stride  int
	offered int
}

// Add records a sample.
func (t *Timeline) Add(s Sample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stride == 0 {
		t.stride = 1
	}
	t.offered++
	if (t.offered-1)%t.stride != 0 {
		return
	}
	t.samples = append(t.samples, s)
	max := t.Max
	if max <= 0 {
		max = DefaultMaxSamples
	}
	if len(t.samples) > max && max > 1 {
		kept := t.samples[:0]
		for i, x := range t.samples {
			if i%2 == 0 {
				kept = append(kept, x)
			}
		}
		clear(t.samples[len(kept):])
		t.samples = kept
		t.stride *= 2
	}
}

// Len returns the number of samples kept.
func (t *Timeline) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.samples)
}

func (t *Timeline) jsonSamples() []SampleJSON {
	out := []SampleJSON{}
	if t == nil {
		return out
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.samples {
		j := SampleJSON{
			WallSeconds: s.At.Seconds(), SimulatedSeconds: s.Sim.Seconds(),
			DivergenceByGroup: s.DivergenceByGroup, CommandsPerSecond: s.CommandsPerSec, P99ByProtocol: s.P99ByProtocol,
			Connections: s.Connections,
		}
		if !s.NoStorage {
			j.StoredMessages, j.StoredBytes = &s.StoredMessages, &s.StoredBytes
		}
		out = append(out, j)
	}
	return out
}
