package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/capacity"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// restartReason says why the growth phase of a search cannot run on one
// live population, or "" when it can: every QoS line must be measurable
// over a step's own window (docs/capacity.md, "Live growth"). Lines that
// need a population's final audit, its settle or a whole run's cost
// cannot be: a live population has those only at its end, and they would
// mix every step's users and changes.
func restartReason(qos []scenarios.Threshold) string {
	for _, q := range qos {
		switch q.Metric {
		case "p50", "p95", "p99", "error_rate", "login_failure_rate", "delivery_failure_rate", "delivery_failed",
			"submission_failure_rate":
		case "lost_messages", "divergence_ratio", "users_converged_ratio":
			return fmt.Sprintf("the QoS line %q needs the final audit of a population, which a live population has only at its end", q.Expr)
		case "convergence_p50", "convergence_p99":
			return fmt.Sprintf("the QoS line %q needs the changes made within a step to converge after it (a settle), which a live population has only at its end", q.Expr)
		default:
			return fmt.Sprintf("the QoS line %q is measured over a whole run, not over a step's window", q.Expr)
		}
	}
	return ""
}

// liveGrowthNote is Result.GrowthReason of a live search.
const liveGrowthNote = "every QoS line is measured over each step's own window"

// liveRun is the growth phase of a search on one live population: one
// server (the embedded one, or the target), one engine whose population
// grows by engine.AddUsers from step to step. Each step measures its own
// window, after its newcomers' ramp-up: commands, deliveries and the
// harness over the window, logins from the step's first newcomer on.
type liveRun struct {
	sr *stepRunner

	plan   *scenarios.Plan
	client *metrics.Client
	// gate is the devices' recorder in front of client, always open: it
	// tracks the commands in flight when a step's window closes.
	gate  *windowGate
	tally *deliveryTally
	tgt   *target
	eng   *engine.Engine
	mon   *harnessmon.Monitor
	began time.Time
	users int // users started so far
	// stepStart are the counts at the start of the last step that added
	// users: a step that adds none (a retry) counts its logins from there.
	stepStart liveCounts

	cancel context.CancelFunc
	done   chan struct{} // closed when the engine's Run returned
	runErr error
}

// liveDuration bounds the live population's active phase: every growth
// step, each run twice (a saturated step's retry), with its ramp-up and
// window, plus a minute.
func liveDuration(s *scenarios.Scenario, c scenarios.Capacity, start, maxUsers int, growth float64) time.Duration {
	if growth <= 1 {
		growth = 2
	}
	steps := 1
	for u := start; u < maxUsers; steps++ {
		u = min(maxUsers, max(u+1, int(math.Ceil(float64(u)*growth))))
	}
	return time.Duration(2*steps)*(s.RampUp+c.StepDuration) + time.Minute
}

// growthOrder returns plan with its users ordered so that every prefix of
// the population holds the groups in their shares as closely as whole
// users can (the largest deficit first): a live population of n users is
// then what a plan of n users would hold.
func growthOrder(plan *scenarios.Plan) *scenarios.Plan {
	s := plan.Scenario
	share := map[string]float64{}
	total := 0.0
	for _, g := range s.Groups {
		share[g.Name] += g.Share
		total += g.Share
	}
	queues := map[string][]*scenarios.User{}
	var names []string
	for _, u := range plan.Users {
		if _, ok := queues[u.Group.Name]; !ok {
			names = append(names, u.Group.Name)
		}
		queues[u.Group.Name] = append(queues[u.Group.Name], u)
	}
	out := *plan
	out.Users = make([]*scenarios.User, 0, len(plan.Users))
	taken := map[string]int{}
	for len(out.Users) < len(plan.Users) {
		best, bestDeficit := "", math.Inf(-1)
		n := float64(len(out.Users) + 1)
		for _, g := range names {
			if taken[g] == len(queues[g]) {
				continue
			}
			if d := n*share[g]/total - float64(taken[g]); d > bestDeficit {
				best, bestDeficit = g, d
			}
		}
		out.Users = append(out.Users, queues[best][taken[best]])
		taken[best]++
	}
	return &out
}

