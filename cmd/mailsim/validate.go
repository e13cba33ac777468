package main

import (
	"fmt"
	"io"
)

// cmdValidate implements "mailsim validate FILE|NAME".
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", "validate FILE|NAME", stderr)
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return code
	}
	_ = pos
	fmt.Fprintln(stderr, "mailsim validate: not built yet (issue 2)")
	return exitFailure
}
