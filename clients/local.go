package clients

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/reftab"
	"github.com/mailsim/mailsim/internal/view"
)

// localMsg is what a device keeps of one message: where it shows it, its
// flags, how the server names it and whether the server still lists it,
// and the header fields replies and forwards need. Bodies are never kept.
// A local store holds one per message, by value, so it is kept small
// (docs/performance.md, "Memory per message held"): 24 bytes. The
// Message-ID is a handle in the user's interner (Options.IDs), which the
// user's other devices share; From, Subject and References are one value
// of the interner of this record's own (local_text.go); the UIDL is packed
// (uidlKind); the folder is an index into the store's folder names
// (mailstore.folderOf).
//
// The record also holds what a POP3 device knows of the UIDL it was
// downloaded as: whether the server listed it at the last poll (recSeen,
// with the download time) and whether the device deleted the message and
// is to DELE it (recDeleted); and the stamp of the poll that downloaded
// the message (view.Stamp, stamp), in the download time's low byte. A
// UIDL downloaded that the store does not show (a message without a
// Message-ID, a second copy of one, one removed from the local Trash)
// keeps a record of its own, id view.NoHandle, for as long as the server
// lists it.
type localMsg struct {
	// atStamp packs two values: above stampBits, the simulated download
	// time in Unix nanoseconds, rounded up to a multiple of 256 ns, while
	// recSeen is set (downloaded); below, the stamp of the poll that
	// downloaded the message into the view (stamp), view.StampNone for
	// one the device made or moved itself. The byte the stamp takes is
	// one the record had no padding for: 256 ns of simulated time do not
	// count for delete_after, counted in days.
	atStamp int64
	id      view.Handle // the Message-ID; view.NoHandle for a UIDL's record or a free slot
	// text is From, Subject and References (encodeText), or NoHandle.
	text   view.Handle
	uidl   uint32 // the UIDL, as st's uidlKind says
	folder uint16
	Flags  view.Flags
	st     recState
}

// recState is a record's UIDL kind and suffix and its POP3 state bits.
type recState uint8

const (
	// uidlNone: not from the server.
	uidlNone recState = iota
	// uidlRaw: uidl is the handle of the UIDL in the user's interner.
	uidlRaw
	// uidlUpper: 16 upper-case hex digits (Dovecot's %08Xu%08Xv, the
	// embedded server's): uidl is the first eight, the store's suffixes
	// at the record's suffix index the last eight (the mailbox's
	// UIDVALIDITY, the same for all).
	uidlUpper
	// uidlLower: the same in lower case.
	uidlLower
	// uidlKind masks the kind.
	uidlKind recState = 3
	// recSeen: the UIDL was downloaded and the server listed it at the
	// last poll.
	recSeen recState = 1 << 2
	// recDeleted: deleted locally, to DELE at the next poll
	// (delete_when_deleted_locally).
	recDeleted recState = 1 << 3
	// suffixShift is where the suffix index starts.
	suffixShift = 4
	// maxSuffixes is how many UIDL suffixes a store packs; UIDLs with
	// others are kept whole.
	maxSuffixes = 1 << (8 - suffixShift)
	// uidlBits masks the bits that name the UIDL (kind and suffix).
	uidlBits recState = uidlKind | (maxSuffixes-1)<<suffixShift
)

// stampBits masks the low bits of localMsg.atStamp that hold the stamp.
const stampBits = 1<<8 - 1

// downloaded returns when m's UIDL was downloaded (simulated Unix
// nanoseconds, rounded up to 256 ns), while recSeen is set.
func (m *localMsg) downloaded() int64 { return m.atStamp &^ stampBits }

// setDownloaded records that m's UIDL was downloaded at at, rounded up, so
// that delete_after never counts from before the download.
func (m *localMsg) setDownloaded(at int64) {
	m.atStamp = (at+stampBits)&^stampBits | m.atStamp&stampBits
}

