package leanimap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
)

// server is a real IMAP server with LMTP delivery to one user.
type server struct {
	name, imap, lmtp, user, pass, rcpt string
}

// embedded starts the embedded server on 127.0.0.1:0 with user alice.
func embedded(t testing.TB) server {
	t.Helper()
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return server{"embedded", addrs.IMAP, addrs.LMTP, "alice", "secret", "alice@example.com"}
}

// servers returns the embedded server and, when installed, a private
// Dovecot (skipped with a message otherwise).
func servers() []struct {
	name  string
	start func(t *testing.T) server
} {
	return []struct {
		name  string
		start func(t *testing.T) server
	}{
		{"embedded", func(t *testing.T) server { return embedded(t) }},
		{"dovecot", func(t *testing.T) server {
			inst := dovecottest.Start(t, 1)
			return server{"dovecot", inst.IMAP, inst.LMTP, inst.Username(1), inst.Password, inst.Username(1) + "@example.com"}
		}},
	}
}

// message returns a generated message of about size bytes and its ID.
func message(seed uint64, size int64) ([]byte, string) {
	g := mailgen.Generator{Domain: "example.net"}
	m := g.New(rand.New(rand.NewPCG(seed, 7)), "carol@example.net", []string{"alice@example.com"}, size, false, time.Now())
	return m.Raw, m.ID
}

