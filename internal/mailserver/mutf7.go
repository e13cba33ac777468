package mailserver

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"
)

// The IMAP library decodes every mailbox argument from modified UTF-7
// (RFC 3501 5.1.3) before the server sees the command, and answers a name
// that does not decode with "NO [SERVERBUG] Internal server error"
// (imapserver/conn.go in go-imap v2.0.0-beta.8). mutf7Guard sits below the
// library, follows the client's command stream and replaces, in the
// mailbox positions of the commands that take one, a name that is not
// valid modified UTF-7 by invalidNameWire: valid modified UTF-7 for a name
// holding U+0000, which no mailbox can have (validMailboxName). The session
// answers such a name as Dovecot answers an invalid one (see
// invalidNameError); a LIST or LSUB pattern holding it matches nothing.
// The guard likewise keeps from the library the other arguments it
// answers SERVERBUG to (sequence sets, dates, unknown search keys: dropped
// so that it answers BAD), and answers ID, which the library lacks. It also
// answers STARTTLS and decrypts below itself (see answerStartTLS), so that
// it, and the command meter above it, follow the commands sent over TLS
// too. docs/compliance.md describes what the client sees.

// invalidNameWire is what a mailbox argument that is not valid modified
// UTF-7 becomes on its way to the library; it decodes to invalidNameMark.
const (
	invalidNameWire   = "&AAA-"
	invalidNameQuoted = `"` + invalidNameWire + `"`
	invalidNameMark   = "\x00"
)

// invalidNameError is the answer, Dovecot's, to a command naming a mailbox
// the guard marked as not valid modified UTF-7 (or one holding U+0000,
// which is not valid either); nil for other names.
func invalidNameError(names ...string) error {
	for _, n := range names {
		if strings.Contains(n, invalidNameMark) {
			return imapNo(imap.ResponseCodeCannot, "Mailbox name is not valid modified UTF-7")
		}
	}
	return nil
}

// maxBufferedLiteral is the library's limit on a literal it buffers (any
// but APPEND's message): a longer one is refused and its header dropped
// (imapserver/conn.go checkBufferedLiteral).
const maxBufferedLiteral = 4096

// maxGuardToken bounds a tag or a mailbox argument the guard holds: the
// library's own limit on a command line (maxCommandSize in
// imapserver/conn.go). A longer mailbox argument counts as invalid.
const maxGuardToken = 50 * 1024

var mutf7Base64 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// validMUTF7 reports whether the IMAP library accepts name as a mailbox
// argument: modified UTF-7 per RFC 3501 5.1.3 (printable US-ASCII, "&-"
// for "&", and "&" base64 of UTF-16 "-" for anything else, with no
// printable ASCII, no lone surrogate and no two such runs in a row), where
// raw UTF-8 is accepted too, as the library does.
func validMUTF7(name []byte) bool {
	if !utf8.Valid(name) {
		return false
	}
	afterRun := false // the previous item was a base64 run
	for i := 0; i < len(name); i++ {
		ch := name[i]
		if ch < 0x20 || ch == 0x7f {
			return false
		}
		if ch != '&' {
			afterRun = false
			continue
		}
		end := bytes.IndexByte(name[i+1:], '-')
		if end < 0 {
			return false
		}
		run := name[i+1 : i+1+end]
		i += end + 1
		if len(run) == 0 { // "&-"
			afterRun = false
			continue
		}
		if afterRun || !validBase64Run(run) {
			return false
		}
		afterRun = true
	}
	return true
}

// validBase64Run reports whether run (between "&" and "-") is modified
// base64 of UTF-16 holding no printable ASCII and no lone surrogate. Like
// the library it accepts nonzero bits after the last full byte.
func validBase64Run(run []byte) bool {
	if bytes.ContainsAny(run, "\r\n") { // base64 would skip them; the library refuses them
		return false
	}
	var buf [3]byte
	var odd, hi uint16
	haveOdd := false
	for len(run) > 0 {
		n := min(4, len(run))
		k, err := mutf7Base64.Decode(buf[:], run[:n])
		if err != nil {
			return false
		}
		run = run[n:]
		for _, b := range buf[:k] {
			if !haveOdd {
				odd, haveOdd = uint16(b), true
				continue
			}
			haveOdd = false
			u := odd<<8 | uint16(b)
			switch {
			case hi != 0:
				if u < 0xdc00 || u > 0xdfff {
					return false
				}
				hi = 0
			case utf16.IsSurrogate(rune(u)):
				if u > 0xdbff { // a low surrogate first
					return false
				}
				hi = u
			case u >= 0x20 && u <= 0x7e:
				return false
			}
		}
	}
	return !haveOdd && hi == 0
}

// argKind is an argument of a command whose mailbox names the guard
// checks.
type argKind uint8

const (
	argMailbox  argKind = iota + 1 // a mailbox name (astring)
	argPattern                     // a LIST or LSUB pattern (list-mailbox)
	argPatterns                    // a pattern or a parenthesized list of them (RFC 5258)
	argSelOpts                     // LIST's optional parenthesized selection options, APPEND's flags
	argDateTime                    // APPEND's optional date-time
	argSearch                      // SEARCH's arguments (see searchKey)
	argSeqSet                      // a sequence set (FETCH, STORE, COPY, MOVE, UID EXPUNGE)
)

// mailboxArgs lists, per command, its arguments up to the last mailbox
// name or sequence set; the rest of the command is passed on as it is.
var mailboxArgs = map[string][]argKind{
	"SELECT": {argMailbox}, "EXAMINE": {argMailbox}, "CREATE": {argMailbox}, "DELETE": {argMailbox},
	"SUBSCRIBE": {argMailbox}, "UNSUBSCRIBE": {argMailbox}, "STATUS": {argMailbox}, "APPEND": {argMailbox, argSelOpts, argDateTime},
	"RENAME": {argMailbox, argMailbox},
	"COPY":   {argSeqSet, argMailbox}, "MOVE": {argSeqSet, argMailbox},
	"UID COPY": {argSeqSet, argMailbox}, "UID MOVE": {argSeqSet, argMailbox},
	"FETCH": {argSeqSet}, "UID FETCH": {argSeqSet}, "STORE": {argSeqSet}, "UID STORE": {argSeqSet},
	"UID EXPUNGE": {argSeqSet},
	"SEARCH":      {argSearch}, "UID SEARCH": {argSearch},
	"LSUB": {argMailbox, argPattern},
	"LIST": {argSelOpts, argMailbox, argPatterns},
}

