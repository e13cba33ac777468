package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/capacity"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// capacityFlags are the flags of "mailsim capacity".
type capacityFlags struct {
	targetPath, reportPath, htmlPath string
	quiet, verbose                   bool
	startUsers, maxUsers             int
	step, settle                     time.Duration
	metricsAddr                      string
	// harness are the harness guard's limits (internal/harnessmon): a
	// step above either is harness-saturated.
	harness harnessFlags
	linger  time.Duration
	profile profileFlags
	procs   procsFlag
	// restart runs every step on a fresh population, even where the
	// growth phase could grow a live one.
	restart bool
}

// cmdCapacity implements "mailsim capacity FILE|NAME": it searches the
// largest population the target holds within the scenario's QoS
// (docs/capacity.md).
func cmdCapacity(args []string, stdout, stderr io.Writer) (code int) {
	var f capacityFlags
	fs := newFlagSet("capacity", "capacity FILE|NAME [flags]", stderr)
	fs.StringVar(&f.targetPath, "target", "", "search against the server in this YAML file (one target: block) instead of the scenario's target or the embedded server")
	fs.StringVar(&f.reportPath, "report", "", "write the JSON capacity report to this file")
	fs.StringVar(&f.htmlPath, "html", "", "write the HTML capacity report to this file")
	fs.BoolVar(&f.quiet, "quiet", false, "no line per step on stderr")
	fs.BoolVar(&f.verbose, "v", false, verboseHelp)
	fs.IntVar(&f.startUsers, "start-users", 0, "override capacity.start_users")
	fs.IntVar(&f.maxUsers, "max-users", 0, "override capacity.max_users")
	fs.DurationVar(&f.step, "step-duration", 0, "override capacity.step_duration (a step's active phase after its ramp-up; docs/capacity.md, One step)")
	fs.DurationVar(&f.settle, "settle", -1, "override the settle phase of every step (wall clock; -1 keeps the scenario's)")
	f.harness.register(fs, "a step")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address during the search: the search's progress (mailsim_capacity_*) and the running step's run metrics")
	fs.DurationVar(&f.linger, "linger", 15*time.Second, "with --metrics-addr: keep serving this long after the search so the last values are scraped (0 to skip)")
	fs.BoolVar(&f.restart, "restart", false, "run every step on a fresh population: never grow a live one (docs/capacity.md, Live growth)")
	f.profile.register(fs)
	f.procs.register(fs, procsAll)
	scenario, code, stop := parseScenarioFlags(fs, args, &f.procs, stderr)
	if stop {
		return code
	}
	if errs := checkOutputs(map[string]string{"--report": f.reportPath, "--html": f.htmlPath}); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "mailsim capacity: %v\n", err)
		}
		return exitScenario
	}
	// 0 is the default of the overrides ("keep the scenario's"): a value
	// given that cannot be one is refused, not ignored.
	bad := []error{checkCount(fs, "start-users", f.startUsers), checkCount(fs, "max-users", f.maxUsers)}
	if givenFlags(fs)["step-duration"] && f.step <= 0 {
		bad = append(bad, fmt.Errorf("--step-duration %s: want a positive duration", f.step))
	}
	bad = append(bad, checkSettle(f.settle))
	if err := errors.Join(bad...); err != nil {
		fmt.Fprintf(stderr, "mailsim capacity: %v\n", err)
		return exitScenario
	}
	s, err := (runFlags{targetPath: f.targetPath}).scenario(scenario)
	if err != nil {
		printScenarioError(stderr, "capacity", err)
		return exitScenario
	}
	c := s.Capacity
	if f.startUsers > 0 {
		c.StartUsers = f.startUsers
		if f.maxUsers == 0 && c.MaxUsers < c.StartUsers {
			c.MaxUsers = 100 * c.StartUsers
		}
	}
	if f.maxUsers > 0 {
		c.MaxUsers = f.maxUsers
	}
	if f.step > 0 {
		c.StepDuration = f.step
	}
	var notes []string
	if s.Users.File != "" && len(s.Users.Names) < c.MaxUsers {
		// The target's user list bounds every population, live or not.
		notes = append(notes, fmt.Sprintf("max_users lowered from %d to the %d users %s lists", c.MaxUsers, len(s.Users.Names), s.Users.File))
		c.MaxUsers = len(s.Users.Names)
	}
	guard, err := f.harness.options(0)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim capacity: %v\n", err)
		return exitScenario
	}
	if len(c.QoS) == 0 {
		fmt.Fprintln(stderr, "mailsim capacity: the scenario names no QoS line: add capacity.qos (or thresholds), e.g. \"p95(imap.UID FETCH) < 300ms\"")
		return exitScenario
	}
	windowWarnings, err := checkStepWindow(s, c)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim capacity: %v\n", err)
		return exitScenario
	}
	warnings := append(windowWarnings, networkWarnings(s)...)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mailsim capacity: warning: %s\n", w)
	}
	notes = append(notes, warnings...)
	opts := capacity.Options{Start: c.StartUsers, Max: c.MaxUsers, Growth: c.Growth, Resolution: c.Resolution, Confirm: c.Confirm}
	if errs := opts.Validate(); len(errs) > 0 {
		fmt.Fprintf(stderr, "mailsim capacity: %v\n", errors.Join(errs...))
		return exitScenario
	}
	prof, err := f.profile.start()
	if err != nil {
		fmt.Fprintf(stderr, "mailsim capacity: %v\n", err)
		return exitScenario
	}
	defer func() { code = prof.finish("capacity", stderr, code) }()
	cores, stopProcs := f.procs.start()
	defer stopProcs()
	guard.Cores = cores

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopping, lingering atomic.Bool
	var running atomic.Pointer[engine.Engine]

	level := slog.LevelError
	if f.verbose {
		level = slog.LevelWarn
	}
	capReg := metrics.NewRegistry()
	metrics.RunInfo(capReg, s.Name, "1/1")
	sr := &stepRunner{s: s, c: c, flags: f, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		stderr: stderr, running: &running, stopping: &stopping,
		progress: metrics.NewCapacity(capReg), gatherer: &metrics.SwappableGatherer{Base: capReg},
		guard: guard}
	// First signal: cut the running step (it is not counted) and end the
	// search with what it found; once the search is over (--linger), end
	// the linger; second: abort.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			}
			if lingering.Load() {
				fmt.Fprintln(stderr, "\nmailsim capacity: ending --linger: the final metrics are no longer served")
				cancel()
				return
			}
			if n == 1 {
				fmt.Fprintln(stderr, "\nmailsim capacity: stopping: the running step is cut and not counted, the report is written; press ^C again to abort")
				sr.requestStop()
				continue
			}
			fmt.Fprintln(stderr, "\nmailsim capacity: aborting")
			cancel()
			return
		}
	}()
	if f.metricsAddr != "" {
		addr, err := metrics.Serve(ctx, f.metricsAddr, sr.gatherer)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim capacity: --metrics-addr: %v\n", err)
			return exitScenario
		}
		fmt.Fprintf(stderr, "serving metrics on http://%s/metrics\n", addr)
	}
	// The growth phase grows one live population when every QoS line can
	// be measured over a step's own window (capacity_live.go).
	opts.GrowthReason = restartReason(c.QoS)
	switch {
	case f.restart:
		opts.GrowthReason = "--restart"
	case opts.GrowthReason == "":
		opts.GrowthReason = liveGrowthNote
		sr.liveStart, sr.liveMax = c.StartUsers, c.MaxUsers
		lr := &liveRun{sr: sr}
		defer lr.close()
		opts.Live, opts.EndLive = lr.step, lr.close
	}
	if !f.quiet {
		fmt.Fprintf(stderr, "growth: %s (%s)\n", growthMode(opts), opts.GrowthReason)
		opts.OnStep = func(st capacity.Step) {
			fmt.Fprintf(stderr, "step %2d: %s\n", sr.steps.Load(), report.StepLine(report.NewCapacityStep(st)))
		}
	}
	started := time.Now()
	res, err := capacity.Search(ctx, sr.run, opts)
	res.Notes = append(append(notes, sr.mail.notes()...), res.Notes...)
	sr.mail.annotate(&res)
	code = capacityExit(err)
	switch {
	case err == nil, errors.Is(err, capacity.ErrNoPass), errors.Is(err, errStopped), errors.Is(err, capacity.ErrHarness):
	default:
		fmt.Fprintf(stderr, "mailsim capacity: %v\n", err)
		if len(res.Steps) == 0 {
			return code
		}
		// The search's note says where it ended, and why.
	}
	var qos []string
	for _, q := range c.QoS {
		qos = append(qos, q.Expr)
	}
	target := "the embedded server"
	if s.Target != nil && s.Target.IMAP != nil {
		target = s.Target.IMAP.Addr
	}
	rep := report.NewCapacityReport(report.CapacityMeta{
		Scenario: s.Name, Seed: s.Seed, Target: target, StartedAt: started, Wall: time.Since(started), QoS: qos,
		StepSeconds: c.StepDuration.Seconds(), RampUpSeconds: s.RampUp.Seconds(),
	}, res)
	if err := rep.WriteSummary(stdout); err != nil {
		fmt.Fprintf(stderr, "mailsim capacity: summary: %v\n", err)
	}
	for _, out := range []struct {
		path, what string
		write      func(io.Writer) error
	}{{f.reportPath, "JSON report", rep.WriteJSON}, {f.htmlPath, "HTML report", rep.WriteHTML}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, out.write); err != nil {
			fmt.Fprintf(stderr, "mailsim capacity: %s: %v\n", out.path, err)
			code = exitFailure
			continue
		}
		fmt.Fprintf(stderr, "%s: %s\n", out.what, out.path)
	}
	if f.metricsAddr != "" {
		lingering.Store(true)
		linger(ctx, f.linger, stderr)
	}
	return code
}

