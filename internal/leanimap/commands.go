package leanimap

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
)

// ErrIdleEnded is wrapped by Wait's error when the server ended IDLE
// itself (a tagged completion or BYE while waiting).
var ErrIdleEnded = errors.New("server ended IDLE")

// aLongTimeAgo is a deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// str appends s as an IMAP string: an atom when it is one, a quoted
// string when it can be (UTF-8 in it once UTF8=ACCEPT is enabled, RFC
// 6855), else a literal (sent as the server allows).
func (c *Client) str(s string) error { return c.astring(s, true) }

// astring appends s as an atom when atomOK and it is one, else quoted, else
// as a literal. ID's parameters must be strings (RFC 2971): Cyrus answers
// BAD to an atom there.
func (c *Client) astring(s string, atomOK bool) error {
	atom, quotable := atomOK && s != "", true
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b == 0 || b == '\r' || b == '\n' || (b >= 0x80 && !c.utf8) {
			quotable = false
			break
		}
		if !isAtomChar(b, false) || b == '\\' || b == '%' || b == '*' || b == ']' {
			atom = false
		}
	}
	switch {
	case atom && !equalFold([]byte(s), "NIL"):
		c.out = append(c.out, s...)
	case quotable:
		c.out = append(c.out, '"')
		for i := 0; i < len(s); i++ {
			if s[i] == '"' || s[i] == '\\' {
				c.out = append(c.out, '\\')
			}
			c.out = append(c.out, s[i])
		}
		c.out = append(c.out, '"')
	default:
		return c.literal([]byte(s))
	}
	return nil
}

// literal appends b as a literal: non-synchronizing with LITERAL+ (or
// LITERAL- up to 4096 bytes), else announced and sent after the server's
// continuation request.
func (c *Client) literal(b []byte) error {
	c.out = append(c.out, '{')
	c.out = strconv.AppendInt(c.out, int64(len(b)), 10)
	if c.Has("LITERAL+") || (c.Has("LITERAL-") && len(b) <= 4096) {
		c.out = append(c.out, "+}\r\n"...)
	} else {
		c.out = append(c.out, "}\r\n"...)
		if err := c.send(); err != nil {
			return err
		}
		if err := c.continuation(); err != nil {
			return err
		}
	}
	c.out = append(c.out, b...)
	return nil
}

// uidSet appends set ("1:*" for a range to 0).
func (c *Client) uidSet(set imap.UIDSet) error {
	if len(set) == 0 {
		return errors.New("empty UID set")
	}
	for i, r := range set {
		c.out = appendRange(c.out, i, r.Start, r.Stop)
	}
	return nil
}

// seqSet appends set by message number ("1:*" for a range to 0).
func (c *Client) seqSet(set imap.SeqSet) error {
	if len(set) == 0 {
		return errors.New("empty sequence set")
	}
	for i, r := range set {
		c.out = appendRange(c.out, i, imap.UID(r.Start), imap.UID(r.Stop))
	}
	return nil
}

// appendRange appends range i of a set: "start" or "start:stop", after
// a comma but for the first.
func appendRange(b []byte, i int, start, stop imap.UID) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = appendUID(b, start)
	if stop != start {
		b = appendUID(append(b, ':'), stop)
	}
	return b
}

// appendUID appends u, or "*" for 0.
func appendUID(b []byte, u imap.UID) []byte {
	if u == 0 {
		return append(b, '*')
	}
	return strconv.AppendUint(b, uint64(u), 10)
}

// simple runs a command whose arguments are strings.
func (c *Client) simple(verb string, args ...string) error {
	if err := c.begin(verb); err != nil {
		return err
	}
	for _, a := range args {
		c.out = append(c.out, ' ')
		if err := c.str(a); err != nil {
			return err
		}
	}
	return c.run()
}

// Login says LOGIN user pass. Capabilities the server sends with its reply
// replace those of the greeting; without them Has knows none until
// Capability.
func (c *Client) Login(user, pass string) error {
	err := c.simple("LOGIN", user, pass)
	if err == nil && !c.capsInOK {
		c.caps = nil
	}
	return err
}

