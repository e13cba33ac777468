package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/scenarios"
)

// cmdValidate implements "mailsim validate FILE|NAME [--users N] [--seed S]
// [--shard i/n] [--target FILE]": it prints the resolved plan and exits 0,
// or prints every problem, one per line, and exits exitScenario. With a
// target (the scenario's or --target's) it also probes the server's push
// latency once (pushProbe); without one it does no network work.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate FILE|NAME [--users N] [--seed S] [--shard i/n] [--target FILE]", stderr)
	users := fs.Int("users", 0, "override the scenario's number of users")
	var seed *int64
	fs.Func("seed", "override the scenario's seed", func(s string) error {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("want a whole number")
		}
		seed = &v
		return nil
	})
	shardText := fs.String("shard", "1/1", "plan only shard i of n")
	targetPath := fs.String("target", "", "validate against the server in this YAML file (one target: block as in a scenario) instead of the scenario's target, and probe its push latency")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mailsim validate: want one scenario FILE or NAME (shipped: %v)\n", scenarios.Shipped())
		return exitScenario
	}
	if err := checkCount(fs, "users", *users); err != nil {
		fmt.Fprintf(stderr, "mailsim validate: %v\n", err)
		return exitScenario
	}
	shard, err := scenarios.ParseShard(*shardText)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim validate: --shard: %v\n", err)
		return exitScenario
	}
	s, err := runFlags{targetPath: *targetPath}.scenario(pos[0])
	if err != nil {
		printScenarioError(stderr, "validate", err)
		return exitScenario
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: *users, Seed: seed, Shard: shard})
	if err != nil {
		fmt.Fprintf(stderr, "mailsim validate: %v\n", err)
		return exitScenario
	}
	if err := plan.Write(stdout); err != nil {
		fmt.Fprintf(stderr, "mailsim validate: %v\n", err)
		return exitFailure
	}
	for _, w := range append(settleWarnings(s), networkWarnings(s)...) {
		fmt.Fprintf(stderr, "mailsim validate: warning: %s\n", w)
	}
	if s.Target != nil {
		pushProbe(plan, stderr)
	}
	return exitOK
}

// Bounds of validate's push probe wait (wall): long enough to see a
// latency above the warning's limit at the scenario's time_scale, never
// longer than pushProbeMaxWait.
const (
	pushProbeMinWait = 5 * time.Second
	pushProbeMaxWait = 60 * time.Second
)

// pushProbe measures the target's push latency once (engine.ProbePush)
// and prints it, with the run report's warning (report.PushSim) when it
// is large against the scenario's time_scale. It waits for the IDLE
// notification 1.5 times the wall time the warning's limit (5 simulated
// minutes) is at that scale, within 5 s and 60 s. A probe that cannot run
// (no IDLE, no delivery path) or fails is a note or a warning: validate
// still exits 0.
func pushProbe(plan *scenarios.Plan, stderr io.Writer) {
	scale := plan.Scenario.TimeScale
	if scale <= 0 {
		scale = 1
	}
	limit := time.Duration(float64(report.MaxPushSim) / scale)
	wait := min(max(limit*3/2, pushProbeMinWait), pushProbeMaxWait)
	p, err := engine.ProbePush(context.Background(), plan, targetEndpoints(plan.Scenario.Target), wait)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "mailsim validate: warning: push latency not measured: %v\n", err)
		return
	case p.Skipped != "":
		fmt.Fprintf(stderr, "mailsim validate: push latency not measured: %s\n", p.Skipped)
		return
	}
	sim, large := report.PushSim(p.Latency, scale)
	measured := fmt.Sprintf("%s wall in one probe as %s", roundLatency(p.Latency), p.User)
	if p.TimedOut {
		measured = fmt.Sprintf("more than %s wall (no IDLE notification within it, probing as %s)", p.Latency, p.User)
	}
	switch {
	case large:
		fmt.Fprintf(stderr, "mailsim validate: warning: %s\n", report.PushNote(measured, sim, scale))
	case p.TimedOut:
		fmt.Fprintf(stderr, "mailsim validate: push latency unknown: no IDLE notification within %s wall (%s simulated at time_scale %g, under the %s a warning needs)\n",
			p.Latency, sim.Round(time.Second), scale, report.MaxPushSim)
	default:
		fmt.Fprintf(stderr, "mailsim validate: push latency (delivery to IDLE notification): %s, %s simulated at time_scale %g\n",
			measured, roundLatency(sim), scale)
	}
	if !p.Removed {
		fmt.Fprintf(stderr, "mailsim validate: the probe message stays in %s's INBOX (the server has no UIDPLUS to expunge it alone)\n", p.User)
	}
}

