// Package clients holds mailsim's simulated devices — PC, phone and webmail
// clients speaking IMAP, POP3 and SMTP to a real server — and the
// device-local view each keeps of its mailbox.
package clients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// CommandEvent is one protocol command a device (or the injector) made.
type CommandEvent struct {
	// Protocol is "imap", "pop3", "smtp" or "lmtp".
	Protocol string
	// Command is the command name, upper case, "UID " prefix kept
	// ("UID FETCH"), never arguments.
	Command  string
	Outcome  transport.Outcome
	Duration time.Duration
	// Start is when the command started (zero when unknown); a
	// [CommandTracker] matches it with CommandStarted's start. For IDLE,
	// whose wait for mail is no wait for the server, it is when DONE was
	// sent: the start of the wait for its tagged reply, and Duration is
	// the sum of its two waits for the server (the continuation, the
	// reply after DONE), not the time from IDLE to the reply.
	Start time.Time
}

// CommandTracker is a Recorder that also learns when a command starts, so
// that it can tell which commands still wait for the server at a given
// moment (mailsim capacity counts the commands in flight when a step's
// measured window closes). Each CommandStarted is followed by exactly one
// Command with the same Protocol, Command and Start, or one
// CommandAbandoned when the wait ended without a record of its own: the
// command was given up without an outcome (its device stopped), or the
// wait was a part of a command recorded later (IDLE's wait for its
// continuation) or not a command after all (a CAPABILITY the library
// answered from what it knew).
//
// The waits for the server's answer are tracked: the connect and the
// server's greeting (command "CONNECT"), every command of a session
// (login, STARTTLS and LOGOUT or QUIT included), and for IMAP IDLE the
// waits for its continuation and for the tagged reply after DONE, not
// the wait for mail between them; POP3's STLS, as IMAP's STARTTLS, until
// the end of its TLS handshake; the injector's RSET. SMTP submission's
// connect and greeting is a CONNECT too (with starttls, STARTTLS reads the
// greeting, as IMAP's does). The auditor's commands are not tracked: they
// are reported apart, and never in a capacity step's window.
type CommandTracker interface {
	CommandStarted(protocol, command string, start time.Time)
	CommandAbandoned(protocol, command string, start time.Time)
}

// ClosedIdleRecorder is a Recorder that also counts the connections a
// server closed while their device was idle between commands — a server
// restart, an autologout timer, a proxy's idle timeout — which the device
// noticed before its next command and reconnected (imapSlot.run), as
// Thunderbird and K-9 notice the close of an idle connection and open a
// new one: the next command goes out on the new connection, so the close
// is no failed command, nor a drop of the simulated network
// (docs/report.md, "Connections the server closed").
type ClosedIdleRecorder interface {
	ClosedIdle(protocol string)
}

// CountClosedIdle tells r, when it is a ClosedIdleRecorder, that the
// server closed an idle connection of protocol.
func CountClosedIdle(r Recorder, protocol string) {
	if c, ok := r.(ClosedIdleRecorder); ok {
		c.ClosedIdle(protocol)
	}
}

// trackStart tells r, when it is a CommandTracker, that a command started.
func trackStart(r Recorder, protocol, command string, start time.Time) {
	if t, ok := r.(CommandTracker); ok {
		t.CommandStarted(protocol, command, start)
	}
}

// StartCommand returns the start of a command about to be sent, after
// telling r, when it is a CommandTracker, that it started: the command's
// CommandEvent must then carry this Start.
func StartCommand(r Recorder, protocol, command string) time.Time {
	start := time.Now()
	trackStart(r, protocol, command, start)
	return start
}

// trackAbandon tells r, when it is a CommandTracker, that a tracked command
// ended without being recorded.
func trackAbandon(r Recorder, protocol, command string, start time.Time) {
	if t, ok := r.(CommandTracker); ok {
		t.CommandAbandoned(protocol, command, start)
	}
}

// Recorder receives what devices do on the wire. Implementations must be
// safe for concurrent use and cheap: they are called on every command.
type Recorder interface {
	// Command is called once per finished command.
	Command(ev CommandEvent)
	// Bytes counts bytes read (in) and written (out) on a connection.
	Bytes(protocol string, in, out int64)
	// Connection is called with +1 when a connection opens and -1 when it
	// closes.
	Connection(protocol string, delta int)
	// Login is called once per authentication attempt.
	Login(protocol string, outcome transport.Outcome)
}

// ActionKind is something a person does to mail on the device in hand.
type ActionKind string

// The actions a person takes. They are also the change kinds of the auditor,
// with "deliver" added by the injector.
const (
	ActRead    ActionKind = "read"
	ActReply   ActionKind = "reply"
	ActForward ActionKind = "forward"
	ActFlag    ActionKind = "flag"
	ActMove    ActionKind = "move"
	ActDelete  ActionKind = "delete"
	ActSend    ActionKind = "send"
)

