package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// runFlags are the flags of "mailsim run".
type runFlags struct {
	duration    time.Duration
	settle      time.Duration
	users       int
	seed        string
	shard       string
	shards      int
	metricsAddr string
	linger      time.Duration
	pushgateway string
	reportPath  string
	htmlPath    string
	quiet       bool
	verbose     bool
	// targetPath names a target file replacing the scenario's target.
	targetPath string
	// startAt is the wall-clock instant the run starts at; zero: at once.
	startAt time.Time
	// profile writes CPU and heap profiles of the run (--cpuprofile,
	// --memprofile).
	profile profileFlags
	// procs sizes GOMAXPROCS (--procs).
	procs procsFlag
	// harness are the harness guard's limits (--harness-max-cpu,
	// --harness-max-sched); cores the cores the harness may use, from
	// --procs (set when the run starts).
	harness harnessFlags
	cores   int
}

// startAtSlack is how far in the past --start-at may be: a shard that
// comes up a little late starts at once rather than failing.
const startAtSlack = 5 * time.Second

// startAtFlag parses --start-at (RFC 3339; "" for no wait) into *t.
type startAtFlag struct{ t *time.Time }

func (f startAtFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f startAtFlag) Set(s string) error {
	if s == "" {
		*f.t = time.Time{}
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time such as 2026-01-02T15:04:05Z: %w", err)
	}
	*f.t = t
	return nil
}

// cmdRun implements "mailsim run FILE|NAME".
func cmdRun(args []string, stdout, stderr io.Writer) int {
	var f runFlags
	fs := newFlagSet("run", "run FILE|NAME [flags]", stderr)
	fs.DurationVar(&f.duration, "duration", 0, "override the scenario's duration (active phase, wall clock)")
	fs.DurationVar(&f.settle, "settle", -1, "override the scenario's settle phase, its maximum with until: synced (wall clock; -1 keeps it)")
	fs.IntVar(&f.users, "users", 0, "override the scenario's users.count")
	fs.StringVar(&f.seed, "seed", "", "override the scenario's seed")
	fs.StringVar(&f.shard, "shard", "", "run shard i of n (\"i/n\"); a user's devices stay in one shard")
	fs.IntVar(&f.shards, "shards", 0, "number of shards, with the shard index from $JOB_COMPLETION_INDEX (0-based, Kubernetes Indexed Job)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics on this address during the run (e.g. 127.0.0.1:9464)")
	fs.DurationVar(&f.linger, "linger", 15*time.Second, "with --metrics-addr: keep serving this long after the run so the last values are scraped (0 to skip)")
	fs.StringVar(&f.pushgateway, "pushgateway", "", "push the final mailsim_* values to this Prometheus Pushgateway URL (job \"mailsim\"), for short runs")
	fs.StringVar(&f.reportPath, "report", "", "write the JSON report to this file (- for stdout; the summary then goes to stderr)")
	fs.StringVar(&f.htmlPath, "html", "", "write the HTML report to this file")
	fs.BoolVar(&f.quiet, "quiet", false, "no live progress")
	fs.BoolVar(&f.verbose, "v", false, verboseHelp)
	fs.StringVar(&f.targetPath, "target", "", "run against the server in this YAML file (one target: block as in a scenario) instead of the scenario's target or the embedded server")
	fs.Var(startAtFlag{&f.startAt}, "start-at", "wait until this wall-clock instant (RFC 3339, e.g. 2026-01-02T15:04:05Z) before starting, so shards start together")
	f.profile.register(fs)
	f.procs.register(fs, procsAuto)
	f.harness.register(fs, "a run")
	scenario, code, stop := parseScenarioFlags(fs, args, &f.procs, stderr)
	if stop {
		return code
	}
	if _, err := f.harness.options(0); err != nil {
		fmt.Fprintf(stderr, "mailsim run: %v\n", err)
		return exitScenario
	}
	if errs := checkOutputs(map[string]string{"--report": f.reportPath, "--html": f.htmlPath}); len(errs) > 0 {
		for _, err := range errs {
			fmt.Fprintf(stderr, "mailsim run: %v\n", err)
		}
		return exitScenario
	}
	if err := checkSettle(f.settle); err != nil {
		fmt.Fprintf(stderr, "mailsim run: %v\n", err)
		return exitScenario
	}
	if err := checkCount(fs, "users", f.users); err != nil {
		fmt.Fprintf(stderr, "mailsim run: %v\n", err)
		return exitScenario
	}
	if late := time.Since(f.startAt); !f.startAt.IsZero() && late > startAtSlack {
		fmt.Fprintf(stderr, "mailsim run: --start-at %s is %s in the past (more than %s): set a later time\n",
			f.startAt.Format(time.RFC3339), late.Round(time.Second), startAtSlack)
		return exitScenario
	}
	plan, err := f.plan(scenario)
	if err != nil {
		printScenarioError(stderr, "run", err)
		return exitScenario
	}
	cores, stopProcs := f.procs.start()
	defer stopProcs()
	f.cores = cores
	return profiled(f.profile, "run", stderr, func() int { return runPlan(plan, f, stdout, stderr) })
}