// searchArg is what a SEARCH key's argument is.
type searchArg uint8

const (
	sAny    searchArg = iota // a string, flag or number: passed on
	sDate                    // a date: dropped if the library cannot parse it
	sSeqSet                  // a sequence set: dropped if the library cannot parse it
	sList                    // RETURN's parenthesized options
)

// searchKey is a search key the library knows (imapserver/search.go) and
// the arguments it takes; NOT's and OR's are keys, which follow as keys.
type searchKey struct {
	args int
	kind searchArg
}

var searchKeys = map[string]searchKey{
	"ALL": {}, "ANSWERED": {}, "DELETED": {}, "DRAFT": {}, "FLAGGED": {}, "RECENT": {}, "SEEN": {},
	"UNANSWERED": {}, "UNDELETED": {}, "UNDRAFT": {}, "UNFLAGGED": {}, "UNSEEN": {}, "NEW": {}, "OLD": {},
	"NOT": {}, "OR": {}, "$": {},
	"KEYWORD": {1, sAny}, "UNKEYWORD": {1, sAny}, "LARGER": {1, sAny}, "SMALLER": {1, sAny},
	"BCC": {1, sAny}, "CC": {1, sAny}, "FROM": {1, sAny}, "SUBJECT": {1, sAny}, "TO": {1, sAny},
	"BODY": {1, sAny}, "TEXT": {1, sAny}, "HEADER": {2, sAny},
	"SINCE": {1, sDate}, "BEFORE": {1, sDate}, "ON": {1, sDate},
	"SENTSINCE": {1, sDate}, "SENTBEFORE": {1, sDate}, "SENTON": {1, sDate},
	"UID": {1, sSeqSet},
}

// dateLayout is RFC 3501's date, as the library parses SEARCH's.
const dateLayout = "2-Jan-2006"

// guardState is where in the client's stream the guard is.
type guardState uint8

const (
	gTag             guardState = iota // in the tag, at a command's start
	gName                              // in the command name
	gArgSP                             // expecting the SP before an argument
	gArgStart                          // at an argument's first byte
	gQuoted                            // in a quoted mailbox argument
	gQuotedEsc                         // after its backslash
	gAtom                              // in an atom mailbox argument
	gSeq                               // in a sequence set
	gLitHdr                            // in a mailbox argument's literal header
	gLitTok                            // in a mailbox argument's literal data
	gAfterArg                          // just after an argument
	gRest                              // in the rest of the command: only its framing is followed
	gRestQuoted                        // in a quoted string there
	gRestQuotedEsc                     // after its backslash
	gLitSkip                           // in literal data passed on as it is
	gSearch                            // between SEARCH's arguments
	gSearchAtom                        // in an atom there
	gSearchQuoted                      // in a quoted string there
	gSearchQuotedEsc                   // after its backslash
	gSearchLit                         // in a literal header there
	gCont                              // in continuation lines (IDLE, AUTHENTICATE)
	gDiscard                           // in a command line too long for the library, dropped
)

// litHeader follows "{n}", "{n+}" (and the optional SP and CR before LF
// the library accepts) at the end of a line.
type litHeader struct {
	st uint8 // 0 none, 1 after '{', 2 digits, 3 after '+', 4 after '}', 5 after SP, 6 after CR
	n  int64
}

func (h *litHeader) feed(b byte) {
	switch {
	case b == '{':
		h.st, h.n = 1, 0
	case b >= '0' && b <= '9' && (h.st == 1 || h.st == 2):
		if h.n > 1<<40 {
			h.st = 0
			return
		}
		h.st, h.n = 2, h.n*10+int64(b-'0')
	case b == '+' && h.st == 2:
		h.st = 3
	case b == '}' && (h.st == 2 || h.st == 3):
		h.st = 4
	case b == ' ' && h.st == 4:
		h.st = 5
	case b == '\r' && (h.st == 4 || h.st == 5):
		h.st = 6
	default:
		h.st = 0
	}
}

// complete reports whether a LF now would end a literal header.
func (h *litHeader) complete() bool { return h.st >= 4 }

// replyWatch watches the server's replies for the tagged one of the
// command the guard is in: the library has then read the command up to a
// line end (it discards the rest of a line it cannot parse), whatever the
// guard made of it; and whether a login succeeded. Guarded by mu: Idle
// writes from a second goroutine.
type replyWatch struct {
	mu        sync.Mutex
	tag       []byte
	login     bool // the command is LOGIN or AUTHENTICATE
	responded bool // its tagged reply was written
	loggedIn  bool // a LOGIN or AUTHENTICATE was answered OK
	head      []byte
	skip      bool // in the rest of a line whose head was checked
}

// saw scans bytes the server writes.
func (w *replyWatch) saw(p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	need := len(w.tag) + 5 // tag SP "BAD" SP
	for len(p) > 0 {
		if w.skip {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return
			}
			p, w.skip = p[i+1:], false
			continue
		}
		i := bytes.IndexByte(p, '\n')
		line := p
		if i >= 0 {
			line = p[:i+1]
		}
		take := min(len(line), need-len(w.head))
		w.head = append(w.head, line[:take]...)
		p = p[take:]
		ended := take > 0 && w.head[len(w.head)-1] == '\n'
		if len(w.head) < need && !ended {
			return
		}
		w.check()
		w.head, w.skip = w.head[:0], !ended
	}
}

func (w *replyWatch) check() {
	if len(w.tag) == 0 || !bytes.HasPrefix(w.head, w.tag) || len(w.head) < len(w.tag)+4 || w.head[len(w.tag)] != ' ' {
		return
	}
	rest := w.head[len(w.tag)+1:]
	ok := bytes.HasPrefix(rest, []byte("OK "))
	if ok || bytes.HasPrefix(rest, []byte("NO ")) || bytes.HasPrefix(rest, []byte("BAD")) {
		w.responded = true
		w.loggedIn = w.loggedIn || (ok && w.login)
	}
}