// AuthenticatePlain authenticates with SASL PLAIN (the initial response
// inline with SASL-IR, else after the continuation request).
func (c *Client) AuthenticatePlain(user, pass string) error {
	sasl := c.Has("SASL-IR")
	if err := c.begin("AUTHENTICATE PLAIN"); err != nil {
		return err
	}
	if sasl {
		c.out = appendPlain(append(c.out, ' '), user, pass)
		if err := c.run(); err != nil {
			return err
		}
	} else {
		c.out = append(c.out, "\r\n"...)
		if err := c.send(); err != nil {
			return err
		}
		if err := c.continuation(); err != nil {
			return err
		}
		c.out = append(appendPlain(c.out, user, pass), "\r\n"...)
		if err := c.send(); err != nil {
			return err
		}
		if err := c.wait(); err != nil {
			return err
		}
	}
	if !c.capsInOK {
		c.caps = nil
	}
	return nil
}

// appendPlain appends SASL PLAIN's response for user and pass (RFC 4616:
// an empty authorization identity), base64-encoded, to b.
func appendPlain(b []byte, user, pass string) []byte {
	var buf [128]byte
	raw := append(append(append(append(buf[:0], 0), user...), 0), pass...)
	return base64.StdEncoding.AppendEncode(b, raw)
}

// Capability asks for the capabilities (see Has).
func (c *Client) Capability() ([]string, error) {
	if err := c.simple("CAPABILITY"); err != nil {
		return nil, err
	}
	return c.caps, nil
}

// ensureCaps asks for the capabilities when none are known.
func (c *Client) ensureCaps() error {
	if c.caps != nil {
		return nil
	}
	_, err := c.Capability()
	return err
}

// Namespace returns the server's namespaces (RFC 2342).
func (c *Client) Namespace() (*imap.NamespaceData, error) {
	var ns imap.NamespaceData
	if err := c.begin("NAMESPACE"); err != nil {
		return nil, err
	}
	c.cmd.ns = &ns
	if err := c.run(); err != nil {
		return nil, err
	}
	return &ns, nil
}

// List lists the mailboxes matching pattern under ref, with their
// special-use attributes when specialUse (RFC 6154's RETURN).
func (c *Client) List(ref, pattern string, specialUse bool) ([]imap.ListData, error) {
	var out []imap.ListData
	if err := c.begin("LIST "); err != nil {
		return nil, err
	}
	c.cmd.list = &out
	if err := c.quoted(ref); err != nil {
		return nil, err
	}
	c.out = append(c.out, ' ')
	if !c.utf8 {
		pattern = encodeMailbox(pattern)
	}
	if err := c.quoted(pattern); err != nil {
		return nil, err
	}
	if specialUse {
		c.out = append(c.out, " RETURN (SPECIAL-USE)"...)
	}
	if err := c.run(); err != nil {
		return nil, err
	}
	return out, nil
}

// quoted appends s always quoted (LIST's reference and pattern, where an
// empty string is common).
func (c *Client) quoted(s string) error {
	if s != "" {
		return c.str(s)
	}
	c.out = append(c.out, `""`...)
	return nil
}

// Status asks for the items of opts on mailbox name (MESSAGES, UIDNEXT,
// UIDVALIDITY, UNSEEN, DELETED, SIZE, HIGHESTMODSEQ).
func (c *Client) Status(name string, opts imap.StatusOptions) (*imap.StatusData, error) {
	sd := new(statusData)
	if err := c.status(&sd.d, &sd.vals, name, opts); err != nil {
		return nil, err
	}
	return &sd.d, nil
}

// StatusTo is Status into d, which the caller may reuse: no allocation.
// The counts d points to are the client's, valid until its next StatusTo.
func (c *Client) StatusTo(d *imap.StatusData, name string, opts imap.StatusOptions) error {
	*d = imap.StatusData{}
	c.statusVals = [3]uint32{}
	return c.status(d, &c.statusVals, name, opts)
}

