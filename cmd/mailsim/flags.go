package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// newFlagSet returns a FlagSet that writes its usage to stderr and does not
// exit the process.
func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mailsim %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, allowing flags after positional arguments
// ("mailsim run quickstart --duration 10s"). It returns the positional
// arguments, and the exit code to return when parsing stopped the command
// (help asked for, or a bad flag).
func parseFlags(fs *flag.FlagSet, args []string) (pos []string, code int, stop bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, true
			}
			return nil, exitScenario, true
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, 0, false
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseScenarioFlags parses the flags of a command that takes one scenario
// (run, capacity): the positional arguments must be exactly one scenario
// file or name, and --procs (read after parsing, hence the pointer) must be valid. It returns the scenario
// argument, or stop with the exit code when the command ends here (help
// asked for, a bad flag, a bad --procs, not one scenario), with the reason
// written to stderr.
// givenFlags returns the names of the flags set on the command line: a
// flag whose default means "not given" (0, -1) is told from one given
// that value.
func givenFlags(fs *flag.FlagSet) map[string]bool {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	return given
}

// checkCount refuses a count flag given below 1: its default, 0, means
// "not given" (the scenario's), so a 0 given must not pass for it.
func checkCount(fs *flag.FlagSet, name string, v int) error {
	if v < 1 && givenFlags(fs)[name] {
		return fmt.Errorf("--%s %d: want at least 1", name, v)
	}
	return nil
}

// checkSettle checks --settle: -1 keeps the scenario's settle, other
// negative durations are refused.
func checkSettle(d time.Duration) error {
	if d < 0 && d != -1 {
		return fmt.Errorf("--settle %s: want 0 or more (-1 keeps the scenario's)", d)
	}
	return nil
}

func parseScenarioFlags(fs *flag.FlagSet, args []string, procs *procsFlag, stderr io.Writer) (scenario string, code int, stop bool) {
	pos, code, stop := parseFlags(fs, args)
	if stop {
		return "", code, true
	}
	if errs := procs.Validate(); len(errs) > 0 {
		fmt.Fprintf(stderr, "mailsim %s: %v\n", fs.Name(), errors.Join(errs...))
		return "", exitScenario, true
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "mailsim %s: want exactly one scenario file or name; shipped: %v\n", fs.Name(), scenarios.Shipped())
		return "", exitScenario, true
	}
	return pos[0], 0, false
}
