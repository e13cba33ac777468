package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// SyncRoundInput is one device profile's sync rounds as the engine
// measured them: how many completed, and their quantiles in wall time,
// and how many failed (left out of the quantiles).
type SyncRoundInput struct {
	Rounds        int
	Failed        int
	P50, P99, Max time.Duration
}

// SyncRound is one device profile's sync rounds in the report: a round is
// one scheduled sync of the device's loop (a webmail's page load, a
// phone's poll of its folders, a PC's folder checks, a POP3 poll), in
// wall seconds, and its p99 in simulated seconds (× time_scale).
type SyncRound struct {
	// Rounds counts the rounds that completed, which the quantiles
	// describe; Failed those that failed, left out of them (a refused
	// connection takes no time, a timeout the whole of it: a server's
	// failure, counted in the commands' outcomes, not a sync's cost).
	Rounds int     `json:"rounds"`
	Failed int     `json:"failed"`
	P50S   float64 `json:"p50_s"`
	P99S   float64 `json:"p99_s"`
	MaxS   float64 `json:"max_s"`
	// P99SimS is P99S × time_scale: what one round costs the device in
	// simulated time before it can sync again.
	P99SimS float64 `json:"p99_sim_s"`
}

// line describes the sync rounds of profile in one line of the summary.
func (s SyncRound) line(profile string) string {
	var failed string
	if s.Failed > 0 {
		failed = fmt.Sprintf(" (%d failed, left out)", s.Failed)
	}
	if s.Rounds == 0 {
		return fmt.Sprintf("sync rounds of %s: none completed%s", profile, failed)
	}
	return fmt.Sprintf("sync rounds of %s: p50 %s, p99 %s, max %s wall over %d%s; p99 %s simulated",
		profile, fmtSeconds(s.P50S), fmtSeconds(s.P99S), fmtSeconds(s.MaxS), s.Rounds, failed, fmtSeconds(s.P99SimS))
}

// MaxRoundShare is the share of a convergence threshold's budget above
// which one sync round, in simulated time, is large against it: the
// quarter the network warning allows a session against disconnect_every
// (clients.SessionLengthOf), since a change waits for the device's
// interval as well as for its rounds.
const MaxRoundShare = 0.25

// NearFailShare is the share of its budget at or above which a
// convergence threshold's value counts as near failing, so that the report
// says how much of it the time compression can be.
const NearFailShare = 0.8

// RoundSim returns a sync round of wall (wall time) in simulated time at
// timeScale (0 or less means 1), whether it is large against a
// convergence budget (more than MaxRoundShare of it), and the largest
// time_scale at which it would not be (0 when wall is 0). It is the one
// rule behind the report's sync-round note.
func RoundSim(wall, budget time.Duration, timeScale float64) (sim time.Duration, large bool, fit float64) {
	timeScale = scaleOr1(timeScale)
	sim = time.Duration(float64(wall) * timeScale)
	allowed := MaxRoundShare * float64(budget)
	if wall > 0 {
		fit = allowed / float64(wall)
		if fit >= 1 {
			fit = math.Floor(fit)
		} else {
			fit = math.Floor(fit*100) / 100
		}
	}
	return sim, float64(sim) > allowed, fit
}

// SlowRound is one device profile's sync rounds large against a
// convergence budget: the round's wall time at the threshold's quantile
// and RoundSim's sim and fit.
type SlowRound struct {
	Profile   string
	Wall, Sim time.Duration
	Fit       float64
}

// RoundNote is the note on a convergence threshold (expr, its value,
// its budget) near or past its budget while the sync rounds of the device
// profiles in slow, at quantile q ("p99"), were large against it
// (RoundSim). It names the time_scale at or below which every one of them
// takes at most MaxRoundShare of the budget: the smallest fit.
func RoundNote(expr string, value, budget time.Duration, q string, timeScale float64, slow []SlowRound) string {
	var rounds []string
	fit := math.Inf(1)
	for _, s := range slow {
		rounds = append(rounds, fmt.Sprintf("%s %s wall (%s simulated, %.0f%% of the budget)",
			s.Profile, fmtSeconds(s.Wall.Seconds()), fmtSeconds(s.Sim.Seconds()), 100*float64(s.Sim)/float64(budget)))
		fit = min(fit, s.Fit)
	}
	return fmt.Sprintf("%s is %s (budget %s) while the devices' sync rounds at the %s took, at time_scale %g: %s; "+
		"a round's commands, logins and network are wall time, which time_scale does not compress, so this figure measures the time compression as well as the server and the population; "+
		"at time_scale %s or lower each such round takes at most a quarter of the budget",
		expr, fmtSeconds(value.Seconds()), fmtSeconds(budget.Seconds()), q, timeScale, strings.Join(rounds, ", "),
		strconv.FormatFloat(fit, 'f', -1, 64))
}

// syncRounds fills sync_rounds from in.SyncRounds and notes, for each
// convergence threshold (convergence_p50 or convergence_p99, < or <=)
// whose value reached NearFailShare of its budget, the device profiles
// whose sync rounds at the same quantile are large against that budget
// (RoundSim). r.Thresholds must be evaluated.
func (r *Report) syncRounds(in Input) {
	if len(in.SyncRounds) == 0 {
		return
	}
	scale := scaleOr1(in.TimeScale)
	r.SyncRounds = make(map[string]SyncRound, len(in.SyncRounds))
	for p, s := range in.SyncRounds {
		r.SyncRounds[p] = SyncRound{Rounds: s.Rounds, Failed: s.Failed, P50S: s.P50.Seconds(), P99S: s.P99.Seconds(), MaxS: s.Max.Seconds(),
			P99SimS: s.P99.Seconds() * scale}
	}
	for i, th := range in.Thresholds {
		if i >= len(r.Thresholds) || th.Op != "<" && th.Op != "<=" || th.Value <= 0 {
			continue
		}
		q := map[string]string{"convergence_p50": "p50", "convergence_p99": "p99"}[th.Metric]
		v := r.Thresholds[i].Value
		if q == "" || v.Missing() || float64(v) < NearFailShare*th.Value {
			continue
		}
		budget := time.Duration(th.Value * float64(time.Second))
		var slow []SlowRound
		for _, p := range sortedKeys(in.SyncRounds) {
			wall := in.SyncRounds[p].P50
			if q == "p99" {
				wall = in.SyncRounds[p].P99
			}
			if sim, large, fit := RoundSim(wall, budget, scale); large {
				slow = append(slow, SlowRound{Profile: p, Wall: wall, Sim: sim, Fit: fit})
			}
		}
		if len(slow) > 0 {
			value := time.Duration(float64(v) * float64(time.Second))
			r.Notes = append(r.Notes, RoundNote(th.Expr, value, budget, q, scale, slow))
		}
	}
}