// status runs STATUS, collecting into d and the counts into vals.
func (c *Client) status(d *imap.StatusData, vals *[3]uint32, name string, opts imap.StatusOptions) error {
	if err := c.begin("STATUS "); err != nil {
		return err
	}
	c.cmd.status, c.cmd.statusVals, c.cmd.statusName = d, vals, name
	if err := c.mailbox(name); err != nil {
		return err
	}
	c.out = append(c.out, " ("...)
	n := len(c.out)
	for _, it := range []struct {
		on   bool
		name string
	}{{opts.NumMessages, "MESSAGES"}, {opts.UIDNext, "UIDNEXT"}, {opts.UIDValidity, "UIDVALIDITY"},
		{opts.NumUnseen, "UNSEEN"}, {opts.NumDeleted, "DELETED"}, {opts.Size, "SIZE"}, {opts.HighestModSeq, "HIGHESTMODSEQ"}} {
		if it.on {
			if len(c.out) > n {
				c.out = append(c.out, ' ')
			}
			c.out = append(c.out, it.name...)
		}
	}
	if len(c.out) == n {
		return errors.New("STATUS without items")
	}
	c.out = append(c.out, ')')
	return c.run()
}

// statusData is what a STATUS command returns: the data and the counts it
// points to, in one allocation.
type statusData struct {
	d    imap.StatusData
	vals [3]uint32 // MESSAGES, UNSEEN, DELETED
}

// Create creates mailbox name.
func (c *Client) Create(name string) error {
	if err := c.begin("CREATE "); err != nil {
		return err
	}
	if err := c.mailbox(name); err != nil {
		return err
	}
	return c.run()
}

// Select opens mailbox name read-write, or read-only (EXAMINE) when
// readOnly, and returns what the server reported: EXISTS, FLAGS,
// PERMANENTFLAGS, UIDVALIDITY, UIDNEXT.
func (c *Client) Select(name string, readOnly bool) (*imap.SelectData, error) {
	var d imap.SelectData
	if err := c.SelectTo(&d, name, readOnly); err != nil {
		return nil, err
	}
	return &d, nil
}

// SelectTo is Select into d, which the caller may reuse: its flag lists'
// arrays are reused, so that a SELECT allocates nothing once they have
// room.
func (c *Client) SelectTo(d *imap.SelectData, name string, readOnly bool) error {
	*d = imap.SelectData{Flags: d.Flags[:0], PermanentFlags: d.PermanentFlags[:0]}
	verb := "SELECT "
	if readOnly {
		verb = "EXAMINE "
	}
	if err := c.begin(verb); err != nil {
		return err
	}
	c.cmd.sel = d
	if err := c.mailbox(name); err != nil {
		return err
	}
	return c.run()
}

// UIDFetch sends UID FETCH set items, where items is the fetch attribute
// list as sent ("(UID FLAGS)", "(UID BODY.PEEK[HEADER.FIELDS
// (MESSAGE-ID)])"), and calls fn for each FETCH response that names a UID
// of set on the caller's goroutine, or no UID but the message number of
// the response before (command.followUp); one naming another UID or none
// is another session's change and goes to the Handler (command.asked). The
// first error fn returns is the command's error (the responses are still
// read to the end).
func (c *Client) UIDFetch(set imap.UIDSet, items string, fn func(*Message) error) error {
	if err := c.uidFetch(set, fn); err != nil {
		return err
	}
	c.out = append(append(c.out, ' '), items...)
	return c.run()
}

// UIDFetchBytes is UIDFetch with the item list as bytes (a caller that
// builds it needs no string of it).
func (c *Client) UIDFetchBytes(set imap.UIDSet, items []byte, fn func(*Message) error) error {
	if err := c.uidFetch(set, fn); err != nil {
		return err
	}
	c.out = append(append(c.out, ' '), items...)
	return c.run()
}

