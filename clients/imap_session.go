package clients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/mailsim/mailsim/internal/transport"
)

// imapSession is one logged-in IMAP connection of a device.
type imapSession struct {
	d    *imapDevice
	conn *transport.Conn
	c    imapConn
	caps imap.CapSet
	// ctx is the context of the work on the session now: the dial's,
	// then the one imapSlot.watched runs the work on (a webmail page
	// load's is its dial's). Once it has ended, begin sends nothing more.
	// Only the goroutine working on the session touches it.
	ctx context.Context
	// born is the simulated time of login (for LoginInterval).
	born time.Time
	// selected is the mailbox selected now ("" none); readOnly after EXAMINE.
	selected string
	readOnly bool
	validity uint32
	// uidNext is the selected mailbox's UIDNEXT at its SELECT (0:
	// unknown): a UID at or above it may be one the server has not shown
	// this session yet (imapDevice.store).
	uidNext imap.UID
	// stale is set when the selected mailbox changed on the server since
	// the last sync; listed once LIST ran on this session.
	stale, listed bool
	// updates receives a token when the server sends unilateral data
	// (EXISTS, EXPUNGE, FETCH): the selected mailbox changed.
	updates chan struct{}
	// broken is set after a network-level failure; the session must be
	// closed and not reused.
	broken bool
	// armed is when arm last set the read deadline (for the FETCH in
	// progress: when it last renewed it); rearm is fetchProgress as a func
	// value, made once per session.
	armed time.Time
	rearm func()
	// adapted caches adaptFetch's results for the profile's fetch items.
	adapted map[*imap.FetchOptions]*imap.FetchOptions
	// dead is set when the connection was closed under a running command
	// because the device is stopping: its failures are not recorded, but
	// for a command cut after the stop's grace (graceExpired), a timeout.
	dead atomic.Bool
	// graceExpired is set with dead when the connection was closed because
	// a command outlived the stop's grace after the device was told to stop
	// and is overdue by the stop's rule (graceStart.overdue: not when
	// mailsim's simulated network held it during the grace; not when the
	// stop closed a connection still dialing).
	graceExpired atomic.Bool
}

// sawFlags records flags the server reported for message uid of the
// selected mailbox beside a fetch's own answer (leanConn.fetched): they
// are the message's flags, and the server does not send them again. A set
// without a flag the view holds (another session removed it) is left to a
// resync (poke), as any other change: noteFlags only adds.
func (s *imapSession) sawFlags(uid imap.UID, flags []imap.Flag) {
	if s.selected == "" {
		return
	}
	f := flagsOf(flags)
	if have, ok := s.d.flagsAt(s.selected, uid); ok && have&^f != 0 {
		s.poke()
		return
	}
	if f != 0 {
		s.d.noteFlags(s.selected, uid, f)
	}
}

// poke signals an unsolicited mailbox change without blocking.
func (s *imapSession) poke() {
	select {
	case s.updates <- struct{}{}:
	default:
	}
}

// arm sets the read deadline for the reply to a command: now plus d, or the
// device timeout when d <= 0. It returns the now it read, so that a command
// starts on the same clock reading as its deadline (do).
func (s *imapSession) arm(d time.Duration) time.Time {
	if d <= 0 {
		d = s.d.o.timeout()
	}
	now := time.Now()
	_ = s.conn.SetReadDeadline(now.Add(d))
	s.armed = now
	return now
}

// disarm removes the read deadline while the connection is idle between
// commands (the library reads continuously in the background).
func (s *imapSession) disarm() { _ = s.conn.SetReadDeadline(time.Time{}) }

// errNotSent is the error of a command begin did not send: the context of
// the work on the session had ended (the stop began).
var errNotSent = errors.New("clients: not sent: the device or its action is stopping")

// begin starts command name, about to be sent: it arms the deadline of the
// reply and tracks the command from then, and returns its start. Once the
// context of the work on s has ended it sends nothing: a command in flight
// at the stop has the stop's grace to be answered (imapSlot.watchOwner,
// closeOnStop) and, answered, is the work's last, so that the next step
// of a sync or an action does not reach the server as a stopped device's
// (StopGrace.Start is this rule for POP3, SMTP and the injector). The
// command then fails with errNotSent, tracked and counted nowhere, and
// the session stays usable: for the LOGOUT a stopping device says
// (imapSlot.stop, webmailSync.pageLoad), or for the device's own work when
// only an action's context ended. It is the one place an IMAP command
// starts (do, IDLE: imapDevice.idle), but for the stop's own LOGOUT
// (logout) and IDLE's DONE, which ends the command in flight.
func (s *imapSession) begin(name string) (time.Time, error) {
	if s.ctx != nil && s.ctx.Err() != nil {
		return time.Time{}, fmt.Errorf("imap %s %s: %w", s.d.o.IMAP.Addr, name, errNotSent)
	}
	start := s.arm(0)
	trackStart(s.d.rec, ProtocolIMAP, name, start)
	return start, nil
}