// capacityExit is the exit code of a search that returned err
// (docs/capacity.md, README "Exit codes"): 0 a capacity was found, 1 not
// even the first step passed, 3 a server unreachable, 4 a search that
// did not end (stopped by ^C, aborted, another error) or found no
// capacity because the harness saturated first.
func capacityExit(err error) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, capacity.ErrNoPass):
		return exitThresholds
	case errors.Is(err, serverstate.ErrUnreachable), errors.Is(err, serverstate.ErrLoginRefused):
		return exitUnreachable
	}
	// errStopped (^C: not a finished search, whatever it found),
	// capacity.ErrHarness (capacity 0 because the harness saturated first
	// is no capacity), context.Canceled (aborted) and the rest.
	return exitFailure
}

// growthMode is the growth mode a search with opts runs in.
func growthMode(opts capacity.Options) string {
	if opts.Live != nil {
		return capacity.GrowthLive
	}
	return capacity.GrowthRestart
}

// errStopped ends the search after a first ^C: the step it cut is not
// counted.
var errStopped = capacity.ErrStopped

// stepRunner runs one capacity step: the scenario at a user count, on a
// fresh embedded server (or the target), measured after its ramp-up.
type stepRunner struct {
	s        *scenarios.Scenario
	c        scenarios.Capacity
	flags    capacityFlags
	log      *slog.Logger
	stderr   io.Writer
	running  *atomic.Pointer[engine.Engine]
	stopping *atomic.Bool
	// stop is closed by the first stop request (stopSignal, requestStop).
	stop               chan struct{}
	stopInit, stopOnce sync.Once
	steps              atomic.Int64
	// guard are the harness guard's limits.
	guard harnessmon.Options
	// progress and gatherer export the search live (--metrics-addr).
	progress *metrics.Capacity
	gatherer *metrics.SwappableGatherer
	// liveStart and liveMax are the first and largest populations of a
	// live growth phase (capacity_live.go).
	liveStart, liveMax int
	// mail is what the populations' preflights found in a real target's
	// mailboxes (capacity_mail.go).
	mail capacityMail
}