// start builds the live population (without users yet) and starts its
// run in the background; at is the step that opens it.
func (lr *liveRun) start(ctx context.Context, at populationOpen) error {
	sr := lr.sr
	plan, err := scenarios.NewPlan(sr.s, scenarios.PlanOptions{Users: sr.liveMax,
		Duration: liveDuration(sr.s, sr.c, sr.liveStart, sr.liveMax, sr.c.Growth)})
	if err != nil {
		return err
	}
	lr.plan = growthOrder(plan)
	reg := metrics.NewRegistry()
	lr.client = metrics.NewClient(reg)
	lr.gate = &windowGate{next: lr.client}
	lr.gate.open.Store(true)
	lr.tally = &deliveryTally{Observer: lr.client, done: map[string]int64{},
		lateWall: report.QueueLateWall(lr.plan.Scenario.TimeScale)}
	tgt, err := sr.openTarget(ctx, lr.plan, reg, at)
	if err != nil {
		return err
	}
	lr.tgt = tgt
	lr.mon = harnessmon.New(sr.guard)
	active := make(chan struct{})
	var once sync.Once
	noSettle := time.Duration(0)
	eng, _, err := newRunEngine(lr.plan, execution{reg: reg, client: lr.client, recorder: lr.gate, tgt: tgt, log: sr.log,
		late: lr.mon,
		onPhase: func(p engine.Phase) {
			if p != engine.PhaseStarting {
				once.Do(func() { close(active) })
			}
		}}, func(o *engine.Options) {
		o.Grow = true
		o.Observer = lr.tally
		// The growth phase ends without settle or final audit: no QoS
		// line of a live search needs them (restartReason).
		o.Truth, o.Settle = nil, &noSettle
	})
	if err != nil {
		tgt.close()
		return err
	}
	lr.eng = eng
	sr.gatherer.Set(reg)
	sr.running.Store(eng)
	runCtx, cancel := context.WithCancel(ctx)
	lr.cancel, lr.done, lr.began = cancel, make(chan struct{}), time.Now()
	go func() {
		defer close(lr.done)
		_, lr.runErr = eng.Run(runCtx)
	}()
	select {
	case <-active:
		return nil
	case <-lr.done:
		return fmt.Errorf("the live population ended before it began: %w", lr.runErr)
	}
}

// close ends the live population: people stop, devices log out, the
// target is closed. Safe to call more than once.
func (lr *liveRun) close() {
	if lr.eng == nil {
		return
	}
	lr.eng.Stop()
	t := time.NewTimer(liveStopGrace)
	select {
	case <-lr.done:
	case <-t.C:
		lr.cancel() // a server that does not answer: abort
		<-lr.done
	}
	t.Stop()
	lr.cancel()
	lr.tgt.close()
	lr.sr.gatherer.Set(nil)
	lr.eng = nil
}

// liveStopGrace bounds how long the live population may take to stop
// gracefully before it is aborted.
const liveStopGrace = 30 * time.Second

// ended is the error of a step whose live population ended under it.
func (lr *liveRun) ended(ctx context.Context) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case lr.sr.stopping.Load():
		return errStopped
	case lr.runErr != nil:
		return fmt.Errorf("the live population ended: %w", lr.runErr)
	}
	return errors.New("the live population ended before the growth phase did (its active phase is bounded)")
}

// liveCounts are the counters a step subtracts.
type liveCounts struct {
	logins     map[string]map[string]uint64 // protocol → outcome → count
	closedIdle map[string]uint64            // protocol → connections the server closed while idle
	deliveries map[string]int64             // outcome → count
	// submissions are the devices' submissions ended, by outcome.
	submissions engine.SubmissionStats
}

func (lr *liveRun) counts() liveCounts {
	c := liveCounts{logins: map[string]map[string]uint64{}, closedIdle: map[string]uint64{}, deliveries: lr.tally.snapshot(),
		submissions: lr.eng.Status().Submissions}
	for proto, pt := range lr.client.Totals().Protocols {
		c.logins[proto] = pt.Logins
		c.closedIdle[proto] = pt.ClosedIdle
	}
	return c
}

