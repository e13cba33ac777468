package transport

import (
	"context"
	"errors"
	"sync"
)

// ErrNotDialed is wrapped by the error of a Setup's dial that the stop
// came before (its context had ended, or Setup.Close ran): nothing was
// dialed, the server saw nothing, and the stop's rule counts nothing
// (clients.StopGrace, docs/report.md, Outcomes).
var ErrNotDialed = errors.New("not dialed: the stop came first")

// Setup is a connection being set up under a stop's rule, which closes it
// (Close) when the stop's grace runs out (clients.StopGrace, the IMAP
// devices' imapSession.closeAfterGrace, the injector's imap-append
// sessions through SetupIMAPBound): during the TCP connect Close cancels
// it, after it Close closes the connection made, during its implicit TLS
// handshake or after. The connection is the Setup's (Conn) from the end
// of its TCP connect, before its handshake (Connect, Handshake), so that
// the rule weighs the simulated network's holds of the handshake
// (Conn.HoldMark, Conn.HeldFor) as a command's. A zero Setup is ready; it
// dials once.
type Setup struct {
	mu     sync.Mutex
	cancel context.CancelFunc // ends the dial's context; nil: none yet
	conn   *Conn
	closed bool
}

// Dial dials cfg as Dial does, with ctx's values and under a context of
// its own that Close ends, not ctx's end nor its deadline: a dial under
// way when ctx ends goes on until the stop's rule closes s. Once ctx has
// ended, or s was closed, nothing is dialed: the error wraps ErrNotDialed
// and ctx's error. A dial Close cancelled once ctx's deadline had passed
// (a caller's rule that closes s for it: SetupIMAPBound's binding) ran
// out of time: its error wraps context.DeadlineExceeded, not
// context.Canceled, as when the dial's own timeout comes first.
func (s *Setup) Dial(ctx context.Context, cfg Config) (*Conn, error) {
	s.mu.Lock()
	if ctx.Err() != nil {
		s.closed = true
	}
	if s.closed {
		s.mu.Unlock()
		cause := ctx.Err()
		if cause == nil {
			cause = context.Canceled
		}
		return nil, atServer(cfg.Protocol, cfg.Endpoint.Addr, "%w (%w)", ErrNotDialed, cause)
	}
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.mu.Unlock()
	defer cancel()
	timedOut := func(err error) error {
		if errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return atServer(cfg.Protocol, cfg.Endpoint.Addr, "connect: not made before the deadline (%v): %w", err, context.DeadlineExceeded)
		}
		return err
	}
	conn, err := Connect(dctx, cfg)
	if err != nil {
		return nil, timedOut(err)
	}
	s.mu.Lock()
	s.conn = conn
	closed := s.closed
	s.mu.Unlock()
	if closed {
		// Close came as the connect was made: the connection is closed
		// too, and its handshake, or the wait on it, fails at once.
		_ = conn.Close()
	}
	if err := conn.Handshake(dctx); err != nil {
		return nil, timedOut(err)
	}
	return conn, nil
}

// Close implements io.Closer: it closes the connection s made (its
// handshake, or the wait after it, fails at once, a shaping's hold
// included) and cancels the dial under way; once closed, s dials nothing,
// and a connection a dial under way makes is closed.
func (s *Setup) Close() error {
	s.mu.Lock()
	s.closed = true
	cancel, conn := s.cancel, s.conn
	s.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	if cancel != nil {
		cancel()
	}
	return err
}

// Conn returns the connection s made, from before its handshake; nil
// before its TCP connect ended or when it failed.
func (s *Setup) Conn() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}