// stopSignal is closed by the first stop request.
func (sr *stepRunner) stopSignal() <-chan struct{} {
	sr.stopInit.Do(func() { sr.stop = make(chan struct{}) })
	return sr.stop
}

// requestStop cuts the running step (first ^C): it returns errStopped,
// not a step, and no later step starts.
func (sr *stepRunner) requestStop() {
	sr.stopping.Store(true)
	sr.stopSignal()
	sr.stopOnce.Do(func() { close(sr.stop) })
	if eng := sr.running.Load(); eng != nil {
		eng.Stop()
	}
}

// stepSeedSalt sets the capacity steps' seeds apart from the users'
// (stepPlanOptions).
const stepSeedSalt = -1

// stepPlanOptions are the plan options of the search's n-th fresh step
// (from 1) of users for d. On a real target every step after the first
// runs with a seed of its own, derived from the scenario's seed and n, so
// that the Message-IDs it delivers are new to the server: the earlier
// steps' mail is still there, and a server that drops a repeated
// Message-ID (Cyrus's duplicate suppression, docs/servers.md) would
// otherwise drop the step's mail and the audit count it lost. The
// embedded server starts empty every step, so its steps keep the
// scenario's seed and differ only in users.
func stepPlanOptions(s *scenarios.Scenario, users int, d time.Duration, n int64) scenarios.PlanOptions {
	o := scenarios.PlanOptions{Users: users, Duration: d}
	if s.Target != nil && n > 1 {
		// Salted apart from the plan's user seeds (DeriveSeed(seed, i)),
		// so that no step's seed is one of the first step's users'.
		seed := scenarios.DeriveSeed(scenarios.DeriveSeed(s.Seed, stepSeedSalt), n)
		o.Seed = &seed
	}
	return o
}