// step brings the live population to users and measures one step: the
// newcomers ramp up over the scenario's ramp_up, then the window lasts
// step_duration.
func (lr *liveRun) step(ctx context.Context, users int) (capacity.Step, error) {
	sr := lr.sr
	if sr.stopping.Load() {
		return capacity.Step{}, errStopped
	}
	if lr.eng == nil {
		// The step that opens the population is the next one counted.
		if err := lr.start(ctx, populationOpen{step: sr.steps.Load() + 1, users: users}); err != nil {
			return capacity.Step{}, err
		}
	}
	sr.steps.Add(1)
	started := time.Now()
	sr.progress.Start(users)
	before := lr.counts()
	if users > lr.users || lr.stepStart.logins == nil {
		lr.stepStart = before
	} else {
		before = lr.stepStart
	}
	n, err := lr.eng.AddUsers(ctx, users-lr.users)
	lr.users += n
	if err != nil {
		select {
		case <-lr.done:
			return capacity.Step{}, lr.ended(ctx)
		default:
		}
		if ctx.Err() != nil {
			return capacity.Step{}, ctx.Err()
		}
		if sr.stopping.Load() {
			return capacity.Step{}, errStopped
		}
		return capacity.Step{}, fmt.Errorf("adding %d users to the live population: %w", users-lr.users+n, err)
	}
	mark := lr.mon.Mark()
	lr.tally.openWindow(time.Now())
	from := time.Since(lr.began)
	cmds0 := lr.client.Stats()
	open := lr.counts()
	var srv0 uint64
	if lr.tgt.server != nil {
		srv0, _ = serverTotals(lr.tgt.server)
	}
	res, err := newStepResources(sr.s, lr.tgt)
	if err != nil {
		return capacity.Step{}, err
	}
	res.open(ctx)
	resClosed := false
	defer func() {
		if !resClosed {
			res.close() // ends the exporter's sampling with the step
		}
	}()
	t := time.NewTimer(sr.c.StepDuration)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
		return capacity.Step{}, ctx.Err()
	case <-lr.done:
		t.Stop()
		return capacity.Step{}, lr.ended(ctx)
	case <-sr.stopSignal():
		// A stop cut the window short: the step is not counted.
		t.Stop()
		return capacity.Step{}, errStopped
	}
	if sr.stopping.Load() {
		return capacity.Step{}, errStopped
	}
	window := lr.mon.Since(mark)
	to := time.Since(lr.began)
	// The commands still waiting for the server count as samples of their
	// age at the close (docs/capacity.md, One step).
	var stats map[string]map[string]metrics.CommandStats
	stalled := lr.gate.snapshot(time.Now(), func() { stats = lr.client.Stats() })
	// Inbound mail still waiting for a connection at the close, and how
	// long, and mail that waited too long within the window
	// (docs/capacity.md, One step).
	var queue report.QueueWindow
	queue.Waiting, queue.Oldest = lr.eng.DeliveriesWaiting()
	queue.Late, queue.Longest = lr.tally.lateInWindow()
	cmds := addCommandSamples(metrics.StatsSince(stats, cmds0), stalled)
	end := lr.counts()
	var srvN uint64
	if lr.tgt.server != nil {
		n, _ := serverTotals(lr.tgt.server)
		srvN = n - srv0
	}
	res.close()
	resClosed = true
	var ncmds int64
	for _, m := range cmds {
		for _, c := range m {
			ncmds += int64(c.Count)
		}
	}
	in := lr.windowInput(users, window.Wall, cmds, before, open, end)
	in.Pending = pendingByProtocol(stalled)
	rep := report.Build(in)
	// Validity asks for a successful login for every protocol the devices
	// use: over the live population's life, not only the step's (the
	// earlier users of a protocol may not log in again within it).
	in.Logins, in.Thresholds = loginsSince(liveCounts{}, end), nil
	rep.Validity = report.Build(in).Validity
	st := stepOf(rep, window, ncmds, time.Since(started))
	// The window's notes (commands that failed, dropped, ...), but the
	// audit's: no audit runs per window.
	st.RunNotes = runNotes(rep, []string{report.StateUnreadNote})
	if p := report.QueueWindowProblem(queue, lr.plan.Scenario.TimeScale); p != "" {
		st.Pass = false
		st.Invalid = append(st.Invalid, p)
	}
	st.Server = res.result(window.Wall.Seconds())
	// No audit ran and the server's peak is not known per window.
	st.Metrics["lost"], st.Metrics["peak_connections"] = math.NaN(), math.NaN()
	st.Metrics["server_commands_per_second"] = math.NaN()
	if lr.tgt.server != nil && window.Wall > 0 {
		st.Metrics["server_commands_per_second"] = float64(srvN) / window.Wall.Seconds()
	}
	st.Metrics["window_from_s"], st.Metrics["window_to_s"] = from.Seconds(), to.Seconds()
	st.Metrics["users_added"] = float64(n)
	sr.finishStep(users, st)
	return st, nil
}

