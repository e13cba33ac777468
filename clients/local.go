package clients

import (
	"math"
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
// string, and the folder is an index into the store's folder names
// (mailstore.folderOf): 64 bytes.
type localMsg struct {
	// UIDL is the POP3 unique id ("" for a message not from the server).
	UIDL string
	from string
	// subjRefs is the Subject field, a newline, the References field.
	// Header field values hold no newline: mailgen.ParseHeader unfolds
	// them, and mailgen writes none.
	subjRefs string
	folder   uint16
	Flags    view.Flags
}

// header returns the fields of m as a mailgen.Header for a reply or
// forward to message id.
func (m *localMsg) header(id string) mailgen.Header {
	subject, refs, _ := strings.Cut(m.subjRefs, "\n")
	return mailgen.Header{ID: id, From: m.from, Subject: subject, References: refs}
}

// maxLocalFolders bounds the folder names a local store knows
// (localMsg.folder is a uint16).
const maxLocalFolders = math.MaxUint16 + 1

// localFolders are the folders every local store has, registered first
// so that a message can always be put in them.
var localFolders = [...]string{view.FolderInbox, view.FolderSent, view.FolderDrafts, view.FolderTrash}

// mailstore is a device's local mailbox: messages by Message-ID. It is not
// safe for concurrent use; the device's mutex guards it.
type mailstore struct {
	msgs map[string]*localMsg
	// folders are the folder names messages refer to by index.
	folders []string
}

func newMailstore() *mailstore {
	return &mailstore{msgs: make(map[string]*localMsg), folders: append([]string(nil), localFolders[:]...)}
}

// newMsg returns a message in folder, one of localFolders, with flags,
// downloaded as uidl ("" for one of the device's own), with the header
// fields of h; ids interns its From field.
func (s *mailstore) newMsg(folder, uidl string, flags view.Flags, h mailgen.Header, ids *view.Interner) *localMsg {
	m := &localMsg{UIDL: uidl, Flags: flags, from: ids.Intern(h.From)}
	if h.Subject != "" || h.References != "" {
		m.subjRefs = h.Subject + "\n" + h.References
	}
	s.setFolder(m, folder) // a local folder: never refused
	return m
}

// folderOf returns the name of m's folder.
func (s *mailstore) folderOf(m *localMsg) string { return s.folders[m.folder] }

// setFolder puts m in folder name. It returns false, leaving m where it
// is, when name is new and the store knows maxLocalFolders names already.
func (s *mailstore) setFolder(m *localMsg, name string) bool {
	for i, f := range s.folders {
		if f == name {
			m.folder = uint16(i)
			return true
		}
	}
	if len(s.folders) == maxLocalFolders {
		return false
	}
	s.folders = append(s.folders, name)
	m.folder = uint16(len(s.folders) - 1)
	return true
}

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
		out[id] = view.Message{ID: id, Folder: s.folders[m.folder], Flags: m.Flags & view.Tracked}
	}
	return view.Snapshot{Messages: out, Synced: synced, Window: window}
}
