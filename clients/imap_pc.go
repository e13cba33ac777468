package clients

import (
	"context"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// pcSync is Thunderbird: the first connection keeps INBOX selected and
// IDLEs on it (or polls every PollInterval), the last one (the same when
// Connections is 1) LISTs and checks the other folders with STATUS every
// 10 simulated minutes, syncing those that changed, and carries the
// person's actions. Folders are synced whole.
type pcSync struct{ d *imapDevice }

// newPCSync opens the PC's long-lived connection slots.
func newPCSync(d *imapDevice) *pcSync {
	for i := 0; i < d.o.Profile.LongLivedConnections(); i++ {
		d.slots = append(d.slots, newIMAPSlot(d))
	}
	return &pcSync{d: d}
}

// run runs one loop per long-lived connection, each the owner of its
// connection (clients/imap_slot.go): the INBOX loop on the first, the
// folders loop on the last, which carries the actions; with one
// connection, one loop runs both schedules.
func (p *pcSync) run(ctx context.Context) {
	d := p.d
	if len(d.slots) == 1 {
		p.loop(ctx, d.slots[0], true, true)
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.loop(ctx, d.slots[len(d.slots)-1], false, true)
	}()
	p.loop(ctx, d.slots[0], true, false)
	wg.Wait()
}

func (p *pcSync) syncFolder(s *imapSession, name string) error { return p.d.syncFull(s, name) }

func (p *pcSync) onWire(ctx context.Context, fn func(s *imapSession) error) error {
	return p.d.longLived(ctx, fn)
}

func (p *pcSync) syncEvery() time.Duration { return p.d.o.Profile.pollEvery() }
func (p *pcSync) bodyLimit() int64         { return 0 }
func (p *pcSync) readsBeforeTrash() bool   { return false }

// loop owns slot sl and runs on it the INBOX schedule (inbox), the
// folders schedule (folders), or both, serving the actions' requests
// between its steps, while it waits and inside IDLE. INBOX: sync, then
// IDLE until the server reports a change (or the IDLE restart or the next
// folders round comes due, or a request waits), or without IDLE sleep the
// poll interval between syncs. Folders: see checkFolders, every
// statusEvery. Failures back off, each schedule on its own.
func (p *pcSync) loop(ctx context.Context, sl *imapSlot, inbox, folders bool) {
	d := p.d
	inboxRetry, foldersRetry := d.retrier(), d.retrier()
	// The next INBOX step and folders round (zero: now); notified is when
	// the last IDLE ended on a notification (zero: not); round counts the
	// folders rounds done.
	var inboxDue, foldersDue, notified time.Time
	round := 0
	for ctx.Err() == nil {
		now := d.o.Clock.Now()
		switch {
		case folders && !now.Before(foldersDue):
			wall := time.Now()
			err := sl.exec(ctx, func(s *imapSession) error { return p.checkFolders(ctx, s, round) })
			syncRound(ctx, &d.o, wall, err)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				d.log.Debug("folder sync failed", "err", err)
				foldersDue = d.o.Clock.Now().Add(foldersRetry.next())
				continue
			}
			foldersRetry.ok()
			round++
			foldersDue = d.o.Clock.Now().Add(d.o.Profile.statusEvery())
		case inbox && !now.Before(inboxDue):
			restart := pcIdleRestart
			if folders {
				restart = min(restart, foldersDue.Sub(now))
			}
			idled, err := p.inboxStep(ctx, sl, restart, &notified)
			if ctx.Err() != nil {
				return
			}
			switch {
			case err != nil:
				d.log.Debug("inbox sync failed", "err", err)
				inboxDue = d.o.Clock.Now().Add(inboxRetry.next())
				continue
			case idled:
				inboxDue = time.Time{}
			default:
				inboxDue = d.o.Clock.Now().Add(p.syncEvery())
			}
			inboxRetry.ok()
		default:
			next := inboxDue
			if !inbox || folders && foldersDue.Before(next) {
				next = foldersDue
			}
			if sl.sleep(ctx, next.Sub(now)) != nil {
				return
			}
		}
	}
}