// Fetch sends FETCH set items, by message number (set "1:*" is every
// message), where items is the fetch attribute list as sent, and calls fn
// on the caller's goroutine for each FETCH response until the completion:
// with no UID set to tell them by, every FETCH response the command
// brings goes to fn, another session's flag change included (a caller
// that must tell them apart asks for UIDs, with UIDFetch). The first error
// fn returns is the command's error (the responses are still read to the
// end).
func (c *Client) Fetch(set imap.SeqSet, items string, fn func(*Message) error) error {
	if err := c.begin("FETCH "); err != nil {
		return err
	}
	c.cmd.fetch = fn
	if err := c.seqSet(set); err != nil {
		return err
	}
	c.out = append(append(c.out, ' '), items...)
	return c.run()
}

// uidFetch begins UID FETCH set for fn.
func (c *Client) uidFetch(set imap.UIDSet, fn func(*Message) error) error {
	if err := c.begin("UID FETCH "); err != nil {
		return err
	}
	c.cmd.fetch, c.cmd.uids = fn, set
	return c.uidSet(set)
}

// UIDStore changes the flags of the messages of set (op: set, add,
// delete; .SILENT when silent). fn receives the FETCH responses the
// server answers with (nil: they go to the Handler), those naming a UID of
// set (the others go to the Handler, as in UIDFetch).
func (c *Client) UIDStore(set imap.UIDSet, op imap.StoreFlagsOp, silent bool, flags []imap.Flag, fn func(*Message) error) error {
	if err := c.begin("UID STORE "); err != nil {
		return err
	}
	c.cmd.fetch, c.cmd.uids = fn, set
	if err := c.uidSet(set); err != nil {
		return err
	}
	switch op {
	case imap.StoreFlagsAdd:
		c.out = append(c.out, " +FLAGS"...)
	case imap.StoreFlagsDel:
		c.out = append(c.out, " -FLAGS"...)
	default:
		c.out = append(c.out, " FLAGS"...)
	}
	if silent {
		c.out = append(c.out, ".SILENT"...)
	}
	c.flags(flags)
	return c.run()
}

// flags appends " (flag ...)".
func (c *Client) flags(flags []imap.Flag) {
	c.out = append(c.out, " ("...)
	for i, f := range flags {
		if i > 0 {
			c.out = append(c.out, ' ')
		}
		c.out = append(c.out, f...)
	}
	c.out = append(c.out, ')')
}

// UIDSearch sends UID SEARCH criteria (as sent, e.g. "UNSEEN" or
// `HEADER Message-ID "<id@host>"`) and appends the UIDs found to dst.
func (c *Client) UIDSearch(dst []imap.UID, criteria string) ([]imap.UID, error) {
	if err := c.begin("UID SEARCH "); err != nil {
		return dst, err
	}
	c.cmd.search = &dst
	c.out = append(c.out, criteria...)
	err := c.run()
	return dst, err
}

// UIDSort sends UID SORT (keys) UTF-8 search (RFC 5256; keys and search
// as sent, e.g. "ARRIVAL" and "ALL") and appends the UIDs in order to dst.
func (c *Client) UIDSort(dst []imap.UID, keys, search string) ([]imap.UID, error) {
	if err := c.begin("UID SORT ("); err != nil {
		return dst, err
	}
	c.cmd.search = &dst
	c.out = append(append(append(c.out, keys...), ") UTF-8 "...), search...)
	err := c.run()
	return dst, err
}

// ID tells the server the client's name and version (RFC 2971); the
// server's own ID is not kept.
func (c *Client) ID(name, version string) error {
	if err := c.begin(`ID ("name" `); err != nil {
		return err
	}
	if err := c.astring(name, false); err != nil {
		return err
	}
	c.out = append(c.out, ` "version" `...)
	if err := c.astring(version, false); err != nil {
		return err
	}
	c.out = append(c.out, ')')
	return c.run()
}

