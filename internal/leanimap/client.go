// Package leanimap is mailsim's lean synchronous IMAP client (issue 14):
// one tagged command at a time, its responses read and parsed on the
// caller's goroutine, with no goroutine of its own. Every command is
// bounded by a deadline (Options.Timeout, armed once per command), every
// response line by Options.MaxLine and every literal by
// Options.MaxLiteral; the read buffer is small and reused, so that a NOOP
// allocates nothing in steady state. The measurements behind it are in
// docs/performance.md ("A lean synchronous client", "Lean client").
//
// Failures classify with transport.OutcomeOf as go-imap's do: a tagged NO or
// BAD is an *imap.Error, a network failure wraps the net error (a passed
// deadline wraps os.ErrDeadlineExceeded), an oversized response wraps
// transport.ErrReplyTooLarge and a response that is not IMAP wraps
// ErrProtocol. After any failure but NO and BAD the connection is unusable
// and every later command returns the same error.
package leanimap

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/transport"
)

// Client is one IMAP connection. It is not safe for concurrent use: one
// goroutine (the device's) runs its commands.
type Client struct {
	conn net.Conn
	opts Options
	br   *bufio.Reader // reads src
	src  source
	bufs *connBufs // br, resp and out come from it; nil once closed

	resp []byte // the response being parsed, lines and literals as sent
	out  []byte // the command being written
	tag  uint64
	tagb []byte // the tag of the command in progress
	s    scanner

	caps    []string // upper-cased capability names; nil: unknown
	capsSet bool     // a CAPABILITY list came with the current command
	// capsInOK is set when the current command's completion carried a
	// [CAPABILITY ...] code. After LOGIN and AUTHENTICATE only that list
	// is kept (Dovecot's untagged one is not), as go-imap's client does
	// (there it depends on its reader goroutine's timing for LOGIN): a
	// session asks CAPABILITY after login exactly when the completion
	// had none (clients' TestLeanLoginCommands).
	capsInOK bool
	utf8     bool  // UTF8=ACCEPT is enabled: mailbox names in UTF-8
	err      error // sticky: the connection is unusable
	bye      bool  // the server said BYE
	// exists is the selected mailbox's message count as last reported
	// (EXISTS, less each EXPUNGE since), for MaxFetchResponses.
	exists uint32
	// wrote is set by send when its write went out in full; sent, by
	// run, when the command in progress (or the last) did, its literals
	// included (Sent).
	wrote, sent bool

	cmd command // what the command in progress collects
	// copied is the COPYUID of the last UIDCopy or UIDMove.
	copied CopyData
	// imu guards intr and peeking: Interrupt moves the read deadline only
	// while Wait blocks in its Peek, never under a response being read.
	imu     sync.Mutex
	intr    bool // set by Interrupt: Wait returns
	peeking bool
	msg     Message // reused for every FETCH response
	// statusVals are the counts of StatusTo's data.
	statusVals [3]uint32
	// flagScratch is flagList's scratch list.
	flagScratch []imap.Flag
	env         Envelope
	upd         Update
}

