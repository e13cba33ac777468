package mailserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/mailsim/mailsim/internal/dovecottest"
)

func TestValidMUTF7(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"", true},
		{"INBOX", true},
		{"Archive/2024", true},
		{"&-", true},
		{"a&-b", true},
		{"&Jjo-", true},       // U+263A
		{"&Jjo-x&Jjo-", true}, // two runs apart
		{"&2D3eAA-", true},    // U+1F600 as a surrogate pair
		{"&AAA-", true},       // U+0000: valid encoding (the server refuses the name)
		{"&,,8-", true},       // U+FFFF
		{"\u263a", true},      // raw UTF-8, as the library accepts
		{"!#$'+,-.:;<=>?@^_`|[}", true},
		{"&", false},          // unterminated
		{"&Jjo", false},       // unterminated run
		{"&Jjo-&Jjo-", false}, // two runs in a row
		{"&AGE-", false},      // "a" encoded
		{"&AC0-", false},      // "-" encoded (printable ASCII)
		{"&2D0-", false},      // lone high surrogate
		{"&3gA-", false},      // lone low surrogate
		{"&2D3YPQ-", false},   // high surrogate followed by another high one
		{"&J-", false},        // one base64 character
		{"&Jj-", false},       // one byte
		{"&Jjo=-", false},     // padding
		{"&Jj\no-", false},    // line break in a run
		{"&Jj o-", false},     // not base64
		{"!#$&'+,-.0123456789:;<=>?@^_`|[}%*", false}, // imaptest's atoms
		{"a\x7f", false},
		{"a\x01", false},
		{"\xff", false}, // not UTF-8
		{"\xc3", false}, // truncated UTF-8
		{"a\r\nb", false},
	} {
		if got := validMUTF7([]byte(tc.name)); got != tc.ok {
			t.Errorf("validMUTF7(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

// commandWithLiterals sends one command (CRLF added; literals sent after their
// continuation, non-synchronizing ones at once) and returns the untagged
// lines and the tagged status line.
func (r *rawSession) commandWithLiterals(tag, cmd string) (untagged []string, status string) {
	r.t.Helper()
	if !strings.Contains(cmd, "}\r\n") {
		return r.command(tag, cmd)
	}
	parts := strings.SplitAfter(cmd, "}\r\n")
	for i, part := range parts {
		if i == len(parts)-1 {
			r.send(part + "\r\n")
			break
		}
		if i == 0 {
			part = tag + " " + part
		}
		r.send(part)
		if strings.HasSuffix(part, "+}\r\n") {
			continue
		}
		l, ok := r.line()
		if !ok {
			r.t.Fatalf("%q: connection closed", cmd)
		}
		if !strings.HasPrefix(l, "+") {
			return nil, l
		}
	}
	return r.reply(tag, cmd)
}

// invalidNameCases are mailbox arguments that are not valid modified
// UTF-7 (imaptest's atoms group among them), and sequence sets the IMAP
// library cannot parse, and the answer each gets from
// Dovecot and from the embedded server: the status word and the names
// LIST or LSUB returns. embedded is set where the answers differ (docs/compliance.md).
var invalidNameCases = []struct {
	cmd      string
	status   string
	untagged []string
	embedded string
}{
	{cmd: `LIST "" !#$&'+,-.0123456789:;<=>?@^_` + "`" + `|[}%*`, status: "OK"},
	{cmd: `SELECT !#$&'+,-.0123456789:;<=>?@^_` + "`" + `|[}`, status: "NO"},
	{cmd: `SELECT "&Jjo"`, status: "NO"},
	{cmd: `EXAMINE "a&b"`, status: "NO"},
	{cmd: `CREATE "&Jjo"`, status: "NO"},
	{cmd: `CREATE "&AGE-"`, status: "NO"},
	{cmd: `CREATE "&AAA-"`, status: "NO"},
	{cmd: `CREATE "x/&Jjo-&Jjo-"`, status: "NO"},
	{cmd: `DELETE "&Jjo"`, status: "NO"},
	{cmd: `RENAME "&Jjo" "x"`, status: "NO"},
	{cmd: `RENAME INBOX "&Jjo"`, status: "NO"},
	{cmd: `SUBSCRIBE "&Jjo"`, status: "NO"},
	{cmd: `UNSUBSCRIBE "&Jjo"`, status: "NO"},
	{cmd: `STATUS "&Jjo" (MESSAGES)`, status: "NO"},
	{cmd: "SELECT \"\xff\"", status: "NO"},
	{cmd: "SELECT \"a\x7f\"", status: "NO"},
	{cmd: "SELECT {6}\r\nCaf\xe9s!", status: "NO"},
	{cmd: "SELECT {6+}\r\nCaf\xe9s!", status: "NO"},
	{cmd: "SELECT {1}\r\n&", status: "NO", embedded: "BAD"},
	{cmd: `LIST "&Jjo" "*"`, status: "OK"},
	{cmd: `LIST "" "&Jjo"`, status: "OK"},
	{cmd: `LIST "" &Jjo*`, status: "OK"},
	{cmd: "LIST \"\" {5}\r\n&Jjo*", status: "OK"},
	{cmd: `LIST "" ("&Jjo" "INBOX")`, status: "OK", untagged: []string{"INBOX"}},
	{cmd: `LIST (SUBSCRIBED) "" "&Jjo"`, status: "OK"},
	{cmd: `LSUB "" "&Jjo"`, status: "OK"},
	{cmd: `LSUB "&" "*"`, status: "OK"},
	{cmd: "APPEND \"&Jjo\" {3}\r\nabc", status: "NO"},
	{cmd: "APPEND INBOX {3}\r\nabc", status: "OK"},
	{cmd: "APPEND INBOX (\\Seen) \"garbage\" {3}\r\nabc", status: "BAD"},
	{cmd: "APPEND INBOX (\\Seen) \" 2-Feb-2024 10:11:12 +0100\" {3}\r\nabc", status: "OK"},
	{cmd: `SELECT INBOX`, status: "OK"},
	{cmd: `COPY 1 "&Jjo"`, status: "NO"},
	{cmd: `MOVE 1 &Jjo`, status: "NO"},
	{cmd: `UID COPY 1:* "&Jjo"`, status: "NO"},
	{cmd: `UID MOVE 1:* "&Jjo"`, status: "NO"},
	// SEARCH keys and arguments the library cannot parse.
	{cmd: `SEARCH FOO`, status: "BAD"},
	{cmd: `SEARCH SINCE x`, status: "BAD"},
	{cmd: `SEARCH SENTON "31-Foo-2024" ALL`, status: "BAD"},
	{cmd: `SEARCH 0`, status: "BAD"},
	{cmd: `UID SEARCH UID 1,,2`, status: "BAD"},
	{cmd: `SEARCH ALL FOO`, status: "BAD"},
	{cmd: `SEARCH SUBJECT {A 0`, status: "BAD"},
	{cmd: `SEARCH SINCE 0"" ALL`, status: "BAD"},
	{cmd: `SEARCH TEXT {12 x`, status: "BAD"},
	{cmd: `SEARCH RETURN (MIN COUNT) CHARSET UTF-8 FROM "&Jjo" SINCE 1-Feb-2024 NOT (UID 1:*) OR SEEN 1:3 HEADER X-A "b"`, status: "OK"},
	{cmd: "UID SEARCH SUBJECT {3}\r\nFOO SENTBEFORE \"2-Feb-2030\" LARGER 1 KEYWORD $Junk", status: "OK"},
	// Sequence sets the library cannot parse.
	{cmd: `FETCH 0 FLAGS`, status: "BAD"},
	{cmd: `UID FETCH 1,,2 FLAGS`, status: "BAD"},
	{cmd: `STORE 1: +FLAGS (\Seen)`, status: "BAD"},
	{cmd: `UID COPY 4294967296 INBOX`, status: "BAD"},
	{cmd: "UID FETCH " + longSet(70<<10) + " FLAGS", status: "BAD"},
	// The longest command line the library takes, and one byte more
	// (Dovecot takes up to 64 KiB).
	{cmd: "SEARCH SUBJECT " + strings.Repeat("x", maxCommandLine-len("mab SEARCH SUBJECT \r\n")), status: "OK"},
	{cmd: "SEARCH SUBJECT " + strings.Repeat("x", maxCommandLine+1-len("mab SEARCH SUBJECT \r\n")), status: "OK", embedded: "BAD"},
	// Valid names, 8-bit ones too, still work.
	{cmd: `CREATE "&Jjo-"`, status: "OK"},
	{cmd: `LIST "" "&Jjo-"`, status: "OK", untagged: []string{"&Jjo-"}},
	{cmd: `DELETE "&Jjo-"`, status: "OK"},
}

// TestIMAPInvalidMailboxNames sends mailbox names that are not valid
// modified UTF-7 to the embedded server and to Dovecot: no reply is
// SERVERBUG, LIST and LSUB patterns match nothing, other commands get NO,
// as from Dovecot.
func TestIMAPInvalidMailboxNames(t *testing.T) {
	run := func(t *testing.T, r *rawSession, embedded bool) {
		for i, tc := range invalidNameCases {
			tag := "m" + string(rune('a'+i%26)) + string(rune('a'+i/26))
			untagged, status := r.commandWithLiterals(tag, tc.cmd)
			if strings.Contains(status, "SERVERBUG") {
				t.Errorf("%q: %s", tc.cmd, status)
			}
			want := tc.status
			if embedded && tc.embedded != "" {
				want = tc.embedded
			}
			if !strings.HasPrefix(status, tag+" "+want+" ") {
				t.Errorf("%q: got %q, want %s", tc.cmd, status, want)
			}
			var lists []string
			for _, l := range untagged {
				if strings.HasPrefix(l, "* LIST ") || strings.HasPrefix(l, "* LSUB ") {
					lists = append(lists, strings.Trim(l[strings.LastIndexByte(l, ' ')+1:], `"`))
				}
			}
			if strings.HasPrefix(tc.cmd, "LIST") || strings.HasPrefix(tc.cmd, "LSUB") {
				if strings.Join(lists, "\n") != strings.Join(tc.untagged, "\n") {
					t.Errorf("%q: untagged %q, want %q", tc.cmd, lists, tc.untagged)
				}
			}
		}
	}
	t.Run("embedded", func(t *testing.T) {
		_, addrs := testServer(t, Options{})
		run(t, rawIMAPLogin(t, addrs.IMAP), true)
	})
	t.Run("embedded starttls", func(t *testing.T) {
		cfg, err := SelfSignedTLS("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		_, addrs := testServer(t, Options{TLS: cfg})
		run(t, rawStartTLSLogin(t, addrs.IMAP, cfg), true)
	})
	t.Run("dovecot", func(t *testing.T) {
		inst := dovecottest.Start(t, 1)
		r := newRaw(t, inst.IMAP)
		r.until("* OK")
		if _, st := r.command("l", "LOGIN "+inst.Username(1)+" "+inst.Password); !strings.HasPrefix(st, "l OK") {
			t.Fatalf("login: %s", st)
		}
		run(t, r, false)
	})
}

// recordConn is chunkConn (ratelimit_test.go) that records what is
// written to it.
type recordConn struct {
	chunkConn
	wrote bytes.Buffer
}

func (c *recordConn) Write(p []byte) (int, error) { return c.wrote.Write(p) }

func (*recordConn) SetWriteDeadline(time.Time) error { return nil }

// split cuts s into pieces of n bytes (all of it for n <= 0).
func split(s []byte, n int) []string {
	if n <= 0 || n > len(s) {
		n = len(s)
	}
	var out []string
	for len(s) > 0 {
		k := min(n, len(s))
		out = append(out, string(s[:k]))
		s = s[k:]
	}
	return out
}

// readGuard returns everything the library would read from a guard over
// input cut into pieces of n bytes, with Read sizes of 4096 as the
// library's reader uses.
func readGuard(t testing.TB, input []byte, n int) []byte {
	g := newMUTF7Guard(&recordConn{chunkConn: chunkConn{chunks: split(input, n)}}, &guardBufs{}, nopRecorder{}, nil)
	var out []byte
	buf := make([]byte, 4096)
	for i := 0; ; i++ {
		if i > 4*len(input)+10 {
			t.Fatalf("guard still reading after %d calls", i)
		}
		k, err := g.Read(buf)
		out = append(out, buf[:k]...)
		if err != nil {
			if err != io.EOF {
				t.Fatalf("read: %v", err)
			}
			return out
		}
	}
}

func TestMUTF7GuardRewrites(t *testing.T) {
	long := strings.Repeat("a", maxGuardToken+10)
	for _, tc := range []struct{ name, in, want string }{
		{"quoted", "a SELECT \"&Jjo\"\r\n", "a SELECT \"&AAA-\"\r\n"},
		{"valid kept", "a SELECT \"&Jjo-\"\r\nb select inbox\r\n", "a SELECT \"&Jjo-\"\r\nb select inbox\r\n"},
		{"atom", "a examine &Jjo\r\n", "a examine \"&AAA-\"\r\n"},
		{"escaped", "a SELECT \"\\&Jjo\" x\r\na DELETE \"a\\\\b\"\r\n", "a SELECT \"&AAA-\" x\r\na DELETE \"a\\\\b\"\r\n"},
		{"8-bit atom", "a CREATE \xff\r\n", "a CREATE \"&AAA-\"\r\n"},
		{"rename both", "a RENAME &Jjo \"&\"\r\n", "a RENAME \"&AAA-\" \"&AAA-\"\r\n"},
		{"status", "a STATUS &Jjo (MESSAGES)\r\n", "a STATUS \"&AAA-\" (MESSAGES)\r\n"},
		{"uid move", "a uid move 1:* &Jjo\r\n", "a uid move 1:* \"&AAA-\"\r\n"},
		{"copy", "a COPY 1,3 \"&\"\r\n", "a COPY 1,3 \"&AAA-\"\r\n"},
		{"list", "a LIST \"&\" &Jjo*\r\n", "a LIST \"&AAA-\" \"&AAA-\"\r\n"},
		{"list wildcards kept", "a LIST \"\" %/*\r\n", "a LIST \"\" %/*\r\n"},
		{"list extended", "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"&Jjo\" % &) RETURN (CHILDREN)\r\n",
			"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"&AAA-\" % \"&AAA-\") RETURN (CHILDREN)\r\n"},
		{"lsub", "a LSUB & &Jjo%\r\n", "a LSUB \"&AAA-\" \"&AAA-\"\r\n"},
		{"literal", "a SELECT {6}\r\nCaf\xe9s!\r\n", "a SELECT {6}\r\n&AAA-x\r\n"},
		{"literal kept", "a SELECT {5+}\r\n&Jjo-\r\n", "a SELECT {5+}\r\n&Jjo-\r\n"},
		{"short literal", "a SELECT {2}\r\n&a\r\n", "a SELECT {2}\r\nxx\x00\r\n"},
		{"empty literal", "a SELECT {0}\r\n\r\n", "a SELECT {0}\r\n\r\n"},
		{"literal too big", "a SELECT {5000+}\r\nb NOOP\r\n", "a SELECT \"&AAA-\"\r\nb NOOP\r\n"},
		{"malformed literal", "a LIST \"\" {&\r\nb LIST \"\" {1\r\n", "a LIST \"\" \"&AAA-\"&\r\nb LIST \"\" \"&AAA-\"\r\n"},
		{"literal then name", "a RENAME {4}\r\n&Jjo &\r\n", "a RENAME {4}\r\nxxxx\x00 &\r\n"},
		{"quoted line break", "a SELECT \"a\r\nb SELECT &Jjo\r\n", "a SELECT \"&AAA-\"\r\nb SELECT \"&AAA-\"\r\n"},
		{"long name", "a SELECT " + long + "\r\nb NOOP\r\n", "b NOOP\r\n"}, // answered BAD [TOOBIG] by the guard
		{"append message untouched", "a APPEND &Jjo (\\Seen) {19}\r\nb SELECT \"&Jjo\"\r\n\r\n",
			"a APPEND \"&AAA-\" (\\Seen) {19}\r\nb SELECT \"&Jjo\"\r\n\r\n"},
		{"big append message untouched", "a APPEND INBOX ~{6000+}\r\n" + strings.Repeat("x SELECT &\r\n", 500) + "\r\n",
			"a APPEND INBOX ~{6000+}\r\n" + strings.Repeat("x SELECT &\r\n", 500) + "\r\n"},
		{"login untouched", "a LOGIN &Jjo \"&\"\r\n", "a LOGIN &Jjo \"&\"\r\n"},
		{"login literal untouched", "a LOGIN {16}\r\nb SELECT &Jjo\r\n x\r\n", "a LOGIN {16}\r\nb SELECT &Jjo\r\n x\r\n"},
		{"search untouched", "a SEARCH SUBJECT \"&Jjo\" FROM {4}\r\n&Jjo\r\n", "a SEARCH SUBJECT \"&Jjo\" FROM {4}\r\n&Jjo\r\n"},
		{"idle continuation untouched", "a IDLE\r\nb SELECT &Jjo\r\n", "a IDLE\r\nb SELECT &Jjo\r\n"},
		{"authenticate continuation untouched", "a AUTHENTICATE PLAIN\r\nb DELETE &\r\n", "a AUTHENTICATE PLAIN\r\nb DELETE &\r\n"},
		{"sequence sets", "a FETCH 0 FLAGS\r\nb UID STORE 1,,2 +FLAGS (\\Seen)\r\nc UID EXPUNGE 1:\r\nd COPY 4294967296 x\r\ne MOVE $ &\r\n",
			"a FETCH  FLAGS\r\nb UID STORE  +FLAGS (\\Seen)\r\nc UID EXPUNGE \r\nd COPY  x\r\ne MOVE $ \"&AAA-\"\r\n"},
		{"sequence sets kept", "a FETCH 1:*,3,4294967295 FLAGS\r\nb UID COPY *:7 x\r\n", "a FETCH 1:*,3,4294967295 FLAGS\r\nb UID COPY *:7 x\r\n"},
		{"syntax error", "a SELECT\r\nb SELECT &\r\n", "a SELECT\r\nb SELECT \"&AAA-\"\r\n"},
		{"append date", "a APPEND x \"garbage\" {1}\r\nZ\r\nb APPEND x (\\Seen) \"12-Feb-2024 10:11:12 +0100\" {1}\r\nZ\r\nc APPEND x \"x\r\n",
			"a APPEND x  {1}\r\nZ\r\nb APPEND x (\\Seen) \"12-Feb-2024 10:11:12 +0100\" {1}\r\nZ\r\nc APPEND x \r\n"},
		{"search", "a SEARCH RETURN (MIN (X)) CHARSET x FOO 1:* FROM FOO SINCE 1-Feb-2024 SINCE 1-Foo-2024 UID 0 ON \"x\" ON \"2-Feb-2024\" NOT (BAR) RETURN\r\n",
			"a SEARCH RETURN (MIN (X)) CHARSET x ) 1:* FROM FOO SINCE 1-Feb-2024 SINCE ) UID ) ON ) ON \"2-Feb-2024\" NOT ()) )\r\n"},
		{"search bad literal", "a SEARCH SUBJECT {A 0\r\nb SEARCH TEXT {12\r\nc SEARCH FROM {3}x\r\nd SEARCH TO {1}\rx\r\n",
			"a SEARCH SUBJECT )A 0\r\nb SEARCH TEXT )\r\nc SEARCH FROM )x\r\nd SEARCH TO )\rx\r\n"},
		{"search literal", "a UID SEARCH TEXT {4}\r\nFOO) HEADER {1+}\r\nx {2}\r\nFO FOO\r\n", "a UID SEARCH TEXT {4}\r\nFOO) HEADER {1+}\r\nx {2}\r\nFO )\r\n"},
		{"bare CR", "0 0\r0 SELECT \"&Jjo\"\r\na NOOP\rb SELECT &\r\nc SELECT \"x\ry SELECT &\r\n",
			"0 0\r0 SELECT \"&AAA-\"\r\na NOOP\rb SELECT \"&AAA-\"\r\nc SELECT \"&AAA-\"\ry SELECT \"&AAA-\"\r\n"},
		{"bare LF", "a SELECT &\nb SELECT &\n", "a SELECT \"&AAA-\"\nb SELECT \"&AAA-\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{0, 1, 2, 7} {
				if got := readGuard(t, []byte(tc.in), n); string(got) != tc.want {
					i := 0
					for i < len(got) && i < len(tc.want) && got[i] == tc.want[i] {
						i++
					}
					t.Errorf("pieces of %d: differ at %d:\ngot  %q\nwant %q", n, i, truncate(string(got[i:])), truncate(tc.want[i:]))
				}
			}
		})
	}
}

// TestMUTF7GuardFollowsReplies checks that the guard starts over where the
// library does: after a tagged reply to a command it rejected half-way
// (the library discards the rest of the line, and a literal announced
// there is then read as commands), and that it hands STARTTLS on to the
// library when it has no TLS configuration of its own (TestIMAPStartTLSGuarded
// covers the one it answers).
func TestMUTF7GuardFollowsReplies(t *testing.T) {
	for _, tc := range []struct {
		name, first, reply, rest, want string
	}{
		{"literal read", "a NOOP x {17+}\r\n", "", "b SELECT \"&Jjo\"\r\n", "b SELECT \"&Jjo\"\r\n"},
		{"literal refused", "a NOOP x {17+}\r\n", "a BAD [CLIENTBUG] Syntax error\r\n", "b SELECT \"&Jjo\"\r\n", "b SELECT \"&AAA-\"\r\n"},
		{"untagged is not the reply", "a NOOP x {17+}\r\n", "* 3 EXISTS\r\n+ Ready\r\n", "b SELECT \"&Jjo\"\r\n", "b SELECT \"&Jjo\"\r\n"},
		{"idle done", "a IDLE\r\n", "+ idling\r\n", "DONE\r\n", "DONE\r\n"},
		{"after idle", "a IDLE\r\nDONE\r\n", "+ idling\r\na OK IDLE completed\r\n", "b SELECT &\r\n", "b SELECT \"&AAA-\"\r\n"},
		{"starttls refused", "a STARTTLS\r\n", "a NO STARTTLS not supported\r\n", "b SELECT &\r\n", "b SELECT \"&AAA-\"\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &recordConn{chunkConn: chunkConn{chunks: []string{tc.first + tc.rest}}}
			g := newMUTF7Guard(c, &guardBufs{}, nopRecorder{}, nil)
			buf := make([]byte, 4096)
			var got []byte
			for len(got) < len(tc.first) {
				n, err := g.Read(buf)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != tc.first {
				t.Fatalf("first part: got %q, want %q", got, tc.first)
			}
			if _, err := g.Write([]byte(tc.reply)); err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for {
				n, err := g.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			if string(got) != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if c.wrote.String() != tc.reply {
				t.Errorf("wrote %q, want %q", c.wrote.String(), tc.reply)
			}
		})
	}
}

// FuzzValidMUTF7 checks the validator against the IMAP library itself: a
// server built on it without the guard answers DELETE of a name SERVERBUG
// exactly when validMUTF7 says the name is not valid.
func FuzzValidMUTF7(f *testing.F) {
	for _, s := range []string{"INBOX", "&Jjo-", "&Jjo", "&AGE-", "&2D3eAA-", "&2D0-", "a&-b", "\xff", "&Jjo=-", "&AAA-", "&Jj\ro-", "\u263a&-"} {
		f.Add([]byte(s))
	}
	s := fuzzServer(f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	srv := imapserver.New(s.imapOptions())
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln)
	}()
	f.Cleanup(func() {
		srv.Close()
		<-served
	})
	var r *rawSession
	f.Cleanup(func() {
		if r != nil {
			r.c.Close()
		}
	})
	f.Fuzz(func(t *testing.T, name []byte) {
		if len(name) > maxBufferedLiteral {
			return
		}
		// After SERVERBUG for a literal the library ends the connection
		// at the next command: then a new one.
		if r == nil {
			c, err := net.DialTimeout("tcp", ln.Addr().String(), testDeadline)
			if err != nil {
				t.Fatal(err)
			}
			r = &rawSession{t: t, c: c, br: bufio.NewReader(c)}
			r.until("* OK")
			if _, st := r.command("l", "LOGIN alice secret"); !strings.HasPrefix(st, "l OK") {
				t.Fatalf("login: %s", st)
			}
		}
		r.t = t
		r.c.SetDeadline(time.Now().Add(fuzzBound))
		r.send(fmt.Sprintf("d DELETE {%d+}\r\n%s\r\n", len(name), name))
		st := r.until("d ")
		serverBug := strings.Contains(st, "SERVERBUG")
		if serverBug {
			r.c.Close()
			r = nil
		}
		if serverBug == validMUTF7(name) {
			t.Fatalf("%q: validMUTF7 %v, library: %s", name, validMUTF7(name), st)
		}
	})
}

// FuzzMUTF7Guard feeds arbitrary bytes through the guard, whole and in
// pieces: the library reads the same either way, and where the input has
// nothing the guard replaces or answers (no '&', no 8-bit byte, no control
// but CR LF, no quoted string or literal, no ID or command with a sequence
// set) it reads the input itself, up to its last
// line end (an unfinished line is dropped).
func FuzzMUTF7Guard(f *testing.F) {
	f.Add([]byte("a SELECT \"&Jjo\"\r\nb LIST (SUBSCRIBED) \"\" (% &)\r\n"), 3)
	f.Add([]byte("a APPEND &Jjo {5}\r\n&\r\n\r\n\r\nb RENAME {3}\r\n&&& {9+}\r\n&AAA-xxxx\r\n"), 1)
	f.Add([]byte("a IDLE\r\nDONE\r\nb uid COPY 1:* &\r\n"), 5)
	f.Fuzz(func(t *testing.T, input []byte, n int) {
		if len(input) > 1<<16 {
			return
		}
		whole := readGuard(t, input, 0)
		if pieces := readGuard(t, input, n%17); !bytes.Equal(whole, pieces) {
			t.Fatalf("pieces of %d:\n%q\nwhole:\n%q", n%17, pieces, whole)
		}
		plain := !bytes.ContainsAny(input, "&\"{")
		for _, cmd := range []string{"ID", "FETCH", "STORE", "COPY", "MOVE", "EXPUNGE", "SEARCH"} {
			plain = plain && !bytes.Contains(bytes.ToUpper(input), []byte(cmd))
		}
		for _, b := range input {
			plain = plain && (b >= 0x20 && b < 0x7f || b == '\r' || b == '\n')
		}
		if plain && !bytes.Equal(whole, input[:bytes.LastIndexByte(input, '\n')+1]) {
			t.Fatalf("changed plain input:\n%q\nto\n%q", input, whole)
		}
	})
}

// FuzzIMAPNoServerBug feeds arbitrary commands, after a login, to the
// embedded server (the guard included) over loopback TCP, in plain text or
// after STARTTLS, then half-closes: no reply may be SERVERBUG.
func FuzzIMAPNoServerBug(f *testing.F) {
	for _, starttls := range []bool{false, true} {
		for _, c := range invalidNameCases {
			f.Add([]byte("a "+c.cmd+"\r\n"), starttls)
		}
		f.Add([]byte("a NOOP x {17+}\r\nb SELECT \"&Jjo\"\r\nc IDLE\r\nDONE\r\nd CREATE &Jjo\r\n"), starttls)
		f.Add([]byte("a APPEND INBOX {3+}\r\nabc junk \"\r\nb SELECT &\r\n"), starttls)
	}
	cfg, err := SelfSignedTLS("127.0.0.1")
	if err != nil {
		f.Fatal(err)
	}
	_, addrs := testServer(f, Options{MaxMessageSize: 4096, TLS: cfg})
	f.Fuzz(func(t *testing.T, input []byte, starttls bool) {
		if len(input) > 1<<14 {
			return
		}
		var c interface {
			net.Conn
			CloseWrite() error
		}
		if starttls {
			r := rawStartTLS(t, addrs.IMAP, cfg)
			c = r.c.(*tls.Conn)
		} else {
			c = dial(t, addrs.IMAP).(*net.TCPConn)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(fuzzBound))
		var out bytes.Buffer
		done := make(chan error, 1)
		go func() {
			_, err := io.Copy(&out, io.LimitReader(c, 1<<20))
			done <- err
		}()
		c.Write([]byte("l LOGIN alice secret\r\n"))
		c.Write(input)
		c.CloseWrite()
		if err := <-done; err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("input %q: reading the replies: %v", input, err)
		}
		if i := bytes.Index(out.Bytes(), []byte("SERVERBUG")); i >= 0 {
			t.Fatalf("input %q got %q", input, out.Bytes()[max(0, i-200):i+40])
		}
		if !bytes.Contains(out.Bytes(), []byte("l OK")) {
			t.Fatalf("input %q: no login in %q", input, out.Bytes())
		}
	})
}

// loopConn is a pure fake for the benchmark: Read hands out script again
// and again.
type loopConn struct {
	net.Conn
	script []byte
	off    int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.script[c.off:])
	c.off = (c.off + n) % len(c.script)
	return n, nil
}

