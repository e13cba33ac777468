package main

import (
	"fmt"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// minStepDuration is the shortest measured window of a capacity step:
// rates and percentiles over a shorter one measure a handful of commands
// (docs/capacity.md, One step).
const minStepDuration = time.Second

// minWindowDeliveries is how many deliveries a step's window at
// start_users should expect for a delivery QoS line to be judged: fewer,
// and the window may hold none (Poisson: 5% at 3).
const minWindowDeliveries = 3

// checkStepWindow refuses a step window shorter than minStepDuration, and
// warns when a delivery QoS line expects fewer than minWindowDeliveries
// deliveries in the first step's window (the scenario's inbound mail is
// too rare for it): such a line would have no data, not break.
func checkStepWindow(s *scenarios.Scenario, c scenarios.Capacity) (warnings []string, err error) {
	if c.StepDuration < minStepDuration {
		return nil, fmt.Errorf("step_duration %v is shorter than %v: the rates and percentiles of so short a window mean nothing", c.StepDuration, minStepDuration)
	}
	delivery := ""
	for _, q := range c.QoS {
		if q.Metric == "delivery_failure_rate" || q.Metric == "delivery_failed" {
			delivery = q.Expr
			break
		}
	}
	if delivery == "" {
		return nil, nil
	}
	// The plan's expected rates (scenarios.Plan.Rates, what validate
	// prints) at start_users: deliveries in one window.
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: c.StartUsers})
	if err != nil {
		return nil, err
	}
	expect := (plan.Rates.InboundPerSec + plan.Rates.SpamPerSec) * c.StepDuration.Seconds()
	if expect < minWindowDeliveries {
		if expect == 0 {
			return []string{fmt.Sprintf("the scenario's groups have no inbound mail: the QoS line %q has no data to judge", delivery)}, nil
		}
		perDelivery := time.Duration(float64(c.StepDuration) / expect).Round(time.Millisecond)
		return []string{fmt.Sprintf("a step's window of %v expects about %.2g deliveries at %d users (one every %v): the QoS line %q may have no data to judge; lengthen step_duration", c.StepDuration, expect, c.StartUsers, perDelivery, delivery)}, nil
	}
	return nil, nil
}