// command is what the command in progress collects from untagged
// responses and response codes.
type command struct {
	sel    *imap.SelectData
	list   *[]imap.ListData
	status *imap.StatusData
	// statusVals holds the counts status points to (nil: parseStatus
	// makes them).
	statusVals *[3]uint32
	// statusName is the mailbox name Status was given: the response's
	// name when the server sent it as is (mailboxNameAs).
	statusName string
	// attrs holds the LIST attributes of the command's entries, each
	// entry's a slice of it (parseList).
	attrs    []imap.MailboxAttr
	search   *[]imap.UID
	ns       *imap.NamespaceData
	fetch    func(*Message) error
	fetchErr error // the first error fetch returned
	// uids is the UID set of the UID FETCH or UID STORE in progress: a
	// FETCH response naming a UID outside it is another session's change,
	// given to the Handler, not to fetch (asked). hint is the range that
	// held the last UID asked (responses come in UID order). lastSeq and
	// lastUID are the message of the last response given to fetch: a
	// response without a UID for that message number is about it
	// (followUp).
	uids     imap.UIDSet
	hint     int
	lastSeq  uint32
	lastUID  imap.UID
	updates  int // EXISTS, EXPUNGE and FETCH given to the handler
	appended AppendData
	// kept is the bytes of the responses whose data the command kept so
	// far (keep, Options.MaxKept).
	kept int64
	// fetches counts the FETCH responses of a FETCH or STORE command
	// (MaxFetchResponses), bounded by the most messages the mailbox held
	// since the command began (existsMax: an EXPUNGE another session
	// made meanwhile lowers the count, not what the command may answer).
	fetches   int64
	existsMax uint32
}

// MaxFetchResponses bounds the FETCH responses one FETCH or STORE command
// may bring in a mailbox of exists messages: each message twice (its
// answer, and a flag change another session made meanwhile) and 1,024
// more. A server whose responses pass it (one that invents messages
// without end, each a new UID for the caller's state of the folder)
// fails the command with an error wrapping transport.ErrReplyTooLarge
// (outcome error), instead of streaming until the deadline, which a
// device renews while messages come. go-imap's path of the devices
// (clients/imap_conn.go) bounds its FETCH by the same rule.
func MaxFetchResponses(exists uint32) int64 { return 2*int64(exists) + 1024 }

// AppendData is what the server reports of an APPEND with UIDPLUS
// (APPENDUID); zero without.
type AppendData struct {
	UIDValidity uint32
	UID         imap.UID
}

// CopyData is what the server reports of a COPY or MOVE with UIDPLUS
// (COPYUID); zero without.
type CopyData struct {
	UIDValidity uint32
	// Dest are the UIDs of the copies, in the order of the source set.
	Dest imap.UIDSet
}

// respKind is the kind of a response.
type respKind uint8

const (
	respUntagged respKind = iota
	respContinue
	respTagged
)

// New reads the server's greeting on conn and returns the client. conn is
// typically a *transport.Conn (deadlines through its watchdog, byte
// counting); the client does not close it on failure.
func New(conn net.Conn, opts Options) (*Client, error) {
	if errs := opts.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	b := bufsPool.Get().(*connBufs)
	c := &Client{conn: conn, opts: opts.withDefaults(), bufs: b, resp: b.resp, out: b.out}
	c.src.conn = conn
	c.src.wr, _ = conn.(writeReader)
	if b.br == nil {
		b.br = bufio.NewReaderSize(&c.src, readBufSize)
	} else {
		b.br.Reset(&c.src)
	}
	c.br = b.br
	if err := c.arm(); err != nil {
		return nil, err
	}
	resp, err := c.readResponse()
	if err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	s := &c.s
	s.reset(resp)
	if !s.accept('*') || !s.sp() {
		return nil, c.broken(fmt.Errorf("greeting: %w: %q", ErrProtocol, clip(resp)))
	}
	status := s.atom()
	if s.err == nil && !equalFold(status, "OK") && !equalFold(status, "PREAUTH") {
		if equalFold(status, "BYE") {
			c.bye = true
		}
		if equalFold(status, "BYE") || equalFold(status, "NO") {
			return nil, c.broken(transport.GreetingRefused(fmt.Errorf("greeting: server refused: %q", clip(resp))))
		}
		// Another response in the greeting's place (* BAD, * 3 EXISTS)
		// is no refusal: the server spoke out of turn (error).
		return nil, c.broken(fmt.Errorf("greeting: %w: %q", ErrProtocol, clip(resp)))
	}
	if s.accept(' ') {
		c.respCode(s)
	}
	if s.err != nil {
		return nil, c.broken(fmt.Errorf("greeting: %w", s.err))
	}
	return c, nil
}

