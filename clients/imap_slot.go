package clients

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// errSlotStopped is the error of a request to a connection whose owner
// stopped: the device's Run ended.
var errSlotStopped = errors.New("clients: the device is not running")

// maxServedInARow bounds how many waiting requests the owner serves before
// it does its own work again, so that a stream of actions cannot starve
// the sync loop.
const maxServedInARow = 16

// imapSlot is one long-lived connection of a device. Its owner is the sync
// loop that uses it (phoneSync.run, pcSync.loop); nobody else touches the
// session. Others (the person's actions) send requests (with), which the
// owner serves one at a time in the order they came: between its rounds,
// while it waits (sleep), and by ending IDLE (imapDevice.idle).
type imapSlot struct {
	d    *imapDevice
	reqs chan slotReq
	// s is the session, held is a request taken during IDLE and not yet
	// served; only the owner touches them.
	s    *imapSession
	held *slotReq

	// idler is the session's client when its IDLE wait cannot select on
	// reqs (the lean client, which waits in a read on the owner's
	// goroutine): a requester interrupts it (with). knocking counts the
	// requesters between announcing themselves and their request being
	// taken or given up: the owner counts a request out as it receives
	// it (received), a requester that gives up counts itself out, so
	// that a request already served never ends the next IDLE wait
	// (leanConn.Wait). knocked gets a token each time a requester gives
	// up, so that an owner waiting for a knocking request (takeKnocking)
	// looks again.
	idler    atomic.Pointer[leanConn]
	knocking atomic.Int32
	knocked  chan struct{}

	mu sync.Mutex // guards stopped
	// stopped is closed when the owner stopped (a new one is made when
	// Run starts again).
	stopped chan struct{}

	// The owner's watch (start, watchOwner): one context.AfterFunc per
	// tenure instead of one per run. ownerDone is the Done channel of the
	// context Run was given; busy is the session the owner's work runs on
	// (nil: none), finished gets a token when that work ends.
	ownerDone <-chan struct{}
	ownerStop func() bool
	// watchDone is closed when this tenure's watch, once started, has
	// ended; stop waits for it, so that a watch never outlives its tenure
	// and cuts the next one's work.
	watchDone chan struct{}
	busy      atomic.Pointer[imapSession]
	finished  chan struct{}
	// timer is sleep's, reused (only the owner touches it).
	timer *time.Timer
}

// slotReq is one request to the slot's owner: run fn on the session.
type slotReq struct {
	ctx  context.Context
	fn   func(s *imapSession) error
	done chan error // buffered: the owner never blocks on it
	// state is reqWaiting until the owner starts fn (reqRunning) or the
	// requester gives up on it (reqAbandoned, when ctx ends first): fn,
	// which writes the requester's variables, runs only if the requester
	// waits for it to end.
	state *atomic.Int32
}

// The states of a slotReq.
const (
	reqWaiting int32 = iota
	reqRunning
	reqAbandoned
)

func newIMAPSlot(d *imapDevice) *imapSlot {
	return &imapSlot{d: d, reqs: make(chan slotReq), knocked: make(chan struct{}, 1), stopped: make(chan struct{}),
		finished: make(chan struct{}, 1)}
}

// with runs fn on the slot's session (see exec) on the owner's goroutine
// and returns its error. It waits for the owner until ctx ends, also once
// the owner has the request and has not started fn (then it returns ctx's
// error and fn never runs); once the owner stopped (the device's Run
// ended) it fails at once with errSlotStopped.
func (sl *imapSlot) with(ctx context.Context, fn func(s *imapSession) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	sl.mu.Lock()
	stopped := sl.stopped
	sl.mu.Unlock()
	req := slotReq{ctx: ctx, fn: fn, done: make(chan error, 1), state: new(atomic.Int32)}
	// Knock before sending: an owner in a lean IDLE wait cannot select on
	// reqs, so it is interrupted, and an owner about to wait sees
	// knocking (leanConn.Wait) and takes the request instead (take).
	sl.knocking.Add(1)
	if l := sl.idler.Load(); l != nil {
		l.interrupt()
	}
	var err error
	select {
	case sl.reqs <- req: // the owner counted it out (received)
	case <-ctx.Done():
		err = ctx.Err()
	case <-stopped:
		err = errSlotStopped
	}
	if err != nil {
		// Counted out here, not after a send: the owner may serve the
		// request and IDLE again before this goroutine runs on, and
		// would see it knocking still.
		sl.knocking.Add(-1)
		select {
		case sl.knocked <- struct{}{}:
		default:
		}
		return err
	}
	// The owner has the request: it may hold it while it does its own
	// work first (a sync, a redial with a greeting deadline per try), so
	// a requester whose ctx ends gives it up, unless fn already runs: fn
	// runs on ctx, so the dial's watch and closeOnStop end it within
	// the stop's grace.
	select {
	case err = <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqWaiting, reqAbandoned) {
			return ctx.Err()
		}
		return <-req.done
	}
}