// mutf7Guard is the connection the IMAP library reads from: it passes the
// client's bytes on, but replaces a mailbox argument that is not valid
// modified UTF-7 by invalidNameWire (see the top of this file). It follows
// the stream as the library parses it: tag, command, the arguments of the
// commands in mailboxArgs, quoted strings, literals (passed on byte for
// byte; only a mailbox argument's literal, at most maxBufferedLiteral
// bytes, is held), IDLE's and AUTHENTICATE's continuation lines; it hands
// the library at most one line per Read and, when the library has answered
// the command, starts over at the next line, so that a command the library
// rejected half-way cannot desynchronize the two; a command the client
// leaves unfinished ends the connection (see fail). LOGIN, AUTHENTICATE,
// SEARCH and message literals are never changed. It answers STARTTLS
// itself and reads and writes through TLS after it (answerStartTLS).
type mutf7Guard struct {
	// tlsSwitch is the connection below (Conn), encrypted after STARTTLS
	// (conn); its conf is the server's TLS configuration for STARTTLS,
	// nil: the library answers STARTTLS (NO, for it has none either).
	tlsSwitch
	watch replyWatch

	bufs   *guardBufs
	rec    Recorder
	in     []byte // read from the connection; in[r:w] not yet processed
	r, w   int
	out    []byte // for the library; out[o:] not yet handed over
	o      int
	avail  int  // out[:avail] may be handed on: up to a line end or literal data
	closed bool // by fail
	cr     bool // the last byte was a CR

	lineOut   int  // bytes of the command handed or to hand on, literals aside
	cmdHanded bool // some of the command was handed on already
	tagDone   bool // the command's tag was read (and published to watch)

	unanswered bool // the library was handed bytes it has not answered yet
	err        error
	state      guardState
	tagLen     int

	name      [16]byte // upper-cased command name
	nameLen   int
	args      []argKind
	argi      int
	cmd       string // the command if it matters: "APPEND", "IDLE", "AUTHENTICATE", "ID", "STARTTLS"
	cmdStart  int    // where in out the command's line starts
	spSeen    bool   // the SP before the argument was a space (not before '(')
	inList    bool   // in LIST's parenthesized pattern list
	depth     int    // parentheses open in the rest of the command
	selOpts   bool   // that rest is an argSelOpts list
	lit       litHeader
	litLeft   int64
	litReturn guardState // the state after literal data passed on

	// SEARCH: the arguments the last key still takes, what they are, and
	// whether RETURN or CHARSET may still come.
	sPend   int
	sKind   searchArg
	sStart  bool
	sHold   bool   // the quoted argument is held (a date)
	sList   int    // parentheses open in RETURN's options
	tok     []byte // the mailbox argument held
	tokLong bool   // it outgrew maxGuardToken (so it is invalid)
	val     []byte // scratch: a quoted argument unescaped
}

// newMUTF7Guard guards c; bufs lends it its buffers while bytes are on
// their way, so that an idle connection holds none; rec records the ID
// and STARTTLS commands it answers; tlsConf is the server's TLS
// configuration for STARTTLS (nil for none). A c that is a *tls.Conn is
// taken for encrypted already.
func newMUTF7Guard(c net.Conn, bufs *guardBufs, rec Recorder, tlsConf *tls.Config) *mutf7Guard {
	g := &mutf7Guard{bufs: bufs, rec: rec}
	g.tlsSwitch.init(c, tlsConf)
	return g
}

// guardBufs lends the guards of a listener their input and output
// buffers.
type guardBufs struct{ pool sync.Pool }

// guardBufSize is the size of a lent buffer; a longer output line grows
// its buffer, which goes back to the pool up to maxGuardBuf.
const (
	guardBufSize = 4096
	maxGuardBuf  = 64 << 10
)

func (b *guardBufs) get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return make([]byte, 0, guardBufSize)
}

func (b *guardBufs) put(buf []byte) {
	if cap(buf) >= guardBufSize && cap(buf) <= maxGuardBuf {
		buf = buf[:0]
		b.pool.Put(&buf)
	}
}

// Write implements net.Conn, watching for the tagged reply. On an
// encrypted connection it drops STARTTLS from the capabilities the library
// announces (withoutStartTLS).
func (g *mutf7Guard) Write(p []byte) (int, error) {
	g.watch.saw(p)
	q := p
	if g.secure.Load() {
		q = withoutStartTLS(p)
	}
	n, err := g.conn().Write(q)
	if err == nil && len(q) != len(p) {
		n = len(p)
	}
	return min(n, len(p)), err
}

// Read implements net.Conn. It hands on whole lines (and literal data as
// it comes): the library cannot answer a command before its line end
// anyway, and a partial line the client never finished is dropped rather
// than answered (the library would read it to the connection's end and
// answer SERVERBUG).
func (g *mutf7Guard) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if len(g.out) >= maxGuardBuf {
			g.avail = len(g.out) // a long continuation line: handed on in pieces
		}
		if g.o < g.avail {
			n := copy(p, g.out[g.o:g.avail])
			g.o += n
			if g.inCommand() && g.avail > g.cmdStart {
				g.cmdHanded = true
			}
			g.unanswered = true
			if g.o == len(g.out) {
				g.out, g.o, g.avail = g.out[:0], 0, 0
			}
			return n, nil
		}
		if g.o == len(g.out) {
			g.sync()
		}
		if g.r == g.w {
			if g.err != nil {
				return 0, g.fail()
			}
			if len(g.out) == 0 && g.state == gLitSkip && g.litLeft > 0 {
				// Nothing to look at: straight into p.
				q := p
				if int64(len(q)) > g.litLeft {
					q = q[:g.litLeft]
				}
				n, err := g.conn().Read(q)
				g.litLeft -= int64(n)
				if g.litLeft == 0 {
					g.state = g.litReturn
				}
				if g.err = err; n > 0 {
					g.unanswered = true
					return n, nil
				}
				continue
			}
			// Wait for bytes in p, holding no buffer meanwhile.
			if g.in != nil {
				g.bufs.put(g.in)
				g.in = nil
			}
			if len(g.out) == 0 && g.out != nil {
				g.bufs.put(g.out)
				g.out = nil
			}
			n, err := g.conn().Read(p[:min(len(p), guardBufSize)])
			if n > 0 {
				g.in = append(g.bufs.get(), p[:n]...)
				if g.out == nil {
					g.out = g.bufs.get()
				}
			}
			g.r, g.w, g.err = 0, n, err
			continue
		}
		g.process()
	}
}