func (*loopConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkMUTF7Guard reads a mailbox client's usual commands through the
// guard (and, for comparison, straight) with a 4 KiB reader as the
// library's; one op is one command. Lines without '&' must cost no
// allocation.
func BenchmarkMUTF7Guard(b *testing.B) {
	script := []byte("a1 SELECT INBOX\r\na2 UID FETCH 1:* (FLAGS UID)\r\na3 LIST \"\" \"*\"\r\n" +
		"a4 UID STORE 5 +FLAGS.SILENT (\\Seen)\r\na5 UID MOVE 5 Archive/2024\r\na6 STATUS Sent (MESSAGES UIDNEXT)\r\n" +
		"a7 APPEND INBOX (\\Seen) {200}\r\n" + strings.Repeat("x", 198) + "\r\n\r\na8 NOOP\r\n")
	const perScript = 8
	for _, guarded := range []bool{false, true} {
		name := "plain"
		if guarded {
			name = "guarded"
		}
		b.Run(name, func(b *testing.B) {
			var c net.Conn = &loopConn{script: script}
			if guarded {
				c = newMUTF7Guard(c, &guardBufs{}, nopRecorder{}, nil)
			}
			buf := make([]byte, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(script) / perScript))
			b.ResetTimer()
			var read int
			for i := 0; i < b.N; i++ {
				for target := read + len(script)/perScript; read < target; {
					n, err := c.Read(buf)
					if err != nil {
						b.Fatal(err)
					}
					read += n
				}
			}
		})
	}
}