// cut reports whether err, a failure on s, is the stop's: the stop closed
// the connection under the command (dead) or begin did not send it (the
// dial's watch, which closes the connection, may not have run yet).
func (s *imapSession) cut(err error) bool {
	return s.dead.Load() || errors.Is(err, errNotSent)
}

// do runs one command f under a read deadline and records it as name
// (begin: once the stop began, f does not run). A failure that is not an
// IMAP NO/BAD marks the session broken.
func (s *imapSession) do(name string, f func() error) error {
	start, err := s.begin(name)
	if err != nil {
		return err
	}
	err = f()
	if _, lean := s.c.(*leanConn); !lean {
		// go-imap reports a timed-out or oversized read as flat text. The
		// lean client's errors wrap their causes, and its IDLE waits end
		// on read deadlines on purpose: the connection's first read error
		// would name an old, harmless wait the cause of this failure.
		err = s.conn.Explain(err)
	}
	if s.end(name, start, start, err, false) {
		return fmt.Errorf("imap %s %s: unanswered when the device stopped: %w", s.d.o.IMAP.Addr, name, net.ErrClosed)
	}
	s.disarm()
	if err != nil {
		if breaks(err) {
			s.broken = true
		}
		return fmt.Errorf("imap %s %s: %w", s.d.o.IMAP.Addr, name, err)
	}
	return nil
}

// end ends the tracked wait of command name, started at tracked (the
// command itself at start: they differ for IDLE's wait after DONE), by
// endCommand's rule: the command is cut when it failed while the device
// is stopping (stopping, or the stop closed the connection under it:
// dead), and then a timeout when the server left it unanswered beyond
// the stop's grace (graceExpired), else abandoned. A cut command breaks the
// session; end reports whether it was cut.
func (s *imapSession) end(name string, start, tracked time.Time, err error, stopping bool) (cut bool) {
	stopping = stopping || s.dead.Load()
	endCommand(s.d.rec, ProtocolIMAP, name, start, tracked, err, stopping, s.graceExpired.Load())
	if err != nil && stopping {
		s.broken = true
		return true
	}
	return false
}

// ended ends a tracked wait of the session's setup (end).
func (s *imapSession) ended(ctx context.Context, name string, start time.Time, err error) {
	s.end(name, start, start, err, ctx.Err() != nil)
}

// IdleProbeAfter is how long a connection must have been idle before its
// client looks whether the server closed it meanwhile
// (transport.Conn.PeerClosed): an IMAP session before imapSlot.run's next
// work (closedWhileIdle). A device's commands come in bursts — a sync
// round, an action — milliseconds apart, and between bursts it waits at
// least minWallWait, mostly seconds: so the look costs nothing within a
// burst and one ppoll(2) before the burst's first command, and a close in
// the last second before a burst still costs that command (docs/report.md,
// "Connections the server closed"). The injector's LMTP/SMTP connections
// are looked at before every transaction, a burst of its own, whatever
// the wait (internal/engine/injector.go, trySMTP).
const IdleProbeAfter = time.Second

// closedWhileIdle reports whether the server closed s's connection while
// s was idle, looking only when its last command started (armed)
// IdleProbeAfter or more ago (one reading of the monotonic clock, once
// per imapSlot.run: a round or an action, not a command): go-imap's
// reader goroutine saw the end of the stream or a reset
// (readerSawClose), or the socket shows the server's FIN or reset, or a
// BYE waiting to be read (transport.Conn.PeerClosed). A connection the
// simulated network dropped is not the server's close: its next command
// fails as dropped, as before.
func (s *imapSession) closedWhileIdle() bool {
	if time.Since(s.armed) < IdleProbeAfter || s.conn.Dropped() {
		return false
	}
	return s.readerSawClose() || s.conn.PeerClosed(transport.IMAPBye)
}

// readerSawClose reports whether go-imap's reader goroutine ended on the
// server's close: the end of the stream (a read error the connection does
// not keep), a reset or a broken pipe (ServerClosed).
func (s *imapSession) readerSawClose() bool {
	if !s.c.Ended() {
		return false
	}
	err := s.conn.Err()
	return err == nil || ServerClosed(err)
}

// closedInIdle reports whether the server closed s's connection while an
// IDLE waited for mail (imapDevice.idle), err being the wait's error: the
// end of the stream, a reset or a BYE the wait read (the lean client), or
// go-imap's reader goroutine saw the close (its wait reports no error).
// Never for a stopping device's connection (dead) nor one the simulated
// network dropped.
func (s *imapSession) closedInIdle(err error) bool {
	if s.dead.Load() || s.conn.Dropped() {
		return false
	}
	if err != nil {
		return ServerClosed(err) || s.c.SaidBye()
	}
	return s.readerSawClose()
}