// fail ends the guard's reading with the connection's read error. If the
// client stopped in the middle of a command (it closed the connection, or
// the read deadline passed) or the library has not answered all it was
// handed (it may be reading on in a string the guard took as ended), the
// guard closes the connection: the library, finding the command cut, would
// answer SERVERBUG.
func (g *mutf7Guard) fail() error {
	mid := g.unanswered || len(g.out) > 0 || len(g.tok) > 0 || g.state != gTag || g.tagLen > 0
	g.out, g.o, g.tok = g.out[:0], 0, g.tok[:0]
	if mid && !g.closed {
		g.closed = true
		shutSocket(g.Conn)
	}
	return g.err
}

// sync starts over at a command's start once the library answered the
// command.
func (g *mutf7Guard) sync() {
	g.watch.mu.Lock()
	defer g.watch.mu.Unlock()
	if g.watch.responded {
		g.watch.responded = false
		g.unanswered = false
		g.startCommand()
	}
}

// startCommand resets the parse to a command's start.
func (g *mutf7Guard) startCommand() {
	g.state, g.tagLen, g.nameLen, g.args, g.argi, g.cmd = gTag, 0, 0, nil, 0, ""
	g.spSeen, g.inList, g.depth, g.selOpts, g.lit, g.litLeft = false, false, 0, false, litHeader{}, 0
	g.tok, g.tokLong = g.tok[:0], false
	g.sPend, g.sKind, g.sStart, g.sHold, g.sList, g.litReturn = 0, sAny, false, false, 0, gRest
	g.lineOut, g.cmdHanded, g.tagDone = 0, false, false
}

// process runs the unprocessed input through the parse, up to and
// including the next line end outside literal data, and marks how much of
// out is ready to hand on.
func (g *mutf7Guard) process() {
	for g.r < g.w {
		switch g.state {
		case gLitSkip, gLitTok:
			n := int(min(g.litLeft, int64(g.w-g.r)))
			if g.state == gLitSkip {
				g.out = append(g.out, g.in[g.r:g.r+n]...)
				g.avail = len(g.out)
			} else {
				g.tok = append(g.tok, g.in[g.r:g.r+n]...)
			}
			g.r += n
			g.litLeft -= int64(n)
			if g.litLeft == 0 {
				if g.state == gLitSkip {
					g.state = g.litReturn
				} else {
					g.endLiteralToken()
				}
			}
			continue
		case gRest:
			if g.cr {
				break
			}
			// Bytes that matter neither to quoting, parentheses nor
			// literal headers, in bulk.
			j := g.r
			for j < g.w && restPlain[g.in[j]] {
				j++
			}
			if j > g.r {
				g.out = append(g.out, g.in[g.r:j]...)
				g.lineOut += j - g.r
				g.r, g.lit = j, litHeader{}
				g.checkLength(0)
				continue
			}
		}
		b := g.in[g.r]
		g.r++
		if g.cr && b != '\n' {
			g.bareCR()
		}
		g.cr = b == '\r' && g.state != gCont && g.state != gDiscard
		if b == '\n' { // the line's end, counted before the parse starts the next command
			g.checkLength(1)
		}
		before := len(g.out)
		g.step(b)
		g.lineOut += len(g.out) - before
		g.checkLength(0)
		if b == '\n' {
			g.avail = len(g.out)
			return
		}
	}
}

// restPlain marks the bytes gRest only passes on (and that end a literal
// header in the making).
var restPlain = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, b := range []byte("\"()\n{}+ \r0123456789") {
		t[b] = false
	}
	return t
}()

