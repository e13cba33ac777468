package engine

import (
	"slices"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
)

// Push latency is how long the server takes from accepting a message to
// notifying a device that IDLEs on the INBOX (docs/report.md, "Push
// latency"). A server timer runs in wall time, which time_scale does not
// compress: Courier without a file-notification service notices new mail
// every 60 s, a simulated hour at time_scale 60. The injector notes when
// the try that delivered each message began (delivered; an upper bound by
// the session's setup, milliseconds on loopback, so a notification sent
// before the server's reply still counts), the PCs report the messages an
// IDLE notification brought (clients.Options.OnPush), and the difference,
// in wall time, is one sample.

// Bounds of the push tracker's memory.
const (
	// maxPushPending bounds the deliveries remembered for matching.
	maxPushPending = 100000
	// maxPushSamples bounds the latencies kept.
	maxPushSamples = 20000
)

// pushTracker pairs deliveries with IDLE notifications. Safe for
// concurrent use.
type pushTracker struct {
	mu      sync.Mutex
	pending map[pushKey]time.Time // delivery → wall time accepted
	samples []time.Duration
	// dropped counts deliveries not remembered (pending full) and samples
	// not kept (samples full).
	dropped int
}

// pushKey is one message delivered to one user.
type pushKey struct{ user, id string }

func newPushTracker() *pushTracker {
	return &pushTracker{pending: make(map[pushKey]time.Time)}
}

// delivered notes that message id was delivered to user by a try that
// began at (wall).
func (p *pushTracker) delivered(user, id string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pending) >= maxPushPending {
		p.dropped++
		return
	}
	if _, ok := p.pending[pushKey{user, id}]; !ok {
		p.pending[pushKey{user, id}] = at
	}
}

// pushed takes one sample per message of ids delivered to user: the time
// from its delivery try to the notification at (wall); never negative.
// Every device that
// IDLEs gives its own sample; a message no delivery was noted for (sent by
// another user over SMTP, or beyond maxPushPending) gives none.
func (p *pushTracker) pushed(user string, ids []string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		t, ok := p.pending[pushKey{user, id}]
		if !ok {
			continue
		}
		if len(p.samples) >= maxPushSamples {
			p.dropped++
			continue
		}
		p.samples = append(p.samples, max(at.Sub(t), 0))
	}
}

// PushLatency summarises the push latencies measured in a run (wall time).
type PushLatency struct {
	// Samples counts the measurements; P50, P95 and Max are their
	// quantiles (zero without samples).
	Samples       int
	P50, P95, Max time.Duration
}

// result returns the summary of the samples so far.
func (p *pushTracker) result() PushLatency {
	p.mu.Lock()
	s := slices.Clone(p.samples)
	p.mu.Unlock()
	if len(s) == 0 {
		return PushLatency{}
	}
	slices.Sort(s)
	q := func(f float64) time.Duration {
		d, _ := audit.KindResult{Lags: s}.Quantile(f)
		return d
	}
	return PushLatency{Samples: len(s), P50: q(0.5), P95: q(0.95), Max: s[len(s)-1]}
}
