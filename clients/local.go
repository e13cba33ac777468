package clients

import (
	"strings"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

// localMsg is what a device keeps of one message: where it shows it, its
// flags, how the server names it, and the header fields replies and
// forwards need (From, Subject, References: mailgen.Reply and
// mailgen.Forward). Bodies are never kept. A local store holds one per
// message, so it is kept small (docs/performance.md, "Memory per message
// held"): the From field is interned with the device's Options.IDs (a
// person's mail comes from few senders), Subject and References share one
// string (newLocalMsg).
type localMsg struct {
	Folder string
	// UIDL is the POP3 unique id ("" for a message not from the server).
	UIDL string
	from string
	// subjRefs is the Subject field, a newline, the References field.
	// Header field values hold no newline: mailgen.ParseHeader unfolds
	// them, and mailgen writes none.
	subjRefs string
	Flags    view.Flags
}

// newLocalMsg returns a message in folder with flags, downloaded as uidl
// ("" for one of the device's own), with the header fields of h; ids
// interns its From field.
func newLocalMsg(folder, uidl string, flags view.Flags, h mailgen.Header, ids *view.Interner) *localMsg {
	m := &localMsg{Folder: folder, UIDL: uidl, Flags: flags, from: ids.Intern(h.From)}
	if h.Subject != "" || h.References != "" {
		m.subjRefs = h.Subject + "\n" + h.References
	}
	return m
}

// header returns the fields of m as a mailgen.Header for a reply or
// forward to message id.
func (m *localMsg) header(id string) mailgen.Header {
	subject, refs, _ := strings.Cut(m.subjRefs, "\n")
	return mailgen.Header{ID: id, From: m.from, Subject: subject, References: refs}
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
