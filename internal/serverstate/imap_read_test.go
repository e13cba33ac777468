package serverstate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// manyMessages is the size of the large mailbox of the reader's tests:
// over a thousand FETCH responses, so that they come in many reads and
// the server's writes are batched.
const manyMessages = 1200

// readerServer is a real IMAP server with one user.
type readerServer struct {
	addr, user, pass string
}

// readerServers start the embedded server and a private Dovecot (skipped
// when Dovecot is absent).
var readerServers = []struct {
	name  string
	start func(t *testing.T) readerServer
}{
	{"embedded", func(t *testing.T) readerServer {
		addrs, _ := mailservertest.Start(t, mailservertest.User{Name: "alice", Password: "pw"})
		return readerServer{addrs.IMAP, "alice", "pw"}
	}},
	{"dovecot", func(t *testing.T) readerServer {
		inst := dovecottest.Start(t, 1)
		return readerServer{inst.IMAP, inst.Username(1), inst.Password}
	}},
}

// testMessage is message i of the reader's tests: with Message-ID
// "<rI@example.net>", or without one when noID.
func testMessage(i int, noID bool) string {
	id := fmt.Sprintf("Message-ID: <r%d@example.net>\r\n", i)
	if noID {
		id = ""
	}
	return fmt.Sprintf("%sFrom: bob@example.net\r\nTo: alice@example.com\r\nSubject: %d\r\n\r\nhello %d\r\n", id, i, i)
}

// loginT logs user in at addr with go-imap's client, closed at the
// test's end.
func loginT(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c := imapclient.New(dialT(t, addr), nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// appendT appends msg to mailbox box with flags.
func appendT(t *testing.T, c *imapclient.Client, box string, flags []imap.Flag, msg string) {
	t.Helper()
	w := c.Append(box, int64(len(msg)), &imap.AppendOptions{Flags: flags})
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wait(); err != nil {
		t.Fatalf("append to %s: %v", box, err)
	}
}

// TestIMAPReaderReadsEveryMailbox fills a user's mailboxes with known
// mail on the embedded server and Dovecot and checks what the state
// reader read: every message with a Message-ID, in its folder, with its
// tracked flags; a message without Message-ID and one marked \Deleted
// left out of the state, the first counted in the storage figures; two
// folders with non-ASCII names (modified UTF-7 on the wire), one of them
// holding manyMessages; and the commands recorded.
func TestIMAPReaderReadsEveryMailbox(t *testing.T) {
	const drafts, archive = "Entwürfe", "Архив"
	for _, tc := range readerServers {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			c := loginT(t, srv.addr, srv.user, srv.pass)
			for _, box := range []string{drafts, archive} {
				if err := c.Create(box, nil).Wait(); err != nil {
					t.Fatalf("create %s: %v", box, err)
				}
			}
			want := map[string]view.Message{}
			usage := map[string]RoleUsage{}
			put := func(box, role string, i int, flags []imap.Flag, noID bool) {
				msg := testMessage(i, noID)
				appendT(t, c, box, flags, msg)
				deleted := false
				var fl view.Flags
				for _, f := range flags {
					fl |= view.ParseFlag(string(f))
					deleted = deleted || f == imap.FlagDeleted
				}
				if deleted {
					return
				}
				u := usage[role]
				u.Messages++
				u.Bytes += int64(len(msg))
				usage[role] = u
				if !noID {
					id := fmt.Sprintf("<r%d@example.net>", i)
					want[id] = view.Message{ID: id, Folder: box, Flags: fl & view.Tracked}
				}
			}
			put("INBOX", view.RoleInbox, 0, []imap.Flag{imap.FlagSeen}, false)
			put("INBOX", view.RoleInbox, 1, []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}, false)
			put("INBOX", view.RoleInbox, 2, nil, true)
			put("INBOX", view.RoleInbox, 3, []imap.Flag{imap.FlagDeleted}, false)
			put(drafts, "other", 4, []imap.Flag{imap.FlagFlagged, imap.FlagDraft}, false)
			for i := range manyMessages {
				put(archive, "other", 100+i, nil, false)
			}
			boxes, err := c.List("", "*", nil).Collect()
			if err != nil {
				t.Fatal(err)
			}

			rec := &testRecorder{}
			storage := &UserStorage{}
			r := &IMAPReader{Endpoint: transport.Endpoint{Addr: srv.addr}, Password: func(string) string { return srv.pass }, Recorder: rec, Storage: storage}
			got, err := r.UserState(context.Background(), srv.user)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Messages, want) {
				var diff []string
				for id, m := range want {
					if g, ok := got.Messages[id]; !ok || g != m {
						diff = append(diff, fmt.Sprintf("%s: read %+v (%v), want %+v", id, g, ok, m))
					}
				}
				for id, m := range got.Messages {
					if _, ok := want[id]; !ok {
						diff = append(diff, fmt.Sprintf("%s: read %+v, want none", id, m))
					}
				}
				t.Errorf("%d messages read, %d known; differences (%d):\n%s", len(got.Messages), len(want), len(diff), strings.Join(diff[:min(len(diff), 20)], "\n"))
			}
			if u, ok := storage.User(srv.user); !ok || !reflect.DeepEqual(u, usage) {
				t.Errorf("storage %v, want %v", u, usage)
			}
			for cmd, n := range map[string]int{"LOGIN": 1, "LIST": 1, "EXAMINE": len(boxes), "FETCH": 3, "LOGOUT": 1} {
				if got := rec.count("imap " + cmd + ":ok"); got != n {
					t.Errorf("%s recorded %d times ok, want %d (%v)", cmd, got, n, rec.cmds)
				}
			}
			if want := []string{"imap:ok"}; !reflect.DeepEqual(rec.logins, want) {
				t.Errorf("logins %v, want %v", rec.logins, want)
			}
		})
	}
}

