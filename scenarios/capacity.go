package scenarios

import (
	"time"
)

// Capacity configures "mailsim capacity": the search for the largest
// population a server holds while every QoS line holds (docs/capacity.md).
// The zero value is not usable; Parse fills the defaults below.
type Capacity struct {
	// StartUsers is the population of the first step. Default 10.
	StartUsers int
	// MaxUsers bounds the search: it never runs a step with more users.
	// Default 100 × StartUsers.
	MaxUsers int
	// StepDuration is the measured window of each step, after its own
	// ramp-up (the scenario's ramp_up). Default 30s.
	StepDuration time.Duration
	// Growth multiplies the population from one passing step to the next
	// until a step fails. Default 2.
	Growth float64
	// Resolution ends the bisection between the last passing and the first
	// failing step once they are closer than this share of the passing
	// count (and never closer than one user). Default 10%.
	Resolution float64
	// Confirm runs the SPECmail-style confirmation: the claim c is valid
	// when every QoS line holds at 80%, 100% and 120% of c. Default true.
	Confirm bool
	// QoS are the lines every step must hold, in the threshold language.
	// Default: the scenario's thresholds.
	QoS []Threshold
}

// Capacity defaults.
const (
	DefaultCapacityStart      = 10
	DefaultCapacityStep       = 30 * time.Second
	DefaultCapacityGrowth     = 2.0
	DefaultCapacityResolution = 0.10
)

// defaultCapacity returns the capacity settings of a scenario without a
// capacity: block.
func defaultCapacity() Capacity {
	return Capacity{StartUsers: DefaultCapacityStart, MaxUsers: 100 * DefaultCapacityStart, StepDuration: DefaultCapacityStep,
		Growth: DefaultCapacityGrowth, Resolution: DefaultCapacityResolution, Confirm: true}
}

// maxCapacityUsers bounds start_users and max_users.
const maxCapacityUsers = 1 << 24

// Validate checks the capacity settings: the population bounds, a step
// longer than 0, a growth above 1 and a resolution between 0% and 100%.
// Whether the QoS lines name groups the scenario has is
// Scenario.Validate's check.
func (c *Capacity) Validate() []error {
	var ps problems
	if c.StartUsers < 1 || c.StartUsers > maxCapacityUsers {
		ps.add("start_users", "%d out of range: want %d to %d", c.StartUsers, 1, maxCapacityUsers)
	}
	switch {
	case c.MaxUsers < 1 || c.MaxUsers > maxCapacityUsers:
		ps.add("max_users", "%d out of range: want %d to %d", c.MaxUsers, 1, maxCapacityUsers)
	case c.MaxUsers < c.StartUsers:
		ps.add("max_users", "%d is below start_users %d", c.MaxUsers, c.StartUsers)
	}
	if c.StepDuration <= 0 {
		ps.add("step_duration", "must be longer than 0")
	}
	if c.Growth <= 1 || c.Growth > 100 || c.Growth != c.Growth {
		ps.add("growth", "%g out of range: want more than 1 and at most 100", c.Growth)
	}
	if c.Resolution <= 0 || c.Resolution >= 1 || c.Resolution != c.Resolution {
		ps.add("resolution", "%s out of range: want more than 0%% and less than 100%%", fmtPercent(c.Resolution))
	}
	return ps
}

// capacityDoc is the capacity: block.
type capacityDoc struct {
	StartUsers   whole      `yaml:"start_users"`
	MaxUsers     whole      `yaml:"max_users"`
	StepDuration duration   `yaml:"step_duration"`
	Growth       number     `yaml:"growth"`
	Resolution   percent    `yaml:"resolution"`
	Confirm      flag       `yaml:"confirm"`
	QoS          list[text] `yaml:"qos" what:"capacity.qos"` // thresholds
}

// capacity converts the capacity: block.
func (d *decoder) capacity(b *block[capacityDoc], s *Scenario) {
	doc := &b.doc
	c := &s.Capacity
	doc.StartUsers.read(d, &c.StartUsers, 1, maxCapacityUsers)
	if !doc.MaxUsers.read(d, &c.MaxUsers, 1, maxCapacityUsers) {
		c.MaxUsers = 100 * c.StartUsers
	}
	doc.StepDuration.read(d, &c.StepDuration)
	doc.Growth.read(d, &c.Growth)
	doc.Resolution.read(d, &c.Resolution)
	doc.Confirm.read(d, &c.Confirm)
	if !doc.QoS.given() {
		return
	}
	var n int
	path := d.pathOf(doc.QoS.n)
	c.QoS, n = d.thresholds(&doc.QoS, path, s)
	if n == 0 {
		d.errorf(doc.QoS.n, path, "empty; list the lines every step must hold, e.g. \"p95(imap.UID FETCH) < 300ms\"")
	}
}
