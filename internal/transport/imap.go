package transport

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Default bounds of an IMAP reply (see LimitIMAP). docs/scenarios.md
// documents them.
const (
	// DefaultMaxLine bounds one IMAP reply line, literals excluded,
	// but for a data line (IsDataLine).
	DefaultMaxLine = 64 << 10
	// DefaultMaxDataLine bounds one data line (IsDataLine): an untagged
	// SEARCH, SORT or ESEARCH response, whose UIDs grow with the
	// mailbox: 16 MiB, the SEARCH of two million messages (a 7-digit
	// UID and its space take 8 bytes). A mailbox of 10,000 messages
	// already answers UID SEARCH ALL in more than DefaultMaxLine.
	DefaultMaxDataLine = 16 << 20
	// DefaultMaxLiteral bounds one IMAP literal ({N}), the same bound
	// as one POP3 multi-line reply.
	DefaultMaxLiteral = 64 << 20
)

// ErrReplyTooLarge is wrapped by the read error of a connection whose
// server sent a reply line or literal over its bounds.
var ErrReplyTooLarge = errors.New("reply too large")

// ErrTLSRefused is wrapped by the error of a STARTTLS (IMAP, SMTP) or STLS
// (POP3) the server refused or did not offer; [NetOutcome] classifies it
// as tls.
var ErrTLSRefused = errors.New("server refused to start tls")

// LimitIMAP bounds what the server can make c buffer: a reply line may
// carry at most maxLine bytes outside literals (a data line, IsDataLine,
// at most DefaultMaxDataLine, or maxLine if that is more), and a literal
// announced as {N} (or ~{N}) may be at most maxLiteral bytes. Past a
// bound the read fails with an error wrapping ErrReplyTooLarge, and so
// does every later read. maxLine <= 0 means DefaultMaxLine, maxLiteral <=
// 0 DefaultMaxLiteral. Call it before the first read.
func (c *Conn) LimitIMAP(maxLine int, maxLiteral int64) {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	if maxLiteral <= 0 {
		maxLiteral = DefaultMaxLiteral
	}
	c.lim = &imapLimiter{maxLine: maxLine, maxData: max(maxLine, DefaultMaxDataLine), maxLiteral: maxLiteral}
}

// dataLineNames are the responses IsDataLine accepts.
var dataLineNames = [...]string{"SEARCH", "SORT", "ESEARCH"}

// DataLineHead is how many first bytes of a line IsDataLine needs:
// "* ESEARCH" and the byte after it.
const DataLineHead = len("* ESEARCH ")

// IsDataLine reports whether line, a reply line or its first
// DataLineHead bytes at least, is an untagged SEARCH, SORT or ESEARCH
// response (RFC 9051, 7.3.4; RFC 5256; RFC 4731): its numbers grow with
// the mailbox, one line for all of them, so it is bounded by
// DefaultMaxDataLine (leanimap.Options.MaxKept for the lean client), not
// by the line bound of the other responses. Such a line of a big mailbox
// is no misbehaving server: the webmail's UID SORT and the devices' UID
// SEARCH ALL of 20,000 messages answer about 120 KB.
func IsDataLine(line []byte) bool {
	if len(line) < 2 || line[0] != '*' || line[1] != ' ' {
		return false
	}
	rest := line[2:]
	for _, name := range dataLineNames {
		if len(rest) < len(name) || !strings.EqualFold(string(rest[:len(name)]), name) {
			continue
		}
		if len(rest) == len(name) {
			return true
		}
		switch rest[len(name)] {
		case ' ', '\r', '\n':
			return true
		}
	}
	return false
}