// addCommandSamples returns cmds with the commands evs added, each as one
// more sample of its Duration. evs are commands still in flight at a
// step's close (windowGate.snapshot), with no outcome yet: they add to
// the count and the latencies, and no error or drop (the report leaves
// them out of error_rate as pending, report.Input.Pending).
func addCommandSamples(cmds map[string]map[string]metrics.CommandStats, evs []clients.CommandEvent) map[string]map[string]metrics.CommandStats {
	if len(evs) == 0 {
		return cmds
	}
	scratch := metrics.NewClient(metrics.NewRegistry())
	for _, ev := range evs {
		scratch.Command(ev)
	}
	for proto, m := range scratch.Stats() {
		if cmds[proto] == nil {
			cmds[proto] = map[string]metrics.CommandStats{}
		}
		for name, add := range m {
			c := cmds[proto][name]
			// No Errors or Dropped to add: an in-flight sample's outcome
			// is OutcomeOK (windowGate.inFlightLocked), so add's are 0.
			c.Count += add.Count
			c.Sum += add.Sum
			c.Max = math.NaN()
			for i, n := range add.Buckets {
				if c.Buckets == nil {
					c.Buckets = map[int]uint64{}
				}
				c.Buckets[i] += n
			}
			c.P50, c.P95, c.P99, _ = metrics.LatencyQuantiles(c.Buckets, 0)
			cmds[proto][name] = c
		}
	}
	return cmds
}

// windowInput is the report input of one live step: the commands of its
// window, the deliveries and the devices' submissions that ended in it,
// and the logins from the step's
// start (its newcomers' ramp-up) to the window's end. No audit: the QoS
// lines of a live search need none (restartReason).
func (lr *liveRun) windowInput(users int, wall time.Duration, cmds map[string]map[string]metrics.CommandStats, before, open, end liveCounts) report.Input {
	s := lr.plan.Scenario
	in := report.Input{
		Scenario: s.Name, Seed: lr.plan.Seed, Wall: wall, Users: users,
		Commands:   commandStats(cmds),
		Thresholds: lr.sr.c.QoS, ThresholdScope: stepScope, ValidityChecksOff: s.ValidityChecksOff,
		Audit: audit.Result{},
	}
	in.Logins = loginsSince(before, end)
	dc := report.DeliveryCounts{Failed: map[string]int64{}}
	for outcome, n := range end.deliveries {
		d := n - open.deliveries[outcome]
		switch {
		case d <= 0:
		case outcome == engine.DeliveryOK:
			dc.Delivered += d
			dc.Attempted += d
		case outcome == engine.DeliveryAbandoned:
			dc.Abandoned += d
		default:
			dc.Failed[outcome] += d
			dc.Attempted += d
		}
	}
	in.Deliveries, in.Delivered = dc, int(dc.Delivered)
	// The submissions that ended in the window, by outcome.
	b, e := open.submissions, end.submissions
	in.Submissions = report.Submissions{Sent: e.Sent - b.Sent, Failed: e.Failed - b.Failed,
		Unanswered: e.Unanswered - b.Unanswered, UnansweredAtEnd: e.UnansweredAtEnd - b.UnansweredAtEnd, Cut: e.Cut - b.Cut}
	protos := map[clients.Protocol]bool{}
	for _, u := range lr.plan.Users[:min(users, len(lr.plan.Users))] {
		for _, d := range u.Devices {
			if !protos[d.Profile.Protocol] {
				protos[d.Profile.Protocol] = true
				in.DeviceProtocols = append(in.DeviceProtocols, string(d.Profile.Protocol))
			}
		}
	}
	return in
}

