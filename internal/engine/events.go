package engine

import (
	"time"

	"github.com/mailsim/mailsim/internal/audit"
)

// Results leave a run as Event values handed to Sinks, as a load
// generator's results flow to its reporters: the people, the injector and
// the submitters emit events and know nothing of who reads them; the
// run's counters (Status, Result), the metrics (Options.Observer), the
// trace (Options.Trace), the callbacks (Options.On*) and the caller's
// Options.Sinks are sinks side by side (docs/architecture.md, "The one
// direction data flows"). Changes for the audit go to the auditor (a
// changeSink), protocol commands to the clients.Recorder.

// EventType says what an Event reports.
type EventType uint8

// The types of events. Each names the fields of Event it sets beyond
// Type and Sim.
const (
	// EventDeliver: a message reached a simulated user's mailbox
	// (Kind "deliver", User, MessageID, Folder; Inbound and Arrival for
	// mail from outside the population).
	EventDeliver EventType = iota + 1
	// EventAction: a person's action succeeded (Kind the action, User,
	// Device, Profile, MessageID — for send the new message —, Folder the
	// destination of a move).
	EventAction
	// EventActionFailed: one try of an action failed with an error (not a
	// message missing from the device in hand, not the run ending): Kind,
	// User, Device, Profile, Err.
	EventActionFailed
	// EventActionsDropped: Count actions of Kind given up after every
	// try failed (User, Device, MessageID when known, Err).
	EventActionsDropped
	// EventSent: a device's message was accepted for sending (Protocol the
	// submitting protocol, User, Device).
	EventSent
	// EventDeliveryAttempt: one try of the injector to deliver a message to
	// one recipient (Protocol the delivery protocol, Outcome one of
	// DeliveryOutcomes but abandoned).
	EventDeliveryAttempt
	// EventDeliveryDone: how a delivery to one recipient ended after its
	// retries (Protocol, Outcome: ok, a failure reason, or abandoned).
	EventDeliveryDone
	// EventLate: a person started an action (Kind LateAction), or the
	// arrival scheduler handed inbound mail to the injector (Kind
	// LateArrival, arrivals.go), Late (wall time, 0 when on time) after it
	// was due.
	EventLate
	// EventConverged: a change of Kind reached every device, Lag
	// (simulated time) after it was made.
	EventConverged
	// EventAudit: a periodic audit finished.
	EventAudit
	// EventPhase: the run entered Phase.
	EventPhase
	// EventRampedUp: every user of the plan has started (the end of
	// ramp-up); not emitted when the run ends first, nor with Options.Grow.
	EventRampedUp
	// EventDeliveryQueued: a delivery to one recipient left the
	// injector's queue for its first try (Protocol the delivery protocol,
	// Late the wall time it waited for a connection: from its hand-over,
	// or from its due time for inbound mail handed over late; Inbound and
	// Arrival as for EventDeliver).
	EventDeliveryQueued
	// EventSubmitted: a device's submission of a message (one call of its
	// Submitter, whatever the protocol) ended (Protocol the submitting
	// protocol, Outcome one of SubmissionOutcomes, User, Device).
	EventSubmitted
	// EventActionsPlanned: a person planned Count actions of Kind: one
	// event per action it decided on for a message it noticed, or the
	// new message it began to write (User). Each ends one way: done (EventAction), given up
	// (EventActionsDropped), cut under way (EventActionCut) or pending
	// when the person stopped (EventActionsPending); docs/report.md,
	// "Actions".
	EventActionsPlanned
	// EventActionCut: the end of the active phase (or a Stop) cut an
	// action under way on a device (being written, or its commands under
	// way) and it was not finished: Kind, User, Device, Profile,
	// MessageID when known. No failed try, not given up.
	EventActionCut
	// EventActionsPending: Count actions the person had planned and not
	// finished when it stopped, none of them under way: waiting their
	// turn (never begun) or their next try after a failed one (User).
	EventActionsPending
)

