package clients

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/backoff"
	"github.com/mailsim/mailsim/internal/simclock"
)

// The retry policy of every device, IMAP and POP3 alike, after a failed
// sync (a poll, an IDLE round, a page load): the wait after the n-th
// failure in a row is retryBase·2^(n-1) of simulated time, at most
// retryMax and at most the device's own sync interval (poll interval,
// webmail refresh), jittered into [50%, 100%] from the device's seeded
// random source, and at least minWallWait of wall time
// (docs/architecture.md, "Device strategies and retries").
const (
	retryBase   = 15 * time.Second
	retryMax    = 10 * time.Minute
	retryJitter = 0.5
	// minWallWait is the shortest wall-clock wait of a device loop
	// (retries and polls alike), so that a large time scale cannot make
	// a device spin.
	minWallWait = 100 * time.Millisecond
)

// retryOptions is the device retry policy for a device whose normal sync
// interval is every (0: none).
func retryOptions(every time.Duration) backoff.Options {
	o := backoff.Options{Base: retryBase, Max: retryMax, Jitter: retryJitter}
	if every > 0 {
		o.Max = min(o.Max, every)
	}
	return o
}

// lockedRand is a device's seeded random source shared with other users
// of the same lock.
type lockedRand struct {
	mu *sync.Mutex
	r  *rand.Rand
}

// Float64 implements backoff.Rand.
func (l lockedRand) Float64() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.r.Float64()
}

// retrier backs one device loop off after failures in a row.
type retrier struct {
	clock    *simclock.Clock
	opts     backoff.Options
	rng      backoff.Rand
	failures int
}

// failed counts a failure and waits the backoff before the next try; it
// returns ctx.Err() if ctx ends first.
func (r *retrier) failed(ctx context.Context) error {
	return sleepSim(ctx, r.clock, r.next())
}

// next counts a failure and returns the backoff (simulated) before the
// next try, for a loop that waits by itself (imapSlot.sleep).
func (r *retrier) next() time.Duration {
	wait := r.opts.Delay(r.failures, r.rng)
	r.failures++
	return wait
}

// ok ends a run of failures.
func (r *retrier) ok() { r.failures = 0 }

// syncRound reports the wall time of a sync round that began at start
// (wall) and ended with err to o.OnSyncRound, unless ctx ended: a round
// the run's end cut short says nothing of its length.
func syncRound(ctx context.Context, o *Options, start time.Time, err error) {
	if o.OnSyncRound != nil && ctx.Err() == nil {
		o.OnSyncRound(time.Since(start), err != nil)
	}
}

// sleepSim waits sim simulated time on clock, at least minWallWait of wall
// time; it returns ctx.Err() if ctx ends first.
func sleepSim(ctx context.Context, clock *simclock.Clock, sim time.Duration) error {
	return backoff.Sleep(ctx, max(clock.Wall(sim), minWallWait))
}