// inboxStep syncs INBOX on sl when it changed, then IDLEs on it for at
// most restart (simulated); it reports whether it IDLEd (else the INBOX is
// polled: the profile or the server has no IDLE). *notified is when the
// last IDLE ended on a notification (zero: not), which a sync reports as
// pushed (Options.OnPush).
func (p *pcSync) inboxStep(ctx context.Context, sl *imapSlot, restart time.Duration, notified *time.Time) (idled bool, err error) {
	d := p.d
	err = sl.exec(ctx, func(s *imapSession) error {
		pushAt := *notified
		*notified = time.Time{}
		if !s.listed {
			if err := d.list(s); err != nil {
				return err
			}
			s.listed = true
		}
		if s.selected != view.FolderInbox || s.stale {
			s.stale = true
			if err := d.syncPushed(pushAt, func() error { return d.syncFull(s, view.FolderInbox) }); err != nil {
				return err
			}
			s.stale = false
		}
		if !d.o.Profile.Idle || !s.caps.Has(imap.CapIdle) && !s.caps.Has(imap.CapIMAP4rev2) {
			return nil // poll (a server without IDLE is polled too)
		}
		idled = true
		var err error
		*notified, err = d.idle(ctx, s, sl, restart)
		return err
	})
	return idled, err
}

// idle IDLEs on the selected mailbox until the server sends a change
// (s.stale is set), restart (simulated) passes, the profile's
// LoginInterval comes due, a request for the slot comes, or ctx ends.
// While IDLE runs, changes reach the device at once, so the folder counts
// as synced from the moment IDLE started, unless IDLE brings an update:
// then as of its last sync again (unmarkSynced).
//
// It returns the wall time the server's notification arrived, zero when
// IDLE ended for another reason.
func (d *imapDevice) idle(ctx context.Context, s *imapSession, sl *imapSlot, restart time.Duration) (time.Time, error) {
	wall := d.o.Clock.Wall(restart)
	if li := d.o.Profile.LoginInterval; li > 0 {
		if left := d.o.Clock.Wall(li - d.o.Clock.Now().Sub(s.born)); left < wall {
			wall = left
		}
	}
	if wall > 25*time.Minute {
		wall = 25 * time.Minute // below imapclient's own 28-minute restart
	}
	if wall < minWallWait {
		wall = minWallWait
	}
	if sl.take() {
		return time.Time{}, nil // serve the request first (imapSlot.exec)
	}
	begin := d.o.Clock.Now()
	// The two waits for the server, IDLE's continuation and the tagged
	// reply after DONE, are tracked; the wait for mail between them is
	// not (CommandTracker). The IDLE is recorded once, with the start of
	// the second wait (CommandEvent.Start), its duration the two waits
	// for the server: a latency, as every other command's (the time
	// spent waiting for mail is the device's choice, not the server's
	// answer; docs/report.md, Command names); either wait
	// ends by the rule of every command (imapSession.end): cut by the
	// device's stop it counts nothing, unanswered beyond the stop's grace
	// after the stop it is a timeout.
	start, err := s.begin("IDLE")
	if err != nil {
		return time.Time{}, err
	}
	idl, err := s.c.Idle()
	if err != nil {
		if !s.end("IDLE", start, start, err, false) && breaks(err) {
			s.broken = true
		}
		return time.Time{}, err
	}
	// The wait for the continuation, read before the tracker is told: no
	// longer than what the tracker saw of it.
	continued := time.Since(start)
	trackAbandon(d.rec, ProtocolIMAP, "IDLE", start)
	// A silent server is noticed when IDLE ends at the latest.
	s.arm(wall + d.o.timeout())
	idled := s.selected
	// An update already waiting (a command before left it) is one the
	// view lacks: the IDLE shows nothing synced then, not even for the
	// moment before Wait reads it.
	var was time.Time
	if len(s.updates) == 0 && !s.stale {
		was = d.markSynced(idled, begin)
	}
	var notified time.Time
	changed, err := idl.Wait(ctx, sl, s.updates, wall)
	if changed {
		s.stale = true
		notified = time.Now()
		d.unmarkSynced(idled, begin, was)
	}
	if !changed && ctx.Err() == nil && s.closedInIdle(err) {
		// The server closed the connection while IDLE waited for mail
		// (a restart's BYE, an idle timeout): the device was idle, and
		// the server left nothing it had asked unanswered (DONE was
		// not sent). Counted as a connection the server closed while
		// idle, not as a failed IDLE; the next round reconnects
		// (imapSlot.run), with no backoff (docs/report.md,
		// "Connections the server closed").
		CountClosedIdle(d.rec, ProtocolIMAP)
		s.broken = true
		sl.takeKnocking(ctx)
		return time.Time{}, nil
	}
	done := s.arm(0)
	trackStart(d.rec, ProtocolIMAP, "IDLE", done)
	if err == nil {
		err = idl.Done()
	}
	// Recorded from done less the first wait: its duration is the sum
	// of the two.
	if s.end("IDLE", done.Add(-continued), done, err, false) {
		return time.Time{}, err
	}
	s.disarm()
	if breaks(err) {
		s.broken = true
	}
	// Changes that arrived while DONE was on its way.
	select {
	case <-s.updates:
		s.stale = true
		d.unmarkSynced(idled, begin, was)
	default:
	}
	// A request whose knock ended a lean IDLE wait: held, served next
	// (imapSlot.exec).
	sl.takeKnocking(ctx)
	return notified, err
}

