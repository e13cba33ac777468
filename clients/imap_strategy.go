package clients

import (
	"context"
	"time"
)

// syncStrategy is what makes an IMAP device a PC, a phone or a webmail. The
// device (imapDevice) is the shared part: the mailbox view, the folder
// syncs (full, window, page), the actions and the connections; the
// strategy, chosen once by newIMAPDevice, is the kind's loop over them and
// the few choices that differ by kind (docs/architecture.md, "Device
// strategies and retries"). Its implementations: pcSync (imap_pc.go),
// phoneSync (imap_phone.go), webmailSync (webmail.go).
type syncStrategy interface {
	// run is the device's sync loop; it returns when ctx ends.
	run(ctx context.Context)
	// syncFolder syncs one folder as the kind does (after an action
	// created or changed it).
	syncFolder(s *imapSession, name string) error
	// onWire runs fn on a logged-in connection for an action.
	onWire(ctx context.Context, fn func(s *imapSession) error) error
	// syncEvery is the kind's normal sync interval, which caps the retry
	// backoff (clients/retry.go).
	syncEvery() time.Duration
	// bodyLimit is the largest message whose whole body an open fetches
	// (0: no limit); a larger one gets its structure and a partial body.
	// It is 0 or phoneBodyLimit: a device keeps of a message's size only
	// whether it is larger than that (imapMsg.large).
	bodyLimit() int64
	// readsBeforeTrash reports whether the client marks a message read
	// before it moves it to Trash.
	readsBeforeTrash() bool
}

// longLived runs fn on the last long-lived connection of the device: the
// onWire of the kinds that keep connections (pc, phone); the sync loop
// that owns it serves the request (clients/imap_slot.go).
func (d *imapDevice) longLived(ctx context.Context, fn func(s *imapSession) error) error {
	return d.slots[len(d.slots)-1].with(ctx, fn)
}
