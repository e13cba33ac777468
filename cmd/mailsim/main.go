// Command mailsim simulates a population of people reading mail from PCs,
// phones and webmail over IMAP, POP3 and SMTP against a real mail server, and
// reports how far their devices diverge and the load they put on the server.
//
// Usage:
//
//	mailsim run FILE|NAME [flags]      run a scenario
//	mailsim capacity FILE|NAME [flags] find how many users a server holds
//	mailsim validate FILE|NAME         check a scenario and print its plan
//	mailsim serve [flags]              run the embedded mail server alone
//	mailsim plan REPORT.json --users N project a finished run to N users
//	mailsim report merge SHARD.json... merge the reports of a run's shards
//	mailsim version                    print the version
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes of mailsim, documented in the README.
const (
	exitOK          = 0 // every threshold held
	exitThresholds  = 1 // the run finished but a threshold broke, or its measurements are invalid
	exitScenario    = 2 // bad command line or broken scenario
	exitUnreachable = 3 // a server could not be reached or refused the logins
	exitFailure     = 4 // anything else that stopped the run
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `mailsim simulates people reading mail on PCs, phones and webmail over
IMAP, POP3 and SMTP against a real mail server, and reports how far each
person's devices drift apart and what load they put on the server.

Usage:
  mailsim run FILE|NAME [flags]       run a scenario (NAME: a shipped scenario)
  mailsim capacity FILE|NAME [flags]  find how many users the server holds within the QoS
  mailsim validate FILE|NAME          check a scenario and print its resolved plan
  mailsim serve [flags]               run the embedded mail server alone
  mailsim plan REPORT.json --users N  project a finished run to N users
  mailsim report merge SHARD.json...  merge the shards' reports into one (--report, --html)
  mailsim version                     print the version

Run "mailsim COMMAND --help" for the flags of a command.
`

// run dispatches to a subcommand and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitScenario
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "capacity":
		return cmdCapacity(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "plan":
		return cmdPlan(args[1:], stdout, stderr)
	case "report":
		return cmdReport(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "mailsim version: takes no arguments (got %q)\n", args[1:])
			return exitScenario
		}
		fmt.Fprintf(stdout, "mailsim %s\n", version)
		return exitOK
	case "help", "--help", "-help", "-h":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "mailsim: unknown command %q\n\n%s", args[0], usage)
		return exitScenario
	}
}
