package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/mailgen"
)

// The people, users, the injector and the submitters of a run do not hold
// the Engine: each depends on the few narrow parts below, given at
// construction. The Engine composes them (New); a test builds a person
// from fakes of them (person_test.go).

// simClock is the simulated time people live on (*simclock.Clock).
type simClock interface {
	// Now is the simulated time now.
	Now() time.Time
	// Wall converts a simulated duration into wall time.
	Wall(sim time.Duration) time.Duration
	// Sleep waits a simulated duration, or until ctx ends.
	Sleep(ctx context.Context, sim time.Duration) error
}

// mailQueue takes mail for the injector to deliver (*injector).
type mailQueue interface {
	// enqueue hands d over; it blocks while the queue is full, until ctx
	// ends (d is then abandoned). It reports whether it waited for room.
	enqueue(ctx context.Context, d delivery) (waited bool)
}

// changeSink takes what happens to the users' mail, for the audit
// (auditChanges).
type changeSink interface {
	// record notes a change; a zero At is now.
	record(c audit.Change)
	// touch notes that a device of user shows something new.
	touch(user string)
	// now is the simulated time a change with a zero At is stamped with
	// (zero when the sink stamps none).
	now() time.Time
}

// directory is the simulated population, by position and by address
// (*roster).
type directory interface {
	// size is the number of users.
	size() int
	// at is user i, 0 <= i < size().
	at(i int) *user
	// lookup is the user of address addr, nil outside the population.
	lookup(addr string) *user
}

// env is what a run's users and people share.
type env struct {
	clock   simClock
	queue   mailQueue
	changes changeSink
	events  Sink
	peers   directory
	// gen writes the inbound messages.
	gen mailgen.Generator
	// hand weighs the device kinds a person picks up.
	hand map[clients.Kind]float64
	log  *slog.Logger
}

// late emits how much later than due (simulated) user's person started
// something (kind LateAction), or their mail was handed to the injector
// (LateArrival), at now: in wall time (EventLate).
func (e *env) late(kind, user string, due, now time.Time) {
	e.events.Handle(Event{Type: EventLate, Kind: kind, User: user, Late: e.clock.Wall(now.Sub(due)), Sim: now})
}

// roster is the population of a run: the users in the plan's order and by
// address. It is filled by New and read-only after.
type roster struct {
	users  []*user
	byAddr map[string]*user
}

func (r *roster) size() int                { return len(r.users) }
func (r *roster) at(i int) *user           { return r.users[i] }
func (r *roster) lookup(addr string) *user { return r.byAddr[addr] }

// auditChanges hands changes to the run's auditor.
type auditChanges struct {
	a     *audit.Auditor
	clock func() time.Time
}

func (c auditChanges) record(ch audit.Change) {
	if ch.At.IsZero() {
		ch.At = c.clock()
	}
	c.a.Record(ch)
}

func (c auditChanges) touch(user string) { c.a.Touch(user) }
func (c auditChanges) now() time.Time    { return c.clock() }
