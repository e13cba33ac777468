package engine

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/scenarios"
)

// callLog is an Observer that writes down its calls.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(s string) { l.mu.Lock(); l.calls = append(l.calls, s); l.mu.Unlock() }

func (l *callLog) Action(profile, action string)    { l.add("action " + profile + " " + action) }
func (l *callLog) ActionCut(profile, action string) { l.add("cut " + profile + " " + action) }
func (l *callLog) ActionsPlanned(action string, n int64) {
	l.add(fmt.Sprintf("planned %s %d", action, n))
}
func (l *callLog) ActionsDropped(action string, n int64) {
	l.add(fmt.Sprintf("dropped %s %d", action, n))
}
func (l *callLog) Delivered(via string)            { l.add("delivered " + via) }
func (l *callLog) DeliveryAttempt(via, out string) { l.add("attempt " + via + " " + out) }
func (l *callLog) DeliveryDone(via, out string)    { l.add("done " + via + " " + out) }
func (l *callLog) Sent(protocol string)            { l.add("sent " + protocol) }
func (l *callLog) Submitted(protocol, out string)  { l.add("submitted " + protocol + " " + out) }

// queueLog is a callLog that also observes the injector's queue.
type queueLog struct{ callLog }

func (l *queueLog) DeliveryQueued(via string, wait time.Duration) {
	l.add("queued " + via + " " + wait.String())
}

// TestObserverSinkCallsTheObserver: each event the Observer knows becomes
// its call; a delivery that ended ok is also a delivered message; the
// others are not the Observer's.
func TestObserverSinkCallsTheObserver(t *testing.T) {
	cases := []struct {
		ev   Event
		want []string
	}{
		{Event{Type: EventAction, Kind: "read", Profile: "phone"}, []string{"action phone read"}},
		{Event{Type: EventActionCut, Kind: "send", Profile: "phone"}, []string{"cut phone send"}},
		{Event{Type: EventActionsPlanned, Kind: "reply", Count: 1}, []string{"planned reply 1"}},
		{Event{Type: EventActionsDropped, Kind: "send", Count: 1}, []string{"dropped send 1"}},
		{Event{Type: EventActionsPending, Count: 2}, nil},
		{Event{Type: EventSent, Protocol: "smtp"}, []string{"sent smtp"}},
		{Event{Type: EventSubmitted, Protocol: "smtp", Outcome: SubmissionCut}, []string{"submitted smtp cut"}},
		{Event{Type: EventDeliveryAttempt, Protocol: "lmtp", Outcome: Delivery4xx}, []string{"attempt lmtp 4xx"}},
		{Event{Type: EventDeliveryDone, Protocol: "lmtp", Outcome: DeliveryOK}, []string{"delivered lmtp", "done lmtp ok"}},
		{Event{Type: EventDeliveryDone, Protocol: "smtp", Outcome: DeliveryAbandoned}, []string{"done smtp abandoned"}},
		{Event{Type: EventDeliver, Kind: "deliver"}, nil},
		{Event{Type: EventActionFailed, Kind: "read"}, nil},
		{Event{Type: EventLate, Late: time.Second}, nil},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("type %d %s", tc.ev.Type, tc.ev.Outcome), func(t *testing.T) {
			l := &callLog{}
			newObserverSink(l).Handle(tc.ev)
			if !slices.Equal(l.calls, tc.want) {
				t.Errorf("calls %q, want %q", l.calls, tc.want)
			}
		})
	}
	// The queue's waits go to an Observer that also is a QueueObserver,
	// and to no other.
	queued := Event{Type: EventDeliveryQueued, Protocol: "imap-append", Late: 1500 * time.Millisecond}
	l := &callLog{}
	newObserverSink(l).Handle(queued)
	if len(l.calls) != 0 {
		t.Errorf("a plain Observer got %q for a queue wait", l.calls)
	}
	q := &queueLog{}
	newObserverSink(q).Handle(queued)
	if want := []string{"queued imap-append 1.5s"}; !slices.Equal(q.calls, want) {
		t.Errorf("calls %q, want %q", q.calls, want)
	}
}