// roundLatency rounds a latency to the digits that say something: 10 µs
// below 10 ms, 1 ms below 1 s, 100 ms below a minute, else 1 s.
func roundLatency(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// settleWarnings warns when the settle phase, in simulated time, is shorter
// than the sync cycle of the slowest device profile the groups use: the
// changes of the last moments then cannot reach that device before the
// final audit, and show as not-synced-yet.
func settleWarnings(s *scenarios.Scenario) []string {
	var slowest time.Duration
	var name, why string
	filed := s.FiledFolders()
	for _, g := range s.Groups {
		for _, dn := range g.Devices {
			p := s.Devices[dn]
			if p == nil {
				continue
			}
			if c, w := clients.SyncCycle(p, filed); c > slowest || c == slowest && dn < name {
				slowest, name, why = c, dn, w
			}
		}
	}
	sim := time.Duration(float64(s.Settle) * s.TimeScale)
	if slowest == 0 || sim >= slowest {
		return nil
	}
	need := time.Duration(math.Ceil(float64(slowest)/s.TimeScale/float64(time.Second))) * time.Second
	return []string{fmt.Sprintf("settle %s × time_scale %g = %s simulated is shorter than the sync cycle of device profile %q (%s, %s): "+
		"changes made at the end of the active phase may not reach it; a settle of at least %s lets every device sync once",
		s.Settle, s.TimeScale, sim, name, slowest, why, need)}
}

// maxSessionShare is the share of its network's drop interval a device's
// session may last (clients.SessionLength, in simulated time) before
// networkWarnings warns: the quarter a sync round may take of a
// convergence budget (report.MaxRoundShare), one rule for both.
const maxSessionShare = report.MaxRoundShare

// networkWarnings warns, for each device profile the groups use, when its
// network latency and bandwidth (wall time) make a session last, in
// simulated time, a large share of its disconnect_every: the run then cuts
// far more sessions than a real network with the same figures would (the
// time compression, not the network, makes its dropped commands, lags and
// divergence), and a session longer than the interval never ends. The
// session downloads one message of the smallest inbound size of the
// groups that use the profile. It warns alike when the profile's SMTP
// submission of one message (shaped as its sessions when the run submits
// over SMTP: submitsSMTP) lasts that long: the message is the median of
// what the groups that use the profile send (engine.TypicalSent), the
// smallest of theirs.
func networkWarnings(s *scenarios.Scenario) []string {
	var out []string
	var order []string
	smallest := map[string]int64{}
	sent := map[string]int64{}
	for _, g := range s.Groups {
		size, typical := int64(0), int64(0)
		if b := s.Behaviors[g.Behavior]; b != nil {
			if b.Inbound.Interval > 0 {
				size = int64(b.Inbound.Size.Min)
			}
			typical = engine.TypicalSent(b)
		}
		for _, dn := range g.Devices {
			old, seen := smallest[dn]
			if !seen {
				order = append(order, dn)
			}
			if !seen || (size > 0 && (old == 0 || size < old)) {
				smallest[dn] = size
			}
			if old := sent[dn]; typical > 0 && (old == 0 || typical < old) {
				sent[dn] = typical
			}
		}
	}
	for _, dn := range order {
		p := s.Devices[dn]
		if p == nil {
			continue
		}
		if l, ok := clients.SessionLengthOf(p, s.TimeScale, smallest[dn]); ok && l.InRun > maxSessionShare {
			out = append(out, networkWarning(s, dn, l, false, smallest[dn]))
		}
		if sent[dn] == 0 || !submitsSMTP(s) {
			continue
		}
		if l, ok := clients.SubmissionLengthOf(p.Network, s.TimeScale, sent[dn]); ok && l.InRun > maxSessionShare {
			out = append(out, networkWarning(s, dn, l, true, sent[dn]))
		}
	}
	return out
}

// submitsSMTP reports whether the devices of a run of s send their mail
// over SMTP submission, on their own networks (internal/engine/user.go):
// always against the embedded server, and against a real one that names
// target.submission; otherwise the injector delivers it, unshaped.
func submitsSMTP(s *scenarios.Scenario) bool {
	return s.Target == nil || s.Target.Submission != nil
}

// networkWarning is networkWarnings' text for device profile dn, whose
// session (a submission when submission) moving a message of size bytes
// lasts l.
func networkWarning(s *scenarios.Scenario, dn string, l clients.SessionLength, submission bool, size int64) string {
	// The session's name, what its message does, what a session longer
	// than the interval means, and what its cuts show.
	session, moves, message := "a session", "download", ""
	allCut, shows := "no session ends before it: every one is cut", "dropped commands, lags and divergence"
	if submission {
		session, moves, message = "a submission", "upload", " of a median message"
		allCut, shows = "no submission of a median message ends before it: most are cut", "dropped commands and failed sends"
	}
	p := s.Devices[dn]
	cut := session + " that runs past it is cut"
	if l.InRun >= 1 {
		cut = allCut
	}
	var parts []string
	if p.Network.Latency > 0 {
		parts = append(parts, fmt.Sprintf("%d round trips of network latency %s", l.Trips, p.Network.Latency))
	}
	if l.Transfer > 0 {
		parts = append(parts, fmt.Sprintf("%s to %s a %.3g KiB message at %g kbit/s", l.Transfer.Round(time.Millisecond), moves,
			float64(size)/1024, float64(p.Network.Bandwidth)/1000))
	}
	what := strings.Join(parts, " and ")
	sim := time.Duration(float64(l.Wall) * s.TimeScale)
	return fmt.Sprintf("device profile %q: %s%s takes at least %s of wall time (%s, not scaled), "+
		"%s simulated at time_scale %g: %.0f%% of its disconnect_every %s (%.1f%% on a real network with these figures); %s, "+
		"so its %s show the time compression more than the network: a time_scale of at most %.3g or a disconnect_every of at least %s keeps it under %.0f%%",
		dn, session, message, l.Wall.Round(time.Millisecond), what, sim.Round(time.Second), s.TimeScale, 100*l.InRun,
		p.Network.DisconnectEvery, 100*l.OnNetwork, cut, shows, s.TimeScale*maxSessionShare/l.InRun,
		time.Duration(float64(sim)/maxSessionShare).Round(time.Second), 100*maxSessionShare)
}
