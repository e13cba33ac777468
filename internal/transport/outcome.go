package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
)

// Outcome classifies how a protocol command ended. Values are bounded and are
// used as metric labels.
type Outcome string

// The outcomes of a command, a connection attempt or a login. Every value
// but OutcomeOK is a failure; docs/report.md explains each.
const (
	OutcomeOK    Outcome = "ok"    // tagged OK, +OK, 2xx
	OutcomeNo    Outcome = "no"    // IMAP NO, POP3 -ERR, SMTP 4xx/5xx
	OutcomeBad   Outcome = "bad"   // IMAP BAD (the server did not understand)
	OutcomeError Outcome = "error" // connection closed or reset mid-command, garbage or oversized reply
	// OutcomeRefused: the connection could not be opened (refused,
	// unreachable), or the server ended or reset it before it sent a
	// byte ([ErrUnserved], attached by Conn.Explain).
	OutcomeRefused Outcome = "refused"
	// OutcomeTimeout: a deadline passed before the server answered.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeTLS: the TLS handshake failed (certificate, protocol, alert).
	OutcomeTLS Outcome = "tls"
	// OutcomeAuth: the server refused the credentials (logins only).
	OutcomeAuth Outcome = "auth"
	// OutcomeDropped: the simulated network dropped the connection under
	// the command (Config.DropAfter, a profile's disconnect_every): mailsim
	// cut it, not the server ([ErrDropped]).
	OutcomeDropped Outcome = "dropped"
)

// Outcomes lists every Outcome, OutcomeOK first. Each call returns a new
// slice.
func Outcomes() []Outcome {
	return []Outcome{OutcomeOK, OutcomeNo, OutcomeBad, OutcomeError, OutcomeRefused, OutcomeTimeout, OutcomeTLS, OutcomeAuth, OutcomeDropped}
}

// OutcomeOf classifies the error of a command, a connection attempt or a
// delivery: nil is ok; an IMAP NO or BAD, a POP3 -ERR and an SMTP error
// reply are no (bad for IMAP BAD), and so is a greeting that refused the
// session ([ErrGreetingRefused]); anything else is classified by
// [NetOutcome].
func OutcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	if errors.Is(err, ErrGreetingRefused) {
		return OutcomeNo
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
// unknown user; an SMTP 4xx is no (try later), and so is a greeting that
// refused the session ([ErrGreetingRefused]: the credentials were never
// sent); anything else is classified by [NetOutcome].
func LoginOutcome(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	if errors.Is(err, ErrGreetingRefused) {
		return OutcomeNo
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

// NetOutcome classifies a failure below the protocol: a connection the
// simulated network dropped ([ErrDropped]) is dropped; a deadline that
// passed is timeout; a refused or unreachable connection, or one the
// server ended or reset before any reply ([ErrUnserved]), is refused; a
// failed TLS handshake (or a STARTTLS the server refused,
// [ErrTLSRefused]) is tls; anything else (a connection closed or reset
// mid-command, a garbage or oversized reply) is error. nil is ok.
func NetOutcome(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	if errors.Is(err, ErrDropped) {
		return OutcomeDropped
	}
	if errors.Is(err, ErrUnserved) {
		return OutcomeRefused
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
	if errors.Is(err, ErrTLSRefused) {
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
