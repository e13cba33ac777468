package leanimap

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// dovecotCaps is Dovecot 2.3's capability list after login, as it sends it.
const dovecotCaps = "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE\r\n"

// TestCapName checks that capName upper-cases as bytes.ToUpper does, known
// names or not.
func TestCapName(t *testing.T) {
	for _, w := range []string{
		"IMAP4rev1", "imap4rev2", "Auth=Plain", "LITERAL+", "X-Unknown-Cap", "",
		"x-é-non-ascii", strings.Repeat("long", 20), "\xff\xfe", "SASL-IR",
	} {
		if got, want := capName([]byte(w)), string(bytes.ToUpper([]byte(w))); got != want {
			t.Errorf("capName(%q) = %q, want %q", w, got, want)
		}
	}
}

// TestParseCapsAllocs checks that a capability list of known names
// allocates nothing once the client's list has room, and that a list read
// again allocates nothing with a CapCache (whose first reading fills it).
func TestParseCapsAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cache *CapCache
	}{
		{"own list", nil},
		{"cache", &CapCache{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{opts: Options{Caps: tc.cache}.withDefaults()}
			c.caps = make([]string, 0, 64)
			resp := []byte(dovecotCaps)
			if _, err := c.handle(resp); err != nil {
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if _, err := c.handle(resp); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("%v allocations per capability list, want 0", allocs)
			}
			if len(c.caps) != 38 || !c.Has("IMAP4REV1") || !c.Has("SPECIAL-USE") {
				t.Errorf("caps %v", c.caps)
			}
		})
	}
}

