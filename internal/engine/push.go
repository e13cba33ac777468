package engine

import (
	"sync"
	"time"
)

// Push latency is how long the server takes from accepting a message to
// notifying a device that IDLEs on the INBOX (docs/report.md, "Push
// latency"). A server timer runs in wall time, which time_scale does not
// compress: Courier without a file-notification service notices new mail
// every 60 s, a simulated hour at time_scale 60. The injector notes when
// the command that handed each message to the server began (delivered:
// the DATA or APPEND, before the server stored it, so a notification sent
// before the server's reply still counts; the session's setup and login
// are no part of it), the PCs report the messages an
// IDLE notification brought (clients.Options.OnPush), and the difference,
// in wall time, is one sample.

// Bounds of the push tracker's memory.
const (
	// maxPushPending bounds the deliveries remembered for matching: the
	// latest ones, the oldest forgotten first.
	maxPushPending = 100000
	// maxPushSamples bounds the latencies kept: a uniform sample of all
	// of them (durationSample).
	maxPushSamples = 20000
)

// pushTracker pairs deliveries with IDLE notifications. Safe for
// concurrent use.
type pushTracker struct {
	mu      sync.Mutex
	pending map[pushKey]time.Time // delivery → wall time accepted
	// order holds pending's keys in the order noted: a ring of at most
	// capacity keys whose oldest is at head once it is full.
	order    []pushKey
	head     int
	capacity int
	samples  *durationSample
	// forgotten counts deliveries dropped from pending to make room: a
	// notification for one of them gives no sample. horizon is the
	// shortest time (wall) one of them was remembered.
	forgotten int
	horizon   time.Duration
}

// pushKey is one message delivered to one user.
type pushKey struct{ user, id string }

func newPushTracker() *pushTracker {
	return newPushTrackerSized(maxPushPending, maxPushSamples)
}

// newPushTrackerSized is newPushTracker with its bounds: pending
// deliveries remembered and samples kept.
func newPushTrackerSized(pending, samples int) *pushTracker {
	return &pushTracker{pending: make(map[pushKey]time.Time), samples: newDurationSample(samples, 5, 6),
		capacity: pending}
}

// delivered notes that message id was delivered to user by a hand-over
// (the DATA or APPEND) that began at (wall). Past maxPushPending
// deliveries the oldest is forgotten.
func (p *pushTracker) delivered(user, id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := pushKey{user, id}
	if _, ok := p.pending[k]; ok {
		return
	}
	if len(p.order) < p.capacity {
		p.order = append(p.order, k)
	} else {
		old := p.order[p.head]
		if kept := at.Sub(p.pending[old]); p.forgotten == 0 || kept < p.horizon {
			p.horizon = max(kept, 0)
		}
		delete(p.pending, old)
		p.forgotten++
		p.order[p.head] = k
		p.head = (p.head + 1) % len(p.order)
	}
	p.pending[k] = at
}

// pushed takes one sample per message of ids delivered to user: the time
// from its hand-over to the notification at (wall); never negative.
// Every device that IDLEs gives its own sample; a message no delivery was
// noted for (sent by another user over SMTP, or forgotten) gives none.
func (p *pushTracker) pushed(user string, ids []string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		if t, ok := p.pending[pushKey{user, id}]; ok {
			p.samples.add(max(at.Sub(t), 0))
		}
	}
}

// PushLatency summarises the push latencies measured in a run (wall time).
type PushLatency struct {
	// Samples counts the measurements; P50 and P95 are the quantiles of a
	// uniform sample of at most maxPushSamples of them, Max the longest
	// of all (zeros without samples).
	Samples       int
	P50, P95, Max time.Duration
	// Forgotten counts the deliveries forgotten to keep the latest
	// maxPushPending: a notification that came for one after that gave
	// no sample. Horizon is the shortest time one was remembered: a push
	// slower than that may have gone unmeasured (zero when none was
	// forgotten).
	Forgotten int
	Horizon   time.Duration
}

// result returns the summary of the samples so far.
func (p *pushTracker) result() PushLatency {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.samples.n == 0 {
		return PushLatency{Forgotten: p.forgotten, Horizon: p.horizon}
	}
	q := p.samples.quantiles(0.5, 0.95)
	return PushLatency{Samples: int(p.samples.n), P50: q[0], P95: q[1], Max: p.samples.max,
		Forgotten: p.forgotten, Horizon: p.horizon}
}
