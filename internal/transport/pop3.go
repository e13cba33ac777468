package transport

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/go-pop3"
)

// MaxPOP3Reply bounds one multi-line POP3 reply (a RETR of a huge message,
// or a misbehaving server that never sends the terminator).
const MaxPOP3Reply = 64 << 20

// POP3MinRate is the least average pace of a multi-line POP3 reply, in
// bytes a second: 32 KiB/s (256 kbit/s). While lines come the reply's
// deadline moves on, so that a big RETR is not cut by the connection's
// timeout, but never past the reply's start plus the timeout plus the
// time its bytes so far take at this pace (plus the time the simulated
// network held them, Conn.HeldFor): a server that drips a line just
// inside the timeout can keep one command going for the connection's
// timeout plus MaxPOP3Reply at POP3MinRate at most (about 34 minutes),
// not without end. The bound grows with the reply, as a fixed multiple
// of the timeout would not: a 20 MB message of a loaded server at
// 200 KB/s takes 100 s and is no failure, a reply slower than a
// 256 kbit/s line is. Past it the read fails with a deadline error
// (outcome timeout) saying the reply was too slow.
const POP3MinRate = 32 << 10

// POP3Error is a POP3 -ERR reply.
type POP3Error struct {
	// Command is the command that failed ("RETR").
	Command string
	// Text is the reply text after "-ERR ".
	Text string
}

// Error implements error.
func (e *POP3Error) Error() string { return "pop3: " + e.Command + ": -ERR " + e.Text }

// ErrPOP3Garbage is a reply that is neither +OK nor -ERR, or cannot be
// parsed.
var ErrPOP3Garbage = errors.New("pop3: malformed reply")

// pop3Wire is the net.Conn go-pop3 reads from. It hands the library at
// most one line per Read, so the library's 4 KiB buffer never holds bytes
// past the status line it asked for: the bodies of multi-line replies are
// then read here, from br, through net/textproto's DotReader (tp), with no
// line-length limit. It also remembers whether the last line was -ERR, so
// a failure of the library (which returns plain errors) can be classified.
type pop3Wire struct {
	*Conn
	br *bufio.Reader
	// tp reads the bodies of multi-line replies from br.
	tp *textproto.Reader
	// lines cuts a body into lines; reset for every reply.
	lines *bufio.Reader
	// lastERR is true when the last complete line handed out began "-ERR".
	lastERR bool
	// partial is true while a line was handed out only in part.
	partial bool
	// lineStart is true when the next byte starts a line.
	lineStart bool
}

func newPOP3Wire(c *Conn) *pop3Wire {
	br := bufio.NewReaderSize(c, 4096)
	return &pop3Wire{Conn: c, br: br, tp: textproto.NewReader(br), lineStart: true}
}

// bodyBuffer is the buffer size of the line reader of multi-line replies:
// the lines of a reply are short (RFC 5322 allows 998 octets), a longer
// one is assembled.
const bodyBuffer = 1024

// body returns the line reader of w reading the body r of a multi-line
// reply; its buffer is allocated with the first reply and kept.
func (w *pop3Wire) body(r io.Reader) *bufio.Reader {
	if w.lines == nil {
		w.lines = bufio.NewReaderSize(r, bodyBuffer)
	} else {
		w.lines.Reset(r)
	}
	return w.lines
}

// Read implements io.Reader, returning at most up to the next LF.
func (w *pop3Wire) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.br.Buffered() == 0 {
		if _, err := w.br.Peek(1); err != nil {
			return 0, err
		}
	}
	buf, _ := w.br.Peek(w.br.Buffered())
	n := len(buf)
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		n = i + 1
	}
	n = copy(p, buf[:n])
	if w.lineStart {
		w.lastERR = bytes.HasPrefix(p[:n], []byte("-ERR"))
	}
	w.lineStart = p[n-1] == '\n'
	w.partial = !w.lineStart
	_, _ = w.br.Discard(n)
	return n, nil
}