// BenchmarkParseCaps measures the parsing of Dovecot's capability list
// after login, on a fresh client as every new session is.
func BenchmarkParseCaps(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		c := &Client{opts: Options{}.withDefaults()}
		c.br = bufio.NewReaderSize(strings.NewReader(dovecotCaps), readBufSize)
		if _, err := c.next(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMailboxAttrOf checks that LIST attributes come back as sent, known
// ones without allocating and in their standard spelling when sent in
// another case (clients.Selectable and clients.ListRole compare with it).
func TestMailboxAttrOf(t *testing.T) {
	for _, a := range knownMailboxAttrs {
		if got := mailboxAttrOf([]byte(a)); got != a {
			t.Errorf("mailboxAttrOf(%q) = %q", a, got)
		}
	}
	for _, tt := range []struct{ sent, want imap.MailboxAttr }{
		{`\hasnochildren`, imap.MailboxAttrHasNoChildren},
		{`\NoSelect`, imap.MailboxAttrNoSelect},
		{`\SENT`, imap.MailboxAttrSent},
		{`\UnMarked`, `\UnMarked`}, // Dovecot's, kept as sent
		{`\X-Custom`, `\X-Custom`},
		{`Sent`, `Sent`}, // not an attribute: no backslash
		{"", ""},
	} {
		if got := mailboxAttrOf([]byte(tt.sent)); got != tt.want {
			t.Errorf("mailboxAttrOf(%q) = %q, want %q", tt.sent, got, tt.want)
		}
	}
	w := []byte(`\HasNoChildren`)
	if n := testing.AllocsPerRun(100, func() { mailboxAttrOf(w) }); n != 0 {
		t.Errorf("%v allocations for a known attribute, want 0", n)
	}
}

// TestMailboxNameInbox: INBOX in any case is INBOX (RFC 3501 5.1), in
// UTF-8 mode too; other names as sent.
func TestMailboxNameInbox(t *testing.T) {
	for _, utf8 := range []bool{false, true} {
		c := &Client{utf8: utf8}
		for sent, want := range map[string]string{"inbox": "INBOX", "Inbox": "INBOX", "INBOX": "INBOX", "Inboxes": "Inboxes", "INBOX.Sent": "INBOX.Sent"} {
			if got := c.mailboxName([]byte(sent)); got != want {
				t.Errorf("utf8 %v: mailboxName(%q) = %q, want %q", utf8, sent, got, want)
			}
		}
	}
}

// TestAppendPlain checks SASL PLAIN's response against the encoding of
// its RFC 4616 form, short and long credentials.
func TestAppendPlain(t *testing.T) {
	for _, tc := range []struct{ user, pass string }{
		{"user1", "pass"}, {"", ""}, {"é@example.com", "p\"a s"}, {strings.Repeat("u", 200), strings.Repeat("p", 300)},
	} {
		want := "x" + base64.StdEncoding.EncodeToString([]byte("\x00"+tc.user+"\x00"+tc.pass))
		if got := string(appendPlain([]byte("x"), tc.user, tc.pass)); got != want {
			t.Errorf("appendPlain(%q, %q) = %q, want %q", tc.user, tc.pass, got, want)
		}
	}
}

// TestSelectAllocs checks that Dovecot's SELECT responses cost one
// allocation per flag list kept (FLAGS, PERMANENTFLAGS) and that STATUS's
// counts share one.
func TestSelectAllocs(t *testing.T) {
	c := &Client{opts: Options{}.withDefaults()}
	c.tagb = []byte("L1")
	sel := bytesOf(
		"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n",
		"* 3 EXISTS\r\n", "* 0 RECENT\r\n",
		"* OK [UIDVALIDITY 1796223190] UIDs valid\r\n", "* OK [UIDNEXT 4] Predicted next UID\r\n",
	)
	var d imap.SelectData
	run := func(lines [][]byte) {
		for _, l := range lines {
			if _, err := c.handle(l); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.cmd = command{sel: &d}
	run(sel) // the scratch list grows once
	if n := testing.AllocsPerRun(100, func() { d = imap.SelectData{}; run(sel) }); n != 2 {
		t.Errorf("%v allocations per SELECT's responses, want 2", n)
	}
	if len(d.Flags) != 5 || len(d.PermanentFlags) != 6 || d.NumMessages != 3 || d.UIDNext != 4 {
		t.Errorf("select data %+v", d)
	}
	var st imap.StatusData
	c.cmd = command{status: &st}
	status := bytesOf("* STATUS Sent (MESSAGES 2 UIDNEXT 7 UNSEEN 1)\r\n")
	if n := testing.AllocsPerRun(100, func() { run(status) }); n != 2 {
		t.Errorf("%v allocations per STATUS response, want 2 (the name, the counts)", n)
	}
	if st.Mailbox != "Sent" || *st.NumMessages != 2 || *st.NumUnseen != 1 || st.UIDNext != 7 {
		t.Errorf("status data %+v", st)
	}
}

func bytesOf(lines ...string) [][]byte {
	var out [][]byte
	for _, l := range lines {
		out = append(out, []byte(l))
	}
	return out
}

// TestFlagScratchReleased: a server's FLAGS list of thousands grows the
// flag lists' scratch list for one command only; done releases it past
// keepFlags, and a list of ordinary size keeps it.
func TestFlagScratchReleased(t *testing.T) {
	c := &Client{opts: Options{}.withDefaults()}
	c.tagb = []byte("L1")
	var huge strings.Builder
	huge.WriteString("* FLAGS (")
	for i := range 4 * keepFlags {
		fmt.Fprintf(&huge, "f%d ", i)
	}
	huge.WriteString("\\Seen)\r\n")
	for _, tc := range []struct {
		line string
		kept bool
	}{
		{huge.String(), false},
		{"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n", true},
	} {
		var d imap.SelectData
		c.cmd = command{sel: &d}
		if _, err := c.handle([]byte(tc.line)); err != nil {
			t.Fatal(err)
		}
		if len(d.Flags) == 0 {
			t.Fatalf("no flags read from %.40q", tc.line)
		}
		c.done()
		if kept := c.flagScratch != nil; kept != tc.kept {
			t.Errorf("%d flags: scratch list kept %v after the command, want %v", len(d.Flags), kept, tc.kept)
		}
	}
}
