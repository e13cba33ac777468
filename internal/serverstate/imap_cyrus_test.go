package serverstate

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/cyrustest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestReadersLeaveOutCyrusShared: on a Cyrus in its default INBOX.
// namespace, whose shared namespace has the empty prefix (NAMESPACE
// (("INBOX." ".")) (("user." ".")) (("" "."))), a shared folder an
// administrator made, News beside INBOX, holding a message every user may
// read, is no user's mail: the auditor's reader shows user1 none of it
// and the preflight's look neither counts nor lists it. Before, user1's
// state held the shared message (stored_messages 1 of user1's 0) and the
// look listed 7 folders for user1's 6 and found mail at the start.
func TestReadersLeaveOutCyrusShared(t *testing.T) {
	inst := cyrustest.Start(t, 1, cyrustest.Options{Admin: "cyradm"})
	c := imapclient.New(dialT(t, inst.IMAP), nil)
	defer c.Close()
	if err := c.Login("cyradm", inst.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("News", nil).Wait(); err != nil {
		t.Fatalf("create News: %v", err)
	}
	for who, rights := range map[string]string{"anyone": "lrs", "cyradm": "lrswipkxtecda"} {
		if err := c.SetACL("News", imap.RightsIdentifier(who), imap.RightModificationReplace, imap.RightSet(rights)).Wait(); err != nil {
			t.Fatalf("setacl News %s: %v", who, err)
		}
	}
	msg := "Message-ID: <shared1@example.net>\r\nFrom: bob@example.net\r\nTo: all@example.com\r\nSubject: shared\r\n\r\nhello\r\n"
	w := c.Append("News", int64(len(msg)), nil)
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wait(); err != nil {
		t.Fatalf("append to News: %v", err)
	}

	r := &IMAPReader{Endpoint: transport.Endpoint{Addr: inst.IMAP}, Password: func(string) string { return inst.Password }}
	if got := stateOf(t, r, "user1"); len(got) != 0 {
		t.Errorf("user1's server state %q, want nothing (the shared News is no user's)", got)
	}

	p := &Preflight{Users: []User{{Username: "user1", Password: inst.Password}}, IMAP: &transport.Endpoint{Addr: inst.IMAP}}
	found, err := p.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if counts := folderCounts(found); found.Incomplete != "" || len(counts) != 0 {
		t.Errorf("the preflight found %v (%+v), want no mail", counts, found)
	}
	// user1's own: INBOX and the five folders Cyrus creates under it.
	if len(found.Users) == 0 || found.Users[0].Listed != 6 {
		t.Errorf("the preflight listed %+v, want user1's 6 own folders", found.Users)
	}
}
