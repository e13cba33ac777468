package transport

import (
	"net"
	"sync"
	"time"
)

// aLongTimeAgo is a deadline in the past: set on a socket, it fails the
// blocked and later reads (or writes) at once with os.ErrDeadlineExceeded.
var aLongTimeAgo = time.Unix(1, 0)

// watchdog enforces a connection's read and write deadlines with one lazily
// reset timer instead of the runtime's per-call deadline timers. A client
// library and the device set a deadline before every command and every
// response and clear it after (go-imap alone does it twice per response
// line and twice per command); each of those calls on a socket re-arms a
// runtime timer. Here a call only records the new deadline; the timer fires
// at the earliest deadline it was set for, and then either finds that
// deadline moved (and sleeps again until the new one) or expires it by
// setting a deadline in the past on the socket, which fails reads or writes
// exactly as the socket's own deadline would have (issue 14).
//
// The last call wins, as with net.Conn: a deadline set after an expiry
// clears the expiry.
type watchdog struct {
	conn net.Conn

	mu    sync.Mutex
	read  time.Time // zero: none
	write time.Time
	// readExpired and writeExpired are set while conn carries a past
	// deadline put there by the timer.
	readExpired, writeExpired bool
	timer                     *time.Timer
	// at is when the timer fires; zero when it is not scheduled.
	at     time.Time
	closed bool
}

// set records the read and/or write deadline t.
func (w *watchdog) set(t time.Time, read, write bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var err error
	if read {
		w.read = t
		if w.readExpired {
			w.readExpired = false
			err = w.conn.SetReadDeadline(time.Time{})
		}
	}
	if write {
		w.write = t
		if w.writeExpired {
			w.writeExpired = false
			if werr := w.conn.SetWriteDeadline(time.Time{}); err == nil {
				err = werr
			}
		}
	}
	if t.IsZero() || w.closed || (!w.at.IsZero() && !w.at.After(t)) {
		// Cleared, or the timer wakes up in time anyway.
		return err
	}
	w.schedule(t)
	return err
}

// schedule (re)starts the timer for t; w.mu is held.
func (w *watchdog) schedule(t time.Time) {
	w.at = t
	d := time.Until(t)
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

// fire expires the deadlines that passed and sleeps until the next one.
func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.at = time.Time{}
	if w.closed {
		return
	}
	now := time.Now()
	var next time.Time
	if !w.read.IsZero() && !w.readExpired {
		if !now.Before(w.read) {
			w.readExpired = true
			_ = w.conn.SetReadDeadline(aLongTimeAgo)
		} else {
			next = w.read
		}
	}
	if !w.write.IsZero() && !w.writeExpired {
		if !now.Before(w.write) {
			w.writeExpired = true
			_ = w.conn.SetWriteDeadline(aLongTimeAgo)
		} else if next.IsZero() || w.write.Before(next) {
			next = w.write
		}
	}
	if !next.IsZero() {
		w.schedule(next)
	}
}

// shift moves the read and write deadlines not yet passed d later: the
// time the simulated network holds the connection's bytes (wire.hold) is
// the link's, not the server's, so it does not use up the wait for the
// server (a slow link carrying a large body is no timeout, as bytes
// flowing keep a real client's inactivity timer from firing). A deadline
// that already passed stays passed. The timer, set for the old deadline,
// finds it moved and sleeps on (fire).
func (w *watchdog) shift(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.read.IsZero() && !w.readExpired {
		w.read = w.read.Add(d)
	}
	if !w.write.IsZero() && !w.writeExpired {
		w.write = w.write.Add(d)
	}
}

// stop ends the watchdog for good (the connection closes).
func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
