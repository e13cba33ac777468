package clients

import (
	"context"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// record reports one finished command to r with the outcome err maps to
// (see [transport.OutcomeOf]) and the wall time since start.
func record(r Recorder, protocol, command string, start time.Time, err error) {
	if r == nil {
		return
	}
	r.Command(CommandEvent{
		Protocol: protocol,
		Command:  command,
		Outcome:  transport.OutcomeOf(err),
		Duration: time.Since(start),
		Start:    start,
	})
}

// loginUnreached counts a login attempt that failed before the device could
// authenticate (connection refused, TLS handshake failed, no greeting) with
// the outcome of its cause (see [transport.LoginOutcome]). It is not counted
// when ctx ended (the device is stopping).
func loginUnreached(ctx context.Context, o *Options, protocol string, err error) {
	if ctx.Err() == nil {
		o.recorder().Login(protocol, transport.LoginOutcome(err))
	}
}
