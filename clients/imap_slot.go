package clients

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// shutdownGrace is how long a running command may finish after ctx ends
// before its connection is closed under it. A command cut then is counted
// as a timeout (imapSession.do): a server answers within it unless it is
// stalled or overloaded.
const shutdownGrace = time.Second

// imapSlot is one long-lived connection of a device, shared between its
// sync loop and its actions: whoever holds mu owns the session. A sync loop
// parked in IDLE watches wake and gives the connection up when another user
// waits.
type imapSlot struct {
	d       *imapDevice
	mu      sync.Mutex
	s       *imapSession
	wake    chan struct{}
	pending atomic.Int32
	// drained gets a token when the last waiter took the slot (see yield).
	drained chan struct{}
	// idler is the session's client when it can cut an IDLE wait short
	// from another goroutine (the lean client, which waits on the
	// device's goroutine and so cannot watch wake); nil otherwise.
	idler atomic.Pointer[leanConn]
}

func newIMAPSlot(d *imapDevice) *imapSlot {
	return &imapSlot{d: d, wake: make(chan struct{}, 1), drained: make(chan struct{}, 1)}
}

// with runs fn on the slot's session, connecting and logging in first when
// there is none (or it is broken, or older than the profile's
// LoginInterval). A session that failed at the network level is closed
// after fn.
func (sl *imapSlot) with(ctx context.Context, fn func(s *imapSession) error) error {
	sl.pending.Add(1)
	select {
	case sl.wake <- struct{}{}:
	default:
	}
	if l := sl.idler.Load(); l != nil {
		l.interrupt()
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.pending.Add(-1) == 0 {
		select {
		case <-sl.wake:
		default:
		}
		select {
		case sl.drained <- struct{}{}:
		default:
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s := sl.s; s != nil {
		li := sl.d.o.Profile.LoginInterval
		if s.broken || s.dead.Load() || (li > 0 && sl.d.o.Clock.Now().Sub(s.born) >= li) {
			s.close()
			sl.set(nil)
		}
	}
	if sl.s == nil {
		s, err := sl.d.dialIMAP(ctx, true)
		if err != nil {
			return err
		}
		sl.set(s)
	}
	s := sl.s
	done := s.closeOnStop(ctx)
	err := fn(s)
	done()
	if s.broken || s.dead.Load() {
		s.close()
		sl.set(nil)
	}
	return err
}

// set makes s (nil: none) the slot's session; sl.mu is held.
func (sl *imapSlot) set(s *imapSession) {
	sl.s = s
	var l *leanConn
	if s != nil {
		l, _ = s.c.(*leanConn)
	}
	sl.idler.Store(l)
}

// closeOnStop closes s's connection once ctx has ended and the work on s
// has not finished within shutdownGrace (graceExpired then says why); the
// returned func ends the watch and must be called when the work is done.
func (s *imapSession) closeOnStop(ctx context.Context) (done func()) {
	finished := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(shutdownGrace)
		defer t.Stop()
		select {
		case <-finished:
		case <-t.C:
			s.graceExpired.Store(true)
			s.dead.Store(true)
			_ = s.conn.Close()
		}
	})
	return func() {
		close(finished)
		stop()
	}
}

// waiting reports whether another user waits for the slot.
func (sl *imapSlot) waiting() bool { return sl.pending.Load() > 0 }

// yield waits until no other user waits for the slot (after the sync loop
// gave it up), or ctx ends.
func (sl *imapSlot) yield(ctx context.Context) {
	for sl.waiting() {
		select {
		case <-sl.drained: // look again: a token may be stale
		case <-ctx.Done():
			return
		}
	}
}

// closeSession logs out and drops the session, if any.
func (sl *imapSlot) closeSession() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.s.close()
	sl.set(nil)
}

// shutdown logs out at the end of Run; a failed LOGOUT is not recorded
// (see imapSession.logout).
func (sl *imapSlot) shutdown() {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	sl.s.logout(false)
	sl.set(nil)
}
