package clients

import (
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

func TestMailstoreSnapshot(t *testing.T) {
	s := newMailstore()
	s.put("<a@x>", &localMsg{Folder: "INBOX", Flags: view.Seen | 1<<6, From: "bob@x", Subject: "hi"})
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
	if h := (&localMsg{From: "bob@x", Subject: "hi", References: "<r@x>"}).header("<a@x>"); h.ID != "<a@x>" || h.From != "bob@x" || h.References != "<r@x>" {
		t.Errorf("header %+v", h)
	}
	n := 0
	s.each(func(string, *localMsg) bool { n++; return true })
	if n != 1 {
		t.Errorf("each visited %d", n)
	}
}
