package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"

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
	if err == nil {
		err = checkProfiles(s)
	}
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
	return exitOK
}

// checkProfiles asks the clients whether they can be every device profile
// of s (fetch items they can send, settings they support): what the
// scenario language alone cannot know.
func checkProfiles(s *scenarios.Scenario) error {
	names := make([]string, 0, len(s.Devices))
	for name := range s.Devices {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := clients.CheckProfile(s.Devices[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s: devices.%s: %w", s.Source, name, err))
		}
	}
	return errors.Join(errs...)
}