// The outcomes of a device's submission (EventSubmitted), which partition
// the submissions the people started (docs/report.md, "Submissions").
const (
	// SubmissionSent: the server took the message, for every recipient
	// or for some (EventSent too).
	SubmissionSent = "sent"
	// SubmissionFailed: it failed while the active phase went on; the
	// person counted a failed try of the action (EventActionFailed),
	// unless the active phase ended in the instant between (the action
	// then counts cut).
	SubmissionFailed = "failed"
	// SubmissionUnanswered: the message data went out whole and the reply
	// to it never came (clients.ErrUnanswered), the run's end included
	// (EventSubmitted's AtEnd, SubmissionStats.UnansweredAtEnd): the
	// server may have taken it, and the final audit looks for it.
	SubmissionUnanswered = "unanswered"
	// SubmissionCut: the end of the active phase (or the stop) came
	// before it ended, and it ended without the message leaving: the
	// stop's close before the message data went out whole, or a refusal
	// during the stop's grace. The person counts no failed try for it
	// (an action the run's end cuts is no failure) and does not try it
	// again: its action counts cut (EventActionCut).
	SubmissionCut = "cut"
)

// SubmissionOutcomes lists every outcome of a submission, SubmissionSent
// first.
func SubmissionOutcomes() []string {
	return []string{SubmissionSent, SubmissionFailed, SubmissionUnanswered, SubmissionCut}
}

// The kinds of EventLate: whose schedule ran late. A person's action
// waits for the device in hand (a slow server) and for the person's own
// writing (send.write_time); the arrival scheduler (arrivals.go) waits
// only for the harness: the time a full injector queue held it is the
// queue wait of the deliveries it held (injector.enqueue).
const (
	LateAction  = "action"
	LateArrival = "arrival"
)

// Event is one thing that happened in a run. Which fields are set depends
// on Type (see the EventType constants); Sim always is.
type Event struct {
	// Type says what happened. Events passed to Options.Trace are
	// EventDeliver and EventAction only.
	Type EventType
	// Kind is "deliver", an action kind (read, reply, ..., send), the
	// change kind of EventConverged, or whose lateness EventLate is
	// (LateAction, LateArrival).
	Kind string
	// User is the username; Device the acting device ID ("" for deliver).
	User, Device string
	// Profile is the acting device's profile (action events).
	Profile string
	// MessageID is the message delivered or acted on (for send: the new
	// message).
	MessageID string
	// Folder is where a delivery went, or the destination of a move.
	Folder string
	// Inbound marks the delivery of mail from outside the population
	// (scenario inbound and spam), as opposed to mail a device sent.
	Inbound bool
	// Arrival is the simulated time inbound mail was scheduled to arrive
	// (deliveries run in parallel, so they may finish out of order).
	Arrival time.Time
	// Protocol is the delivery protocol (delivery events) or the
	// submitting protocol (EventSent, EventSubmitted).
	Protocol string
	// Outcome is a delivery's outcome (a Delivery* constant) or a
	// submission's (a Submission* constant).
	Outcome string
	// AtEnd marks an EventSubmitted the run's end came to while it was
	// under way (its context had ended when it returned).
	AtEnd bool
	// Count is the number of actions of EventActionsDropped,
	// EventActionsPlanned and EventActionsPending; Overdue, of an
	// EventActionsPending's, those whose turn had come (person.overdue).
	Count, Overdue int64
	// Late is the lateness of EventLate and the queue wait of
	// EventDeliveryQueued (wall time), Lag the convergence lag of
	// EventConverged (simulated time).
	Late, Lag time.Duration
	// Phase is the phase entered (EventPhase).
	Phase Phase
	// Err is why an action failed or was given up.
	Err error
	// Sim is the simulated time of the event.
	Sim time.Time
}

