// Package engine turns a scenario plan into a living population: people with
// their devices, inbound mail arriving and mail being sent, everything on the
// scenario's clock, through ramp-up, the active phase and settle, and the
// final audit.
package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/cost"
	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// Observer receives what the simulated people do, beyond protocol commands.
// The metrics package's Client implements it. Implementations must be safe
// for concurrent use.
type Observer interface {
	// Action counts one person's action on a device of the named profile.
	Action(deviceProfile, action string)
	// ActionCut counts one person's action that the end of the active
	// phase cut under way on a device of the named profile
	// (EventActionCut).
	ActionCut(deviceProfile, action string)
	// ActionsPlanned counts n actions of a kind a person planned
	// (EventActionsPlanned), ActionsDropped n it gave up
	// (EventActionsDropped): with Action and ActionCut, the actions
	// planned and not ended yet (metrics.Client: mailsim_actions_pending).
	ActionsPlanned(action string, n int64)
	ActionsDropped(action string, n int64)
	// Delivered counts one message put on the server by the injector, by
	// delivery protocol.
	Delivered(via string)
	// DeliveryAttempt counts one try of the injector to deliver a message
	// to one recipient, by delivery protocol and outcome (one of
	// DeliveryOutcomes but abandoned).
	DeliveryAttempt(via, outcome string)
	// DeliveryDone counts how one delivery to one recipient ended, after
	// its retries: ok, a failure reason, or abandoned.
	DeliveryDone(via, outcome string)
	// Sent counts one message a device sent, by the submitting protocol.
	Sent(protocol string)
	// Submitted counts one device's submission that ended, by the
	// submitting protocol and outcome (one of SubmissionOutcomes).
	Submitted(protocol, outcome string)
}

// QueueObserver is an Observer that also watches the injector's queue
// (metrics.Client: mailsim_delivery_queue_wait_seconds); the engine calls
// it when the Observer implements it.
type QueueObserver interface {
	// DeliveryQueued observes how long (wall time) a delivery to one
	// recipient waited in the injector's queue for a connection, by
	// delivery protocol, when it left the queue for its first try.
	DeliveryQueued(via string, wait time.Duration)
}

// Endpoints are the resolved server addresses the run talks to.
type Endpoints struct {
	IMAP, POP3 transport.Endpoint
	// Submission is where devices send mail; an empty Addr makes the
	// injector play the MTA for sent mail.
	Submission transport.Endpoint
	Delivery   scenarios.Delivery
	// TLS is the base TLS configuration (verification, roots).
	TLS *tls.Config
}

// Preflight returns the check of the server a run of plan against ep
// needs (serverstate.Preflight.Check): the IMAP and POP3 endpoints when
// the plan's devices use the protocol, the submission endpoint when set,
// the delivery endpoint when mail is delivered over LMTP or SMTP, and the
// plan's users.
func (ep Endpoints) Preflight(plan *scenarios.Plan) *serverstate.Preflight {
	p := &serverstate.Preflight{TLS: ep.TLS, Users: make([]serverstate.User, len(plan.Users))}
	for i, u := range plan.Users {
		p.Users[i] = serverstate.User{Username: u.Username, Password: u.Password}
		for _, d := range u.Devices {
			switch d.Profile.Protocol {
			case clients.IMAP:
				p.IMAP = &ep.IMAP
			case clients.POP3:
				p.POP3 = &ep.POP3
			}
		}
	}
	if ep.Submission.Addr != "" {
		p.Submission = &transport.Endpoint{Addr: ep.Submission.Addr, TLS: ep.Submission.TLS}
	}
	if ep.Delivery.Addr != "" && ep.Delivery.Protocol != scenarios.DeliverIMAPAppend {
		p.Delivery = &transport.Endpoint{Addr: ep.Delivery.Addr, TLS: ep.Delivery.TLS}
		p.LMTP = ep.Delivery.Protocol == scenarios.DeliverLMTP
	}
	return p
}