// deliver delivers raw to rcpt over LMTP.
func deliver(t testing.TB, srv server, raw []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.lmtp, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("carol@example.net", []string{srv.rcpt}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
}

// dial connects through internal/transport and reads the greeting.
func dial(t testing.TB, addr string, opts Options) *Client {
	t.Helper()
	conn, err := transport.Dial(context.Background(), transport.Config{
		Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c, err := New(conn, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// login dials and logs in.
func login(t testing.TB, srv server, opts Options) *Client {
	t.Helper()
	c := dial(t, srv.imap, opts)
	if err := c.Login(srv.user, srv.pass); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// recorder keeps the updates a handler saw, as text.
type recorder struct{ got []string }

func (r *recorder) Update(u *Update) {
	switch u.Kind {
	case UpdateExists:
		r.got = append(r.got, fmt.Sprintf("exists %d", u.Num))
	case UpdateExpunge:
		r.got = append(r.got, fmt.Sprintf("expunge %d", u.Num))
	case UpdateFetch:
		r.got = append(r.got, fmt.Sprintf("fetch %d %v", u.Num, u.Message.Flags))
	case UpdateBye:
		r.got = append(r.got, "bye")
	}
}

func (r *recorder) has(prefix string) bool {
	for _, g := range r.got {
		if strings.HasPrefix(g, prefix) {
			return true
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCommands runs every command the devices use against each real
// server and checks what the server answered.
func TestCommands(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			rec := &recorder{}
			c := login(t, srv, Options{Handler: rec})
			caps, err := c.Capability()
			must(t, err)
			if !c.Has("IMAP4REV1") {
				t.Fatalf("%s: capabilities %v without IMAP4rev1", srv.name, caps)
			}
			for _, x := range []struct {
				capName string
				run     func() error
			}{
				{"ID", func() error { return c.ID("mailsim", "1") }},
				{"ENABLE", func() error { return c.Enable("UTF8=ACCEPT") }},
			} {
				if c.Has(x.capName) {
					must(t, x.run())
				}
			}
			ns, err := c.Namespace()
			must(t, err)
			if len(ns.Personal) != 1 || ns.Personal[0].Delim == 0 {
				t.Fatalf("namespace %+v", ns)
			}
			must(t, c.Create("Lean Archive"))
			must(t, c.Create("Entwürfe"))
			var e *imap.Error
			if err := c.Create("Lean Archive"); !errorAs(err, &e) || e.Type != imap.StatusResponseTypeNo {
				t.Fatalf("second CREATE: %v, want a NO", err)
			}
			list, err := c.List("", "*", true)
			must(t, err)
			names := map[string][]imap.MailboxAttr{}
			for _, l := range list {
				names[l.Mailbox] = l.Attrs
			}
			if _, ok := names["Entwürfe"]; !ok {
				t.Fatalf("LIST: %+v, want the non-ASCII name back (utf8 %v)", list, c.utf8)
			}
			st, err := c.Status("Entwürfe", imap.StatusOptions{NumMessages: true})
			if err != nil || st.Mailbox != "Entwürfe" || st.NumMessages == nil || *st.NumMessages != 0 {
				t.Fatalf("STATUS of a non-ASCII name: %+v, %v", st, err)
			}
			if _, ok := names["Lean Archive"]; !ok || names["INBOX"] == nil && len(list) < 2 {
				t.Fatalf("LIST: %+v", list)
			}
			if srv.name == "dovecot" && !containsAttr(names["Sent"], imap.MailboxAttrSent) {
				t.Fatalf("LIST RETURN (SPECIAL-USE): Sent has %v", names["Sent"])
			}
			var ids []string
			for i := range 3 {
				raw, id := message(uint64(i), 800)
				deliver(t, srv, raw)
				ids = append(ids, id)
			}
			raw, id := message(9, 1500)
			app, err := c.Append("INBOX", []imap.Flag{imap.FlagSeen}, time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC), raw)
			must(t, err)
			ids = append(ids, id)
			st, err = c.Status("INBOX", imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, NumUnseen: true})
			must(t, err)
			if st.NumMessages == nil || *st.NumMessages != 4 || st.NumUnseen == nil || *st.NumUnseen != 3 || st.UIDNext != 5 {
				t.Fatalf("STATUS %+v", st)
			}
			if app.UID != 0 && (app.UID != 4 || app.UIDValidity != st.UIDValidity) {
				t.Fatalf("APPENDUID %+v, status %+v", app, st)
			}
			sel, err := c.Select("INBOX", false)
			must(t, err)
			if sel.NumMessages != 4 || sel.UIDNext != 5 || sel.UIDValidity != st.UIDValidity || len(sel.PermanentFlags) == 0 || len(sel.Flags) == 0 {
				t.Fatalf("SELECT %+v", sel)
			}

			type got struct {
				uid   imap.UID
				seen  bool
				size  int64
				id    string
				date  time.Time
				envID string
				part  int
			}
			var msgs []got
			err = c.UIDFetch(imap.UIDSet{{Start: 1, Stop: 0}},
				"(UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)] BODY.PEEK[]<0.100>)",
				func(m *Message) error {
					g := got{uid: m.UID, size: m.Size, date: m.InternalDate}
					g.seen = containsFlag(m.Flags, imap.FlagSeen)
					if m.Envelope != nil {
						g.envID = m.Envelope.MessageID
					}
					for _, s := range m.Sections {
						if len(s.Name) == 0 {
							g.part = len(s.Data)
						} else {
							g.id = string(mailgen.MessageID(s.Data))
						}
					}
					msgs = append(msgs, g)
					return nil
				})
			must(t, err)
			if len(msgs) != 4 {
				t.Fatalf("fetched %d messages, want 4", len(msgs))
			}
			for i, m := range msgs {
				if m.uid != imap.UID(i+1) || m.id != ids[i] || m.part != 100 || m.size < 800 || m.date.IsZero() || "<"+m.envID+">" != ids[i] && m.envID != ids[i] {
					t.Errorf("message %d: %+v, want UID %d ID %s", i, m, i+1, ids[i])
				}
				if m.seen != (i == 3) {
					t.Errorf("message %d: seen %v", i, m.seen)
				}
			}
			if !msgs[3].date.Equal(time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)) {
				t.Errorf("APPEND date: INTERNALDATE %v", msgs[3].date)
			}

			var stored []imap.UID
			must(t, c.UIDStore(imap.UIDSetNum(2), imap.StoreFlagsAdd, false, []imap.Flag{imap.FlagFlagged}, func(m *Message) error {
				if containsFlag(m.Flags, imap.FlagFlagged) {
					stored = append(stored, m.UID)
				}
				return nil
			}))
			if len(stored) != 1 || stored[0] != 2 {
				t.Fatalf("UID STORE answered %v, want UID 2 flagged", stored)
			}
			must(t, c.UIDStore(imap.UIDSetNum(1, 2), imap.StoreFlagsAdd, true, []imap.Flag{imap.FlagSeen}, nil))
			uids, err := c.UIDSearch(nil, "UNSEEN")
			must(t, err)
			if fmt.Sprint(uids) != "[3]" {
				t.Fatalf("UID SEARCH UNSEEN: %v, want [3]", uids)
			}
			uids, err = c.UIDSearch(uids[:0], "FLAGGED")
			must(t, err)
			if fmt.Sprint(uids) != "[2]" {
				t.Fatalf("UID SEARCH FLAGGED: %v, want [2]", uids)
			}

			if c.Has("SORT") {
				// The appended message's 2024 date makes it the first.
				uids, err = c.UIDSort(uids[:0], "ARRIVAL", "ALL")
				must(t, err)
				if fmt.Sprint(uids) != "[4 1 2 3]" {
					t.Fatalf("UID SORT (ARRIVAL): %v, want [4 1 2 3]", uids)
				}
			}

			rec.got = nil
			must(t, c.UIDMove(imap.UIDSetNum(1), "Lean Archive"))
			if !rec.has("expunge 1") {
				t.Fatalf("UID MOVE: updates %v, want expunge 1", rec.got)
			}
			if cp := c.Copied(); c.Has("UIDPLUS") && (cp.UIDValidity == 0 || cp.Dest.String() != "1") {
				t.Fatalf("UID MOVE to an empty mailbox: COPYUID %+v, want the destination UID 1", cp)
			}
			must(t, c.UIDStore(imap.UIDSetNum(3), imap.StoreFlagsAdd, true, []imap.Flag{imap.FlagDeleted}, nil))
			must(t, c.Expunge())
			must(t, c.Noop())
			st, err = c.Status("Lean Archive", imap.StatusOptions{NumMessages: true})
			must(t, err)
			if *st.NumMessages != 1 {
				t.Fatalf("Lean Archive holds %d, want 1", *st.NumMessages)
			}
			ex, err := c.Select("INBOX", true)
			must(t, err)
			if ex.NumMessages != 2 {
				t.Fatalf("EXAMINE: %d messages, want 2 (1 moved, 1 expunged)", ex.NumMessages)
			}
			// FETCH by message number: every message, then the last.
			for _, f := range []struct {
				set  imap.SeqSet
				want string
			}{
				{imap.SeqSet{{Start: 1, Stop: 0}}, "[1:2 flagged 2:4]"},
				{imap.SeqSetNum(2), "[2:4]"},
				{imap.SeqSet{{Start: 1, Stop: 1}, {Start: 2, Stop: 2}}, "[1:2 flagged 2:4]"},
			} {
				var fetched []string
				must(t, c.Fetch(f.set, "(UID FLAGS)", func(m *Message) error {
					g := fmt.Sprintf("%d:%d", m.SeqNum, m.UID)
					if containsFlag(m.Flags, imap.FlagFlagged) {
						g += " flagged"
					}
					fetched = append(fetched, g)
					return nil
				}))
				if got := fmt.Sprint(fetched); got != f.want {
					t.Errorf("FETCH %v (UID FLAGS): %s, want %s", f.set, got, f.want)
				}
			}
			must(t, c.Logout())
		})
	}
}

// TestIdle checks that a delivery during IDLE wakes Wait with EXISTS, that
// Wait returns false when nothing comes and the session goes on, and that
// a cancelled context ends the wait.
func TestIdle(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			rec := &recorder{}
			c := login(t, srv, Options{Handler: rec})
			_, err := c.Select("INBOX", false)
			must(t, err)
			must(t, c.Idle())
			woke, err := c.Wait(context.Background(), 50*time.Millisecond)
			if woke || err != nil {
				t.Fatalf("quiet Wait: %v, %v; want false, nil", woke, err)
			}
			raw, _ := message(1, 500)
			deliver(t, srv, raw)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			woke, err = c.Wait(ctx, 20*time.Second)
			if !woke || err != nil || !rec.has("exists 1") {
				t.Fatalf("Wait after a delivery: %v, %v, updates %v; want exists 1", woke, err, rec.got)
			}
			must(t, c.Done())
			must(t, c.Noop())

			must(t, c.Idle())
			ctx, cancel = context.WithCancel(context.Background())
			cancel()
			if _, err := c.Wait(ctx, time.Minute); !errorIs(err, context.Canceled) {
				t.Fatalf("Wait with a cancelled context: %v", err)
			}
		})
	}
}