// TestIMAPReaderFetchFaults reads a user whose server fails during the
// FETCH of INBOX: the embedded server behind a fault proxy that, at the
// first FETCH response, drops the connection or stalls it, and a fake
// server that hangs up in the middle of a FETCH response's literal. The
// read fails with an error that names the server once and the mailbox,
// the FETCH is recorded with the outcome of the failure, the login once
// as a success, and no goroutine is left behind.
func TestIMAPReaderFetchFaults(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		srv, addrs, _ := mailservertest.StartServer(t, mailservertest.User{Name: "alice", Password: "pw"})
		defer srv.Close() // before the goroutines are counted
		srvAddr := addrs.IMAP
		c := loginT(t, srvAddr, "alice", "pw")
		for i := range manyMessages {
			appendT(t, c, "INBOX", nil, testMessage(i, false))
		}
		_ = c.Logout().Wait()
		_ = c.Close()
		p, err := faultproxy.New(faultproxy.Options{Backend: srvAddr})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		fake := faketest.Start(t, faketest.Options{ConnTimeout: time.Minute}, cutFetch)
		defer fake.Close()
		for _, tc := range []struct {
			name  string
			addr  string
			fault func(hit <-chan struct{}) // after the stall struck
			want  transport.Outcome
			// timeout is the reader's: short where the read must wait
			// it out, long enough for a loaded machine elsewhere.
			timeout time.Duration
		}{
			{"drop", p.Addr(), func(hit <-chan struct{}) {
				select {
				case <-hit:
				case <-time.After(20 * time.Second):
					return // the read times out: the test fails
				}
				p.CloseFraction(1)
				p.Resume()
			}, transport.OutcomeError, 30 * time.Second},
			{"stall", p.Addr(), nil, transport.OutcomeTimeout, 4 * time.Second},
			{"hang-up mid-literal", fake.Addr, nil, transport.OutcomeError, 30 * time.Second},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hit := p.StallOnReply([]byte("* 1 FETCH ("))
				defer p.Resume()
				done := make(chan struct{})
				go func() {
					defer close(done)
					if tc.fault != nil {
						tc.fault(hit)
					}
				}()
				rec := &testRecorder{}
				r := &IMAPReader{Endpoint: transport.Endpoint{Addr: tc.addr}, Password: func(string) string { return "pw" }, Recorder: rec, Timeout: tc.timeout}
				_, err := r.UserState(context.Background(), "alice")
				p.Resume()
				<-done
				if err == nil {
					t.Fatal("read a server that failed mid-FETCH")
				}
				t.Log(err)
				named := regexp.MustCompile(`(imap|smtp|lmtp|pop3) ` + regexp.QuoteMeta(tc.addr) + `: `)
				if prefix := "auditor imap " + tc.addr + `: fetch "INBOX": `; !strings.HasPrefix(err.Error(), prefix) || len(named.FindAllString(err.Error(), -1)) != 1 {
					t.Errorf("error %q, want it to begin %q and name the server once", err, prefix)
				}
				if n := rec.count("imap FETCH:" + string(tc.want)); n != 1 {
					t.Errorf("FETCH recorded %v, want once %s", rec.cmds, tc.want)
				}
				if want := []string{"imap:ok"}; !reflect.DeepEqual(rec.logins, want) {
					t.Errorf("logins %v, want %v", rec.logins, want)
				}
			})
		}
	}()
	faketest.GoroutinesBack(t, before, 10*time.Second, "after the reads")
}