func TestMUTF7GuardAnswersID(t *testing.T) {
	for _, tc := range []struct{ name, in, library, reply string }{
		{"nil", "a ID NIL\r\nb NOOP\r\n", "b NOOP\r\n", "* ID NIL\r\na OK ID completed\r\n"},
		{"list", "a id (\"name\" \"x\" \"version\" NIL)\r\n", "", "* ID NIL\r\na OK ID completed\r\n"},
		{"bad", "a ID foo\r\n", "", "a BAD [CLIENTBUG] ID needs NIL or a parameter list\r\n"},
		{"literal left to the library", "a ID ({1}\r\nx NIL)\r\n", "a ID ({1}\r\nx NIL)\r\n", ""},
		{"not a command name", "a IDX NIL\r\n", "a IDX NIL\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &recordConn{chunkConn: chunkConn{chunks: []string{tc.in}}}
			rec := newCountingRecorder()
			g := newMUTF7Guard(c, &guardBufs{}, rec, nil)
			got, err := io.ReadAll(g)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.library {
				t.Errorf("library read %q, want %q", got, tc.library)
			}
			if c.wrote.String() != tc.reply {
				t.Errorf("replied %q, want %q", c.wrote.String(), tc.reply)
			}
			want := 0
			if strings.Contains(tc.reply, "OK ID") {
				want = 1
			}
			if n := rec.count("imap ID ok"); n != want {
				t.Errorf("recorded %d ID ok, want %d", n, want)
			}
		})
	}
}