// step feeds one byte to the parse.
func (g *mutf7Guard) step(b byte) {
	switch g.state {
	case gTag:
		if g.tagLen < maxGuardToken && imapAtomChar(b) {
			if g.tagLen == 0 {
				g.cmdStart = len(g.out)
			}
			g.tagLen++
			g.tok = append(g.tok, b)
			g.out = append(g.out, b)
			return
		}
		if b != ' ' || g.tagLen == 0 {
			g.tok = g.tok[:0]
			g.rest(b)
			return
		}
		g.watch.mu.Lock()
		g.watch.tag = append(g.watch.tag[:0], g.tok...)
		g.watch.login = false
		g.watch.mu.Unlock()
		g.tagDone = true
		g.tok = g.tok[:0]
		g.out = append(g.out, b)
		g.state = gName
	case gName:
		if imapAtomChar(b) {
			if g.nameLen < len(g.name) {
				g.name[g.nameLen] = upperASCII(b)
			}
			g.nameLen++
			g.out = append(g.out, b)
			return
		}
		name := g.name[:min(g.nameLen, len(g.name))]
		if g.nameLen > len(g.name) {
			name = nil
		}
		if b == ' ' && string(name) == "UID" {
			g.name[g.nameLen] = ' '
			g.nameLen++
			g.out = append(g.out, b)
			return
		}
		g.args = mailboxArgs[string(name)]
		switch string(name) {
		case "APPEND", "IDLE", "AUTHENTICATE", "ID":
			g.cmd = string(name)
		case "STARTTLS":
			if g.conf != nil {
				g.cmd = string(name)
			}
		}
		if string(name) == "LOGIN" || string(name) == "AUTHENTICATE" {
			g.watch.mu.Lock()
			g.watch.login = true
			g.watch.mu.Unlock()
		}
		if g.args == nil {
			g.rest(b)
			return
		}
		g.state = gArgSP
		g.step(b)
	case gArgSP:
		switch b {
		case ' ':
			g.out = append(g.out, b)
			g.state, g.spSeen = gArgStart, true
		case '(':
			g.state, g.spSeen = gArgStart, false
			g.step(b)
		default:
			g.rest(b)
		}
	case gArgStart:
		g.argStart(b)
	case gQuoted:
		switch b {
		case '"':
			g.tok = append(g.tok, b)
			g.endToken(true)
		case '\n': // invalid in a name; the library would read on, the guard ends the line
			g.tok, g.tokLong = g.tok[:0], false
			g.invalidToken()
			g.out = append(g.out, "\r\n"...)
			g.endLine()
		case '\\':
			g.holdByte(b)
			g.state = gQuotedEsc
		default:
			g.holdByte(b)
		}
	case gQuotedEsc:
		if b == '\n' {
			g.state = gQuoted
			g.step(b)
			return
		}
		g.holdByte(b)
		g.state = gQuoted
	case gAtom:
		if g.tokChar(b) {
			g.holdByte(b)
			return
		}
		g.endToken(false)
		g.step(b)
	case gSeq:
		if b == '*' || imapAtomChar(b) {
			g.holdByte(b)
			return
		}
		if g.tokLong || !validSeqSet(g.tok) {
			g.tok = g.tok[:0] // no sequence set: the library answers BAD
		}
		g.out = append(g.out, g.tok...)
		g.tok, g.tokLong = g.tok[:0], false
		g.afterArg(b)
	case gLitHdr:
		g.tok = append(g.tok, b)
		if b == '\n' {
			if g.lit.complete() {
				g.endLiteralHeader()
				return
			}
			g.badLiteralHeader()
			g.out = append(g.out, '\n')
			g.endLine()
			return
		}
		if g.lit.feed(b); g.lit.st != 0 {
			return
		}
		g.badLiteralHeader()
		g.rest(b)
	case gAfterArg:
		g.afterArg(b)
	case gRest:
		g.out = append(g.out, b)
		switch b {
		case '\n':
			if g.lit.complete() && g.cmd == "ID" {
				g.cmd = "" // the library answers an ID with literals (BAD)
			}
			if g.lit.complete() && (g.lit.n <= maxBufferedLiteral || g.cmd == "APPEND") {
				g.state, g.litLeft, g.lit, g.litReturn = gLitSkip, g.lit.n, litHeader{}, gRest
				return
			}
			if g.lit.complete() { // the library drops the header and reads on
				g.lit = litHeader{}
				return
			}
			switch {
			case g.cmd == "ID" && !g.cmdHanded:
				g.answerID()
			case g.cmd == "STARTTLS" && !g.cmdHanded:
				g.answerStartTLS()
			}
			g.endLine()
			return
		case '"':
			g.state = gRestQuoted
		case '(':
			g.depth++
		case ')':
			if g.depth > 0 {
				g.depth--
			}
			if g.selOpts && g.depth == 0 {
				g.selOpts = false
				g.argi++
				g.state = gArgSP
			}
		}
		g.lit.feed(b)
	case gRestQuoted, gRestQuotedEsc:
		g.out = append(g.out, b)
		if b == '\n' {
			g.endLine()
			return
		}
		g.state = quoteNext(b, g.state, gRestQuoted, gRestQuotedEsc, gRest)
	case gSearch:
		g.searchStep(b)
	case gSearchAtom:
		if searchTokChar(b) {
			g.holdByte(b)
			return
		}
		g.searchToken(g.tok)
		g.state = gSearch
		g.step(b)
	case gSearchQuoted, gSearchQuotedEsc:
		switch {
		case b == '\n':
			if g.sHold { // not a date; the line ends here for the guard
				g.tok = g.tok[:0]
				g.out = append(g.out, '\r')
			}
			g.out = append(g.out, b)
			g.endLine()
			return
		case g.sHold:
			g.holdByte(b)
		default:
			g.out = append(g.out, b)
		}
		if g.state = quoteNext(b, g.state, gSearchQuoted, gSearchQuotedEsc, gSearch); g.state == gSearch {
			if g.sHold {
				g.sHold = false
				g.searchToken(unquoteIMAP(g.tok[1:len(g.tok)-1], &g.val))
			} else {
				g.searchToken(nil)
			}
		}
	case gSearchLit:
		if b == '\n' {
			if !g.lit.complete() {
				g.badSearchLiteral()
				g.out = append(g.out, b)
				g.endLine()
				g.lit = litHeader{}
				return
			}
			g.out = append(g.out, g.tok...)
			g.tok = g.tok[:0]
			g.out = append(g.out, b)
			switch {
			case g.lit.n <= maxBufferedLiteral:
				g.searchToken(nil) // passed on unchecked
				g.state, g.litLeft, g.litReturn = gLitSkip, g.lit.n, gSearch
			default: // the library drops the header and reads on
				g.state = gSearch
			}
			g.lit = litHeader{}
			return
		}
		if g.lit.feed(b); g.lit.st == 0 {
			g.badSearchLiteral()
			g.rest(b)
			return
		}
		g.holdByte(b)
	case gCont:
		g.out = append(g.out, b)
	case gDiscard:
		if b == '\n' {
			g.answerTooLong()
		}
	}
}

// maxCommandLine is the most a command may have outside its literals: with
// one byte more the library's decoder fails (maxCommandSize in
// imapserver/conn.go, counted by imapwire's readByte) and it answers
// SERVERBUG. TestIMAPInvalidMailboxNames checks the boundary.
const maxCommandLine = maxGuardToken + 2

// inCommand reports whether the guard is inside a command (not at a
// command's start or in continuation lines).
func (g *mutf7Guard) inCommand() bool {
	switch g.state {
	case gCont:
		return false
	case gTag:
		return g.tagLen > 0
	}
	return true
}

// checkLength drops a command whose line (with more bytes to come)
// outgrows maxCommandLine before any of it was handed on: the guard answers it BAD itself (answerTooLong) as
// the library would answer SERVERBUG.
func (g *mutf7Guard) checkLength(more int) {
	if g.lineOut+len(g.tok)+more <= maxCommandLine || g.cmdHanded || !g.inCommand() || g.state == gLitSkip || g.state == gLitTok || g.state == gDiscard {
		return
	}
	g.out = g.out[:g.cmdStart]
	g.tok, g.tokLong = g.tok[:0], false
	g.state = gDiscard
}

// answerTooLong answers a command dropped by checkLength, at its line's
// end, as answerID answers (between the library's commands): BAD, or, if
// even its tag was too long, by closing the connection as the library does.
func (g *mutf7Guard) answerTooLong() {
	if !g.tagDone {
		g.closed = true
		shutSocket(g.Conn)
		g.r, g.w, g.err = 0, 0, net.ErrClosed
		g.endLine()
		return
	}
	start := time.Now()
	g.watch.mu.Lock()
	tag := string(g.watch.tag)
	g.watch.mu.Unlock()
	name := normaliseCommand(string(g.name[:min(g.nameLen, len(g.name))]), imapCommands)
	g.answer(name, tag+" BAD [TOOBIG] Command line too long\r\n", OutcomeBad, start)
	g.cmd = ""
	g.endLine()
}

