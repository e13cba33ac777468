package clients

import (
	"context"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// record reports one finished command to r with the outcome err maps to
// (see [transport.OutcomeOf]) and the wall time since start.
func record(r Recorder, protocol, command string, start time.Time, err error) {
	recordTracked(r, protocol, command, start, start, err)
}

// recordTracked is record for a command whose tracked wait (the
// CommandStarted it ends) started at tracked, after the command's start
// (IDLE: the wait for its reply after DONE).
func recordTracked(r Recorder, protocol, command string, start, tracked time.Time, err error) {
	if r == nil {
		return
	}
	r.Command(CommandEvent{
		Protocol: protocol,
		Command:  command,
		Outcome:  transport.OutcomeOf(err),
		Duration: time.Since(start),
		Start:    tracked,
	})
}

// CommandConnect is the command name of connecting to a server and
// waiting for its greeting (a metrics label value: "connecting and
// reading the greeting").
const CommandConnect = "CONNECT"

// EndCommand ends a tracked command (CONNECT, STARTTLS, an SMTP command,
// the injector's) started at start (StartCommand): recorded on r with
// err's outcome, or abandoned when it failed because its device or the
// run is stopping (stopping: its context ended and closed the connection
// under it), which counts nothing, as countLogin its login: the end of
// a run is no server's error.
func EndCommand(r Recorder, protocol, name string, start time.Time, err error, stopping bool) {
	endCommand(r, protocol, name, start, start, err, stopping, false)
}

// endCommand is the one rule that ends a tracked command whose device or
// run may be stopping (EndCommand, imapSession.end). The command started
// at start; its tracked wait at tracked (recordTracked: they differ for
// IDLE's wait after DONE). It is
//   - recorded with err's outcome when it did not fail or nothing is
//     stopping (stopping false);
//   - recorded as a timeout when the stop closed its connection because
//     the server had left it unanswered beyond the shutdown grace
//     (overdue: docs/report.md, Outcomes), never silently dropped;
//   - abandoned otherwise, counting nothing: the end of a run is no
//     server's error.
func endCommand(r Recorder, protocol, name string, start, tracked time.Time, err error, stopping, overdue bool) {
	switch {
	case err == nil || !stopping:
		recordTracked(r, protocol, name, start, tracked, err)
	case overdue:
		recordTracked(r, protocol, name, start, tracked, context.DeadlineExceeded)
	default:
		trackAbandon(r, protocol, name, tracked)
	}
}

// countLogin counts a login attempt on r with err's outcome, by the rule
// its command is counted by (endCommand): a login that succeeded counts,
// even as its device stops; one that failed because the device or the
// run is stopping (stopping) counts nothing, but for one the stop cut
// after the server had left it unanswered beyond the stop's grace
// (overdue), a timeout.
func countLogin(r Recorder, protocol string, err error, stopping, overdue bool) {
	switch {
	case err == nil || !stopping:
		r.Login(protocol, transport.LoginOutcome(err))
	case overdue:
		r.Login(protocol, transport.OutcomeTimeout)
	}
}
