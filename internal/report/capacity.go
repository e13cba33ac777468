package report

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mailsim/mailsim/internal/capacity"
)

// CapacityMeta names a capacity search: what ran, against what.
type CapacityMeta struct {
	Scenario  string
	Seed      int64
	Target    string // "embedded" or the server's address
	StartedAt time.Time
	Wall      time.Duration
	// QoS are the lines every step had to hold.
	QoS []string
	// StepSeconds is the measured window of a step, RampUpSeconds the
	// ramp-up before it.
	StepSeconds, RampUpSeconds float64
}

// CapacityReport is the report of "mailsim capacity" (docs/capacity.md).
type CapacityReport struct {
	Scenario    string          `json:"scenario"`
	Seed        int64           `json:"seed"`
	Target      string          `json:"target"`
	StartedAt   time.Time       `json:"started_at"`
	WallSeconds float64         `json:"wall_seconds"`
	QoS         []string        `json:"qos"`
	StepSeconds float64         `json:"step_seconds"`
	RampUp      float64         `json:"ramp_up_seconds"`
	Capacity    CapacityOutcome `json:"capacity"`
	Steps       []CapacityStep  `json:"steps"`
	Notes       []string        `json:"notes,omitempty"`
}

// CapacityOutcome is the answer: how many users the server holds.
type CapacityOutcome struct {
	// Users is the largest population at which every QoS line held.
	Users int `json:"users"`
	// LimitedBy is the QoS line that broke first at the next step,
	// verbatim; "harness" or "max_users" when the search stopped there.
	LimitedBy    string `json:"limited_by"`
	FirstFailing int    `json:"first_failing,omitempty"`
	// Claim is the SPECmail-style claim (QoS held at 80%, 100% and 120%
	// of it); Confirmed is null when the confirmation did not run.
	Claim     int   `json:"claim"`
	Confirmed *bool `json:"confirmed"`
	// ClaimSteps are the populations the claim held at: fewer than three
	// when 80%, 100% and 120% of a small claim round to the same count.
	ClaimSteps []int `json:"claim_steps,omitempty"`
	// Stopped is set when a ^C (or an error, such as a server that
	// became unreachable) ended the search early: Users is a lower bound.
	Stopped bool `json:"stopped,omitempty"`
	// GrowthMode is "live" when the growth phase added users to one
	// running population, "restart" when every step ran a fresh one;
	// GrowthReason says why (docs/capacity.md, Live growth).
	GrowthMode   string `json:"growth_mode"`
	GrowthReason string `json:"growth_reason,omitempty"`
}

// ClaimHeld reports whether the confirmation found a claim (Confirmed is
// true): false when it refuted every claim or did not run.
func (c CapacityOutcome) ClaimHeld() bool { return c.Confirmed != nil && *c.Confirmed }

// CapacityStep is one step of the search in the report.
type CapacityStep struct {
	Users            int               `json:"users"`
	Phase            string            `json:"phase"`
	Pass             bool              `json:"pass"`
	HarnessSaturated bool              `json:"harness_saturated"`
	HarnessReasons   []string          `json:"harness_reasons,omitempty"`
	FirstFailed      string            `json:"first_failed,omitempty"`
	Invalid          []string          `json:"invalid,omitempty"`
	QoS              []ThresholdResult `json:"qos"`
	// CommandsPerSecond are the client commands per wall second of the
	// measured window; the other figures are named in
	// docs/capacity.md (null when unknown).
	CommandsPerSecond Num            `json:"commands_per_second"`
	Metrics           map[string]Num `json:"metrics"`
	// Server are the server's resources over the measured window.
	Server      CapacityServer `json:"server"`
	WallSeconds float64        `json:"wall_seconds"`
	// Live marks a step measured on the growing live population.
	Live bool `json:"live,omitempty"`
	// Notes are the report's notes that concern this step, the same
	// strings as in CapacityReport.Notes (docs/capacity.md, The report).
	Notes []string `json:"notes,omitempty"`
}

