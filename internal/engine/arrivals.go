package engine

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// arrivals hands every user's inbound mail and spam to the injector at
// the simulated times the scenario schedules them, open-loop: whatever the
// person does meanwhile (a slow server holds their actions, a send sits
// write_time in Drafts), their mail keeps arriving, as it does for a real
// person. One goroutine (run) serves the whole population from a min-heap
// of the users' streams by next due time, with one timer: a goroutine per
// user more would cost memory at 20,000 users (docs/performance.md).
type arrivals struct {
	env *env

	// freed is the simulated time the last hand-over the injector's full
	// queue held returned (zero: none): mail that fell due before it was
	// late for the queue, not for the scheduler (fire). Only run's
	// goroutine uses it.
	freed time.Time

	mu      sync.Mutex
	streams streamHeap
	// poke wakes run (non-blocking) when a stream due earlier than the
	// ones it waits for was added.
	poke chan struct{}
}

// arrivalStream is one user's arrival schedule: their inbound mail and
// spam, the next due time of each (zero: none), and the random source that
// draws them (every draw of a user's arrivals comes from it, in due order,
// so the same seed gives the same inbound mail per user).
type arrivalStream struct {
	u                     *user
	rng                   *rand.Rand
	nextInbound, nextSpam time.Time
	// when is the stream's place in the heap: due() when it was put in.
	when time.Time
}

func newArrivals(env *env) *arrivals {
	return &arrivals{env: env, poke: make(chan struct{}, 1)}
}

// add schedules u's arrivals from now on: its first inbound mail and spam
// are drawn from now. Users start at any time (ramp-up, capacity steps:
// Engine.AddUsers); add never blocks.
func (a *arrivals) add(u *user) {
	b := u.plan.Behavior
	s := &arrivalStream{u: u, rng: rand.New(rand.NewPCG(uint64(u.plan.Seed), 0x632be59bd9b4e019))}
	now := a.env.clock.Now()
	s.nextInbound = next(now, s.rng, b.Inbound.Interval)
	s.nextSpam = next(now, s.rng, b.Spam.Interval)
	if s.when = s.due(); s.when.IsZero() {
		return // neither inbound mail nor spam
	}
	a.mu.Lock()
	heap.Push(&a.streams, s)
	first := a.streams[0] == s
	a.mu.Unlock()
	if first {
		select {
		case a.poke <- struct{}{}:
		default:
		}
	}
}

// run hands over the mail as it falls due, until ctx (the active phase)
// ends: mail due after it is not handed over.
func (a *arrivals) run(ctx context.Context) {
	// One timer for every wait, reset for each (a stopped timer's channel
	// holds no stale tick: go.mod's Go is 1.23 or later).
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for ctx.Err() == nil {
		now := a.env.clock.Now()
		s, due := a.take(now)
		if s != nil {
			a.fire(ctx, s, now)
			continue
		}
		var tick <-chan time.Time
		if !due.IsZero() {
			t.Reset(max(a.env.clock.Wall(due.Sub(now)), time.Millisecond))
			tick = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-a.poke:
		case <-tick:
		}
		t.Stop()
	}
}

// take removes the stream due first from the heap if it is due by now;
// else it returns nil and the next due time (zero: no stream).
func (a *arrivals) take(now time.Time) (*arrivalStream, time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.streams) == 0 {
		return nil, time.Time{}
	}
	if due := a.streams[0].when; now.Before(due) {
		return nil, due
	}
	return heap.Pop(&a.streams).(*arrivalStream), time.Time{}
}

// fire hands over the next mail of s (due by now) unless ctx ended, draws
// the one after it, and puts s back in the heap. It reports the
// scheduler's own lateness (EventLate, LateArrival), which the harness
// causes (the timer's and the Go scheduler's delays, the messages'
// writing): from the mail's due time, or from when a full injector queue
// last let the scheduler go when that is later. The time the queue held
// it is the queue wait of the mail it held (inject; injector.enqueue), not
// the scheduler's lateness.
func (a *arrivals) fire(ctx context.Context, s *arrivalStream, now time.Time) {
	b := s.u.plan.Behavior
	if ctx.Err() != nil {
		return
	}
	if !s.nextInbound.IsZero() && (s.nextSpam.IsZero() || !s.nextSpam.Before(s.nextInbound)) {
		a.env.late(LateArrival, s.u.plan.Username, later(s.nextInbound, a.freed), now)
		a.inject(ctx, s, b.Inbound, view.FolderInbox, s.nextInbound)
		s.nextInbound = s.nextInbound.Add(expDelay(s.rng, b.Inbound.Interval))
	} else {
		a.env.late(LateArrival, s.u.plan.Username, later(s.nextSpam, a.freed), now)
		a.inject(ctx, s, b.Spam, view.FolderJunk, s.nextSpam)
		s.nextSpam = s.nextSpam.Add(expDelay(s.rng, b.Spam.Interval))
	}
	s.when = s.due()
	a.mu.Lock()
	heap.Push(&a.streams, s)
	a.mu.Unlock()
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// internalSenderShare is the share of inbound mail that comes from another
// simulated user of the run (threads among colleagues), so replies to it are
// delivered inside the simulated population.
const internalSenderShare = 0.2

// inject writes one message of in for s's user, due at, and hands it to
// the injector for folder (INBOX, or Junk by the address's detail). Mail
// that fell due while the injector's full queue held the scheduler (at
// before a.freed) waited for a connection from its due time until the
// queue let go, and that part of its delay counts in its queue wait
// (delivery.heldFrom); the scheduler's own lateness (fire) does not: the
// harness's delays are no wait for the server. When the queue held this
// hand-over, the time it let go is a.freed.
func (a *arrivals) inject(ctx context.Context, s *arrivalStream, in scenarios.Inbound, folder string, at time.Time) {
	u, r := s.u, s.rng
	from := externalAddress(r)
	if n := a.env.peers.size(); folder == view.FolderInbox && n > 1 && r.Float64() < internalSenderShare {
		other := a.env.peers.at(r.IntN(n))
		if other != u {
			from = other.plan.Address
		}
	}
	size := drawSize(r, in.Size)
	attach := r.Float64() < in.Attachments
	msg := a.env.gen.New(r, from, []string{u.plan.Address}, size, attach, at)
	rcpt := u.plan.Address
	if folder != view.FolderInbox {
		rcpt = detailAddress(u.plan.Address, folder)
	}
	clock := a.env.clock
	var held time.Time
	if a.freed.After(at) {
		held = time.Now().Add(-clock.Wall(a.freed.Sub(at)))
	}
	waited := a.env.queue.enqueue(ctx, delivery{
		from:     from,
		rcpts:    []recipient{{addr: rcpt, user: u, folder: folder}},
		id:       msg.ID,
		raw:      msg.Raw,
		inbound:  true,
		arrival:  at,
		heldFrom: held,
	})
	if waited {
		a.freed = clock.Now()
	}
}

// due is the stream's next due time: the earlier of its inbound mail and
// spam (zero: neither).
func (s *arrivalStream) due() time.Time {
	switch {
	case s.nextInbound.IsZero():
		return s.nextSpam
	case s.nextSpam.IsZero() || s.nextInbound.Before(s.nextSpam):
		return s.nextInbound
	}
	return s.nextSpam
}

// streamHeap orders the streams by due time (container/heap).
type streamHeap []*arrivalStream

func (h streamHeap) Len() int           { return len(h) }
func (h streamHeap) Less(i, j int) bool { return h[i].when.Before(h[j].when) }
func (h streamHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)        { *h = append(*h, x.(*arrivalStream)) }
func (h *streamHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}
