package leanimap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/transport"
)

// parsing is a client without a connection that reads the responses in
// wire (as a server sent them) while command L1 is in progress, with every
// collector set; it returns what they collected, as text.
func parsing(wire string, opts Options) (string, error) {
	c := &Client{opts: opts.withDefaults()}
	c.br = bufio.NewReaderSize(strings.NewReader(wire), readBufSize)
	c.tagb = []byte("L1")
	var out strings.Builder
	var (
		sel    imap.SelectData
		list   []imap.ListData
		status imap.StatusData
		search []imap.UID
		ns     imap.NamespaceData
	)
	c.cmd = command{sel: &sel, list: &list, status: &status, search: &search, ns: &ns}
	c.cmd.fetch = func(m *Message) error {
		fmt.Fprintf(&out, "fetch %d uid=%d flags=%v size=%d", m.SeqNum, m.UID, m.Flags, m.Size)
		for _, s := range m.Sections {
			fmt.Fprintf(&out, " [%s]<%d>=%q", s.Name, s.Origin, s.Data)
		}
		if m.Envelope != nil {
			fmt.Fprintf(&out, " env=%+v", *m.Envelope)
		}
		if m.BodyStructure != nil {
			fmt.Fprintf(&out, " bs=%s", m.BodyStructure)
		}
		out.WriteString("\n")
		return nil
	}
	c.opts.Handler = HandlerFunc(func(u *Update) { fmt.Fprintf(&out, "update %d %d %v %q\n", u.Kind, u.Num, u.Flags, u.Text) })
	err := c.wait()
	fmt.Fprintf(&out, "sel=%d/%d/%d/%v/%v list=%v status=%s/%d search=%v ns=%v caps=%v",
		sel.NumMessages, sel.UIDValidity, sel.UIDNext, sel.Flags, sel.PermanentFlags, list, status.Mailbox, status.UIDNext, search, ns, c.caps)
	return out.String(), err
}

