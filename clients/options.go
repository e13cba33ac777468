package clients

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// Submitter sends a message a device wrote. The usual one speaks SMTP
// submission to the target (NewSMTPSubmitter); when a scenario has no
// submission server the engine supplies one that plays the MTA.
type Submitter interface {
	Submit(ctx context.Context, from string, to []string, raw []byte) error
}

// Options configure a device. Fields marked required must be set.
type Options struct {
	// ID names the device in logs and reports, e.g. "user1/pc-imap". Required.
	ID string
	// Profile is the device profile (DefaultProfile, Builtin, or a
	// scenario's). Required.
	Profile *Profile
	// Username and Password log in; Address is the user's mail address
	// (From of mail the device sends). Required.
	Username, Password, Address string
	// IMAP and POP3 are the server endpoints; the one matching
	// Profile.Protocol is required.
	IMAP, POP3 transport.Endpoint
	// TLS is the base TLS configuration for tls modes starttls and implicit
	// (ServerName is filled from the address when empty). Nil verifies
	// against the system roots.
	TLS *tls.Config
	// Submitter sends mail for send, reply and forward. Nil makes those
	// actions fail with an error.
	Submitter Submitter
	// Clock is the scenario clock; every interval of the profile is
	// simulated time. Nil is wall-clock time (time scale 1).
	Clock *simclock.Clock
	// Recorder receives every command. Nil discards.
	Recorder Recorder
	// Late, shared by the connections of a run, closes the descriptors
	// of released connections late (transport.LateCloser). Nil closes
	// them at once.
	Late *transport.LateCloser
	// IMAPCaps, shared by the devices of a run, keeps the capability
	// lists their lean IMAP clients read (leanimap.Options.Caps). Nil
	// parses every list.
	IMAPCaps *leanimap.CapCache
	// Seed seeds the device's random choices (message contents, jitter).
	Seed int64
	// OnChange, if set, is called after the device's view changed. It must
	// be cheap and must not block or call back into the device.
	OnChange func()
	// OnPush, if set, is called when an IDLE notification on INBOX led to
	// a sync that found new messages: their Message-IDs and the wall time
	// the notification arrived, to measure the server's push latency
	// (delivery to notification). It must be cheap and must not block.
	OnPush func(ids []string, notified time.Time)
	// OnSyncRound, if set, is called after each scheduled sync round of
	// the device's loop with the round's wall time and whether it failed
	// (failed rounds too: the report counts them apart): a webmail's page
	// load, a phone's poll of its folders, a PC's round of
	// folder checks (its INBOX steps, IDLE or polls, are not rounds), a
	// POP3 poll; the wall time includes the person's actions the device
	// served first on that connection, which delay the round as much. A
	// round's wall time is not compressed by the time scale: the
	// report weighs it against the convergence thresholds (docs/report.md,
	// "Sync rounds and time compression"). It must be cheap and must not
	// block.
	OnSyncRound func(wall time.Duration, failed bool)
	// Timeout bounds every network operation (dial, one command, one
	// reply). Default 30s (wall time).
	Timeout time.Duration
	// StopGrace is how long a command in flight when Run's context ends
	// (or an action's) has to be answered before its connection is
	// closed under it, and it counts a timeout (StopGrace, the type;
	// docs/report.md, Outcomes). Default DefaultStopGrace, 1s (wall
	// time); Timeout still bounds the command.
	StopGrace time.Duration
	// Logger receives diagnostics. Nil discards.
	Logger *slog.Logger
	// MaxReplyLine bounds one IMAP reply line, literals excluded; a longer
	// one fails the session with outcome error. Default 64 KiB
	// (transport.DefaultMaxLine). A SEARCH or SORT response, whose UIDs
	// grow with the mailbox, may be longer, up to 16 MiB
	// (transport.DefaultMaxDataLine, transport.IsDataLine).
	MaxReplyLine int
	// IDs, if set, interns the Message-IDs the device keeps (and a POP3
	// device's UIDLs and reply header fields): the engine hands every
	// device of a user the user's interner, so that they (and the user's
	// person and audit) share one copy per message, and the devices' records
	// hold 4-byte handles into it (internal/view/intern.go). Nil: the
	// device makes an interner of its own.
	IDs *view.Interner
	// MaxLiteral bounds one IMAP literal (a message body in a FETCH
	// reply); a larger announcement fails the session with outcome
	// error. Default 64 MiB (transport.DefaultMaxLiteral).
	MaxLiteral int64
}