// CapacityServer are the server's resources over a step's measured window
// (docs/capacity.md, Server resources): null figures are unknown, and
// Reasons say why, by field.
type CapacityServer struct {
	// Source is "embedded", "exporter" (URL) or "none".
	Source string `json:"source"`
	URL    string `json:"url,omitempty"`
	// CPUCores are CPU seconds per second of the window (CPUSeries).
	CPUCores  Num    `json:"cpu_cores"`
	CPUSeries string `json:"cpu_series,omitempty"`
	// MemoryMaxBytes and MemoryEndBytes are the largest and the last
	// memory sample of the window (MemorySeries).
	MemoryMaxBytes Num    `json:"memory_max_bytes"`
	MemoryEndBytes Num    `json:"memory_end_bytes"`
	MemorySeries   string `json:"memory_series,omitempty"`
	// BusySecondsPerSecond is the embedded server's command time per
	// second (the mean number of commands in progress); StoreBytes the
	// mail it stores at the window's end.
	BusySecondsPerSecond Num               `json:"busy_seconds_per_second"`
	StoreBytes           Num               `json:"store_bytes"`
	Reasons              map[string]string `json:"reasons,omitempty"`
}

// The step metrics of the two latenesses the capacity tables show
// (docs/capacity.md, "The harness must not be the bottleneck").
const (
	// HarnessLateMetric is the harness's own lateness: how late the
	// arrival scheduler handed inbound mail to the injector at the p99
	// (a run report's harness.arrivals_late_p99_ms), judged by
	// --harness-max-late.
	HarnessLateMetric = "arrivals_late_p99_s"
	// PersonsLateMetric is how late the persons started their actions at
	// the p99 (a run report's harness.late_p99_ms): it includes waiting
	// for the server and the persons' own writing time, and is never
	// judged.
	PersonsLateMetric = "late_p99_s"
)

// The step metrics of the devices' submissions (sends, replies,
// forwards; docs/report.md, Submissions): a fresh step's run's, a live
// step's those that ended in its window (docs/capacity.md, Live
// growth).
const (
	SubmissionsStartedMetric    = "submissions_started"
	SubmissionsSentMetric       = "submissions_sent"
	SubmissionsFailedMetric     = "submissions_failed"
	SubmissionsUnansweredMetric = "submissions_unanswered"
	SubmissionsCutMetric        = "submissions_cut"
	// SubmissionsUnansweredAtEndMetric counts, of the unanswered, those
	// whose device still waited for the reply when a fresh step's run
	// ended (submission_failure_rate leaves them out, or is undecided).
	SubmissionsUnansweredAtEndMetric = "submissions_unanswered_at_end"
)

// submissionsLegend tells the summary's reader what the submissions
// column counts.
const submissionsLegend = "submissions: failed + unanswered of started, the devices' sends, replies and forwards " +
	"(a live step's: those that ended in its window; \"(N at the end)\": of the unanswered, those that awaited their reply when a fresh step's run ended, which submission_failure_rate leaves out; metrics.submissions_*)"

// SubmissionsCell is the step's submissions in a few words: "3+1 of 40"
// (failed + unanswered of started), "3+1 (1 at the end) of 40" when some
// of the unanswered awaited their reply at the run's end (which
// submission_failure_rate leaves out), "-" when unknown (a report of an
// older mailsim).
func (s CapacityStep) SubmissionsCell() string {
	started, failed, unanswered := s.Metric(SubmissionsStartedMetric), s.Metric(SubmissionsFailedMetric), s.Metric(SubmissionsUnansweredMetric)
	if started.Missing() || failed.Missing() || unanswered.Missing() {
		return "-"
	}
	atEnd := ""
	if n := s.Metric(SubmissionsUnansweredAtEndMetric); !n.Missing() && n > 0 {
		atEnd = fmt.Sprintf(" (%.0f at the end)", float64(n))
	}
	return fmt.Sprintf("%.0f+%.0f%s of %.0f", float64(failed), float64(unanswered), atEnd, float64(started))
}

