package clients

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

// Defaults of the IMAP devices when the profile leaves a field zero.
const (
	// pcIdleRestart re-issues IDLE before servers' 30-minute timeout.
	pcIdleRestart = 29 * time.Minute
	// phoneIdleRestart is K-9's push refresh.
	phoneIdleRestart = 24 * time.Minute
	// webmailListEvery is Roundcube's session lifetime, after which the
	// folder list is fetched again.
	webmailListEvery = 10 * time.Minute
	// phoneBodyLimit is K-9's whole-body download limit; larger messages
	// get a partial body.
	phoneBodyLimit = 128 << 10
)

// imapFolder is a device's last synced state of one server mailbox.
type imapFolder struct {
	name     string
	validity uint32
	msgs     map[imap.UID]imapMsg
	// synced is the simulated time at the start of the last completed sync
	// (zero: never synced).
	synced time.Time
	// log is the folder's last syncs that changed what the device shows
	// of it (view.Snapshot.FolderLog), from installAt.
	log view.SyncLog
	// uidNext, messages and unseen are the last STATUS numbers (pc).
	uidNext          imap.UID
	messages, unseen uint32
	// gen counts the device's own edits (actions); journal keeps the last
	// of them for syncs that read the server before an edit.
	gen     uint64
	journal []imapEdit
	// hidden counts the messages within the window that the last
	// windowed sync left out (view.Snapshot.Hidden).
	hidden int
}

// imapMsg is one message the device shows: its Message-ID (a handle in
// Options.IDs, view.NoHandle for a message without one), flags and size;
// never its body. A folder holds one per message, so it is kept small (12
// bytes, no pointer; docs/performance.md, "Memory per message held").
// Maps hold it by value; a folder's map is changed only under d.mu (place
// and forget edit it in place; a sync installs a map of its own).
type imapMsg struct {
	id    view.Handle
	flags view.Flags
	// large: the message (RFC822.SIZE) is larger than phoneBodyLimit, the
	// one size anything compares (a phone fetches such a message's
	// structure and a partial body). A bit instead of the size keeps the
	// record at 8 bytes, a folder's map slot at 12 (docs/performance.md,
	// "Memory per message held").
	large bool
	// st are the syncs that brought the message into the folder and its
	// flags into the view, of the folder's log (view.Stamps; installAt
	// sets them): two bytes the record's padding had room for.
	st view.Stamps
}

// withFlags returns m with flags f added by the device's own action: no
// sync brought its flags (view.StampNone).
func (m imapMsg) withFlags(f view.Flags) imapMsg {
	m.flags |= f
	m.st.Flags = view.StampNone
	return m
}

// isLarge reports whether a message of n bytes is larger than
// phoneBodyLimit (imapMsg.large).
func isLarge(n int64) bool { return n > phoneBodyLimit }

// imapDevice is an IMAP device of any kind: the mailbox view, folder syncs,
// actions and connections all kinds share; strategy is the kind's sync
// loop and choices (clients/imap_strategy.go).
type imapDevice struct {
	o        Options
	strategy syncStrategy
	rec      Recorder
	log      *slog.Logger
	fetchNew *imap.FetchOptions
	// fetchOpen is the fetch of an opened message (action read).
	fetchOpen *imap.FetchOptions
	// flagsFetch (UID FLAGS) and folderStatus (STATUS MESSAGES UIDNEXT
	// UNSEEN) are the options of the syncs' flag fetches and the PC's
	// folder checks, made once per device (never changed).
	flagsFetch   imap.FetchOptions
	folderStatus imap.StatusOptions
	// fetchWhole is the download of whole new messages (fetchBodies),
	// made once per device (never changed).
	fetchWhole imap.FetchOptions
	gen        mailgen.Generator
	window     int // phone sync window or webmail page size (0: pc, whole folders)

	rngMu sync.Mutex
	rng   *rand.Rand

	mu      sync.Mutex // guards the fields below
	folders map[string]*imapFolder
	special map[imap.MailboxAttr]string
	noIDLog bool // a message without Message-ID was logged
	// listed is set once a LIST made the folder set the server's;
	// listedAt is the simulated time the last such LIST began: a folder
	// created since is one the device does not know (View).
	listed   bool
	listedAt time.Time
	// created are the folders the device created since its last LIST.
	created map[string]bool
	// prefix is the personal namespace prefix ("INBOX." on Cyrus), known
	// once nsDone (clients/imap_folders.go).
	prefix string
	// foreign tells the folders of the other users' and shared namespaces,
	// which the device leaves out (ForeignFolders), known once
	// nsDone.
	foreign Foreign
	nsDone  bool
	// inboxNew records the UIDs that came into INBOX (NewInInbox), and
	// inboxIdx finds a Message-ID's UIDs there (locate): cameIntoInbox.
	inboxNew inboxLog[imap.UID]
	inboxIdx inboxIndex

	// scratch are the folder syncs' scratches between syncs
	// (takeScratch): two, as a PC's INBOX and folder loops sync at once.
	scratch [2]atomic.Pointer[syncScratch]

	// slots are the long-lived connections (pc, phone); webmail has none.
	slots   []*imapSlot
	running atomic.Bool
}