// Conn returns the connection the client runs on.
func (c *Client) Conn() net.Conn { return c.conn }

// Close closes the connection and hands the client's buffers on to the
// next client New starts: the data of its responses (a Message's
// literals, an Update's text) are not valid after Close, and every later
// command fails: with the error that broke the client before, if one did,
// else with an error wrapping net.ErrClosed. Like the commands,
// Close must not run while one runs (close the connection for that).
func (c *Client) Close() error {
	err := c.conn.Close()
	if b := c.bufs; b != nil {
		c.broken(errClientClosed)
		b.br.Reset(nil)
		b.resp, b.out = c.resp[:0], c.out[:0]
		c.bufs, c.br, c.resp, c.out = nil, nil, nil, nil
		bufsPool.Put(b)
	}
	return err
}

// connBufs are a client's read buffer and response and command buffers,
// reused by the next client after Close: a session per APPEND (the
// injector, internal/engine/injector.go) then allocates none of them
// (docs/performance.md, "The cost of a connection"). Buffers past
// keepResp are not kept (Client.done).
type connBufs struct {
	br        *bufio.Reader
	resp, out []byte
}

// bufsPool holds the buffers of closed clients.
var bufsPool = sync.Pool{New: func() any { return new(connBufs) }}

// errClientClosed is the error of a command after Close.
var errClientClosed = fmt.Errorf("leanimap: client closed: %w", net.ErrClosed)

// Err returns the error that made the connection unusable, or nil.
func (c *Client) Err() error { return c.err }

// Has reports whether the server announced the capability name (upper
// case, as "MOVE" or "AUTH=PLAIN") in the last capability list seen.
func (c *Client) Has(name string) bool { return slices.Contains(c.caps, name) }

// Bye reports whether the server said BYE on the connection: it is
// closing it (RFC 9051, 7.1.5).
func (c *Client) Bye() bool { return c.bye }

// Caps returns the last capability list seen (nil: none since login). The
// list may be shared with other clients (Options.Caps): do not modify it.
func (c *Client) Caps() []string { return c.caps }

// SetTimeout sets the bound of each command that follows (Options.Timeout;
// DefaultTimeout when d <= 0): a caller that gives its last command a
// shorter bound than the others (a LOGOUT said while the device stops,
// clients/imap_session.go) sets it before that command.
func (c *Client) SetTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultTimeout
	}
	c.opts.Timeout = d
}

// arm sets the deadline of one command.
func (c *Client) arm() error {
	if err := c.conn.SetDeadline(time.Now().Add(c.opts.Timeout)); err != nil {
		return c.broken(fmt.Errorf("set deadline: %w", err))
	}
	return nil
}

// broken makes err sticky and returns it.
func (c *Client) broken(err error) error {
	if c.err == nil {
		c.err = err
	}
	return c.err
}

// begin starts a command: the next tag, the deadline, the tag and verb
// (with what follows it up to the arguments) written.
func (c *Client) begin(verb string) error {
	if c.err != nil {
		return c.err
	}
	c.cmd = command{existsMax: c.exists}
	c.capsSet, c.capsInOK = false, false
	c.sent = false
	c.tag++
	c.tagb = strconv.AppendUint(append(c.tagb[:0], 'L'), c.tag, 10)
	c.out = append(append(append(c.out[:0], c.tagb...), ' '), verb...)
	return c.arm()
}

// flush writes c.out.
func (c *Client) flush() error {
	if _, err := c.conn.Write(c.out); err != nil {
		return c.broken(fmt.Errorf("write: %w", err))
	}
	c.wrote = true
	c.out = c.out[:0]
	return nil
}

// run ends the command line, writes it and reads up to its completion.
func (c *Client) run() error {
	c.out = append(c.out, "\r\n"...)
	c.wrote = false
	err := c.send()
	c.sent = c.wrote
	if err != nil {
		return err
	}
	return c.wait()
}