// Options configure an Engine.
type Options struct {
	// Plan is the resolved scenario. Required.
	Plan *scenarios.Plan
	// Endpoints of the server under test. Required.
	Endpoints Endpoints
	// Recorder receives every protocol command of devices and injector.
	// Nil discards.
	Recorder clients.Recorder
	// Observer receives actions, deliveries and sends. Nil discards.
	Observer Observer
	// Truth is the server's state for the final audit (lost mail, reasons),
	// read for every user with serverstate.ReadAll (on a real server a
	// serverstate.IMAPReader). Nil skips those parts of the audit.
	Truth audit.Truth
	// Sinks receive every event of the run (events.go), after the run's
	// own counters, the Observer and the callbacks below. Each must be
	// cheap, must not block and must be safe for concurrent use.
	Sinks []Sink
	// The callbacks below are sinks for one event type each, kept for
	// callers that want only that one.

	// OnConverged is called for every change that reached every device,
	// with its lag in simulated time (EventConverged).
	OnConverged func(kind audit.ChangeKind, lag time.Duration)
	// OnAudit is called after every periodic audit (for live gauges and the
	// report's timeline).
	OnAudit func()
	// OnLate, if set, is called whenever a person starts an action (kind
	// LateAction), or inbound mail is handed to the injector
	// (LateArrival), with how much later than due in wall time (0 when on
	// time): a harness or device too busy to keep the plan's schedule
	// shows here (internal/harnessmon). Inbound mail arrives on its own
	// schedule (arrivals.go): its lateness is the harness's (a full
	// injector queue's hold is the deliveries' queue wait). It must be
	// cheap and safe for concurrent use.
	OnLate func(kind string, late time.Duration)
	// OnPhase, if set, is called when the run enters a phase (active,
	// settle, final audit, done), from Run's goroutine.
	OnPhase func(Phase)
	// OnRampedUp, if set, is called once every user has started (the end
	// of ramp-up), from the goroutine that started them; not called when
	// the run ends first.
	OnRampedUp func()
	// Settle, if not nil, replaces the scenario's settle phase (wall time).
	Settle *time.Duration
	// Grow makes Run start no user by itself: the population starts
	// empty and grows through AddUsers during the active phase (which
	// still lasts the plan's Duration, or until Stop). OnRampedUp is not
	// called. The plan's users are the most that can be added.
	Grow bool
	// FinalBudget, if positive, replaces the budget of the final audit
	// (the default derives it from the number of users, see
	// serverstate.Budget).
	FinalBudget time.Duration
	// PeopleWait, if positive, replaces the budget of the wait for the
	// people after the active phase (peopleBudget: the settle phase's
	// maximum, at least 30 s); after Stop it is stoppedEarlySettle still.
	PeopleWait time.Duration
	// Trace, if set, is called for every delivery and every action
	// (EventDeliver, EventAction), from the goroutine that did it (for
	// tests, debugging and logs). It must be cheap and safe for concurrent
	// use.
	Trace func(Event)
	// InjectorWorkers is the number of parallel delivery connections.
	// Default: the scenario's max_parallel_deliveries, else 4.
	InjectorWorkers int
	// InjectorQueue bounds the deliveries waiting in the injector's
	// queue for a connection; a sender (the arrival scheduler, a
	// device's send) waits for room when it is full. Default 4096.
	InjectorQueue int
	// Logger receives diagnostics. Nil discards.
	Logger *slog.Logger
}

// Phase is where a run is.
type Phase string

// The phases of a run.
const (
	PhaseStarting Phase = "starting"
	PhaseActive   Phase = "active"
	PhaseSettle   Phase = "settle"
	PhaseAudit    Phase = "final audit"
	PhaseDone     Phase = "done"
)