// markSynced moves a folder's synced time forward to t (IDLE started) and
// returns the time it replaced (zero when it did not move it).
func (d *imapDevice) markSynced(name string, t time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.folders[name]; f != nil && !f.synced.IsZero() && t.After(f.synced) {
		was := f.synced
		f.synced = t
		return was
	}
	return time.Time{}
}

// unmarkSynced undoes markSynced(name, t), which replaced was, unless a
// sync of the folder came since: the IDLE begun at t brought an update
// (one an earlier command left, or a change the server announced at its
// start), so the view may lack a change made before t, and the folder is
// synced as of its last sync again, until the sync the update leads to.
func (d *imapDevice) unmarkSynced(name string, t, was time.Time) {
	if was.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if f := d.folders[name]; f != nil && f.synced.Equal(t) {
		f.synced = was
	}
}

// checkFolders is one round of Thunderbird's autosync of folders other
// than INBOX (every 10 simulated minutes, see loop): LIST, then STATUS
// (MESSAGES UIDNEXT UNSEEN) on each; a folder whose numbers changed, that
// was never synced, or every third round (flag changes do not show in
// STATUS) is selected and synced.
func (p *pcSync) checkFolders(ctx context.Context, s *imapSession, round int) error {
	d := p.d
	if err := d.list(s); err != nil {
		return err
	}
	s.listed = true
	for _, name := range d.folderNames() {
		if name == view.FolderInbox {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var st *imap.StatusData
		err := s.do("STATUS", func() error {
			var err error
			st, err = s.c.Status(name, &d.folderStatus)
			return err
		})
		if err != nil {
			if s.broken {
				return err
			}
			continue
		}
		if d.statusChanged(name, st) || round%3 == 0 {
			if err := d.syncFull(s, name); err != nil {
				if s.broken {
					return err
				}
			}
		}
	}
	return nil
}

// statusChanged records STATUS numbers and reports whether the folder
// needs a sync.
func (d *imapDevice) statusChanged(name string, st *imap.StatusData) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.folder(name)
	var msgs, unseen uint32
	if st.NumMessages != nil {
		msgs = *st.NumMessages
	}
	if st.NumUnseen != nil {
		unseen = *st.NumUnseen
	}
	changed := f.synced.IsZero() || f.uidNext != st.UIDNext || f.messages != msgs || f.unseen != unseen
	f.uidNext, f.messages, f.unseen = st.UIDNext, msgs, unseen
	return changed
}

// syncPushed syncs INBOX with sync and, when the IDLE notification that
// arrived at pushAt (wall time; zero: none) led to the sync, reports the
// messages it brought to Options.OnPush.
func (d *imapDevice) syncPushed(pushAt time.Time, sync func() error) error {
	pushed, top := !pushAt.IsZero() && d.o.OnPush != nil, imap.UID(0)
	if pushed {
		top, pushed = d.topUID(view.FolderInbox)
	}
	if err := sync(); err != nil {
		return err
	}
	if pushed {
		if ids := d.idsAbove(view.FolderInbox, top); len(ids) > 0 {
			d.o.OnPush(ids, pushAt)
		}
	}
	return nil
}

// topUID returns the highest UID the device shows in folder name (0: an
// empty folder), and whether the folder was synced (else every message a
// sync finds is new to the device, pushed or not).
func (d *imapDevice) topUID(name string) (imap.UID, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.folders[name]
	if f == nil || f.synced.IsZero() {
		return 0, false
	}
	var top imap.UID
	for uid := range f.msgs {
		top = max(top, uid)
	}
	return top, true
}

// idsAbove returns the Message-IDs of the messages the device shows in
// folder name with a UID above top: those a sync added.
func (d *imapDevice) idsAbove(name string, top imap.UID) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	if f := d.folders[name]; f != nil {
		for uid, m := range f.msgs {
			if uid > top && m.id != view.NoHandle {
				ids = append(ids, d.o.IDs.Value(m.id))
			}
		}
	}
	return ids
}