// quoteNext returns the state after b in a quoted string whose states are
// in and esc (after a backslash); closed is the state once it ends.
func quoteNext(b byte, state, in, esc, closed guardState) guardState {
	switch {
	case state == esc:
		return in
	case b == '\\':
		return esc
	case b == '"':
		return closed
	}
	return in
}

// searchStep follows SEARCH's arguments between tokens.
func (g *mutf7Guard) searchStep(b byte) {
	if g.sList > 0 { // in RETURN's options
		g.out = append(g.out, b)
		switch b {
		case '(':
			g.sList++
		case ')':
			if g.sList--; g.sList == 0 {
				g.searchToken(nil)
			}
		case '\n':
			g.endLine()
		}
		return
	}
	switch {
	case b == ' ':
		g.out = append(g.out, b)
	case b == '(' && g.sPend > 0 && g.sKind == sList:
		g.out = append(g.out, b)
		g.sList = 1
	case b == '(' || b == ')':
		g.out = append(g.out, b)
	case b == '"':
		g.state, g.sHold = gSearchQuoted, g.sPend > 0 && g.sKind == sDate
		if g.sHold {
			g.tok, g.tokLong = append(g.tok[:0], b), false
		} else {
			g.out = append(g.out, b)
		}
	case b == '{': // the header is held until it is whole (badSearchLiteral)
		g.lit = litHeader{}
		g.lit.feed(b)
		g.tok, g.tokLong = append(g.tok[:0], b), false
		g.state = gSearchLit
	case searchTokChar(b):
		g.tok, g.tokLong = append(g.tok[:0], b), false
		g.state = gSearchAtom
	default:
		g.rest(b)
	}
}

// searchTokChar reports whether b continues a SEARCH atom as the guard
// reads it (more than the library does: what it does not take fails).
func searchTokChar(b byte) bool {
	switch b {
	case ' ', '(', ')', '"', '{', '\r', '\n':
		return false
	}
	return true
}

// searchToken ends a SEARCH argument: tok is an atom or a date held, nil
// for one already passed on. An argument the library cannot parse (a
// date, a sequence set), which it would answer SERVERBUG, and a key it
// does not know become ")": the library then answers BAD. (Dropping the
// argument would leave the library the next token in its place: the `""`
// of `SINCE 0""`, a date it answers SERVERBUG to.)
func (g *mutf7Guard) searchToken(tok []byte) {
	defer func() { g.tok, g.tokLong = g.tok[:0], false }()
	if g.sPend > 0 {
		g.sPend--
		valid := true
		switch {
		case tok == nil:
		case g.sKind == sDate:
			_, err := time.Parse(dateLayout, string(tok))
			valid = err == nil
		case g.sKind == sSeqSet:
			valid = string(tok) == "$" || validSeqSet(tok)
		}
		switch {
		case tok == nil:
		case valid && !g.tokLong:
			g.out = append(g.out, g.tok...) // a held date keeps its quotes
		default:
			g.out = append(g.out, ')')
		}
		return
	}
	if tok == nil { // a quoted or literal key: the library answers BAD
		g.sStart = false
		return
	}
	var name [12]byte
	n := copy(name[:], tok)
	for i := range name[:n] {
		name[i] = upperASCII(name[i])
	}
	key, known := searchKeys[string(name[:n])]
	known = known && n == len(tok)
	switch {
	case g.sStart && string(name[:n]) == "RETURN" && n == len(tok):
		key, known = searchKey{1, sList}, true
	case g.sStart && string(name[:n]) == "CHARSET" && n == len(tok):
		key, known = searchKey{1, sAny}, true
		g.sStart = false
	default:
		g.sStart = false
	}
	if known || validSeqSet(tok) {
		g.out = append(g.out, tok...)
		g.sPend, g.sKind = key.args, key.kind
		return
	}
	g.out = append(g.out, ')') // no key: dropped, a search could widen
}

// idWriteTimeout bounds the writing of the answer to ID, as the library
// bounds its own writes (respWriteTimeout in imapserver/conn.go).
const idWriteTimeout = 30 * time.Second

// answerID answers the ID command (RFC 2971) held in out[cmdStart:], which
// the IMAP library lacks and, before login, would answer by closing the
// connection: "* ID NIL" and OK, or BAD for parameters that are neither
// NIL nor a list. The library is then waiting in Read for the next
// command, having written every reply to the commands before, and nothing
// else writes (no IDLE is running): the answer cannot interleave with its
// writes. The command is recorded as the meter would.
func (g *mutf7Guard) answerID() {
	start := time.Now()
	g.watch.mu.Lock()
	tag := string(g.watch.tag)
	g.watch.mu.Unlock()
	params := bytes.TrimRight(g.out[min(len(g.out), g.cmdStart+len(tag)+len(" ID ")):], "\r\n")
	g.out = g.out[:g.cmdStart]
	reply, outcome := "* ID NIL\r\n"+tag+" OK ID completed\r\n", OutcomeOK
	if !bytes.EqualFold(params, []byte("NIL")) && !(len(params) >= 2 && params[0] == '(' && params[len(params)-1] == ')') {
		reply, outcome = tag+" BAD [CLIENTBUG] ID needs NIL or a parameter list\r\n", OutcomeBad
	}
	g.answer("ID", reply, outcome, start)
}

// answer writes reply, the guard's own answer to the command name begun at
// start, within idWriteTimeout, and records the command with outcome, or
// OutcomeError if the write failed, which it returns.
func (g *mutf7Guard) answer(name, reply, outcome string, start time.Time) string {
	g.Conn.SetWriteDeadline(time.Now().Add(idWriteTimeout))
	_, err := g.conn().Write([]byte(reply))
	g.Conn.SetWriteDeadline(time.Time{})
	if err != nil {
		outcome = OutcomeError
	}
	g.rec.Command(ProtoIMAP, name, outcome, time.Since(start))
	return outcome
}

