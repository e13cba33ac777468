package clients

import (
	"testing"
	"time"
	"unsafe"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

func TestMailstoreSnapshot(t *testing.T) {
	s := newMailstore()
	s.put("<a@x>", &localMsg{Folder: "INBOX", Flags: view.Seen | 1<<6})
	s.put("<b@x>", &localMsg{Folder: "Sent"})
	synced := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	snap := s.snapshot(synced, 25)
	if len(snap.Messages) != 2 || snap.Synced != synced || snap.Window != 25 {
		t.Fatalf("snapshot %+v", snap)
	}
	if m := snap.Messages["<a@x>"]; m.ID != "<a@x>" || m.Folder != "INBOX" || m.Flags != view.Seen {
		t.Errorf("message a = %+v (untracked flag bits must be masked)", m)
	}
	// A snapshot is a copy.
	s.get("<b@x>").Folder = "Trash"
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
			m := newLocalMsg("INBOX", "u1", view.Seen, tc.h, ids)
			want := tc.h
			want.ID = "<a@x>"
			if got := m.header("<a@x>"); got.ID != want.ID || got.From != want.From || got.Subject != want.Subject || got.References != want.References {
				t.Errorf("header %+v, want %+v", got, want)
			}
			if m.Folder != "INBOX" || m.UIDL != "u1" || m.Flags != view.Seen {
				t.Errorf("message %+v", m)
			}
		})
	}
	a := newLocalMsg("INBOX", "", 0, mailgen.Header{From: string([]byte("bob@x"))}, ids)
	b := newLocalMsg("INBOX", "", 0, mailgen.Header{From: string([]byte("bob@x"))}, ids)
	if unsafe.StringData(a.from) != unsafe.StringData(b.from) {
		t.Error("two messages from one sender keep two copies of From")
	}
}
