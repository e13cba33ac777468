package clients

import (
	"context"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// phoneSync is K-9 / iOS Mail: every PollInterval one sync of every folder
// over the window (LIST, then EXAMINE + UID SEARCH + header fetch + flag
// resync per folder), logging out afterwards as a phone in the background
// does. With Idle the connection stays and IDLEs on INBOX between the
// polls of the other folders (re-IDLE every 24 simulated minutes).
// Dropped connections (Network.DisconnectEvery) are retried with backoff.
// An opened message larger than phoneBodyLimit gets a partial body.
type phoneSync struct{ d *imapDevice }

// newPhoneSync sets the device's window and opens its one connection slot.
func newPhoneSync(d *imapDevice) *phoneSync {
	d.window = d.o.Profile.Window
	if d.window <= 0 {
		d.window = DefaultPhoneWindow
	}
	d.slots = []*imapSlot{newIMAPSlot(d)}
	return &phoneSync{d: d}
}

func (p *phoneSync) syncFolder(s *imapSession, name string) error { return p.d.syncWindow(s, name) }

func (p *phoneSync) onWire(ctx context.Context, fn func(s *imapSession) error) error {
	return p.d.longLived(ctx, fn)
}

func (p *phoneSync) syncEvery() time.Duration { return p.d.o.Profile.pollEvery() }
func (p *phoneSync) bodyLimit() int64         { return phoneBodyLimit }
func (p *phoneSync) readsBeforeTrash() bool   { return false }

// run owns the phone's one connection: it serves the actions' requests
// between its rounds, while it waits and inside IDLE (clients/imap_slot.go).
func (p *phoneSync) run(ctx context.Context) {
	d := p.d
	sl := d.slots[0]
	retry := d.retrier()
	for ctx.Err() == nil {
		start, wall := d.o.Clock.Now(), time.Now()
		err := sl.exec(ctx, func(s *imapSession) error {
			if err := d.list(s); err != nil {
				return err
			}
			s.listed = true
			for _, name := range d.folderNames() {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if err := d.syncWindow(s, name); err != nil {
					if s.broken {
						return err
					}
					d.log.Debug("folder sync failed", "folder", name, "err", err)
				}
			}
			return nil
		})
		syncRound(ctx, &d.o, wall, err)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Debug("phone sync failed", "err", err)
			if sl.sleep(ctx, retry.next()) != nil {
				return
			}
			continue
		}
		retry.ok()
		if !d.o.Profile.Idle {
			sl.closeSession()
			if sl.sleep(ctx, p.syncEvery()-d.o.Clock.Now().Sub(start)) != nil {
				return
			}
			continue
		}
		p.idle(ctx, sl)
	}
}

// idle IDLEs on INBOX, re-syncing its window on every change, until the
// next poll of all folders is due (a server without IDLE: waits for it).
func (p *phoneSync) idle(ctx context.Context, sl *imapSlot) {
	d := p.d
	due := d.o.Clock.Now().Add(p.syncEvery())
	retry := d.retrier()
	var notified time.Time // when the last IDLE ended on a notification
	for ctx.Err() == nil && d.o.Clock.Now().Before(due) {
		noIdle := false
		err := sl.exec(ctx, func(s *imapSession) error {
			pushAt := notified
			notified = time.Time{}
			if s.selected != view.FolderInbox || s.stale {
				s.stale = true
				if err := d.syncPushed(pushAt, func() error { return d.syncWindow(s, view.FolderInbox) }); err != nil {
					return err
				}
				s.stale = false
			}
			if !s.caps.Has(imap.CapIdle) && !s.caps.Has(imap.CapIMAP4rev2) {
				noIdle = true
				return nil
			}
			restart := min(phoneIdleRestart, due.Sub(d.o.Clock.Now()))
			var err error
			notified, err = d.idle(ctx, s, sl, restart)
			return err
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if sl.sleep(ctx, retry.next()) != nil {
				return
			}
			continue
		}
		retry.ok()
		if noIdle && sl.sleep(ctx, due.Sub(d.o.Clock.Now())) != nil {
			return
		}
	}
}