// wireDialer hands go-pop3 the already open connection.
type wireDialer struct{ w *pop3Wire }

func (d wireDialer) Dial(network, address string) (net.Conn, error) { return d.w, nil }

// POP3 is a POP3 conversation on a Conn: the greeting read, then one
// command at a time. Every command's deadline is the Conn's timeout.
type POP3 struct {
	conn *Conn
	wire *pop3Wire
	c    *pop3.Conn
	// Capa maps each upper-case capability of the last CAPA to its
	// arguments; nil before Capabilities.
	Capa map[string]string
	// obs, when set, is told of every command.
	obs POP3Observer
}

// POP3Observer is told of every command of a POP3 conversation, so that
// each wait for the server's answer can be tracked while it lasts:
// Started just before the command is sent, returning its start, and Done
// once after it ended, with that start and its error (a *POP3Error for
// -ERR).
type POP3Observer interface {
	Started(command string) time.Time
	Done(command string, start time.Time, err error)
}

// OpenPOP3 reads the greeting on conn. obs, when not nil, is told of every
// command (not the greeting). On failure conn is left open.
func OpenPOP3(conn *Conn, obs POP3Observer) (*POP3, error) {
	p := &POP3{conn: conn, wire: newPOP3Wire(conn), obs: obs}
	host, port, _ := net.SplitHostPort(conn.addr)
	portN, _ := strconv.Atoi(port)
	cl := pop3.New(pop3.Opt{Host: host, Port: portN, DialTimeout: conn.Timeout(), Dialer: wireDialer{p.wire}})
	_ = conn.Extend(0)
	c, err := cl.NewConn() // reads the greeting
	if err == nil && p.wire.partial {
		err = fmt.Errorf("greeting: %w", ErrPOP3Garbage)
	}
	if err != nil {
		err = p.classify("GREETING", err)
		if pe := (*POP3Error)(nil); errors.As(err, &pe) {
			err = GreetingRefused(err)
		}
		return nil, GreetingError(conn, conn.Explain(err))
	}
	p.c = c
	return p, nil
}

// Conn returns the connection p talks on.
func (p *POP3) Conn() *Conn { return p.conn }

// classify turns a go-pop3 error into a *POP3Error for a -ERR reply and
// leaves network errors and garbage as they are.
func (p *POP3) classify(cmd string, err error) error {
	if err == nil {
		return nil
	}
	if p.wire.lastERR && !p.wire.partial {
		text := strings.TrimPrefix(err.Error(), "unknown error (no info specified in response)")
		return &POP3Error{Command: cmd, Text: ClipText(text, maxErrText)}
	}
	if len(err.Error()) > maxErrText {
		// go-pop3 quotes a reply it does not understand whole: up to a
		// line's limit, kilobytes in one error line.
		return clippedError{err}
	}
	return err
}

// maxErrText bounds the text of an error that quotes a server's reply.
const maxErrText = 200

// clippedError is err with its text cut to maxErrText bytes; errors.Is and
// errors.As see err.
type clippedError struct{ err error }

func (e clippedError) Error() string { return ClipText(e.err.Error(), maxErrText) }
func (e clippedError) Unwrap() error { return e.err }

// started tells the observer that command name starts and returns its
// start.
func (p *POP3) started(name string) time.Time {
	if p.obs != nil {
		return p.obs.Started(name)
	}
	return time.Now()
}

// done tells the observer that command name, started at start, ended.
func (p *POP3) done(name string, start time.Time, err error) {
	if p.obs != nil {
		p.obs.Done(name, start, err)
	}
}

// Cmd sends a single-line command and returns the text after +OK; name is
// the command's name in errors and for the observer.
func (p *POP3) Cmd(name, line string) (string, error) {
	start := p.started(name)
	r, err := p.cmd(name, line)
	p.done(name, start, err)
	if err != nil {
		return "", atServer(p.conn.protocol, p.conn.addr, "%s: %w", name, err)
	}
	return r, nil
}