func newIMAPDevice(o Options, kind Kind) (*imapDevice, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.IDs == nil {
		o.IDs = view.NewInterner() // the device's own: imapMsg keeps handles
	}
	p := o.Profile
	if p.Protocol != IMAP || p.Kind != kind {
		return nil, fmt.Errorf("clients: device %s: profile %q is %s/%s, want %s/imap", o.ID, p.Name, p.Kind, p.Protocol, kind)
	}
	fetchNew, fetchOpen, err := imapFetchSpecs(p)
	if err != nil {
		return nil, fmt.Errorf("clients: device %s: profile %q: %w", o.ID, p.Name, err)
	}
	d := &imapDevice{
		o:         o,
		rec:       o.recorder(),
		log:       o.logger().With("device", o.ID),
		fetchNew:  fetchNew,
		fetchOpen: fetchOpen,
		gen:       mailgen.Generator{Domain: domainOf(o.Address)},
		rng:       rand.New(rand.NewPCG(uint64(o.Seed), 0x1ab5)),
		folders:   make(map[string]*imapFolder),
		special:   make(map[imap.MailboxAttr]string),

		flagsFetch:   imap.FetchOptions{UID: true, Flags: true},
		folderStatus: imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true},
		fetchWhole:   imap.FetchOptions{UID: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}},
	}
	switch kind {
	case KindPhone:
		d.strategy = newPhoneSync(d)
	case KindWebmail:
		d.strategy = newWebmailSync(d)
	default:
		d.strategy = newPCSync(d)
	}
	return d, nil
}

// newIMAPPC returns a Thunderbird-like PC device over IMAP.
func newIMAPPC(o Options) (Device, error) { return newIMAPDevice(o, KindPC) }

// newIMAPPhone returns a K-9/iOS-like phone device over IMAP.
func newIMAPPhone(o Options) (Device, error) { return newIMAPDevice(o, KindPhone) }

// newWebmail returns a Roundcube-like webmail device over IMAP.
func newWebmail(o Options) (Device, error) { return newIMAPDevice(o, KindWebmail) }

// ID implements Device.
func (d *imapDevice) ID() string { return d.o.ID }

// Profile implements Device.
func (d *imapDevice) Profile() *Profile { return d.o.Profile }

// Run implements Device.
func (d *imapDevice) Run(ctx context.Context) error {
	if d.running.Swap(true) {
		return fmt.Errorf("clients: device %s: Run called twice", d.o.ID)
	}
	defer d.running.Store(false)
	// The sync loops own the long-lived connections and serve the
	// actions' requests while they run (clients/imap_slot.go).
	for _, sl := range d.slots {
		sl.start(ctx)
	}
	d.strategy.run(ctx)
	for _, sl := range d.slots {
		sl.stop()
	}
	return nil
}

// View implements Device.
func (d *imapDevice) View() view.Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap := view.Snapshot{Window: d.window}
	var synced time.Time
	complete := len(d.folders) > 0
	n := 0 // copies held
	for name, f := range d.folders {
		n += len(f.msgs)
		if f.synced.IsZero() {
			complete = false
			continue
		}
		if synced.IsZero() || f.synced.Before(synced) {
			synced = f.synced
		}
		if snap.FolderSynced == nil {
			snap.FolderSynced = make(map[string]time.Time, len(d.folders))
		}
		snap.FolderSynced[name] = f.synced
		if snap.FolderLog == nil {
			snap.FolderLog = make(map[string]view.SyncLog, len(d.folders))
		}
		snap.FolderLog[name] = f.log
		if f.hidden > 0 {
			if snap.Hidden == nil {
				snap.Hidden = map[string]int{}
			}
			snap.Hidden[name] = f.hidden
		}
	}
	// The copy shown for a Message-ID held more than once is the one
	// locate acts on (internal/view/copies.go).
	snap.Messages = view.Pick(d.special[imap.MailboxAttrTrash], n, func(add func(string, view.Copy, view.Flags)) {
		d.o.IDs.Read(func(value func(view.Handle) string) {
			for name, f := range d.folders {
				for uid, m := range f.msgs {
					if m.id != view.NoHandle {
						add(value(m.id), view.Copy{Folder: name, UID: uint32(uid), Stamps: m.st}, m.flags)
					}
				}
			}
		})
	})
	if complete {
		snap.Synced = synced
	}
	// A folder created after the last LIST (a move into a new folder)
	// the device cannot show yet, however recently it synced the
	// others: the auditor waits for a list only for such changes
	// (internal/audit/auditor.go, syncedSince).
	snap.Listed = d.listedAt
	return snap
}