// Status is a live snapshot of a run, for progress output. UsersStarted
// counts the users started so far; Users is the plan's population (with
// Options.Grow, the most the run may grow to: the users AddUsers added are
// in UsersStarted).
type Status struct {
	Phase        Phase
	Wall         time.Duration
	Simulated    time.Duration
	UsersStarted int
	Users        int
	Devices      int
	Delivered    int64
	Sent         int64
	Actions      int64
	ActionErrors int64
	// ActionsDropped counts actions people gave up after every try failed.
	ActionsDropped int64
	// Submissions counts the devices' submissions ended so far, by
	// outcome (Result.Submissions at the end).
	Submissions SubmissionStats
	// DeliveriesFailed counts the injector's deliveries (per recipient)
	// whose last try failed so far, DeliveriesAbandoned those the end of
	// the run left untried (counted when the injector finishes, after
	// the settle phase): the sums of Result.Deliveries.Failed and its
	// Abandoned.
	DeliveriesFailed, DeliveriesAbandoned int64
}

// Result is what a finished run produced.
type Result struct {
	StartedAt time.Time
	Wall      time.Duration
	Simulated time.Duration
	Users     int
	Devices   int
	Delivered int64
	Sent      int64
	// Submissions counts the devices' submissions by how they ended.
	Submissions SubmissionStats
	// Deliveries counts the injector's deliveries by outcome.
	Deliveries DeliveryStats
	Audit      audit.Result
	// Actions counts the people's actions that succeeded, ActionErrors
	// the tries that failed with an error (a message not yet on the device
	// in hand is not one; a failed action is tried again later) and
	// ActionsDropped the actions given up after every try failed.
	Actions, ActionErrors, ActionsDropped int64
	// ActionsPlanned counts the actions the people planned; each ended
	// one way: ActionsPlanned = Actions + ActionsDropped + ActionsCut +
	// ActionsPending (docs/report.md, "Actions"). ActionsCut counts those
	// the end of the active phase cut under way on a device and
	// ActionsPending those still waiting, never begun or waiting for
	// their next try, when the people stopped.
	ActionsPlanned, ActionsCut, ActionsPending int64
	// ActionsOverdue counts, of ActionsPending, those whose turn had come
	// by the end under the scenario's pace (action_delay, then
	// action_repeat_delay between a message's actions): the people fell
	// behind by that many (docs/report.md, "People who fell behind").
	ActionsOverdue int64
	// Costs are each group's cost figures (docs/report.md, "Cost per
	// user"), sorted by group name.
	Costs []cost.Totals
	// Interrupted is true when the run was stopped early.
	Interrupted bool
	// Settle is how the settle phase went.
	Settle SettleOutcome
	// Push is the server's push latency as the IDLE-ing PCs and phones
	// measured it
	// (internal/engine/push.go).
	Push PushLatency
	// SyncRounds are the wall times of the devices' sync rounds by device
	// profile (internal/engine/rounds.go); nil when no round ended.
	SyncRounds map[string]SyncRounds
	// UsersStarted counts the users whose devices and person started: Users
	// unless the run was stopped during its ramp-up (the others never ran,
	// and their devices count unsynced in Audit).
	UsersStarted int
	// StateUnread says, in words, why the final audit did not read the
	// server's state of every user (Audit.UsersUnchecked): the read was
	// aborted, ran out of its budget, or failed, with its first failure;
	// empty when it read every user or had no server to read.
	StateUnread string
}

// SettleEnd says how the settle phase ended.
type SettleEnd string

// The ends of the settle phase.
const (
	// SettleEndTimer: settle lasted its time (until: timer).
	SettleEndTimer SettleEnd = "timer"
	// SettleEndSynced: no change waited any longer for a device that had
	// not synced since (until: synced).
	SettleEndSynced SettleEnd = "synced"
	// SettleEndMax: until synced, but the maximum came first.
	SettleEndMax SettleEnd = "max"
	// SettleEndAborted: the run was aborted (its context ended).
	SettleEndAborted SettleEnd = "aborted"
	// SettleEndNone: no settle (a maximum of 0).
	SettleEndNone SettleEnd = "none"
)

// SettleOutcome is how the settle phase went.
type SettleOutcome struct {
	// Until is the scenario's settle end; Max its maximum (wall time),
	// shortened after Stop.
	Until scenarios.SettleUntil
	Max   time.Duration
	// Wall is how long settle lasted, from when people stopped and the
	// last deliveries were done.
	Wall  time.Duration
	Ended SettleEnd
	// Waiting counts the changes that still waited for a device to sync
	// when settle ended (until synced only).
	Waiting int
	// PeopleWait is how long the run waited, before settle, for the people
	// to finish the actions the end of the active phase cut short (see
	// peopleBudget); PeopleCut is true when that wait ran out and the
	// actions still unfinished were given up (counted in ActionsDropped).
	PeopleWait time.Duration
	PeopleCut  bool
}

