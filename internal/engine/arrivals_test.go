package engine

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/scenarios"
)

// The arrival scheduler alone, on the fakes of person_test.go, stepped by
// hand: take and fire as run does, without its timer.

// fireDue hands over everything due by now, as run does.
func fireDue(ctx context.Context, a *arrivals, now time.Time) {
	for range 10000 {
		s, _ := a.take(now)
		if s == nil {
			return
		}
		a.fire(ctx, s, now)
	}
}

// newFakeArrivals returns a scheduler on f's fakes with f's user added.
func newFakeArrivals(f *fakePerson) *arrivals {
	a := newArrivals(f.p.env)
	a.add(f.p.u)
	return a
}

// TestArrivalsHandOver: mail and spam due are queued for the injector, in
// due order, with their lateness; nothing is handed over once the active
// phase ended.
func TestArrivalsHandOver(t *testing.T) {
	b := scenarios.Behavior{
		Inbound: scenarios.Inbound{Interval: time.Hour, Size: scenarios.Range{Min: 1000, Max: 2000}},
		Spam:    scenarios.Inbound{Interval: time.Hour, Size: scenarios.Range{Min: 1000, Max: 2000}},
	}
	f := newFakePerson(b, &fakeDevice{profile: clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP}})
	a := newFakeArrivals(f)
	start := f.clock.now
	s := a.streams[0]
	s.nextInbound, s.nextSpam, s.when = start.Add(2*time.Minute), start.Add(time.Minute), start.Add(time.Minute)
	f.clock.now = start.Add(3 * time.Minute)
	fireDue(context.Background(), a, f.clock.now)
	var got []string
	for _, d := range f.queue.got {
		for _, r := range d.rcpts {
			got = append(got, fmt.Sprintf("%s %s inbound=%v", r.addr, r.folder, d.inbound))
		}
		if d.id == "" || len(d.raw) < 1000 || d.arrival.IsZero() {
			t.Errorf("delivery %s: %d bytes, arrival %v; want an ID, 1000 bytes at least, an arrival", d.id, len(d.raw), d.arrival)
		}
	}
	want := []string{"u1+Junk@example.com Junk inbound=true", "u1@example.com INBOX inbound=true"}
	if !slices.Equal(got, want) {
		t.Errorf("queued %q, want %q", got, want)
	}
	// Due 2 and 1 simulated minutes ago: 2 s and 1 s of wall time at the
	// fake clock's scale of 60.
	var late []time.Duration
	for _, ev := range f.events.got {
		if ev.Type == EventLate && ev.User == "u1" {
			late = append(late, ev.Late)
		}
	}
	if !slices.Equal(late, []time.Duration{2 * time.Second, time.Second}) {
		t.Errorf("lateness %v, want [2s 1s]", late)
	}
	// That lateness is the scheduler's (the harness's), no wait for a
	// connection: no queue held it, so no delivery's queue wait starts
	// before its hand-over. Before, every inbound delivery's wait
	// started at its due time, and the harness's lateness counted twice.
	for _, d := range f.queue.got {
		if !d.heldFrom.IsZero() {
			t.Errorf("delivery %s, handed over late by the scheduler alone, waits from %v before its hand-over", d.id, time.Since(d.heldFrom))
		}
	}

	// The active phase ended: what falls due is not handed over.
	n := len(f.queue.got)
	f.clock.now = f.clock.now.Add(100 * time.Hour)
	fireDue(ended(context.Background()), a, f.clock.now)
	if len(f.queue.got) != n {
		t.Errorf("%d deliveries handed over after the active phase", len(f.queue.got)-n)
	}
}

