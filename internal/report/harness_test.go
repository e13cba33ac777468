package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/harnessmon"
)

// harnessWindow is a Window of 60 s on 2 cores, saturated by CPU or not.
func harnessWindow(saturated bool) *HarnessInput {
	w := harnessmon.Window{
		Wall: time.Minute, CPU: 30 * time.Second, CPUShare: 0.25, Cores: 2, GCCPU: 3 * time.Second, GCShare: 0.1,
		SchedP99: time.Millisecond, LateP99: 20 * time.Millisecond, Late: 500, ArrivalsLateP99: 3 * time.Millisecond, ArrivalsLate: 40,
		Limits:  harnessmon.Limits{MaxCPU: 0.9, MaxSchedP99: 10 * time.Millisecond},
		Missing: map[string]string{},
	}
	if saturated {
		w.CPU, w.CPUShare, w.Saturated, w.Reasons = 114*time.Second, 0.95, true, []string{harnessmon.FigureCPU}
	}
	return &HarnessInput{Window: w, Span: "active phase (ramp-up included)"}
}

func TestHarnessSection(t *testing.T) {
	exprs := []string{"p99(imap.FETCH) < 500ms", "convergence_p99 < 1000", "lost_messages == 0", "p99(smtp.DATA) < 1s"}
	tests := []struct {
		name      string
		harness   *HarnessInput
		saturated bool
		// ok and unreliable are each threshold's verdict, in exprs' order.
		ok, unreliable []bool
		summary        []string
		notSummary     []string
	}{
		{"not saturated", harnessWindow(false), false,
			[]bool{true, true, true, false}, []bool{false, false, false, false},
			[]string{"harness over the active phase (ramp-up included) (60.0 s): cpu 25.00% of 2 cores, scheduler p99 1ms, arrivals late p99 3ms over 40 (not judged), GC 10.00% of the CPU: not saturated; people's actions late p99 20ms over 500 (not judged)",
				"ok    p99(imap.FETCH) < 500ms"},
			[]string{"WARNING", "UNRELIABLE"}},
		{"saturated", harnessWindow(true), true,
			[]bool{false, false, true, false}, []bool{true, true, false, true},
			[]string{"SATURATED (cpu)",
				"WARNING: the harness was saturated: the harness used 95% of the 2 cores it may use (limit 90%); latency percentiles and thresholds below measure the harness too: run with fewer users per process or --shard, see docs/distributed.md",
				"UNRELIABLE  p99(imap.FETCH) < 500ms", "unreliable: the harness was saturated (cpu)", "ok          lost_messages == 0"},
			[]string{"FAIL  p99(imap.FETCH)"}},
		{"not measured", nil, false,
			[]bool{true, true, true, false}, []bool{false, false, false, false},
			[]string{"harness: not measured"}, []string{"WARNING"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleInput(t, exprs...)
			in.Harness = tc.harness
			r := roundTrip(t, Build(in))
			if (r.Harness == nil) != (tc.harness == nil) {
				t.Fatalf("harness section %+v for input %+v", r.Harness, tc.harness)
			}
			if h := r.Harness; h != nil {
				if h.Saturated != tc.saturated || h.Cores != 2 || h.WindowS != 60 || h.LateActions != 500 ||
					float64(h.SchedP99ms) != 1 || float64(h.LateP99ms) != 20 || float64(h.GCCPUShare) != 0.1 ||
					float64(h.ArrivalsLateP99ms) != 3 || h.ArrivalsLate != 40 ||
					h.Limits.MaxCPUShare != 0.9 || h.Limits.MaxSchedP99ms != 10 || !h.Limits.MaxArrivalsLateP99ms.Missing() ||
					h.Reason == "" || h.Span == "" {
					t.Errorf("harness section %+v", h)
				}
			}
			for i, th := range r.Thresholds {
				if th.OK != tc.ok[i] || th.Unreliable != tc.unreliable[i] {
					t.Errorf("%s: ok %v unreliable %v, want %v %v (%s)", th.Expr, th.OK, th.Unreliable, tc.ok[i], tc.unreliable[i], th.Note)
				}
			}
			checkSummary(t, r, tc.summary, tc.notSummary)
			var html bytes.Buffer
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			warned := strings.Contains(html.String(), `<p class="fail">The harness was saturated: the harness used 95% of the 2 cores`)
			if warned != tc.saturated || strings.Contains(html.String(), ">UNRELIABLE<") != tc.saturated {
				t.Errorf("HTML warns %v, want %v", warned, tc.saturated)
			}
		})
	}
}