// Engine runs one plan once.
type Engine struct {
	o       Options
	plan    *scenarios.Plan
	clock   *simclock.Clock
	auditor *audit.Auditor
	// final is the final audit's result, nil until it ran (FinalAudit).
	final atomic.Pointer[audit.Result]
	log   *slog.Logger
	inj   *injector
	// arrivals hands the users' inbound mail to inj on schedule.
	arrivals *arrivals
	costs    *cost.Meters
	push     *pushTracker
	rounds   *roundTracker
	// late closes the placeholders of the run's released connections
	// (transport.LateCloser), shared by its devices and injector.
	late *transport.LateCloser
	// imapCaps keeps the capability lists the run's lean IMAP clients
	// read (leanimap.CapCache), shared by its devices and injector.
	imapCaps *leanimap.CapCache
	// roster is the population: users and byAddr.
	roster
	// events is where the run's events go (events.go).
	events *fanout
	// growth lets users start during the active phase (grow.go).
	growth growth

	stopOnce sync.Once
	stopCh   chan struct{} // closed by Stop: end the active phase now

	phase        atomic.Value // Phase
	usersStarted atomic.Int64
	devices      atomic.Int64
	delivered    atomic.Int64
	sent         atomic.Int64
	actions      atomic.Int64
	actionErrors atomic.Int64
	// actionsDropped counts actions people gave up after maxTries.
	actionsDropped atomic.Int64
	// actionsPlanned, actionsCut and actionsPending count the actions
	// people planned, those the end of the active phase cut under way and
	// those pending when they stopped (Result).
	actionsPlanned, actionsCut, actionsPending atomic.Int64
	// actionsOverdue counts, of actionsPending, those whose turn had come.
	actionsOverdue atomic.Int64
	// submissions counts the devices' submissions by outcome.
	submissions submissionCounts
}

// ErrNoPlan is returned by New without a plan.
var ErrNoPlan = errors.New("engine: no plan")