func (sr *stepRunner) run(ctx context.Context, users int) (capacity.Step, error) {
	if sr.stopping.Load() {
		return capacity.Step{}, errStopped
	}
	n := sr.steps.Add(1)
	started := time.Now()
	plan, err := scenarios.NewPlan(sr.s, stepPlanOptions(sr.s, users, sr.s.RampUp+sr.c.StepDuration, n))
	if err != nil {
		return capacity.Step{}, err
	}
	reg := metrics.NewRegistry()
	client := metrics.NewClient(reg)
	tgt, err := sr.openTarget(ctx, plan, reg, populationOpen{step: n, users: users})
	if err != nil {
		return capacity.Step{}, err
	}
	defer tgt.close()
	res, err := newStepResources(sr.s, tgt)
	if err != nil {
		return capacity.Step{}, err
	}
	sr.progress.Start(users)
	sr.gatherer.Set(reg)
	defer sr.gatherer.Set(nil)
	var settle *time.Duration
	if sr.flags.settle >= 0 {
		settle = &sr.flags.settle
	}
	// The measured window: from the end of ramp-up to the end of the
	// active phase. Commands outside it do not reach the report's load
	// figures (the QoS lines on latency and errors); logins count over
	// the whole step.
	gate := &windowGate{next: client}
	mon := harnessmon.New(sr.guard)
	var (
		mu                 sync.Mutex
		mark               harnessmon.Mark
		window             harnessmon.Window
		opened, closed     bool
		srvStart, srvCount = uint64(0), int64(-1) // the server's commands, when it counts them
	)
	openWindow := func() {
		mu.Lock()
		defer mu.Unlock()
		mark, opened = mon.Mark(), true
		gate.open.Store(true)
		if tgt.server != nil {
			srvStart, _ = serverTotals(tgt.server)
		}
		res.open(ctx)
	}
	if sr.s.RampUp <= 0 {
		openWindow()
	}
	closeWindow := func() {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		closed = true
		// The commands still waiting for the server count as samples of
		// their age at the close (docs/capacity.md, One step).
		gate.close(time.Now())
		if !opened {
			// The step ended before its ramp-up did (a ^C): no window
			// was measured, so no rate or harness figure is given.
			return
		}
		window = mon.Since(mark)
		if tgt.server != nil {
			n, _ := serverTotals(tgt.server)
			srvCount = int64(n - srvStart)
		}
		res.close()
	}
	er, code := execute(ctx, plan, execution{
		reg: reg, client: client, recorder: gate, tgt: tgt, log: sr.log, settle: settle,
		thresholds: sr.c.QoS, thresholdScope: stepScope, running: sr.running, stopped: sr.stopping.Load, progress: sr.stderr, quiet: true,
		pending: gate.pendingCommands,
		late:    mon, onRampedUp: func() {
			if sr.s.RampUp > 0 {
				openWindow()
			}
		},
		onPhase: func(p engine.Phase) {
			if p == engine.PhaseSettle {
				closeWindow()
			}
		},
	}, sr.stderr)
	closeWindow()
	if err := ctx.Err(); err != nil {
		return capacity.Step{}, err
	}
	if sr.stopping.Load() {
		// A stop cut the step short: its window is not a step's.
		return capacity.Step{}, errStopped
	}
	if er == nil {
		return capacity.Step{}, fmt.Errorf("step of %d users failed (exit %d)", users, code)
	}
	st := stepOf(er.rep, window, gate.commands.Load(), time.Since(started))
	// The run's notes, but those the capacity report carries otherwise:
	// the [ALERT] (capacityMail), the network warnings (the report's
	// top-level notes) and inbound mail that fell behind (st.Invalid).
	carried := networkWarnings(sr.s)
	if tgt.alert != "" {
		carried = append(carried, report.AlertNote(tgt.alert))
	}
	if dq := er.rep.Messages.DeliveryQueue; dq != nil {
		carried = append(carried, report.QueueNote(*dq, sr.s.TimeScale, er.rep.Messages.DeliveryRetries))
	}
	st.RunNotes = runNotes(er.rep, carried)
	st.Server = res.result(window.Wall.Seconds())
	st.Metrics["server_commands_per_second"] = math.NaN()
	if srvCount >= 0 && window.Wall > 0 {
		st.Metrics["server_commands_per_second"] = float64(srvCount) / window.Wall.Seconds()
	}
	sr.finishStep(users, st)
	return st, nil
}