// cmd is Cmd without the observer and the error's context.
func (p *POP3) cmd(name, line string) (string, error) {
	_ = p.conn.Extend(0)
	err := p.c.Send(line)
	var b []byte
	if err == nil {
		b, err = p.c.ReadOne()
		if err == nil && p.wire.partial {
			err = ErrPOP3Garbage
		}
	}
	return string(b), p.classify(name, err)
}

// Multi sends a command with a multi-line reply and calls line for every
// line of the reply, dot-stuffing undone, without its CRLF. A line may be
// of any length; the whole reply is bounded by MaxPOP3Reply. The first
// error of line is returned after the reply was read to its end.
func (p *POP3) Multi(name, cmdLine string, line func([]byte) error) error {
	start := p.started(name)
	err := p.multi(name, cmdLine, line)
	p.done(name, start, err)
	if err != nil {
		return atServer(p.conn.protocol, p.conn.addr, "%s: %w", name, err)
	}
	return nil
}

func (p *POP3) multi(name, cmdLine string, line func([]byte) error) error {
	_ = p.conn.Extend(0)
	if err := p.c.Send(cmdLine); err != nil {
		return err
	}
	if _, err := p.c.ReadOne(); err != nil {
		return p.classify(name, err)
	}
	if p.wire.partial {
		return ErrPOP3Garbage
	}
	// net/textproto's DotReader reads the body from the status line's
	// buffer: it undoes dot-stuffing, turns CRLF into LF and stops after
	// the lone dot (io.ErrUnexpectedEOF when the connection ends first).
	// The lines are cut from it here, so a line may be of any length.
	br := p.wire.body(p.wire.tp.DotReader())
	var (
		total   int
		long    []byte // a line longer than br's buffer, assembled
		cbErr   error
		start   = time.Now()
		mark    = p.conn.HoldMark()
		lastExt = start
		pace    = paceBound{start: start, timeout: p.conn.Timeout()}
	)
	for {
		if time.Since(lastExt) > time.Second {
			// A long download: keep the deadline ahead of it, within
			// the reply's pace bound.
			lastExt = time.Now()
			_ = p.conn.SetDeadline(pace.next(lastExt, int64(total), p.conn.HeldFor(mark)))
		}
		frag, err := br.ReadSlice('\n')
		if err != nil && pace.cut && errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("reply of %d bytes in %v, slower than %d bytes/s on average: %w",
				total, time.Since(start).Round(time.Millisecond), POP3MinRate, err)
		}
		total += len(frag)
		if total > MaxPOP3Reply {
			return fmt.Errorf("%w: reply over %d bytes", ErrPOP3Garbage, MaxPOP3Reply)
		}
		if err == bufio.ErrBufferFull {
			long = append(long, frag...)
			continue
		}
		if err == io.EOF && len(frag) == 0 && long == nil {
			return cbErr // after the lone dot
		}
		if err != nil && err != io.EOF {
			return err
		}
		l := frag
		if long != nil {
			long = append(long, frag...)
			l = long
		}
		if cbErr == nil {
			cbErr = line(bytes.TrimSuffix(l, []byte("\n")))
		}
		long = nil
	}
}

// paceBound is the deadline of a multi-line reply's reads (POP3MinRate):
// the connection's timeout after now, but no later than the reply's start
// plus the timeout, plus the time its bytes so far take at POP3MinRate
// and the time the simulated network held them.
type paceBound struct {
	start   time.Time
	timeout time.Duration
	// cut is set once the pace bound came before the timeout after now.
	cut bool
}

// next returns the deadline at now, after total bytes of the reply that
// the network held for held.
func (b *paceBound) next(now time.Time, total int64, held time.Duration) time.Time {
	idle := now.Add(b.timeout)
	paced := b.start.Add(b.timeout + held + time.Duration(float64(total)/POP3MinRate*float64(time.Second)))
	b.cut = paced.Before(idle)
	if b.cut {
		return paced
	}
	return idle
}