func TestHarnessUnmeasured(t *testing.T) {
	in := sampleInput(t)
	in.Harness = harnessWindow(false)
	in.Harness.Window.Missing = map[string]string{harnessmon.FigureLate: "no scheduled action started in the window", harnessmon.FigureCPU: "no getrusage"}
	var buf bytes.Buffer
	if err := Build(in).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	h := r.Harness
	if !h.LateP99ms.Missing() || !h.CPUShare.Missing() || h.SchedP99ms.Missing() || h.Unmeasured[harnessmon.FigureCPU] != "no getrusage" {
		t.Errorf("harness %+v: want cpu and lateness null with why", h)
	}
	for _, want := range []string{`"late_p99_ms": null`, `"cpu_share": null`, `"late-actions": "no scheduled action started in the window"`} {
		if !bytes.Contains(mustJSON(t, r), []byte(want)) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

// mustJSON is r's JSON report.
func mustJSON(t *testing.T, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMergeHarness(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	parts := randomParts(3, 5)
	exprs := []string{"p99(imap.FETCH) < 1s", "error_rate < 50%"}
	shard := func(i int, h *HarnessInput) *Report {
		in := partsInput(t, []string{"1/3", "2/3", "3/3"}[i], start, parts[i:i+1], exprs)
		in.Harness = h
		return roundTrip(t, Build(in))
	}
	calm, busy := harnessWindow(false), harnessWindow(true)
	busier := harnessWindow(false)
	busier.Window.CPUShare = 0.5

	m, err := Merge([]*Report{shard(0, calm), shard(1, busy), shard(2, nil)})
	if err != nil {
		t.Fatal(err)
	}
	h := m.Harness
	if h == nil || !h.Saturated || float64(h.CPUShare) != 0.95 || len(h.Shards) != 3 || h.Shards[2].Measured ||
		!strings.Contains(h.Reason, "saturated in shard 2/3 (the harness used 95%") || !strings.Contains(h.Reason, "not measured in shard 3/3") {
		t.Errorf("merged harness %+v", h)
	}
	if th := m.Thresholds; th[0].OK || !th[0].Unreliable || !th[1].OK || th[1].Unreliable {
		t.Errorf("merged thresholds %+v: want the latency one unreliable, the error rate ok", th)
	}

	m, err = Merge([]*Report{shard(0, calm), shard(1, busier), shard(2, calm)})
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Harness; h.Saturated || float64(h.CPUShare) != 0.5 || !strings.HasPrefix(h.Reason, "no shard saturated; the busiest: within its limits: the harness used 50%") ||
		!m.Thresholds[0].OK {
		t.Errorf("merged harness %+v, thresholds %+v", h, m.Thresholds)
	}

	// A saturated shard that used less CPU than a calm one: the merged
	// figures are the saturated shard's, shown beside its verdict.
	quietSat := harnessWindow(true)
	quietSat.Window.CPUShare = 0.1
	m, err = Merge([]*Report{shard(0, busier), shard(1, quietSat), shard(2, calm)})
	if err != nil {
		t.Fatal(err)
	}
	if h := m.Harness; !h.Saturated || float64(h.CPUShare) != 0.1 {
		t.Errorf("merged harness %+v: want saturated with the saturated shard's CPU share 0.1", h)
	}

	m, err = Merge([]*Report{shard(0, nil), shard(1, nil), shard(2, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if m.Harness != nil {
		t.Errorf("merged harness %+v of shards without one, want null", m.Harness)
	}
}
