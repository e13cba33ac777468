package main

import (
	"fmt"
	"io"
	"os"

	"github.com/mailsim/mailsim/internal/report"
)

// cmdPlan implements "mailsim plan REPORT.json --users N": it projects the
// load of a finished run to a population of N users.
func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "plan REPORT.json --users N", stderr)
	users := fs.Int("users", 0, "population to project the run's load to (required, > 0)")
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
	if err := report.Project(r, *users).WriteProjection(stdout); err != nil {
		fmt.Fprintf(stderr, "mailsim plan: %v\n", err)
		return exitFailure
	}
	return exitOK
}