// Sink receives the events of a run. The engine calls Handle from the
// goroutine where the thing happened (a person, an injector worker, the
// audit loop, Run's own), so it must be cheap, must not block, and must be
// safe for concurrent use.
type Sink interface {
	Handle(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Handle calls f(ev).
func (f SinkFunc) Handle(ev Event) { f(ev) }

// fanout hands every event to each of its sinks in order, stamped with
// the simulated time.
type fanout struct {
	now   func() time.Time
	sinks []Sink
}

// Handle stamps ev and passes it on.
func (f *fanout) Handle(ev Event) {
	if ev.Sim.IsZero() {
		ev.Sim = f.now()
	}
	for _, s := range f.sinks {
		s.Handle(ev)
	}
}

// tally is the run's own sink: the counters of Status and Result.
func (e *Engine) tally(ev Event) {
	switch ev.Type {
	case EventDeliver:
		e.delivered.Add(1)
	case EventSent:
		e.sent.Add(1)
	case EventAction:
		e.actions.Add(1)
	case EventActionFailed:
		e.actionErrors.Add(1)
	case EventActionsDropped:
		e.actionsDropped.Add(ev.Count)
	case EventActionsPlanned:
		e.actionsPlanned.Add(ev.Count)
	case EventActionCut:
		e.actionsCut.Add(1)
	case EventActionsPending:
		e.actionsPending.Add(ev.Count)
		e.actionsOverdue.Add(ev.Overdue)
	case EventSubmitted:
		e.submissions.count(ev.Outcome, ev.AtEnd)
	}
}

// observerSink passes the events the Observer knows to it.
type observerSink struct {
	o Observer
	// q is o when it also observes the injector's queue, else nil.
	q QueueObserver
}

// newObserverSink returns the sink that calls o.
func newObserverSink(o Observer) observerSink {
	q, _ := o.(QueueObserver)
	return observerSink{o: o, q: q}
}

// Handle calls the Observer's method for ev, if it has one.
func (s observerSink) Handle(ev Event) {
	switch ev.Type {
	case EventAction:
		s.o.Action(ev.Profile, ev.Kind)
	case EventActionCut:
		s.o.ActionCut(ev.Profile, ev.Kind)
	case EventActionsPlanned:
		s.o.ActionsPlanned(ev.Kind, ev.Count)
	case EventActionsDropped:
		s.o.ActionsDropped(ev.Kind, ev.Count)
	case EventSent:
		s.o.Sent(ev.Protocol)
	case EventSubmitted:
		s.o.Submitted(ev.Protocol, ev.Outcome)
	case EventDeliveryAttempt:
		s.o.DeliveryAttempt(ev.Protocol, ev.Outcome)
	case EventDeliveryDone:
		if ev.Outcome == DeliveryOK {
			s.o.Delivered(ev.Protocol)
		}
		s.o.DeliveryDone(ev.Protocol, ev.Outcome)
	case EventDeliveryQueued:
		if s.q != nil {
			s.q.DeliveryQueued(ev.Protocol, ev.Late)
		}
	}
}

// callbackSink calls the Options callbacks that are set, each for its
// event type.
type callbackSink struct{ o *Options }

// Handle calls the callback of ev's type, if set.
func (s callbackSink) Handle(ev Event) {
	o := s.o
	switch ev.Type {
	case EventDeliver, EventAction:
		if o.Trace != nil {
			o.Trace(ev)
		}
	case EventLate:
		if o.OnLate != nil {
			o.OnLate(ev.Kind, ev.Late)
		}
	case EventConverged:
		if o.OnConverged != nil {
			o.OnConverged(audit.ChangeKind(ev.Kind), ev.Lag)
		}
	case EventAudit:
		if o.OnAudit != nil {
			o.OnAudit()
		}
	case EventPhase:
		if o.OnPhase != nil {
			o.OnPhase(ev.Phase)
		}
	case EventRampedUp:
		if o.OnRampedUp != nil {
			o.OnRampedUp()
		}
	}
}

// hasCallbacks reports whether any Options callback is set.
func (o *Options) hasCallbacks() bool {
	return o.Trace != nil || o.OnLate != nil || o.OnConverged != nil || o.OnAudit != nil ||
		o.OnPhase != nil || o.OnRampedUp != nil
}

// sinks builds the run's event path: its counters, then the Observer, the
// callbacks and the caller's sinks.
func (e *Engine) sinks() *fanout {
	f := &fanout{now: e.clock.Now, sinks: []Sink{SinkFunc(e.tally)}}
	if e.o.Observer != nil {
		f.sinks = append(f.sinks, newObserverSink(e.o.Observer))
	}
	if e.o.hasCallbacks() {
		f.sinks = append(f.sinks, callbackSink{&e.o})
	}
	for _, s := range e.o.Sinks {
		if s != nil {
			f.sinks = append(f.sinks, s)
		}
	}
	return f
}