// stamp returns the stamp of the poll that brought m into the view: the
// Arrived stamp its view.Message carries (view.Stamps).
func (m *localMsg) stamp() view.Stamp { return view.Stamp(m.atStamp & stampBits) }

// setStamp makes st m's stamp.
func (m *localMsg) setStamp(st view.Stamp) { m.atStamp = m.atStamp&^stampBits | int64(st) }

// uidlKey names a UIDL in a store: the record's uidl and its uidlBits.
type uidlKey uint64

// maxLocalFolders bounds the folder names a local store knows
// (localMsg.folder is a uint16).
const maxLocalFolders = math.MaxUint16 + 1

// maxLocalMsgs bounds the records a local store holds (its index holds
// 32-bit references).
const maxLocalMsgs = reftab.Max + 1

// localFolders are the folders every local store has, registered first
// so that a message can always be put in them.
var localFolders = [...]string{view.FolderInbox, view.FolderSent, view.FolderDrafts, view.FolderTrash}

// mailstore is a device's local mailbox: messages by Message-ID, in a
// slice of records indexed by a table of the Message-ID handles
// (internal/reftab). A record keeps its slot until it is removed; a freed
// slot is reused. It is not safe for concurrent use; the device's mutex
// guards it.
type mailstore struct {
	ids  *view.Interner
	msgs []localMsg
	// index finds a message of msgs (its index) by its id handle.
	index reftab.Table
	// free is the first free slot + 1 (0: none); a free slot's uidl is
	// the next + 1.
	free uint32
	live int // records with an id
	// folders are the folder names messages refer to by index.
	folders []string
	// suffixes are the last eight hex digits of packed UIDLs.
	suffixes []uint32
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
	return s.newMsgText(folder, uidl, flags, s.ids.Put(encodeText(s.ids, h.From, h.Subject, h.References)))
}

// newMsgText is newMsg with the header fields' value given: text, a
// handle of s.ids holding their encoding (encodeText).
func (s *mailstore) newMsgText(folder, uidl string, flags view.Flags, text view.Handle) localMsg {
	m := localMsg{id: view.NoHandle, text: text, Flags: flags}
	k, _ := s.uidlKey(uidl, true)
	m.setUIDL(k)
	s.setFolder(&m, folder) // a local folder: never refused
	return m
}

// header returns the fields of m as a mailgen.Header for a reply or
// forward to message id.
func (s *mailstore) header(m *localMsg, id string) mailgen.Header {
	h := mailgen.Header{ID: id}
	h.From, h.Subject, h.References, _ = decodeText(s.ids, s.ids.Value(m.text))
	return h
}

// uidlKey returns the key of UIDL u in the store, adding to the store (a
// suffix) or to the interner (a UIDL kept whole) what it needs when add is
// set; false when u is "" or, without add, names a UIDL no record can
// have.
func (s *mailstore) uidlKey(u string, add bool) (uidlKey, bool) {
	if u == "" {
		return 0, false
	}
	if hi, lo, kind, ok := parseHex16(u); ok {
		for i, x := range s.suffixes {
			if x == lo {
				return uidlKey(hi)<<8 | uidlKey(kind|recState(i)<<suffixShift), true
			}
		}
		if len(s.suffixes) < maxSuffixes {
			if !add {
				return 0, false
			}
			s.suffixes = append(s.suffixes, lo)
			return uidlKey(hi)<<8 | uidlKey(kind|recState(len(s.suffixes)-1)<<suffixShift), true
		}
	}
	// Kept whole; so is a packable UIDL once the suffixes are full, as
	// each time it comes (the suffixes are only ever added to).
	if add {
		return uidlKey(s.ids.Handle(u))<<8 | uidlKey(uidlRaw), true
	}
	h, ok := s.ids.Lookup(u)
	return uidlKey(h)<<8 | uidlKey(uidlRaw), ok
}

