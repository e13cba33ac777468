package clients

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// DefaultStopGrace is the stop's grace when none is given
// (Options.StopGrace, SMTPOptions.StopGrace, WatchStop; a scenario's
// stop_grace): how long a command in flight when its device or the
// injector is told to stop has to be answered before its connection is
// closed under it (StopGrace).
const DefaultStopGrace = time.Second

// graceOr returns grace, or DefaultStopGrace when grace is not positive.
func graceOr(grace time.Duration) time.Duration {
	if grace <= 0 {
		return DefaultStopGrace
	}
	return grace
}

// StopGrace is the stop rule of a connection whose commands run one at a
// time (POP3, SMTP submission, the injector's LMTP/SMTP and imap-append
// sessions), IMAP's (imapSlot.watchOwner, imapSession.closeOnStop, and
// imapSession.begin for the command after one answered in time): once its
// context ends, a command in flight has the stop's grace
// (DefaultStopGrace, 1 s, unless the connection's options give another) to
// be answered before the connection is closed under it, and is then
// recorded as a timeout (it is overdue: endCommand, docs/report.md,
// Outcomes) — unless mailsim's simulated network held it during the grace,
// and then it counts nothing (graceStart.overdue: the server did not have
// it the whole grace); with no command in flight the connection is closed
// at once, and a command that fails on it then counts nothing. A command
// in flight answered within the grace is the connection's last: once the
// context has ended, Start closes the connection before the next command
// goes out, so nothing more reaches the server and the command fails,
// counting nothing (a command sent into the stop's close would race it
// and, answered, count as a stopped device's). Start and End bracket each
// command; CONNECT, the dial and the wait for the greeting, is one too
// (dialWatched: the watch closes a connection still dialing), as an IMAP
// device's (imapDevice.dialIMAP). Release ends the watch.
type StopGrace struct {
	rec      Recorder
	protocol string
	conn     io.Closer
	release  func() bool
	// grace is the stop's grace (graceOr: never 0).
	grace time.Duration
	// ctx is the connection's context: once it ended, Start sends
	// nothing more.
	ctx context.Context

	mu sync.Mutex
	// seq numbers the commands started (Start); busy says whether
	// the last one is in flight, and ended, when set, is closed when it
	// ends (the stop waits for it).
	seq   uint64
	busy  bool
	ended chan struct{}
	// closed is set once the stop closed the connection; overdue names
	// the command (seq) it closed the connection under after the grace
	// (0: none); stopBegun once the stop began (stop).
	closed    bool
	overdue   uint64
	stopBegun bool
	// lastEnded is set once a command ended (End), and lastClosed and
	// lastOverdue are how End judged it: CountLogin judges the login the
	// command carried alike, though the stop may have closed the
	// connection since (it does so as soon as the command ends).
	lastEnded, lastClosed, lastOverdue bool
}

// WatchStop watches conn, whose commands are recorded on rec with
// protocol, until ctx ends (then it applies the stop rule with grace, or
// DefaultStopGrace when grace is 0: StopGrace) or Release is called.
func WatchStop(ctx context.Context, rec Recorder, protocol string, conn io.Closer, grace time.Duration) *StopGrace {
	w := &StopGrace{rec: rec, protocol: protocol, conn: conn, ctx: ctx, grace: graceOr(grace)}
	w.release = context.AfterFunc(ctx, w.stop)
	return w
}

// Reset makes w the stop rule of a new connection of ctx, its commands
// recorded on rec with protocol, with grace (0: DefaultStopGrace), that
// does not watch ctx: its caller applies it with Stop when ctx ends, for a
// connection its dial bound to ctx already (internal/leanimap.DialBound:
// the injector's APPEND sessions), sparing a context.AfterFunc; Start
// still sends nothing once ctx has ended. A zero StopGrace is ready for
// Reset, and one reused so costs no allocation. Release then reports
// whether Stop has not closed the connection.
func (w *StopGrace) Reset(ctx context.Context, rec Recorder, protocol string, grace time.Duration) {
	*w = StopGrace{rec: rec, protocol: protocol, ctx: ctx, grace: graceOr(grace)}
}