// breaks reports whether a command's failure leaves its connection
// unusable: anything but a tagged NO or BAD. A timed-out command's reply
// may still come and be taken for the next one's (go-imap), and the lean
// client's failures are sticky (every later command would fail at once).
func breaks(err error) bool {
	o := transport.OutcomeOf(err)
	return o != transport.OutcomeOK && o != transport.OutcomeNo && o != transport.OutcomeBad
}

// dialIMAP connects, secures and logs in a new session. login selects the
// wire sequence after authentication: full (pc/phone: ID, ENABLE) or plain
// (webmail: nothing more).
//
// The dial and the server's greeting are one command, CONNECT; with
// starttls the greeting is read by STARTTLS, which is recorded as before
// (greeting, STARTTLS and handshake), and CONNECT is the dial.
//
// The whole setup, from the dial to the last command of the login, is
// one work under the stop's rule (closeAfterGrace, as a sync's): once ctx
// has ended, the wait in flight — the dial (the TCP connect, an implicit
// TLS handshake, weighed with the simulated network's holds as any
// command: transport.Setup), the greeting, a command of the login — has
// the stop's grace, and counts a timeout (its login too) when the stop
// closes the connection under it after the grace; nothing more goes out
// (begin), and nothing is dialed once ctx has ended (transport.Setup.Dial
// checks it where the dial begins: until 2026-12-05 a ctx that ended
// after this function's own check still dialed, under the grace).
// Before 2026-12-05 the stop cut the dial and the greeting at once, and a
// server that never greeted counted nowhere (docs/report.md, Outcomes).
func (d *imapDevice) dialIMAP(ctx context.Context, full bool) (*imapSession, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s := &imapSession{d: d, ctx: ctx, updates: make(chan struct{}, 1)}
	setup := new(transport.Setup)
	finished := make(chan struct{})
	watch := context.AfterFunc(ctx, func() { s.closeAfterGrace(finished, setup) })
	defer func() {
		close(finished)
		watch()
	}()
	connect := StartCommand(d.rec, ProtocolIMAP, CommandConnect)
	conn, err := setup.Dial(ctx, dialConfig(&d.o, ProtocolIMAP, d.o.IMAP))
	if err != nil {
		s.ended(ctx, CommandConnect, connect, err)
		s.unreached(err)
		return nil, err
	}
	s.conn = conn
	lean := d.o.Profile.IMAPClient != IMAPClientGoIMAP
	if !lean {
		// The lean client bounds lines and literals itself.
		conn.LimitIMAP(d.o.MaxReplyLine, d.o.MaxLiteral)
	}
	opts := &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Expunge: func(uint32) { s.poke() },
			Mailbox: func(m *imapclient.UnilateralDataMailbox) {
				if m.NumMessages != nil {
					s.poke()
				}
			},
			Fetch: func(m *imapclient.FetchMessageData) {
				drainFetch(m)
				s.poke()
			},
		},
	}
	s.arm(0)
	startTLS := d.o.IMAP.TLS == transport.TLSStartTLS
	if startTLS {
		record(d.rec, ProtocolIMAP, CommandConnect, connect, nil)
		start := StartCommand(d.rec, ProtocolIMAP, "STARTTLS")
		err = conn.Explain(transport.StartTLSIMAP(conn, d.o.tlsConfig(d.o.IMAP.Addr)))
		s.ended(ctx, "STARTTLS", start, err)
	}
	switch {
	case err != nil:
	case lean:
		s.c, err = newLeanConn(conn, s, startTLS)
	default:
		var c *imapclient.Client
		if c, err = transport.OpenIMAP(conn, opts, startTLS); err == nil {
			s.c = goimapConn{c: c, conn: conn, wait: d.o.timeout(), s: s}
		}
	}
	if !startTLS {
		s.ended(ctx, CommandConnect, connect, err)
	}
	if err != nil {
		_ = conn.Close()
		s.unreached(err)
		return nil, err
	}
	if err := s.login(full); err != nil {
		s.closeSetup(ctx)
		return nil, err
	}
	if ctx.Err() != nil {
		s.closeSetup(ctx)
		return nil, ctx.Err()
	}
	s.born = d.o.Clock.Now()
	s.disarm()
	return s, nil
}

// unreached counts the login of a setup that failed with err before its
// login command (the dial, the greeting, STARTTLS) with its cause, by the
// stop's rule (countLogin): nothing when the stop cut it (ctx ended, or
// the stop closed the connection: dead), but a timeout when it cut it
// after the grace (graceExpired).
func (s *imapSession) unreached(err error) {
	countLogin(s.d.rec, ProtocolIMAP, err, s.ctx.Err() != nil || s.dead.Load(), s.graceExpired.Load())
}