// uidlString returns the UIDL of key k ("" for none).
func (s *mailstore) uidlString(k uidlKey) string {
	st, v := recState(k), uint32(k>>8)
	switch st & uidlKind {
	case uidlNone:
		return ""
	case uidlRaw:
		return s.ids.Value(view.Handle(v))
	case uidlUpper, uidlLower:
		b := make([]byte, 0, 16)
		b = appendHex8(b, v, st&uidlKind == uidlUpper)
		return string(appendHex8(b, s.suffixes[st>>suffixShift], st&uidlKind == uidlUpper))
	}
	return ""
}

// key returns the key of m's UIDL.
func (m *localMsg) key() uidlKey { return uidlKey(m.uidl)<<8 | uidlKey(m.st&uidlBits) }

// setUIDL makes k m's UIDL.
func (m *localMsg) setUIDL(k uidlKey) {
	m.uidl = uint32(k >> 8)
	m.st = m.st&^uidlBits | recState(k)&uidlBits
}

// parseHex16 parses 16 hex digits of one case (digits alone count as
// upper case) into their two halves.
func parseHex16(u string) (hi, lo uint32, kind recState, ok bool) {
	if len(u) != 16 {
		return 0, 0, 0, false
	}
	upper, lower := true, true
	var v uint64
	for i := range 16 {
		c := u[i]
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'A' <= c && c <= 'F':
			v, lower = v<<4|uint64(c-'A'+10), false
		case 'a' <= c && c <= 'f':
			v, upper = v<<4|uint64(c-'a'+10), false
		default:
			return 0, 0, 0, false
		}
	}
	switch {
	case upper:
		kind = uidlUpper
	case lower:
		kind = uidlLower
	default:
		return 0, 0, 0, false
	}
	return uint32(v >> 32), uint32(v), kind, true
}

// appendHex8 appends v as eight hex digits.
func appendHex8(b []byte, v uint32, upper bool) []byte {
	n := len(b)
	b = strconv.AppendUint(b, uint64(v)|1<<32, 16)
	b = append(b[:n], b[n+1:]...) // drop the leading 1 that kept the zeros
	if upper {
		for i := n; i < len(b); i++ {
			if 'a' <= b[i] && b[i] <= 'f' {
				b[i] -= 'a' - 'A'
			}
		}
	}
	return b
}

// folderOf returns the name of m's folder.
func (s *mailstore) folderOf(m *localMsg) string { return s.folders[m.folder] }

// setFolder puts m in folder name. It returns false, leaving m where it
// is, when name is new and the store knows maxLocalFolders names already.
// A message put in another folder loses its stamp: the device put it
// there, no poll (view.Message.Stamps).
func (s *mailstore) setFolder(m *localMsg, name string) bool {
	i := slices.Index(s.folders, name)
	if i < 0 {
		if len(s.folders) == maxLocalFolders {
			return false
		}
		s.folders = append(s.folders, name)
		i = len(s.folders) - 1
	}
	if int(m.folder) != i {
		m.folder = uint16(i)
		m.setStamp(view.StampNone)
	}
	return true
}

// find returns the index in s.msgs of the message with id handle h.
func (s *mailstore) find(h view.Handle) (uint32, bool) {
	return s.index.Find(reftab.Hash32(uint32(h)), func(ref uint32) bool { return s.msgs[ref].id == h })
}

// refHash is the hash of the message at index ref, for the index.
func (s *mailstore) refHash(ref uint32) uint64 { return reftab.Hash32(uint32(s.msgs[ref].id)) }

// get returns the message with Message-ID id, or nil. The pointer is into
// the store: valid until the next put or add.
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

// put stores m under id, replacing any message with that id (whose UIDL's
// state, when the server lists it, stays in a record of its own). It
// returns false, storing nothing, when the store holds maxLocalMsgs
// records.
func (s *mailstore) put(id string, m localMsg) bool {
	m.id = s.ids.Handle(id)
	if i, ok := s.find(m.id); ok {
		if s.msgs[i].st&recSeen == 0 {
			s.msgs[i] = m
			return true
		}
		if s.full() {
			return false
		}
		s.unindex(i)
	}
	i, ok := s.add(m)
	if ok {
		s.index.Insert(reftab.Hash32(uint32(m.id)), i, s.refHash)
		s.live++
	}
	return ok
}