// longSet is a sequence set of n bytes or a little more.
func longSet(n int) string {
	var b strings.Builder
	for i := 1; b.Len() < n; i += 2 {
		fmt.Fprintf(&b, "%d,", i)
	}
	return b.String() + "1"
}

func TestMUTF7GuardAnswersTooLong(t *testing.T) {
	long := longSet(maxCommandLine)
	for _, tc := range []struct {
		name, in, library, reply string
		closed                   bool
	}{
		{"too long", "a UID FETCH " + long + " FLAGS\r\nb NOOP\r\n", "b NOOP\r\n", "a BAD [TOOBIG] Command line too long\r\n", false},
		{"just short enough", "a FETCH " + long[:maxCommandLine-len("a FETCH \r\n")-2] + "1\r\n", "a FETCH " + long[:maxCommandLine-len("a FETCH \r\n")-2] + "1\r\n", "", false},
		{"tag too long", strings.Repeat("t", maxCommandLine+1) + " NOOP\r\nb NOOP\r\n", "", "", true},
		{"after a literal left to the library", "a LOGIN {1}\r\nx " + long + "\r\n", "a LOGIN {1}\r\nx " + long + "\r\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &recordConn{chunkConn: chunkConn{chunks: split([]byte(tc.in), 1000)}}
			g := newMUTF7Guard(c, &guardBufs{}, nopRecorder{}, nil)
			got, err := io.ReadAll(g)
			if closed := errors.Is(err, net.ErrClosed); closed != tc.closed || err != nil && !closed {
				t.Fatalf("read error %v, want the connection closed: %v", err, tc.closed)
			}
			if string(got) != tc.library {
				t.Errorf("library read %q, want %q", truncate(string(got)), truncate(tc.library))
			}
			if c.wrote.String() != tc.reply {
				t.Errorf("replied %q, want %q", c.wrote.String(), tc.reply)
			}
		})
	}
}

