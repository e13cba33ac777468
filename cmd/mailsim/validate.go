package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/scenarios"
)

// cmdValidate implements "mailsim validate FILE|NAME [--users N] [--seed S]
// [--shard i/n]": it prints the resolved plan and exits 0, or prints every
// problem, one per line, and exits exitScenario.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate FILE|NAME [--users N] [--seed S] [--shard i/n]", stderr)
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
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mailsim validate: want one scenario FILE or NAME (shipped: %v)\n", scenarios.Shipped())
		return exitScenario
	}
	shard, err := scenarios.ParseShard(*shardText)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim validate: --shard: %v\n", err)
		return exitScenario
	}
	s, err := scenarios.Load(pos[0], nil)
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
	for _, w := range settleWarnings(s) {
		fmt.Fprintf(stderr, "mailsim validate: warning: %s\n", w)
	}
	return exitOK
}

// settleWarnings warns when the settle phase, in simulated time, is shorter
// than the sync cycle of the slowest device profile the groups use: the
// changes of the last moments then cannot reach that device before the
// final audit, and show as not-synced-yet.
func settleWarnings(s *scenarios.Scenario) []string {
	var slowest time.Duration
	var name, why string
	for _, g := range s.Groups {
		for _, dn := range g.Devices {
			p := s.Devices[dn]
			if p == nil {
				continue
			}
			if c, w := clients.SyncCycle(p); c > slowest || c == slowest && dn < name {
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