// imapLimiter follows the IMAP reply stream: bytes since the last LF
// outside literals, and the bytes of a literal still to come. It keeps the
// last bytes of the current line to spot a literal announcement at its end.
type imapLimiter struct {
	maxLine    int
	maxData    int // the bound of a data line (IsDataLine)
	maxLiteral int64

	line int // bytes of the current line so far, literals excluded
	// head holds the first DataLineHead bytes of the current line;
	// data is set once a line over maxLine turned out a data line.
	head    []byte
	data    bool
	literal int64  // bytes of the current literal still to come
	tail    []byte // the last tailLen bytes of the current line
	err     error  // sticky, once a bound was passed
}

// tailLen is enough for "~{" + 20 digits + "}\r\n".
const tailLen = 32

// scan accounts for p, the next bytes read.
func (l *imapLimiter) scan(p []byte) error {
	for len(p) > 0 {
		if l.literal > 0 {
			k := min(int64(len(p)), l.literal)
			l.literal -= k
			p = p[k:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i+1]
		}
		if k := min(DataLineHead-len(l.head), len(seg)); k > 0 {
			l.head = append(l.head, seg[:k]...)
		}
		l.line += len(seg)
		if l.line > l.maxLine {
			l.data = l.data || IsDataLine(l.head)
			if !l.data {
				return fmt.Errorf("%w: reply line over %d bytes", ErrReplyTooLarge, l.maxLine)
			}
			if l.line > l.maxData {
				return fmt.Errorf("%w: search data line over %d bytes", ErrReplyTooLarge, l.maxData)
			}
		}
		l.keep(seg)
		if i < 0 {
			return nil
		}
		p = p[i+1:]
		n, ok := literalAtEnd(l.tail)
		l.line, l.tail, l.head, l.data = 0, l.tail[:0], l.head[:0], false
		if !ok {
			continue
		}
		if n < 0 {
			return fmt.Errorf("%w: literal size does not fit 64 bits", ErrReplyTooLarge)
		}
		if n > l.maxLiteral {
			return fmt.Errorf("%w: literal of %d bytes over %d", ErrReplyTooLarge, n, l.maxLiteral)
		}
		l.literal = n
	}
	return nil
}

// keep appends seg to the tail, keeping its last tailLen bytes.
func (l *imapLimiter) keep(seg []byte) {
	if len(seg) >= tailLen {
		l.tail = append(l.tail[:0], seg[len(seg)-tailLen:]...)
		return
	}
	if over := len(l.tail) + len(seg) - tailLen; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	l.tail = append(l.tail, seg...)
}

// LiteralAtEnd reports whether an IMAP response line (ending in LF, CRLF
// or neither) ends with a literal announcement {N}, {N+} or ~{N} and
// returns N; N is -1 when the digits do not fit an int64. Readers of IMAP
// responses (internal/leanimap) frame literals with it.
func LiteralAtEnd(line []byte) (int64, bool) { return literalAtEnd(line) }

// literalAtEnd reports whether line (ending in LF) ends with a literal
// announcement {N} or ~{N} and returns N; N is -1 when the digits do not
// fit an int64.
func literalAtEnd(line []byte) (int64, bool) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := line[open+1 : len(line)-1]
	digits = bytes.TrimSuffix(digits, []byte("+")) // LITERAL+ syntax
	if len(digits) == 0 {
		return 0, false
	}
	for _, b := range digits {
		if b < '0' || b > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(digits), 10, 64)
	if err != nil {
		return -1, true
	}
	return n, true
}

// greetingStatus returns the status of an IMAP greeting line ("* OK ...",
// in upper case: OK, PREAUTH, BYE, NO), or "" for a line that is none
// ("* 3 EXISTS", garbage).
func greetingStatus(line []byte) string {
	rest, ok := bytes.CutPrefix(line, []byte("* "))
	if !ok {
		return ""
	}
	atom, _, _ := bytes.Cut(bytes.TrimRight(rest, "\r\n"), []byte(" "))
	for _, s := range []string{"OK", "PREAUTH", "BYE", "NO"} {
		if bytes.EqualFold(atom, []byte(s)) {
			return s
		}
	}
	return ""
}

