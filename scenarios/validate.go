package scenarios

import (
	"fmt"
	"github.com/mailsim/mailsim/clients"
)

// Validate reports every problem of a decoded or hand-built scenario that
// needs no YAML to find: values out of range, settings that exclude each
// other, names that refer to nothing. Each is a *FieldError with the key
// path of the setting as a scenario file spells it. Parse runs it after
// decoding and reports each problem at its file:line:column; a program
// that builds a Scenario in Go calls it before running one.
func (s *Scenario) Validate() []error {
	if ps := s.validateNotNil(); len(ps) > 0 {
		return ps // the checks below would follow them
	}
	var ps problems
	if s.Version != 1 {
		ps.add("version", "unsupported version %d: this mailsim reads version 1", s.Version)
	}
	if s.Duration <= 0 {
		ps.add("duration", "must be longer than 0")
	}
	if s.TimeScale <= 0 || s.TimeScale > 1e6 || s.TimeScale != s.TimeScale {
		ps.add("time_scale", "%g out of range: want more than 0 and at most 1000000", s.TimeScale)
	}
	if s.RampUp < 0 {
		ps.add("ramp_up", "must not be negative")
	}
	ps.under("settle", s.validateSettle())
	ps.under("users", s.Users.Validate())
	ps.under("hand", s.validateHand())
	for _, name := range sortedKeys(s.Behaviors) {
		validateName(&ps, joinPath("behaviors", name), name)
		ps.under(joinPath("behaviors", name), s.Behaviors[name].Validate())
	}
	for _, name := range sortedKeys(s.Devices) {
		validateName(&ps, joinPath("devices", name), name)
		ps.under(joinPath("devices", name), validateDevice(s.Devices[name]))
	}
	ps = append(ps, s.validateGroups()...)
	if s.Audit <= 0 {
		ps.add("audit", "must be longer than 0")
	}
	if s.StopGrace < 0 {
		ps.add("stop_grace", "must not be negative")
	}
	if s.MaxParallelDeliveries < 0 || s.MaxParallelDeliveries > 1<<20 {
		ps.add("max_parallel_deliveries", "%d out of range: want %d to %d", s.MaxParallelDeliveries, 0, 1<<20)
	}
	ps.under("server", s.Server.Validate())
	if s.Target != nil && s.Server != (ServerSettings{}) {
		ps.addKey("server", "configures the embedded server, and this scenario runs against its target: instead")
	}
	if s.Target != nil {
		ps.under("target", s.Target.Validate())
	}
	ps = append(ps, s.validateTarget()...)
	ps = append(ps, s.validateThresholds("thresholds", s.Thresholds)...)
	ps.under("capacity", s.Capacity.Validate())
	// Parse fills capacity.qos with the thresholds themselves when the
	// scenario has no qos: of its own.
	if q := s.Capacity.QoS; len(q) > 0 && !(len(s.Thresholds) > 0 && &q[0] == &s.Thresholds[0]) {
		ps = append(ps, s.validateThresholds("capacity.qos", q)...)
	}
	return ps
}

// validateNotNil reports the groups, behaviors and device profiles that
// are nil pointers.
func (s *Scenario) validateNotNil() problems {
	var ps problems
	for i, g := range s.Groups {
		if g == nil {
			ps.add(fmt.Sprintf("groups[%d]", i), "no group (nil)")
		}
	}
	for _, name := range sortedKeys(s.Behaviors) {
		if s.Behaviors[name] == nil {
			ps.add(joinPath("behaviors", name), "no behavior (nil)")
		}
	}
	for _, name := range sortedKeys(s.Devices) {
		if s.Devices[name] == nil {
			ps.add(joinPath("devices", name), "no device profile (nil)")
		}
	}
	return ps
}

// validateSettle checks settle and its end.
func (s *Scenario) validateSettle() []error {
	var ps problems
	if s.Settle < 0 {
		ps.add("", "must not be negative")
	}
	if s.SettleUntil != SettleTimer && s.SettleUntil != SettleSynced {
		ps.add("until", "unknown settle end %q; want one of: %s, %s", s.SettleUntil, SettleTimer, SettleSynced)
	}
	return ps
}

// Validate checks the embedded server's settings.
func (v ServerSettings) Validate() []error {
	var ps problems
	if v.MaxCommandsPerSecond < 0 || v.MaxCommandsPerSecond != v.MaxCommandsPerSecond {
		ps.add("max_commands_per_second", "%g out of range: want 0 (no limit) or more", v.MaxCommandsPerSecond)
	}
	return ps
}

// validateName checks the name of a behavior or device profile (checkName).
func validateName(ps *problems, path, name string) {
	if err := checkName(name); err != nil {
		ps.addKey(path, "%v", err)
	}
}

// validateHand checks the weights of the device kinds in hand: each 0% to
// 100%, and one above 0%.
func (s *Scenario) validateHand() []error {
	var ps problems
	total := 0.0
	for _, k := range []clients.Kind{clients.KindPC, clients.KindPhone, clients.KindWebmail} {
		w, ok := s.Hand[k]
		if ok {
			validatePercent(&ps, string(k), w)
			total += w
		}
	}
	for k := range s.Hand {
		if k != clients.KindPC && k != clients.KindPhone && k != clients.KindWebmail {
			ps.add("", "unknown device kind %q", k)
		}
	}
	if total == 0 && len(s.Hand) > 0 {
		ps.add("", "at least one device kind needs a weight above 0%%")
	}
	return ps
}
