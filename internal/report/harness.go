package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/scenarios"
)

// HarnessInput is what mailsim's own process did over a window of the run
// (internal/harnessmon), judged by the rule of docs/capacity.md ("The
// harness must not be the bottleneck").
type HarnessInput struct {
	// Window is the harness's figures over the window and their verdict.
	Window harnessmon.Window
	// Span says which part of the run the window covers, e.g. "active
	// phase (ramp-up included)".
	Span string
}

// Harness is the report's "harness" section: whether mailsim itself was
// the bottleneck of the run, so that its latencies measured the harness as
// much as the server (docs/report.md, "The harness"). A figure that could
// not be measured is null, with why in Unmeasured.
type Harness struct {
	// Span names the window the figures cover; WindowS is its length in
	// wall seconds.
	Span    string  `json:"window"`
	WindowS float64 `json:"window_s"`
	// Cores is the number of cores the harness may use (GOMAXPROCS, at
	// most the machine's; with --procs auto the sizer's ceiling);
	// CPUShare the process's CPU time over WindowS × Cores.
	Cores    int `json:"cores"`
	CPUShare Num `json:"cpu_share"`
	// SchedP99ms is the Go scheduler latency p99 (how long runnable
	// goroutines waited for a thread), milliseconds.
	SchedP99ms Num `json:"sched_p99_ms"`
	// LateP99ms is the p99 of how late people started their scheduled
	// actions, milliseconds wall; LateActions the actions measured.
	LateP99ms   Num    `json:"late_p99_ms"`
	LateActions uint64 `json:"late_actions"`
	// ArrivalsLateP99ms is the p99 of how late the arrival scheduler
	// handed inbound mail to the injector, milliseconds wall;
	// ArrivalsLate the hand-overs measured.
	ArrivalsLateP99ms Num    `json:"arrivals_late_p99_ms"`
	ArrivalsLate      uint64 `json:"arrivals_late"`
	// GCCPUShare is the garbage collector's share of the process's CPU
	// time (the runtime's estimate).
	GCCPUShare Num `json:"gc_cpu_share"`
	// Saturated is true when a figure passed its limit; Reasons name which
	// (cpu, scheduler, late-arrivals) and Reason says it in words (or that
	// every figure kept within its limit).
	Saturated bool     `json:"saturated"`
	Reasons   []string `json:"reasons"`
	Reason    string   `json:"reason"`
	// Limits are the limits the figures were judged against.
	Limits HarnessLimits `json:"limits"`
	// Unmeasured says, by figure (cpu, scheduler, late-actions,
	// late-arrivals, gc), why it is null.
	Unmeasured map[string]string `json:"unmeasured,omitempty"`
	// Shards holds each shard's verdict in a merged report (the figures
	// above are then the busiest shard's); absent otherwise.
	Shards []ShardHarness `json:"shards,omitempty"`
}

// HarnessLimits are the harness guard's limits: the share of the cores,
// the scheduler latency p99 and, when judged, the arrival scheduler's
// lateness p99 (null: not judged; the persons' lateness never is).
type HarnessLimits struct {
	MaxCPUShare          float64 `json:"max_cpu_share"`
	MaxSchedP99ms        float64 `json:"max_sched_p99_ms"`
	MaxArrivalsLateP99ms Num     `json:"max_arrivals_late_p99_ms"`
}

// ShardHarness is one shard's harness verdict in a merged report; Measured
// is false for a shard whose report has no harness section.
type ShardHarness struct {
	Shard     string `json:"shard"`
	Measured  bool   `json:"measured"`
	Saturated bool   `json:"saturated"`
	CPUShare  Num    `json:"cpu_share"`
	Reason    string `json:"reason"`
}

// HarnessAdvice is what to do about a saturated harness.
const HarnessAdvice = "run with fewer users per process or --shard, see docs/distributed.md"

// newHarness is the report's section of in; nil without one.
func newHarness(in *HarnessInput) *Harness {
	if in == nil {
		return nil
	}
	w := in.Window
	h := &Harness{
		Span: in.Span, WindowS: w.Wall.Seconds(), Cores: w.Cores,
		CPUShare: Num(w.CPUShare), SchedP99ms: durMs(w.SchedP99), LateP99ms: durMs(w.LateP99), LateActions: w.Late,
		ArrivalsLateP99ms: durMs(w.ArrivalsLateP99), ArrivalsLate: w.ArrivalsLate,
		GCCPUShare: Num(w.GCShare), Saturated: w.Saturated, Reasons: slices.Clone(w.Reasons), Reason: w.Explain(),
		Limits: HarnessLimits{MaxCPUShare: w.Limits.MaxCPU, MaxSchedP99ms: float64(durMs(w.Limits.MaxSchedP99)), MaxArrivalsLateP99ms: NaN()},
	}
	if w.Limits.MaxArrivalsLateP99 > 0 {
		h.Limits.MaxArrivalsLateP99ms = durMs(w.Limits.MaxArrivalsLateP99)
	}
	if h.Reasons == nil {
		h.Reasons = []string{}
	}
	for fig, why := range w.Missing {
		if h.Unmeasured == nil {
			h.Unmeasured = map[string]string{}
		}
		h.Unmeasured[fig] = why
		switch fig {
		case harnessmon.FigureCPU:
			h.CPUShare = NaN()
		case harnessmon.FigureScheduler:
			h.SchedP99ms = NaN()
		case harnessmon.FigureLate:
			h.LateP99ms = NaN()
		case harnessmon.FigureArrivalsLate:
			h.ArrivalsLateP99ms = NaN()
		case harnessmon.FigureGC:
			h.GCCPUShare = NaN()
		}
	}
	return h
}

func durMs(d time.Duration) Num { return Num(float64(d) / float64(time.Millisecond)) }