// Enable enables the extensions named (RFC 5161), e.g. "UTF8=ACCEPT".
func (c *Client) Enable(caps ...string) error {
	if len(caps) == 0 {
		return errors.New("ENABLE without extensions")
	}
	if err := c.begin("ENABLE"); err != nil {
		return err
	}
	for _, x := range caps {
		c.out = append(append(c.out, ' '), x...)
	}
	return c.run()
}

// UIDCopy copies the messages of set to mailbox dest.
func (c *Client) UIDCopy(set imap.UIDSet, dest string) error {
	c.copied = CopyData{}
	return c.uidVerb("UID COPY ", set, dest)
}

// UIDMove moves the messages of set to mailbox dest: UID MOVE when the
// server announces MOVE, else UID COPY, UID STORE +FLAGS.SILENT
// (\Deleted) and UID EXPUNGE (EXPUNGE without UIDPLUS, which also removes
// other messages marked \Deleted).
func (c *Client) UIDMove(set imap.UIDSet, dest string) error {
	c.copied = CopyData{}
	if err := c.ensureCaps(); err != nil {
		return err
	}
	if c.Has("MOVE") {
		return c.uidVerb("UID MOVE ", set, dest)
	}
	if err := c.UIDCopy(set, dest); err != nil {
		return err
	}
	if err := c.UIDStore(set, imap.StoreFlagsAdd, true, []imap.Flag{imap.FlagDeleted}, nil); err != nil {
		return err
	}
	if c.Has("UIDPLUS") {
		return c.UIDExpunge(set)
	}
	return c.Expunge()
}

// Copied returns the COPYUID the server answered the last UIDCopy or
// UIDMove with (zero when it sent none).
func (c *Client) Copied() CopyData { return c.copied }

func (c *Client) uidVerb(verb string, set imap.UIDSet, dest string) error {
	if err := c.begin(verb); err != nil {
		return err
	}
	if err := c.uidSet(set); err != nil {
		return err
	}
	c.out = append(c.out, ' ')
	if err := c.mailbox(dest); err != nil {
		return err
	}
	return c.run()
}

// UIDExpunge expunges the messages of set marked \Deleted (UIDPLUS).
func (c *Client) UIDExpunge(set imap.UIDSet) error {
	if err := c.begin("UID EXPUNGE "); err != nil {
		return err
	}
	if err := c.uidSet(set); err != nil {
		return err
	}
	return c.run()
}

// Expunge expunges every message of the mailbox marked \Deleted; the
// EXPUNGE responses go to the Handler.
func (c *Client) Expunge() error { return c.simple("EXPUNGE") }

// Noop sends NOOP; the updates it brings go to the Handler.
func (c *Client) Noop() error { return c.simple("NOOP") }

// Append appends msg to mailbox with flags and, when not zero, date as
// its internal date; it returns APPENDUID's data when the server sends it.
func (c *Client) Append(mailbox string, flags []imap.Flag, date time.Time, msg []byte) (AppendData, error) {
	if err := c.begin("APPEND "); err != nil {
		return AppendData{}, err
	}
	if err := c.mailbox(mailbox); err != nil {
		return AppendData{}, err
	}
	if len(flags) > 0 {
		c.flags(flags)
	}
	if !date.IsZero() {
		c.out = append(append(append(c.out, ` "`...), date.Format(internalDateLayout)...), '"')
	}
	c.out = append(c.out, ' ')
	if err := c.literal(msg); err != nil {
		return AppendData{}, err
	}
	if err := c.run(); err != nil {
		return AppendData{}, err
	}
	return c.cmd.appended, nil
}

// Idle sends IDLE and returns once the server accepted it; then Wait
// waits for updates and Done ends it.
func (c *Client) Idle() error {
	if err := c.begin("IDLE\r\n"); err != nil {
		return err
	}
	if err := c.send(); err != nil {
		return err
	}
	if err := c.continuation(); err != nil {
		return err
	}
	// An idle connection holds no response or command buffer.
	c.resp, c.out = nil, nil
	return nil
}