// Sent reports whether the command in progress, or the last one, went out
// in full, its literals included (its last write succeeded). When it then
// failed without its tagged completion — a read error or a passed deadline
// while waiting, a response that is not IMAP or too large — the server may
// have carried it out: an APPEND may have stored its message. One that
// failed with Sent false never reached the server whole (the write failed,
// or the server refused or never requested its literal), and the server
// did not carry it out.
func (c *Client) Sent() bool { return c.sent }

// send writes c.out, after which the client reads the server's responses.
// When the connection can (a *transport.Conn) and no response bytes are
// buffered, the write is left to the read that follows it (source.Read):
// transport.Conn.WriteRead writes and then waits for the reply in one
// step, with no read that first finds nothing. Either way a write error is
// send's and a read error the one readResponse would have returned.
func (c *Client) send() error {
	if c.err != nil || c.src.wr == nil || c.br.Buffered() > 0 {
		return c.flush()
	}
	c.src.out = c.out
	_, err := c.br.Peek(1)
	c.src.out = nil
	if werr := c.src.werr; werr != nil {
		c.src.werr = nil
		return c.broken(fmt.Errorf("write: %w", werr))
	}
	c.wrote = true
	c.out = c.out[:0]
	if err != nil {
		// As readResponse would have failed: no response read yet.
		c.resp = c.resp[:0]
		return c.broken(c.readErr(err))
	}
	return nil
}

// writeReader is a connection that writes a request and reads the first
// bytes of its reply in one step (transport.Conn.WriteRead).
type writeReader interface {
	WriteRead(p, b []byte) (n int, werr, rerr error)
}

// source is what the client's bufio.Reader reads: the connection, or,
// while send has a command pending in out, the connection's WriteRead of
// it.
type source struct {
	conn net.Conn
	wr   writeReader // nil: conn has no WriteRead
	out  []byte      // the command send leaves to the next Read
	werr error       // the error of writing out
}

// Read reads from the connection, writing the pending command first.
func (s *source) Read(p []byte) (int, error) {
	if s.out == nil {
		return s.conn.Read(p)
	}
	out := s.out
	s.out = nil
	n, werr, rerr := s.wr.WriteRead(out, p)
	if werr != nil {
		s.werr = werr
		return 0, werr
	}
	return n, rerr
}

// wait reads responses up to the tagged completion of the command in
// progress; a continuation request is a protocol error.
func (c *Client) wait() error {
	for {
		kind, err := c.next()
		if err != nil {
			return err
		}
		switch kind {
		case respTagged:
			return c.done()
		case respContinue:
			return c.broken(fmt.Errorf("%w: unexpected continuation request", ErrProtocol))
		}
	}
}

// continuation reads responses up to the server's continuation request;
// a tagged completion first is the command's error (a tagged OK, which a
// server must not send there, is a protocol error).
func (c *Client) continuation() error {
	for {
		kind, err := c.next()
		if err != nil {
			return err
		}
		switch kind {
		case respContinue:
			return nil
		case respTagged:
			return c.broken(fmt.Errorf("%w: completion instead of a continuation request", ErrProtocol))
		}
	}
}

// done ends the command: the fetch callback's error, and big buffers go.
func (c *Client) done() error {
	if cap(c.resp) > keepResp {
		c.resp = nil
	}
	if cap(c.out) > keepResp {
		c.out = nil
	}
	if cap(c.flagScratch) > keepFlags {
		c.flagScratch = nil
	}
	return c.cmd.fetchErr
}

// next reads and handles one response. A tagged NO or BAD is returned as
// an *imap.Error with kind respTagged (not sticky); any other error is
// sticky.
func (c *Client) next() (respKind, error) {
	resp, err := c.readResponse()
	if err != nil {
		return 0, err
	}
	kind, err := c.handle(resp)
	if err != nil {
		var ie *imap.Error
		if kind == respTagged && errors.As(err, &ie) {
			c.done()
			return kind, err
		}
		return kind, c.broken(err)
	}
	return kind, nil
}