// answerStartTLS answers the STARTTLS command held in out[cmdStart:] (the
// guard sees it only if it has a TLS configuration) as the library would,
// but starts TLS below itself rather than let the library start it above:
// the library would wrap the guard in TLS and the guard, and the command
// meter above it, would see only encrypted bytes. It answers as answerID
// does, between the library's commands: OK, then the guard reads and writes
// through TLS (tlsSwitch.start); BAD if the connection is
// encrypted already (IMAPS, or a STARTTLS before) or logged in (RFC 3501
// 6.2.1); and hands the command to the library, which answers BAD, if it
// has arguments. Bytes the client sent after the command line are the
// start of its TLS handshake, never commands. The command is recorded as
// the meter would.
func (g *mutf7Guard) answerStartTLS() {
	start := time.Now()
	g.watch.mu.Lock()
	tag := string(g.watch.tag)
	loggedIn := g.watch.loggedIn
	g.watch.mu.Unlock()
	args := bytes.TrimRight(g.out[min(len(g.out), g.cmdStart+len(tag)+len(" STARTTLS")):], "\r\n")
	if len(args) > 1 || len(args) == 1 && args[0] != ' ' { // the library takes one SP before CRLF
		return
	}
	g.out = g.out[:g.cmdStart]
	reply, outcome := tag+" OK Begin TLS negotiation now\r\n", OutcomeOK
	if g.secure.Load() || loggedIn {
		reply, outcome = tag+" BAD STARTTLS not available\r\n", OutcomeBad
	}
	if g.answer("STARTTLS", reply, outcome, start) != OutcomeOK {
		return
	}
	g.start(g.in[g.r:g.w])
	g.r = g.w
}

// withoutStartTLS returns p without STARTTLS in the capability list it
// holds, if it is one the library writes ("* CAPABILITY ..." or the
// greeting's "* OK [CAPABILITY ...]"), p itself otherwise. The library
// announces STARTTLS on any connection not logged in that it takes for
// plain text, and the connections the guard encrypts are plain text to
// it. It writes every response line with one Write (each ends in a
// flush), so a list is never split between two.
func withoutStartTLS(p []byte) []byte {
	var start int // where the list starts in p, at the SP before its first name
	switch {
	case bytes.HasPrefix(p, []byte("* CAPABILITY ")):
		start = len("* CAPABILITY")
	case bytes.HasPrefix(p, []byte("* OK [CAPABILITY ")):
		start = len("* OK [CAPABILITY")
	default:
		return p
	}
	const name = " STARTTLS"
	for i := start; i+len(name) < len(p) && p[i] != ']' && p[i] != '\r' && p[i] != '\n'; i++ {
		if !bytes.HasPrefix(p[i:], []byte(name)) {
			continue
		}
		if end := p[i+len(name)]; end == ' ' || end == ']' || end == '\r' {
			q := make([]byte, 0, len(p)-len(name))
			q = append(q, p[:i]...)
			return append(q, p[i+len(name):]...)
		}
	}
	return p
}

// bareCR ends the command at a CR that no LF follows: the library, when
// it rejects a command, discards its line up to a CR or LF and reads the
// next command after it (imapwire's DiscardLine). Treating the CR so in
// any case errs only on the side of replacing more names.
func (g *mutf7Guard) bareCR() {
	switch g.state {
	case gQuoted, gQuotedEsc, gLitHdr: // the CR is held; the argument is not valid
		g.invalidToken()
		g.out = append(g.out, '\r')
		g.tok = g.tok[:0]
	case gSearchQuoted, gSearchQuotedEsc:
		if g.sHold { // a date held: not valid
			g.out = append(g.out, '\r')
			g.tok = g.tok[:0]
		}
	case gSearchLit: // a literal header held, cut by the CR
		g.badSearchLiteral()
		g.out = append(g.out, '\r')
	}
	g.endLine()
}

// badSearchLiteral stands in for a SEARCH argument's literal header, held,
// that is malformed: the library, failing to read it, answers SERVERBUG;
// ")" in its place (as for a key the library does not know) makes it
// answer BAD, never a search for what follows.
func (g *mutf7Guard) badSearchLiteral() {
	g.tok, g.tokLong = g.tok[:0], false
	g.out = append(g.out, ')')
}

// rest passes b and what follows to the line's end on, following only
// quoted strings and literals.
func (g *mutf7Guard) rest(b byte) {
	g.state, g.lit = gRest, litHeader{}
	g.step(b)
}

// endLine ends a command at a line end.
func (g *mutf7Guard) endLine() {
	cont := g.cmd == "IDLE" || g.cmd == "AUTHENTICATE"
	g.startCommand()
	if cont {
		g.state = gCont
	}
}

// argStart begins the argument the command's grammar expects at b.
func (g *mutf7Guard) argStart(b byte) {
	if g.spSeen && (b == '\r' || b == '\n') {
		g.rest(b)
		return
	}
	if g.argi >= len(g.args) { // an optional last argument was absent
		g.rest(b)
		return
	}
	kind := g.args[g.argi]
	switch {
	case kind == argSearch:
		g.state, g.sStart = gSearch, true
		g.step(b)
		return
	case kind == argSelOpts:
		if b == '(' {
			g.selOpts = true
			g.rest(b)
			return
		}
		g.argi++
		g.argStart(b)
		return
	case kind == argDateTime && b != '"':
		g.argi++
		g.argStart(b)
		return
	case kind == argSeqSet:
		switch {
		case b == '$': // the saved search result (RFC 5182)
			g.out = append(g.out, b)
			g.state = gAfterArg
		case b == '*' || imapAtomChar(b):
			g.tok, g.tokLong = append(g.tok[:0], b), false
			g.state = gSeq
		default:
			g.rest(b) // no sequence set: the library answers BAD
		}
		return
	case kind == argPatterns && !g.inList && b == '(':
		g.inList = true
		g.out = append(g.out, b)
		g.spSeen = false
		return
	}
	g.tok, g.tokLong = g.tok[:0], false
	switch {
	case b == '"':
		g.tok = append(g.tok, b)
		g.state = gQuoted
	case b == '{':
		g.lit = litHeader{}
		g.lit.feed(b)
		g.tok = append(g.tok, b)
		g.state = gLitHdr
	case g.tokChar(b):
		g.tok = append(g.tok, b)
		g.state = gAtom
	default:
		g.rest(b)
	}
}

