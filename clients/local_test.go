package clients

import (
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

func TestMailstoreSnapshot(t *testing.T) {
	s := newMailstore(nil)
	s.put("<a@x>", s.newMsg("INBOX", "", view.Seen|1<<6, mailgen.Header{}))
	s.put("<b@x>", s.newMsg("Sent", "", 0, mailgen.Header{}))
	synced := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := s.snapshot(synced, 25)
	if len(snap.Messages) != 2 || snap.Synced != synced || snap.Window != 25 {
		t.Fatalf("snapshot %+v", snap)
	}
	if m := snap.Messages["<a@x>"]; m.ID != "<a@x>" || m.Folder != "INBOX" || m.Flags != view.Seen {
		t.Errorf("message a = %+v (untracked flag bits must be masked)", m)
	}
	// A snapshot is a copy.
	s.setFolder(s.get("<b@x>"), "Trash")
	s.remove("<a@x>")
	if snap.Messages["<b@x>"].Folder != "Sent" || len(snap.Messages) != 2 || s.len() != 1 {
		t.Error("snapshot shares state with the store")
	}
	n := 0
	s.each(func(string, *localMsg) bool { n++; return true })
	if n != 1 {
		t.Errorf("each visited %d", n)
	}
}

// TestLocalMsgHeader checks that a local message gives back the header
// fields a reply or forward needs as it was given them.
func TestLocalMsgHeader(t *testing.T) {
	ids := view.NewInterner()
	for _, tc := range []struct {
		name string
		h    mailgen.Header
	}{
		{"all fields", mailgen.Header{From: "Bob <bob@x>", Subject: "Re: hi", References: "<r1@x> <r2@x>"}},
		{"no references", mailgen.Header{From: "bob@x", Subject: "hi"}},
		{"no subject", mailgen.Header{From: "bob@x", References: "<r@x>"}},
		{"nothing", mailgen.Header{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newMailstore(ids)
			m := s.newMsg("INBOX", "u1", view.Seen, tc.h)
			want := tc.h
			want.ID = "<a@x>"
			if got := s.header(&m, "<a@x>"); got.ID != want.ID || got.From != want.From || got.Subject != want.Subject || got.References != want.References {
				t.Errorf("header %+v, want %+v", got, want)
			}
			if s.folderOf(&m) != "INBOX" || s.uidlString(m.key()) != "u1" || m.Flags != view.Seen {
				t.Errorf("message %+v", m)
			}
		})
	}
	s := newMailstore(ids)
	a := s.newMsg("INBOX", "", 0, mailgen.Header{From: string([]byte("bob@x"))})
	b := s.newMsg("INBOX", "", 0, mailgen.Header{From: string([]byte("bob@x"))})
	if unsafe.StringData(s.header(&a, "").From) != unsafe.StringData(s.header(&b, "").From) {
		t.Error("two messages from one sender keep two copies of From")
	}
}

// TestMailstoreFolders checks the folder names a store keeps by index:
// the local folders first, a new name added once, and a new name refused
// (the message staying where it is) once the store knows maxLocalFolders.
func TestMailstoreFolders(t *testing.T) {
	s := newMailstore(nil)
	msg := s.newMsg("INBOX", "", 0, mailgen.Header{})
	m := &msg
	for _, tc := range []struct {
		folder  string
		ok      bool
		want    string
		folders int
	}{
		{"Projects", true, "Projects", 5},
		{"Trash", true, "Trash", 5},
		{"Projects", true, "Projects", 5},
		{"Archive/2025", true, "Archive/2025", 6},
	} {
		if ok := s.setFolder(m, tc.folder); ok != tc.ok || s.folderOf(m) != tc.want || len(s.folders) != tc.folders {
			t.Fatalf("setFolder(%q) = %v: in %q, %d folders; want %v, %q, %d", tc.folder, ok, s.folderOf(m), len(s.folders), tc.ok, tc.want, tc.folders)
		}
	}
	for len(s.folders) < maxLocalFolders {
		s.folders = append(s.folders, fmt.Sprintf("f%d", len(s.folders)))
	}
	if s.setFolder(m, "one too many") || s.folderOf(m) != "Archive/2025" {
		t.Fatalf("a folder past the bound was taken: in %q", s.folderOf(m))
	}
	if !s.setFolder(m, "Sent") || s.folderOf(m) != "Sent" {
		t.Fatal("a known folder was refused at the bound")
	}
}

// TestMailstorePutRemove puts, replaces and removes messages in an order
// that moves the last message into every removed one's place, and checks
// the store against a Go map after each step: every message is found
// under its Message-ID with its own fields.
func TestMailstorePutRemove(t *testing.T) {
	s := newMailstore(nil)
	want := map[string]string{} // Message-ID → folder
	check := func(step string) {
		t.Helper()
		if s.len() != len(want) || s.index.Len() != len(want) {
			t.Fatalf("%s: %d messages, %d indexed, want %d", step, s.len(), s.index.Len(), len(want))
		}
		for id, folder := range want {
			m := s.get(id)
			if m == nil || s.folderOf(m) != folder {
				t.Fatalf("%s: %s = %+v, want in %q", step, id, m, folder)
			}
		}
		snap := s.snapshot(time.Time{}, 0)
		for id, m := range snap.Messages {
			if m.ID != id || want[id] != m.Folder {
				t.Fatalf("%s: snapshot shows %s as %+v", step, id, m)
			}
		}
	}
	folders := []string{"INBOX", "Sent", "Drafts", "Trash"}
	for i := range 200 {
		id := fmt.Sprintf("<%d@x>", i)
		s.put(id, s.newMsg(folders[i%4], "", 0, mailgen.Header{}))
		want[id] = folders[i%4]
	}
	check("put")
	for i := range 200 {
		if i%5 == 0 {
			id := fmt.Sprintf("<%d@x>", i)
			s.put(id, s.newMsg("Trash", "", view.Seen, mailgen.Header{})) // replaces
			want[id] = "Trash"
		}
	}
	check("replace")
	for _, i := range []int{0, 199, 100, 1, 198, 57} {
		id := fmt.Sprintf("<%d@x>", i)
		s.remove(id)
		delete(want, id)
		check("remove " + id)
	}
	s.remove("<never@x>")
	s.remove("<0@x>")
	check("remove again")
	for id := range want {
		s.remove(id)
	}
	clear(want)
	check("remove all")
	if s.get("<5@x>") != nil {
		t.Fatal("an empty store found a message")
	}
}

// TestRecordSizes pins the size of the records a device holds per message
// (docs/performance.md, "Memory per message held"): a field added to one
// shows here and in BenchmarkDeviceViewMemory.
func TestRecordSizes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		got, want uintptr
	}{
		{"imapMsg", unsafe.Sizeof(imapMsg{}), 8},
		{"localMsg", unsafe.Sizeof(localMsg{}), 24},
	} {
		if tc.got != tc.want {
			t.Errorf("%s is %d bytes, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// storeModel is what a POP3 device kept before its UIDLs' state moved
// into the store's records: the messages by Message-ID, the UIDLs seen
// with their download time, and those deleted locally.
type storeModel struct {
	msgs    map[string]modelMsg
	seen    map[string]int64
	deleted map[string]bool
}

type modelMsg struct {
	uidl, folder string
}

// FuzzMailstoreSeen runs downloads, local messages, moves, removals,
// local deletions and forgotten UIDLs on a store and on storeModel, and
// compares them after each step: the view, and every UIDL's state. A
// UIDL always names the same Message-ID (or none), as RFC 1939 asks; a
// Message-ID may come under several UIDLs.
func FuzzMailstoreSeen(f *testing.F) {
	f.Add([]byte{0, 1, 2, 0x43, 0x81, 0x41, 0xc1, 0x01, 0x22, 0xa2, 0x62, 0x02})
	f.Add([]byte{0x10, 0x11, 0x12, 0x13, 0x90, 0x51, 0xd2, 0x53, 0x33, 0x10, 0xb0, 0x70, 0x10})
	f.Add([]byte{0x3f, 0x7f, 0xbf, 0xff, 0x00, 0x20, 0x40, 0x80, 0xc0, 0x60, 0xa0, 0xe0})
	f.Fuzz(runSeen)
}

// runSeen is FuzzMailstoreSeen's body.
func runSeen(t *testing.T, ops []byte) {
	s := newMailstore(nil)
	want := storeModel{msgs: map[string]modelMsg{}, seen: map[string]int64{}, deleted: map[string]bool{}}
	var seen map[uidlKey]uint32
	for step, op := range ops {
		x := int(op & 0x1f)
		// UIDL x names message x/2 (two UIDLs a message: a copy on
		// the server), none for x%8 == 7; half the UIDLs pack.
		uidl := fmt.Sprintf("%08X%08X", x, 0x692a8b3c)
		if x%2 == 1 {
			uidl = fmt.Sprintf("u%d", x)
		}
		id := fmt.Sprintf("<%d@x>", x/2)
		if x%8 == 7 {
			id = ""
		}
		at := (int64(step) + 1) << 8 // whole multiples of 256 ns: localMsg.setDownloaded
		switch op >> 5 {
		case 0, 1: // a poll downloads uidl, if it is not seen
			seen = s.seenIndex()
			if _, ok := want.seen[uidl]; ok {
				continue
			}
			s.download(seen, uidl, mailgen.Header{ID: id, Subject: "s"}, at)
			want.seen[uidl] = at
			if _, ok := want.msgs[id]; !ok && id != "" {
				want.msgs[id] = modelMsg{uidl, view.FolderInbox}
			}
		case 2: // a sent message under the same Message-ID
			if id != "" {
				s.put(id, s.newMsg(view.FolderSent, "", view.Seen, mailgen.Header{}))
				want.msgs[id] = modelMsg{"", view.FolderSent}
			}
		case 3: // moved
			if m := s.get(id); m != nil {
				s.setFolder(m, "Archive")
				want.msgs[id] = modelMsg{want.msgs[id].uidl, "Archive"}
			}
		case 4: // deleted locally, as the device's delete does
			m := s.get(id)
			if m == nil {
				continue
			}
			if m.st&recSeen != 0 {
				m.st |= recDeleted
			}
			if u := want.msgs[id].uidl; u != "" {
				if _, ok := want.seen[u]; ok {
					want.deleted[u] = true
				}
			}
			s.remove(id)
			delete(want.msgs, id)
		case 5, 6: // the server no longer lists uidl, or DELE committed
			seen = s.seenIndex()
			k, ok := s.uidlKey(uidl, false)
			if ok {
				s.unsee(seen, k)
			}
			delete(want.seen, uidl)
			delete(want.deleted, uidl)
		case 7: // removed without a DELE
			s.remove(id)
			delete(want.msgs, id)
		}
		checkStore(t, s, &want, step)
	}
}

// checkStore compares store s with the model.
func checkStore(t *testing.T, s *mailstore, want *storeModel, step int) {
	t.Helper()
	snap := s.snapshot(time.Time{}, 0)
	if len(snap.Messages) != len(want.msgs) || s.len() != len(want.msgs) || s.index.Len() != len(want.msgs) {
		t.Fatalf("step %d: %d messages (len %d, %d indexed), want %d", step, len(snap.Messages), s.len(), s.index.Len(), len(want.msgs))
	}
	for id, m := range want.msgs {
		if got, ok := snap.Messages[id]; !ok || got.Folder != m.folder {
			t.Fatalf("step %d: %s = %+v, want in %s", step, id, got, m.folder)
		}
	}
	seen := s.seenIndex()
	if len(seen) != len(want.seen) {
		t.Fatalf("step %d: %d UIDLs seen, want %d", step, len(seen), len(want.seen))
	}
	free := 0
	for i := s.free; i != 0; i = s.msgs[i-1].uidl {
		free++
	}
	if records := len(want.msgs) + free; records > len(s.msgs) {
		t.Fatalf("step %d: %d records, %d free", step, len(s.msgs), free)
	}
	for u, at := range want.seen {
		k, ok := s.uidlKey(u, false)
		i, held := seen[k]
		if !ok || !held || s.msgs[i].downloaded() != at || (s.msgs[i].st&recDeleted != 0) != want.deleted[u] {
			t.Fatalf("step %d: UIDL %s: record %d %v %+v, want at %d, deleted %v", step, u, i, held, s.msgs[i], at, want.deleted[u])
		}
	}
}

// TestMailstoreEmptyUIDLBounded downloads a message without a UIDL (a
// server breaking RFC 1939; download records none, so the message comes
// again at every poll once it is removed locally) over and over, removing
// it each time: its header fields stay one value of the interner (the same
// handle each time, no copy added a poll) and read back as they came.
func TestMailstoreEmptyUIDLBounded(t *testing.T) {
	ids := view.NewInterner()
	s := newMailstore(ids)
	h := mailgen.Header{ID: "<a@x>", From: "Bob <bob@x>", Subject: "Re: hi there", References: "<r1@x> <r2@x>"}
	var first view.Handle
	var entries int
	for poll := range 50 {
		seen := s.seenIndex()
		if _, hasUIDL, added := s.download(seen, "", h, int64(poll)+1); hasUIDL || !added {
			t.Fatalf("poll %d: hasUIDL %v, added %v; want false, true", poll, hasUIDL, added)
		}
		m := s.get(h.ID)
		if m == nil {
			t.Fatalf("poll %d: message not stored", poll)
		}
		if got := s.header(m, h.ID); got.ID != h.ID || got.From != h.From || got.Subject != h.Subject || got.References != h.References {
			t.Fatalf("poll %d: header %+v, want %+v", poll, got, h)
		}
		if poll == 0 {
			first, entries = m.text, ids.Len()
		} else if m.text != first || ids.Len() != entries {
			t.Fatalf("poll %d: fields in value %#x (interner %d entries), want %#x (%d): a copy a poll", poll, m.text, ids.Len(), first, entries)
		}
		s.remove(h.ID)
		if s.len() != 0 || len(s.seenIndex()) != 0 {
			t.Fatalf("poll %d: %d messages, %d seen after remove", poll, s.len(), len(s.seenIndex()))
		}
	}
	if len(s.msgs) != 1 {
		t.Errorf("%d records, want the one slot reused", len(s.msgs))
	}
}
