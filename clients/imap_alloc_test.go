package clients

import (
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/leanimap"

	"github.com/mailsim/mailsim/internal/view"
)

// allocSession delivers n messages to alice on the embedded server in a
// child process (the test's allocations are the client's alone) and
// returns a lean PC device and its logged-in session, closed when t ends.
func allocSession(t *testing.T, n int) (*imapDevice, *imapSession) {
	t.Helper()
	env := startServerProcess(t)
	env.client = IMAPClientLean
	for range n {
		env.deliver(t, 2000)
	}
	s := pcSession(t, env, nil)
	return s.d, s
}

// TestSyncFullAllocs pins the allocations of a PC's poll of a folder with
// nothing new (syncFull: SELECT, UID FETCH 1:* (UID FLAGS) over 20
// messages), the client's alone: the server runs in a child process. The
// folder's copy (known), the map built and the flag fetch's callback come
// from the device's syncScratch, and an unchanged folder keeps its map
// (installAt), so what is left is the lean client's SELECT data, the
// recorder's and the connection's.
func TestSyncFullAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	d, s := allocSession(t, 20)
	poll := func() {
		s.selected = "" // a poll SELECTs (pcSync.inboxStep)
		if err := d.syncFull(s, view.FolderInbox); err != nil {
			t.Fatal(err)
		}
	}
	poll()
	if n := len(d.View().Messages); n != 20 {
		t.Fatalf("%d messages in the view, want 20", n)
	}
	allocs := testing.AllocsPerRun(20, poll)
	t.Logf("%.1f allocations per poll", allocs)
	if allocs > 1 {
		t.Errorf("%.1f allocations per poll of an unchanged folder, want ≤ 1", allocs)
	}
	// A folder that changed since (here the view's flags of one message,
	// changed in place): the sync installs its map and takes the one
	// replaced for the next.
	changedPoll := func() {
		d.mu.Lock()
		f := d.folders[view.FolderInbox]
		m := f.msgs[1]
		m.flags ^= view.Flagged
		f.msgs[1] = m
		d.mu.Unlock()
		poll()
	}
	allocs = testing.AllocsPerRun(20, changedPoll)
	t.Logf("%.1f allocations per poll of a changed folder", allocs)
	if allocs > 1 {
		t.Errorf("%.1f allocations per poll of a changed folder, want ≤ 1", allocs)
	}
}

// TestListAllocs pins the allocations of a device's LIST of an unchanged
// folder set (imapDevice.list, the server in a child process): the lean
// client's reply (the entries, the attributes, the names) and the command
// line; the folder set and the special-use folders are compared by
// iterating the reply and the map kept (specialFoldersOr).
func TestListAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	d, s := allocSession(t, 0)
	list := func() {
		if err := d.list(s); err != nil {
			t.Fatal(err)
		}
	}
	list()
	special := d.special
	allocs := testing.AllocsPerRun(20, list)
	t.Logf("%.1f allocations per LIST of %d folders", allocs, len(d.folders))
	if len(d.folders) < 2 || len(special) == 0 {
		t.Fatalf("folders %v, special-use %v", d.folderNames(), special)
	}
	if max := float64(5 + len(d.folders)); allocs > max {
		t.Errorf("%.1f allocations per LIST of %d folders, want ≤ %v", allocs, len(d.folders), max)
	}
}

// TestEqualLower checks equalLower against strings.ToLower.
func TestEqualLower(t *testing.T) {
	for _, p := range [][2]string{
		{"Sent", "sent"}, {"SENT", "Sent"}, {"Sent", "Sent Items"}, {"", ""}, {"a", ""},
		{"Éléments envoyés", "éléments ENVOYÉS"}, {"Ünd", "und"}, {"\xff", "\xff"}, {"K", "\u212a"},
		{"[Gmail]/Sent Mail", "[gmail]/sent mail"}, {"@", "`"},
	} {
		//lint:ignore SA6005 equalLower stands for exactly this comparison
		if got, want := equalLower(p[0], p[1]), strings.ToLower(p[0]) == strings.ToLower(p[1]); got != want {
			t.Errorf("equalLower(%q, %q) = %v, want %v", p[0], p[1], got, want)
		}
	}
}

// TestSpecialFoldersOr checks that the special-use folders of an unchanged
// reply are the map given, and a changed reply's a new map.
func TestSpecialFoldersOr(t *testing.T) {
	boxes := []*imap.ListData{
		{Mailbox: "INBOX"},
		{Mailbox: "Sent", Attrs: []imap.MailboxAttr{imap.MailboxAttrSent}},
		{Mailbox: "trash"},
	}
	old := specialFolders(boxes, "")
	if old[imap.MailboxAttrSent] != "Sent" || old[imap.MailboxAttrTrash] != "trash" || len(old) != 2 {
		t.Fatalf("special-use folders %v", old)
	}
	if got := specialFoldersOr(boxes, "", old); reflect.ValueOf(got).Pointer() != reflect.ValueOf(old).Pointer() {
		t.Errorf("an unchanged reply made a new map %v", got)
	}
	boxes[2].Mailbox = "Deleted Items"
	got := specialFoldersOr(boxes, "", old)
	if reflect.ValueOf(got).Pointer() == reflect.ValueOf(old).Pointer() || got[imap.MailboxAttrTrash] != "Deleted Items" || len(old) != 2 || old[imap.MailboxAttrTrash] != "trash" {
		t.Errorf("changed reply: %v (old %v)", got, old)
	}
	if got := specialFoldersOr(boxes[:1], "", old); len(got) != 0 {
		t.Errorf("no special-use folder: %v", got)
	}
}

// TestLeanFetchedAllocs pins the allocations of reading a new-mail fetch's
// response (the Message-ID in a header section) into the device's view:
// the Message-ID is looked up by its bytes (fetched.handle), so a
// Message-ID the device knows costs nothing; a string of it cost one.
func TestLeanFetchedAllocs(t *testing.T) {
	in := view.NewInterner()
	want := in.Handle("<1@example.net>")
	m := &leanimap.Message{UID: 7, Sections: []leanimap.Section{{
		Name: []byte("HEADER.FIELDS (MESSAGE-ID)"), Origin: -1,
		Data: []byte("Message-ID:\r\n <1@example.net>\r\n\r\n"),
	}}}
	var buf []byte
	var got view.Handle
	read := func() {
		f := leanFetched(m, false, &buf)
		if !f.hasID() || !f.content {
			t.Fatal("no Message-ID")
		}
		got = f.handle(in)
	}
	read()
	allocs := testing.AllocsPerRun(100, read)
	if got != want {
		t.Fatalf("handle %v, want %v", got, want)
	}
	if allocs > 0 {
		t.Errorf("%.1f allocations per response, want 0", allocs)
	}
}