// readResponse reads one whole response: its lines up to one that does not
// end in a literal announcement, each literal after its line. The result
// is valid until the next read.
func (c *Client) readResponse() ([]byte, error) {
	if c.err != nil {
		return nil, c.err
	}
	c.resp = c.resp[:0]
	for {
		start := len(c.resp)
		limit := c.opts.MaxLine
		for {
			frag, err := c.br.ReadSlice('\n')
			if len(c.resp)-start+len(frag) > limit {
				var lerr error
				if limit, lerr = c.lineLimit(start, frag); lerr != nil {
					return nil, c.broken(lerr)
				}
			}
			c.resp = append(c.resp, frag...)
			if err == nil {
				break
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			return nil, c.broken(c.readErr(err))
		}
		n, ok := transport.LiteralAtEnd(c.resp[start:])
		if !ok {
			return c.resp, nil
		}
		if n < 0 || n > c.opts.MaxLiteral || int64(len(c.resp))+n > c.opts.MaxLiteral+int64(c.opts.MaxLine) {
			return nil, c.broken(fmt.Errorf("%w: literal over %d bytes", transport.ErrReplyTooLarge, c.opts.MaxLiteral))
		}
		// Grow with the data that comes, not with the announcement.
		for n > 0 {
			k := int(min(n, 32<<10))
			l := len(c.resp)
			c.resp = slices.Grow(c.resp, k)[:l+k]
			if _, err := io.ReadFull(c.br, c.resp[l:]); err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return nil, c.broken(fmt.Errorf("in a literal: %w", c.readErr(err)))
			}
			n -= int64(k)
		}
	}
}

// lineLimit is the bound of the response line being read, which starts at
// c.resp[start:] and goes on with frag, once it passed Options.MaxLine:
// Options.MaxKept for a SEARCH or SORT response (transport.IsDataLine)
// that the command in progress collects (its UIDs, about 6 bytes a
// message at 20,000 messages, grow with the mailbox), else an error
// wrapping transport.ErrReplyTooLarge.
func (c *Client) lineLimit(start int, frag []byte) (int, error) {
	head := c.resp[start:]
	if len(head) < transport.DataLineHead {
		head = append(head[:len(head):len(head)], frag[:min(len(frag), transport.DataLineHead-len(head))]...)
	}
	n := len(c.resp) - start + len(frag)
	if start > 0 || c.cmd.search == nil || !transport.IsDataLine(head) {
		return 0, fmt.Errorf("%w: response line over %d bytes", transport.ErrReplyTooLarge, c.opts.MaxLine)
	}
	limit := max(c.opts.MaxLine, int(min(c.opts.MaxKept, math.MaxInt32)))
	if n > limit {
		return 0, fmt.Errorf("%w: search data line over %d bytes", transport.ErrReplyTooLarge, limit)
	}
	return limit, nil
}

// readErr describes a failed read, mid-response or not.
func (c *Client) readErr(err error) error {
	if c.bye {
		return fmt.Errorf("read after BYE: %w", err)
	}
	if len(c.resp) > 0 && errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read: %w", err)
}