// closeSetup closes a session whose setup failed or whose context ended
// during it: once ctx has ended nothing more goes out (no LOGOUT), as
// before the setup had its grace, when the stop's close marked it dead.
func (s *imapSession) closeSetup(ctx context.Context) {
	if ctx.Err() != nil {
		s.dead.Store(true)
	}
	s.close()
}

// login authenticates (AUTHENTICATE PLAIN when offered and full, else
// LOGIN), then for full sessions sends ID and ENABLE UTF8=ACCEPT when the
// server supports them, as Thunderbird and K-9 do.
func (s *imapSession) login(full bool) error {
	if err := s.do("CAPABILITY", func() error {
		caps, err := s.c.Capability()
		s.caps = caps
		return err
	}); err != nil {
		// The login failed before its command: count it with its cause.
		countLogin(s.d.rec, ProtocolIMAP, err, s.cut(err), s.graceExpired.Load())
		return err
	}
	var err error
	if full && s.caps.Has(imap.AuthCap(sasl.Plain)) {
		err = s.do("AUTHENTICATE", func() error {
			return s.c.AuthenticatePlain(s.d.o.Username, s.d.o.Password)
		})
	} else {
		err = s.do("LOGIN", func() error { return s.c.Login(s.d.o.Username, s.d.o.Password) })
	}
	// Counted as its command was (do): a login that succeeded as the
	// device stopped is a login (its LOGIN counted ok), one the stop cut
	// is nothing.
	countLogin(s.d.rec, ProtocolIMAP, err, s.cut(err), s.graceExpired.Load())
	if err != nil {
		return err
	}
	// Capabilities may change after login. The library takes them from
	// the LOGIN reply when the server sends them there; otherwise Caps
	// asks with a CAPABILITY command (Dovecot leaves them out when the
	// client asked before login), which is recorded like any other.
	// Tracked before the call, as it may wait for the server; abandoned
	// when it did not ask.
	// It is bounded as any command (arm): go-imap may ask here.
	start := StartCommand(s.d.rec, ProtocolIMAP, "CAPABILITY")
	writes := s.conn.Writes()
	s.arm(0)
	caps := s.c.Caps()
	s.disarm()
	if s.conn.Writes() != writes {
		var capErr error
		if caps == nil {
			capErr = errors.New("imap: CAPABILITY after login failed")
		}
		s.end("CAPABILITY", start, start, capErr, false)
	} else {
		trackAbandon(s.d.rec, ProtocolIMAP, "CAPABILITY", start)
	}
	if caps != nil {
		s.caps = caps
	}
	if !full {
		return nil
	}
	if s.caps.Has(imap.CapID) {
		if err := s.do("ID", s.c.ID); err != nil && s.broken {
			return err
		}
	}
	if s.caps.Has(imap.CapEnable) && s.caps.Has(imap.CapUTF8Accept) {
		if err := s.do("ENABLE", func() error { return s.c.Enable(imap.CapUTF8Accept) }); err != nil && s.broken {
			return err
		}
	}
	return nil
}

// close logs out best-effort with a short deadline and closes the
// connection. It is safe on a broken session.
func (s *imapSession) close() { s.logout(true) }

// logout says LOGOUT (best effort, bounded) and closes the connection.
// recordFailure false leaves a failed LOGOUT unrecorded: at the end of a
// run every device logs out at the same instant, and the timeouts of that
// stampede are an artifact of the harness stopping, not of the server.
func (s *imapSession) logout(recordFailure bool) {
	if s == nil {
		return
	}
	if !s.broken && !s.dead.Load() && !s.c.LoggedOut() {
		d := s.d.o.timeout()
		if d > 2*time.Second {
			d = 2 * time.Second
		}
		start := s.arm(d)
		trackStart(s.d.rec, ProtocolIMAP, "LOGOUT", start)
		_ = s.conn.SetWriteDeadline(start.Add(d))
		err := s.c.Logout(d)
		if err == nil || recordFailure {
			record(s.d.rec, ProtocolIMAP, "LOGOUT", start, err)
		} else {
			trackAbandon(s.d.rec, ProtocolIMAP, "LOGOUT", start)
		}
	}
	_ = s.c.Close()
	_ = s.conn.Close()
}

// drainFetch consumes a FETCH response the device did not ask for.
func drainFetch(m *imapclient.FetchMessageData) {
	for item := m.Next(); item != nil; item = m.Next() {
		if b, ok := item.(imapclient.FetchItemDataBodySection); ok && b.Literal != nil {
			_, _ = io.Copy(io.Discard, b.Literal)
		}
	}
}
