// Package capacity finds how many users a server holds while every QoS line
// holds: it runs the scenario's population at growing user counts (one
// step each), bisects between the last passing and the first failing step,
// then confirms a claim SPECmail-style at 80%, 100% and 120% of it. Steps
// where the harness itself was saturated are never taken for the server's
// knee. docs/capacity.md describes the method.
//
// The search is independent of how a step runs: a [StepFunc] runs one
// population and says whether each QoS line held. With Options.Live the
// growth phase runs on one live population that grows from step to step;
// bisection and confirmation always run fresh populations.
package capacity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// QoSValue is one QoS line's outcome at a step.
type QoSValue struct {
	// Expr is the line as written in the scenario.
	Expr string `json:"expr"`
	// Value is the measured value in the unit of the line's right-hand
	// side; NaN when there was no data.
	Value float64 `json:"-"`
	OK    bool    `json:"ok"`
	// Note says why a line without data failed.
	Note string `json:"note,omitempty"`
}

// Step is one run of the population at one user count.
type Step struct {
	// Users is the population of the step.
	Users int `json:"users"`
	// Phase is "grow", "bisect", "confirm", or "retry" for a step run
	// again because its harness was saturated.
	Phase string `json:"phase"`
	// Pass is true when every QoS line held (and the run's measurements
	// were valid).
	Pass bool `json:"pass"`
	// HarnessSaturated marks a step where mailsim itself was the
	// bottleneck; HarnessReasons say which guard tripped ("cpu",
	// "scheduler", "late-arrivals"). Such a step's failure is not the
	// server's.
	HarnessSaturated bool     `json:"harness_saturated"`
	HarnessReasons   []string `json:"harness_reasons,omitempty"`
	// FirstFailed is the first QoS line that failed, verbatim ("" when
	// none); Invalid the reasons the run's measurements were invalid.
	FirstFailed string   `json:"first_failed,omitempty"`
	Invalid     []string `json:"invalid,omitempty"`
	// QoS holds every line's value.
	QoS []QoSValue `json:"qos"`
	// Metrics are the step's headline figures (commands per second, p95
	// and p99 latencies, action lateness, harness CPU), by name; NaN where
	// unknown.
	Metrics map[string]float64 `json:"-"`
	// Server are the server's resources over the step's window.
	Server Resources `json:"-"`
	// WallSeconds is how long the step took.
	WallSeconds float64 `json:"wall_seconds"`
	// Live marks a step measured on the growing live population
	// (Options.Live) rather than on a fresh one.
	Live bool `json:"live,omitempty"`
	// Notes are the notes of Result.Notes that concern this step, the
	// same strings: the step saturated the harness, failed below the
	// capacity, ... (a caller that adds notes of its own to the result
	// adds those that concern a step to it).
	Notes []string `json:"notes,omitempty"`
	// RunNotes are the notes of the step's own run report (a fresh
	// step's run, a live step's window) that the caller does not carry
	// otherwise: commands that failed by cause, dropped by the simulated
	// network, ... The search carries them into Notes and Result.Notes,
	// one note per distinct text naming the steps that gave it
	// (docs/capacity.md, The report).
	RunNotes []string `json:"-"`
}

// Resources are a server's resources over a step's measured window
// (docs/capacity.md, Server resources). NaN figures are unknown; Reasons
// say why, by the report's field name.
type Resources struct {
	// Source is where they come from: "embedded" (the in-process server's
	// own meters), "exporter" (the target's exporter, URL) or "none".
	Source string
	URL    string
	// CPUCores are the CPU seconds the server used per second of the
	// window, read from the counter CPUSeries.
	CPUCores  float64
	CPUSeries string
	// MemoryMaxBytes and MemoryEndBytes are the largest and the last
	// sample of the server's memory in the window (MemorySeries).
	MemoryMaxBytes, MemoryEndBytes float64
	MemorySeries                   string
	// BusySecondsPerSecond is the embedded server's command time per
	// second of the window: the mean number of commands in progress.
	BusySecondsPerSecond float64
	// StoreBytes is the mail the embedded server stores at the window's
	// end.
	StoreBytes float64
	// Reasons say why a figure is unknown, by field: "cpu_cores",
	// "memory", "busy_seconds_per_second", "store_bytes".
	Reasons map[string]string
}