// IMAPWire is the connection handed to imapclient. The library arms a
// fixed 30 s read deadline whenever it waits for any server data —
// including the silence of an idle connection — so it would drop every
// connection idle for longer. IMAPWire ignores the library's read
// deadlines; its user arms its own around each command (Conn.Extend,
// Conn.SetReadDeadline) and around IDLE.
type IMAPWire struct {
	*Conn
	r io.Reader // Conn, or a greeting then Conn (see OpenIMAP)
}

// Read implements net.Conn.
func (w IMAPWire) Read(p []byte) (int, error) {
	if w.r == nil {
		return w.Conn.Read(p)
	}
	return w.r.Read(p)
}

// SetReadDeadline implements net.Conn by ignoring the library's deadline.
func (w IMAPWire) SetReadDeadline(time.Time) error { return nil }

// SetDeadline implements net.Conn; only the write half is applied.
func (w IMAPWire) SetDeadline(t time.Time) error { return w.Conn.SetWriteDeadline(t) }

// OpenIMAP starts an IMAP client on conn and waits for the server's
// greeting, within conn's timeout. afterStartTLS says StartTLSIMAP already
// consumed the greeting: the client is then handed a neutral one, and
// knows no capabilities until it asks. The error of a failed greeting
// carries the connection's read error (a timeout, an oversized line).
func OpenIMAP(conn *Conn, opts *imapclient.Options, afterStartTLS bool) (*imapclient.Client, error) {
	w := IMAPWire{Conn: conn}
	if afterStartTLS {
		w.r = io.MultiReader(strings.NewReader("* OK TLS established\r\n"), conn)
	}
	// A read deadline only: the library sets its own write deadlines.
	_ = conn.SetReadDeadline(time.Now().Add(conn.timeout))
	c := imapclient.New(w, opts)
	if err := c.WaitGreeting(); err != nil {
		_ = c.Close()
		if ie := (*imap.Error)(nil); errors.As(err, &ie) && (ie.Type == imap.StatusResponseTypeNo || ie.Type == imap.StatusResponseTypeBye) {
			err = GreetingRefused(err) // "* BYE", "* NO"; a "* BAD" is the server's own (bad)
		}
		return nil, GreetingError(conn, conn.Explain(err))
	}
	return c, nil
}

// StartTLSIMAP reads the greeting, sends STARTTLS and, once the server
// agreed, runs the TLS handshake with cfg (nil: TLSConfig(nil, addr)), all
// within conn's timeout. A greeting that refuses the session (BYE, NO)
// wraps ErrGreetingRefused; a PREAUTH greeting (no STARTTLS after it) or a
// refused STARTTLS (NO, BAD) wraps ErrTLSRefused; any other greeting is
// garbage (error); a failed handshake wraps the TLS error. Then call
// OpenIMAP(conn, opts, true).
func StartTLSIMAP(conn *Conn, cfg *tls.Config) error {
	_ = conn.Extend(0)
	// The server sends nothing after its STARTTLS reply until the client's
	// TLS hello, so a small buffer reads no further than that reply.
	br := bufio.NewReaderSize(conn, 4096)
	line, err := boundedLine(br)
	if err != nil {
		return atServer(conn.protocol, conn.addr, "greeting: %w", err)
	}
	switch greetingStatus(line) {
	case "OK":
	case "BYE", "NO":
		return atServer(conn.protocol, conn.addr, "greeting %q: %w", clip(line), ErrGreetingRefused)
	case "PREAUTH":
		return atServer(conn.protocol, conn.addr, "greeting %q: %w", clip(line), ErrTLSRefused)
	default:
		return atServer(conn.protocol, conn.addr, "greeting %q: not a greeting", clip(line))
	}
	const tag = "T0"
	if _, err := conn.Write([]byte(tag + " STARTTLS\r\n")); err != nil {
		return atServer(conn.protocol, conn.addr, "STARTTLS: %w", err)
	}
	for i := 0; ; i++ {
		if i == 100 {
			return atServer(conn.protocol, conn.addr, "STARTTLS: no reply after %d lines: %w", i, ErrReplyTooLarge)
		}
		line, err := boundedLine(br)
		if err != nil {
			return atServer(conn.protocol, conn.addr, "STARTTLS: %w", err)
		}
		if !bytes.HasPrefix(line, []byte(tag+" ")) {
			continue // untagged data before the reply
		}
		if !bytes.HasPrefix(line, []byte(tag+" OK")) {
			return atServer(conn.protocol, conn.addr, "STARTTLS %q: %w", clip(line), ErrTLSRefused)
		}
		break
	}
	if br.Buffered() > 0 {
		// Plaintext after the reply would be taken for encrypted data
		// (the STARTTLS injection of CVE-2011-0411).
		return atServer(conn.protocol, conn.addr, "STARTTLS: data after the reply: %w", ErrTLSRefused)
	}
	if cfg == nil {
		cfg = TLSConfig(nil, conn.addr)
	}
	return conn.StartTLS(cfg)
}