// Stop applies the stop rule (StopGrace) to conn now, for a StopGrace
// made by Reset: it closes conn at once when no command is in flight, else
// when the command ends or after the grace; it returns once conn is
// closed.
func (w *StopGrace) Stop(conn io.Closer) {
	w.mu.Lock()
	w.conn = conn
	w.mu.Unlock()
	w.stop()
}

// stop closes the connection when the watched context ends: at once when
// no command is in flight, else when it ends or after the grace,
// whichever comes first (graceStart.wait; the command is then overdue,
// unless mailsim's simulated network held it during the grace:
// graceStart.overdue).
func (w *StopGrace) stop() {
	w.mu.Lock()
	w.stopBegun = true
	var ended chan struct{}
	if w.busy {
		ended = make(chan struct{})
		w.ended = ended
	}
	seq := w.seq
	grace := startGrace(w.conn, w.grace)
	w.mu.Unlock()
	expired := ended != nil && grace.wait(ended)
	w.mu.Lock()
	w.closed = true
	if expired && w.busy && w.seq == seq && grace.overdue() {
		w.overdue = seq
	}
	conn := w.conn
	w.mu.Unlock()
	_ = conn.Close()
}

// Start returns the start of command name, about to be sent
// (StartCommand), and notes it in flight. Once the context has ended (or
// Stop began) it closes the connection first, and returns once it is
// closed, even when the stop is closing it already (a Close while
// another is under way waits for it, as transport.Conn's): the command
// then fails without reaching the server and counts nothing (End).
// Before 2026-12-04 Start left the close to a stop that had begun it,
// and a command started between the stop's decision and its close went
// out.
func (w *StopGrace) Start(name string) time.Time {
	w.mu.Lock()
	w.seq++
	w.busy = true
	cut := w.stopBegun || w.ctx != nil && w.ctx.Err() != nil
	if cut {
		w.closed = true
	}
	conn := w.conn
	w.mu.Unlock()
	if cut && conn != nil {
		_ = conn.Close()
	}
	return StartCommand(w.rec, w.protocol, name)
}

// Bind gives a StopGrace made by Reset its connection, before the first
// command: once the context has ended, Start closes it, before the
// binding's Stop has run (a context.AfterFunc's goroutine: until it runs,
// Start knew no connection to close, and the command went out).
func (w *StopGrace) Bind(conn io.Closer) {
	w.mu.Lock()
	w.conn = conn
	w.mu.Unlock()
}

// End ends command name, started at start, with err (EndCommand's rule,
// endCommand): recorded with err's outcome unless it failed after the
// stop closed the connection, and then a timeout when it was overdue,
// else nothing. A dial the stop came before (err wraps
// transport.ErrNotDialed, the watched context having ended after Start)
// is the stop's too, as a command Start cut: it counts nothing, and
// Stopping reports true. It reports whether the stop cut the command.
func (w *StopGrace) End(name string, start time.Time, err error) (cut bool) {
	w.mu.Lock()
	if errors.Is(err, transport.ErrNotDialed) && w.ctx != nil && w.ctx.Err() != nil {
		w.closed = true
	}
	w.busy = false
	if w.ended != nil {
		close(w.ended)
		w.ended = nil
	}
	closed, overdue := w.closed, w.overdue != 0 && w.overdue == w.seq
	w.lastEnded, w.lastClosed, w.lastOverdue = true, closed, overdue
	w.mu.Unlock()
	endCommand(w.rec, w.protocol, name, start, start, err, closed, overdue)
	return err != nil && closed
}

// Stopping reports whether the stop closed the connection: a failure now
// is the stop's, no server's (countLogin).
func (w *StopGrace) Stopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closed
}

// CountLogin counts a login attempt that ended with err on the watched
// connection by the stop's rule (countLogin): one the stop cut counts
// nothing, but for one the server had left unanswered beyond the grace,
// a timeout.
func (w *StopGrace) CountLogin(err error) {
	closed, overdue := w.last()
	countLogin(w.rec, w.protocol, err, closed, overdue)
}