// TestParse checks the parser on responses as servers send them.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, wire string
		want       []string // substrings of the collected text
		err        error    // nil: the tagged OK
	}{
		{"select", "* 3 EXISTS\r\n* FLAGS (\\Seen \\Deleted $Junk)\r\n* OK [PERMANENTFLAGS (\\Seen \\*)] ok\r\n* OK [UIDVALIDITY 42] v\r\n* OK [UIDNEXT 7] n\r\nL1 OK [READ-WRITE] done\r\n",
			[]string{"sel=3/42/7/[\\Seen \\Deleted $Junk]/[\\Seen \\*]", "update 1 3"}, nil},
		{"fetch with literals", "* 1 FETCH (UID 5 FLAGS (\\Seen) RFC822.SIZE 120 BODY[HEADER.FIELDS (MESSAGE-ID)] {19}\r\nMessage-ID: <a@b>\r\n BODY[]<0> {3}\r\nabc)\r\nL1 OK\r\n",
			[]string{`fetch 1 uid=5 flags=[\Seen] size=120 [HEADER.FIELDS (MESSAGE-ID)]<-1>="Message-ID: <a@b>\r\n" []<0>="abc"`}, nil},
		{"fetch envelope and quoted escapes", `* 2 FETCH (ENVELOPE ("Mon, 1 Jan 2024 00:00:00 +0000" "say \"hi\" \\ ok" (("A" NIL "a" "b")) NIL NIL NIL NIL NIL NIL "<id@x>") BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 3 1) UID 9 MODSEQ (12))` + "\r\nL1 OK\r\n",
			[]string{`Subject:say "hi" \ ok`, "MessageID:<id@x>", `bs=("text" "plain" NIL NIL NIL "7bit" 3 1)`, "uid=9"}, nil},
		// Multipart bodies and addresses follow each other without a
		// space (RFC 3501); this response is Courier's, from office-day.
		{"multipart bodystructure of Courier", `* 2 FETCH (UID 2 BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 2065 37 NIL NIL NIL)("image" "jpeg" ("name" "IMG_2041.jpg") NIL NIL "base64" 1836118 NIL ("attachment" ("filename" "IMG_2041.jpg")) NIL) "mixed" ("boundary" "=_5bc425f01fd25d1f") NIL NIL))` + "\r\nL1 OK FETCH completed.\r\n",
			[]string{`uid=2`, `bs=(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 2065 37 NIL NIL NIL)("image" "jpeg" ("name" "IMG_2041.jpg") NIL NIL "base64" 1836118 NIL ("attachment" ("filename" "IMG_2041.jpg")) NIL) "mixed" ("boundary" "=_5bc425f01fd25d1f") NIL NIL)`}, nil},
		{"envelope with two recipients", `* 3 FETCH (UID 4 ENVELOPE (NIL "s" (("A" NIL "a" "x")) NIL NIL (("B" NIL "b" "x")("C" NIL "c" "x")) NIL NIL NIL "<m@x>"))` + "\r\nL1 OK\r\n",
			[]string{`uid=4`, "MessageID:<m@x>"}, nil},
		{"strings run together", `* 1 FETCH (BODYSTRUCTURE ("text""plain"))` + "\r\nL1 OK\r\n", nil, ErrProtocol},
		{"items not used", "* 1 FETCH (BINARY.SIZE[1] 42 X-GM-LABELS (\\Inbox) UID 3 BINARY[1] {2}\r\nhi)\r\nL1 OK\r\n",
			[]string{`uid=3`, `[1]<-1>="hi"`}, nil},
		{"nil section", "* 1 FETCH (UID 1 BODY[] NIL)\r\nL1 OK\r\n", []string{`[]<-1>=""`}, nil},
		{"list", "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n* LIST () \".\" {5}\r\na]b c\r\n* LIST (\\Noselect) NIL \"\"\r\nL1 OK\r\n",
			[]string{`{[\HasNoChildren \Sent] 47 Sent`, `{[] 46 a]b c`, `{[\Noselect] 0 `}, nil},
		{"status", "* STATUS \"My Box\" (MESSAGES 4 UIDNEXT 9 UNSEEN 1)\r\nL1 OK\r\n", []string{"status=My Box/9"}, nil},
		{"search", "* SEARCH 3 17 2\r\nL1 OK\r\n", []string{"search=[3 17 2]"}, nil},
		{"empty search with trailing space", "* SEARCH \r\nL1 OK\r\n", []string{"search=[]"}, nil},
		{"namespace", "* NAMESPACE ((\"\" \"/\")) NIL ((\"shared/\" \"/\" \"X-EXT\" (\"a\")))\r\nL1 OK\r\n", []string{"ns={[{ 47}] [] [{shared/ 47}]}"}, nil},
		{"namespace of Courier", "* NAMESPACE ((\"INBOX.\" \".\")) NIL ((\"#shared.\" \".\")(\"shared.\" \".\"))\r\nL1 OK\r\n", []string{"ns={[{INBOX. 46}] [] [{#shared. 46} {shared. 46}]}"}, nil},
		{"capability code", "L1 OK [CAPABILITY IMAP4rev1 move LITERAL+] logged in\r\n", []string{"caps=[IMAP4REV1 MOVE LITERAL+]"}, nil},
		{"expunge and bye", "* 2 EXPUNGE\r\n* BYE shutting down\r\nL1 OK\r\n", []string{"update 2 2", `update 5 0 [] "shutting down"`}, nil},
		{"continuation", "+ go ahead\r\n", nil, ErrProtocol},
		{"tagged NO", "L1 NO [TRYCREATE] no such mailbox\r\n", nil, &imap.Error{}},
		{"unknown tag", "X9 OK\r\n", nil, ErrProtocol},
		{"garbage", "\x00\xff\r\n", nil, ErrProtocol},
		{"unknown status", "L1 MAYBE\r\n", nil, ErrProtocol},
		{"unterminated list", "* 1 FETCH (FLAGS (\\Seen\r\nL1 OK\r\n", nil, ErrProtocol},
		{"literal longer than the line says", "* 1 FETCH (BODY[] {10}\r\nabc", nil, errUnexpectedEOF},
		{"deep nesting", "* 1 FETCH (BODYSTRUCTURE " + strings.Repeat("(", 40) + strings.Repeat(")", 40) + ")\r\nL1 OK\r\n", nil, ErrProtocol},
		{"number overflow", "* 99999999999 EXISTS\r\nL1 OK\r\n", nil, ErrProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsing(tc.wire, Options{})
			switch e := tc.err.(type) {
			case nil:
				if err != nil {
					t.Fatalf("error %v", err)
				}
			case *imap.Error:
				var ie *imap.Error
				if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo || ie.Code != "TRYCREATE" {
					t.Fatalf("error %v, want a NO [TRYCREATE]", err)
				}
			default:
				if !errors.Is(err, e) {
					t.Fatalf("error %v, want %v", err, e)
				}
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("got\n%s\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

// TestParseLimits checks the size limits: a long line and a big literal
// are refused before they are buffered.
func TestParseLimits(t *testing.T) {
	opts := Options{MaxLine: 100, MaxLiteral: 1000}
	for _, wire := range []string{
		"* OK " + strings.Repeat("x", 200) + "\r\nL1 OK\r\n",
		"* 1 FETCH (BODY[] {1001}\r\n" + strings.Repeat("x", 1001) + ")\r\nL1 OK\r\n",
		"* 1 FETCH (BODY[] {99999999999999999999999}\r\n",
	} {
		if _, err := parsing(wire, opts); !errors.Is(err, transport.ErrReplyTooLarge) {
			t.Errorf("%.40q: %v, want ErrReplyTooLarge", wire, err)
		}
	}
	if _, err := parsing("* 1 FETCH (BODY[] {1000}\r\n"+strings.Repeat("x", 1000)+")\r\nL1 OK\r\n", opts); err != nil {
		t.Errorf("a literal at the limit: %v", err)
	}
}

// FuzzParseResponse feeds arbitrary server output to the reader and the
// parser: never a panic, never more memory than the limits allow, the
// data a command keeps (SEARCH UIDs, LIST entries) within MaxKept.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		"* 3 EXISTS\r\nL1 OK\r\n",
		"* 1 FETCH (UID 5 FLAGS (\\Seen) BODY[HEADER.FIELDS (MESSAGE-ID)] {19}\r\nMessage-ID: <a@b>\r\n BODY[]<0> {3}\r\nabc)\r\nL1 OK\r\n",
		"* LIST (\\HasNoChildren) \"/\" {3}\r\na b\r\nL1 NO [TRYCREATE] x\r\n",
		"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n* STATUS x (MESSAGES 1)\r\n* SEARCH 1 2\r\nL1 BAD\r\n",
		"* OK [CAPABILITY IMAP4rev1] [UIDNEXT 4]\r\n* 2 FETCH (ENVELOPE (NIL \"a\\\"b\" NIL NIL NIL NIL NIL NIL NIL NIL) INTERNALDATE \" 1-Jan-2024 00:00:00 +0000\")\r\nL1 OK\r\n",
		"+ idling\r\n", "* BYE\r\n", "L1 OK [APPENDUID 1 2] a\r\n",
		// Responses that never end (TestEndlessResponses).
		strings.Repeat("* SEARCH"+strings.Repeat(" 1", 500)+"\r\n", 20),
		strings.Repeat("* LIST () \"/\" x\r\n", 1000),
		// FETCH by message number (the auditor's): no UID set, a NIL
		// section, an empty header block.
		"* 2 FETCH (FLAGS (\\Deleted) RFC822.SIZE 120 BODY[HEADER.FIELDS (MESSAGE-ID)] NIL)\r\n* 3 FETCH (UID 9 RFC822.SIZE 0 BODY[HEADER.FIELDS (Message-ID)] {2}\r\n\r\n)\r\nL1 OK\r\n",
	} {
		f.Add([]byte(s))
	}
	opts := Options{MaxLine: 1024, MaxLiteral: 4096, MaxKept: 8192}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &Client{opts: opts.withDefaults()}
		c.br = bufio.NewReaderSize(bytes.NewReader(data), readBufSize)
		c.tagb = []byte("L1")
		var (
			sel    imap.SelectData
			list   []imap.ListData
			status imap.StatusData
			search []imap.UID
			ns     imap.NamespaceData
		)
		c.cmd = command{sel: &sel, list: &list, status: &status, search: &search, ns: &ns,
			fetch: func(m *Message) error { return nil }}
		for range 64 {
			if _, err := c.next(); err != nil && c.err != nil {
				break
			}
			if limit := int(opts.MaxLiteral) + opts.MaxLine + 32<<10; cap(c.resp) > limit {
				t.Fatalf("response buffer of %d bytes, over %d", cap(c.resp), limit)
			}
			// A UID kept takes 2 bytes of a response at least (" 1"),
			// a LIST entry 15 ("* LIST () x x\r\n").
			if len(search) > int(opts.MaxKept)/2 || len(list) > int(opts.MaxKept)/15 {
				t.Fatalf("%d UIDs and %d LIST entries kept, over MaxKept %d bytes", len(search), len(list), opts.MaxKept)
			}
		}
	})
}

