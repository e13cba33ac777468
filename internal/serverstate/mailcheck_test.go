package serverstate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

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
				wantCmds = map[string]int{"NAMESPACE": 1, "LIST": 1, "STATUS": len(found.Users[0].Folders) + 4, "LOGOUT": 1}
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
// later user. The session it broke is closed without LOGOUT; the one the
// server refused a command in (NO) ends with LOGOUT, which Commands
// counts as it counts the look's commands; every session is closed.
func TestPreflightMailAtStartBrokenServer(t *testing.T) {
	for _, tt := range []struct {
		mode faketest.IMAPMode
		cmds string
	}{
		{faketest.IMAPGarbage, "map[LIST:1]"},
		{faketest.IMAPHugeLine, "map[LIST:1]"},
		{faketest.IMAPEndlessLine, "map[LIST:1]"},
		{faketest.IMAPRefuse, "map[LIST:1 LOGOUT:1]"},
		{faketest.IMAPSilent, "map[LIST:1]"},
		{faketest.IMAPHangUp, "map[LIST:1]"},
	} {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			fake := faketest.StartIMAP(t, tt.mode, faketest.Options{EndlessLimit: 4 << 20})
			p := &Preflight{Users: testUsers(10), IMAP: &transport.Endpoint{Addr: fake.Addr}}
			found, err := p.Check(context.Background())
			if err != nil {
				t.Fatalf("the preflight failed: %v", err)
			}
			if !strings.HasPrefix(found.Incomplete, "user1: LIST: ") || len(found.Users) != 0 || found.Messages() != 0 {
				t.Errorf("found %+v, want the look stopped at user1's LIST", found)
			}
			if fmt.Sprint(found.Commands) != tt.cmds {
				t.Errorf("commands %v, want %s", found.Commands, tt.cmds)
			}
			if n := fake.Logins(); n != 5 {
				t.Errorf("%d logins, want the 5 sampled users'", n)
			}
			if n := fake.Logouts(); n != int64(found.Commands["LOGOUT"]) {
				t.Errorf("the server had %d LOGOUTs, Commands counts %d", n, found.Commands["LOGOUT"])
			}
			waitEnded(t, fake)
			t.Logf("%s: %s", tt.mode, found.Incomplete)
		})
	}
}

// TestPreflightPOP3BrokenServer: over POP3 alone, a server whose STAT
// reply is garbage, never comes, or is a hang-up leaves the look
// incomplete and the session closed without QUIT (a QUIT after a timed
// out STAT waited out a second timeout, and read the late reply as its
// own); one that refuses STAT (-ERR) gets its QUIT. Every session is
// closed, the later users' with QUIT.
func TestPreflightPOP3BrokenServer(t *testing.T) {
	for _, tt := range []struct {
		name string
		stat string // the reply to STAT; "" none, "hang-up" closes
		quit int64  // QUITs of the 5 sampled users' sessions
	}{
		{"garbage", "+OK many\r\n", 4},
		{"partial line", "+OK 3 4", 4},
		{"silent", "", 4},
		{"hang-up", "hang-up", 4},
		{"refused", "-ERR [SYS/TEMP] try later\r\n", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var (
				stats atomic.Bool
				quits atomic.Int64
			)
			fake := faketest.Start(t, faketest.Options{ConnTimeout: time.Minute}, func(c net.Conn) {
				fakePOP3(c, tt.stat, &stats, &quits)
			})
			p := &Preflight{Users: testUsers(10), POP3: &transport.Endpoint{Addr: fake.Addr}}
			found, err := p.Check(context.Background())
			if err != nil {
				t.Fatalf("the preflight failed: %v", err)
			}
			if !strings.HasPrefix(found.Incomplete, "user1: STAT: ") || fmt.Sprint(found.Commands) != "map[STAT:1]" {
				t.Errorf("found %+v, want the look stopped at user1's STAT", found)
			}
			if n := quits.Load(); n != tt.quit {
				t.Errorf("%d QUITs, want %d", n, tt.quit)
			}
			waitEnded(t, fake)
			t.Logf("%s: %s", tt.name, found.Incomplete)
		})
	}
}

// fakePOP3 serves c as a POP3 server that logs anyone in with USER and
// PASS and answers the server's first STAT (stats is false until then)
// with stat (see TestPreflightPOP3BrokenServer), later ones with
// "+OK 0 0"; it counts QUITs in quits.
func fakePOP3(c net.Conn, stat string, stats *atomic.Bool, quits *atomic.Int64) {
	r := bufio.NewReader(c)
	say := func(s string) bool { _, err := io.WriteString(c, s); return err == nil }
	if !say("+OK fake POP3 ready\r\n") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		reply := "+OK\r\n"
		switch strings.ToUpper(cmd) {
		case "CAPA":
			reply = "+OK\r\nUSER\r\n.\r\n"
		case "STAT":
			if !stats.CompareAndSwap(false, true) {
				reply = "+OK 0 0\r\n"
				break
			}
			switch stat {
			case "":
				// Stuck: later commands are read and never answered.
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if strings.EqualFold(strings.TrimSpace(line), "QUIT") {
						quits.Add(1)
					}
				}
			case "hang-up":
				return
			}
			reply = stat
		case "QUIT":
			quits.Add(1)
			say("+OK bye\r\n")
			return
		}
		if !say(reply) {
			return
		}
	}
}

// waitEnded waits until every connection fake accepted has ended (a
// liveness bound, not a timing assertion): the preflight left none open.
func waitEnded(t *testing.T, fake *faketest.Server) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); fake.Ended() < fake.Conns(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections still open after the preflight", fake.Conns()-fake.Ended(), fake.Conns())
		}
	}
}
