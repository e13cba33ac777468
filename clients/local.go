package clients

import (
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

// localMsg is what a device keeps of one message: where it shows it, its
// flags, how the server names it, and the few header fields replies and
// forwards need. Bodies are never kept.
type localMsg struct {
	Folder string
	Flags  view.Flags
	// UID is the IMAP UID in Folder (0 when unknown or local only).
	UID uint32
	// UIDL is the POP3 unique id ("" for a message not from the server).
	UIDL string
	Size int64
	// Downloaded is the simulated time the message reached the device.
	Downloaded time.Time
	// Header fields for replies and forwards.
	From, Subject, References string
}

// header returns the fields of m as a mailgen.Header for a reply or
// forward to message id.
func (m *localMsg) header(id string) mailgen.Header {
	return mailgen.Header{ID: id, From: m.From, Subject: m.Subject, References: m.References}
}

// mailstore is a device's local mailbox: messages by Message-ID. It is not
// safe for concurrent use; the device's mutex guards it.
type mailstore struct {
	msgs map[string]*localMsg
}

func newMailstore() *mailstore { return &mailstore{msgs: make(map[string]*localMsg)} }

// get returns the message with Message-ID id, or nil.
func (s *mailstore) get(id string) *localMsg { return s.msgs[id] }

// put stores m under id, replacing any message with that id.
func (s *mailstore) put(id string, m *localMsg) { s.msgs[id] = m }

// remove forgets message id.
func (s *mailstore) remove(id string) { delete(s.msgs, id) }

// len returns the number of messages.
func (s *mailstore) len() int { return len(s.msgs) }

// each calls f for every message, in no particular order, until f returns
// false.
func (s *mailstore) each(f func(id string, m *localMsg) bool) {
	for id, m := range s.msgs {
		if !f(id, m) {
			return
		}
	}
}

// snapshot returns the store as a view: every message with its folder and
// tracked flags.
func (s *mailstore) snapshot(synced time.Time, window int) view.Snapshot {
	out := make(map[string]view.Message, len(s.msgs))
	for id, m := range s.msgs {
		out[id] = view.Message{ID: id, Folder: m.Folder, Flags: m.Flags & view.Tracked}
	}
	return view.Snapshot{Messages: out, Synced: synced, Window: window}
}