// TestIMAPID sends ID (RFC 2971) before and after login, pipelined with
// other commands, to the embedded server and to Dovecot: each answers it
// with an untagged ID and OK, in order, and keeps the connection.
func TestIMAPID(t *testing.T) {
	run := func(t *testing.T, addr, login string) {
		r := newRaw(t, addr)
		r.until("* OK")
		untagged, st := r.command("i1", `ID ("name" "mailsim-test" "version" "1")`)
		if !strings.HasPrefix(st, "i1 OK") || len(untagged) != 1 || !strings.HasPrefix(untagged[0], "* ID ") {
			t.Fatalf("ID before login: %q %q", untagged, st)
		}
		if _, st := r.command("l", login); !strings.HasPrefix(st, "l OK") {
			t.Fatalf("login after ID: %s", st)
		}
		r.send("p1 NOOP\r\np2 ID NIL\r\np3 NOOP\r\n")
		var got []string
		for len(got) < 4 {
			l, ok := r.line()
			if !ok {
				t.Fatal("connection closed")
			}
			if strings.HasPrefix(l, "p") || strings.HasPrefix(l, "* ID ") {
				got = append(got, l[:strings.IndexByte(l, ' ')+3])
			}
		}
		if want := []string{"p1 OK", "* ID", "p2 OK", "p3 OK"}; strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("pipelined replies %q, want %q", got, want)
		}
	}
	t.Run("embedded", func(t *testing.T) {
		rec := newCountingRecorder()
		_, addrs := testServer(t, Options{Recorder: rec})
		run(t, addrs.IMAP, "LOGIN alice secret")
		if n := rec.count("imap ID ok"); n != 2 {
			t.Errorf("recorded %d ID commands, want 2", n)
		}
	})
	t.Run("dovecot", func(t *testing.T) {
		inst := dovecottest.Start(t, 1)
		run(t, inst.IMAP, "LOGIN "+inst.Username(1)+" "+inst.Password)
	})
}