// start readies the slot for a new owner (Run), whose context is ctx.
func (sl *imapSlot) start(ctx context.Context) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	select {
	case <-sl.stopped:
		sl.stopped = make(chan struct{})
	default:
	}
	sl.ownerDone, sl.ownerStop, sl.watchDone = ctx.Done(), nil, nil
	if sl.ownerDone != nil {
		done := make(chan struct{})
		sl.watchDone = done
		sl.ownerStop = context.AfterFunc(ctx, func() {
			defer close(done)
			sl.watchOwner()
		})
	}
}

// watchOwner is closeOnStop for the owner's own work (run with the
// context start was given), run once that context ends: the work in
// progress, if any, has the stop's grace to finish before its connection
// is closed under it (imapSession.closeAfterGrace).
func (sl *imapSlot) watchOwner() {
	select { // a token left by work that ended before
	case <-sl.finished:
	default:
	}
	s := sl.busy.Load()
	if s == nil {
		return // run sees the context's end before it starts more work
	}
	s.closeAfterGrace(sl.finished, s.conn)
}

// stop ends the owner's tenure at the end of Run: it logs out (a failed
// LOGOUT is not recorded, see imapSession.logout), answers a request taken
// and not served, and makes every later request fail at once.
func (sl *imapSlot) stop() {
	if sl.ownerStop != nil && !sl.ownerStop() {
		// The watch started (the context ended): it ends within
		// the stop's grace, at once when no work is in progress, which is
		// the case here. Waiting keeps it from seeing the next tenure's
		// session as its own.
		<-sl.watchDone
	}
	sl.s.logout(false)
	sl.set(nil)
	if r := sl.held; r != nil {
		sl.held = nil
		r.done <- errSlotStopped
	}
	sl.mu.Lock()
	defer sl.mu.Unlock()
	close(sl.stopped)
}

// exec runs the owner's own fn on the session (see run), after serving
// the requests that came before it.
func (sl *imapSlot) exec(ctx context.Context, fn func(s *imapSession) error) error {
	sl.serveWaiting(ctx)
	return sl.run(ctx, fn)
}

// serveWaiting serves the request taken during IDLE and those waiting now,
// at most maxServedInARow.
func (sl *imapSlot) serveWaiting(ctx context.Context) {
	for i := 0; i < maxServedInARow; i++ {
		if r := sl.held; r != nil {
			sl.held = nil
			sl.serve(ctx, *r)
			continue
		}
		select {
		case r := <-sl.reqs:
			sl.received()
			sl.serve(ctx, r)
		default:
			return
		}
	}
}

// take takes a waiting request without serving it (held), for an owner
// about to IDLE; it reports whether there is one.
func (sl *imapSlot) take() bool {
	if sl.held != nil {
		return true
	}
	select {
	case r := <-sl.reqs:
		sl.received()
		sl.held = &r
		return true
	default:
		return false
	}
}