// TestAsked: which FETCH responses answer a UID command (command.asked).
func TestAsked(t *testing.T) {
	tests := []struct {
		name string
		set  imap.UIDSet
		uid  imap.UID
		want bool
	}{
		{"no set (not a UID command)", nil, 7, true},
		{"no set, no UID", nil, 0, true},
		{"in a single", imap.UIDSetNum(4), 4, true},
		{"outside a single", imap.UIDSetNum(4), 5, false},
		{"no UID in a UID command", imap.UIDSetNum(4), 0, false},
		{"in a later range", imap.UIDSet{{Start: 1, Stop: 2}, {Start: 9, Stop: 12}}, 10, true},
		{"between ranges", imap.UIDSet{{Start: 1, Stop: 2}, {Start: 9, Stop: 12}}, 5, false},
		{"reversed range", imap.UIDSet{{Start: 12, Stop: 9}}, 10, true},
		{"n:* above n", imap.UIDSet{{Start: 5, Stop: 0}}, 900, true},
		{"n:* answered by a largest UID below n", imap.UIDSet{{Start: 5, Stop: 0}}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := command{uids: tt.set}
			// Twice: the hint the first call leaves must not change the answer.
			for i := range 2 {
				if got := cmd.asked(tt.uid); got != tt.want {
					t.Errorf("call %d: asked(%d) in %v = %v, want %v", i+1, tt.uid, tt.set, got, tt.want)
				}
			}
		})
	}
	cmd := command{uids: imap.UIDSet{{Start: 1, Stop: 1}, {Start: 3, Stop: 3}, {Start: 5, Stop: 5}}}
	for _, uid := range []imap.UID{5, 1, 4, 3} {
		if got, want := cmd.asked(uid), uid != 4; got != want {
			t.Errorf("asked(%d) after other UIDs = %v, want %v", uid, got, want)
		}
	}
}