// New prepares a run: builds every device of every user of the plan. It
// does not connect anywhere yet.
func New(o Options) (*Engine, error) {
	if o.Plan == nil {
		return nil, ErrNoPlan
	}
	if o.Recorder == nil {
		o.Recorder = clients.DiscardRecorder{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := o.Plan.Scenario
	if o.InjectorWorkers <= 0 {
		o.InjectorWorkers = s.MaxParallelDeliveries
	}
	if o.InjectorWorkers <= 0 {
		o.InjectorWorkers = 4
	}
	e := &Engine{
		o:      o,
		plan:   o.Plan,
		log:    o.Logger,
		stopCh: make(chan struct{}),
		roster: roster{byAddr: make(map[string]*user)},
	}
	e.phase.Store(PhaseStarting)
	// The simulated clock starts at a fixed epoch so that message dates are
	// reproducible run to run. Devices share it from their creation on.
	e.clock = simclock.New(s.TimeScale, simEpoch)
	e.events = e.sinks()
	e.auditor = audit.New(audit.Options{
		OnConverged: func(kind audit.ChangeKind, lag time.Duration) {
			e.events.Handle(Event{Type: EventConverged, Kind: string(kind), Lag: lag})
		}})
	groups := make([]string, 0, len(s.Groups))
	for _, g := range s.Groups {
		groups = append(groups, g.Name)
	}
	e.costs = cost.NewMeters(groups, o.Recorder, e.clock.Now)
	e.push = newPushTracker()
	e.rounds = newRoundTracker()
	e.late = transport.NewLateCloser()
	e.imapCaps = &leanimap.CapCache{}
	changes := auditChanges{a: e.auditor, clock: e.clock.Now}
	e.inj = newInjector(injectorParts{
		delivery: o.Endpoints.Delivery, tls: o.Endpoints.TLS, rec: o.Recorder, log: e.log,
		events: e.events, changes: changes, push: e.push, late: e.late, imapCaps: e.imapCaps, queueLen: o.InjectorQueue,
		stopGrace: s.StopGrace,
	}, o.InjectorWorkers)
	people := &env{
		clock: e.clock, queue: e.inj, changes: changes, events: e.events, peers: &e.roster,
		gen: mailgen.Generator{Domain: domain(o.Plan)}, hand: s.Hand, log: e.log,
	}
	e.arrivals = newArrivals(people)
	for _, pu := range o.Plan.Users {
		u, err := e.newUser(pu, people)
		if err != nil {
			return nil, err
		}
		e.users = append(e.users, u)
		e.byAddr[u.plan.Address] = u
		e.auditor.AddUser(u.auditSpec())
	}
	return e, nil
}

// domain is the mail domain of plan's users.
func domain(plan *scenarios.Plan) string {
	if t := plan.Scenario.Target; t != nil && t.Domain != "" {
		return t.Domain
	}
	return "example.com"
}

// simEpoch is the simulated time at which every run starts: a Monday, 08:00 UTC.
var simEpoch = time.Date(2026, time.January, 5, 8, 0, 0, 0, time.UTC)

// Costs returns each group's cost figures so far, sorted by group name (for
// live metrics; the final figures are in Result.Costs).
func (e *Engine) Costs() []cost.Totals { return e.costs.Totals() }

// FinalAudit returns the result of the run's final audit, nil until it
// ran: what only it counts (lost mail, which needs the server's state) is
// unknown before.
func (e *Engine) FinalAudit() *audit.Result { return e.final.Load() }

// Auditor returns the run's auditor, for live gauges.
func (e *Engine) Auditor() *audit.Auditor { return e.auditor }

// Clock returns the run's simulated clock.
func (e *Engine) Clock() *simclock.Clock { return e.clock }

// DeviceCount is the number of running devices of one profile.
type DeviceCount struct {
	Profile, Protocol string
	N                 int
}

// DeviceCounts returns the running devices by profile.
func (e *Engine) DeviceCounts() []DeviceCount {
	counts := map[string]*DeviceCount{}
	var order []string
	for _, u := range e.users {
		for _, d := range u.devices {
			p := d.dev.Profile()
			c, ok := counts[p.Name]
			if !ok {
				c = &DeviceCount{Profile: p.Name, Protocol: string(p.Protocol)}
				counts[p.Name] = c
				order = append(order, p.Name)
			}
			if d.running.Load() {
				c.N++
			}
		}
	}
	out := make([]DeviceCount, 0, len(order))
	for _, name := range order {
		out = append(out, *counts[name])
	}
	return out
}

// UsersByGroup returns the users started so far, by group.
func (e *Engine) UsersByGroup() map[string]int {
	out := map[string]int{}
	for _, u := range e.users {
		if u.started.Load() {
			out[u.plan.Group.Name]++
		}
	}
	return out
}

// Status returns a live snapshot of the run.
func (e *Engine) Status() Status {
	st := Status{
		Phase:        e.phase.Load().(Phase),
		Wall:         e.clock.WallElapsed(),
		Simulated:    e.clock.Elapsed(),
		UsersStarted: int(e.usersStarted.Load()),
		Users:        len(e.users),
		Devices:      int(e.devices.Load()),
		Delivered:    e.delivered.Load(),
		Sent:         e.sent.Load(),
		Actions:      e.actions.Load(),
		ActionErrors: e.actionErrors.Load(),
		// Actions given up.
		ActionsDropped: e.actionsDropped.Load(),
		Submissions:    e.submissions.stats(),
	}
	st.DeliveriesFailed, st.DeliveriesAbandoned = e.inj.failures()
	return st
}

// DeliveriesWaiting returns how many deliveries (one per recipient,
// docs/report.md, Deliveries) wait for one of the injector's connections
// now (handed over, not yet tried) and how long the
// oldest of them has waited (wall time; 0 when none waits). It looks at
// every waiting delivery: a capacity step's close asks, not the progress
// line.
func (e *Engine) DeliveriesWaiting() (n int, oldest time.Duration) {
	return e.inj.oldestWaiting(time.Now())
}

// setPhase enters phase p.
func (e *Engine) setPhase(p Phase) {
	e.phase.Store(p)
	e.events.Handle(Event{Type: EventPhase, Phase: p})
}

// Stop ends the active phase now: people stop acting and mail stops
// arriving; devices keep syncing through a short settle, then the run ends
// with its final audit. After the active phase, it shortens the wait for
// the people, the injector's drain and the settle phase to
// stoppedEarlySettle each. Safe to call
// more than once and from any goroutine.
func (e *Engine) Stop() {
	e.stopOnce.Do(func() { close(e.stopCh) })
}

// stoppedEarlySettle bounds the settle phase, and the wait for the people
// before it, after Stop.
const stoppedEarlySettle = 3 * time.Second

// Run runs the plan: ramp-up, the active phase, settle and the final audit.
// Cancelling ctx aborts at once, in every phase: devices are closed, the
// reading of the server's state stops, and the final audit still runs on
// what the devices show (the users whose state was not read are counted in
// Result.Audit.UsersUnchecked). Stop ends the run gracefully. Reading the
// server's state at the end has a budget (serverstate.Budget); the error then
// says how many users were not read.
func (e *Engine) Run(ctx context.Context) (*Result, error) {
	// The placeholders of connections closed in the last second are
	// closed when the run returns.
	defer e.late.Flush()
	s := e.plan.Scenario
	duration := e.plan.Duration
	settle := s.Settle
	if e.o.Settle != nil {
		settle = *e.o.Settle
	}
	started := time.Now()

	devCtx, stopDevices := context.WithCancel(ctx)
	defer stopDevices()
	// lateCtx is the people's after the active phase (the actions it cut
	// short are finished on it while the devices run): it ends when the
	// wait for them runs out (waitPeople).
	lateCtx, stopLate := context.WithCancel(devCtx)
	defer stopLate()
	actCtx, stopActing := context.WithCancel(lateCtx)
	defer stopActing()

	var devWG, actWG sync.WaitGroup
	injCtx, stopInjector := context.WithCancel(devCtx)
	defer stopInjector()
	var injWG sync.WaitGroup
	injWG.Add(1)
	go func() { defer injWG.Done(); e.inj.run(injCtx) }()

	// Periodic audits, off the hot path.
	auditCtx, stopAudits := context.WithCancel(context.Background())
	auditDone := make(chan struct{})
	go func() {
		defer close(auditDone)
		e.auditLoop(auditCtx, s.Audit)
	}()

	// Inbound mail arrives on its schedule until the active phase ends.
	arrivalsDone := make(chan struct{})
	go func() { defer close(arrivalsDone); e.arrivals.run(actCtx) }()

	e.openGrowth(devCtx, lateCtx, actCtx, &devWG, &actWG)
	e.setPhase(PhaseActive)
	interrupted := false
	// Ramp-up: user i starts at i*rampUp/n after the start.
	rampUp := s.RampUp
	if rampUp > duration {
		rampUp = duration
	}
	startUsers := make(chan struct{})
	go func() {
		defer close(startUsers)
		if e.o.Grow {
			return // AddUsers starts the users
		}
		n := len(e.users)
		for i, u := range e.users {
			if rampUp > 0 && n > 1 {
				at := time.Duration(int64(rampUp) * int64(i) / int64(n))
				if wait := time.Until(started.Add(at)); wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-actCtx.Done():
						t.Stop()
						return
					case <-e.stopCh:
						t.Stop()
						return
					}
				}
			}
			if !e.startUser(u) {
				return
			}
		}
		e.events.Handle(Event{Type: EventRampedUp})
	}()

	// Active phase.
	active := time.NewTimer(duration)
	select {
	case <-active.C:
	case <-e.stopCh:
		interrupted = true
		settle = min(settle, stoppedEarlySettle)
	case <-ctx.Done():
		interrupted = true
	}
	active.Stop()

	// Settle: people stop acting and inbound mail stops; devices keep syncing.
	e.setPhase(PhaseSettle)
	stopActing()
	e.closeGrowth()
	<-startUsers
	<-arrivalsDone
	pw := peopleBudget(settle, interrupted)
	if e.o.PeopleWait > 0 && !interrupted {
		pw = e.o.PeopleWait
	}
	peopleWait, peopleCut := e.waitPeople(ctx, &actWG, pw, stopLate)
	drainCtx, stopDrain := e.shortenedByStop(ctx)
	e.inj.drain(drainCtx)
	stopDrain()
	settled := e.settle(ctx, settle, s.SettleUntil)
	settled.PeopleWait, settled.PeopleCut = peopleWait, peopleCut

	// Stop devices, then audit what they show.
	e.setPhase(PhaseAudit)
	simElapsed := e.clock.Elapsed()
	stopInjector()
	injWG.Wait()
	stopDevices()
	devWG.Wait()
	stopAudits()
	<-auditDone

	res := &Result{
		StartedAt:    started,
		Wall:         time.Since(started),
		Simulated:    simElapsed,
		Users:        e.population(),
		UsersStarted: int(e.usersStarted.Load()),
		Devices:      e.deviceTotal(),
		Delivered:    e.delivered.Load(),
		Sent:         e.sent.Load(),
		Submissions:  e.submissions.stats(),
		Deliveries:   e.inj.finish(),
		Costs:        e.costs.Totals(),
		Interrupted:  interrupted || ctx.Err() != nil,
		Settle:       settled,
		Push:         e.push.result(),
		SyncRounds:   e.rounds.result(),
	}
	res.Actions, res.ActionErrors, res.ActionsDropped = e.actions.Load(), e.actionErrors.Load(), e.actionsDropped.Load()
	res.ActionsPlanned, res.ActionsCut, res.ActionsPending = e.actionsPlanned.Load(), e.actionsCut.Load(), e.actionsPending.Load()
	res.ActionsOverdue = e.actionsOverdue.Load()
	// Reading the server's state has a budget and ends with ctx (a second
	// ^C): a server that stops answering delays the report by the budget at
	// most. Users whose state was not read are audited on their devices
	// alone (audit.Result.UsersUnchecked).
	budget := e.o.FinalBudget
	if budget <= 0 {
		budget = serverstate.Budget(len(e.users))
	}
	readCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var truth audit.Truth
	var truthErr error
	if e.o.Truth != nil {
		names := make([]string, len(e.users))
		for i, u := range e.users {
			names[i] = u.plan.Username
		}
		var read serverstate.Snapshots
		read, truthErr = serverstate.ReadAll(readCtx, e.o.Truth, names)
		truth = read
	}
	// The cached state is in memory: the audit itself needs no deadline,
	// and must run even when ctx has ended, on what the devices show.
	ar, err := e.auditor.Final(context.WithoutCancel(ctx), truth)
	res.Audit = ar
	e.final.Store(&ar)
	e.setPhase(PhaseDone)
	if truthErr != nil {
		// Final's error only repeats that some users were not read.
		err = truthErr
		res.StateUnread = stateUnread(ctx, readCtx, budget, truthErr)
	}
	if err != nil {
		return res, fmt.Errorf("final audit: %w", err)
	}
	return res, nil
}