// UnknownResources returns Resources with every figure unknown, from
// source.
func UnknownResources(source string) Resources {
	nan := math.NaN()
	return Resources{Source: source, CPUCores: nan, MemoryMaxBytes: nan, MemoryEndBytes: nan,
		BusySecondsPerSecond: nan, StoreBytes: nan, Reasons: map[string]string{}}
}

// StepFunc runs the population with users users once and reports the step
// (Users, Pass, QoS, ...; Phase is set by the search). An error stops the
// search: the server could not be reached, a report could not be written.
type StepFunc func(ctx context.Context, users int) (Step, error)

// Options configure a search. Start and Max are required.
type Options struct {
	// Start is the first step's population; Max the largest ever run.
	Start, Max int
	// Growth multiplies the population after a passing step. Default 2.
	Growth float64
	// Resolution ends the bisection once the first failing count is within
	// this share of the last passing one (and at most one user apart
	// otherwise). Default 0.1.
	Resolution float64
	// Confirm runs the SPECmail-style confirmation.
	Confirm bool
	// OnStep, if set, is called after every step (progress, live metrics).
	OnStep func(Step)
	// Live, if set, runs the growth phase's steps (and their retries)
	// instead of the StepFunc: the counts it is called with never
	// decrease, so one live population can grow from step to step.
	// EndLive, if set, is called once the growth phase is over, before
	// any other step runs: bisection and confirmation need populations
	// smaller than the live one and run fresh ones through the StepFunc.
	Live    StepFunc
	EndLive func()
	// GrowthReason says why the growth phase is live or restarts; it is
	// carried to Result.GrowthReason.
	GrowthReason string
}

// The growth modes of Result.GrowthMode.
const (
	// GrowthLive: the growth phase added users to one running population.
	GrowthLive = "live"
	// GrowthRestart: every step ran a fresh population.
	GrowthRestart = "restart"
)

// Validate reports every problem of o.
func (o Options) Validate() []error {
	var errs []error
	if o.Start < 1 {
		errs = append(errs, fmt.Errorf("capacity: start %d users: want at least 1", o.Start))
	}
	if o.Max < o.Start {
		errs = append(errs, fmt.Errorf("capacity: max %d users below start %d", o.Max, o.Start))
	}
	if o.Growth != 0 && o.Growth <= 1 {
		errs = append(errs, fmt.Errorf("capacity: growth %g: want more than 1", o.Growth))
	}
	if o.Resolution != 0 && (o.Resolution <= 0 || o.Resolution >= 1) {
		errs = append(errs, fmt.Errorf("capacity: resolution %g: want between 0 and 1", o.Resolution))
	}
	return errs
}