// TestIMAPStartTLSGuarded checks STARTTLS as the guard answers it: the
// commands after it are guarded and metered like those over plain text,
// STARTTLS is announced only before TLS and refused after it (over IMAPS
// too) and after login, and plain text pipelined behind STARTTLS is taken
// for the TLS handshake, never for commands.
func TestIMAPStartTLSGuarded(t *testing.T) {
	cfg, err := SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rec := newCountingRecorder()
	s, addrs := testServer(t, Options{TLS: cfg, Recorder: rec})
	imaps, err := s.Listen(ListenConfig{IMAPS: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	capabilities := func(r *rawSession) string {
		t.Helper()
		caps, st := r.command("c", "CAPABILITY")
		if !strings.HasPrefix(st, "c OK ") || len(caps) != 1 {
			t.Fatalf("CAPABILITY: %q %s", caps, st)
		}
		return caps[0] + " "
	}

	plain := newRaw(t, addrs.IMAP)
	plain.until("* OK")
	if caps := capabilities(plain); !strings.Contains(caps, " STARTTLS ") {
		t.Errorf("plain text: %q lacks STARTTLS", caps)
	}

	r := rawStartTLS(t, addrs.IMAP, cfg)
	if caps := capabilities(r); strings.Contains(caps, "STARTTLS") || !strings.Contains(caps, " AUTH=PLAIN ") {
		t.Errorf("after STARTTLS: %q", caps)
	}
	if _, st := r.command("t", "STARTTLS"); !strings.HasPrefix(st, "t BAD ") {
		t.Errorf("STARTTLS twice: %s", st)
	}
	if _, st := r.command("l", "LOGIN alice secret"); !strings.HasPrefix(st, "l OK ") {
		t.Fatalf("login: %s", st)
	}
	if _, st := r.command("a", "SELECT INBOX"); !strings.HasPrefix(st, "a OK ") {
		t.Errorf("SELECT: %s", st)
	}
	if _, st := r.command("b", `SELECT "&Jjo"`); !strings.HasPrefix(st, "b NO [CANNOT] ") {
		t.Errorf("SELECT of an invalid name: %s", st)
	}
	for _, key := range []string{"imap STARTTLS ok", "imap STARTTLS bad", "imap LOGIN ok", "imap SELECT ok", "imap SELECT no"} {
		if n := rec.count(key); n != 1 {
			t.Errorf("%s recorded %d times, want 1", key, n)
		}
	}
	if d, _ := s.UserServiceTime("alice"); d <= 0 {
		t.Errorf("alice's commands after STARTTLS not attributed to her: service time %v", d)
	}

	loggedIn := rawIMAPLogin(t, addrs.IMAP)
	if _, st := loggedIn.command("t", "STARTTLS"); !strings.HasPrefix(st, "t BAD ") {
		t.Errorf("STARTTLS after login: %s", st)
	}

	c, err := tls.DialWithDialer(&net.Dialer{Timeout: testDeadline}, "tcp", imaps.IMAPS, clientTLS(cfg))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(testDeadline))
	t.Cleanup(func() { c.Close() })
	implicit := &rawSession{t: t, c: c, br: bufio.NewReader(c)}
	if greeting := implicit.until("* OK"); strings.Contains(greeting, "STARTTLS") {
		t.Errorf("IMAPS greeting announces STARTTLS: %q", greeting)
	}
	if caps := capabilities(implicit); strings.Contains(caps, "STARTTLS") {
		t.Errorf("IMAPS: %q", caps)
	}
	if _, st := implicit.command("t", "STARTTLS"); !strings.HasPrefix(st, "t BAD ") {
		t.Errorf("STARTTLS over IMAPS: %s", st)
	}

	injected := newRaw(t, addrs.IMAP)
	injected.until("* OK")
	injected.send("s STARTTLS\r\nx LOGIN alice secret\r\n")
	injected.until("s OK ")
	for {
		l, ok := injected.line()
		if !ok {
			break
		}
		if strings.HasPrefix(l, "x ") {
			t.Fatalf("plain text after STARTTLS answered: %q", l)
		}
	}
	if n := rec.count("imap LOGIN ok"); n != 2 {
		t.Errorf("LOGIN ok recorded %d times, want 2 (the injected one is not a command)", n)
	}
}
