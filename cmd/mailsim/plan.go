package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mailsim/mailsim/internal/report"
)

// cmdPlan implements "mailsim plan REPORT.json --users N [--mix g=s,...]":
// it projects the load of a finished run to a population of N users, first
// scaled as a whole, then from each group's cost per user with the run's
// group shares or the ones --mix gives.
func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "plan REPORT.json --users N [--mix group=share,...]", stderr)
	users := fs.Int("users", 0, "population to project the run's load to (required, > 0)")
	mixFlag := fs.String("mix", "", "population mix by group, e.g. imap=70%,pop3-download=30% (default: the run's shares)")
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "mailsim plan: want exactly one JSON report (written by mailsim run --report)")
		return exitScenario
	}
	if *users <= 0 {
		fmt.Fprintln(stderr, "mailsim plan: --users N is required and must be positive")
		return exitScenario
	}
	f, err := os.Open(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
		return exitScenario
	}
	defer f.Close()
	r, err := report.ReadJSON(f)
	if err != nil {
		fmt.Fprintf(stderr, "mailsim plan: %s: %v\n", pos[0], err)
		return exitScenario
	}
	if r.Users <= 0 {
		fmt.Fprintf(stderr, "mailsim plan: %s: the report has no users to project from\n", pos[0])
		return exitScenario
	}
	mix := report.RunMix(r)
	if *mixFlag != "" {
		if mix, err = report.ParseMix(*mixFlag); err != nil {
			fmt.Fprintf(stderr, "mailsim plan: --mix: %v\n", err)
			return exitScenario
		}
	}
	var mp *report.MixProjection
	if len(mix) > 0 {
		p, err := report.ProjectMix(r, *users, mix)
		if err != nil {
			fmt.Fprintf(stderr, "mailsim plan: --mix: %s: %v\n", pos[0], err)
			return exitScenario
		}
		mp = &p
	} else if *mixFlag == "" {
		fmt.Fprintln(stderr, "mailsim plan: the report has no cost per group (written before mailsim measured it): projecting the whole run only")
	}
	if err := report.Project(r, *users).WriteProjection(stdout); err != nil {
		fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
		return exitFailure
	}
	if mp != nil {
		fmt.Fprintln(stdout)
		if err := mp.WriteMixProjection(stdout); err != nil {
			fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
			return exitFailure
		}
	}
	return exitOK
}