// loginsSince are the logins counted between two counts, by protocol,
// with the connections the server closed while their device was idle
// (LoginStat.ClosedIdle) in between.
func loginsSince(before, end liveCounts) map[string]report.LoginStat {
	out := map[string]report.LoginStat{}
	for proto, now := range end.logins {
		d := map[string]uint64{}
		for outcome, n := range now {
			if n > before.logins[proto][outcome] {
				d[outcome] = n - before.logins[proto][outcome]
			}
		}
		ls := loginStat(d)
		if n := end.closedIdle[proto]; n > before.closedIdle[proto] {
			ls.ClosedIdle = n - before.closedIdle[proto]
		}
		out[proto] = ls
	}
	return out
}

// deliveryTally counts how the injector's deliveries ended, by outcome,
// in front of the run's observer: a live step subtracts two snapshots. It
// also watches the queue's waits within a step's window (openWindow,
// lateInWindow).
type deliveryTally struct {
	engine.Observer
	// lateWall is the wait for a delivery connection that is late
	// (report.QueueLateWall of the run's time_scale).
	lateWall time.Duration
	// now reads the clock; time.Now when nil.
	now func() time.Time

	mu   sync.Mutex
	done map[string]int64 // outcome → count; outcomes are engine.DeliveryOutcomes
	// from is the open window's start; late and longest count the
	// deliveries that left the queue in it after passing lateWall in it.
	from    time.Time
	late    int
	longest time.Duration
}

// DeliveryDone implements engine.Observer.
func (d *deliveryTally) DeliveryDone(via, outcome string) {
	d.mu.Lock()
	d.done[outcome]++
	d.mu.Unlock()
	d.Observer.DeliveryDone(via, outcome)
}

// DeliveryQueued implements engine.QueueObserver: a delivery left the
// queue after wait. One that waited past lateWall, and passed it after
// the window opened, counts against the window: the queue was late in
// it, even if it drained before the close. Lateness carried in from
// before the window does not (the step's population did not make it),
// unless it is still waiting at the close (Engine.DeliveriesWaiting).
// The waits go on to the Observer when it watches the queue
// (metrics.Client does), which embedding engine.Observer alone would
// hide.
func (d *deliveryTally) DeliveryQueued(via string, wait time.Duration) {
	if wait > d.lateWall {
		now := time.Now
		if d.now != nil {
			now = d.now
		}
		became := now().Add(d.lateWall - wait)
		d.mu.Lock()
		if !d.from.IsZero() && !became.Before(d.from) {
			d.late++
			d.longest = max(d.longest, wait)
		}
		d.mu.Unlock()
	}
	if q, ok := d.Observer.(engine.QueueObserver); ok {
		q.DeliveryQueued(via, wait)
	}
}

// openWindow starts a step's window at t: the late waits counted from
// now on are those that passed lateWall at or after t.
func (d *deliveryTally) openWindow(t time.Time) {
	d.mu.Lock()
	d.from, d.late, d.longest = t, 0, 0
	d.mu.Unlock()
}

// lateInWindow returns how many deliveries left the queue late within the
// window opened last, and the longest of their waits.
func (d *deliveryTally) lateInWindow() (int, time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.late, d.longest
}

func (d *deliveryTally) snapshot() map[string]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return maps.Clone(d.done)
}