// handle parses one response and applies it.
func (c *Client) handle(resp []byte) (respKind, error) {
	s := &c.s
	s.reset(resp)
	switch {
	case s.accept('+'):
		return respContinue, nil
	case s.accept('*'):
		if s.sp() {
			c.untagged(s)
		}
		if s.err != nil {
			return respUntagged, fmt.Errorf("%w in %q", s.err, clip(resp))
		}
		return respUntagged, nil
	}
	tag := s.atom()
	if s.err == nil && (len(c.tagb) == 0 || !bytes.Equal(tag, c.tagb)) {
		return respUntagged, fmt.Errorf("%w: unknown tag in %q", ErrProtocol, clip(resp))
	}
	s.sp()
	status := s.atom()
	var typ imap.StatusResponseType
	switch {
	case s.err != nil:
	case equalFold(status, "OK"):
		typ = imap.StatusResponseTypeOK
	case equalFold(status, "NO"):
		typ = imap.StatusResponseTypeNo
	case equalFold(status, "BAD"):
		typ = imap.StatusResponseTypeBad
	default:
		s.fail("unknown status")
	}
	var code []byte
	if s.accept(' ') {
		code = c.respCode(s)
		c.capsInOK = equalFold(code, "CAPABILITY")
	}
	text := s.text()
	if s.err != nil {
		return respTagged, fmt.Errorf("%w in %q", s.err, clip(resp))
	}
	c.tagb = c.tagb[:0]
	if typ != imap.StatusResponseTypeOK {
		return respTagged, &imap.Error{Type: typ, Code: imap.ResponseCode(code), Text: string(text)}
	}
	return respTagged, nil
}

// respCode parses an optional [CODE args] and the space after it, applying
// the codes the client uses; it returns the code's name.
func (c *Client) respCode(s *scanner) []byte {
	if !s.accept('[') {
		return nil
	}
	name := s.atom()
	switch {
	case s.err != nil:
		return nil
	case equalFold(name, "CAPABILITY"):
		c.parseCaps(s)
	case equalFold(name, "UIDVALIDITY"):
		s.sp()
		if v := s.number32(); c.cmd.sel != nil {
			c.cmd.sel.UIDValidity = v
		}
	case equalFold(name, "UIDNEXT"):
		s.sp()
		if v := s.number32(); c.cmd.sel != nil {
			c.cmd.sel.UIDNext = imap.UID(v)
		}
	case equalFold(name, "PERMANENTFLAGS"):
		s.sp()
		var dst *[]imap.Flag
		if c.cmd.sel != nil {
			dst = &c.cmd.sel.PermanentFlags
		}
		c.flagList(s, dst)
	case equalFold(name, "COPYUID"):
		s.sp()
		c.copied.UIDValidity = s.number32()
		s.sp()
		uidSet(s) // the source
		s.sp()
		c.copied.Dest = uidSet(s)
	case equalFold(name, "APPENDUID"):
		s.sp()
		c.cmd.appended.UIDValidity = s.number32()
		s.sp()
		c.cmd.appended.UID = imap.UID(s.number32())
	}
	// Skip what is left of the code (arguments of codes not used).
	for s.err == nil && s.i < len(s.b) && s.b[s.i] != ']' && s.b[s.i] != '\r' && s.b[s.i] != '\n' {
		s.i++
	}
	s.expect(']')
	s.accept(' ')
	return name
}

// uidSet reads a UID set of numbers and ranges (no "*").
func uidSet(s *scanner) imap.UIDSet {
	var set imap.UIDSet
	for s.err == nil {
		lo := imap.UID(s.number32())
		hi := lo
		if s.accept(':') {
			hi = imap.UID(s.number32())
		}
		if s.err == nil {
			set = append(set, imap.UIDRange{Start: min(lo, hi), Stop: max(lo, hi)})
		}
		if !s.accept(',') {
			break
		}
	}
	return set
}

// parseCaps reads a capability list (after CAPABILITY) to the end of the
// line or of the response code. Without Options.Caps it parses into the
// client's list. With it, a list whose bytes are those of one cached is
// not parsed again: the client takes that list (shared, read only); a
// list parsed goes to a new slice, cached.
func (c *Client) parseCaps(s *scanner) {
	c.capsSet = true
	cache := c.opts.Caps
	if cache == nil {
		c.caps = c.caps[:0]
		for s.err == nil && s.accept(' ') {
			w := s.atom()
			if s.err == nil {
				c.caps = append(c.caps, capName(w))
			}
		}
		return
	}
	if e := cache.lookup(s.b[s.i:]); e != nil {
		s.i += len(e.raw)
		c.caps = e.caps
		return
	}
	start := s.i
	var scratch [64]string
	caps := scratch[:0]
	for s.err == nil && s.accept(' ') {
		w := s.atom()
		if s.err == nil {
			caps = append(caps, capName(w))
		}
	}
	if len(caps) == 0 {
		c.caps = c.caps[:0] // as without a cache: nil stays unknown
		return
	}
	c.caps = slices.Clone(caps)
	if s.err == nil {
		cache.store(s.b[start:s.i], c.caps)
	}
}