// cutFetch is an IMAP server for one user that lists INBOX with 3
// messages and answers FETCH with one whole response and the start of the
// next, then hangs up in the middle of its literal.
func cutFetch(conn net.Conn) {
	fakeFetch(conn, "* 1 FETCH (UID 1 FLAGS () RFC822.SIZE 60 BODY[HEADER.FIELDS (MESSAGE-ID)] {24}\r\nMessage-ID: <r1@x.net>\r\n)\r\n"+
		"* 2 FETCH (UID 2 FLAGS (\\Seen) RFC822.SIZE 60 BODY[HEADER.FIELDS (MESSAGE-ID)] {24}\r\nMessage-", true)
}

// fakeFetch serves one IMAP user over conn whose INBOX holds 3 messages
// and answers FETCH with fetch (TAG is the command's tag), then hangs up
// when hangUp is set, else goes on until LOGOUT.
func fakeFetch(conn net.Conn, fetch string, hangUp bool) {
	replies := map[string]string{ // TAG is the command's tag
		"LOGIN":      "TAG OK [CAPABILITY IMAP4rev1] logged in\r\n",
		"CAPABILITY": "* CAPABILITY IMAP4rev1\r\nTAG OK done\r\n",
		"LIST":       "* LIST () \"/\" INBOX\r\nTAG OK done\r\n",
		"EXAMINE":    "* 3 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\nTAG OK [READ-ONLY] done\r\n",
		"FETCH":      fetch,
		"LOGOUT":     "* BYE bye\r\nTAG OK done\r\n",
	}
	if _, err := io.WriteString(conn, "* OK [CAPABILITY IMAP4rev1] fake\r\n"); err != nil {
		return
	}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		tag, rest, _ := strings.Cut(sc.Text(), " ")
		verb, _, _ := strings.Cut(rest, " ")
		verb = strings.ToUpper(verb)
		reply, ok := replies[verb]
		if !ok {
			reply = "TAG BAD unknown\r\n"
		}
		if _, err := io.WriteString(conn, strings.ReplaceAll(reply, "TAG", tag)); err != nil || verb == "FETCH" && hangUp || verb == "LOGOUT" {
			return
		}
	}
}

// TestIMAPReaderFetchUpdates: a FETCH response the server sends unasked
// in the middle of the read (another session's flag change, `* N FETCH
// (FLAGS (...))`, before or after the message's own response) is no
// message of its own: each message counts once in the storage figures and
// the state, as when go-imap's client merged the responses of a number.
func TestIMAPReaderFetchUpdates(t *testing.T) {
	msg := func(n int, flags string) string {
		return fmt.Sprintf("* %d FETCH (UID %d FLAGS (%s) RFC822.SIZE 60 BODY[HEADER.FIELDS (MESSAGE-ID)] {24}\r\nMessage-ID: <r%d@x.net>\r\n)\r\n", n, n, flags, n)
	}
	fetch := "* 1 FETCH (FLAGS (\\Seen))\r\n" + msg(1, "") + msg(2, "") + "* 2 FETCH (FLAGS (\\Flagged))\r\n" + msg(3, "") + "TAG OK done\r\n"
	fake := faketest.Start(t, faketest.Options{ConnTimeout: time.Minute}, func(conn net.Conn) { fakeFetch(conn, fetch, false) })
	defer fake.Close()
	storage := &UserStorage{}
	r := &IMAPReader{Endpoint: transport.Endpoint{Addr: fake.Addr}, Password: func(string) string { return "pw" }, Storage: storage, Timeout: 30 * time.Second}
	snap, err := r.UserState(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 3 {
		t.Errorf("state holds %d messages, want 3: %v", len(snap.Messages), snap.Messages)
	}
	usage, _ := storage.User("alice")
	if got, want := usage["inbox"], (RoleUsage{Messages: 3, Bytes: 180}); got != want {
		t.Errorf("inbox usage %+v, want %+v", got, want)
	}
}