// TestIdleInterrupt checks that Interrupt from another goroutine ends a
// Wait with the connection intact (DONE and a NOOP follow), and that an
// Interrupt before Wait makes it return at once.
func TestIdleInterrupt(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			c := login(t, srv, Options{})
			_, err := c.Select("INBOX", false)
			must(t, err)
			for _, before := range []bool{false, true} {
				must(t, c.Idle())
				if before {
					c.Interrupt()
				} else {
					time.AfterFunc(50*time.Millisecond, c.Interrupt)
				}
				// Without the interrupt the context's deadline would end
				// the wait with an error.
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				woke, err := c.Wait(ctx, time.Hour)
				cancel()
				if woke || err != nil {
					t.Fatalf("interrupted Wait (before %v): %v, %v; want false, nil", before, woke, err)
				}
				must(t, c.Done())
				must(t, c.Noop())
			}
		})
	}
}

// TestIdleInterruptLate: an Interrupt that lands too late to end a Wait
// — while Wait reads an update, which Wait then returns, or after Wait
// returned and before DONE, as a requester's can (clients' leanConn) —
// ends nothing more: the next IDLE's Wait waits for its own update. (It
// used to return at once, an IDLE round for nothing.)
func TestIdleInterruptLate(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			for _, when := range []string{"reading an update", "before DONE"} {
				var c *Client
				armed := false
				c = login(t, srv, Options{Handler: HandlerFunc(func(u *Update) {
					if armed && u.Kind == UpdateExists && when == "reading an update" {
						c.Interrupt()
					}
				})})
				_, err := c.Select("INBOX", false)
				must(t, err)
				for round := range 2 {
					armed = round == 0
					must(t, c.Idle())
					raw, _ := message(uint64(round), 600)
					deliver(t, srv, raw)
					// Bounded: the delivery's EXISTS ends both waits.
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					woke, err := c.Wait(ctx, time.Hour)
					cancel()
					if !woke || err != nil {
						t.Fatalf("%s: round %d: Wait %v, %v; want the delivery's EXISTS", when, round, woke, err)
					}
					if armed && when == "before DONE" {
						c.Interrupt()
					}
					must(t, c.Done())
					must(t, c.Noop())
				}
				must(t, c.Logout())
				c.Close()
			}
		})
	}
}

