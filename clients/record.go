package clients

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// record reports one finished command to r with the outcome err maps to
// (see outcomeOf) and the wall time since start.
func record(r Recorder, protocol, command string, start time.Time, err error) {
	if r == nil {
		return
	}
	r.Command(CommandEvent{
		Protocol: protocol,
		Command:  command,
		Outcome:  outcomeOf(err),
		Duration: time.Since(start),
	})
}

// outcomeOf classifies a command's error: nil is ok; an IMAP NO or BAD, a
// POP3 -ERR and an SMTP error reply are no (bad for IMAP BAD); anything
// else — network errors, timeouts, garbage replies — is error.
func outcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Type {
		case imap.StatusResponseTypeNo:
			return OutcomeNo
		case imap.StatusResponseTypeBad:
			return OutcomeBad
		}
		return OutcomeError
	}
	var pe *POP3Error
	if errors.As(err, &pe) {
		return OutcomeNo
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return OutcomeNo
	}
	return OutcomeError
}

// loginUnreached counts a login attempt that failed before the device could
// authenticate: connection refused, TLS handshake refused, no greeting. It
// is not counted when ctx ended (the device is stopping).
func loginUnreached(ctx context.Context, o *Options, protocol string) {
	if ctx.Err() == nil {
		o.recorder().Login(protocol, OutcomeError)
	}
}