// TestArrivalsHeldByFullQueue: a full injector queue that holds the
// arrival scheduler (here the first hand-over, for 10 simulated minutes)
// makes the mail that falls due meanwhile late for the queue, not for the
// scheduler: its lateness (EventLate) counts from when the queue let go,
// and its delivery carries when its wait began, its due time
// (delivery.heldFrom), from which the injector counts its queue wait; the
// held hand-over itself waits from its own hand-over (enqueue). Before, every hand-over behind the held
// one was reported late by the hold (up to 9 s of wall time here) and its
// queue wait started after it.
func TestArrivalsHeldByFullQueue(t *testing.T) {
	b := scenarios.Behavior{Inbound: scenarios.Inbound{Interval: time.Minute, Size: scenarios.Range{Min: 1000, Max: 2000}}}
	f := newFakePerson(b, &fakeDevice{profile: clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP}})
	a := newFakeArrivals(f)
	start := f.clock.now
	const hold = 10 * time.Minute // simulated: 10 s of wall time at the fake clock's scale of 60
	f.queue.hold = func(delivery) bool {
		if len(f.queue.got) > 1 {
			return false
		}
		f.clock.now = f.clock.now.Add(hold)
		return true
	}
	s := a.streams[0]
	s.nextInbound, s.when = start.Add(time.Minute), start.Add(time.Minute)
	f.clock.now = s.when
	fireDue(context.Background(), a, f.clock.now) // the first, held by the queue
	fireDue(context.Background(), a, f.clock.now) // what fell due during the hold
	handed := time.Now()
	if len(f.queue.got) < 3 {
		t.Fatalf("%d hand-overs, want the held one and some that fell due during the hold", len(f.queue.got))
	}
	var late []time.Duration
	for _, ev := range f.events.got {
		if ev.Type == EventLate && ev.Kind == LateArrival {
			late = append(late, ev.Late)
		}
	}
	if want := make([]time.Duration, len(f.queue.got)); !slices.Equal(late, want) {
		t.Errorf("the scheduler's lateness %v; want %v: the hold is the queue's", late, want)
	}
	for i, d := range f.queue.got {
		// The due time in wall time: as long before the hand-over as the
		// mail's due time was before the clock's time then (the fake
		// clock stood still but for the hold).
		behind := f.clock.Wall(f.clock.now.Sub(d.arrival))
		if i == 0 {
			if !d.heldFrom.IsZero() {
				t.Errorf("hand-over 0, held by the queue itself, waits from %v before its hand-over", handed.Sub(d.heldFrom))
			}
			continue
		}
		if got := handed.Sub(d.heldFrom); d.heldFrom.IsZero() || got < behind || got > behind+time.Minute {
			t.Errorf("hand-over %d due %v after the start: wall due %v before the hand-over, want %v", i, d.arrival.Sub(start), got, behind)
		}
	}
}

// TestArrivalsOrderAndSeed: users added at different times get their mail
// in due order over the whole population, and each user the same mail as
// when alone: their arrivals depend on their seed and start only.
func TestArrivalsOrderAndSeed(t *testing.T) {
	b := scenarios.Behavior{
		Inbound: scenarios.Inbound{Interval: 3 * time.Minute, Size: scenarios.Range{Min: 1000, Max: 2000}},
		Spam:    scenarios.Inbound{Interval: 7 * time.Minute, Size: scenarios.Range{Min: 1000, Max: 2000}},
	}
	dev := &fakeDevice{profile: clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP}}
	type handed struct {
		user string
		at   time.Time
		id   string
	}
	// run returns the mail handed over in a simulated hour to users of
	// seeds, user i added at step first+3×i (a simulated minute apart),
	// the scheduler woken every step of 20 simulated seconds.
	run := func(first int, seeds ...int64) []handed {
		f := newFakePerson(b, dev)
		a := newArrivals(f.p.env)
		users := make([]*user, len(seeds))
		for i, seed := range seeds {
			plan := *f.p.u.plan
			plan.Username, plan.Address, plan.Seed = fmt.Sprintf("u%d", seed), fmt.Sprintf("u%d@example.com", seed), seed
			users[i] = &user{env: f.p.env, plan: &plan}
		}
		start := f.clock.now
		for step := range 180 {
			f.clock.now = start.Add(time.Duration(step) * 20 * time.Second)
			for i, u := range users {
				if step == first+3*i {
					a.add(u)
				}
			}
			fireDue(context.Background(), a, f.clock.now)
		}
		var out []handed
		for _, d := range f.queue.got {
			out = append(out, handed{d.rcpts[0].user.plan.Username, d.arrival, d.id})
		}
		return out
	}
	all := run(0, 5, 6, 7)
	if len(all) < 30 {
		t.Fatalf("%d deliveries in an hour for 3 users, want 30 at least", len(all))
	}
	for i := 1; i < len(all); i++ {
		// Handed over every 20 s: due order within each step, and
		// never more than a step out of order over the run.
		if all[i].at.Before(all[i-1].at.Add(-20 * time.Second)) {
			t.Errorf("delivery %d due %v handed over after one due %v", i, all[i].at, all[i-1].at)
		}
	}
	for i, seed := range []int64{5, 6, 7} {
		name := fmt.Sprintf("u%d", seed)
		var together []string
		for _, h := range all {
			if h.user == name {
				together = append(together, h.id)
			}
		}
		var alone []string
		for _, h := range run(3*i, seed) {
			alone = append(alone, h.id)
		}
		if len(alone) < 5 || !slices.Equal(together, alone) {
			t.Errorf("%s: among others %q, alone %q", name, together, alone)
		}
	}
}