// full reports whether the store holds maxLocalMsgs records and no free
// slot: add, and put of a new id, would refuse a record.
func (s *mailstore) full() bool {
	return s.free == 0 && uint64(len(s.msgs)) == maxLocalMsgs
}

// add puts m in a free slot, or a new one, and returns its index; false
// when the store holds maxLocalMsgs records. It does not index m.
func (s *mailstore) add(m localMsg) (uint32, bool) {
	if s.free != 0 {
		i := s.free - 1
		s.free = s.msgs[i].uidl
		s.msgs[i] = m
		return i, true
	}
	if s.full() {
		return 0, false
	}
	s.msgs = append(s.msgs, m)
	return uint32(len(s.msgs) - 1), true
}

// unindex takes the message at i out of the index: it stays a record of
// its UIDL's state (id view.NoHandle).
func (s *mailstore) unindex(i uint32) {
	s.index.Delete(reftab.Hash32(uint32(s.msgs[i].id)), i, s.refHash)
	s.msgs[i].id, s.msgs[i].text = view.NoHandle, view.NoHandle
	s.live--
}

// release frees slot i (a record neither indexed nor seen).
func (s *mailstore) release(i uint32) {
	s.msgs[i] = localMsg{id: view.NoHandle, uidl: s.free}
	s.free = i + 1
}

// remove forgets message id; its UIDL's state stays while the server
// lists it.
func (s *mailstore) remove(id string) {
	h, ok := s.ids.Lookup(id)
	if !ok {
		return
	}
	i, ok := s.find(h)
	if !ok {
		return
	}
	s.unindex(i)
	if s.msgs[i].st&recSeen == 0 {
		s.release(i)
	}
}

// seenIndex returns the records whose UIDL the server listed at the last
// poll, by UIDL.
func (s *mailstore) seenIndex() map[uidlKey]uint32 {
	out := make(map[uidlKey]uint32)
	for i := range s.msgs {
		if s.msgs[i].st&recSeen != 0 {
			out[s.msgs[i].key()] = uint32(i)
		}
	}
	return out
}

// seenAt returns the record of seen holding UIDL k, checked against the
// store, or false. seen is the poll's (Poll): a record seen by another
// poll of the same device at the same time is not found (a device polls
// one at a time: Run).
func (s *mailstore) seenAt(seen map[uidlKey]uint32, k uidlKey) (uint32, bool) {
	i, ok := seen[k]
	if ok && s.msgs[i].st&recSeen != 0 && s.msgs[i].key() == k {
		return i, true
	}
	delete(seen, k)
	return 0, false
}

// unsee forgets that the server lists UIDL k (the record of seen holding
// it); a record of the UIDL alone is freed.
func (s *mailstore) unsee(seen map[uidlKey]uint32, k uidlKey) {
	i, ok := s.seenAt(seen, k)
	if !ok {
		return
	}
	delete(seen, k)
	m := &s.msgs[i]
	m.st &^= recSeen | recDeleted
	if m.id == view.NoHandle {
		s.release(i)
	}
}

// addSeen records that UIDL k was downloaded at at, in a record of its own,
// and adds it to seen.
func (s *mailstore) addSeen(seen map[uidlKey]uint32, k uidlKey, at int64) {
	m := localMsg{id: view.NoHandle, text: view.NoHandle, st: recSeen}
	m.setDownloaded(at)
	m.setUIDL(k)
	if i, ok := s.add(m); ok {
		seen[k] = i
	}
}