// harnessTimed reports whether a threshold metric is a time the harness
// measures with its own clock — a command's latency, a change's
// convergence lag — and so includes the harness's own delay when it is
// saturated.
func harnessTimed(metric string) bool {
	switch metric {
	case "p50", "p95", "p99", "convergence_p50", "convergence_p99", "delivery_queue_p99":
		return true
	}
	return false
}

// markUnreliable marks the timed thresholds (harnessTimed) of a run whose
// harness was saturated: as a capacity step that saturated the harness is
// no pass, such a threshold does not hold (OK false, the run exits 1) but
// is not the server's failure either — Unreliable says so, and the note
// why.
func (r *Report) markUnreliable() {
	h := r.Harness
	if h == nil || !h.Saturated {
		return
	}
	for i := range r.Thresholds {
		t := &r.Thresholds[i]
		if th, err := scenarios.ParseThreshold(t.Expr, nil); err != nil || !harnessTimed(th.Metric) {
			continue
		}
		t.OK, t.Unreliable = false, true
		note := fmt.Sprintf("unreliable: the harness was saturated (%s), so this time measures the harness too", strings.Join(h.Reasons, ", "))
		if t.Note != "" {
			note += "; " + t.Note
		}
		t.Note = note
	}
}

// writeHarness writes the summary's harness line and, when the harness was
// saturated, the warning block.
func (r *Report) writeHarness(w io.Writer) {
	h := r.Harness
	if h == nil {
		fmt.Fprintln(w, "harness: not measured (the report has no harness section)")
		return
	}
	judged := ""
	if h.Limits.MaxArrivalsLateP99ms.Missing() {
		judged = " (not judged)"
	}
	fmt.Fprintf(w, "harness over the %s (%.1f s): cpu %s of %d cores, scheduler p99 %s, arrivals late p99 %s over %d%s, GC %s of the CPU: %s; people's actions late p99 %s over %d (not judged)\n",
		h.Span, h.WindowS, fmtPercent(h.CPUShare), h.Cores, fmtMs(h.SchedP99ms), fmtMs(h.ArrivalsLateP99ms), h.ArrivalsLate, judged,
		fmtPercent(h.GCCPUShare), h.verdict(), fmtMs(h.LateP99ms), h.LateActions)
	for _, fig := range sortedKeys(h.Unmeasured) {
		fmt.Fprintf(w, "  %s not measured: %s\n", fig, h.Unmeasured[fig])
	}
	if !h.Saturated {
		return
	}
	fmt.Fprintf(w, "WARNING: the harness was saturated: %s\n", h.Warning())
}

// verdict is "saturated (cpu)" or "not saturated".
func (h *Harness) verdict() string {
	if h.Saturated {
		return "SATURATED (" + strings.Join(h.Reasons, ", ") + ")"
	}
	return "not saturated"
}

// Warning is the warning of a saturated harness: the reason, what it
// means and what to do.
func (h *Harness) Warning() string {
	return fmt.Sprintf("%s; latency percentiles and thresholds below measure the harness too: %s", h.Reason, HarnessAdvice)
}

// fmtMs formats milliseconds as a short duration, to the microsecond
// below a millisecond; "-" when missing.
func fmtMs(n Num) string {
	if n.Missing() {
		return "-"
	}
	if d := time.Duration(float64(n) * float64(time.Millisecond)); d < time.Millisecond {
		return d.Round(time.Microsecond).String()
	}
	return fmtSeconds(float64(n) / 1000)
}

// mergeHarness combines the shards' harness sections: saturated when any
// shard was, the figures those of the busiest shard (the highest CPU
// share) among the saturated ones when any was, else among all, so the
// figures shown beside a saturated verdict are a saturated shard's; every
// shard's verdict listed. nil when no shard measured it.
func mergeHarness(shards []*Report) *Harness {
	var busiest *Harness
	out := &Harness{Reasons: []string{}}
	for _, s := range shards {
		h := s.Harness
		if h == nil {
			out.Shards = append(out.Shards, ShardHarness{Shard: s.Shard, CPUShare: NaN(), Reason: "its report has no harness section"})
			continue
		}
		out.Shards = append(out.Shards, ShardHarness{Shard: s.Shard, Measured: true, Saturated: h.Saturated, CPUShare: h.CPUShare, Reason: h.Reason})
		if busiest == nil || (h.Saturated && !busiest.Saturated) ||
			(h.Saturated == busiest.Saturated && !h.CPUShare.Missing() && (busiest.CPUShare.Missing() || h.CPUShare > busiest.CPUShare)) {
			busiest = h
		}
		if h.Saturated {
			out.Saturated = true
			for _, reason := range h.Reasons {
				if !slices.Contains(out.Reasons, reason) {
					out.Reasons = append(out.Reasons, reason)
				}
			}
		}
	}
	if busiest == nil {
		return nil
	}
	shards2 := out.Shards
	saturated, reasons := out.Saturated, out.Reasons
	*out = *busiest
	out.Unmeasured = maps.Clone(busiest.Unmeasured)
	out.Shards, out.Saturated, out.Reasons = shards2, saturated, reasons
	var sat, unmeasured []string
	for _, s := range out.Shards {
		switch {
		case !s.Measured:
			unmeasured = append(unmeasured, s.Shard)
		case s.Saturated:
			sat = append(sat, s.Shard+" ("+s.Reason+")")
		}
	}
	switch {
	case len(sat) > 0:
		out.Reason = "saturated in shard " + strings.Join(sat, "; shard ")
	default:
		out.Reason = "no shard saturated; the busiest: " + busiest.Reason
	}
	if len(unmeasured) > 0 {
		out.Reason += "; not measured in shard " + strings.Join(unmeasured, ", ")
	}
	return out
}
