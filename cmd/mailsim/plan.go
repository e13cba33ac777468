package main

import (
	"fmt"
	"io"
)

// cmdPlan implements "mailsim plan REPORT.json --users N".
func cmdPlan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("plan", "plan REPORT.json --users N", stderr)
	fs.Int("users", 0, "population to project the run's load to")
	_, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	fmt.Fprintln(stderr, "mailsim plan: not built yet (issue 6)")
	return exitFailure
}
