package serverstate

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// folderCounts returns what m found, "user/folder" → messages, for the
// folders holding mail.
func folderCounts(m MailAtStart) map[string]int64 {
	out := map[string]int64{}
	for _, u := range m.Users {
		for _, f := range u.Folders {
			if f.Messages > 0 {
				out[u.User+"/"+f.Name] = f.Messages
			}
		}
	}
	return out
}

// TestPreflightMailAtStart checks what the preflight finds in the
// mailboxes of the embedded server, seeded over LMTP as an earlier run
// leaves them: over IMAP the first user's every folder and the other
// sampled users' INBOX, over POP3 alone each sampled user's maildrop, and
// nothing in an empty server. The sample of 10 users is user1, user3,
// user5, user7 and user10.
func TestPreflightMailAtStart(t *testing.T) {
	type delivery struct {
		rcpt string
		n    int
	}
	seeded := []delivery{{"user1", 3}, {"user1+Archive", 2}, {"user1+Trash", 1}, {"user10", 4}, {"user3+Archive", 5}, {"user2", 6}}
	for _, tc := range []struct {
		name       string
		protos     []clients.Protocol
		deliveries []delivery
		protocol   string
		want       map[string]int64
	}{
		{"empty over imap", []clients.Protocol{clients.IMAP}, nil, clients.ProtocolIMAP, map[string]int64{}},
		{"empty over pop3", []clients.Protocol{clients.POP3}, nil, clients.ProtocolPOP3, map[string]int64{}},
		// user3's Archive is not looked at (only the first user's folders
		// are), nor is user2 sampled.
		{"seeded over imap", []clients.Protocol{clients.IMAP}, seeded, clients.ProtocolIMAP,
			map[string]int64{"user1/INBOX": 3, "user1/Archive": 2, "user1/Trash": 1, "user10/INBOX": 4}},
		{"seeded over imap and pop3", []clients.Protocol{clients.IMAP, clients.POP3}, seeded, clients.ProtocolIMAP,
			map[string]int64{"user1/INBOX": 3, "user1/Archive": 2, "user1/Trash": 1, "user10/INBOX": 4}},
		{"seeded over pop3 alone", []clients.Protocol{clients.POP3}, seeded, clients.ProtocolPOP3,
			map[string]int64{"user1/INBOX": 3, "user10/INBOX": 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			addrs, cliTLS := mailservertest.Start(t, mailservertest.Numbered(10)...)
			for i, d := range tc.deliveries {
				for k := range d.n {
					lmtpSend(t, addrs.LMTP, d.rcpt+"@"+mailservertest.Domain, 100*i+k)
				}
			}
			found, err := embeddedPreflight(addrs, cliTLS, 10, tc.protos...).Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if found.Protocol != tc.protocol || found.Incomplete != "" || len(found.Users) != 5 {
				t.Fatalf("found %+v, want 5 users looked at over %s, complete", found, tc.protocol)
			}
			if got := folderCounts(found); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("found %v, want %v", got, tc.want)
			}
			var want int64
			for _, n := range tc.want {
				want += n
			}
			if found.Messages() != want {
				t.Errorf("Messages() %d, want %d", found.Messages(), want)
			}
			// The commands the look sent: what a server's own counters see.
			wantCmds := map[string]int{"STAT": 5}
			if tc.protocol == clients.ProtocolIMAP {
				wantCmds = map[string]int{"NAMESPACE": 1, "LIST": 1, "STATUS": len(found.Users[0].Folders) + 4}
				if u := found.Users[0]; len(u.Folders) < 4 || u.Folders[0].Name != "INBOX" || u.Listed < len(u.Folders) {
					t.Errorf("the first user's folders %+v (listed %d): want INBOX first and every listed folder", u.Folders, u.Listed)
				}
			}
			if fmt.Sprint(found.Commands) != fmt.Sprint(wantCmds) {
				t.Errorf("commands %v, want %v", found.Commands, wantCmds)
			}
		})
	}
}

// TestPreflightMailAtStartFolderBound: of a first user with more folders
// than preflightMaxFolders, INBOX and the first others listed are counted,
// and Listed says how many there were.
func TestPreflightMailAtStartFolderBound(t *testing.T) {
	addrs, cliTLS := mailservertest.Start(t, mailservertest.Numbered(1)...)
	const extra = preflightMaxFolders + 5
	for i := range extra {
		lmtpSend(t, addrs.LMTP, fmt.Sprintf("user1+F%02d@%s", i, mailservertest.Domain), i)
	}
	found, err := embeddedPreflight(addrs, cliTLS, 1, clients.IMAP).Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u := found.Users[0]
	if len(u.Folders) != preflightMaxFolders || u.Listed < extra+1 || found.Commands["STATUS"] != preflightMaxFolders {
		t.Errorf("counted %d folders of %d listed with %v, want %d of at least %d", len(u.Folders), u.Listed, found.Commands, preflightMaxFolders, extra+1)
	}
	if found.Messages() == 0 || found.Messages() > int64(preflightMaxFolders) {
		t.Errorf("found %d messages in %d folders", found.Messages(), len(u.Folders))
	}
}

// TestPreflightMailAtStartBrokenServer: a server that logs users in but
// answers the look with garbage, a 1 MiB line, a line without end, NO,
// nothing, or a hang-up passes the preflight: the look ends at its first
// failure (within its deadline), says why in Incomplete, and looks at no
// later user.
func TestPreflightMailAtStartBrokenServer(t *testing.T) {
	for _, mode := range []faketest.IMAPMode{faketest.IMAPGarbage, faketest.IMAPHugeLine, faketest.IMAPEndlessLine,
		faketest.IMAPRefuse, faketest.IMAPSilent, faketest.IMAPHangUp} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			fake := faketest.StartIMAP(t, mode, faketest.Options{EndlessLimit: 4 << 20})
			p := &Preflight{Users: testUsers(10), IMAP: &transport.Endpoint{Addr: fake.Addr}}
			found, err := p.Check(context.Background())
			if err != nil {
				t.Fatalf("the preflight failed: %v", err)
			}
			if !strings.HasPrefix(found.Incomplete, "user1: LIST: ") || len(found.Users) != 0 || found.Messages() != 0 {
				t.Errorf("found %+v, want the look stopped at user1's LIST", found)
			}
			if fmt.Sprint(found.Commands) != "map[LIST:1]" {
				t.Errorf("commands %v, want the one LIST", found.Commands)
			}
			if n := fake.Logins(); n != 5 {
				t.Errorf("%d logins, want the 5 sampled users'", n)
			}
			t.Logf("%s: %s", mode, found.Incomplete)
		})
	}
}
