package mailserver

import (
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errLimitClosed is returned by limiter.wait when the connection or the
// server closes before the command's token comes. It wraps net.ErrClosed,
// so the protocol libraries end the session quietly.
var errLimitClosed = fmt.Errorf("mailserver: closed while waiting for a command token: %w", net.ErrClosed)

// LimiterStats are the counters of the server's command rate limit
// (Options.MaxCommandsPerSecond). All are zero when there is no limit.
type LimiterStats struct {
	// Granted is the number of commands let through, at once or after
	// waiting.
	Granted int64
	// Waited is how many of them had to wait for their token.
	Waited int64
	// Cancelled is the number of commands whose wait ended because their
	// connection or the server closed; they were never served.
	Cancelled int64
	// WaitTime is the total time the Waited commands waited.
	WaitTime time.Duration
}

// limiter is the token bucket of Options.MaxCommandsPerSecond, shared by
// every connection of every protocol. A command reserves the next token
// and sleeps until it is due, so the reservations form a first-come
// first-served queue: past the rate, a command's wait grows with the
// number of commands ahead of it, as on an overloaded server. The queue
// holds at most one reservation per connection (a connection's reader waits
// for its command's token before it reads on), so it is bounded by the
// connections. A nil *limiter lets everything through.
type limiter struct {
	rate  float64 // tokens per second
	burst float64 // bucket size
	now   func() time.Time

	mu     sync.Mutex
	tokens float64 // below zero: that many tokens are reserved ahead
	last   time.Time

	granted, waited, cancelled, waitNanos atomic.Int64
}

// newLimiter returns a bucket of rate tokens a second holding one second's
// worth (at least one token), full at the start, or nil when rate is not
// positive. now is the clock; nil means time.Now.
func newLimiter(rate float64, now func() time.Time) *limiter {
	if !(rate > 0) || math.IsInf(rate, 1) {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	burst := math.Max(1, math.Floor(rate))
	return &limiter{rate: rate, burst: burst, now: now, tokens: burst, last: now()}
}

// reserve takes one token at time t and returns how long the caller must
// wait until it is due (0: at once).
func (l *limiter) reserve(t time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.last) {
		l.tokens = math.Min(l.burst, l.tokens+t.Sub(l.last).Seconds()*l.rate)
		l.last = t
	}
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(math.Min(math.Ceil(-l.tokens/l.rate*float64(time.Second)), maxWait))
}

// maxWait caps one computed wait (a tiny rate would overflow a Duration);
// closing the connection or the server ends any wait sooner.
const maxWait = float64(24 * time.Hour)

// unreserve gives back a token reserved by a caller that stopped waiting.
func (l *limiter) unreserve() {
	l.mu.Lock()
	l.tokens = math.Min(l.burst, l.tokens+1)
	l.mu.Unlock()
}

// wait returns when the caller's command may run: at once while the bucket
// has tokens, else when its reserved token is due. It returns
// errLimitClosed as soon as stop or closed is closed (either may be nil),
// giving the token back.
func (l *limiter) wait(stop, closed <-chan struct{}) error {
	if l == nil {
		return nil
	}
	d := l.reserve(l.now())
	if d <= 0 {
		l.granted.Add(1)
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		l.granted.Add(1)
		l.waited.Add(1)
		l.waitNanos.Add(int64(d))
		return nil
	case <-stop:
	case <-closed:
	}
	l.unreserve()
	l.cancelled.Add(1)
	return errLimitClosed
}

// stats returns the counters so far.
func (l *limiter) stats() LimiterStats {
	if l == nil {
		return LimiterStats{}
	}
	return LimiterStats{
		Granted:   l.granted.Load(),
		Waited:    l.waited.Load(),
		Cancelled: l.cancelled.Load(),
		WaitTime:  time.Duration(l.waitNanos.Load()),
	}
}