// stateUnread says why the final read of the server's state (readCtx,
// within budget, ended by ctx) left users unread, with its error.
func stateUnread(ctx, readCtx context.Context, budget time.Duration, err error) string {
	switch {
	case ctx.Err() != nil:
		return fmt.Sprintf("the read was aborted by a second ^C or SIGTERM: %v", err)
	case readCtx.Err() != nil:
		return fmt.Sprintf("the read ran out of its budget of %s: %v", budget.Round(time.Second), err)
	}
	return err.Error()
}

// shortenedByStop returns a context that also ends stoppedEarlySettle
// after Stop (the wait for the people and the injector's drain: a first
// ^C shortens them too).
func (e *Engine) shortenedByStop(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-c.Done():
			return
		case <-e.stopCh:
		}
		t := time.NewTimer(stoppedEarlySettle)
		defer t.Stop()
		select {
		case <-c.Done():
		case <-t.C:
			cancel()
		}
	}()
	return c, cancel
}

// minPeopleWait is the least peopleBudget gives the people: a command's
// deadline (30 s), so that one late try on a slow server is not cut.
const minPeopleWait = 30 * time.Second

// peopleBudget bounds (wall time) the wait, after the active phase, for
// the people to finish the actions it cut short (finishSubmitted): the
// settle phase's maximum, at least minPeopleWait; stoppedEarlySettle after
// Stop.
func peopleBudget(settle time.Duration, stopped bool) time.Duration {
	if stopped {
		return stoppedEarlySettle
	}
	return max(settle, minPeopleWait)
}