// Result is the outcome of a search.
type Result struct {
	// Users is the largest population at which every QoS line held
	// (0 when not even the first step passed).
	Users int `json:"users"`
	// LimitedBy is the QoS line that broke first at the smallest failing
	// step, verbatim; "harness" when the search stopped at a saturated
	// harness; "max_users" when every step up to Max passed; "stopped"
	// when a step's error ended the search (a ^C, an unreachable server).
	LimitedBy string `json:"limited_by"`
	// FirstFailing is the smallest population that failed (0 when none).
	FirstFailing int `json:"first_failing,omitempty"`
	// Claim is the SPECmail-style claim: the largest c tried such that the
	// steps at 80%, 100% and 120% of c all passed; 0 when the
	// confirmation did not run or no claim held.
	Claim int `json:"claim"`
	// Confirmed says whether the confirmation found a claim; nil when it
	// did not run (not asked for, no claim of at least one user, or
	// stopped before a claim was confirmed or refuted) or when the harness
	// saturated in every round (no claim was judged).
	Confirmed *bool `json:"confirmed"`
	// ClaimSteps are the populations the claim held at: 80%, 100% and
	// 120% of it, fewer when they round to the same count (a small claim).
	ClaimSteps []int `json:"claim_steps,omitempty"`
	// Stopped is set when a step's error (a ^C, an unreachable server)
	// ended the search before it was done: the step it cut is not in
	// Steps, Users is a lower bound, and Notes say where it stopped.
	Stopped bool `json:"stopped,omitempty"`
	// GrowthMode is GrowthLive or GrowthRestart; GrowthReason says why.
	GrowthMode   string `json:"growth_mode"`
	GrowthReason string `json:"growth_reason,omitempty"`
	// Steps are every step in the order they ran.
	Steps []Step `json:"steps"`
	// Notes explain how the search ended.
	Notes []string `json:"notes,omitempty"`
}

// ErrNoPass is returned (with the result) when not even the first step
// passed.
var ErrNoPass = errors.New("capacity: the first step did not pass")

// ErrHarness is returned (with the result) when the harness saturated
// before any step passed: no capacity was found, and the server's is not 0.
var ErrHarness = errors.New("capacity: the harness saturated before any step passed")

// ErrStopped is what a StepFunc returns for a step a stop request (a
// first ^C) cut short: the step is neither judged nor counted.
var ErrStopped = errors.New("stopped")

// maxConfirmRounds bounds the confirmation's retries with smaller claims.
const maxConfirmRounds = 3

// Search runs the search. It returns the result so far with ctx's error
// when ctx ends, and ErrNoPass when the first step failed.
func Search(ctx context.Context, run StepFunc, o Options) (Result, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return Result{}, errors.Join(errs...)
	}
	if o.Growth == 0 {
		o.Growth = 2
	}
	if o.Resolution == 0 {
		o.Resolution = 0.1
	}
	s := &search{run: run, o: o, res: Result{GrowthMode: GrowthRestart, GrowthReason: o.GrowthReason}}
	if o.Live != nil {
		s.res.GrowthMode = GrowthLive
	}
	_, err := s.do(ctx)
	if n, steps := failedBelow(s.res); n != "" {
		s.note(n, steps...)
	}
	s.runNotes()
	return s.res, err
}

// maxRunNotes bounds the distinct notes of the steps' runs a result
// carries (runNotes).
const maxRunNotes = 20

// runNotes carries the notes of the steps' own runs (Step.RunNotes) into
// the result's notes and the notes of the steps that gave them: one note
// per distinct text, in the order first given, naming the steps that gave
// it ("at step 7 (15 users) the run noted: ..."), at most maxRunNotes;
// past that, one note counts those left out, on the steps that gave them.
func (s *search) runNotes() {
	type given struct {
		text  string
		steps []int // indexes in s.res.Steps
	}
	var order []*given
	byText := map[string]*given{}
	for i, st := range s.res.Steps {
		for _, n := range st.RunNotes {
			g := byText[n]
			if g == nil {
				g = &given{text: n}
				byText[n] = g
				order = append(order, g)
			}
			if !slices.Contains(g.steps, i) {
				g.steps = append(g.steps, i)
			}
		}
	}
	var leftSteps []int
	for k, g := range order {
		if k >= maxRunNotes {
			for _, i := range g.steps {
				if !slices.Contains(leftSteps, i) {
					leftSteps = append(leftSteps, i)
				}
			}
			continue
		}
		s.note(runNote(s.res.Steps, g.steps, g.text), g.steps...)
	}
	if left := len(order) - maxRunNotes; left > 0 {
		slices.Sort(leftSteps)
		s.note(fmt.Sprintf("%d more notes of the runs of %s are left out: the report keeps the first %d of the steps' runs",
			left, stepsNamed(s.res.Steps, leftSteps), maxRunNotes), leftSteps...)
	}
}