// Capabilities runs CAPA and sets p.Capa. A server without CAPA (-ERR) has
// none.
func (p *POP3) Capabilities() error {
	capa := make(map[string]string)
	err := p.Multi("CAPA", "CAPA", func(l []byte) error {
		name, args, _ := strings.Cut(string(l), " ")
		capa[strings.ToUpper(name)] = args
		return nil
	})
	var pe *POP3Error
	if err != nil && !errors.As(err, &pe) {
		return err
	}
	p.Capa = capa
	return nil
}

// HasSASL reports whether CAPA listed SASL mechanism mech.
func (p *POP3) HasSASL(mech string) bool {
	for _, m := range strings.Fields(p.Capa["SASL"]) {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// STLS runs STLS and the TLS handshake with cfg (nil: TLSConfig(nil,
// addr)), then CAPA again. The observer is told of STLS and the
// handshake as one command, STLS, as IMAP's STARTTLS covers its
// handshake: the handshake waits for the server too. A server that does
// not offer STLS, or refuses it, fails with an error wrapping
// ErrTLSRefused.
func (p *POP3) STLS(cfg *tls.Config) error {
	if p.Capa == nil {
		if err := p.Capabilities(); err != nil {
			return err
		}
	}
	if _, ok := p.Capa["STLS"]; !ok {
		return atServer(p.conn.protocol, p.conn.addr, "server does not offer STLS: %w", ErrTLSRefused)
	}
	start := p.started("STLS")
	_, err := p.cmd("STLS", "STLS")
	if err != nil {
		p.done("STLS", start, err)
		var pe *POP3Error
		if errors.As(err, &pe) {
			return fmt.Errorf("%w (pop3 %s: STLS: %w)", ErrTLSRefused, p.conn.addr, err)
		}
		return atServer(p.conn.protocol, p.conn.addr, "STLS: %w", err)
	}
	err = p.conn.StartTLS(cfg)
	p.done("STLS", start, err)
	if err != nil {
		return err
	}
	return p.Capabilities()
}

// Login authenticates with AUTH PLAIN when CAPA offered it, USER/PASS
// otherwise. A refusal is a *POP3Error.
func (p *POP3) Login(user, pass string) error {
	if p.HasSASL("PLAIN") {
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		_, err := p.Cmd("AUTH", "AUTH PLAIN "+ir)
		return err
	}
	if _, err := p.Cmd("USER", "USER "+user); err != nil {
		return err
	}
	_, err := p.Cmd("PASS", "PASS "+pass)
	return err
}

// Stat sends STAT and returns the maildrop's message count and size in
// octets. A reply that is not two non-negative numbers is an error
// wrapping ErrPOP3Garbage.
func (p *POP3) Stat() (messages int, size int64, err error) {
	r, err := p.Cmd("STAT", "STAT")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(r)
	if len(f) >= 2 {
		messages, err = strconv.Atoi(f[0])
		if err == nil {
			size, err = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if len(f) < 2 || err != nil || messages < 0 || size < 0 {
		return 0, 0, atServer(p.conn.protocol, p.conn.addr, "STAT %q: %w", ClipText(r, maxErrText), ErrPOP3Garbage)
	}
	return messages, size, nil
}

// Quit sends QUIT (which commits deletions) within timeout (<= 0: the
// connection's timeout) and closes the connection.
func (p *POP3) Quit(timeout time.Duration) error {
	_ = p.conn.Extend(timeout)
	start := p.started("QUIT")
	err := p.c.Send("QUIT")
	if err == nil {
		_, err = p.c.ReadOne()
	}
	err = p.classify("QUIT", err)
	p.done("QUIT", start, err)
	_ = p.conn.Close()
	if err != nil {
		return atServer(p.conn.protocol, p.conn.addr, "QUIT: %w", err)
	}
	return nil
}

// Close drops the connection without QUIT: pending deletions are lost.
func (p *POP3) Close() { _ = p.conn.Close() }
