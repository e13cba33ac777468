package serverstate

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestReadersLeaveOutPublicNamespace: against a private Dovecot with a
// public namespace whose folder Public/News holds a message, in the
// personal namespace of Dovecot's default and of Cyrus's dialect, the
// auditor's reader shows each user only the mail of their own folders
// (user1's INBOX message, nothing of user2's), and the preflight's look
// counts none of the public folder: the shared message is no user's mail,
// and read as theirs it diverged on every device.
func TestReadersLeaveOutPublicNamespace(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts dovecottest.Options
		sep  string
	}{
		{"default namespace", dovecottest.Options{PublicNamespace: true}, "/"},
		{"INBOX. namespace", dovecottest.Options{PublicNamespace: true, NamespacePrefix: "INBOX.", NamespaceSeparator: "."}, "."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inst := dovecottest.StartWith(t, 2, tt.opts)
			lmtpSend(t, inst.LMTP, "user1@example.com", 1)
			public := "Public" + tt.sep + "News"
			appendShared(t, inst, public, 2)

			r := &IMAPReader{Endpoint: transport.Endpoint{Addr: inst.IMAP}, Password: func(string) string { return inst.Password }}
			for user, want := range map[string][]string{"user1": {"<m1@example.net>"}, "user2": nil} {
				got := stateOf(t, r, user)
				var wantIn []string
				for _, id := range want {
					wantIn = append(wantIn, id+" in INBOX")
				}
				if !slices.Equal(got, wantIn) {
					t.Errorf("%s's server state %q, want %q (the public %s is no user's)", user, got, wantIn, public)
				}
			}

			found, err := dovecotPreflight(inst, 2, clients.IMAP).Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := folderCounts(found); found.Incomplete != "" || fmt.Sprint(got) != "map[user1/INBOX:1]" {
				t.Errorf("the preflight found %v (%+v), want user1's INBOX message only", got, found)
			}
			// The folders it says user1 has are user1's own.
			if own := ownFolders(t, inst, "Public"); len(found.Users) == 0 || found.Users[0].Listed != own {
				t.Errorf("the preflight listed %+v, want user1's %d own folders", found.Users, own)
			}
		})
	}
}

// stateOf reads user's state with r: "<Message-ID> in Folder" of each
// message, sorted.
func stateOf(t *testing.T, r *IMAPReader, user string) []string {
	t.Helper()
	s, err := r.UserState(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for id, m := range s.Messages {
		got = append(got, id+" in "+m.Folder)
	}
	slices.Sort(got)
	return got
}

// ownFolders counts the folders LIST shows user1 of inst outside the
// public namespace's prefix.
func ownFolders(t *testing.T, inst *dovecottest.Instance, public string) int {
	t.Helper()
	c := imapclient.New(dialT(t, inst.IMAP), nil)
	defer c.Close()
	if err := c.Login("user1", inst.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range boxes {
		if !strings.HasPrefix(b.Mailbox, public) {
			n++
		}
	}
	return n
}

// appendShared stores message i ("<mI@example.net>") in the public folder
// name of inst, created by user1.
func appendShared(t *testing.T, inst *dovecottest.Instance, name string, i int) {
	t.Helper()
	c := imapclient.New(dialT(t, inst.IMAP), nil)
	defer c.Close()
	if err := c.Login("user1", inst.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	msg := fmt.Sprintf("Message-ID: <m%d@example.net>\r\nFrom: bob@example.net\r\nTo: all@example.com\r\nSubject: %d\r\n\r\nhello\r\n", i, i)
	appendT(t, c, name, nil, msg)
	_ = c.Logout().Wait()
}

// TestReadBigMailbox: the auditor's read of a real 20,000-message INBOX
// (Dovecot) shows every message: its FETCH of 1:* is 20,000 lines, none
// near the reply line bound, and the read keeps one record a message.
func TestReadBigMailbox(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20,000-message mailbox")
	}
	const n = 20000
	inst := dovecottest.Start(t, 1)
	inst.FillInbox(t, "user1", n, func(i int) []byte {
		return fmt.Appendf(nil, "Message-ID: <big%d@example.net>\r\nFrom: carol@example.net\r\nSubject: %d\r\n\r\nbody\r\n", i, i)
	})
	r := &IMAPReader{Endpoint: transport.Endpoint{Addr: inst.IMAP}, Password: func(string) string { return inst.Password }}
	got := stateOf(t, r, "user1")
	if len(got) != n {
		t.Fatalf("the read shows %d messages, want %d", len(got), n)
	}
}
