// Package backoff is the one retry/backoff policy of mailsim: the devices
// (clients) back off with it after a failed sync, the engine's injector,
// preflight and server-state reader between their bounded tries.
//
// The wait before retry n (0 for the first retry) is Base·2^n, at most Max,
// multiplied by a jitter factor drawn uniformly from [1-Jitter, 1] from the
// caller's seeded random source, so that the same seed gives the same waits
// (docs/architecture.md, "Device strategies and retries").
package backoff

import (
	"context"
	"fmt"
	"time"
)

// Defaults of Options when a field is left zero.
const (
	// DefaultBase is the wait before the first retry.
	DefaultBase = time.Second
	// DefaultMax caps every wait.
	DefaultMax = time.Minute
	// DefaultTries is the number of tries of Retry (the first one
	// included).
	DefaultTries = 3
)

// Options is a backoff policy. The zero value is valid: every zero field
// takes its default (Jitter 0 is no jitter).
type Options struct {
	// Base is the wait before the first retry (DefaultBase when zero); it
	// doubles before each further retry.
	Base time.Duration
	// Max caps the wait (DefaultMax when zero; Base when below Base).
	Max time.Duration
	// Jitter is the fraction of each wait drawn at random: the wait is
	// multiplied by a factor uniform in [1-Jitter, 1]. 0 (no jitter) to 1.
	Jitter float64
	// Tries bounds the tries of Retry, the first one included
	// (DefaultTries when zero). Delay ignores it.
	Tries int
}

// Validate returns the problems of o (none for the zero value).
func (o Options) Validate() []error {
	var errs []error
	if o.Base < 0 {
		errs = append(errs, fmt.Errorf("backoff: base %v is negative", o.Base))
	}
	if o.Max < 0 {
		errs = append(errs, fmt.Errorf("backoff: max %v is negative", o.Max))
	}
	if o.Jitter < 0 || o.Jitter > 1 {
		errs = append(errs, fmt.Errorf("backoff: jitter %v is outside [0, 1]", o.Jitter))
	}
	if o.Tries < 0 {
		errs = append(errs, fmt.Errorf("backoff: tries %d is negative", o.Tries))
	}
	return errs
}

// Rand is the source of jitter: a *math/rand/v2.Rand satisfies it. The
// caller serialises its use.
type Rand interface {
	// Float64 returns a number in [0, 1).
	Float64() float64
}

// Delay returns the wait before retry n (0: the first retry). rng may be
// nil when o.Jitter is 0; with jitter it draws exactly one number from rng.
func (o Options) Delay(n int, rng Rand) time.Duration {
	base, limit := o.Base, o.Max
	if base <= 0 {
		base = DefaultBase
	}
	if limit <= 0 {
		limit = DefaultMax
	}
	limit = max(limit, base)
	wait := base
	for i := 0; i < n && wait < limit; i++ {
		wait *= 2
	}
	wait = min(wait, limit)
	if o.Jitter > 0 && rng != nil {
		j := min(o.Jitter, 1)
		wait = time.Duration(float64(wait) * (1 - j*rng.Float64()))
	}
	return wait
}

// Sleep waits d of wall time; it returns ctx.Err() if ctx ends first.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry calls f until it succeeds, fails with an error retryable does not
// accept (nil retryable accepts every error), o.Tries tries were made, or
// ctx ends; it sleeps o.Delay (wall time) between tries and returns f's
// last error. f is called at least once (f bounds its own work, usually
// with ctx).
func Retry(ctx context.Context, o Options, rng Rand, retryable func(error) bool, f func() error) error {
	tries := o.Tries
	if tries <= 0 {
		tries = DefaultTries
	}
	var err error
	for try := 0; try < tries; try++ {
		if try > 0 && Sleep(ctx, o.Delay(try-1, rng)) != nil {
			return err
		}
		err = f()
		if err == nil || retryable != nil && !retryable(err) {
			return err
		}
	}
	return err
}
