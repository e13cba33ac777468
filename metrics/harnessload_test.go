package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestHarnessLoad(t *testing.T) {
	reg := NewRegistry()
	h := NewHarnessLoad(reg)
	if n, err := testutil.GatherAndCount(reg, "mailsim_harness_saturated", "mailsim_harness_cpu_ratio"); err != nil || n != 0 {
		t.Errorf("before the first window: %d series (%v), want none", n, err)
	}
	h.Set(HarnessWindow{Saturated: true, CPURatio: 0.97, SchedP99: 20 * time.Millisecond})
	h.Set(HarnessWindow{Saturated: false, CPURatio: 0.5, SchedP99: time.Millisecond})
	h.Set(HarnessWindow{Saturated: true, CPURatio: 0.93, SchedP99: 2 * time.Millisecond})
	want := `
# HELP mailsim_harness_cpu_ratio CPU time of mailsim's process over the last live window, as a share of the cores it may use (1 = every core busy).
# TYPE mailsim_harness_cpu_ratio gauge
mailsim_harness_cpu_ratio 0.93
# HELP mailsim_harness_saturated 1 when mailsim's own process was saturated over the last live window (CPU or Go scheduler latency past the harness guard's limits): latencies then measure the harness too.
# TYPE mailsim_harness_saturated gauge
mailsim_harness_saturated 1
# HELP mailsim_harness_saturated_windows_total Live windows over which mailsim's own process was saturated.
# TYPE mailsim_harness_saturated_windows_total counter
mailsim_harness_saturated_windows_total 2
# HELP mailsim_harness_sched_latency_p99_seconds p99 time runnable goroutines of mailsim waited for a thread over the last live window (Go scheduler latency).
# TYPE mailsim_harness_sched_latency_p99_seconds gauge
mailsim_harness_sched_latency_p99_seconds 0.002
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mailsim_harness_saturated", "mailsim_harness_cpu_ratio",
		"mailsim_harness_sched_latency_p99_seconds", "mailsim_harness_saturated_windows_total"); err != nil {
		t.Error(err)
	}
	// A window that could not measure its CPU or scheduler latency drops
	// those gauges instead of exporting 0 (an idle harness).
	h.Set(HarnessWindow{CPURatio: 0, NoCPU: true, SchedP99: 0, NoSched: true})
	for _, name := range []string{"mailsim_harness_cpu_ratio", "mailsim_harness_sched_latency_p99_seconds"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 0 {
			t.Errorf("%s after an unmeasured window: %d series (%v), want none", name, n, err)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "mailsim_harness_saturated"); err != nil || n != 1 {
		t.Errorf("mailsim_harness_saturated after an unmeasured window: %d series (%v), want 1", n, err)
	}
}
