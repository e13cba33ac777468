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

// capacityDoc is the capacity: block.
type capacityDoc struct {
	StartUsers   whole    `yaml:"start_users"`
	MaxUsers     whole    `yaml:"max_users"`
	StepDuration duration `yaml:"step_duration"`
	Growth       number   `yaml:"growth"`
	Resolution   percent  `yaml:"resolution"`
	Confirm      flag     `yaml:"confirm"`
	QoS          raw      `yaml:"qos"` // a list of thresholds
}

// capacity decodes the capacity: block.
func (d *decoder) capacity(e entry, s *Scenario) {
	var doc capacityDoc
	d.mapping(e.val, e.path, "capacity", &doc)
	c := &s.Capacity
	doc.StartUsers.read(d, &c.StartUsers, 1, 1<<24)
	maxSet := doc.MaxUsers.read(d, &c.MaxUsers, 1, 1<<24)
	if !maxSet {
		c.MaxUsers = 100 * c.StartUsers
	}
	if maxSet && c.MaxUsers < c.StartUsers {
		d.errorf(doc.MaxUsers.e.val, doc.MaxUsers.e.path, "%d is below start_users %d", c.MaxUsers, c.StartUsers)
	}
	if doc.StepDuration.read(d, &c.StepDuration) && c.StepDuration <= 0 {
		d.errorf(doc.StepDuration.e.val, doc.StepDuration.e.path, "must be longer than 0")
	}
	if doc.Growth.read(d, &c.Growth) && (c.Growth <= 1 || c.Growth > 100) {
		d.errorf(doc.Growth.e.val, doc.Growth.e.path, "%g out of range: want more than 1 and at most 100", c.Growth)
	}
	if doc.Resolution.read(d, &c.Resolution) && (c.Resolution <= 0 || c.Resolution >= 1) {
		d.errorf(doc.Resolution.e.val, doc.Resolution.e.path, "%s out of range: want more than 0%% and less than 100%%", fmtPercent(c.Resolution))
	}
	doc.Confirm.read(d, &c.Confirm)
	if !doc.QoS.given() {
		return
	}
	q := doc.QoS.e
	var n int
	c.QoS, n = d.thresholds(q, q.path, s)
	if n == 0 {
		d.errorf(q.val, q.path, "empty; list the lines every step must hold, e.g. \"p95(imap.UID FETCH) < 300ms\"")
	}
}