// TestFollowUpWithoutUID: during UID FETCH 3, a response without a UID
// for the message number just answered is about that message (Courier's
// \Seen after a BODY[] fetch) and goes to the callback with its UID; one
// for another message number, or before any answer, is another session's
// change and goes to the Handler.
func TestFollowUpWithoutUID(t *testing.T) {
	for _, tt := range []struct {
		name, wire, want string
	}{
		{"after the message's response",
			"* 5 FETCH (FLAGS (\\Flagged))\r\n" +
				"* 3 FETCH (UID 3 BODY[] {5}\r\nhello)\r\n" +
				"* 3 FETCH (FLAGS (\\Seen))\r\n" +
				"* 4 FETCH (FLAGS (\\Answered))\r\n" +
				"L1 OK FETCH completed.\r\n",
			"update 5 uid=0 flags=[\\Flagged]\n" +
				"fetch 3 uid=3 flags=[] sections=1\n" +
				"fetch 3 uid=3 flags=[\\Seen] sections=0\n" +
				"update 4 uid=0 flags=[\\Answered]\n"},
		// An EXPUNGE moves the numbers (UID commands may see one): number 3
		// is then another message.
		{"after an expunge",
			"* 3 FETCH (UID 3 BODY[] {5}\r\nhello)\r\n" +
				"* 2 EXPUNGE\r\n" +
				"* 3 FETCH (FLAGS (\\Seen))\r\n" +
				"L1 OK FETCH completed.\r\n",
			"fetch 3 uid=3 flags=[] sections=1\n" +
				"update 3 uid=0 flags=[\\Seen]\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{opts: Options{}.withDefaults()}
			c.br = bufio.NewReaderSize(strings.NewReader(tt.wire), readBufSize)
			c.tagb = []byte("L1")
			var out strings.Builder
			c.cmd = command{uids: imap.UIDSetNum(3), fetch: func(m *Message) error {
				fmt.Fprintf(&out, "fetch %d uid=%d flags=%v sections=%d\n", m.SeqNum, m.UID, m.Flags, len(m.Sections))
				return nil
			}}
			c.opts.Handler = HandlerFunc(func(u *Update) {
				if u.Kind == UpdateFetch {
					fmt.Fprintf(&out, "update %d uid=%d flags=%v\n", u.Num, u.Message.UID, u.Message.Flags)
				}
			})
			if err := c.wait(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got\n%swant\n%s", got, tt.want)
			}
		})
	}
}