// runNote is the note text the runs of steps (indexes in all, given in
// order) gave.
func runNote(all []Step, steps []int, text string) string {
	runs := "the run"
	if len(steps) > 1 {
		runs = "the runs"
	}
	return fmt.Sprintf("at %s %s noted: %s", stepsNamed(all, steps), runs, text)
}

// stepsNamed names steps (indexes in all) as the progress lines number
// them, from 1, with their users: "step 7 (15 users)", "steps 2, 3 and 5
// (4, 8 and 6 users)".
func stepsNamed(all []Step, steps []int) string {
	nums, users := make([]int, len(steps)), make([]int, len(steps))
	for k, i := range steps {
		nums[k], users[k] = i+1, all[i].Users
	}
	if len(steps) == 1 {
		return fmt.Sprintf("step %d (%s)", nums[0], FormatUsers(users))
	}
	return fmt.Sprintf("steps %s (%s)", FormatList(nums), FormatUsers(users))
}

// failedBelow is a note naming the populations smaller than the capacity
// found that failed a QoS line or were invalid (the confirmation's steps:
// the growth and the bisection fail only above it), with the indexes of
// those steps in res.Steps, or "" when none did.
// The capacity is the largest population that passed once; a smaller one
// that failed later shows it does not hold at every smaller population (a
// real target's mailboxes fill from step to step, a server near its knee
// varies), which the capacity alone would not say.
func failedBelow(res Result) (string, []int) {
	var below, steps []int
	reason := ""
	for i, st := range res.Steps {
		if st.Pass || st.HarnessSaturated || st.Users >= res.Users {
			continue
		}
		steps = append(steps, i)
		if slices.Contains(below, st.Users) {
			continue
		}
		below = append(below, st.Users)
		if reason == "" {
			reason = failReason(st)
		}
	}
	if len(below) == 0 {
		return "", nil
	}
	slices.Sort(below)
	return fmt.Sprintf("%s failed below the capacity of %d users (the first: %s): %d users passed once, not at every smaller population",
		FormatUsers(below), res.Users, reason, res.Users), steps
}

type search struct {
	run StepFunc
	o   Options
	res Result
	// live is set while the growth phase runs on the live population.
	live bool
}

// note adds a note to the result, and to the steps it concerns, by their
// indexes in s.res.Steps.
func (s *search) note(note string, steps ...int) {
	s.res.Notes = append(s.res.Notes, note)
	for _, i := range steps {
		s.res.Steps[i].Notes = append(s.res.Steps[i].Notes, note)
	}
}

// last is the index in s.res.Steps of the step that ran last.
func (s *search) last() int { return len(s.res.Steps) - 1 }

// endGrowth ends the growth phase: later steps run fresh populations.
func (s *search) endGrowth() {
	if s.live && s.o.EndLive != nil {
		s.o.EndLive()
	}
	s.live = false
}

// step runs one step. A step whose harness was saturated is run once more
// (phase "retry"): a short burst of load from elsewhere on the machine
// should not end the search; saturated twice, it stands.
func (s *search) step(ctx context.Context, users int, phase string) (Step, error) {
	st, err := s.once(ctx, users, phase)
	if err == nil && st.HarnessSaturated {
		st, err = s.once(ctx, users, "retry")
	}
	return st, err
}

func (s *search) once(ctx context.Context, users int, phase string) (Step, error) {
	run := s.run
	if s.live {
		run = s.o.Live
	}
	st, err := run(ctx, users)
	st.Users, st.Phase, st.Live = users, phase, s.live
	if err != nil {
		return st, err
	}
	s.res.Steps = append(s.res.Steps, st)
	if s.o.OnStep != nil {
		s.o.OnStep(st)
	}
	return st, nil
}

// failReason is the QoS line (or validity problem) a failing step names.
func failReason(st Step) string {
	if st.FirstFailed != "" {
		return st.FirstFailed
	}
	if len(st.Invalid) > 0 {
		return "invalid run: " + st.Invalid[0]
	}
	return "unknown"
}

