package audit

// Reason says why a change did not reach a device. Values are bounded and
// are used as the "reason" metric label. docs/report.md explains each.
type Reason string

// The reasons a change is unconverged, in order of precedence: when a change
// is missing on several devices for different reasons, it is counted under
// the first of them in this list.
const (
	// ReasonPOP3LocalOnly: the change was made on a device that kept it
	// locally (Published false), so the server never had it.
	ReasonPOP3LocalOnly Reason = "pop3-local-only"
	// ReasonActionIncomplete: the action that made the change failed or
	// was cut short (the run ended) after it began, so the server may never
	// have had it: e.g. a send whose message left but whose copy to Sent
	// was not stored. The action is counted in the report's actions.
	ReasonActionIncomplete Reason = "action-incomplete"
	// ReasonLost: the message is on no device and not on the server, and
	// no simulated person deleted it (it also counts as lost mail).
	ReasonLost Reason = "lost"
	// ReasonDeletedFromServer: the message is no longer on the server (a
	// POP3 device deleted it after download, or it expired there) but no
	// person deleted it, and the device does not show it: it never got it,
	// or (an IMAP device) its copy went with the server's.
	ReasonDeletedFromServer Reason = "deleted-from-server"
	// ReasonKeptLocally: the message was deleted on the server, but the
	// device keeps its own copy (a POP3 download).
	ReasonKeptLocally Reason = "kept-locally"
	// ReasonServerDisagrees: the change was published, yet the server's
	// state does not show it (e.g. the flag is not set there).
	ReasonServerDisagrees Reason = "server-disagrees"
	// ReasonNotSyncedYet: the device has not completed a sync since the
	// change of the folders that can show it (the message's, and the one
	// the device shows it in; syncedSince in auditor.go): none that began
	// once the server had it (Change.Stored; a
	// send's copy is in Sent only at the end of the action), or, for a
	// change into a folder the device does not know (a move into a
	// folder created after its last folder list), no folder list since
	// (view.Snapshot.Listed; syncedSince in auditor.go).
	ReasonNotSyncedYet Reason = "not-synced-yet"
	// ReasonOutsideWindow: the device synced after the change, but its
	// window (a phone's sync window, a webmail's page, each per folder)
	// is full — it shows as many messages of the message's server folder
	// as the window holds, less those its last sync left out by design
	// within the window (view.Snapshot.Hidden): the message is outside
	// the window.
	ReasonOutsideWindow Reason = "outside-window"
	// ReasonFolderNotSynced: the device synced after the change, but it
	// does not show the message in the server's folder, and it shows no
	// server message of that folder at all (e.g. POP3 reads only INBOX;
	// server-side moves never reach it).
	ReasonFolderNotSynced Reason = "folder-not-synced"
	// ReasonFlagsNotSynced: the device synced after the change and shows
	// the message, but without the flags the server has (POP3 has no
	// flags).
	ReasonFlagsNotSynced Reason = "flags-not-synced"
	// ReasonServerUnreadable: the device synced after the change, but the
	// server's state of the user could not be read at the end (no IMAP
	// endpoint, the read failed or ran out of time, or the run was
	// aborted), so nothing tells whether the device or the server is at
	// fault.
	ReasonServerUnreadable Reason = "server-unreadable"
	// ReasonNotShown: the device synced after the change and the server
	// has it, yet the device does not show it: a finding about the device.
	ReasonNotShown Reason = "not-shown"
	// ReasonSuperseded: the message was deleted (gone) before the change
	// reached the device.
	ReasonSuperseded Reason = "superseded"
	// ReasonUnexplained is never the reason of a change: it counts, in
	// Result.DivergentByReason, a divergent message of the final audit that
	// no pending change explains and no cause the views and the server's
	// state show. Silent divergence is a finding: Result.Unexplained lists
	// examples.
	ReasonUnexplained Reason = "unexplained"
	// ReasonPending is used only in live State: the change has not
	// converged yet and no other reason is known without the server's
	// truth.
	ReasonPending Reason = "pending"
)

// Reasons lists every reason in order of precedence.
var Reasons = []Reason{
	ReasonPOP3LocalOnly, ReasonActionIncomplete, ReasonLost, ReasonDeletedFromServer, ReasonKeptLocally,
	ReasonServerDisagrees, ReasonNotSyncedYet, ReasonOutsideWindow, ReasonFolderNotSynced,
	ReasonFlagsNotSynced, ReasonServerUnreadable, ReasonNotShown, ReasonSuperseded, ReasonUnexplained, ReasonPending,
}

func reasonRank(r Reason) int {
	for i, x := range Reasons {
		if x == r {
			return i
		}
	}
	return len(Reasons)
}
