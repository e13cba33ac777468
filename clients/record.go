package clients

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/transport"
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
// else is classified by [NetOutcome] (refused, timeout, tls or error).
func outcomeOf(err error) Outcome { return OutcomeOf(err) }

// OutcomeOf classifies the error of a command, a connection attempt or a
// delivery: nil is ok; an IMAP NO or BAD, a POP3 -ERR and an SMTP error
// reply are no (bad for IMAP BAD); anything else is classified by
// [NetOutcome].
func OutcomeOf(err error) Outcome {
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
	return NetOutcome(err)
}

// LoginOutcome classifies the error of an authentication attempt (the
// dial, greeting, TLS and LOGIN/USER+PASS/AUTH together): a protocol
// refusal (IMAP NO, POP3 -ERR, SMTP 5xx) is auth — wrong credentials or an
// unknown user; an SMTP 4xx is no (try later); anything else is classified
// by [NetOutcome].
func LoginOutcome(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code >= 400 && se.Code < 500 {
			return OutcomeNo
		}
		return OutcomeAuth
	}
	switch o := OutcomeOf(err); o {
	case OutcomeNo:
		return OutcomeAuth
	default:
		return o
	}
}

// NetOutcome classifies a failure below the protocol: a deadline that
// passed is timeout; a refused or unreachable connection, or one reset
// before any reply, is refused; a failed TLS handshake is tls; anything else
// (a connection closed or reset mid-command, a garbage or oversized reply)
// is error. nil is ok.
func NetOutcome(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return OutcomeTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return OutcomeTimeout
	}
	var (
		rhe tls.RecordHeaderError
		ae  tls.AlertError
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	if errors.As(err, &rhe) || errors.As(err, &ae) || errors.As(err, &cve) || errors.As(err, &uae) ||
		errors.As(err, &hne) || errors.As(err, &cie) {
		return OutcomeTLS
	}
	if errors.Is(err, transport.ErrTLSRefused) {
		return OutcomeTLS
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return OutcomeRefused
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return OutcomeRefused
	}
	return OutcomeError
}

// loginUnreached counts a login attempt that failed before the device could
// authenticate (connection refused, TLS handshake failed, no greeting) with
// the outcome of its cause (see [LoginOutcome]). It is not counted when ctx
// ended (the device is stopping).
func loginUnreached(ctx context.Context, o *Options, protocol string, err error) {
	if ctx.Err() == nil {
		o.recorder().Login(protocol, LoginOutcome(err))
	}
}