// LastCut reports whether the stop cut the last command that ended (End's
// verdict), or, before any ended, whether it closed the connection: a
// failure of that command is then the stop's, no server's. Unlike
// Stopping, a reply the server gave within the grace stays the server's
// though the stop closed the connection as soon as it came.
func (w *StopGrace) LastCut() bool {
	closed, _ := w.last()
	return closed
}

// last is how the stop judged the last command that ended (End), or the
// connection now before any ended: the login and the failure the command
// carried are judged alike, though the stop may have closed the
// connection since (it does so as soon as the command ends; before
// 2026-12-05 a greeting's BYE or a LOGIN's NO in the grace then counted
// no login, by that race: TestInjectorGreetingFailsInTheGrace failed 1 run
// in 5 to 50).
func (w *StopGrace) last() (closed, overdue bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastEnded {
		return w.lastClosed, w.lastOverdue
	}
	return w.closed, w.overdue != 0
}

// Overdue reports whether the stop closed the connection under a command
// the server left unanswered beyond the grace.
func (w *StopGrace) Overdue() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.overdue != 0
}

// Release ends the watch, with no command in flight. It reports whether
// it ended it before the context did: false when the stop closes the
// connection (at once, with no command in flight) or closed it. On a
// StopGrace made by Reset, which watches nothing, it reports whether Stop
// has not closed the connection.
func (w *StopGrace) Release() bool {
	if w.release == nil {
		return !w.Stopping()
	}
	return w.release()
}

// graceStart is the start of the stop's grace for a command in flight on
// a connection, and the one wait of that grace: StopGrace.stop, and
// IMAP's imapSession.closeAfterGrace (imapSlot.watchOwner,
// imapSession.closeOnStop), for the one rule of overdue.
type graceStart struct {
	conn *transport.Conn // nil: not a transport.Conn, never shaped
	mark transport.HoldMark
	// setup is the setup of a connection still in its TCP connect at the
	// grace's start (conn nil): the connection it makes during the grace
	// is weighed at the grace's end, all its holds (from its connect on)
	// being the grace's.
	setup *transport.Setup
	// grace is the grace's length (never 0: graceOr).
	grace time.Duration
}

// startGrace marks the start of a stop's grace of length grace on conn.
func startGrace(conn io.Closer, grace time.Duration) graceStart {
	g := graceStart{grace: graceOr(grace)}
	if s, ok := conn.(*transport.Setup); ok {
		// A connection set up under the stop's rule: its holds, its
		// implicit TLS handshake's among them, from the end of its TCP
		// connect (which the network does not hold) on.
		c := s.Conn()
		if c == nil {
			g.setup = s
			return g
		}
		conn = c
	}
	if c, _ := conn.(*transport.Conn); c != nil {
		g.conn, g.mark = c, c.HoldMark()
	}
	return g
}

// wait waits until done is closed (or gets a value: the work in flight
// ended) or the grace runs out, whichever comes first; it reports
// whether the grace ran out. Its timer is stopped before it returns.
func (g graceStart) wait(done <-chan struct{}) (expired bool) {
	t := time.NewTimer(g.grace)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}

// overdue reports whether a command still in flight when the grace ran
// out is the server's timeout (endCommand, countLogin): it is, unless
// mailsim's simulated network (a device profile's network: latency,
// bandwidth; internal/transport, Conn.HeldFor) held its request or its
// reply — a setup's implicit TLS handshake's among them (transport.Setup:
// every hold of a connection made during the grace) — for half of the
// grace or more. Then the server had at most half
// the grace to itself — its request was still on the way, or its reply
// was coming through the slow link — and the stop's close is mailsim's,
// not the server's failure: the command counts nothing. A server that
// had more than half the grace (an unshaped connection; a shaped one
// waiting on a silent server; one whose only hold was the latency of the
// stop's own DONE, or a short pace of a reply it trickles) and left the
// command unanswered is overdue, as a healthy server answers in far less.
func (g graceStart) overdue() bool {
	conn, mark := g.conn, g.mark
	if g.setup != nil {
		// Connected during the grace, if at all: every hold of the
		// connection's is the grace's (the zero mark).
		conn = g.setup.Conn()
	}
	return conn == nil || conn.HeldFor(mark) < g.grace/2
}