// TestNoopAllocs checks the steady state: a NOOP allocates nothing (the
// server in a child process: AllocsPerRun counts the whole process).
func TestNoopAllocs(t *testing.T) {
	srv := serverProcess(t)
	c := login(t, srv, Options{})
	_, err := c.Select("INBOX", false)
	must(t, err)
	must(t, c.Noop())
	var noopErr error
	if n := testing.AllocsPerRun(50, func() {
		if err := c.Noop(); err != nil {
			noopErr = err
		}
	}); n != 0 {
		t.Fatalf("NOOP: %v allocations, want 0", n)
	}
	must(t, noopErr)
}

func containsFlag(fs []imap.Flag, f imap.Flag) bool {
	for _, x := range fs {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

func containsAttr(as []imap.MailboxAttr, a imap.MailboxAttr) bool {
	for _, x := range as {
		if strings.EqualFold(string(x), string(a)) {
			return true
		}
	}
	return false
}

// TestFallbacks runs the paths for servers without MOVE, UIDPLUS and
// LITERAL+ against the embedded server by hiding those capabilities from
// the client: UID MOVE becomes COPY, STORE \Deleted and (UID) EXPUNGE, and
// APPEND and a LOGIN with a non-ASCII password wait for the continuation.
func TestFallbacks(t *testing.T) {
	for _, caps := range [][]string{{"IMAP4REV1", "UIDPLUS"}, {"IMAP4REV1"}} {
		t.Run(strings.Join(caps, "+"), func(t *testing.T) {
			srv := embedded(t)
			rec := &recorder{}
			c := login(t, srv, Options{Handler: rec})
			c.caps = caps
			must(t, c.Create("Kept"))
			for _, name := range []string{"Tom & Jerry", "Entwürfe"} { // modified UTF-7
				must(t, c.Create(name))
				if st, err := c.Status(name, imap.StatusOptions{NumMessages: true}); err != nil || st.Mailbox != name {
					t.Fatalf("STATUS %q: %+v, %v", name, st, err)
				}
			}
			for i := range 2 {
				raw, _ := message(uint64(i), 600)
				if _, err := c.Append("INBOX", nil, time.Time{}, raw); err != nil {
					t.Fatalf("APPEND with a synchronizing literal: %v", err)
				}
			}
			_, err := c.Select("INBOX", false)
			must(t, err)
			must(t, c.UIDMove(imap.UIDSetNum(2), "Kept"))
			if !rec.has("expunge 2") {
				t.Fatalf("fallback move: updates %v, want expunge 2", rec.got)
			}
			st, err := c.Status("Kept", imap.StatusOptions{NumMessages: true})
			must(t, err)
			sel, err := c.Select("INBOX", true)
			must(t, err)
			if *st.NumMessages != 1 || sel.NumMessages != 1 {
				t.Fatalf("after the fallback move: Kept %d, INBOX %d; want 1 and 1", *st.NumMessages, sel.NumMessages)
			}
			var e *imap.Error
			if err := c.Login("alice", "sécret"); !errorAs(err, &e) {
				t.Fatalf("LOGIN with a literal password: %v, want the server's NO or BAD", err)
			}
			must(t, c.Noop())
		})
	}
}

// TestAuthenticatePlain logs in with AUTHENTICATE PLAIN, with the initial
// response inline (SASL-IR) and after the continuation request, and checks
// that a wrong password is a NO the clients classify as auth.
func TestAuthenticatePlain(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			for _, saslIR := range []bool{true, false} {
				c := dial(t, srv.imap, Options{})
				if _, err := c.Capability(); err != nil {
					t.Fatal(err)
				}
				if !c.Has("AUTH=PLAIN") {
					t.Skipf("%s does not offer AUTH=PLAIN: %v", srv.name, c.Caps())
				}
				if !saslIR {
					c.caps = slices.DeleteFunc(slices.Clone(c.caps), func(v string) bool { return v == "SASL-IR" })
				}
				if err := c.AuthenticatePlain(srv.user, srv.pass); err != nil {
					t.Fatalf("SASL-IR %v: %v", saslIR, err)
				}
				if _, err := c.Select("INBOX", false); err != nil {
					t.Fatalf("SASL-IR %v: SELECT after AUTHENTICATE: %v", saslIR, err)
				}
			}
			c := dial(t, srv.imap, Options{})
			err := c.AuthenticatePlain(srv.user, "wrong")
			if ie := (*imap.Error)(nil); !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
				t.Fatalf("wrong password: %v, want a NO", err)
			}
		})
	}
}

