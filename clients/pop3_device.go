package clients

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// pop3Device is a PC or phone mail client over POP3 (Thunderbird, Outlook,
// a phone's POP3 account): it polls, downloads new messages into a local
// store and keeps folders, flags, Trash and Sent only on the device.
type pop3Device struct {
	o    Options
	prof Profile // with defaults applied
	poll time.Duration
	rec  Recorder
	log  *slog.Logger
	gen  mailgen.Generator

	// ids holds the Message-IDs, From fields and reply fields the device
	// keeps (clients/local.go): Options.IDs, the user's, or the device's
	// own.
	ids *view.Interner

	mu sync.Mutex // guards everything below
	// store holds the messages and, in the same records, the UIDLs
	// downloaded that the server listed at the last poll, with the
	// download time, and those deleted locally, to DELE on the server
	// (clients/local.go).
	store *mailstore
	// inboxNew records the Message-IDs (handles in ids) that came into the
	// local INBOX (NewInInbox).
	inboxNew inboxLog[view.Handle]
	synced   time.Time
	// shown logs the polls that downloaded a message, from the first
	// download of each (view.Snapshot.Log): the view shows it from then,
	// before the poll completes and synced moves; pollStart is the start
	// of the poll under way, logged once it downloads (zero: logged, or
	// none under way), and pollStamp its stamp once logged, which every
	// message it downloads keeps (localMsg.stamp).
	shown     view.SyncLog
	pollStart time.Time
	pollStamp view.Stamp
	rng       *rand.Rand
	noIDWarns int
}

// newPOP3Device returns a POP3 device for o (already validated by New).
func newPOP3Device(o Options) (Device, error) {
	prof := *o.Profile
	poll := prof.pollEvery()
	seed := uint64(o.Seed)
	ids := o.IDs
	if ids == nil {
		ids = view.NewInterner()
	}
	return &pop3Device{
		o:     o,
		prof:  prof,
		poll:  poll,
		rec:   o.recorder(),
		log:   o.logger().With("device", o.ID),
		gen:   mailgen.Generator{Domain: domainOf(o.Address)},
		ids:   ids,
		store: newMailstore(ids),
		rng:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}, nil
}

// ID implements Device.
func (d *pop3Device) ID() string { return d.o.ID }

// Profile implements Device.
func (d *pop3Device) Profile() *Profile { return d.o.Profile }

// View implements Device.
func (d *pop3Device) View() view.Snapshot {
	d.mu.Lock()
	defer d.mu.Unlock()
	snap := d.store.snapshot(d.synced, 0)
	snap.Log = d.shown
	return snap
}

// NewInInbox implements Device: of the Message-IDs that came into the
// local INBOX since the last call, those still there.
func (d *pop3Device) NewInInbox(since InboxCursor) ([]string, InboxCursor) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var ids []string
	inInbox := func(m *localMsg) bool { return m != nil && d.store.folderOf(m) == view.FolderInbox }
	next, ok := d.inboxNew.take(since, func(h view.Handle) {
		if i, held := d.store.find(h); held && inInbox(&d.store.msgs[i]) {
			ids = append(ids, d.ids.Value(h))
		}
	})
	if !ok {
		d.store.each(func(id string, m *localMsg) bool {
			if inInbox(m) {
				ids = append(ids, id)
			}
			return true
		})
	}
	return ids, next
}

func (d *pop3Device) changed() {
	if d.o.OnChange != nil {
		d.o.OnChange()
	}
}

// Run implements Device: it polls every PollInterval (simulated) until ctx
// is done, retrying failed polls with the device retry policy
// (clients/retry.go).
func (d *pop3Device) Run(ctx context.Context) error {
	retry := &retrier{clock: d.o.Clock, opts: retryOptions(d.poll), rng: lockedRand{&d.mu, d.rng}}
	for {
		wall := time.Now()
		err := d.Poll(ctx)
		syncRound(ctx, &d.o, wall, err)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			d.log.Debug("pop3 poll failed", "err", err, "failures", retry.failures+1)
			if retry.failed(ctx) != nil {
				return nil
			}
			continue
		}
		retry.ok()
		if sleepSim(ctx, d.o.Clock, d.poll) != nil {
			return nil
		}
	}
}