// Action is one thing the person does.
type Action struct {
	Kind ActionKind
	// MessageID is the message acted on (not used by send).
	MessageID string
	// Folder is the destination of a move.
	Folder string
	// To are the recipients of send and forward (reply answers the
	// original's sender).
	To []string
	// Size is the approximate size of a new message (send).
	Size int64
	// WriteTime is the simulated time a new message (send) sits in Drafts
	// before it is submitted; 0 submits at once.
	WriteTime time.Duration
	// Resume, when set, finishes an action that submitted its message and
	// failed in a later step: it is the Result.Resume of that failed Do,
	// passed back to the same device with the same action. Nothing is
	// submitted again.
	Resume *Resume
}

// Resume is what a reply, forward or send still has to do after it
// submitted its message: file the copy in Sent (IMAP: drop the draft,
// APPEND to Sent) and flag the original (reply, forward). It belongs to
// the device that made it; its content is the device's own.
type Resume struct {
	kind   ActionKind
	device string
	// id and raw are the message submitted.
	id  string
	raw []byte
	// drafted is set while a draft of the message (send) is still to be
	// deleted: draft is its UID in folder drafts, 0 when unknown.
	drafted bool
	drafts  string
	draft   imap.UID
	// saved is set once the copy is in Sent; unanswered, when the last
	// APPEND of the copy failed without the server's answer (it may have
	// stored it: the resume looks for it first, imapDevice.findCopy).
	saved, unanswered bool
	// flag is what reply and forward set on the original.
	flag view.Flags
}

// Result says what an action did. With an error from Do it says what the
// action did before it failed: Sent and Resume are set when the message
// was submitted (the mail left, and the action must not be repeated as a
// whole, or the recipients get it twice).
type Result struct {
	// Published is true when the change reached the server, where the
	// user's other devices can see it (IMAP STORE/MOVE/APPEND succeeded);
	// false when it stayed on this device (POP3 local state). For an
	// action that failed after its submission, Published says whether the
	// copy in Sent belongs on the server (IMAP devices).
	Published bool
	// Sent is the Message-ID of the message the action submitted (reply,
	// forward, send), or "". It is set once the message was submitted,
	// also when a later step failed.
	Sent string
	// Resume is set, with an error, when the action submitted its message
	// and a later step failed; see Action.Resume.
	Resume *Resume
	// Folder and Flags are the message's state on this device after the
	// action (for delete: Folder "" when the message is gone, "Trash" when
	// it was moved there).
	Folder string
	Flags  view.Flags
	// From is, for a move or delete that succeeded, the folder the
	// message was in before it (on an IMAP device, where the action
	// found it), "" when unknown.
	From string
	// Draft is the Message-ID of a draft the action stored on the server,
	// in Folder, and left there — an IMAP send whose submission failed,
	// or that its device's stop cut, after its draft was saved — and
	// DraftSaved the simulated time its APPEND ended; "" when none was
	// left (audit.Change.Draft).
	Draft      string
	DraftSaved time.Time
}

// Device is one simulated device of one user.
type Device interface {
	// ID identifies the device in logs and reports ("user1/pc-imap"); it is
	// never a metric label.
	ID() string
	// Profile is the device's profile from the scenario.
	Profile() *Profile
	// Run syncs the device with the server until ctx is done: connects,
	// logs in, polls or IDLEs, reconnects with backoff after failures. It
	// returns nil when ctx is done, or an error only for a failure that
	// retrying cannot fix (none so far: failures are recorded and retried).
	Run(ctx context.Context) error
	// View returns a copy of what the device shows its person now. It
	// costs in proportion to the messages the device holds: it is for the
	// audit, the report and tests; a person looking for new mail on every
	// wake-up asks NewInInbox.
	View() view.Snapshot
	// NewInInbox returns the Message-IDs of the messages View would show
	// in INBOX now that were not shown there when the call that returned
	// since was made, and the cursor to pass next time (the zero
	// InboxCursor: the device's start). It may return more — Message-IDs
	// shown in INBOX at that call too, or twice — but never one View would
	// not show in INBOX now, and the IDs are in no particular order. It
	// costs in proportion to what came into INBOX since, for a caller that
	// passes back the cursor it got last; a cursor older than the device
	// keeps (another caller's, or after many arrivals nobody asked for)
	// returns every message shown in INBOX (clients/inbox.go).
	NewInInbox(since InboxCursor) ([]string, InboxCursor)
	// Do performs an action on the device, over the wire or locally as the
	// device's protocol allows. It is safe to call while Run is running.
	// With an error, the Result says what the action did before it failed
	// (Sent and Resume once the message was submitted).
	Do(ctx context.Context, a Action) (Result, error)
}

// submit hands raw to o.Submitter. A message the server accepted for some
// of its recipients and refused for others was sent: that is not an error
// (a retry would send it to the others again); the refusals are logged.
func submit(ctx context.Context, o *Options, log *slog.Logger, to []string, raw []byte) error {
	if o.Submitter == nil {
		return fmt.Errorf("clients: device %s: %w", o.ID, ErrNoSubmitter)
	}
	if err := o.Submitter.Submit(ctx, o.Address, to, raw); err != nil {
		var re *RecipientsError
		if errors.As(err, &re) && re.Accepted > 0 {
			log.Debug("some recipients refused", "device", o.ID, "err", err)
			return nil
		}
		return fmt.Errorf("clients: device %s: submit: %w", o.ID, err)
	}
	return nil
}