// TestIdleFetch checks that a flag change by another session reaches an
// idling client as an unsolicited FETCH.
func TestIdleFetch(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			raw, _ := message(3, 500)
			deliver(t, srv, raw)
			rec := &recorder{}
			idler := login(t, srv, Options{Handler: rec})
			_, err := idler.Select("INBOX", false)
			must(t, err)
			other := login(t, srv, Options{})
			_, err = other.Select("INBOX", false)
			must(t, err)
			must(t, idler.Idle())
			must(t, other.UIDStore(imap.UIDSetNum(1), imap.StoreFlagsAdd, true, []imap.Flag{imap.FlagFlagged}, nil))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			woke, err := idler.Wait(ctx, 20*time.Second)
			if !woke || err != nil || !rec.has(`fetch 1 [\Flagged`) {
				t.Fatalf("Wait after another session's STORE: %v, %v, updates %v; want fetch 1 [\\Flagged]", woke, err, rec.got)
			}
			must(t, idler.Done())
		})
	}
}

// TestMultipartFetch fetches the BODYSTRUCTURE and ENVELOPE of a message
// with an attachment and two recipients from each real server: its body
// parts and its addresses follow each other without a space (RFC 3501),
// which a parser that wants one between list elements refuses (it broke
// every phone that fetched BODYSTRUCTURE in office-day against Courier).
func TestMultipartFetch(t *testing.T) {
	raw := []byte("From: carol@example.net\r\nTo: alice@example.com, bob@example.com\r\n" +
		"Subject: photo\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <multi@example.net>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n" +
		"--b1\r\nContent-Type: image/jpeg; name=\"a.jpg\"\r\nContent-Disposition: attachment; filename=\"a.jpg\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQ==\r\n--b1--\r\n")
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			c := login(t, srv, Options{})
			deliver(t, srv, raw)
			_, err := c.Select("INBOX", true)
			must(t, err)
			var bs, id string
			n := 0
			must(t, c.UIDFetch(imap.UIDSetNum(1), "(UID ENVELOPE BODYSTRUCTURE)", func(m *Message) error {
				n++
				bs = string(m.BodyStructure)
				if m.Envelope != nil {
					id = m.Envelope.MessageID
				}
				return nil
			}))
			if n != 1 || !strings.HasPrefix(bs, "((") || !strings.Contains(strings.ToLower(bs), `"mixed"`) || strings.Trim(id, "<>") != "multi@example.net" {
				t.Fatalf("fetched %d messages, BODYSTRUCTURE %s, Message-ID %q", n, bs, id)
			}
			must(t, c.Noop()) // the connection goes on
			must(t, c.Logout())
		})
	}
}