// boundedLine reads one line of at most the reader's buffer size.
func boundedLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("%w: line over %d bytes", ErrReplyTooLarge, br.Size())
	}
	return line, err
}

// clip shortens a server line for an error message.
func clip(line []byte) string {
	return ClipText(string(bytes.TrimRight(line, "\r\n")), 80)
}

// ClipText cuts s to at most n bytes, at a character boundary, and marks
// the cut with "…".
func ClipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// The steps of an IMAP session setup, as DialIMAP's errors name them.
const (
	StepConnect  = "connect"
	StepStartTLS = "starttls"
	StepGreeting = "greeting"
)

// StepError is the error of a session setup (DialIMAP): the step that
// failed and its cause. Its text is the cause's; errors.Is and errors.As
// see through it.
type StepError struct {
	Step string
	Err  error
}

// Error implements error.
func (e *StepError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *StepError) Unwrap() error { return e.Err }

// Step returns the setup step err failed in (StepConnect, StepStartTLS,
// StepGreeting), "" when err is no setup error.
func Step(err error) string {
	var se *StepError
	if errors.As(err, &se) {
		return se.Step
	}
	return ""
}

// SetupIMAP runs an IMAP session setup up to the server's greeting, for
// any IMAP client: Dial (implicit TLS when the endpoint says so),
// STARTTLS when the endpoint says starttls (StartTLSIMAP with
// TLSConfig(cfg.TLS, addr)), then open, which starts the client on the
// connection and reads the greeting (afterStartTLS: StartTLSIMAP read it
// already, see OpenIMAP), each within cfg.Timeout and ending when ctx
// ends. It is the one session setup of mailsim's IMAP clients: DialIMAP
// (go-imap) and internal/leanimap's Dial. On failure nothing stays open
// (the connection is closed; open closes what it started) and the error
// is a *StepError naming the failed step; a step a deadline ended (cfg's
// or ctx's) says so: "no greeting within 10s" (waitErr). The caller closes the
// connection when its own context ends and sets deadlines with Extend, as
// after Dial.
func SetupIMAP(ctx context.Context, cfg Config, open func(conn *Conn, afterStartTLS bool) error) (*Conn, error) {
	conn, stop, err := SetupIMAPBound(ctx, cfg, open, nil)
	if err != nil {
		return nil, err
	}
	if !stop() {
		// ctx ended as the greeting came: the connection is closing.
		_ = conn.Close()
		return nil, &StepError{StepGreeting, atServer(cfg.Protocol, cfg.Endpoint.Addr, "greeting: %w", ctx.Err())}
	}
	return conn, nil
}