// Wait blocks in IDLE, on the caller's goroutine, until the server sends
// EXISTS, EXPUNGE or FETCH (true; the Handler has them), max passes in all
// (false, nil), Interrupt is called (false, nil), or ctx ends (ctx's error, and the connection is then
// unusable: the caller closes it). A server that ends IDLE itself is an
// error wrapping ErrIdleEnded. An Interrupt is used up by the Wait it
// ends, whatever that Wait returns: one that lands while Wait reads an
// update (which Wait then returns) does not end the next Wait too.
func (c *Client) Wait(ctx context.Context, max time.Duration) (bool, error) {
	defer c.clearInterrupt()
	if c.err != nil {
		return false, c.err
	}
	if max <= 0 {
		max = c.opts.Timeout
	}
	c.cmd.updates = 0
	deadline, byCtx := time.Now().Add(max), false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, byCtx = d, true
	}
	for {
		c.imu.Lock()
		if c.intr {
			c.imu.Unlock()
			return false, nil
		}
		c.peeking = true
		err := c.conn.SetReadDeadline(deadline)
		c.imu.Unlock()
		if err != nil {
			c.endPeek()
			return false, c.broken(fmt.Errorf("set deadline: %w", err))
		}
		stop := func() bool { return true }
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(aLongTimeAgo) })
		}
		_, err = c.br.Peek(1)
		interrupted := c.endPeek()
		stopped := stop()
		timedOut := err != nil && errors.Is(err, os.ErrDeadlineExceeded) && !time.Now().Before(deadline)
		if ctx.Err() != nil || !stopped || (timedOut && byCtx) {
			cause := ctx.Err()
			if cause == nil { // the socket's deadline (ctx's) came first
				cause = context.DeadlineExceeded
			}
			return false, c.broken(fmt.Errorf("idle: %w", cause))
		}
		if err != nil {
			if timedOut {
				return false, nil // nothing came: the connection is intact
			}
			if errors.Is(err, os.ErrDeadlineExceeded) && interrupted {
				return false, nil // interrupted: the connection is intact
			}
			return false, c.broken(c.readErr(err))
		}
		if err := c.arm(); err != nil {
			return false, err
		}
		kind, err := c.next()
		if err != nil {
			return false, err
		}
		if kind != respUntagged || c.bye {
			return false, c.broken(fmt.Errorf("%w", ErrIdleEnded))
		}
		if c.cmd.updates > 0 {
			return true, nil
		}
	}
}

// Interrupt makes the Wait in progress, or the next one of this IDLE,
// return false with the connection intact (Wait and Done forget an
// Interrupt that came too late to end a Wait: IDLE ends anyway). It is
// the one method safe to call from another goroutine.
func (c *Client) Interrupt() {
	c.imu.Lock()
	defer c.imu.Unlock()
	c.intr = true
	if c.peeking {
		_ = c.conn.SetReadDeadline(aLongTimeAgo)
	}
}

// clearInterrupt forgets an Interrupt: the Wait it was meant for returned.
func (c *Client) clearInterrupt() {
	c.imu.Lock()
	defer c.imu.Unlock()
	c.intr = false
}

// endPeek ends Wait's Peek: from here Interrupt leaves the deadline alone
// (a response is read under the command's deadline) and only makes the
// next round of Wait return. It reports whether Interrupt was called.
func (c *Client) endPeek() bool {
	c.imu.Lock()
	defer c.imu.Unlock()
	c.peeking = false
	return c.intr
}

// Done ends IDLE and reads its completion (updates go to the Handler).
func (c *Client) Done() error {
	c.clearInterrupt()
	if c.err != nil {
		return c.err
	}
	if err := c.arm(); err != nil {
		return err
	}
	c.out = append(c.out[:0], "DONE\r\n"...)
	if err := c.send(); err != nil {
		return err
	}
	return c.wait()
}

// Logout says LOGOUT and reads the server's BYE and completion; the caller
// closes the connection.
func (c *Client) Logout() error {
	err := c.simple("LOGOUT")
	if err != nil && c.bye && c.err != nil {
		return nil // closed after BYE without the completion
	}
	return err
}