func (s *search) do(ctx context.Context) (Result, error) {
	s.live = s.o.Live != nil
	defer s.endGrowth()
	pass, fail := 0, 0
	var failing Step
	// Grow until a step fails, the harness saturates or Max passes.
	for u := s.o.Start; ; {
		st, err := s.step(ctx, u, "grow")
		if err != nil {
			return s.stopped(pass, 0, Step{}, u, "grow", err), err
		}
		if st.HarnessSaturated {
			s.saturated(st)
			s.endGrowth()
			if pass == 0 {
				return s.res, ErrHarness
			}
			return s.finish(ctx, pass)
		}
		if !st.Pass {
			fail, failing = u, st
			break
		}
		pass = u
		if u >= s.o.Max {
			s.res.LimitedBy = "max_users"
			s.res.Notes = append(s.res.Notes, fmt.Sprintf("every step passed up to max_users (%d): the server holds at least that many", s.o.Max))
			s.endGrowth()
			return s.finish(ctx, pass)
		}
		u = min(s.o.Max, max(u+1, int(math.Ceil(float64(u)*s.o.Growth))))
	}
	s.endGrowth()
	if pass == 0 {
		s.res.LimitedBy, s.res.FirstFailing = failReason(failing), fail
		s.note(fmt.Sprintf("the first step (%d users) failed: %s", fail, failReason(failing)), s.last())
		return s.res, ErrNoPass
	}
	// Bisect between the last pass and the first failure.
	for fail-pass > max(1, int(s.o.Resolution*float64(pass))) {
		mid := pass + (fail-pass)/2
		st, err := s.step(ctx, mid, "bisect")
		if err != nil {
			return s.stopped(pass, fail, failing, mid, "bisect", err), err
		}
		if st.HarnessSaturated {
			// The growth step at fail users failed a QoS line: that
			// stands; only the bisection is cut short.
			s.note(fmt.Sprintf(
				"the harness was saturated at %d users (%v) while bisecting between %d and %d users: the bisection was cut short; %d users failed %s",
				st.Users, st.HarnessReasons, pass, fail, fail, failReason(failing)), s.last())
			break
		}
		if st.Pass {
			pass = mid
		} else {
			fail, failing = mid, st
		}
	}
	s.res.LimitedBy = failReason(failing)
	s.res.FirstFailing = fail
	return s.finish(ctx, pass)
}

// stopped is the result of a search that err ended during the phase step
// of users users (not counted): the largest passing population so far,
// limited by the step that failed (fail users, failing) when one did, by
// "stopped" otherwise.
func (s *search) stopped(pass, fail int, failing Step, users int, phase string, err error) Result {
	s.res.Users, s.res.Stopped = pass, true
	what := stopWhat(err)
	where := fmt.Sprintf("the search %s during the %s step of %d users (not judged, not counted)%s", what, phase, users, stopWhy(err))
	if fail > 0 {
		s.res.LimitedBy, s.res.FirstFailing = failReason(failing), fail
		where += fmt.Sprintf("; it %s while bisecting between %d and %d users, so the capacity is at least %d and below %d", what, pass, fail, pass, fail)
	} else if s.res.LimitedBy == "" {
		s.res.LimitedBy = "stopped"
	}
	s.res.Notes = append(s.res.Notes, where)
	return s.res
}

// stopWhat says how err ended the search: a stop request or an error.
func stopWhat(err error) string {
	if errors.Is(err, ErrStopped) {
		return "was stopped"
	}
	return "ended"
}

// stopWhy is err for a note, "" for a stop request.
func stopWhy(err error) string {
	if errors.Is(err, ErrStopped) {
		return ""
	}
	return " (" + err.Error() + ")"
}