// finishStep publishes a finished step on the live metrics.
func (sr *stepRunner) finishStep(users int, st capacity.Step) {
	ms := metrics.CapacityStep{Users: users, Result: "fail"}
	switch {
	case st.HarnessSaturated:
		ms.Result = "saturated"
	case st.Pass:
		ms.Result = "pass"
	}
	for _, q := range st.QoS {
		ms.QoS = append(ms.QoS, q.Value)
	}
	sr.progress.Finish(ms)
}

// serverTotals returns the number of commands the server answered so far
// and the seconds it spent on them, from reading each command to its final
// reply, IMAP IDLE excepted (it waits for mail, it does no work).
func serverTotals(s *metrics.Server) (commands uint64, busy float64) {
	for proto, cmds := range s.Stats() {
		for name, c := range cmds {
			commands += c.Count
			if proto != clients.ProtocolIMAP || name != "IDLE" {
				busy += c.Sum
			}
		}
	}
	return commands, busy
}

// stepScope is what a step's QoS figures cover, in the notes of lines
// with no data (report.Input.ThresholdScope): commands are counted in the
// step's window, and a step with no logins or deliveries in its whole run
// (a fresh step) has none in its window either.
const stepScope = "the step's window"

// stepOf reads a step's outcome from its report and harness window;
// commands are the client commands of the window.
func stepOf(rep *report.Report, w harnessmon.Window, commands int64, wall time.Duration) capacity.Step {
	st := capacity.Step{Pass: true, HarnessSaturated: w.Saturated, HarnessReasons: w.Reasons, WallSeconds: wall.Seconds(),
		Metrics: map[string]float64{}}
	for _, t := range rep.Thresholds {
		st.QoS = append(st.QoS, capacity.QoSValue{Expr: t.Expr, Value: float64(t.Value), OK: t.OK, Note: t.Note})
		if !t.OK {
			st.Pass = false
			if st.FirstFailed == "" {
				st.FirstFailed = failedLine(t)
			}
		}
	}
	if !rep.Valid() {
		st.Pass = false
		st.Invalid = append(st.Invalid, rep.Validity.Problems...)
	}
	if p := report.QueueProblem(rep.Messages.DeliveryQueue); p != "" {
		st.Pass = false
		st.Invalid = append(st.Invalid, p)
	}
	if st.HarnessSaturated {
		st.Pass = false
	}
	secs := w.Wall.Seconds()
	st.Metrics["commands_per_second"] = math.NaN()
	if secs > 0 {
		st.Metrics["commands_per_second"] = float64(commands) / secs
	}
	st.Metrics["error_rate"] = float64(rep.Load.ErrorRate)
	st.Metrics["pending_commands"] = float64(rep.Load.PendingTotal())
	st.Metrics["dropped_commands"] = float64(rep.Load.Dropped)
	st.Metrics["dropped_logins"] = float64(rep.Load.LoginsDropped)
	for k, v := range map[string]float64{"harness_cpu": w.CPUShare, "sched_p99_s": w.SchedP99.Seconds(),
		"late_p99_s": w.LateP99.Seconds(), "arrivals_late_p99_s": w.ArrivalsLateP99.Seconds(), "window_s": secs} {
		if secs <= 0 {
			v = math.NaN() // no window was measured
		}
		st.Metrics[k] = v
	}
	st.Metrics["delivered"] = float64(rep.Messages.Delivered)
	// The devices' submissions (a live step's: those that ended in its
	// window), by how they ended; none started is 0 of each.
	var sub report.Submissions
	if s := rep.Messages.Submissions; s != nil {
		sub = *s
	}
	for k, v := range map[string]int64{report.SubmissionsStartedMetric: sub.Started, report.SubmissionsSentMetric: sub.Sent,
		report.SubmissionsFailedMetric: sub.Failed, report.SubmissionsUnansweredMetric: sub.Unanswered,
		report.SubmissionsUnansweredAtEndMetric: sub.UnansweredAtEnd, report.SubmissionsCutMetric: sub.Cut} {
		st.Metrics[k] = float64(v)
	}
	st.Metrics["lost"] = float64(rep.Messages.Lost)
	st.Metrics["peak_connections"] = float64(rep.Server.PeakConnections)
	return st
}

