package main

import (
	"flag"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/metrics"
)

// checkHarness checks the report's harness section is present and sane:
// its figures are numbers in their range (not their values, which depend
// on the machine), its verdict agrees with its reasons.
// maxCPU is the --harness-max-cpu of the run, as a share.
func checkHarness(t *testing.T, rep map[string]any, maxCPU float64) {
	t.Helper()
	h := obj(t, rep, "harness")
	if h == nil {
		return
	}
	if w, _ := h["window"].(string); w != harnessSpan {
		t.Errorf("harness.window %q, want %q", w, harnessSpan)
	}
	if s := num(t, rep, "harness.window_s"); !(s > 0) {
		t.Errorf("harness.window_s %v, want > 0", s)
	}
	if c := num(t, rep, "harness.cores"); c < 1 {
		t.Errorf("harness.cores %v, want ≥ 1", c)
	}
	if v := num(t, rep, "harness.cpu_share"); v < 0 {
		t.Errorf("harness.cpu_share %v out of range", v)
	}
	if v, ok := h["gc_cpu_share"]; ok && v != nil {
		if g := num(t, rep, "harness.gc_cpu_share"); g < 0 || g > 1 {
			t.Errorf("harness.gc_cpu_share %v out of range", g)
		}
	}
	for _, f := range []string{"sched_p99_ms", "late_p99_ms", "arrivals_late_p99_ms", "gc_cpu_share"} {
		// null when nothing was sampled (gc_cpu_share: when no GC cycle
		// ended in the window), with why.
		if v, ok := h[f]; !ok || (v == nil && len(obj(t, rep, "harness.unmeasured")) == 0) {
			t.Errorf("harness.%s = %v without a reason in unmeasured", f, v)
		}
	}
	reasons, _ := h["reasons"].([]any)
	if sat, _ := h["saturated"].(bool); sat != (len(reasons) > 0) {
		t.Errorf("harness.saturated %v with reasons %v", sat, reasons)
	}
	if r, _ := h["reason"].(string); r == "" {
		t.Error("harness.reason empty")
	}
	if l := num(t, rep, "harness.limits.max_cpu_share"); l != maxCPU {
		t.Errorf("harness.limits.max_cpu_share %v, want %v", l, maxCPU)
	}
}

// TestHarnessFlagsLate: --harness-max-late sets the limit of the arrival
// scheduler's lateness (the one lateness judged), none by default; a
// negative one is a usage error.
func TestHarnessFlagsLate(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want time.Duration
		bad  bool
	}{
		{nil, 0, false},
		{[]string{"--harness-max-late", "2s"}, 2 * time.Second, false},
		{[]string{"--harness-max-late", "-1s"}, 0, true},
	} {
		var h harnessFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		h.register(fs, "a run")
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o, err := h.options(2)
		if (err != nil) != tc.bad || o.MaxArrivalsLateP99 != tc.want {
			t.Errorf("%q: limit %v, error %v; want %v, error %v", tc.args, o.MaxArrivalsLateP99, err, tc.want, tc.bad)
		}
	}
}

// TestRunHarnessSaturated runs with a harness guard no process can keep
// (--harness-max-cpu of a millionth of a percent): the report says the
// harness was saturated by its CPU, warns, and the latency threshold is
// unreliable, so the run exits 1; the threshold that no harness delay
// affects holds.
func TestRunHarnessSaturated(t *testing.T) {
	t.Parallel()
	if res := mailsim("run", writeScenario(t, tiny(1, "[]")), "--quiet", "--harness-max-cpu", "0%"); res.code != exitScenario ||
		!strings.Contains(res.stderr, "--harness-max-cpu") {
		t.Errorf("--harness-max-cpu 0%%: want a usage error, got %s", res)
	}
	path := writeScenario(t, tiny(2, `["p99(imap.SELECT) < 1h", "lost_messages == 0"]`))
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", path, "--quiet", "--report", js, "--harness-max-cpu", "0.000001%")
	if res.code != exitThresholds {
		t.Fatalf("want exit %d (unreliable threshold), got %s", exitThresholds, res)
	}
	rep := readReport(t, js)
	checkHarness(t, rep, 1e-8)
	if sat, _ := field(rep, "harness.saturated"); sat != true {
		t.Errorf("harness.saturated %v, want true", sat)
	}
	if r, _ := field(rep, "harness.reasons"); !slices.Contains(r.([]any), any("cpu")) {
		t.Errorf("harness.reasons %v, want cpu", r)
	}
	ths, _ := rep["thresholds"].([]any)
	if len(ths) != 2 {
		t.Fatalf("thresholds %v", ths)
	}
	lat, lost := ths[0].(map[string]any), ths[1].(map[string]any)
	if lat["ok"] != false || lat["unreliable"] != true || lost["ok"] != true || lost["unreliable"] != nil {
		t.Errorf("thresholds %v: want the latency unreliable, lost mail ok", ths)
	}
	for _, want := range []string{"WARNING: the harness was saturated: the harness used", "UNRELIABLE  p99(imap.SELECT) < 1h", "--shard, see docs/distributed.md"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stdout)
		}
	}
}

// lockedBuffer is a strings.Builder safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunHarnessLive drives the live watch with short windows and a guard
// any CPU use passes: it sets the gauges and says the harness became
// saturated; closing it ends its goroutine, and the window covers the
// whole watch.
func TestRunHarnessLive(t *testing.T) {
	t.Parallel()
	reg := metrics.NewRegistry()
	var out lockedBuffer
	h := newRunHarness(harnessmon.Options{MaxCPU: 1e-12, Cores: 1}, reg, &out)
	h.interval = 10 * time.Millisecond
	if h.input() != nil {
		t.Error("a window before the active phase")
	}
	h.phase(engine.PhaseActive)
	h.Late(time.Second)
	h.ArrivalLate(time.Millisecond)
	h.ArrivalLate(2 * time.Millisecond)
	x := 0
	for deadline := time.Now().Add(time.Minute); !strings.Contains(out.String(), "harness SATURATED") && time.Now().Before(deadline); {
		for i := range 100000 {
			x += i ^ x // burn CPU, so that a live window sees some
		}
	}
	h.phase(engine.PhaseSettle)
	h.phase(engine.PhaseSettle) // closes once
	if !strings.Contains(out.String(), "harness SATURATED over the last 10ms: the harness used") {
		t.Errorf("live output (x=%d) %q lacks the saturated line", x, out.String())
	}
	in := h.input()
	if in == nil || !in.Window.Saturated || in.Window.Late != 1 || in.Window.ArrivalsLate != 2 || in.Span != harnessSpan {
		t.Fatalf("window %+v", in)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "mailsim_harness_") {
			m := mf.GetMetric()[0]
			got[mf.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	// The scheduler gauge is left out when the last 10 ms window sampled
	// no goroutine's wait (metrics/harnessload.go); the others are there.
	_, sat := got["mailsim_harness_saturated"]
	cpu, hasCPU := got["mailsim_harness_cpu_ratio"]
	if got["mailsim_harness_saturated_windows_total"] < 1 || !sat || !hasCPU || cpu < 0 || len(got) < 3 {
		t.Errorf("harness metrics %v", got)
	}
}