// saturated notes a step whose harness was the bottleneck.
func (s *search) saturated(st Step) {
	s.res.LimitedBy = "harness"
	s.note(fmt.Sprintf(
		"the harness was saturated at %d users (%v): the server's knee was not reached; run mailsim on a machine with more cores (capacity uses every core by default, --procs all), and against the embedded server run mailsim serve as its own process and search it with --target",
		st.Users, st.HarnessReasons), s.last())
}

// finish records the capacity and runs the confirmation.
func (s *search) finish(ctx context.Context, pass int) (Result, error) {
	s.res.Users = pass
	if !s.o.Confirm || pass == 0 {
		return s.res, nil
	}
	// The claim c must hold at 1.2c, so start from pass/1.2.
	c := int(float64(pass) / 1.2)
	if c < 1 {
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("no confirmation: the first claim, %d users / 1.2, is below one user", pass))
		return s.res, nil
	}
	ok := false
	s.res.Confirmed = &ok
	rounds, cut := 0, 0
	for ; rounds < maxConfirmRounds && c >= 1; rounds++ {
		held := true
		steps := confirmSteps(c)
		var ran []int // the round's steps, by index in s.res.Steps
		for _, u := range steps {
			st, err := s.step(ctx, u, "confirm")
			if err != nil {
				// Neither confirmed nor refuted; the capacity stands.
				s.res.Confirmed = nil
				s.res.Notes = append(s.res.Notes, fmt.Sprintf("the confirmation %s during the confirm step of %d users (not judged, not counted) of the claim %d%s: no claim was confirmed or refuted",
					stopWhat(err), u, c, stopWhy(err)))
				return s.res, err
			}
			if st.HarnessSaturated {
				// The harness, not the server: the claim is not judged,
				// and a lower one is tried.
				held = false
				cut++
				s.note(fmt.Sprintf("the claim %d was not judged: the harness was saturated at %d users (%v) during its confirmation",
					c, u, st.HarnessReasons), s.last())
				break
			}
			ran = append(ran, s.last())
			if !st.Pass {
				held = false
				break
			}
		}
		if held {
			ok = true
			s.res.Claim, s.res.ClaimSteps = c, steps
			if len(steps) < 3 {
				s.note(fmt.Sprintf("80%%, 100%% and 120%% of the claim %d round to %s: the QoS held at fewer than three distinct populations", c, FormatUsers(steps)), ran...)
			}
			return s.res, nil
		}
		c = int(float64(c) * (1 - s.o.Resolution))
	}
	if cut == rounds {
		// Every round was cut by the harness: nothing was refuted.
		s.res.Confirmed = nil
		s.res.Notes = append(s.res.Notes, fmt.Sprintf("no claim was confirmed or refuted after %d round(s): the harness was saturated in each", rounds))
		return s.res, nil
	}
	why := ""
	if cut > 0 {
		why = fmt.Sprintf(" (%d of them cut by the harness)", cut)
	}
	s.res.Notes = append(s.res.Notes, fmt.Sprintf("no claim held at 80%%, 100%% and 120%% after %d round(s)%s: the QoS is not stable near the knee", rounds, why))
	return s.res, nil
}

// FormatUsers writes populations as "2 users" or "1 and 2 users".
func FormatUsers(us []int) string {
	return FormatList(us) + " users"
}

// FormatList writes numbers as "2", "1 and 2" or "1, 5 and 6".
func FormatList(ns []int) string {
	var b strings.Builder
	for i, n := range ns {
		switch {
		case i == 0:
		case i == len(ns)-1:
			b.WriteString(" and ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprint(&b, n)
	}
	return b.String()
}

// confirmSteps returns the populations at 80%, 100% and 120% of c, distinct
// and at least 1.
func confirmSteps(c int) []int {
	var out []int
	for _, f := range []float64{0.8, 1, 1.2} {
		u := max(1, int(math.Round(f*float64(c))))
		if len(out) == 0 || out[len(out)-1] != u {
			out = append(out, u)
		}
	}
	return out
}