// runNotes are the notes of a step's run report rep (docs/report.md,
// notes), but those in carried, once each, in order: the step carries
// them into the capacity report (capacity.Step.RunNotes).
func runNotes(rep *report.Report, carried []string) []string {
	var out []string
	for _, n := range rep.Notes {
		if !slices.Contains(carried, n) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// failedLine names a failed QoS line in a step's first_failed (and so in
// the search's limited_by): the line verbatim when it was measured, and
// "no data: LINE (NOTE)" when the step had nothing to measure it on (no
// deliveries, no command of its kind): such a line did not break, it
// could not be judged.
func failedLine(t report.ThresholdResult) string {
	if t.Value.Missing() && t.Note != "" {
		return fmt.Sprintf("no data: %s (%s)", t.Expr, t.Note)
	}
	return t.Expr
}

// windowGate passes commands to next only while open (the measured
// window). Logins always pass: every device logs in as it starts, during
// ramp-up, and a server that refuses sessions past its limit shows it
// there. Bytes and connections pass too, so gauges stay balanced.
//
// It also tracks the commands in flight (clients.CommandTracker): a
// command still waiting for the server when the window closes counts in
// the window as a sample of its age at the close (close), so that a
// server which stalls in the window's last seconds does not pass the
// step with the commands it never answered left out.
type windowGate struct {
	next     clients.Recorder
	open     atomic.Bool
	commands atomic.Int64

	mu       sync.Mutex
	inflight map[inflightKey]int
	// pending counts by protocol the commands close passed on while
	// still in flight; under mu.
	pending map[string]uint64
}

// inflightKey is one tracked command: protocol, name and start.
type inflightKey struct {
	protocol, command string
	start             int64 // UnixNano
}

// CommandStarted implements clients.CommandTracker.
func (g *windowGate) CommandStarted(protocol, command string, start time.Time) {
	k := inflightKey{protocol, command, start.UnixNano()}
	g.mu.Lock()
	if g.inflight == nil {
		g.inflight = map[inflightKey]int{}
	}
	g.inflight[k]++
	g.mu.Unlock()
}

// CommandAbandoned implements clients.CommandTracker.
func (g *windowGate) CommandAbandoned(protocol, command string, start time.Time) {
	g.mu.Lock()
	g.untrack(inflightKey{protocol, command, start.UnixNano()})
	g.mu.Unlock()
}

// untrack forgets one tracked command; g.mu is held.
func (g *windowGate) untrack(k inflightKey) {
	switch n := g.inflight[k]; {
	case n > 1:
		g.inflight[k] = n - 1
	case n == 1:
		delete(g.inflight, k)
	}
}

// Command implements clients.Recorder.
// The command is recorded under g.mu, so that a snapshot (g.snapshot)
// finds it either in flight or recorded, never both nor neither.
func (g *windowGate) Command(ev clients.CommandEvent) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !ev.Start.IsZero() {
		g.untrack(inflightKey{ev.Protocol, ev.Command, ev.Start.UnixNano()})
	}
	if g.open.Load() {
		g.commands.Add(1)
		g.next.Command(ev)
	}
}

// inFlight closes the window at now when close is set (a fresh step, whose
// gate then drops the commands that end later), and returns the commands
// in flight at now as events whose Duration is their age: a lower bound
// of their latency. Their outcome is "ok": they had none yet.
func (g *windowGate) inFlight(now time.Time, close bool) []clients.CommandEvent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.inFlightLocked(now, close)
}