// Ender closes a connection bound to a context when the context ends
// (SetupIMAPBound), by a rule of its own: the injector's APPEND sessions
// give a command in flight the stop's grace (internal/engine/injector.go
// appendStop).
type Ender interface {
	// Ended closes setup, the connection whose context ended: a
	// *Setup, still dialing or dialed (its Close cancels the dial or
	// closes the connection).
	Ended(setup io.Closer)
}

// SetupIMAPBound is SetupIMAP for a caller that closes the connection when
// ctx ends anyway (the injector's APPEND sessions): the connection stays
// bound to ctx — when ctx ends, end closes it (nil: it is closed at once)
// — until the caller calls stop, which reports, as context.AfterFunc's
// stop does, whether it unbound it before ctx ended. With end, the binding
// comes before the dial, which is a Setup's: ctx's end during the TCP
// connect or the implicit TLS handshake is end's to apply too (a grace),
// not a cut at once, and once ctx has ended nothing is dialed (the error
// wraps ErrNotDialed); a greeting that came after ctx ended (end's rule
// gave it time) is no failure: the connection is returned, and end
// closes it. It spares such a caller a context.AfterFunc of its own (two
// allocations and a closure per session).
func SetupIMAPBound(ctx context.Context, cfg Config, open func(conn *Conn, afterStartTLS bool) error, end Ender) (*Conn, func() bool, error) {
	bound := cfg.Timeout
	if bound <= 0 {
		bound = DefaultTimeout
	}
	if dl, ok := ctx.Deadline(); ok {
		bound = min(bound, time.Until(dl))
	}
	var conn *Conn
	var stop func() bool
	if end == nil {
		// A variable of its own, which the closure captures by value
		// (conn is assigned twice: captured, it would go to the heap).
		c, err := Dial(ctx, cfg)
		if err != nil {
			return nil, nil, &StepError{StepConnect, err}
		}
		stop = context.AfterFunc(ctx, func() { _ = c.Close() })
		conn = c
	} else {
		// ctx's deadline ends the dial through the binding (end's rule
		// closes setup at once then), as its end does after a grace.
		setup := new(Setup)
		stop = context.AfterFunc(ctx, func() { end.Ended(setup) })
		c, err := setup.Dial(ctx, cfg)
		if err != nil {
			// A close for ctx's deadline is a timeout (Setup.Dial; not
			// a cancelled delivery: TestInjectorAppendConnectDeadline).
			stop()
			return nil, nil, &StepError{StepConnect, err}
		}
		conn = c
	}
	var err error
	step := StepStartTLS
	startTLS := cfg.Endpoint.TLS == TLSStartTLS
	if startTLS {
		err = conn.Explain(StartTLSIMAP(conn, TLSConfig(cfg.TLS, cfg.Endpoint.Addr)))
	}
	if err == nil {
		step = StepGreeting
		err = open(conn, startTLS)
	}
	if err == nil && end == nil && ctx.Err() != nil {
		// ctx ended as the greeting came: fail as SetupIMAP does. With
		// an Ender the stop is the caller's, whose rule may have given
		// the greeting a grace (the injector's: clients.StopGrace), and a
		// greeting in time is a setup that succeeded.
		err = atServer(cfg.Protocol, cfg.Endpoint.Addr, "greeting: %w", ctx.Err())
	}
	if err != nil {
		stop()
		_ = conn.Close()
		return nil, nil, &StepError{step, waitErr(ctx, cfg, step, bound, err)}
	}
	return conn, stop, nil
}

// GreetingError returns the error of a greeting that failed with err on
// conn: "PROTO ADDR: greeting: ERR", or, when a deadline cut the wait (a
// server that accepts and never greets), "PROTO ADDR: greeting: no
// greeting within T: ERR", T the connection's timeout, as waitErr says it
// for a session setup. err keeps its outcome (NetOutcome).
func GreetingError(conn *Conn, err error) error {
	if NetOutcome(err) == OutcomeTimeout {
		return atServer(conn.protocol, conn.addr, "greeting: no greeting within %v: %w", conn.timeout.Round(10*time.Millisecond), err)
	}
	return atServer(conn.protocol, conn.addr, "greeting: %w", err)
}

