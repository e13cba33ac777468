package metrics

import (
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCapacityProgress(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCapacity(reg)
	c.Start(10)
	c.Finish(CapacityStep{Users: 10, Result: "pass", QoS: []float64{0.12, 0}})
	c.Start(20)
	c.Finish(CapacityStep{Users: 20, Result: "fail", QoS: []float64{0.4, math.NaN()}})
	c.Finish(CapacityStep{Users: 40, Result: "weird"})
	c.Start(15)
	want := `
# HELP mailsim_capacity_step_users Users of the capacity step running now; 0 between steps.
# TYPE mailsim_capacity_step_users gauge
mailsim_capacity_step_users 15
# HELP mailsim_capacity_steps_total Finished capacity steps, by result (pass, fail, saturated: the harness was the bottleneck).
# TYPE mailsim_capacity_steps_total counter
mailsim_capacity_steps_total{result="fail"} 2
mailsim_capacity_steps_total{result="pass"} 1
mailsim_capacity_steps_total{result="saturated"} 0
# HELP mailsim_capacity_users The largest population that passed every QoS line so far.
# TYPE mailsim_capacity_users gauge
mailsim_capacity_users 10
# HELP mailsim_capacity_last_step_users Users of the last finished capacity step.
# TYPE mailsim_capacity_last_step_users gauge
mailsim_capacity_last_step_users 40
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mailsim_capacity_step_users",
		"mailsim_capacity_steps_total", "mailsim_capacity_users", "mailsim_capacity_last_step_users"); err != nil {
		t.Error(err)
	}
	// The last step had no QoS values: no line series.
	if n := testutil.CollectAndCount(c, "mailsim_capacity_qos_value"); n != 0 {
		t.Errorf("%d qos series after a step without values", n)
	}
}

func TestSwappableGatherer(t *testing.T) {
	base := prometheus.NewRegistry()
	RunInfo(base, "cap", "1/1")
	step := NewRegistry()
	NewHarness(step, HarnessOptions{Scenario: "cap", Shard: "1/1"})
	NewClient(step)
	g := &SwappableGatherer{Base: base}
	count := func() (int, int) {
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		info, commands := 0, 0
		for _, mf := range mfs {
			switch mf.GetName() {
			case "mailsim_run_info":
				info += len(mf.GetMetric())
			case "mailsim_client_logins_total":
				commands++
			}
		}
		return info, commands
	}
	if info, c := count(); info != 1 || c != 0 {
		t.Errorf("without a step: %d run_info, %d client families", info, c)
	}
	g.Set(step)
	if info, c := count(); info != 1 || c != 1 {
		t.Errorf("with a step: %d run_info (want the base's one), %d client families", info, c)
	}
	g.Set(nil)
	if info, c := count(); info != 1 || c != 0 {
		t.Errorf("after the step: %d run_info, %d client families", info, c)
	}
}