// untagged applies one untagged response after "* ".
func (c *Client) untagged(s *scanner) {
	if p := s.peek(); p >= '0' && p <= '9' {
		n := s.number32()
		s.sp()
		name := s.atom()
		switch {
		case s.err != nil:
		case equalFold(name, "EXISTS"):
			if c.cmd.sel != nil {
				c.cmd.sel.NumMessages = n
			}
			c.exists = n
			c.cmd.existsMax = max(c.cmd.existsMax, n)
			c.update(UpdateExists, n)
		case equalFold(name, "EXPUNGE"):
			// The message numbers move: a later UID-less response for the
			// last number answered is about another message (followUp).
			c.cmd.lastSeq, c.cmd.lastUID = 0, 0
			c.exists -= min(c.exists, 1)
			c.update(UpdateExpunge, n)
		case equalFold(name, "FETCH"):
			if c.cmd.fetch != nil {
				if c.cmd.fetches++; c.cmd.fetches > MaxFetchResponses(c.cmd.existsMax) {
					s.err = fmt.Errorf("%w: over %d FETCH responses in a mailbox of %d messages", transport.ErrReplyTooLarge, MaxFetchResponses(c.cmd.existsMax), c.cmd.existsMax)
					return
				}
			}
			s.sp()
			c.parseFetch(s, n)
			if s.err != nil {
				return
			}
			if c.cmd.fetch != nil {
				c.cmd.followUp(&c.msg)
				if c.cmd.asked(c.msg.UID) {
					if len(c.cmd.uids) > 0 {
						c.cmd.lastSeq, c.cmd.lastUID = c.msg.SeqNum, c.msg.UID
					}
					if err := c.cmd.fetch(&c.msg); err != nil && c.cmd.fetchErr == nil {
						c.cmd.fetchErr = err
					}
					return
				}
			}
			c.upd = Update{Kind: UpdateFetch, Num: n, Message: &c.msg}
			c.deliver()
		}
		return
	}
	name := s.atom()
	switch {
	case s.err != nil:
	case equalFold(name, "OK"), equalFold(name, "NO"), equalFold(name, "BAD"), equalFold(name, "PREAUTH"):
		if s.accept(' ') {
			c.respCode(s)
		}
	case equalFold(name, "BYE"):
		c.bye = true
		s.accept(' ')
		c.upd = Update{Kind: UpdateBye, Text: s.text()}
		c.deliver()
	case equalFold(name, "CAPABILITY"):
		c.parseCaps(s)
	case equalFold(name, "FLAGS"):
		s.sp()
		var dst *[]imap.Flag
		if c.cmd.sel != nil {
			dst = &c.cmd.sel.Flags
		} else {
			c.msg.Flags = c.msg.Flags[:0]
			dst = &c.msg.Flags
		}
		c.flagList(s, dst)
		c.upd = Update{Kind: UpdateFlags, Flags: *dst}
		c.deliver()
	case equalFold(name, "LIST"), equalFold(name, "LSUB"):
		if c.cmd.list != nil && c.keep(s) {
			s.sp()
			c.parseList(s)
		}
	case equalFold(name, "STATUS"):
		if c.cmd.status != nil {
			s.sp()
			c.parseStatus(s)
		}
	case equalFold(name, "SEARCH"), equalFold(name, "SORT"):
		if c.cmd.search == nil || !c.keep(s) {
			break
		}
		for s.err == nil && s.accept(' ') {
			if s.atEOL() {
				break // a trailing space, as some servers send
			}
			*c.cmd.search = append(*c.cmd.search, imap.UID(s.number32()))
		}
	case equalFold(name, "ENABLED"):
		for s.err == nil && s.accept(' ') {
			if w := s.atom(); equalFold(w, "UTF8=ACCEPT") {
				c.utf8 = true
			}
		}
	case equalFold(name, "NAMESPACE"):
		if c.cmd.ns != nil {
			s.sp()
			c.parseNamespace(s)
		}
	}
}

