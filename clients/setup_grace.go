package clients

import (
	"context"
	"io"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// setupCloser is the closer of a connection still being set up: the
// stop's rule closes it (StopGrace, imapSession.closeAfterGrace) while it
// is dialing, by cancelling the dial, or after, by closing the connection
// the dial made (bind). The dial and the wait for the greeting that
// follows it are one command, CONNECT, and have the stop's grace as every
// command: a server that accepted the connect and never greeted is
// counted a timeout when the run's end cut that wait after the grace,
// not nothing (before 2026-12-05 the stop cut it at once and it counted
// nowhere: docs/report.md, Outcomes). A zero setupCloser is not ready:
// dial makes it.
type setupCloser struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	conn   *transport.Conn
	closed bool
}

// dial dials cfg with a context of its own, which the stop's rule ends
// (Close), not ctx's end: ctx's values only. It is sc's one dial.
func (sc *setupCloser) dial(ctx context.Context, cfg transport.Config) (*transport.Conn, error) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	sc.mu.Lock()
	sc.cancel = cancel
	closed := sc.closed
	sc.mu.Unlock()
	if closed {
		cancel()
	}
	conn, err := transport.Dial(dctx, cfg)
	if err != nil {
		return nil, err
	}
	sc.mu.Lock()
	sc.conn, sc.cancel = conn, nil
	closed = sc.closed
	sc.mu.Unlock()
	if closed {
		// The stop closed sc as the dial ended: the connection made is
		// closed too, and the wait on it fails at once.
		_ = conn.Close()
	}
	return conn, nil
}

// Close implements io.Closer: it cancels the dial under way, or closes
// the connection it made; once closed, a dial to come is cancelled, and
// a connection it makes is closed.
func (sc *setupCloser) Close() error {
	sc.mu.Lock()
	sc.closed = true
	cancel, conn := sc.cancel, sc.conn
	sc.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if conn != nil {
		return conn.Close()
	}
	return nil
}

// current returns the connection sc closes, nil while it dials
// (startGrace: the simulated network's holds are the connection's).
func (sc *setupCloser) current() io.Closer {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.conn == nil {
		return nil
	}
	return sc.conn
}

// dialWatched dials cfg for a connection whose commands are recorded on
// rec under cfg.Protocol by the stop's rule (StopGrace) from before its
// dial: the dial and the wait for the greeting the caller reads next are
// one command, CONNECT, started (connect) under the returned watch, so
// that the stop gives them its grace, and the caller ends it with
// w.End(CommandConnect, connect, err) once the greeting came or failed.
// Once ctx has ended nothing is dialed (StopGrace.Start). On a failed
// dial conn is nil and CONNECT is ended; w is returned in every case,
// and the caller releases it (counting the login with w.CountLogin).
func dialWatched(ctx context.Context, rec Recorder, cfg transport.Config, grace time.Duration) (conn *transport.Conn, w *StopGrace, connect time.Time, err error) {
	sc := new(setupCloser)
	w = WatchStop(ctx, rec, cfg.Protocol, sc, grace)
	connect = w.Start(CommandConnect)
	conn, err = sc.dial(ctx, cfg)
	if err != nil {
		w.End(CommandConnect, connect, err)
		return nil, w, connect, err
	}
	return conn, w, connect, nil
}