// scenario loads the scenario, on the --target server when one is named.
func (f runFlags) scenario(name string) (*scenarios.Scenario, error) {
	s, err := scenarios.Load(name, nil)
	if err != nil {
		return nil, err
	}
	if f.targetPath != "" {
		t, err := scenarios.LoadTarget(f.targetPath, nil)
		if err != nil {
			return nil, err
		}
		if s, err = s.Retarget(t); err != nil {
			return nil, fmt.Errorf("--target %s: %w", f.targetPath, err)
		}
	}
	return s, nil
}

// plan loads the scenario and resolves it with the command-line overrides.
func (f runFlags) plan(name string) (*scenarios.Plan, error) {
	s, err := f.scenario(name)
	if err != nil {
		return nil, err
	}
	opts := scenarios.PlanOptions{Users: f.users, Duration: f.duration}
	if f.seed != "" {
		seed, err := strconv.ParseInt(f.seed, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--seed %q: not an integer", f.seed)
		}
		opts.Seed = &seed
	}
	switch {
	case f.shard != "" && f.shards != 0:
		return nil, errors.New("--shard and --shards exclude each other")
	case f.shard != "":
		if opts.Shard, err = scenarios.ParseShard(f.shard); err != nil {
			return nil, err
		}
	case f.shards != 0:
		idx, ok := os.LookupEnv("JOB_COMPLETION_INDEX")
		if !ok {
			return nil, errors.New("--shards needs $JOB_COMPLETION_INDEX (0-based shard index)")
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= f.shards {
			return nil, fmt.Errorf("$JOB_COMPLETION_INDEX %q: want 0..%d", idx, f.shards-1)
		}
		opts.Shard = scenarios.Shard{Index: i + 1, Count: f.shards}
	}
	return scenarios.NewPlan(s, opts)
}

// printScenarioError prints every error of a broken scenario, one a line.
func printScenarioError(w io.Writer, cmd string, err error) {
	var errs scenarios.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
		fmt.Fprintf(w, "mailsim %s: %d problem(s) in the scenario\n", cmd, len(errs))
		return
	}
	fmt.Fprintf(w, "mailsim %s: %v\n", cmd, err)
}

// verboseHelp is the -v flag's help of run and capacity: what the
// warnings are, and that a command's failure is not among them.
const verboseHelp = "log warnings to stderr: failed deliveries, devices stopped by an error (a failed command is counted in the report, not logged)"

// runPlan runs a resolved plan and reports; it returns the exit code.
func runPlan(plan *scenarios.Plan, f runFlags, stdout, stderr io.Writer) int {
	logLevel := slog.LevelError
	if f.verbose {
		logLevel = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	// First signal: stop acting, settle briefly, report; before the engine
	// exists (starting: the target check), abort; once the run is over,
	// give up the --pushgateway push (the reports are written all the same:
	// files, written at once) and any --linger, or end the linger. Second:
	// abort. The handler ends with the run (ctx is cancelled when runPlan
	// returns), so in-process callers leak no goroutine.
	var running atomic.Pointer[engine.Engine]
	var finished, lingering atomic.Bool
	go func() {
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			}
			if lingering.Load() {
				fmt.Fprintln(stderr, "\nmailsim: ending --linger: the final metrics are no longer served")
				cancel()
				return
			}
			if finished.Load() {
				fmt.Fprintln(stderr, "\nmailsim: aborting: the run is over and its reports are written; a --pushgateway push still under way is given up, and --linger is not served")
				cancel()
				return
			}
			if eng := running.Load(); n == 1 && eng != nil {
				if eng.Status().Phase == engine.PhaseAudit {
					fmt.Fprintln(stderr, "\nmailsim: stopping: the final audit is reading the server's state (within its budget); press ^C again to abort it")
				} else {
					fmt.Fprintln(stderr, "\nmailsim: stopping: people stop acting, devices settle briefly; press ^C again to abort")
				}
				eng.Stop()
				continue
			}
			fmt.Fprintln(stderr, "\nmailsim: aborting")
			cancel()
			return
		}
	}()

	reg := metrics.NewRegistry()
	client := metrics.NewClient(reg)
	tgt, err := openTarget(ctx, plan, reg, log)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim run: %v\n", err)
		if errors.Is(err, serverstate.ErrUnreachable) || errors.Is(err, serverstate.ErrLoginRefused) {
			return exitUnreachable
		}
		return exitFailure
	}
	defer tgt.close()
	if w := tgt.mailAtStart.Warning(); w != "" {
		fmt.Fprintf(stderr, "mailsim run: warning: %s\n", w)
	}
	if !waitStart(ctx, f.startAt, stderr) {
		fmt.Fprintln(stderr, "mailsim run: aborted while waiting for --start-at")
		return exitFailure
	}

	var settle *time.Duration
	if f.settle >= 0 {
		settle = &f.settle
	}
	guard, _ := f.harness.options(f.cores) // checked by cmdRun
	var live io.Writer
	if !f.quiet {
		live = stderr
	}
	harness := newRunHarness(guard, reg, live)
	er, code := execute(ctx, plan, execution{
		reg: reg, client: client, recorder: client, tgt: tgt, log: log, settle: settle,
		running: &running, progress: stderr, quiet: f.quiet, metricsAddr: f.metricsAddr,
		late: harness, onPhase: harness.phase, harness: harness,
	}, stderr)
	// The engine is done: a signal no longer stops it (it gives up the
	// push; lingering ends the linger).
	running.Store(nil)
	finished.Store(true)
	if er == nil {
		return code
	}
	runErr, rep := er.err, er.rep
	code = writeOutputs(rep, f.reportPath, f.htmlPath, stdout, stderr, "run")
	if runErr != nil && code == exitOK {
		code = exitFailure
	}
	if f.pushgateway != "" {
		if err := pushFinal(ctx, f.pushgateway, reg, plan); err != nil {
			fmt.Fprintf(stderr, "mailsim run: %v\n", err)
			code = exitFailure
		} else {
			fmt.Fprintf(stderr, "pushed the final metrics to %s\n", f.pushgateway)
		}
	}
	if f.metricsAddr != "" {
		lingering.Store(true)
		linger(ctx, f.linger, stderr)
	}
	return code
}