// keep accounts for the response s reads, whose data the command keeps
// (called once per response): false, with s's error, when the command's
// responses kept passed Options.MaxKept bytes.
func (c *Client) keep(s *scanner) bool {
	c.cmd.kept += int64(len(s.b))
	if c.cmd.kept > c.opts.MaxKept {
		s.err = fmt.Errorf("%w: responses kept over %d bytes", transport.ErrReplyTooLarge, c.opts.MaxKept)
		return false
	}
	return true
}

// asked reports whether a FETCH response naming uid (0: none) answers the
// command in progress: always without a UID set; with one (UID FETCH, UID
// STORE) when uid is in it, never when the response names no UID, as a
// server must name it in every FETCH response a UID command causes (RFC
// 9051, 6.4.9), as go-imap's client also decides. A range ending in "*"
// asks for any UID at or above its start and also for the mailbox's
// largest UID, which may be below it (RFC 3501, 6.4.8), so it is taken to
// ask for every UID. Servers send other sessions' flag changes among a
// command's responses (the embedded server and Cyrus with a UID, Dovecot
// without one during UID FETCH): given to the command's callback, which
// looks at its own UIDs only, such a change was lost. A response without
// a UID about the message the command just answered has its UID by then
// (followUp).
func (cmd *command) asked(uid imap.UID) bool {
	n := len(cmd.uids)
	if n == 0 {
		return true
	}
	if uid == 0 {
		return false
	}
	for i := range n {
		j := (cmd.hint + i) % n
		r := cmd.uids[j]
		lo, hi := min(r.Start, r.Stop), max(r.Start, r.Stop)
		if lo == 0 || lo <= uid && uid <= hi {
			cmd.hint = j
			return true
		}
	}
	return false
}

// followUp gives a FETCH response without a UID, during a UID command, the
// UID of the message the command's last response was about when it names
// the same message number with no EXPUNGE between (one clears it: UID
// commands may see expunges), so it is about that message — Courier
// reports the \Seen a BODY[] fetch sets in such a response of its own,
// after the message's (`* 3 FETCH (UID 3 BODY[] {83}…)` then `* 3 FETCH
// (FLAGS (\Seen))`), and taken for another session's change it woke the
// device for a resync that learned nothing.
func (cmd *command) followUp(m *Message) {
	if m.UID == 0 && cmd.lastUID != 0 && m.SeqNum == cmd.lastSeq {
		m.UID = cmd.lastUID
	}
}

// update gives an EXISTS or EXPUNGE to the handler.
func (c *Client) update(kind UpdateKind, n uint32) {
	c.upd = Update{Kind: kind, Num: n}
	c.deliver()
}

// deliver hands c.upd to the handler and counts the updates IDLE waits for.
func (c *Client) deliver() {
	switch c.upd.Kind {
	case UpdateExists, UpdateExpunge, UpdateFetch:
		c.cmd.updates++
	}
	if c.opts.Handler != nil {
		c.opts.Handler.Update(&c.upd)
	}
}

// clip shortens a response for an error message.
func clip(b []byte) []byte {
	b = bytes.TrimRight(b, "\r\n")
	if len(b) > 80 {
		return b[:80]
	}
	return b
}