// waitErr returns err, the error of the setup step that waited for the
// server, or, when a deadline ended the wait, an error that says so:
// "imap ADDR: greeting: no greeting within 10s" and the deadline's error
// (NetOutcome: timeout). bound is the earlier of the connection's timeout
// and ctx's deadline, as the setup began. ctx's end closes the connection
// under the wait (err wraps net.ErrClosed), and the library then reports a
// closed connection ("connection closed before greeting (use of closed
// network connection)"), which is no cause; the connection's own deadline
// fails the read (a timeout). A wait a cancelled ctx (a stop) closed gives
// ctx's error.
func waitErr(ctx context.Context, cfg Config, step string, bound time.Duration, err error) error {
	var cause error
	ctxErr := ctx.Err()
	switch cut := ctxErr != nil && errors.Is(err, net.ErrClosed); {
	case cut && !errors.Is(ctxErr, context.DeadlineExceeded):
		return atServer(cfg.Protocol, cfg.Endpoint.Addr, "%s: %w", step, ctxErr)
	case cut:
		cause = ctxErr
	case NetOutcome(err) == OutcomeTimeout:
		cause = os.ErrDeadlineExceeded
	default:
		return err
	}
	what := "no greeting"
	if step == StepStartTLS {
		// StartTLSIMAP reads the greeting too: the wait cut was any of
		// the greeting, the STARTTLS reply and the handshake.
		what = "no greeting or TLS"
	}
	return atServer(cfg.Protocol, cfg.Endpoint.Addr, "%s: %s within %v: %w", step, what, bound.Round(10*time.Millisecond), cause)
}

// DialIMAP connects to cfg.Endpoint and opens an IMAP client on the
// connection (SetupIMAP): the default reply bounds (LimitIMAP(0, 0)) and
// the server's greeting (OpenIMAP with opts). The client owns the
// connection: closing the client closes it. On failure nothing stays open
// and the error is a *StepError naming the failed step.
func DialIMAP(ctx context.Context, cfg Config, opts *imapclient.Options) (*Conn, *imapclient.Client, error) {
	var c *imapclient.Client
	conn, err := SetupIMAP(ctx, cfg, func(conn *Conn, afterStartTLS bool) error {
		conn.LimitIMAP(0, 0)
		var err error
		c, err = OpenIMAP(conn, opts, afterStartTLS)
		return err
	})
	if err != nil {
		if c != nil {
			_ = c.Close()
		}
		return nil, nil, err
	}
	return conn, c, nil
}

// LoginIMAP says LOGIN user pass on c and waits for the reply.
func LoginIMAP(c *imapclient.Client, user, pass string) error {
	return c.Login(user, pass).Wait()
}

// IMAPBye reports whether pending, the first bytes an IMAP server sent
// that the client has not read yet, holds an untagged BYE response: the
// server announces that it closes the connection (RFC 9051, 7.1.5), as
// Dovecot does on shutdown ("* BYE Server shutting down.") and at its
// autologout. Only whole lines before the first literal are looked at:
// a literal's bytes are no response. Conn.PeerClosed takes it.
func IMAPBye(pending []byte) bool {
	for len(pending) > 0 {
		i := bytes.IndexByte(pending, '\n')
		if i < 0 {
			return false // a line not all there: not a response yet
		}
		line := pending[:i+1]
		if len(line) >= 5 && bytes.EqualFold(line[:5], []byte("* BYE")) &&
			(len(line) == 5 || line[5] == ' ' || line[5] == '\r' || line[5] == '\n') {
			return true
		}
		if _, lit := literalAtEnd(line); lit {
			return false
		}
		pending = pending[i+1:]
	}
	return false
}
