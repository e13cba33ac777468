package mailserver

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// TestIMAPKeywordsAnnounced: a keyword reaches FLAGS and PERMANENTFLAGS of
// SELECT and, when first set, an untagged FLAGS before the FETCH that
// shows it, in the storing session and in another one.
func TestIMAPKeywordsAnnounced(t *testing.T) {
	_, addrs := testServer(t, Options{})
	lmtpSend(t, addrs.LMTP, testMessage("<kw@test>", "kw"), "alice@example.com")
	a, b := rawIMAPLogin(t, addrs.IMAP), rawIMAPLogin(t, addrs.IMAP)
	a.command("a1", "SELECT INBOX")
	// the library hands out the writer for untagged updates only after a
	// command that polls, not after SELECT (see announceNew)
	a.command("a1n", "NOOP")
	b.command("b1", "SELECT INBOX")

	got, st := a.command("a2", "STORE 1 +FLAGS ($Label1)")
	if !strings.HasPrefix(st, "a2 OK") {
		t.Fatalf("store: %s", st)
	}
	want := []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded $Label1)`,
		`* 1 FETCH (UID 1 FLAGS ($Label1 \Recent))`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("storing session got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got, _ = b.command("b2", "NOOP")
	want = []string{
		`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded $Label1)`,
		`* 1 FETCH (UID 1 FLAGS ($Label1))`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("other session got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// a known keyword is not announced again
	got, _ = a.command("a3", "STORE 1 FLAGS ($label1)")
	if len(got) != 1 || strings.HasPrefix(got[0], "* FLAGS") {
		t.Errorf("second store got %q", got)
	}
	c := rawIMAPLogin(t, addrs.IMAP)
	got, _ = c.command("c1", "EXAMINE INBOX")
	joined := strings.Join(got, "\n")
	for _, w := range []string{`* FLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded $Label1)`,
		`* OK [PERMANENTFLAGS (\Seen \Answered \Flagged \Deleted \Draft $Forwarded $Label1 \*)]`} {
		if !strings.Contains(joined, w) {
			t.Errorf("EXAMINE lacks %s:\n%s", w, joined)
		}
	}
}

// TestIMAPRecent: \Recent goes to the first read-write session only;
// EXAMINE shows it without taking it; new mail is recent in the session
// that hears of it first.
func TestIMAPRecent(t *testing.T) {
	_, addrs := testServer(t, Options{})
	for _, id := range []string{"<r1@test>", "<r2@test>"} {
		lmtpSend(t, addrs.LMTP, testMessage(id, "r"), "alice@example.com")
	}
	a, b := rawIMAPLogin(t, addrs.IMAP), rawIMAPLogin(t, addrs.IMAP)
	steps := []struct {
		s        *rawSession
		cmd      string
		contains string // a line the answer must hold; "" for none
	}{
		{a, `STATUS INBOX (RECENT)`, `* STATUS INBOX (RECENT 2)`},
		{a, `EXAMINE INBOX`, `* 2 RECENT`},
		{a, `FETCH 1 FLAGS`, `* 1 FETCH (FLAGS (\Recent))`},
		{a, `CLOSE`, ""},
		{a, `STATUS INBOX (RECENT)`, `* STATUS INBOX (RECENT 2)`},
		{a, `SELECT INBOX`, `* 2 RECENT`},
		{a, `SEARCH RECENT`, `* SEARCH 1 2`},
		{a, `SEARCH NEW`, `* SEARCH 1 2`},
		{b, `SELECT INBOX`, `* 0 RECENT`},
		{b, `SEARCH OLD`, `* SEARCH 1 2`},
		{b, `FETCH 1 FLAGS`, `* 1 FETCH (FLAGS ())`},
		{a, `STATUS INBOX (RECENT)`, `* STATUS INBOX (RECENT 0)`},
	}
	for i, st := range steps {
		got, status := st.s.command("t"+string(rune('a'+i)), st.cmd)
		if !strings.Contains(status, " OK") {
			t.Fatalf("%s: %s", st.cmd, status)
		}
		joined := strings.Join(got, "\n")
		if st.contains != "" && !strings.Contains(joined, st.contains) {
			t.Errorf("%s: got\n%s\nwant a line %s", st.cmd, joined, st.contains)
		}
	}
	// new mail: recent in b, which hears of it first, not in a
	lmtpSend(t, addrs.LMTP, testMessage("<r3@test>", "r"), "alice@example.com")
	got, _ := b.command("n1", "NOOP")
	if j := strings.Join(got, "\n"); !strings.Contains(j, "* 3 EXISTS") || !strings.Contains(j, "* 1 RECENT") {
		t.Errorf("b NOOP after delivery: %q", got)
	}
	got, _ = a.command("n2", "NOOP")
	if j := strings.Join(got, "\n"); !strings.Contains(j, "* 3 EXISTS") || strings.Contains(j, "RECENT") {
		t.Errorf("a NOOP after delivery: %q", got)
	}
	got, _ = a.command("n3", "FETCH 3 FLAGS")
	if len(got) != 1 || got[0] != `* 3 FETCH (FLAGS ())` {
		t.Errorf("a FETCH 3: %q", got)
	}
}

// TestPollTrackerAfterUnselect: an IDLE poll may still run with the
// tracker of a session that has since closed; it must leave \Recent alone
// instead of asking the closed tracker for sequence numbers (a panic).
func TestPollTrackerAfterUnselect(t *testing.T) {
	srv := New(Options{})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	u := srv.store.user("alice")
	u.mu.Lock()
	mb := u.mailboxLocked("INBOX")
	msg, err := newMessage([]byte(testMessage("<p@test>", "p")), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv.store.appendLocked(mb, msg)
	u.mu.Unlock()

	s := &imapSession{srv: srv, user: u}
	if _, err := s.Select("INBOX", &imap.SelectOptions{ReadOnly: true}); err != nil {
		t.Fatal(err)
	}
	closed := s.tracker
	if err := s.Unselect(); err != nil {
		t.Fatal(err)
	}
	if err := s.pollTracker(u, mb, closed, &imapserver.UpdateWriter{}, true); err != nil {
		t.Fatal(err)
	}
	if len(s.recent) != 0 {
		t.Errorf("a poll after unselect gave the session \\Recent on %v", s.recent)
	}
}