// Poll runs one POP3 session: CAPA, (STLS), AUTH PLAIN or USER/PASS, STAT,
// LIST, UIDL, RETR of every new UIDL, the DELEs the profile asks for, QUIT.
// New messages land in the local INBOX unseen.
func (d *pop3Device) Poll(ctx context.Context) (err error) {
	start := d.o.Clock.Now()
	s, err := dialPOP3(ctx, &d.o, d.o.POP3)
	if err != nil {
		return err
	}
	quitted := false
	defer func() {
		if !quitted {
			s.close()
		}
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
	}()

	if err := s.capabilities(); err != nil {
		s.w.CountLogin(err)
		return err
	}
	if d.o.POP3.TLS == transport.TLSStartTLS {
		if err := s.startTLS(&d.o); err != nil {
			s.w.CountLogin(err)
			return err
		}
	}
	if err := s.login(d.o.Username, d.o.Password); err != nil {
		return err
	}
	if _, _, err := s.Stat(); err != nil {
		return err
	}
	sizes, err := s.list("LIST")
	if err != nil {
		return err
	}
	uidls, err := s.list("UIDL")
	if err != nil {
		return err
	}

	// What to download and what to delete, decided under the lock. seen
	// finds the records of the UIDLs downloaded, for this poll only (the
	// store keeps no index of them: a poll looks at every UIDL anyway).
	type todo struct {
		n    int
		uidl string
		k    uidlKey // of uidl, for dele
	}
	var fetch, dele []todo
	now := d.o.Clock.Now()
	d.mu.Lock()
	d.pollStart, d.pollStamp = start, view.StampNone
	seen := d.store.seenIndex()
	onServer := make([]bool, len(d.store.msgs)) // by record
	for _, n := range slices.Sorted(maps.Keys(uidls)) {
		u := uidls[n]
		k, ok := d.store.uidlKey(u, false)
		i, known := seen[k]
		if !ok || !known {
			fetch = append(fetch, todo{n: n, uidl: u})
			continue
		}
		onServer[i] = true
		m := &d.store.msgs[i]
		switch {
		case d.prof.DeleteWhenDeletedLocally && m.st&recDeleted != 0:
			dele = append(dele, todo{n, u, k})
		case !d.prof.LeaveOnServer:
			dele = append(dele, todo{n, u, k}) // an earlier DELE did not commit
		case d.prof.DeleteAfter > 0 && now.Sub(time.Unix(0, m.downloaded())) >= d.prof.DeleteAfter:
			dele = append(dele, todo{n, u, k})
		}
	}
	// Forget UIDLs the server no longer has (deleted elsewhere).
	for k, i := range seen {
		if !onServer[i] {
			d.store.unsee(seen, k)
		}
	}
	d.mu.Unlock()

	var deleted []uidlKey
	for _, t := range fetch {
		raw, err := s.retr(t.n)
		if err != nil {
			return err
		}
		size := int64(len(raw))
		if sz, err := parseSize(sizes[t.n]); err == nil {
			size = sz
		}
		k, ok := d.addDownloaded(seen, t.uidl, raw, size)
		if !d.prof.LeaveOnServer {
			if err := s.dele(t.n); err != nil {
				return err
			}
			if ok {
				deleted = append(deleted, k)
			}
		}
	}
	for _, t := range dele {
		if err := s.dele(t.n); err != nil {
			return err
		}
		deleted = append(deleted, t.k)
	}
	quitted = true
	if err := s.quit(d.o.timeout()); err != nil {
		return err
	}
	// QUIT committed the deletions.
	d.mu.Lock()
	for _, k := range deleted {
		d.store.unsee(seen, k)
	}
	d.synced = start
	d.mu.Unlock()
	d.changed()
	return nil
}

func parseSize(s string) (int64, error) {
	var n int64
	_, err := fmt.Sscan(s, &n)
	return n, err
}