// TestOtherSessionsChangeDuringUIDCommand: another session flags message 2
// while this one is about to UID FETCH and UID STORE message 1. Each real
// server announces the change in its answer to the command (the embedded
// server before UID commands, Dovecot with any command): the command's
// callback must see UID 1 only, and the Handler the change to UID 2, which
// the callback would otherwise have taken and dropped.
func TestOtherSessionsChangeDuringUIDCommand(t *testing.T) {
	for _, tc := range servers() {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			for i := range 2 {
				raw, _ := message(uint64(10+i), 500)
				deliver(t, srv, raw)
			}
			other := login(t, srv, Options{})
			_, err := other.Select("INBOX", false)
			must(t, err)
			for _, cmd := range []struct {
				name string
				run  func(c *Client, fn func(*Message) error) error
				flag imap.Flag
			}{
				{"UID FETCH", func(c *Client, fn func(*Message) error) error {
					return c.UIDFetch(imap.UIDSetNum(1), "(UID FLAGS BODY.PEEK[HEADER])", fn)
				}, imap.FlagFlagged},
				{"UID STORE", func(c *Client, fn func(*Message) error) error {
					return c.UIDStore(imap.UIDSetNum(1), imap.StoreFlagsAdd, false, []imap.Flag{imap.FlagSeen}, fn)
				}, imap.FlagAnswered},
			} {
				rec := &recorder{}
				c := login(t, srv, Options{Handler: rec})
				_, err := c.Select("INBOX", false)
				must(t, err)
				must(t, other.UIDStore(imap.UIDSetNum(2), imap.StoreFlagsAdd, true, []imap.Flag{cmd.flag}, nil))
				var uids []imap.UID
				must(t, cmd.run(c, func(m *Message) error {
					uids = append(uids, m.UID)
					return nil
				}))
				if !slices.Equal(uids, []imap.UID{1}) {
					t.Errorf("%s 1: the callback got UIDs %v, want [1]", cmd.name, uids)
				}
				if want := fmt.Sprintf("fetch 2 [%s", cmd.flag); !rec.has(want) {
					t.Errorf("%s 1: the handler got %v, want %q…", cmd.name, rec.got, want)
				}
			}
		})
	}
}
