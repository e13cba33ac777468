package clients

import (
	"math"
	"strings"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/reftab"
	"github.com/mailsim/mailsim/internal/view"
)

// localMsg is what a device keeps of one message: where it shows it, its
// flags, how the server names it, and the header fields replies and
// forwards need (From, Subject, References: mailgen.Reply and
// mailgen.Forward). Bodies are never kept. A local store holds one per
// message, by value, so it is kept small (docs/performance.md, "Memory per
// message held"): its strings are handles into the user's interner
// (Options.IDs), which the user's other devices share (the Message-ID, the
// UIDL a second POP3 device of the user sees too, From, and Subject and
// References in one value), and the folder is an index into the store's
// folder names (mailstore.folderOf): 20 bytes.
type localMsg struct {
	id view.Handle // the Message-ID
	// uidl is the POP3 unique id (view.NoHandle for a message not from
	// the server).
	uidl view.Handle
	from view.Handle
	// text is the Subject field, a newline, the References field (or
	// view.NoHandle when both are empty). Header field values hold no
	// newline: mailgen.ParseHeader unfolds them, and mailgen writes none.
	text   view.Handle
	folder uint16
	Flags  view.Flags
}

// maxLocalFolders bounds the folder names a local store knows
// (localMsg.folder is a uint16).
const maxLocalFolders = math.MaxUint16 + 1

// maxLocalMsgs bounds the messages a local store holds (its index holds
// 32-bit references).
const maxLocalMsgs = reftab.Max + 1

// localFolders are the folders every local store has, registered first
// so that a message can always be put in them.
var localFolders = [...]string{view.FolderInbox, view.FolderSent, view.FolderDrafts, view.FolderTrash}

// mailstore is a device's local mailbox: messages by Message-ID, in a
// slice indexed by a table of the Message-ID handles (internal/reftab). It
// is not safe for concurrent use; the device's mutex guards it.
type mailstore struct {
	ids  *view.Interner
	msgs []localMsg
	// index finds a message of msgs (its index) by its id handle.
	index reftab.Table
	// folders are the folder names messages refer to by index.
	folders []string
}

// newMailstore returns an empty store whose strings are interned with ids
// (the user's; a store of its own when nil).
func newMailstore(ids *view.Interner) *mailstore {
	if ids == nil {
		ids = view.NewInterner()
	}
	return &mailstore{ids: ids, folders: append([]string(nil), localFolders[:]...)}
}

// newMsg returns a message in folder, one of localFolders, with flags,
// downloaded as uidl ("" for one of the device's own), with the header
// fields of h (its ID is not kept: put names the message).
func (s *mailstore) newMsg(folder, uidl string, flags view.Flags, h mailgen.Header) localMsg {
	m := localMsg{uidl: s.ids.Handle(uidl), from: s.ids.Handle(h.From), text: view.NoHandle, Flags: flags}
	if h.Subject != "" || h.References != "" {
		m.text = s.ids.Handle(h.Subject + "\n" + h.References)
	}
	s.setFolder(&m, folder) // a local folder: never refused
	return m
}

// header returns the fields of m as a mailgen.Header for a reply or
// forward to message id.
func (s *mailstore) header(m *localMsg, id string) mailgen.Header {
	subject, refs, _ := strings.Cut(s.ids.Value(m.text), "\n")
	return mailgen.Header{ID: id, From: s.ids.Value(m.from), Subject: subject, References: refs}
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

// find returns the index in s.msgs of the message with id handle h.
func (s *mailstore) find(h view.Handle) (uint32, bool) {
	return s.index.Find(reftab.Hash32(uint32(h)), func(ref uint32) bool { return s.msgs[ref].id == h })
}

// refHash is the hash of the message at index ref, for the index.
func (s *mailstore) refHash(ref uint32) uint64 { return reftab.Hash32(uint32(s.msgs[ref].id)) }

// get returns the message with Message-ID id, or nil. The pointer is into
// the store: valid until the next put or remove.
func (s *mailstore) get(id string) *localMsg {
	h, ok := s.ids.Lookup(id)
	if !ok {
		return nil
	}
	i, ok := s.find(h)
	if !ok {
		return nil
	}
	return &s.msgs[i]
}

// put stores m under id, replacing any message with that id. It returns
// false, storing nothing, when the store holds maxLocalMsgs messages.
func (s *mailstore) put(id string, m localMsg) bool {
	m.id = s.ids.Handle(id)
	if i, ok := s.find(m.id); ok {
		s.msgs[i] = m
		return true
	}
	if uint64(len(s.msgs)) == maxLocalMsgs {
		return false
	}
	s.msgs = append(s.msgs, m)
	s.index.Insert(reftab.Hash32(uint32(m.id)), uint32(len(s.msgs)-1), s.refHash)
	return true
}

// remove forgets message id: the last message takes its place in s.msgs.
func (s *mailstore) remove(id string) {
	h, ok := s.ids.Lookup(id)
	if !ok {
		return
	}
	i, ok := s.find(h)
	if !ok {
		return
	}
	s.index.Delete(reftab.Hash32(uint32(h)), i, s.refHash)
	last := uint32(len(s.msgs) - 1)
	if i != last {
		moved := s.msgs[last]
		s.msgs[i] = moved
		s.index.Replace(reftab.Hash32(uint32(moved.id)), last, i)
	}
	s.msgs[last] = localMsg{}
	s.msgs = s.msgs[:last]
}

// len returns the number of messages.
func (s *mailstore) len() int { return len(s.msgs) }

// each calls f for every message, in no particular order, until f returns
// false. It holds the interner's lock (view.Interner.Read): f must not put,
// remove, or use the interner.
func (s *mailstore) each(f func(id string, m *localMsg) bool) {
	s.ids.Read(func(value func(view.Handle) string) {
		for i := range s.msgs {
			if !f(value(s.msgs[i].id), &s.msgs[i]) {
				return
			}
		}
	})
}

// snapshot returns the store as a view: every message with its folder and
// tracked flags.
func (s *mailstore) snapshot(synced time.Time, window int) view.Snapshot {
	out := make(map[string]view.Message, len(s.msgs))
	s.each(func(id string, m *localMsg) bool {
		out[id] = view.Message{ID: id, Folder: s.folders[m.folder], Flags: m.Flags & view.Tracked}
		return true
	})
	return view.Snapshot{Messages: out, Synced: synced, Window: window}
}