// harnessLateLegend tells the summary's reader the two lateness columns
// apart.
const harnessLateLegend = "harness late p99: how late the harness handed inbound mail to the injector (metrics.arrivals_late_p99_s: its own lateness, judged by --harness-max-late); " +
	"persons late p99: how late the persons started their actions (metrics.late_p99_s: waiting for the server and their own writing time, never judged)"

// Metric is the step's metric name; NaN (unknown) when the step has none,
// as in a report of an older mailsim.
func (s CapacityStep) Metric(name string) Num {
	if v, ok := s.Metrics[name]; ok {
		return v
	}
	return NaN()
}

// newCapacityServer converts a step's resources; a step that measured
// none (Source empty) reports every figure unknown.
func newCapacityServer(r capacity.Resources) CapacityServer {
	if r.Source == "" {
		r = capacity.UnknownResources("none")
		r.Reasons["cpu_cores"] = "not measured"
	}
	cs := CapacityServer{Source: r.Source, URL: r.URL, CPUCores: Num(r.CPUCores), CPUSeries: r.CPUSeries,
		MemoryMaxBytes: Num(r.MemoryMaxBytes), MemoryEndBytes: Num(r.MemoryEndBytes), MemorySeries: r.MemorySeries,
		BusySecondsPerSecond: Num(r.BusySecondsPerSecond), StoreBytes: Num(r.StoreBytes)}
	if len(r.Reasons) > 0 {
		cs.Reasons = make(map[string]string, len(r.Reasons))
		for k, v := range r.Reasons {
			cs.Reasons[k] = v
		}
	}
	return cs
}