// linger keeps the process (and its metrics endpoint) up for d after a
// run or search, so the last values are scraped; it ends early with ctx.
func linger(ctx context.Context, d time.Duration, stderr io.Writer) {
	if d <= 0 || ctx.Err() != nil {
		return
	}
	fmt.Fprintf(stderr, "serving the final metrics for %s (--linger)\n", d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitStart waits until start (nothing when it is zero or past); false
// when ctx ended first (^C).
func waitStart(ctx context.Context, start time.Time, stderr io.Writer) bool {
	d := time.Until(start)
	if start.IsZero() || d <= 0 {
		return ctx.Err() == nil
	}
	fmt.Fprintf(stderr, "waiting until %s (--start-at, %s)\n", start.Format(time.RFC3339), d.Round(time.Second))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// execution is what one engine run needs beyond its plan.
type execution struct {
	reg    *prometheus.Registry
	client *metrics.Client
	// recorder receives the devices' and injector's events: client, or a
	// gate in front of it (mailsim capacity).
	recorder clients.Recorder
	tgt      *target
	log      *slog.Logger
	settle   *time.Duration
	// thresholds replace the scenario's thresholds in the report, when
	// set; thresholdScope names what their figures cover in the notes of
	// those with no data (report.Input.ThresholdScope).
	thresholds     []scenarios.Threshold
	thresholdScope string
	// late takes the run's lateness; nil for none.
	late       lateSink
	onRampedUp func()
	onPhase    func(engine.Phase)
	// harness watches the harness over the run for its report (mailsim
	// run); nil leaves the report's harness section null (a capacity
	// step, judged by its own guard).
	harness *runHarness
	// running is set to the engine while it runs (for the signal handler).
	running *atomic.Pointer[engine.Engine]
	// stopped, when set, reports whether a stop was asked for: one asked
	// before the engine was set in running (a ^C while the target was
	// checked and the step's population made, which the signal handler
	// could not give the engine) stops it as soon as it is (mailsim
	// capacity, whose step would otherwise run whole and be dropped).
	stopped func() bool
	// pending, when set, counts by protocol the commands that were still in flight
	// when a capacity step's window closed and count in its command
	// stats as samples of their age (windowGate.close): the report leaves
	// them out of error_rate's denominator (report.Input.Pending).
	pending func() map[string]uint64
	// progress receives the live status line unless quiet.
	progress    io.Writer
	quiet       bool
	metricsAddr string
}

// executed is a finished engine run.
type executed struct {
	res *engine.Result
	rep *report.Report
	// err is the engine's error, with a result (e.g. a final audit that
	// could not read every user).
	err error
}

// newRunEngine builds the engine of one run of plan on x and registers its
// live metrics (harness gauges, group costs) on x.reg; tweak, if set, has
// the last word on the engine's options (mailsim capacity's live
// population).
func newRunEngine(plan *scenarios.Plan, x execution, tweak func(*engine.Options)) (*engine.Engine, *sampler, error) {
	timeline := &report.Timeline{}
	sink := &runSink{late: x.late, onRampedUp: x.onRampedUp, onPhase: x.onPhase}
	o := engine.Options{
		Plan:      plan,
		Endpoints: x.tgt.endpoints,
		Recorder:  x.recorder,
		Observer:  x.client,
		Truth:     x.tgt.truth,
		Settle:    x.settle,
		Sinks:     []engine.Sink{sink},
		Logger:    x.log,
	}
	if tweak != nil {
		tweak(&o)
	}
	eng, err := engine.New(o)
	if err != nil {
		return nil, nil, err
	}
	// The sink is only called once Run started, after these are set.
	sampler := newSampler(eng, x.client, x.tgt, timeline, plan)
	sampler.pending = x.pending
	sink.sampler = sampler
	sink.harness = metrics.NewHarness(x.reg, metrics.HarnessOptions{
		Scenario:   plan.Scenario.Name,
		Shard:      plan.Shard.String(),
		Elapsed:    func() time.Duration { return eng.Clock().WallElapsed() },
		Devices:    func() []metrics.DeviceCount { return deviceCounts(eng) },
		Users:      eng.UsersByGroup,
		Divergence: func() metrics.Divergence { return divergenceGauges(eng.Auditor().State(), eng.FinalAudit()) },
	})
	metrics.RegisterGroupCost(x.reg, func() []metrics.GroupCost { return groupCosts(eng.Costs()) })
	return eng, sampler, nil
}

// lateSink takes the lateness of a run's events (engine.EventLate) by
// whose schedule ran late: the persons' actions (Late) or the arrival
// scheduler (ArrivalLate). *harnessmon.Monitor is one.
type lateSink interface {
	Late(time.Duration)
	ArrivalLate(time.Duration)
}

// runSink takes one run's engine events: convergence lags for the live
// metrics, a sample of the report's timeline after every periodic audit,
// and the lateness, ramp-up and phase hooks of the caller (the harness
// monitors of mailsim run and capacity, capacity's step marks).
type runSink struct {
	harness    *metrics.Harness
	sampler    *sampler
	late       lateSink
	onRampedUp func()
	onPhase    func(engine.Phase)
}

// Handle implements engine.Sink.
func (s *runSink) Handle(ev engine.Event) {
	switch ev.Type {
	case engine.EventConverged:
		s.harness.ObserveConvergence(ev.Kind, ev.Lag)
	case engine.EventAudit:
		s.sampler.sample()
	case engine.EventLate:
		switch {
		case s.late == nil:
		case ev.Kind == engine.LateArrival:
			s.late.ArrivalLate(ev.Late)
		default:
			s.late.Late(ev.Late)
		}
	case engine.EventRampedUp:
		if s.onRampedUp != nil {
			s.onRampedUp()
		}
	case engine.EventPhase:
		if s.onPhase != nil {
			s.onPhase(ev.Phase)
		}
	}
}

// execute runs plan once on x.tgt and builds its report. Without a result
// it prints the problem and returns nil with the exit code.
func execute(ctx context.Context, plan *scenarios.Plan, x execution, stderr io.Writer) (*executed, int) {
	eng, sampler, err := newRunEngine(plan, x, nil)
	if err != nil {
		// New only checks and builds the population (device profiles,
		// fetch items); it does not touch the network.
		fmt.Fprintf(stderr, "mailsim: %v\n", err)
		return nil, exitScenario
	}
	if x.metricsAddr != "" {
		addr, err := metrics.Serve(ctx, x.metricsAddr, x.reg)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim: --metrics-addr: %v\n", err)
			return nil, exitScenario
		}
		fmt.Fprintf(stderr, "serving metrics on http://%s/metrics\n", addr)
	}
	if x.running != nil {
		x.running.Store(eng)
	}
	if x.stopped != nil && x.stopped() {
		eng.Stop()
	}
	prog := startProgress(ctx, eng, x.client, x.progress, x.quiet)
	res, runErr := eng.Run(ctx)
	var wall time.Duration
	if res != nil {
		wall = res.Wall
	}
	prog.stop(wall)
	var harness *report.HarnessInput
	if x.harness != nil {
		harness = x.harness.input()
	}
	if res == nil {
		fmt.Fprintf(stderr, "mailsim: %v\n", runErr)
		return nil, exitFailure
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "mailsim: %v\n", runErr)
	}
	in := sampler.buildInput(plan, res)
	if x.thresholds != nil {
		in.Thresholds = x.thresholds
	}
	in.ThresholdScope = x.thresholdScope
	in.Harness = harness
	return &executed{res: res, rep: report.Build(in), err: runErr}, exitOK
}