// NewInInbox implements Device: of the UIDs that came into INBOX since
// the last call, those INBOX still holds (installAt and place record
// them).
func (d *imapDevice) NewInInbox(since InboxCursor) (ids []string, cursor InboxCursor) {
	d.mu.Lock()
	f := d.folders[view.FolderInbox]
	d.o.IDs.Read(func(value func(view.Handle) string) {
		next, ok := d.inboxNew.take(since, func(uid imap.UID) {
			if f != nil {
				if m, held := f.msgs[uid]; held && m.id != view.NoHandle {
					ids = append(ids, value(m.id))
				}
			}
		})
		if !ok && f != nil {
			ids = make([]string, 0, len(f.msgs))
			for _, m := range f.msgs {
				if m.id != view.NoHandle {
					ids = append(ids, value(m.id))
				}
			}
		}
		cursor = next
	})
	inboxIsTrash := d.special[imap.MailboxAttrTrash] == view.FolderInbox
	d.mu.Unlock()
	if inboxIsTrash {
		// A server marking INBOX \Trash: a message with a copy in INBOX
		// and another elsewhere is shown elsewhere (view.Prefer), which
		// only the whole view tells.
		ids = ids[:0]
		for id, m := range d.View().Messages {
			if m.Folder == view.FolderInbox {
				ids = append(ids, id)
			}
		}
	}
	return ids, cursor
}

// cameIntoInbox records that msgs, INBOX's map, now holds the message id
// at uid, which it did not before (NewInInbox, locate). d.mu must be held.
func (d *imapDevice) cameIntoInbox(uid imap.UID, id view.Handle, msgs map[imap.UID]imapMsg) {
	d.inboxNew.add(uid, len(msgs))
	d.inboxIdx.add(id, uid, msgs)
}

// changed calls OnChange.
func (d *imapDevice) changed() {
	if d.o.OnChange != nil {
		d.o.OnChange()
	}
}

// specialUse returns the server's folder for a special use (marked, or
// listed under a name clients fall back to), else fallback under the
// personal namespace prefix.
func (d *imapDevice) specialUse(attr imap.MailboxAttr, fallback string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name := d.special[attr]; name != "" {
		return name
	}
	return d.folderForLocked(fallback)
}

// folderNames returns the folders the device knows, INBOX first.
func (d *imapDevice) folderNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.folders))
	for n := range d.folders {
		names = append(names, n)
	}
	// Distinct names: any sort gives the same order.
	slices.SortFunc(names, func(a, b string) int {
		if (a == view.FolderInbox) != (b == view.FolderInbox) {
			if a == view.FolderInbox {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// retrier returns the backoff of one sync loop of the device
// (clients/retry.go).
func (d *imapDevice) retrier() *retrier {
	return &retrier{clock: d.o.Clock, opts: retryOptions(d.strategy.syncEvery()), rng: lockedRand{&d.rngMu, d.rng}}
}

// sleepSim waits sim simulated time, at least minWallWait of wall time.
func (d *imapDevice) sleepSim(ctx context.Context, sim time.Duration) error {
	return sleepSim(ctx, d.o.Clock, sim)
}

// logNoID logs, once per device, a message without Message-ID. Such a
// response is most often about a message another session expunged that
// this session still numbers: Dovecot answers its header fields NIL,
// Courier a stand-in with none (docs/servers.md); it is gone, and left out
// all the same.
func (d *imapDevice) logNoID(folder string, uid imap.UID) {
	d.mu.Lock()
	first := !d.noIDLog
	d.noIDLog = true
	d.mu.Unlock()
	if first {
		d.log.Warn("message without Message-ID is left out of the view (on Dovecot and Courier also one another session expunged: docs/servers.md)", "folder", folder, "uid", uid)
	}
}
