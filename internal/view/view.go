// Package view describes what one simulated device shows its person: the
// messages it knows, each with its folder and flags. Devices produce views,
// the auditor compares them. A view is keyed by Message-ID, the identity of a
// message everywhere in mailsim.
package view

import (
	"sort"
	"strings"
	"time"
)

// Flags is a set of the message flags mailsim tracks for divergence.
type Flags uint8

// The flags that count for divergence (docs/report.md, Divergence).
const (
	Seen      Flags = 1 << iota // \Seen
	Answered                    // \Answered
	Flagged                     // \Flagged
	Forwarded                   // $Forwarded
)

// Tracked is the set of every flag that counts for divergence.
const Tracked = Seen | Answered | Flagged | Forwarded

var flagNames = []struct {
	f    Flags
	name string
}{{Seen, `\Seen`}, {Answered, `\Answered`}, {Flagged, `\Flagged`}, {Forwarded, `$Forwarded`}}

// ParseFlag maps an IMAP flag or keyword to a tracked flag; untracked flags
// (\Deleted, \Draft, \Recent, other keywords) map to 0. Matching is
// case-insensitive, as in IMAP.
func ParseFlag(s string) Flags {
	for _, fn := range flagNames {
		if strings.EqualFold(fn.name, s) {
			return fn.f
		}
	}
	return 0
}

// Has reports whether every flag of g is in f.
func (f Flags) Has(g Flags) bool { return f&g == g }

// Strings returns the IMAP names of the flags in f, in a fixed order.
func (f Flags) Strings() []string {
	var out []string
	for _, fn := range flagNames {
		if f.Has(fn.f) {
			out = append(out, fn.name)
		}
	}
	return out
}

// String formats f as an IMAP flag list, e.g. "(\Seen \Answered)".
func (f Flags) String() string { return "(" + strings.Join(f.Strings(), " ") + ")" }

// Message is one message as a device shows it.
type Message struct {
	// ID is the Message-ID header value, angle brackets included.
	ID string
	// Folder is the folder name as the person sees it: "INBOX", "Sent",
	// "Trash", "Archive", ... IMAP devices use the server's mailbox name; POP3
	// devices use the same names for their local folders.
	Folder string
	// Flags are the tracked flags the device shows.
	Flags Flags
	// Stamps name the syncs that brought the message into Folder and its
	// Flags into the view (Snapshot.Stamped); zero (StampNone) for a
	// device that keeps none, and for what its own actions put there. A
	// POP3 device stamps Arrived only, with the poll that downloaded the
	// message (of Snapshot.Log), until it moves the message itself; its
	// flags are its own.
	Stamps Stamps
}

// Snapshot is a device's view at one moment. Snapshots are values: the
// producer hands out a copy the consumer may keep.
type Snapshot struct {
	// Messages by Message-ID.
	Messages map[string]Message
	// Synced is the simulated time of the device's last completed sync with
	// the server (zero if it never completed one). Changes made on the
	// server after Synced cannot be in the view yet.
	Synced time.Time
	// FolderSynced is, for a device that syncs its folders apart (IMAP),
	// the simulated time each folder's last completed sync began, by
	// folder name; Synced is the earliest of them. Nil for a device that
	// syncs as a whole (POP3: Synced holds for every folder).
	FolderSynced map[string]time.Time
	// FolderLog is, for a device that syncs its folders apart, the log of
	// each folder's last syncs that changed what the device shows of it
	// (SyncLog), by the names of FolderSynced; nil, or a folder left
	// out, for a device that keeps none (ShownAt then takes its last sync
	// as an upper bound).
	FolderLog map[string]SyncLog
	// Log is, for a device that syncs as a whole (POP3), the log of its
	// last syncs that changed what it shows.
	Log SyncLog
	// Listed is, for a device that syncs its folders apart (IMAP), the
	// simulated time its last completed folder list (LIST) began: a
	// folder created after it is one the device does not know, so a
	// change into it (a move into a new folder) cannot show however
	// recently the device synced the folders it knows (Synced); the
	// folders it knows are those of FolderSynced. A webmail lists its
	// folders once a session (10 simulated minutes), a PC when it
	// connects and every status_interval, a phone every poll. Zero for a
	// device that does not list (POP3) or has not listed yet.
	Listed time.Time
	// Window, when positive, is the number of newest messages of each
	// folder the device keeps (a phone's sync window, a webmail's page);
	// older ones are outside its view by design.
	Window int
	// Hidden, for a device with a Window, counts by folder the messages
	// within the window that its last sync of the folder left out by
	// design (a phone's window leaves out the messages flagged \Deleted
	// within it: clients/imap_sync.go, syncWindow): the view then shows
	// that many fewer than Window of a full folder, and a message older
	// than the window is still outside it. Nil when none is.
	Hidden map[string]int
}

// IDs returns the Message-IDs of s in sorted order.
func (s Snapshot) IDs() []string {
	ids := make([]string, 0, len(s.Messages))
	for id := range s.Messages {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
