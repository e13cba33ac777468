package audit

import (
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// ChangeKind is the kind of a change. Values are bounded and are used as the
// "change" metric label.
type ChangeKind string

// The change kinds (docs/report.md, Divergence).
const (
	Deliver ChangeKind = "deliver" // new mail arrived on the server
	Read    ChangeKind = "read"    // \Seen set
	Reply   ChangeKind = "reply"   // \Answered set
	Forward ChangeKind = "forward" // $Forwarded set
	Flag    ChangeKind = "flag"    // \Flagged set
	Move    ChangeKind = "move"    // filed into another folder
	Delete  ChangeKind = "delete"  // moved to Trash, or gone
	Send    ChangeKind = "send"    // the copy in Sent
)

// Kinds lists every change kind in a fixed order, for reports.
var Kinds = []ChangeKind{Deliver, Read, Reply, Forward, Flag, Move, Delete, Send}

// folderChange reports whether changes of kind k carry a folder (the
// message's place) rather than flags.
func (k ChangeKind) folderChange() bool {
	switch k {
	case Deliver, Move, Delete, Send:
		return true
	}
	return false
}

// Change is one event that should reach every device of a user.
type Change struct {
	// User is the user the change belongs to.
	User string
	// Device is the ID of the device the change was made on, "" for a
	// delivery from outside. The origin device is not waited for.
	Device string
	// Kind is what happened.
	Kind ChangeKind
	// MessageID is the Message-ID of the message changed (for send: the
	// message sent).
	MessageID string
	// At is the simulated time of the change: when the person acted (for
	// an action, when it began).
	At time.Time
	// Done is the simulated time the action that made the change ended,
	// by when the server had the change; zero when that is At (a
	// delivery, recorded once the server took it). A send's copy reaches
	// Sent only at the end of the action, after the writing time: a
	// device whose sync began in between may show its draft and not the
	// copy, and has not synced since the change (Stored). Lags count
	// from Stored, so the action's own time (the writing, the
	// submission, the APPEND and STORE) is not in them.
	Done time.Time
	// Folder is, for deliver, send, move and delete, the folder every
	// device should show the message in afterwards; "" means the message
	// is gone (a delete that expunged it). Unused by flag changes.
	Folder string
	// From is, for move and delete, the folder the message was in before
	// the change, where the device that made it found it; "" when
	// unknown. A device shows such a change once it has synced that
	// folder too (the copy there gone), unless it shows the copy in
	// Folder before one there (view.Prefer): the lag counts to the later
	// of the two syncs (Auditor.Audit). A delete that expunged the
	// message is shown by its absence from From.
	From string
	// Flags are the flags every device should now show for read (\Seen),
	// reply (\Answered), forward ($Forwarded) and flag (\Flagged). Unused
	// by folder changes.
	Flags view.Flags
	// Published reports whether the change reached the server, where the
	// other devices can see it; false when it stayed on a POP3 device.
	// Ignored for changes with no origin device (Device == "").
	Published bool
	// Incomplete reports that the action that made the change failed or
	// was cut short after it began: a send whose message left but whose
	// copy to Sent was not stored. Unless the action was finished later (a
	// Completes change), the server may never show it (reason
	// action-incomplete).
	Incomplete bool
	// Completes marks no new change but the end of an earlier Incomplete
	// send change of the same User and MessageID: a resume stored its copy
	// in Sent, so from then on it converges, or not, for the reasons of a
	// complete one. Nothing is counted for it.
	Completes bool
	// Unanswered marks no change but a delivery of MessageID to User
	// whose fate the server never told (the injector's reason unknown:
	// the message data went out, no reply came): the server may hold the
	// message or not. Nothing converges or is counted for it but in
	// Result.Unanswered, where Final says which.
	Unanswered bool
	// Submitted, with Unanswered, says that the delivery was a device's
	// SMTP submission whose reply never came after the message data
	// (clients.ErrUnanswered), not the injector's: Final sorts it into
	// Result.SubmissionUnanswered instead.
	Submitted bool
	// Draft marks no change but a draft that User's Device stored on the
	// server, in Folder, by Done (by At when Done is zero), and left
	// there: a send whose submission failed, or that the end of the
	// active phase cut, after its draft was saved (clients.Result.Draft).
	// The message is no mail that left, so nothing converges or is
	// counted for it; the final audit explains a device that does not
	// show it and has not synced since it was saved as not synced yet
	// (ReasonNotSyncedYet), as it would a change into that folder. Until
	// 2026-12-05 nothing recorded such a draft, and a device that had not
	// synced Drafts since it was saved missed it unexplained.
	Draft bool
}

// Stored returns the simulated time from which the server had the change:
// Done, or At when Done is zero or earlier. A device has synced since the
// change only when a sync of it that began at Stored or later completed
// (Auditor.WaitingForSync, ReasonNotSyncedYet); one that began earlier may
// have read the server before the change was there.
func (c Change) Stored() time.Time {
	if c.Done.After(c.At) {
		return c.Done
	}
	return c.At
}
