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
	s := newMailstore()
	s.put("<a@x>", s.newMsg("INBOX", "", view.Seen|1<<6, mailgen.Header{}, nil))
	s.put("<b@x>", s.newMsg("Sent", "", 0, mailgen.Header{}, nil))
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
			s := newMailstore()
			m := s.newMsg("INBOX", "u1", view.Seen, tc.h, ids)
			want := tc.h
			want.ID = "<a@x>"
			if got := m.header("<a@x>"); got.ID != want.ID || got.From != want.From || got.Subject != want.Subject || got.References != want.References {
				t.Errorf("header %+v, want %+v", got, want)
			}
			if s.folderOf(m) != "INBOX" || m.UIDL != "u1" || m.Flags != view.Seen {
				t.Errorf("message %+v", m)
			}
		})
	}
	s := newMailstore()
	a := s.newMsg("INBOX", "", 0, mailgen.Header{From: string([]byte("bob@x"))}, ids)
	b := s.newMsg("INBOX", "", 0, mailgen.Header{From: string([]byte("bob@x"))}, ids)
	if unsafe.StringData(a.from) != unsafe.StringData(b.from) {
		t.Error("two messages from one sender keep two copies of From")
	}
}

// TestMailstoreFolders checks the folder names a store keeps by index:
// the local folders first, a new name added once, and a new name refused
// (the message staying where it is) once the store knows maxLocalFolders.
func TestMailstoreFolders(t *testing.T) {
	s := newMailstore()
	m := s.newMsg("INBOX", "", 0, mailgen.Header{}, nil)
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
