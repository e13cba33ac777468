package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// minStepDuration is the shortest measured window of a capacity step:
// rates and percentiles over a shorter one measure a handful of commands
// (docs/capacity.md, One step).
const minStepDuration = time.Second

// minWindowDeliveries is how many deliveries (or submissions) a step's
// window at start_users should expect for a delivery (or submission) QoS
// line to be judged: fewer, and the window may hold none (Poisson: 5% at
// 3).
const minWindowDeliveries = 3

// windowCounts are the QoS lines that judge what the scenario's rates
// bring into a step's window, one entry per kind of event counted:
// checkStepWindow warns when a window at start_users expects too few.
var windowCounts = []struct {
	// metrics are the QoS metrics that count these events.
	metrics []string
	// noun names the events, plural.
	noun string
	// perSec is the expected rate of the events (scenarios.Plan.Rates,
	// what validate prints).
	perSec func(scenarios.Rates) float64
	// none says why the scenario brings none.
	none string
}{
	{[]string{"delivery_failure_rate", "delivery_failed"}, "deliveries",
		func(r scenarios.Rates) float64 { return r.InboundPerSec + r.SpamPerSec },
		"the scenario's groups have no inbound mail"},
	{[]string{"submission_failure_rate"}, "submissions",
		func(r scenarios.Rates) float64 { return r.SendsPerSec + r.RepliesPerSec },
		"the scenario's groups send, reply to and forward no mail"},
}

// checkStepWindow refuses a step window shorter than minStepDuration, and
// warns when a delivery or submission QoS line expects fewer than
// minWindowDeliveries events in the first step's window (the scenario's
// inbound mail, or its sends, replies and forwards, are too rare for
// it): such a line would have no data, not break.
func checkStepWindow(s *scenarios.Scenario, c scenarios.Capacity) (warnings []string, err error) {
	if c.StepDuration < minStepDuration {
		return nil, fmt.Errorf("step_duration %v is shorter than %v: the rates and percentiles of so short a window mean nothing", c.StepDuration, minStepDuration)
	}
	var plan *scenarios.Plan
	for _, wc := range windowCounts {
		i := slices.IndexFunc(c.QoS, func(q scenarios.Threshold) bool { return slices.Contains(wc.metrics, q.Metric) })
		if i < 0 {
			continue
		}
		line := c.QoS[i].Expr
		if plan == nil {
			// The plan's expected rates at start_users.
			if plan, err = scenarios.NewPlan(s, scenarios.PlanOptions{Users: c.StartUsers}); err != nil {
				return nil, err
			}
		}
		expect := wc.perSec(plan.Rates) * c.StepDuration.Seconds()
		switch {
		case expect == 0:
			warnings = append(warnings, fmt.Sprintf("%s: the QoS line %q has no data to judge", wc.none, line))
		case expect < minWindowDeliveries:
			every := time.Duration(float64(c.StepDuration) / expect).Round(time.Millisecond)
			warnings = append(warnings, fmt.Sprintf("a step's window of %v expects about %.2g %s at %d users (one every %v): the QoS line %q may have no data to judge; lengthen step_duration", c.StepDuration, expect, wc.noun, c.StartUsers, every, line))
		}
	}
	return warnings, nil
}
