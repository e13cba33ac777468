package mailserver

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// step sends a line (if any) and expects a response line with the given
// prefix; wantClosed expects the server to close the connection instead.
type step struct {
	send       string
	want       string
	wantClosed bool
}

func plain(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
}

func TestBadInput(t *testing.T) {
	long := strings.Repeat("A", 70<<10)
	tests := []struct {
		name  string
		proto string // "imap", "pop3", "smtp", "lmtp"
		opts  Options
		greet string
		steps []step
	}{
		{"pop3 unknown command", "pop3", Options{}, "+OK", []step{{send: "FOO bar", want: "-ERR"}, {send: "NOOP", want: "-ERR"}, {send: "QUIT", want: "+OK"}}},
		{"pop3 nul bytes", "pop3", Options{}, "+OK", []step{{send: "\x00\x01\xff", want: "-ERR"}, {send: "CAPA", want: "+OK"}}},
		{"pop3 transaction command before login", "pop3", Options{}, "+OK", []step{{send: "STAT", want: "-ERR"}, {send: "RETR 1", want: "-ERR"}, {send: "DELE 1", want: "-ERR"}}},
		{"pop3 PASS without USER", "pop3", Options{}, "+OK", []step{{send: "PASS secret", want: "-ERR"}}},
		{"pop3 over-long line", "pop3", Options{}, "+OK", []step{{send: long, want: "-ERR line too long"}, {wantClosed: true}}},
		{"pop3 over-long line small limit", "pop3", Options{MaxLineLength: 64}, "+OK", []step{{send: strings.Repeat("x", 65), want: "-ERR line too long"}, {wantClosed: true}}},
		{"pop3 repeated auth failures", "pop3", Options{}, "+OK", []step{
			{send: "USER alice", want: "+OK"}, {send: "PASS a", want: "-ERR [AUTH]"},
			{send: "USER alice", want: "+OK"}, {send: "PASS b", want: "-ERR [AUTH]"},
			{send: "USER alice", want: "+OK"}, {send: "PASS c", want: "-ERR [AUTH]"},
			{send: "USER alice", want: "+OK"}, {send: "PASS d", want: "-ERR [AUTH]"},
			{send: "USER alice", want: "+OK"}, {send: "PASS e", want: "-ERR [AUTH]"},
			{wantClosed: true}}},
		{"pop3 auth plain bad base64", "pop3", Options{}, "+OK", []step{{send: "AUTH PLAIN !!!", want: "-ERR"}, {send: "AUTH PLAIN " + plain("alice", "secret"), want: "+OK"}}},
		{"pop3 auth plain continuation", "pop3", Options{}, "+OK", []step{{send: "AUTH PLAIN", want: "+ "}, {send: plain("alice", "secret"), want: "+OK"}, {send: "STAT", want: "+OK 0 0"}}},
		{"pop3 auth cancelled", "pop3", Options{}, "+OK", []step{{send: "AUTH PLAIN", want: "+ "}, {send: "*", want: "-ERR"}, {send: "STAT", want: "-ERR"}}},
		{"pop3 auth unknown mechanism", "pop3", Options{}, "+OK", []step{{send: "AUTH CRAM-MD5", want: "-ERR"}}},
		{"pop3 bad message numbers", "pop3", Options{}, "+OK", []step{
			{send: "USER alice", want: "+OK"}, {send: "PASS secret", want: "+OK"},
			{send: "RETR 0", want: "-ERR"}, {send: "RETR 99", want: "-ERR"}, {send: "RETR abc", want: "-ERR"},
			{send: "TOP 1", want: "-ERR"}, {send: "LIST -1", want: "-ERR"}, {send: "DELE 4294967296", want: "-ERR"},
			{send: "USER bob", want: "-ERR"}, {send: "QUIT", want: "+OK"}, {wantClosed: true}}},
		{"smtp unknown command", "smtp", Options{}, "220", []step{{send: "EHLO x", want: "250 "}, {send: "FOO", want: "50"}, {send: "NOOP", want: "250"}}},
		{"smtp data before mail", "smtp", Options{}, "220", []step{{send: "EHLO x", want: "250 "}, {send: "DATA", want: "5"}}},
		{"smtp mail without auth", "smtp", Options{}, "220", []step{{send: "EHLO x", want: "250 "}, {send: "MAIL FROM:<a@b.c>", want: "530"}}},
		{"smtp bad auth", "smtp", Options{}, "220", []step{{send: "EHLO x", want: "250 "}, {send: "AUTH PLAIN !!!", want: "454"}, {send: "AUTH PLAIN " + plain("alice", "nope"), want: "535"}}},
		{"smtp over-long line", "smtp", Options{}, "220", []step{{send: "EHLO " + long, want: "500"}, {wantClosed: true}}},
		{"lmtp unknown recipient", "lmtp", Options{}, "220", []step{{send: "LHLO x", want: "250 "}, {send: "MAIL FROM:<a@b.c>", want: "250"}, {send: "RCPT TO:<nobody@example.com>", want: "550"}, {send: "RCPT TO:<alice@example.com>", want: "250"}}},
		{"lmtp message too big", "lmtp", Options{MaxMessageSize: 100}, "220", []step{
			{send: "LHLO x", want: "250 "}, {send: "MAIL FROM:<a@b.c>", want: "250"}, {send: "RCPT TO:<alice@example.com>", want: "250"},
			{send: "DATA", want: "354"}, {send: strings.Repeat("0123456789", 20) + "\r\n.", want: "552"}}},
		{"lmtp helo instead of lhlo", "lmtp", Options{}, "220", []step{{send: "EHLO x", want: "500"}}},
		{"imap unknown command before auth", "imap", Options{}, "* OK", []step{{send: "a1 FOO", want: "a1 BAD"}, {wantClosed: true}}},
		{"imap wrong state", "imap", Options{}, "* OK", []step{{send: "a1 FETCH 1 FLAGS", want: "a1 BAD"}, {send: "a2 LOGIN alice secret", want: "a2 OK"}, {send: "a3 FETCH 1 FLAGS", want: "a3 BAD"}}},
		{"imap wrong password", "imap", Options{}, "* OK", []step{{send: "a1 LOGIN alice nope", want: "a1 NO"}, {send: "a2 LOGIN nobody secret", want: "a2 NO"}}},
		{"imap huge append literal", "imap", Options{MaxMessageSize: 1000}, "* OK", []step{{send: "a1 LOGIN alice secret", want: "a1 OK"}, {send: "a2 APPEND INBOX {99999999999}", want: "a2 NO [TOOBIG]"}, {send: "a3 NOOP", want: "a3 OK"}}},
		{"imap append to missing mailbox", "imap", Options{}, "* OK", []step{{send: "a1 LOGIN alice secret", want: "a1 OK"}, {send: "a2 APPEND Nope {3}", want: "+"}, {send: "abc", want: "a2 NO [TRYCREATE]"}}},
		{"imap over-long command", "imap", Options{}, "* OK", []step{{send: "a1 LOGIN alice secret", want: "a1 OK"}, {send: "a2 LIST \"\" " + long, want: ""}, {wantClosed: true}}},
		{"imap bad sequence set", "imap", Options{}, "* OK", []step{{send: "a1 LOGIN alice secret", want: "a1 OK"}, {send: "a2 SELECT INBOX", want: "a2 OK"}, {send: "a3 FETCH x FLAGS", want: "a3 "}, {send: "a3b FETCH 1 FLAGS", want: "a3b "}, {send: "a4 UID FETCH 1:* FLAGS", want: "a4 OK"}}},
		{"imap delete inbox", "imap", Options{}, "* OK", []step{{send: "a1 LOGIN alice secret", want: "a1 OK"}, {send: "a2 DELETE INBOX", want: "a2 NO"}, {send: "a3 CREATE Sent", want: "a3 NO [ALREADYEXISTS]"}, {send: "a4 CREATE \"a/*\"", want: "a4 NO"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, addrs := testServer(t, tc.opts)
			addr := map[string]string{"imap": addrs.IMAP, "pop3": addrs.POP3, "smtp": addrs.SMTP, "lmtp": addrs.LMTP}[tc.proto]
			r := newRaw(t, addr)
			r.until(tc.greet)
			for i, st := range tc.steps {
				if st.send != "" {
					r.send(st.send + "\r\n")
				}
				if st.wantClosed {
					r.c.SetReadDeadline(time.Now().Add(testDeadline))
					for {
						if _, ok := r.line(); !ok {
							break
						}
					}
					continue
				}
				if st.want == "" {
					continue
				}
				for {
					l, ok := r.line()
					if !ok {
						t.Fatalf("step %d: connection closed, want %q", i, st.want)
					}
					if strings.HasPrefix(l, "* ") && !strings.HasPrefix(st.want, "* ") {
						continue // untagged IMAP data
					}
					if strings.HasPrefix(l, "250-") || strings.HasPrefix(l, "220-") {
						continue // multi-line SMTP reply
					}
					if !strings.HasPrefix(l, st.want) {
						t.Fatalf("step %d: got %q, want prefix %q", i, truncate(l), st.want)
					}
					break
				}
			}
			r.c.Close()
			checkUsage(t, s)
		})
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

func TestConnectionLimit(t *testing.T) {
	s, addrs := testServer(t, Options{MaxConnsPerUser: 2})
	imapLogin(t, addrs.IMAP, "alice", nil)
	pop3Login(t, addrs.POP3, "alice")
	r := newRaw(t, addrs.IMAP)
	r.until("* OK")
	r.send("a1 LOGIN alice secret\r\n")
	if l := r.until("a1 "); !strings.HasPrefix(l, "a1 NO [LIMIT]") {
		t.Errorf("third session: %q, want NO [LIMIT]", l)
	}
	p := newRaw(t, addrs.POP3)
	p.until("+OK")
	p.send("USER alice\r\nPASS secret\r\n")
	p.until("+OK")
	if l := p.until("-ERR"); !strings.Contains(l, "[IN-USE]") {
		t.Errorf("pop3 over limit: %q", l)
	}
	// bob is not affected.
	imapLogin(t, addrs.IMAP, "bob", nil)
	_ = s
}

// TestVanishedClients closes connections in the middle of commands and
// checks that every session is released.
func TestVanishedClients(t *testing.T) {
	rec := newCountingRecorder()
	s, addrs := testServer(t, Options{Recorder: rec})
	lmtpSend(t, addrs.LMTP, testMessage("<v1@test>", "v"), "alice@example.com")
	// wait are the replies that show the server reached the partial
	// command: it is inside it (a literal, IDLE, DATA) or reading it.
	scripts := []struct {
		addr, greet, login, partial string
		wait                        []string
	}{
		{addrs.IMAP, "* OK", "a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n", "a3 APPEND INBOX {100}\r\nhalf a mess", []string{"a2 OK", "+"}},
		{addrs.IMAP, "* OK", "a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n", "a3 IDLE\r\n", []string{"a2 OK", "+"}},
		{addrs.POP3, "+OK", "USER alice\r\nPASS secret\r\nDELE 1\r\n", "RETR", []string{"+OK", "+OK", "+OK"}},
		{addrs.SMTP, "220", "EHLO x\r\nAUTH PLAIN " + plain("alice", "secret") + "\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n", "Subject: cut\r\n\r\nhalf", []string{"354"}},
		{addrs.LMTP, "220", "LHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\n", "Subject: cut\r\n", []string{"354"}},
	}
	for _, sc := range scripts {
		r := newRaw(t, sc.addr)
		r.until(sc.greet)
		r.send(sc.login)
		r.send(sc.partial)
		for _, w := range sc.wait {
			r.until(w)
		}
		r.c.Close()
	}
	// Close waits for every session; afterwards nothing may be held.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "bob"} {
		if n := s.store.user(u).sessions.Load(); n != 0 {
			t.Errorf("%s still has %d sessions", u, n)
		}
		st, _ := s.UserState(u)
		if u == "alice" && len(st.Messages) != 1 {
			t.Errorf("alice lost or gained mail: %v (DELE without QUIT must not delete)", st.IDs())
		}
		if u == "bob" && len(st.Messages) != 0 {
			t.Errorf("bob got a message whose DATA never completed: %v", st.IDs())
		}
	}
	for _, p := range []string{"imap", "pop3", "smtp", "lmtp"} {
		if n := rec.open(p); n != 0 {
			t.Errorf("%s connections still counted open: %d", p, n)
		}
	}
	// The IDLE cut short ends as "error", or as whatever tagged reply the
	// library still wrote into the closed socket; either way exactly once.
	if n := rec.count("imap IDLE error") + rec.count("imap IDLE ok") + rec.count("imap IDLE no"); n != 1 {
		t.Errorf("the IDLE cut short is recorded %d times, want 1: %v", n, rec.commands)
	}
}
