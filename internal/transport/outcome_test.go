package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/transport"
)

func TestOutcomeOf(t *testing.T) {
	tests := []struct {
		err  error
		want transport.Outcome
	}{
		{nil, transport.OutcomeOK},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Text: "no"}, transport.OutcomeNo},
		{fmt.Errorf("wrapped: %w", &imap.Error{Type: imap.StatusResponseTypeBad}), transport.OutcomeBad},
		{&imap.Error{Type: imap.StatusResponseTypeBye}, transport.OutcomeError},
		{&transport.POP3Error{Command: "RETR", Text: "no such message"}, transport.OutcomeNo},
		{fmt.Errorf("x: %w", &smtp.SMTPError{Code: 550}), transport.OutcomeNo},
		{fmt.Errorf("x: %w", smtp.LMTPDataError{"a@example.com": &smtp.SMTPError{Code: 452}}), transport.OutcomeNo},
		{io.EOF, transport.OutcomeError},
		{os.ErrDeadlineExceeded, transport.OutcomeTimeout},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), transport.OutcomeTimeout},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, transport.OutcomeRefused},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, transport.OutcomeError},
		{tls.RecordHeaderError{Msg: "not tls"}, transport.OutcomeTLS},
		{fmt.Errorf("imap: starttls: %w", transport.ErrTLSRefused), transport.OutcomeTLS},
		{transport.ErrPOP3Garbage, transport.OutcomeError},
		{fmt.Errorf("imap: %w", transport.ErrDropped), transport.OutcomeDropped},
		{errors.Join(os.ErrDeadlineExceeded, transport.ErrDropped), transport.OutcomeDropped},
		// A greeting that refused the session is the server's no, BYE too.
		{transport.GreetingRefused(&imap.Error{Type: imap.StatusResponseTypeBye}), transport.OutcomeNo},
		{fmt.Errorf("greeting: %w", transport.GreetingRefused(errors.New("server refused"))), transport.OutcomeNo},
	}
	for _, tc := range tests {
		if got := transport.OutcomeOf(tc.err); got != tc.want {
			t.Errorf("OutcomeOf(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestLoginOutcome(t *testing.T) {
	tests := []struct {
		err  error
		want transport.Outcome
	}{
		{nil, transport.OutcomeOK},
		{&imap.Error{Type: imap.StatusResponseTypeNo, Text: "[AUTHENTICATIONFAILED] no"}, transport.OutcomeAuth},
		{&transport.POP3Error{Command: "PASS", Text: "bad password"}, transport.OutcomeAuth},
		{&smtp.SMTPError{Code: 535}, transport.OutcomeAuth},
		{&smtp.SMTPError{Code: 454}, transport.OutcomeNo},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, transport.OutcomeRefused},
		{os.ErrDeadlineExceeded, transport.OutcomeTimeout},
		{io.EOF, transport.OutcomeError},
		{fmt.Errorf("pop3: pass: %w", transport.ErrDropped), transport.OutcomeDropped},
		// A greeting that refused the session sent no credentials: no,
		// not auth.
		{transport.GreetingRefused(&transport.POP3Error{Command: "GREETING", Text: "go away"}), transport.OutcomeNo},
		{transport.GreetingRefused(&smtp.SMTPError{Code: 554}), transport.OutcomeNo},
		{transport.GreetingRefused(&imap.Error{Type: imap.StatusResponseTypeNo}), transport.OutcomeNo},
	}
	for _, tc := range tests {
		if got := transport.LoginOutcome(tc.err); got != tc.want {
			t.Errorf("LoginOutcome(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestOutcomes checks the list names every outcome once, ok first, and that
// a caller cannot change it for the next.
func TestOutcomes(t *testing.T) {
	got := transport.Outcomes()
	if len(got) == 0 || got[0] != transport.OutcomeOK {
		t.Fatalf("Outcomes() = %v, want ok first", got)
	}
	seen := map[transport.Outcome]bool{}
	for _, o := range got {
		if seen[o] {
			t.Errorf("%q listed twice", o)
		}
		seen[o] = true
	}
	for _, o := range []transport.Outcome{transport.OutcomeNo, transport.OutcomeBad, transport.OutcomeError,
		transport.OutcomeRefused, transport.OutcomeTimeout, transport.OutcomeTLS, transport.OutcomeAuth, transport.OutcomeDropped} {
		if !seen[o] {
			t.Errorf("%q missing from %v", o, got)
		}
	}
	got[0] = "changed"
	if again := transport.Outcomes(); !slices.Contains(again, transport.OutcomeOK) {
		t.Errorf("Outcomes() shares its slice: %v", again)
	}
}