// download records that UIDL uidl was downloaded at at, as message h
// (h.ID "" for a message without a Message-ID, which the store does not
// show), in seen too (the poll's index of the records seen: seenIndex),
// and stores the message in INBOX unless the store has its Message-ID
// already (the same message twice on the server is shown once). It
// returns the UIDL's key, false for "" (never recorded: downloaded at
// every poll), and whether the message was added.
func (s *mailstore) download(seen map[uidlKey]uint32, uidl string, h mailgen.Header, at int64) (k uidlKey, hasUIDL, added bool) {
	k, hasUIDL = s.uidlKey(uidl, true)
	// The record that holds the UIDL's state: the one that has it
	// already (when the server lists the UIDL twice in one listing, or
	// when two polls ran at once), else the new message's, else one of
	// its own.
	held := false
	if hasUIDL {
		var i uint32
		if i, held = s.seenAt(seen, k); held {
			s.msgs[i].setDownloaded(at)
		}
	}
	see := func() {
		if hasUIDL && !held {
			s.addSeen(seen, k, at)
		}
	}
	if h.ID == "" {
		see()
		return k, hasUIDL, false
	}
	if m := s.get(h.ID); m != nil {
		if hasUIDL && !held && m.st&recSeen == 0 && m.key() == k {
			m.st |= recSeen
			m.setDownloaded(at)
			seen[k], _ = s.find(m.id)
			return k, true, false
		}
		see()
		return k, hasUIDL, false
	}
	if s.full() {
		// put would refuse it: no value for its fields (a UIDL that
		// finds no record either is downloaded at every poll).
		see()
		return k, hasUIDL, false
	}
	// The header fields' value: one of the message's own (Put), but
	// shared (Handle) for a message without a UIDL, which is downloaded
	// again at every poll once it is removed locally: one value however
	// often it comes, not a copy a poll.
	text := encodeText(s.ids, h.From, h.Subject, h.References)
	var th view.Handle
	if hasUIDL {
		th = s.ids.Put(text)
	} else {
		th = s.ids.Handle(string(text))
	}
	m := s.newMsgText(view.FolderInbox, uidl, 0, th)
	if hasUIDL && !held {
		m.st |= recSeen
		m.setDownloaded(at)
	}
	if !s.put(h.ID, m) {
		see()
		return k, hasUIDL, false
	}
	if hasUIDL && !held {
		seen[k], _ = s.find(s.ids.Handle(h.ID))
	}
	return k, hasUIDL, true
}

// keepStamps passes every message's stamp through log.Keep, after an Add
// to log, the device's log of its polls: a stamp of a poll the log dropped
// becomes view.StampOld, so that none names a newer one (view.SyncLog.Add).
func (s *mailstore) keepStamps(log *view.SyncLog) {
	for i := range s.msgs {
		if m := &s.msgs[i]; m.id != view.NoHandle {
			m.setStamp(log.Keep(m.stamp()))
		}
	}
}

// len returns the number of messages.
func (s *mailstore) len() int { return s.live }

// each calls f for every message, in no particular order, until f returns
// false. It holds the interner's lock (view.Interner.Read): f must not put,
// remove, or use the interner.
func (s *mailstore) each(f func(id string, m *localMsg) bool) {
	s.ids.Read(func(value func(view.Handle) string) {
		for i := range s.msgs {
			if s.msgs[i].id == view.NoHandle {
				continue
			}
			if !f(value(s.msgs[i].id), &s.msgs[i]) {
				return
			}
		}
	})
}

// snapshot returns the store as a view: every message with its folder,
// tracked flags and the stamp of the poll that downloaded it (Arrived; the
// flags are the device's own, unstamped).
func (s *mailstore) snapshot(synced time.Time, window int) view.Snapshot {
	out := make(map[string]view.Message, s.live)
	s.each(func(id string, m *localMsg) bool {
		out[id] = view.Message{ID: id, Folder: s.folders[m.folder], Flags: m.Flags & view.Tracked,
			Stamps: view.Stamps{Arrived: m.stamp()}}
		return true
	})
	return view.Snapshot{Messages: out, Synced: synced, Window: window}
}