// takeKnocking is take for an owner back from IDLE: a requester that
// knocked (with) and has not sent yet is waited for, until it sends or
// gives up or ctx ends, since its knock may be what ended a lean IDLE
// wait.
func (sl *imapSlot) takeKnocking(ctx context.Context) bool {
	for !sl.take() {
		if !sl.knocks() {
			return false
		}
		select {
		case r := <-sl.reqs:
			sl.received()
			sl.held = &r
			return true
		case <-sl.knocked: // one requester gave up: look again
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// knocks reports whether a requester announced itself (with) and its
// request is not taken yet.
func (sl *imapSlot) knocks() bool { return sl.knocking.Load() > 0 }

// received counts out the requester of a request the owner has just
// received from reqs: it no longer knocks. The owner calls it on every
// receive, before anything else, since the requester does not count
// itself out once its request was sent (with).
func (sl *imapSlot) received() { sl.knocking.Add(-1) }

// serve runs request r for the owner whose context is ctx: a request that
// reaches an owner that is stopping fails with errSlotStopped.
func (sl *imapSlot) serve(ctx context.Context, r slotReq) {
	if !r.state.CompareAndSwap(reqWaiting, reqRunning) {
		return // the requester gave up (with)
	}
	if ctx.Err() != nil {
		r.done <- errSlotStopped
		return
	}
	r.done <- sl.run(r.ctx, r.fn)
}

// sleep waits sim simulated time (at least minWallWait of wall time) for
// the owner, serving requests meanwhile; it returns ctx.Err() if ctx ends
// first.
func (sl *imapSlot) sleep(ctx context.Context, sim time.Duration) error {
	sl.serveWaiting(ctx)
	wait := max(sl.d.o.Clock.Wall(sim), minWallWait)
	if sl.timer == nil {
		sl.timer = time.NewTimer(wait)
	} else {
		sl.timer.Reset(wait)
	}
	t := sl.timer
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case r := <-sl.reqs:
			sl.received()
			sl.serve(ctx, r)
		}
	}
}

// run runs fn on the slot's session, connecting and logging in first when
// there is none (or it is broken, or older than the profile's
// LoginInterval). A session that failed at the network level is closed
// after fn. Only the owner calls it.
func (sl *imapSlot) run(ctx context.Context, fn func(s *imapSession) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s := sl.s; s != nil {
		li := sl.d.o.Profile.LoginInterval
		switch {
		case s.broken || s.dead.Load() || (li > 0 && sl.d.o.Clock.Now().Sub(s.born) >= li):
			s.close()
			sl.set(nil)
		case s.closedWhileIdle():
			// The server closed the idle connection: counted as such,
			// and fn goes out on a new one instead of failing on it.
			// Nothing more is said on it, not even LOGOUT.
			CountClosedIdle(sl.d.rec, ProtocolIMAP)
			s.broken = true
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
	err := sl.watched(ctx, s, fn)
	if s.broken || s.dead.Load() {
		s.close()
		sl.set(nil)
	}
	return err
}

// watched runs fn on s, closing s's connection if ctx ends and fn does not
// finish within the stop's grace (closeOnStop). For the owner's own work
// (ctx ends with the context start was given) the slot's watch does it
// (watchOwner), which costs no allocation per run; a context that never
// ends needs no watch.
func (sl *imapSlot) watched(ctx context.Context, s *imapSession, fn func(s *imapSession) error) error {
	s.ctx = ctx // once it ended, fn sends nothing more (imapSession.begin)
	switch done := ctx.Done(); {
	case done == nil:
		return fn(s)
	case done == sl.ownerDone:
		sl.busy.Store(s)
		if ctx.Err() == nil { // else watchOwner may have looked already
			err := fn(s)
			sl.busy.Store(nil)
			select {
			case sl.finished <- struct{}{}:
			default:
			}
			return err
		}
		sl.busy.Store(nil)
	}
	stop := s.closeOnStop(ctx)
	err := fn(s)
	stop()
	return err
}

// set makes s (nil: none) the slot's session. Only the owner calls it.
func (sl *imapSlot) set(s *imapSession) {
	sl.s = s
	var l *leanConn
	if s != nil {
		l, _ = s.c.(*leanConn)
	}
	sl.idler.Store(l)
}

// closeOnStop closes s's connection once ctx has ended and the work on s
// has not finished within the stop's grace (closeAfterGrace); the
// returned func ends the watch and must be called when the work is done.
func (s *imapSession) closeOnStop(ctx context.Context) (done func()) {
	finished := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { s.closeAfterGrace(finished, s.conn) })
	return func() {
		close(finished)
		stop()
	}
}

// closeAfterGrace gives the work on s, whose context has ended, the
// device's stop grace (Options.StopGrace) to finish — finished is closed
// or gets a value — and else closes s's connection, conn (s.conn, or the
// transport.Setup of a session still being set up: imapDevice.dialIMAP),
// under it: s is dead, and graceExpired says whether its command in
// flight was overdue (graceStart.overdue).
func (s *imapSession) closeAfterGrace(finished <-chan struct{}, conn io.Closer) {
	grace := startGrace(conn, s.d.o.StopGrace)
	if grace.wait(finished) {
		s.graceExpired.Store(grace.overdue())
		s.dead.Store(true)
		_ = conn.Close()
	}
}

// closeSession logs out and drops the session, if any. Only the owner
// calls it.
func (sl *imapSlot) closeSession() {
	sl.s.close()
	sl.set(nil)
}