// eventCount counts a run's events by type.
type eventCount struct {
	mu      sync.Mutex
	n       map[EventType]int64
	dropped int64
	// planned and pending sum the Count of their events.
	planned, pending int64
	phases           []Phase
	unset            int // events without a simulated time
}

func (c *eventCount) Handle(ev Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[ev.Type]++
	switch ev.Type {
	case EventActionsDropped:
		c.dropped += ev.Count
	case EventActionsPlanned:
		c.planned += ev.Count
	case EventActionsPending:
		c.pending += ev.Count
	case EventPhase:
		c.phases = append(c.phases, ev.Phase)
	}
	if ev.Sim.IsZero() {
		c.unset++
	}
}

// TestSinksSeeWhatTheResultCounts runs a busy scenario with a sink of its
// own and the callbacks: the sink sees as many events of each kind as the
// Result counts, and each callback is called for its events.
func TestSinksSeeWhatTheResultCounts(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{})
	c := &eventCount{n: map[EventType]int64{}}
	var mu sync.Mutex
	audits, converged := 0, 0
	res := runOnEmbeddedWith(t, plan, newTestRecorder(), nil, func(o *Options) {
		o.Sinks = []Sink{c}
		o.OnAudit = func() { mu.Lock(); audits++; mu.Unlock() }
		o.OnConverged = func(audit.ChangeKind, time.Duration) { mu.Lock(); converged++; mu.Unlock() }
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	d := res.Deliveries
	t.Logf("events %v; result: delivered %d, sent %d, actions %d/%d/%d, deliveries %+v",
		c.n, res.Delivered, res.Sent, res.Actions, res.ActionErrors, res.ActionsDropped, d)
	checks := []struct {
		name      string
		got, want int64
	}{
		{"deliver events vs Result.Delivered", c.n[EventDeliver], res.Delivered},
		{"sent events vs Result.Sent", c.n[EventSent], res.Sent},
		{"action events vs Result.Actions", c.n[EventAction], res.Actions},
		{"failed actions vs Result.ActionErrors", c.n[EventActionFailed], res.ActionErrors},
		{"dropped actions vs Result.ActionsDropped", c.dropped, res.ActionsDropped},
		{"planned actions vs Result.ActionsPlanned", c.planned, res.ActionsPlanned},
		{"cut actions vs Result.ActionsCut", c.n[EventActionCut], res.ActionsCut},
		{"pending actions vs Result.ActionsPending", c.pending, res.ActionsPending},
		{"planned actions vs done + given up + cut + pending", res.ActionsPlanned, res.Actions + res.ActionsDropped + res.ActionsCut + res.ActionsPending},
		{"delivery tries vs Attempted+Retries", c.n[EventDeliveryAttempt], d.Attempted + d.Retries},
		{"deliveries ended vs Delivered+Failed+Abandoned", c.n[EventDeliveryDone], d.Delivered + d.FailedTotal() + d.Abandoned},
		{"ramped up", c.n[EventRampedUp], 1},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s: %d, want %d", ck.name, ck.got, ck.want)
		}
	}
	if res.Delivered == 0 || res.Actions == 0 || c.n[EventLate] == 0 || c.n[EventConverged] == 0 || c.n[EventAudit] == 0 {
		t.Errorf("a busy run without deliveries, actions, lateness, convergence or audits: %v", c.n)
	}
	if want := []Phase{PhaseActive, PhaseSettle, PhaseAudit, PhaseDone}; !slices.Equal(c.phases, want) {
		t.Errorf("phases %v, want %v", c.phases, want)
	}
	if c.unset > 0 {
		t.Errorf("%d events without a simulated time", c.unset)
	}
	mu.Lock()
	defer mu.Unlock()
	if int64(audits) != c.n[EventAudit] || int64(converged) != c.n[EventConverged] {
		t.Errorf("OnAudit %d, OnConverged %d calls; the sink saw %d and %d", audits, converged,
			c.n[EventAudit], c.n[EventConverged])
	}
}