// addDownloaded stores a message fetched by RETR in the local INBOX,
// records that its UIDL was downloaded (in seen too, the poll's index) and
// returns the UIDL's key; false for an empty UIDL, which is never known
// (and so downloaded at every poll).
func (d *pop3Device) addDownloaded(seen map[uidlKey]uint32, uidl string, raw []byte, size int64) (uidlKey, bool) {
	h, err := mailgen.ParseHeader(raw)
	at := d.o.Clock.Now().UnixNano()
	if err != nil {
		h = mailgen.Header{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if h.ID == "" {
		if d.noIDWarns == 0 {
			d.log.Info("pop3: message without Message-ID ignored in the view", "uidl", uidl)
		}
		d.noIDWarns++
	}
	k, hasUIDL, added := d.store.download(seen, uidl, h, at)
	if added {
		d.inboxNew.add(d.ids.Handle(h.ID), d.store.len())
		if !d.pollStart.IsZero() {
			d.pollStamp = d.shown.Add(d.synced, d.pollStart)
			d.pollStart = time.Time{}
			d.store.keepStamps(&d.shown)
		}
		// The message came with this poll: the auditor takes its
		// start as when the view showed it, even when an earlier poll
		// since the delivery downloaded other mail (a server that
		// showed it late; view.SyncLog.Stamped).
		if m := d.store.get(h.ID); m != nil {
			m.setStamp(d.pollStamp)
		}
	}
	return k, hasUIDL
}

// Do implements Device. Every action is local to the device except that
// send, reply and forward submit mail through o.Submitter; Published is
// always false.
func (d *pop3Device) Do(ctx context.Context, a Action) (Result, error) {
	if a.Resume != nil {
		// Its steps after a submission are local and do not fail.
		return Result{}, fmt.Errorf("pop3 device %s: nothing to resume", d.o.ID)
	}
	switch a.Kind {
	case ActRead:
		return d.setFlag(a.MessageID, view.Seen)
	case ActFlag:
		return d.setFlag(a.MessageID, view.Flagged)
	case ActMove:
		return d.move(a.MessageID, a.Folder)
	case ActDelete:
		return d.delete(a.MessageID)
	case ActReply:
		return d.respond(ctx, a, false)
	case ActForward:
		return d.respond(ctx, a, true)
	case ActSend:
		return d.send(ctx, a)
	}
	return Result{}, fmt.Errorf("pop3 device %s: unknown action %q", d.o.ID, a.Kind)
}

func (d *pop3Device) setFlag(id string, f view.Flags) (Result, error) {
	d.mu.Lock()
	m := d.store.get(id)
	if m == nil {
		d.mu.Unlock()
		return Result{}, fmt.Errorf("pop3 device %s: %s: %w", d.o.ID, id, ErrNoMessage)
	}
	was := m.Flags
	m.Flags |= f
	res := Result{Folder: d.store.folderOf(m), Flags: m.Flags}
	d.mu.Unlock()
	if was != res.Flags {
		d.changed()
	}
	return res, nil
}

func (d *pop3Device) move(id, folder string) (Result, error) {
	if folder == "" {
		return Result{}, fmt.Errorf("pop3 device %s: move %s: no destination folder", d.o.ID, id)
	}
	d.mu.Lock()
	m := d.store.get(id)
	if m == nil {
		d.mu.Unlock()
		return Result{}, fmt.Errorf("pop3 device %s: %s: %w", d.o.ID, id, ErrNoMessage)
	}
	was := d.store.folderOf(m)
	if !d.store.setFolder(m, folder) {
		d.mu.Unlock()
		return Result{}, fmt.Errorf("pop3 device %s: move %s to %q: more than %d local folders", d.o.ID, id, folder, maxLocalFolders)
	}
	res := Result{Folder: folder, Flags: m.Flags}
	if folder == view.FolderInbox && was != folder {
		d.inboxNew.add(m.id, d.store.len())
	}
	d.mu.Unlock()
	if was != folder {
		d.changed()
	}
	return res, nil
}

// delete moves a message to the local Trash, or removes it when it is in
// Trash already; with delete_when_deleted_locally the next poll DELEs it on
// the server.
func (d *pop3Device) delete(id string) (Result, error) {
	d.mu.Lock()
	m := d.store.get(id)
	if m == nil {
		d.mu.Unlock()
		return Result{}, fmt.Errorf("pop3 device %s: %s: %w", d.o.ID, id, ErrNoMessage)
	}
	var res Result
	if m.st&recSeen != 0 && d.prof.DeleteWhenDeletedLocally {
		m.st |= recDeleted
	}
	if d.store.folderOf(m) == view.FolderTrash {
		d.store.remove(id) // m is no longer this message
	} else {
		d.store.setFolder(m, view.FolderTrash) // a local folder: never refused
		res = Result{Folder: view.FolderTrash, Flags: m.Flags}
	}
	d.mu.Unlock()
	d.changed()
	return res, nil
}

// respond replies to or forwards a message: the new message is submitted,
// kept in the local Sent, and the original gets \Answered or $Forwarded.
func (d *pop3Device) respond(ctx context.Context, a Action, forward bool) (Result, error) {
	if forward && len(a.To) == 0 {
		return Result{}, fmt.Errorf("pop3 device %s: forward %s: no recipients", d.o.ID, a.MessageID)
	}
	d.mu.Lock()
	m := d.store.get(a.MessageID)
	if m == nil {
		d.mu.Unlock()
		return Result{}, fmt.Errorf("pop3 device %s: %s: %w", d.o.ID, a.MessageID, ErrNoMessage)
	}
	orig := d.store.header(m, a.MessageID)
	size := a.Size
	if size <= 0 {
		size = 1500 + d.rng.Int64N(3000)
	}
	now := d.o.Clock.Now()
	var msg mailgen.Message
	var to []string
	if forward {
		msg = d.gen.Forward(d.rng, d.o.Address, a.To, orig, size, now)
		to = a.To
	} else {
		msg = d.gen.Reply(d.rng, d.o.Address, orig, size, now)
		to = []string{bareAddress(orig.From)}
	}
	d.mu.Unlock()

	if err := submit(ctx, &d.o, d.log, to, msg.Raw); err != nil {
		return Result{}, err
	}
	flag := view.Answered
	if forward {
		flag = view.Forwarded
	}
	d.mu.Lock()
	d.store.put(msg.ID, d.store.newMsg(view.FolderSent, "", view.Seen, msg.Header))
	res := Result{Sent: msg.ID}
	if m := d.store.get(a.MessageID); m != nil {
		m.Flags |= flag
		res.Folder, res.Flags = d.store.folderOf(m), m.Flags
	}
	d.mu.Unlock()
	d.changed()
	return res, nil
}

// send writes a new message: it sits in the local Drafts for a.WriteTime
// (simulated), is submitted and then moves to the local Sent.
func (d *pop3Device) send(ctx context.Context, a Action) (Result, error) {
	if len(a.To) == 0 {
		return Result{}, fmt.Errorf("pop3 device %s: send: no recipients", d.o.ID)
	}
	now := d.o.Clock.Now()
	d.mu.Lock()
	size := a.Size
	if size <= 0 {
		size = 2000 + d.rng.Int64N(8000)
	}
	msg := d.gen.New(d.rng, d.o.Address, a.To, size, false, now)
	d.store.put(msg.ID, d.store.newMsg(view.FolderDrafts, "", view.Seen, mailgen.Header{From: msg.From, Subject: msg.Subject}))
	d.mu.Unlock()
	d.changed()
	if a.WriteTime > 0 {
		if err := d.o.Clock.Sleep(ctx, a.WriteTime); err != nil {
			return Result{Folder: view.FolderDrafts, Flags: view.Seen}, fmt.Errorf("pop3 device %s: send: %w", d.o.ID, err)
		}
	}
	if err := submit(ctx, &d.o, d.log, a.To, msg.Raw); err != nil {
		// The draft stays in Drafts, as in a real client.
		return Result{Folder: view.FolderDrafts, Flags: view.Seen}, err
	}
	d.mu.Lock()
	if m := d.store.get(msg.ID); m != nil {
		d.store.setFolder(m, view.FolderSent) // a local folder: never refused
	} else {
		d.store.put(msg.ID, d.store.newMsg(view.FolderSent, "", view.Seen, mailgen.Header{}))
	}
	d.mu.Unlock()
	d.changed()
	return Result{Sent: msg.ID, Folder: view.FolderSent, Flags: view.Seen}, nil
}