// afterArg continues after an argument with b.
func (g *mutf7Guard) afterArg(b byte) {
	if g.inList {
		switch b {
		case ' ':
			g.out = append(g.out, b)
			g.state, g.spSeen = gArgStart, true
			return
		case ')':
			g.inList = false
			g.out = append(g.out, b)
			g.argi++
			g.state = gRest
			if g.argi < len(g.args) {
				g.state = gArgSP
			}
			return
		}
		g.rest(b)
		return
	}
	g.argi++
	if g.argi < len(g.args) {
		g.state = gArgSP
		g.step(b)
		return
	}
	g.rest(b)
}

// tokChar reports whether b continues an atom argument: astring-char for
// a mailbox, list-char for a pattern (imapwire's isAStringChar and
// imapserver's isListChar).
func (g *mutf7Guard) tokChar(b byte) bool {
	if imapAtomChar(b) || b == ']' {
		return true
	}
	k := g.args[g.argi]
	return (k == argPattern || k == argPatterns) && (b == '%' || b == '*')
}

// holdByte adds b to the held argument, up to maxGuardToken bytes.
func (g *mutf7Guard) holdByte(b byte) {
	if len(g.tok) >= maxGuardToken {
		g.tokLong = true
		return
	}
	g.tok = append(g.tok, b)
}

// endToken hands on the held quoted or atom argument, or invalidNameWire
// in its place.
func (g *mutf7Guard) endToken(quoted bool) {
	value := g.tok
	if quoted {
		value = unquoteIMAP(g.tok[1:len(g.tok)-1], &g.val)
	}
	valid := validMUTF7(value)
	if g.args[g.argi] == argDateTime {
		_, err := time.Parse(dateTimeLayout, string(value))
		valid = err == nil
	}
	if !g.tokLong && valid {
		g.out = append(g.out, g.tok...)
	} else {
		g.invalidToken()
	}
	g.tok, g.tokLong = g.tok[:0], false
	g.state = gAfterArg
}

// dateTimeLayout is RFC 3501's date-time, as the library parses APPEND's.
const dateTimeLayout = "_2-Jan-2006 15:04:05 -0700"

// invalidToken stands in for a held argument that is not valid: a name
// becomes invalidNameQuoted; a date-time is dropped, and the library
// answers BAD for the missing literal (it answers SERVERBUG to a date-time
// it cannot parse).
func (g *mutf7Guard) invalidToken() {
	if g.args[g.argi] != argDateTime {
		g.out = append(g.out, invalidNameQuoted...)
	}
}

// endLiteralHeader hands on a mailbox argument's literal header; the
// literal's data is held. A literal the library would refuse becomes
// invalidNameWire (the library would read its data as the argument).
func (g *mutf7Guard) endLiteralHeader() {
	if g.lit.n > maxBufferedLiteral {
		end := bytes.IndexByte(g.tok, '}')
		g.out = append(g.out, invalidNameQuoted...)
		g.out = append(g.out, g.tok[end+1:]...)
		g.tok = g.tok[:0]
		g.endLine()
		return
	}
	g.out = append(g.out, g.tok...)
	g.tok = g.tok[:0]
	g.litLeft = g.lit.n
	g.lit = litHeader{}
	g.state = gLitTok
	if g.litLeft == 0 {
		g.endLiteralToken()
	}
}

// badLiteralHeader replaces a mailbox argument's malformed literal header
// by invalidNameWire: the library, having failed to read the header,
// would take the bytes after it for the name and, in a LIST pattern, answer
// SERVERBUG if they are not valid modified UTF-7.
func (g *mutf7Guard) badLiteralHeader() {
	g.out = append(g.out, invalidNameQuoted...)
	g.tok = g.tok[:0]
}

// endLiteralToken hands on a mailbox argument's literal data, or as many
// bytes in its place (the library has the length already): invalidNameWire
// padded with "x", or, for fewer than len(invalidNameWire) bytes, "x"s
// followed by a NUL that makes the library answer BAD.
func (g *mutf7Guard) endLiteralToken() {
	n := len(g.tok)
	switch {
	case validMUTF7(g.tok):
		g.out = append(g.out, g.tok...)
		g.state = gAfterArg
	case n >= len(invalidNameWire):
		g.out = append(g.out, invalidNameWire...)
		g.out = append(g.out, bytes.Repeat([]byte("x"), n-len(invalidNameWire))...)
		g.state = gAfterArg
	default:
		g.out = append(g.out, "xxxx"[:n]...)
		g.out = append(g.out, 0)
		g.state, g.lit = gRest, litHeader{}
	}
	g.tok = g.tok[:0]
}

// validSeqSet reports whether the IMAP library parses set as a sequence
// set (imapnum.ParseSet in go-imap): comma-separated numbers or ranges
// "n:m" of numbers from 1 to 2^32-1 without leading zeros, or "*". The
// library answers SERVERBUG to one it cannot parse.
func validSeqSet(set []byte) bool {
	for {
		item, rest, more := bytes.Cut(set, []byte(","))
		lo, hi, isRange := bytes.Cut(item, []byte(":"))
		if !validSeqNum(lo) || isRange && !validSeqNum(hi) {
			return false
		}
		if !more {
			return true
		}
		set = rest
	}
}

// validSeqNum reports whether n is "*" or a number from 1 to 2^32-1
// without leading zeros.
func validSeqNum(n []byte) bool {
	if len(n) == 1 && n[0] == '*' {
		return true
	}
	if len(n) == 0 || len(n) > 10 || n[0] == '0' {
		return false
	}
	var v uint64
	for _, d := range n {
		if d < '0' || d > '9' {
			return false
		}
		v = v*10 + uint64(d-'0')
	}
	return v <= 1<<32-1
}

// unquoteIMAP returns the value of a quoted string's inside: q itself if
// it has no backslash, else q unescaped into *scratch.
func unquoteIMAP(q []byte, scratch *[]byte) []byte {
	if bytes.IndexByte(q, '\\') < 0 {
		return q
	}
	v := (*scratch)[:0]
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		v = append(v, q[i])
	}
	*scratch = v
	return v
}

// imapAtomChar is imapwire.IsAtomChar: not a control and not one of
// the atom-specials.
func imapAtomChar(b byte) bool {
	switch b {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return !unicode.IsControl(rune(b))
}

func upperASCII(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}
