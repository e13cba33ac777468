package clients

import (
	"context"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// webmailSync is Roundcube: every Refresh one page load on a new
// connection — LOGIN, STATUS "INBOX" (MESSAGES UNSEEN), LIST when the
// folder list is older than a session (10 simulated minutes), the INBOX
// list page (SELECT, UID SORT or UID SEARCH ALL, UID FETCH of the newest
// page_size) and the page of one other folder in turn (the person clicking
// through the folders), LOGOUT. The view holds the newest page_size
// messages of each folder as last loaded. Every action is a page load of
// its own; a deleted message is marked read before it moves to Trash.
type webmailSync struct{ d *imapDevice }

// newWebmailSync sets the device's window to the page size; a webmail
// keeps no connection.
func newWebmailSync(d *imapDevice) *webmailSync {
	d.window = d.o.Profile.PageSize
	if d.window <= 0 {
		d.window = DefaultPageSize
	}
	return &webmailSync{d: d}
}

func (w *webmailSync) syncFolder(s *imapSession, name string) error { return w.d.syncPage(s, name) }

func (w *webmailSync) onWire(ctx context.Context, fn func(s *imapSession) error) error {
	return w.pageLoad(ctx, fn)
}

func (w *webmailSync) syncEvery() time.Duration { return w.d.o.Profile.refreshEvery() }
func (w *webmailSync) bodyLimit() int64         { return 0 }
func (w *webmailSync) readsBeforeTrash() bool   { return true }

func (w *webmailSync) run(ctx context.Context) {
	d := w.d
	refresh := w.syncEvery()
	var listed time.Time
	turn, retry := 0, d.retrier()
	for ctx.Err() == nil {
		start, wall := d.o.Clock.Now(), time.Now()
		err := w.pageLoad(ctx, func(s *imapSession) error {
			if listed.IsZero() || start.Sub(listed) >= webmailListEvery {
				if err := d.list(s); err != nil {
					return err
				}
				listed = start
			}
			if err := s.do("STATUS", func() error {
				_, err := s.c.Status(view.FolderInbox, &imap.StatusOptions{NumMessages: true, NumUnseen: true})
				return err
			}); err != nil && s.broken {
				return err
			}
			if err := d.syncPage(s, view.FolderInbox); err != nil {
				return err
			}
			var others []string
			for _, n := range d.folderNames() {
				if n != view.FolderInbox {
					others = append(others, n)
				}
			}
			if len(others) > 0 {
				name := others[turn%len(others)]
				turn++
				if err := d.syncPage(s, name); err != nil && s.broken {
					return err
				}
			}
			return nil
		})
		syncRound(ctx, &d.o, wall, err)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			d.log.Debug("page load failed", "err", err)
			if retry.failed(ctx) != nil {
				return
			}
			continue
		}
		retry.ok()
		if d.sleepSim(ctx, refresh-d.o.Clock.Now().Sub(start)) != nil {
			return
		}
	}
}

// pageLoad runs fn on a new logged-in connection and logs out: one HTTP
// request of a webmail.
func (w *webmailSync) pageLoad(ctx context.Context, fn func(s *imapSession) error) error {
	d := w.d
	s, err := d.dialIMAP(ctx, false)
	if err != nil {
		return err
	}
	done := s.closeOnStop(ctx)
	err = fn(s)
	done()
	s.close()
	if err != nil {
		return fmt.Errorf("webmail page load: %w", err)
	}
	return nil
}