// waitPeople waits for the people (wg) for at most limit, or
// stoppedEarlySettle from a Stop that comes meanwhile, or until ctx ends.
// When that runs out it calls cut, which ends the people's context, and
// waits for them to return: their unfinished actions are given up and
// counted (actionsDropped, by finishSubmitted). It returns how long it
// waited and whether it cut.
func (e *Engine) waitPeople(ctx context.Context, wg *sync.WaitGroup, limit time.Duration, cut func()) (time.Duration, bool) {
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		wg.Wait()
	}()
	short, cancel := e.shortenedByStop(ctx)
	defer cancel()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return time.Since(start), false
	case <-t.C:
	case <-short.Done():
	}
	cut()
	<-done
	return time.Since(start), true
}

// settle lets devices sync for at most limit (wall time), or
// stoppedEarlySettle from a Stop that comes meanwhile; until synced, it
// ends as soon as no change waits for a device that has not synced since
// the change (audit.Auditor.WaitingForSync), looked at every audit
// interval.
func (e *Engine) settle(ctx context.Context, limit time.Duration, until scenarios.SettleUntil) (out SettleOutcome) {
	out = SettleOutcome{Until: until, Max: limit}
	if until == "" {
		out.Until = scenarios.SettleTimer
	}
	start := time.Now()
	defer func() { out.Wall = time.Since(start) }()
	switch {
	case ctx.Err() != nil:
		out.Ended = SettleEndAborted
		return out
	case limit <= 0:
		out.Ended = SettleEndNone
		return out
	}
	t := time.NewTimer(limit)
	defer t.Stop()
	var tick <-chan time.Time
	if out.Until == scenarios.SettleSynced {
		tk := time.NewTicker(max(e.plan.Scenario.Audit, minSettlePoll))
		defer tk.Stop()
		tick = tk.C
	}
	stop := e.stopCh
	for {
		select {
		case <-stop:
			// A Stop during settle shortens it as a Stop before it.
			stop = nil
			if left := limit - time.Since(start); left > stoppedEarlySettle {
				t.Reset(stoppedEarlySettle)
				out.Max = time.Since(start) + stoppedEarlySettle
			}
		case <-t.C:
			out.Ended = SettleEndTimer
			if tick != nil {
				out.Ended, out.Waiting = SettleEndMax, e.auditor.WaitingForSync()
			}
			return out
		case <-ctx.Done():
			out.Ended = SettleEndAborted
			return out
		case <-tick:
			if out.Waiting = e.auditor.WaitingForSync(); out.Waiting == 0 {
				out.Ended = SettleEndSynced
				return out
			}
		}
	}
}

// minSettlePoll bounds how often an until-synced settle looks.
const minSettlePoll = 100 * time.Millisecond

func (e *Engine) deviceTotal() int {
	n := 0
	for _, u := range e.users {
		if !e.o.Grow || u.started.Load() {
			n += len(u.devices)
		}
	}
	return n
}

// population is the number of users of the run: the plan's, or with Grow
// those AddUsers started.
func (e *Engine) population() int {
	if e.o.Grow {
		return int(e.usersStarted.Load())
	}
	return len(e.users)
}

func (e *Engine) auditLoop(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.auditor.Audit()
			e.events.Handle(Event{Type: EventAudit})
		}
	}
}