// snapshot returns the commands in flight at now (as inFlight, the window
// left open) and calls read — a read of what the gate recorded, e.g. the
// client's stats — under the same lock: a command ending meanwhile is in
// one of the two, not in both (a live step's window).
func (g *windowGate) snapshot(now time.Time, read func()) []clients.CommandEvent {
	g.mu.Lock()
	defer g.mu.Unlock()
	read()
	return g.inFlightLocked(now, false)
}

// inFlightLocked is inFlight with g.mu held.
func (g *windowGate) inFlightLocked(now time.Time, close bool) []clients.CommandEvent {
	if close {
		g.open.Store(false)
	}
	var out []clients.CommandEvent
	for k, n := range g.inflight {
		start := time.Unix(0, k.start)
		for range n {
			out = append(out, clients.CommandEvent{Protocol: k.protocol, Command: k.command,
				Outcome: transport.OutcomeOK, Duration: max(0, now.Sub(start)), Start: start})
		}
	}
	return out
}

// close closes the window at now: the commands in flight count in it as
// samples of their age (inFlight), and the commands that end later are
// dropped.
func (g *windowGate) close(now time.Time) {
	open := g.open.Load()
	evs := g.inFlight(now, true)
	if !open {
		return
	}
	g.mu.Lock()
	g.pending = pendingByProtocol(evs)
	g.mu.Unlock()
	for _, ev := range evs {
		g.commands.Add(1)
		g.next.Command(ev)
	}
}

// pendingCommands returns what close counted still in flight, by protocol.
func (g *windowGate) pendingCommands() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return maps.Clone(g.pending)
}

// pendingByProtocol counts evs by protocol; nil when there are none.
func pendingByProtocol(evs []clients.CommandEvent) map[string]uint64 {
	var out map[string]uint64
	for _, ev := range evs {
		if out == nil {
			out = map[string]uint64{}
		}
		out[ev.Protocol]++
	}
	return out
}

// Bytes implements clients.Recorder.
func (g *windowGate) Bytes(protocol string, in, out int64) { g.next.Bytes(protocol, in, out) }

// Connection implements clients.Recorder.
func (g *windowGate) Connection(protocol string, delta int) { g.next.Connection(protocol, delta) }

// ClosedIdle implements clients.ClosedIdleRecorder: passed on, as logins
// are.
func (g *windowGate) ClosedIdle(protocol string) {
	if c, ok := g.next.(clients.ClosedIdleRecorder); ok {
		c.ClosedIdle(protocol)
	}
}

// Login implements clients.Recorder.
func (g *windowGate) Login(protocol string, outcome transport.Outcome) {
	g.next.Login(protocol, outcome)
}
