package main

import (
	"fmt"
	"io"
)

// cmdRun implements "mailsim run FILE|NAME".
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", "run FILE|NAME [flags]", stderr)
	fs.Duration("duration", 0, "override the scenario's duration")
	_, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	fmt.Fprintln(stderr, "mailsim run: not built yet (issue 5)")
	return exitFailure
}