// Cell is the server's resources in a few words, for the step line and
// the tables: "0.42 cores, 61.2 MiB" from an exporter, "busy 0.31/s,
// store 2.1 MiB" for the embedded server, "-" when unknown.
func (s CapacityServer) Cell() string {
	var parts []string
	if !s.CPUCores.Missing() {
		parts = append(parts, fmt.Sprintf("%.3g cores", float64(s.CPUCores)))
	}
	if !s.MemoryMaxBytes.Missing() {
		parts = append(parts, "mem "+fmtBytes(float64(s.MemoryMaxBytes)))
	}
	if !s.BusySecondsPerSecond.Missing() {
		parts = append(parts, fmt.Sprintf("busy %.3g/s", float64(s.BusySecondsPerSecond)))
	}
	if !s.StoreBytes.Missing() {
		parts = append(parts, "store "+fmtBytes(float64(s.StoreBytes)))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// NewCapacityReport builds the report of a finished (or stopped) search.
func NewCapacityReport(m CapacityMeta, res capacity.Result) *CapacityReport {
	r := &CapacityReport{
		Scenario: m.Scenario, Seed: m.Seed, Target: m.Target, StartedAt: m.StartedAt, WallSeconds: m.Wall.Seconds(),
		QoS: append([]string{}, m.QoS...), StepSeconds: m.StepSeconds, RampUp: m.RampUpSeconds,
		Capacity: CapacityOutcome{Users: res.Users, LimitedBy: res.LimitedBy, FirstFailing: res.FirstFailing,
			Claim: res.Claim, Confirmed: res.Confirmed, ClaimSteps: res.ClaimSteps, Stopped: res.Stopped, GrowthMode: res.GrowthMode, GrowthReason: res.GrowthReason},
		Steps: []CapacityStep{},
		Notes: append([]string(nil), res.Notes...),
	}
	for _, s := range res.Steps {
		r.Steps = append(r.Steps, NewCapacityStep(s))
	}
	return r
}

// NewCapacityStep converts one step of the search for the report.
func NewCapacityStep(s capacity.Step) CapacityStep {
	cs := CapacityStep{Users: s.Users, Phase: s.Phase, Pass: s.Pass, HarnessSaturated: s.HarnessSaturated,
		HarnessReasons: s.HarnessReasons, FirstFailed: s.FirstFailed, Invalid: s.Invalid, Live: s.Live, Notes: s.Notes,
		QoS: []ThresholdResult{}, CommandsPerSecond: NaN(), Metrics: map[string]Num{}, WallSeconds: s.WallSeconds,
		Server: newCapacityServer(s.Server)}
	for _, q := range s.QoS {
		cs.QoS = append(cs.QoS, ThresholdResult{Expr: q.Expr, OK: q.OK, Value: Num(q.Value), Note: q.Note})
	}
	for k, v := range s.Metrics {
		if k == "commands_per_second" {
			cs.CommandsPerSecond = Num(v)
			continue
		}
		cs.Metrics[k] = Num(v)
	}
	return cs
}

// WriteJSON writes the report as indented JSON.
func (r *CapacityReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadCapacityJSON reads a report written by WriteJSON.
func ReadCapacityJSON(rd io.Reader) (*CapacityReport, error) {
	var r CapacityReport
	if err := json.NewDecoder(io.LimitReader(rd, 64<<20)).Decode(&r); err != nil {
		return nil, fmt.Errorf("read json: %w", err)
	}
	if r.Steps == nil {
		return nil, fmt.Errorf("read json: not a capacity report (no steps)")
	}
	for i := range r.Steps {
		if r.Steps[i].Server.Source == "" { // a report from before steps[].server
			r.Steps[i].Server = newCapacityServer(capacity.Resources{})
		}
	}
	return &r, nil
}

// qosNotes are the summary's lines on QoS values that have a note (a line
// with no data at a step: "no deliveries in the run"), one per line and
// note, with the steps' users.
func (r *CapacityReport) qosNotes() []string {
	type key struct {
		line       int
		what, note string
	}
	users := map[key][]string{}
	var order []key
	for _, s := range r.Steps {
		for i, q := range s.QoS {
			if q.Note == "" {
				continue
			}
			k := key{i, "note", q.Note}
			if q.Value.Missing() {
				k.what = "no data"
			}
			if _, ok := users[k]; !ok {
				order = append(order, k)
			}
			users[k] = append(users[k], strconv.Itoa(s.Users))
		}
	}
	var out []string
	for _, k := range order {
		out = append(out, fmt.Sprintf("qos %d %s at %s users: %s", k.line+1, k.what, strings.Join(users[k], ", "), k.note))
	}
	return out
}

// invalidNotes are the summary's lines on the steps whose measurements
// were invalid (inbound mail fell behind, no successful login, failed
// deliveries), one per step: the table shows such a step FAIL with QoS
// values that may all hold, and the reason is nowhere else.
func (r *CapacityReport) invalidNotes() []string {
	var out []string
	for _, s := range r.Steps {
		if len(s.Invalid) > 0 {
			out = append(out, fmt.Sprintf("invalid run at %d users (%s): %s", s.Users, stepPhase(s), strings.Join(s.Invalid, "; ")))
		}
	}
	return out
}

// StepLine is the one-line summary of a step, the progress line on stderr
// while the search runs: its phase, users, client commands per second,
// verdict, the two latenesses of the summary's table (the harness's own
// and the persons', with their units; "-" when unknown), the devices'
// submissions that failed or got no reply (SubmissionsCell) and the
// server's resources when measured.
func StepLine(s CapacityStep) string {
	verdict := "pass"
	switch {
	case s.HarnessSaturated:
		verdict = "HARNESS SATURATED (" + strings.Join(s.HarnessReasons, ", ") + ")"
	case !s.Pass && s.FirstFailed != "":
		verdict = "FAIL " + s.FirstFailed
	case !s.Pass && len(s.Invalid) > 0:
		verdict = "FAIL invalid run: " + s.Invalid[0]
	case !s.Pass:
		verdict = "FAIL"
	}
	server := ""
	if c := s.Server.Cell(); c != "-" {
		server = "  server " + c
	}
	return fmt.Sprintf("%-7s %6d users  %8s cmd/s  %s  harness late p99 %s, persons late p99 %s  submissions failed+unanswered %s%s", stepPhase(s), s.Users,
		fmtNum(s.CommandsPerSecond), verdict, fmtSecondsNum(s.Metric(HarnessLateMetric)), fmtSecondsNum(s.Metric(PersonsLateMetric)),
		s.SubmissionsCell(), server)
}

// stepPhase is a step's phase, marked "(live)" when it was measured on the
// growing live population.
func stepPhase(s CapacityStep) string {
	if s.Live {
		return s.Phase + " (live)"
	}
	return s.Phase
}

// WriteSummary writes the outcome and the steps as a table.
func (r *CapacityReport) WriteSummary(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "capacity of %s for scenario %s (seed %d), %d steps in %s\n", r.Target, r.Scenario, r.Seed,
		len(r.Steps), fmtSeconds(r.WallSeconds))
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	header := "phase\tusers\tresult\tcmd/s"
	for i := range r.QoS {
		header += fmt.Sprintf("\tqos %d", i+1)
	}
	fmt.Fprintln(tw, header+"\tharness cpu\tharness late p99\tpersons late p99\tsubmissions\tserver")
	for _, s := range r.Steps {
		res := "pass"
		switch {
		case s.HarnessSaturated:
			res = "saturated"
		case !s.Pass:
			res = "FAIL"
		}
		line := fmt.Sprintf("%s\t%d\t%s\t%s", stepPhase(s), s.Users, res, fmtNum(s.CommandsPerSecond))
		for _, q := range s.QoS {
			mark := ""
			if !q.OK {
				mark = " ✗"
			}
			v := fmtNum(q.Value)
			if q.Value.Missing() && q.Note != "" {
				v = "no data"
			}
			line += "\t" + v + mark
		}
		fmt.Fprintln(tw, line+"\t"+fmtPercent(s.Metric("harness_cpu"))+"\t"+fmtSecondsNum(s.Metric(HarnessLateMetric))+"\t"+
			fmtSecondsNum(s.Metric(PersonsLateMetric))+"\t"+s.SubmissionsCell()+"\t"+s.Server.Cell())
	}
	tw.Flush()
	if len(r.Steps) > 0 {
		fmt.Fprintln(ew, harnessLateLegend)
		fmt.Fprintln(ew, submissionsLegend)
	}
	if src := r.serverSource(); src != "" {
		fmt.Fprintf(ew, "server resources from %s\n", src)
	}
	for _, why := range r.serverReasons() {
		fmt.Fprintf(ew, "server %s\n", why)
	}
	for i, q := range r.QoS {
		fmt.Fprintf(ew, "qos %d: %s\n", i+1, q)
	}
	for _, n := range r.qosNotes() {
		fmt.Fprintln(ew, n)
	}
	for _, n := range r.invalidNotes() {
		fmt.Fprintln(ew, n)
	}
	c := r.Capacity
	switch c.GrowthMode {
	case "live":
		fmt.Fprintf(ew, "growth: live (one population grew from step to step: %s); bisection and confirmation ran fresh populations\n", c.GrowthReason)
	case "restart":
		fmt.Fprintf(ew, "growth: restart (every step ran a fresh population: %s)\n", c.GrowthReason)
	}
	fmt.Fprintf(ew, "\ncapacity: %d users", c.Users)
	switch c.LimitedBy {
	case "max_users":
		fmt.Fprintf(ew, " or more (every step up to max_users passed)\n")
	case "harness":
		fmt.Fprintf(ew, " at least (the harness saturated first: not the server's limit)\n")
	case "stopped":
		fmt.Fprintf(ew, " at least (the search was stopped before a step failed)\n")
	case "":
		fmt.Fprintln(ew)
	default:
		verb := "first broke"
		if strings.HasPrefix(c.LimitedBy, "no data: ") {
			verb = "first failed" // a line without data did not break
		}
		if c.Stopped {
			fmt.Fprintf(ew, " at least; at %d users %s: %s (the search was stopped", c.FirstFailing, verb, c.LimitedBy)
			if c.FirstFailing > c.Users+1 {
				fmt.Fprintf(ew, " while bisecting between %d and %d", c.Users, c.FirstFailing)
			}
			fmt.Fprintln(ew, ")")
			break
		}
		fmt.Fprintf(ew, "; at %d users %s: %s\n", c.FirstFailing, verb, c.LimitedBy)
	}
	if c.Confirmed != nil {
		switch {
		case *c.Confirmed && len(c.ClaimSteps) > 0 && len(c.ClaimSteps) < 3:
			fmt.Fprintf(ew, "SPECmail-style claim: %d users (QoS held at %s: 80%%, 100%% and 120%% of it are not distinct)\n", c.Claim, capacity.FormatUsers(c.ClaimSteps))
		case *c.Confirmed:
			fmt.Fprintf(ew, "SPECmail-style claim: %d users (QoS held at 80%%, 100%% and 120%% of it)\n", c.Claim)
		default:
			fmt.Fprintln(ew, "SPECmail-style claim: none confirmed")
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}

// serverSource names where the steps' server resources came from.
func (r *CapacityReport) serverSource() string {
	for _, s := range r.Steps {
		switch s.Server.Source {
		case "embedded":
			return "the embedded server's own meters"
		case "exporter":
			return "the exporter " + s.Server.URL
		}
	}
	return ""
}

// maxServerReasons bounds the distinct reasons the summary prints.
const maxServerReasons = 4

// serverReasons are the distinct reasons of the steps' unknown server
// figures ("cpu_cores unknown: ..."), in the order first met; those of the
// embedded server's own figures only for the embedded server.
func (r *CapacityReport) serverReasons() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range r.Steps {
		for _, k := range sortedKeys(s.Server.Reasons) {
			if s.Server.Source != "embedded" && (k == "busy_seconds_per_second" || k == "store_bytes") {
				continue
			}
			line := k + " unknown: " + s.Server.Reasons[k]
			if seen[line] {
				continue
			}
			seen[line] = true
			if len(out) == maxServerReasons {
				return append(out, "(more reasons in the JSON report's steps[].server.reasons)")
			}
			out = append(out, line)
		}
	}
	return out
}

// WriteHTML writes a self-contained HTML page: latency and throughput
// against users with the knee marked, and the QoS table per step.
func (r *CapacityReport) WriteHTML(w io.Writer) error {
	var sum strings.Builder
	if err := r.WriteSummary(&sum); err != nil {
		return err
	}
	return capacityTemplate.Execute(w, struct {
		R       *CapacityReport
		Charts  []template.HTML
		Summary string
	}{r, r.charts(), sum.String()})
}

// charts draws the QoS values and the throughput against users, over the
// steps sorted by users (the last step of a population wins), with the
// capacity marked as a vertical series.
func (r *CapacityReport) charts() []template.HTML {
	byUsers := map[int]CapacityStep{}
	for _, s := range r.Steps {
		byUsers[s.Users] = s
	}
	var users []int
	for u := range byUsers {
		users = append(users, u)
	}
	sort.Ints(users)
	xs := make([]float64, len(users))
	for i, u := range users {
		xs[i] = float64(u)
	}
	var qos []series
	for i, expr := range r.QoS {
		ys := make([]float64, len(users))
		for j, u := range users {
			ys[j] = math.NaN()
			if st := byUsers[u]; i < len(st.QoS) && !st.QoS[i].Value.Missing() {
				ys[j] = float64(st.QoS[i].Value)
			}
		}
		qos = append(qos, series{name: expr, ys: ys})
	}
	rate := make([]float64, len(users))
	for j, u := range users {
		rate[j] = float64(byUsers[u].CommandsPerSecond)
	}
	xFmt := func(v float64) string { return trimFloat(v) }
	knee := fmt.Sprintf("users (capacity %d)", r.Capacity.Users)
	out := []template.HTML{
		template.HTML(lineChart("Client commands per second against users", knee, xs, []series{{name: "commands/s", ys: rate}}, xFmt, plainUnit)),
	}
	for _, s := range qos {
		out = append(out, template.HTML(lineChart("QoS: "+s.name, knee, xs, []series{s, kneeMarker(xs, s.ys, r.Capacity.Users)}, xFmt, plainUnit)))
	}
	// The server's resources, where some step measured them.
	for _, c := range []struct {
		title, name string
		value       func(CapacityServer) Num
	}{
		{"Server CPU (cores) against users", "cores", func(s CapacityServer) Num { return s.CPUCores }},
		{"Server memory (largest sample, MiB) against users", "MiB", func(s CapacityServer) Num { return s.MemoryMaxBytes / (1 << 20) }},
		{"Embedded server busy seconds per second against users", "busy s/s", func(s CapacityServer) Num { return s.BusySecondsPerSecond }},
	} {
		ys, seen := make([]float64, len(users)), false
		for j, u := range users {
			v := c.value(byUsers[u].Server)
			ys[j], seen = float64(v), seen || !v.Missing()
		}
		if seen {
			s := series{name: c.name, ys: ys}
			out = append(out, template.HTML(lineChart(c.title, knee, xs, []series{s, kneeMarker(xs, ys, r.Capacity.Users)}, xFmt, plainUnit)))
		}
	}
	return out
}

// kneeMarker is a series with one point, at the capacity, on the curve.
func kneeMarker(xs, ys []float64, knee int) series {
	out := make([]float64, len(xs))
	for i := range out {
		out[i] = math.NaN()
		if int(xs[i]) == knee {
			out[i] = ys[i]
		}
	}
	return series{name: "capacity", ys: out}
}

var capacityTemplate = template.Must(template.New("capacity").Funcs(template.FuncMap{"num": fmtNum, "percent": fmtPercent, "seconds": fmtSecondsNum}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mailsim capacity: {{.R.Scenario}}</title>
<style>
` + reportCSS + `.sat { color: #a60; font-weight: bold; }
</style>
</head>
<body>
<h1>mailsim capacity: {{.R.Scenario}}</h1>
<p>Target {{.R.Target}}, seed {{.R.Seed}}, started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}}; {{len .R.Steps}} steps.</p>
<p><b>Capacity: {{.R.Capacity.Users}} users</b>{{with .R.Capacity.LimitedBy}}, limited by <code>{{.}}</code>{{end}}{{with .R.Capacity.FirstFailing}} (first failing step: {{.}} users){{end}}.
{{with .R.Capacity.Confirmed}}{{if $.R.Capacity.ClaimHeld}}SPECmail-style claim: <b>{{$.R.Capacity.Claim}} users</b> (QoS held at {{with $.R.Capacity.ClaimSteps}}{{if lt (len .) 3}}{{range $i, $u := .}}{{if $i}}, {{end}}{{$u}}{{end}} users: 80%, 100% and 120% of it are not distinct{{else}}80%, 100% and 120%{{end}}{{else}}80%, 100% and 120%{{end}}).{{else}}No SPECmail-style claim confirmed.{{end}}{{end}}</p>
{{with .R.Capacity.GrowthMode}}<p>Growth: <b>{{.}}</b>{{if eq . "live"}} (one population grew from step to step; bisection and confirmation ran fresh populations){{else}} (every step ran a fresh population){{end}}{{with $.R.Capacity.GrowthReason}}: {{.}}{{end}}.</p>{{end}}
{{range .R.Notes}}<p>Note: {{.}}</p>{{end}}
<h2>Steps</h2>
<div class="wide"><table><tr><th>phase</th><th class="num">users</th><th>result</th><th class="num">commands/s</th>{{range .R.QoS}}<th class="num">{{.}}</th>{{end}}<th class="num" title="mailsim's own CPU share over the step's window (metrics.harness_cpu)">harness cpu</th><th class="num" title="how late the harness handed inbound mail to the injector at the p99 (metrics.arrivals_late_p99_s): its own lateness, judged by --harness-max-late">harness late p99</th><th class="num" title="how late the persons started their actions at the p99 (metrics.late_p99_s): waiting for the server and their own writing time, never judged">persons late p99</th><th title="the devices' submissions (sends, replies, forwards) that failed + got no reply, of those started (metrics.submissions_*; a live step's: those that ended in its window; (N at the end): of the unanswered, those that awaited their reply when a fresh step's run ended, which submission_failure_rate leaves out)">submissions failed+unanswered</th><th>server</th></tr>
{{range .R.Steps}}<tr><td class="nowrap">{{.Phase}}{{if .Live}} (live){{end}}</td><td class="num">{{.Users}}</td><td>{{if .HarnessSaturated}}<span class="sat">harness saturated</span>{{else if .Pass}}<span class="ok">pass</span>{{else}}<span class="fail">FAIL</span>{{range .Invalid}}<br>invalid run: {{.}}{{end}}{{end}}</td><td class="num">{{num .CommandsPerSecond}}</td>{{range .QoS}}{{if and .Value.Missing .Note}}<td{{if not .OK}} class="fail"{{end}}>no data: {{.Note}}</td>{{else}}<td class="num{{if not .OK}} fail{{end}}">{{num .Value}}{{if .Note}} ({{.Note}}){{end}}</td>{{end}}{{end}}<td class="num">{{percent (.Metric "harness_cpu")}}</td><td class="num">{{seconds (.Metric "arrivals_late_p99_s")}}</td><td class="num">{{seconds (.Metric "late_p99_s")}}</td><td class="nowrap">{{.SubmissionsCell}}</td><td class="nowrap">{{.Server.Cell}}</td></tr>
{{end}}</table></div>
` + htmlTail))

// Servers is how many servers like the measured one a population needs.
type Servers struct {
	Users int
	// PerServer is the users one server holds: the confirmed SPECmail-style
	// claim when there is one, else the capacity found; Basis says which.
	PerServer int
	Basis     string
	// Headroom is the share of each server kept spare; Usable the users a
	// server is planned for (PerServer × (1 − Headroom)).
	Headroom float64
	Usable   float64
	// Count is the number of servers: ⌈Users / Usable⌉.
	Count int
	Notes []string
}

// ServersFor plans servers for users from a capacity report, keeping
// headroom (0 ≤ headroom < 1) of each server spare.
func ServersFor(r *CapacityReport, users int, headroom float64) (Servers, error) {
	s := Servers{Users: users, Headroom: headroom, PerServer: r.Capacity.Users, Basis: "capacity found"}
	if c := r.Capacity; c.ClaimHeld() && c.Claim > 0 {
		s.PerServer, s.Basis = c.Claim, "SPECmail-style claim"
	}
	if s.PerServer <= 0 {
		return s, fmt.Errorf("the capacity report found no passing population: no server count can be planned")
	}
	if c := r.Capacity; c.Confirmed != nil && !*c.Confirmed {
		s.Notes = append(s.Notes, fmt.Sprintf("no SPECmail-style claim held: populations no larger than the %d users found failed the QoS in the confirmation, so one server may hold fewer and the count may be too low (the capacity report's notes name them)",
			s.PerServer))
	}
	switch r.Capacity.LimitedBy {
	case "harness":
		s.Notes = append(s.Notes, "the search stopped at a saturated harness: one server holds at least this many, so the count is an upper bound")
	case "max_users":
		s.Notes = append(s.Notes, "every step up to max_users passed: one server holds at least this many, so the count is an upper bound")
	case "stopped":
		s.Notes = append(s.Notes, "the search was stopped before a step failed: one server holds at least this many, so the count is an upper bound")
	}
	s.Usable = float64(s.PerServer) * (1 - headroom)
	if s.Usable < 1 {
		return s, fmt.Errorf("%d users per server with %.0f%% headroom leave less than one user per server", s.PerServer, 100*headroom)
	}
	s.Count = int(math.Ceil(float64(users) / s.Usable))
	return s, nil
}

// Write writes the plan in a few lines.
func (s Servers) Write(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "servers for %d users: %d (one holds %d users, the %s; planned at %.0f with %.0f%% headroom)\n",
		s.Users, s.Count, s.PerServer, s.Basis, s.Usable, 100*s.Headroom)
	for _, n := range s.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}
