package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors of AddUsers.
var (
	// ErrNotGrowing is returned by AddUsers on an engine built without
	// Options.Grow, or whose Run is not in its active phase (not yet
	// started, or people already stopped acting).
	ErrNotGrowing = errors.New("engine: the population cannot grow now")
	// ErrPopulationFull is returned by AddUsers when the plan has fewer
	// users left than asked for.
	ErrPopulationFull = errors.New("engine: the plan has no more users")
)

// growth is what AddUsers needs of a running Run: the contexts and wait
// groups users start under, and the next user of the plan to start. Run
// opens it when the active phase begins and closes it when people stop
// acting; a user is only started while it is open, under mu, so Run's
// wait for the people never races a start.
type growth struct {
	mu             sync.Mutex
	open           bool
	devCtx, actCtx context.Context
	lateCtx        context.Context
	devWG, actWG   *sync.WaitGroup
	// next is the index in Engine.users of the next user to start;
	// AddUsers reserves its users by moving it.
	next int
}

// openGrowth lets users start under Run's contexts.
func (e *Engine) openGrowth(devCtx, lateCtx, actCtx context.Context, devWG, actWG *sync.WaitGroup) {
	g := &e.growth
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open, g.devCtx, g.lateCtx, g.actCtx, g.devWG, g.actWG = true, devCtx, lateCtx, actCtx, devWG, actWG
}

// closeGrowth ends the starting of users: once it returned, no user starts
// any more.
func (e *Engine) closeGrowth() {
	g := &e.growth
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = false
}

// startUser starts u if the active phase still runs; it reports whether
// it did.
func (e *Engine) startUser(u *user) bool {
	g := &e.growth
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open || g.actCtx.Err() != nil {
		return false
	}
	u.start(g.devCtx, g.lateCtx, g.actCtx, g.devWG, g.actWG, &e.devices)
	e.arrivals.add(u)
	e.usersStarted.Add(1)
	return true
}

// AddUsers grows the population of a running engine built with
// Options.Grow: it starts the next n users of the plan, in the plan's
// order, spread over the scenario's ramp_up as Run's ramp-up spreads its
// users (user i of the n starts at i × ramp_up / n after the call), and
// returns once all of them started. Each new user's devices and person
// run until the run ends, as those of users started by Run do.
//
// It returns how many users it started. Fewer than n start when ctx ends,
// Stop is called or the active phase ends first (the error says which);
// none start when the run is not in its active phase (ErrNotGrowing) or
// the plan has fewer than n users left (ErrPopulationFull). Calls may
// overlap; each starts its own users.
func (e *Engine) AddUsers(ctx context.Context, n int) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	if !e.o.Grow {
		return 0, fmt.Errorf("%w: the engine was not built with Options.Grow", ErrNotGrowing)
	}
	g := &e.growth
	g.mu.Lock()
	if !g.open || g.actCtx.Err() != nil {
		g.mu.Unlock()
		return 0, ErrNotGrowing
	}
	if left := len(e.users) - g.next; n > left {
		g.mu.Unlock()
		return 0, fmt.Errorf("%w: %d users asked for, %d left of %d", ErrPopulationFull, n, left, len(e.users))
	}
	users := e.users[g.next : g.next+n]
	g.next += n
	actCtx := g.actCtx
	g.mu.Unlock()

	rampUp := min(e.plan.Scenario.RampUp, e.plan.Duration)
	began := time.Now()
	for i, u := range users {
		if rampUp > 0 && n > 1 {
			at := time.Duration(int64(rampUp) * int64(i) / int64(n))
			if wait := time.Until(began.Add(at)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return i, ctx.Err()
				case <-actCtx.Done():
					t.Stop()
					return i, ErrNotGrowing
				case <-e.stopCh:
					t.Stop()
					return i, ErrNotGrowing
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return i, err
		}
		if !e.startUser(u) {
			return i, ErrNotGrowing
		}
	}
	return n, nil
}
