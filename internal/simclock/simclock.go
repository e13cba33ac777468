// Package simclock maps the scenario's simulated time onto wall-clock time.
// A scenario with time_scale 60 lives one simulated minute per real second:
// a 15-minute phone poll waits 15 real seconds.
package simclock

import (
	"context"
	"time"

	"github.com/mailsim/mailsim/internal/backoff"
)

// Clock converts between simulated and wall time. The zero value is not
// usable; create one with New. A Clock is safe for concurrent use.
type Clock struct {
	scale     float64
	wallStart time.Time
	simStart  time.Time
}

// New returns a clock whose simulated time starts at simStart now and runs
// scale times faster than the wall clock. A scale <= 0 is taken as 1.
func New(scale float64, simStart time.Time) *Clock {
	if scale <= 0 {
		scale = 1
	}
	return &Clock{scale: scale, wallStart: time.Now(), simStart: simStart}
}

// Scale returns simulated seconds per wall second.
func (c *Clock) Scale() float64 { return c.scale }

// Now returns the current simulated time.
func (c *Clock) Now() time.Time {
	return c.simStart.Add(c.Sim(time.Since(c.wallStart)))
}

// Elapsed returns the simulated time elapsed since the clock started.
func (c *Clock) Elapsed() time.Duration { return c.Sim(time.Since(c.wallStart)) }

// WallElapsed returns the wall time elapsed since the clock started.
func (c *Clock) WallElapsed() time.Duration { return time.Since(c.wallStart) }

// Wall converts a simulated duration to wall time.
func (c *Clock) Wall(sim time.Duration) time.Duration {
	return time.Duration(float64(sim) / c.scale)
}

// Sim converts a wall duration to simulated time.
func (c *Clock) Sim(wall time.Duration) time.Duration {
	return time.Duration(float64(wall) * c.scale)
}

// SimAt returns the simulated time that corresponds to wall time t.
func (c *Clock) SimAt(t time.Time) time.Time {
	return c.simStart.Add(c.Sim(t.Sub(c.wallStart)))
}

// Sleep waits for the simulated duration sim, or until ctx is done, in which
// case it returns ctx.Err().
func (c *Clock) Sleep(ctx context.Context, sim time.Duration) error {
	d := c.Wall(sim)
	if d <= 0 {
		return ctx.Err()
	}
	return backoff.Sleep(ctx, d)
}
