package clients

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// defaultReplySize is the size of a reply or forward when the action gives
// none.
const defaultReplySize = 4 << 10

// imapLoc is where a message the device shows lives.
type imapLoc struct {
	id     string
	folder string
	uid    imap.UID
	flags  view.Flags
	large  bool // imapMsg.large
}

// locate finds a Message-ID in the view: of several copies, the one View
// shows (view.Prefer). A copy in INBOX is shown before any other (unless
// the server marks INBOX as trash), the one of lowest UID, so the INBOX
// index answers for a message there (an action's, but for a retry); only
// a message elsewhere or not held costs a look at the other folders.
func (d *imapDevice) locate(id string) (imapLoc, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h, interned := d.o.IDs.Lookup(id)
	if !interned {
		return imapLoc{}, fmt.Errorf("clients: device %s: %s: %w", d.o.ID, id, ErrNoMessage)
	}
	trash := d.special[imap.MailboxAttrTrash]
	skip := "" // a folder the index has answered for
	if f := d.folders[view.FolderInbox]; f != nil && trash != view.FolderInbox {
		uid, found, usable := d.inboxIdx.find(h, f.msgs)
		if found {
			m := f.msgs[uid]
			return imapLoc{id: id, folder: view.FolderInbox, uid: uid, flags: m.flags, large: m.large}, nil
		}
		if usable {
			skip = view.FolderInbox
		}
	}
	var loc imapLoc
	found := false
	for name, f := range d.folders {
		if name == skip {
			continue
		}
		for uid, m := range f.msgs {
			if m.id != h {
				continue
			}
			if found && !view.Prefer(view.Copy{Folder: name, UID: uint32(uid)}, view.Copy{Folder: loc.folder, UID: uint32(loc.uid)}, trash) {
				continue
			}
			loc, found = imapLoc{id: id, folder: name, uid: uid, flags: m.flags, large: m.large}, true
		}
	}
	if !found {
		return imapLoc{}, fmt.Errorf("clients: device %s: %s: %w", d.o.ID, id, ErrNoMessage)
	}
	return loc, nil
}

// onWire runs fn on a connection for an action: the last long-lived
// connection (pc, phone) or a page load of its own (webmail).
func (d *imapDevice) onWire(ctx context.Context, fn func(s *imapSession) error) error {
	return d.strategy.onWire(ctx, fn)
}

// Do implements Device. Every action goes over IMAP, so a successful one
// is Published; the device's view is updated at once, as the client's
// own message list is.
func (d *imapDevice) Do(ctx context.Context, a Action) (Result, error) {
	if a.Resume != nil {
		return d.resume(ctx, a)
	}
	switch a.Kind {
	case ActSend:
		return d.send(ctx, a)
	case ActRead, ActFlag, ActReply, ActForward, ActMove, ActDelete:
	default:
		return Result{}, fmt.Errorf("clients: device %s: unknown action %q", d.o.ID, a.Kind)
	}
	loc, err := d.locate(a.MessageID)
	if err != nil {
		return Result{}, err
	}
	switch a.Kind {
	case ActRead:
		err = d.onWire(ctx, func(s *imapSession) error {
			return d.onMessage(s, &loc, func(loc imapLoc) error {
				if err := s.ensureSelected(loc.folder); err != nil {
					return err
				}
				if _, err := d.open(s, loc); err != nil {
					return err
				}
				return d.addFlags(s, loc, view.Seen)
			})
		})
		return d.result(loc.folder, loc.uid, err)
	case ActFlag:
		err = d.onWire(ctx, func(s *imapSession) error {
			return d.onMessage(s, &loc, func(loc imapLoc) error {
				if err := s.ensureSelected(loc.folder); err != nil {
					return err
				}
				return d.addFlags(s, loc, view.Flagged)
			})
		})
		return d.result(loc.folder, loc.uid, err)
	case ActReply, ActForward:
		return d.respond(ctx, a, loc)
	case ActMove:
		if a.Folder == "" {
			return Result{}, fmt.Errorf("clients: device %s: move without a folder", d.o.ID)
		}
		to := d.folderFor(a.Folder)
		if to == loc.folder {
			return d.result(loc.folder, loc.uid, nil)
		}
		var dest imapLoc
		err = d.onWire(ctx, func(s *imapSession) error {
			return d.onMessage(s, &loc, func(loc imapLoc) error {
				if loc.folder == to {
					// Another device moved it there meanwhile.
					dest = loc
					return nil
				}
				var err error
				dest, err = d.move(s, loc, to)
				return err
			})
		})
		if err != nil {
			return Result{}, err
		}
		return d.moved(dest, loc.folder)
	default: // ActDelete
		trash := d.specialUse(imap.MailboxAttrTrash, view.FolderTrash)
		inTrash := false
		var dest imapLoc
		err = d.onWire(ctx, func(s *imapSession) error {
			return d.onMessage(s, &loc, func(loc imapLoc) error {
				if err := s.ensureSelected(loc.folder); err != nil {
					return err
				}
				inTrash = loc.folder == trash
				if inTrash {
					return d.expunge(s, loc)
				}
				if d.strategy.readsBeforeTrash() && !loc.flags.Has(view.Seen) {
					// Roundcube marks a message read before moving it to Trash.
					if err := d.addFlags(s, loc, view.Seen); err != nil {
						return err
					}
					loc.flags |= view.Seen
				}
				var err error
				dest, err = d.move(s, loc, trash)
				return err
			})
		})
		if err != nil {
			return Result{}, err
		}
		if inTrash {
			return Result{Published: true, From: loc.folder}, nil
		}
		return d.moved(dest, loc.folder)
	}
}

// errGone reports that a command acted on a UID no longer in the selected
// mailbox (another device moved or expunged the message): the server
// answered OK and changed nothing.
var errGone = errors.New("message no longer in the mailbox")

// onMessage runs fn on the message at *loc. When fn finds the message gone
// from its folder (errGone), the folder is synced again, the message looked
// up again by Message-ID and fn retried once where it is now; *loc is
// updated. A message still missing is ErrNoMessage, so the action is not
// reported as published.
func (d *imapDevice) onMessage(s *imapSession, loc *imapLoc, fn func(loc imapLoc) error) error {
	err := fn(*loc)
	if !errors.Is(err, errGone) {
		return err
	}
	d.forget(loc.folder, loc.uid)
	if err := d.syncFolder(s, loc.folder); err != nil {
		return err
	}
	now, err := d.locate(loc.id)
	if err != nil {
		return err
	}
	*loc = now
	err = fn(now)
	if errors.Is(err, errGone) {
		d.forget(now.folder, now.uid)
		return fmt.Errorf("clients: device %s: %s: %w", d.o.ID, loc.id, ErrNoMessage)
	}
	return err
}

// moved is the Result of a move or delete that left the message at dest,
// from folder from.
func (d *imapDevice) moved(dest imapLoc, from string) (Result, error) {
	r, err := d.result(dest.folder, dest.uid, nil)
	r.From = from
	return r, err
}

// result builds a Result from the view's state of folder/uid after a
// successful action.
func (d *imapDevice) result(folder string, uid imap.UID, err error) (Result, error) {
	if err != nil {
		return Result{}, err
	}
	r := Result{Published: true, Folder: folder}
	d.mu.Lock()
	if f := d.folders[folder]; f != nil {
		if m, ok := f.msgs[uid]; ok {
			r.Flags = m.flags
		}
	}
	d.mu.Unlock()
	return r, nil
}

// open fetches a message as the person opens it (the profile's
// fetch_open; a phone fetches BODYSTRUCTURE and the first 128 KiB of a
// larger message) and returns its header block. Flags in the reply (a
// fetch of BODY[] sets \Seen and the server says so) go into the view, so
// a read does not store them again.
func (d *imapDevice) open(s *imapSession, loc imapLoc) ([]byte, error) {
	var set imap.UIDSet
	set.AddNum(loc.uid)
	opts := d.fetchOpen
	if limit := d.strategy.bodyLimit(); limit > 0 && loc.large {
		if err := s.fetch(set, &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}, false, func(fetched) {}); err != nil {
			return nil, err
		}
		opts = &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{
			{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: limit}},
		}}
	}
	var hdr []byte
	var flags view.Flags
	found := false
	err := s.fetch(set, opts, true, func(f fetched) {
		if f.uid == loc.uid && f.hasFlags {
			flags |= flagsOf(f.flags)
		}
		if f.uid == loc.uid && f.content {
			found = true
			if hdr == nil {
				hdr = f.header
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("clients: device %s: uid %d in %s: %w", d.o.ID, loc.uid, loc.folder, errGone)
	}
	if flags != 0 {
		d.noteFlags(loc.folder, loc.uid, flags)
	}
	return hdr, nil
}

// header returns the header block of a message, from an open fetch or, when
// fetch_open returned none, BODY.PEEK[HEADER].
func (d *imapDevice) header(s *imapSession, loc imapLoc) (mailgen.Header, error) {
	hdr, err := d.open(s, loc)
	if err != nil {
		return mailgen.Header{}, err
	}
	if len(hdr) == 0 {
		var set imap.UIDSet
		set.AddNum(loc.uid)
		opts := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}
		if err := s.fetch(set, opts, true, func(f fetched) { hdr = f.header }); err != nil {
			return mailgen.Header{}, err
		}
	}
	h, err := mailgen.ParseHeader(hdr)
	if err != nil {
		return mailgen.Header{}, fmt.Errorf("clients: device %s: header of uid %d: %w", d.o.ID, loc.uid, err)
	}
	return h, nil
}

// addFlags runs UID STORE +FLAGS and records the flags in the view, with
// those the server's answer showed the message has (another session's). A
// message the view already shows with the flags is not stored again, as a
// client does not offer "mark as read" on a message shown read. The store
// is never .SILENT (K-9 and Roundcube send it silent): see store for how a
// UID another device moved or expunged is told from one that had the flags
// already.
func (d *imapDevice) addFlags(s *imapSession, loc imapLoc, f view.Flags) error {
	if d.shows(loc.folder, loc.uid, f) {
		return nil
	}
	var fl []imap.Flag
	for _, n := range f.Strings() {
		fl = append(fl, imap.Flag(n))
	}
	have, err := d.store(s, loc, fl)
	if err != nil {
		return err
	}
	d.noteFlags(loc.folder, loc.uid, f|have)
	return nil
}

// noteFlags adds flags f, which the server has, to the message folder/uid
// in the view.
func (d *imapDevice) noteFlags(folder string, uid imap.UID, f view.Flags) {
	d.mu.Lock()
	changed := false
	if fo := d.folders[folder]; fo != nil {
		fo.record(imapEdit{uid: uid, flags: f})
		if m, ok := fo.msgs[uid]; ok && m.flags|f != m.flags {
			fo.msgs[uid] = m.withFlags(f)
			changed = true
		}
	}
	d.mu.Unlock()
	if changed {
		d.changed()
	}
}

// shows reports whether the view has the message folder/uid with flags f.
func (d *imapDevice) shows(folder string, uid imap.UID, f view.Flags) bool {
	have, ok := d.flagsAt(folder, uid)
	return ok && have.Has(f)
}

// flagsAt returns the flags the view holds for the message folder/uid,
// and whether it holds the message.
func (d *imapDevice) flagsAt(folder string, uid imap.UID) (view.Flags, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fo := d.folders[folder]; fo != nil {
		if m, ok := fo.msgs[uid]; ok {
			return m.flags, true
		}
	}
	return 0, false
}

// store runs UID STORE +FLAGS (not .SILENT). A server answers with a FETCH
// of the new flags when they changed; when the message had them already,
// Dovecot and Cyrus answer only OK — and so do they, changing nothing, for
// a UID another device has moved or expunged meanwhile. So a FETCH naming
// the UID with the flags is success; a tagged OK without one (rare: the
// view did not show flags another device set) is settled by one UID FETCH
// (FLAGS): the UID there with the flags is success, absent is errGone, and
// present without them is an error (the server did not keep the flags).
// A UID added since the mailbox was selected (at or above its UIDNEXT
// then) is concluded absent only after a NOOP and a second try: Courier
// does not show a session the messages added to its selected mailbox
// since its last sync, its own APPEND included, and answers OK to both
// commands for such a UID (a draft the device had just saved stayed in
// Drafts, taken for one another device had deleted). It returns the flags
// the server said the message has: those another session set come in the
// same answer, and the server does not send them again.
func (d *imapDevice) store(s *imapSession, loc imapLoc, fl []imap.Flag) (view.Flags, error) {
	var set imap.UIDSet
	set.AddNum(loc.uid)
	var have view.Flags
	for try := 1; ; try++ {
		stored := false
		err := s.do("UID STORE", func() error {
			return s.c.StoreAdd(set, fl, func(got fetched) {
				if got.uid == loc.uid && got.hasFlags {
					have |= flagsOf(got.flags)
					stored = stored || hasFlags(got.flags, fl)
				}
			})
		})
		if err != nil || stored {
			return have, err
		}
		found, kept := false, false
		if err := s.fetch(set, &d.flagsFetch, false, func(f fetched) {
			if f.uid == loc.uid && f.hasFlags {
				found = true
				have |= flagsOf(f.flags)
				kept = kept || hasFlags(f.flags, fl)
			}
		}); err != nil {
			return have, err
		}
		switch {
		case found && kept:
			return have, nil
		case found:
			return have, fmt.Errorf("imap %s UID STORE uid %d in %s: the server did not keep %v", d.o.IMAP.Addr, loc.uid, loc.folder, fl)
		case try == 2 || s.uidNext != 0 && loc.uid < s.uidNext:
			return have, fmt.Errorf("imap %s UID STORE uid %d in %s: %w", d.o.IMAP.Addr, loc.uid, loc.folder, errGone)
		}
		if err := s.do("NOOP", s.c.Noop); err != nil {
			return have, err
		}
	}
}

// hasFlags reports whether have holds every flag of want (flags match
// case-insensitively).
func hasFlags(have, want []imap.Flag) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if strings.EqualFold(string(h), string(w)) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// forget drops a message from the view (it is gone from the server).
func (d *imapDevice) forget(folder string, uid imap.UID) {
	d.mu.Lock()
	changed := false
	if f := d.folders[folder]; f != nil {
		f.record(imapEdit{uid: uid, gone: true})
		if _, ok := f.msgs[uid]; ok {
			// In place: no one holds a folder's map outside d.mu (a sync
			// works on a copy, known, and installs a map of its own), so
			// an action costs the same in a folder of any size.
			delete(f.msgs, uid)
			changed = true
		}
	}
	d.mu.Unlock()
	if changed {
		d.changed()
	}
}

// place adds a message to a folder of the view (after MOVE or APPEND with
// a known UID). A folder the view does not know yet is synced at once on
// s, as a client showing a folder for the first time does.
func (d *imapDevice) place(s *imapSession, folder string, uid imap.UID, m *imapMsg) error {
	d.mu.Lock()
	f := d.folders[folder]
	if f == nil {
		d.mu.Unlock()
		return d.syncFolder(s, folder)
	}
	if f.msgs == nil {
		f.msgs = make(map[imap.UID]imapMsg, 1)
	}
	f.msgs[uid] = *m // in place, as forget
	f.record(imapEdit{uid: uid, msg: m})
	if folder == view.FolderInbox {
		d.cameIntoInbox(uid, m.id, f.msgs)
	}
	d.mu.Unlock()
	d.changed()
	return nil
}

// syncFolder syncs one folder the way the device's kind does.
func (d *imapDevice) syncFolder(s *imapSession, name string) error {
	return d.strategy.syncFolder(s, name)
}

// isTryCreate reports a NO [TRYCREATE]: the target mailbox does not exist.
func isTryCreate(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeTryCreate
}

// createFolder runs CREATE name (see CreateFolder).
func (s *imapSession) createFolder(name string) error {
	return CreateFolder(s.c, name, s.do)
}

// isAlreadyExists reports a NO [ALREADYEXISTS] to CREATE.
func isAlreadyExists(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists
}

// knowFolders lists the server's folders on s unless the device has
// listed them before, so that folder names come from the server's
// namespace and special-use folders (imap_folders.go), not from the names
// guessed before a LIST ("Drafts" where the server has INBOX.Drafts).
func (d *imapDevice) knowFolders(s *imapSession) error {
	d.mu.Lock()
	listed := d.listed
	d.mu.Unlock()
	if listed {
		return nil
	}
	if err := d.list(s); err != nil {
		return err
	}
	s.listed = true
	return nil
}

// ensureFolder creates a destination folder the device's last LIST did not
// show, before a message is moved or appended there, as a person creates a
// folder once in the client's UI (a client only offers folders it knows).
// Before any LIST it does nothing: the command's TRYCREATE handling is the
// fallback. A folder another device created meanwhile is fine
// (createFolder).
func (d *imapDevice) ensureFolder(s *imapSession, name string) error {
	d.mu.Lock()
	_, known := d.folders[name]
	unknown := d.listed && !known && !d.created[name] && !strings.EqualFold(name, view.FolderInbox)
	d.mu.Unlock()
	if !unknown {
		return nil
	}
	if err := s.createFolder(name); err != nil {
		return err
	}
	d.mu.Lock()
	if d.created == nil {
		d.created = make(map[string]bool, 1)
	}
	d.created[name] = true
	d.mu.Unlock()
	return nil
}

// move runs UID MOVE (COPY + STORE + EXPUNGE where MOVE is missing),
// creating the destination on TRYCREATE, and moves the message in the view.
func (d *imapDevice) move(s *imapSession, loc imapLoc, dest string) (imapLoc, error) {
	if err := d.ensureFolder(s, dest); err != nil {
		return imapLoc{}, err
	}
	if err := s.ensureSelected(loc.folder); err != nil {
		return imapLoc{}, err
	}
	var set imap.UIDSet
	set.AddNum(loc.uid)
	name := "UID MOVE"
	if !s.caps.Has(imap.CapMove) && !s.caps.Has(imap.CapIMAP4rev2) {
		name = "UID COPY"
	}
	var copied imap.UIDSet
	run := func() error {
		return s.do(name, func() error {
			var err error
			copied, err = s.c.Move(set, dest)
			return err
		})
	}
	err := run()
	if err != nil && isTryCreate(err) {
		if cerr := s.createFolder(dest); cerr != nil {
			return imapLoc{}, cerr
		}
		err = run()
	}
	if err != nil {
		return imapLoc{}, err
	}
	if copied == nil && (s.caps.Has(imap.CapUIDPlus) || s.caps.Has(imap.CapIMAP4rev2)) {
		// A server with UIDPLUS answers COPYUID for every message moved:
		// none means the UID was gone already and nothing moved.
		return imapLoc{}, fmt.Errorf("imap %s %s uid %d in %s: %w", d.o.IMAP.Addr, name, loc.uid, loc.folder, errGone)
	}
	d.forget(loc.folder, loc.uid)
	out := imapLoc{id: loc.id, folder: dest, flags: loc.flags, large: loc.large}
	if nums, ok := copied.Nums(); ok && len(nums) == 1 {
		out.uid = nums[0]
		if err := d.place(s, dest, out.uid, &imapMsg{id: d.o.IDs.Handle(loc.id), flags: loc.flags, large: loc.large}); err != nil {
			return out, err
		}
	}
	return out, nil
}

// expunge removes a message for good: STORE +FLAGS (\Deleted), verified as
// addFlags does (errGone when the UID is gone), then UID EXPUNGE (plain
// EXPUNGE without UIDPLUS).
func (d *imapDevice) expunge(s *imapSession, loc imapLoc) error {
	var set imap.UIDSet
	set.AddNum(loc.uid)
	if _, err := d.store(s, loc, []imap.Flag{imap.FlagDeleted}); err != nil {
		return err
	}
	if s.caps.Has(imap.CapUIDPlus) || s.caps.Has(imap.CapIMAP4rev2) {
		if err := s.do("UID EXPUNGE", func() error { return s.c.UIDExpunge(set) }); err != nil {
			return err
		}
	} else if err := s.do("EXPUNGE", s.c.Expunge); err != nil {
		return err
	}
	d.forget(loc.folder, loc.uid)
	return nil
}

// appendTo runs APPEND with flags, creating the mailbox on TRYCREATE, and
// places the message in the view when the server returned its UID.
func (d *imapDevice) appendTo(s *imapSession, folder string, id string, raw []byte, flags view.Flags, extra ...imap.Flag) (imap.UID, error) {
	fl := append([]imap.Flag(nil), extra...)
	for _, n := range flags.Strings() {
		fl = append(fl, imap.Flag(n))
	}
	if err := d.ensureFolder(s, folder); err != nil {
		return 0, err
	}
	var uid imap.UID
	run := func() error {
		return s.do("APPEND", func() error {
			var err error
			uid, err = s.c.Append(folder, fl, raw)
			return err
		})
	}
	err := run()
	switch {
	case err == nil:
	case isTryCreate(err):
		if cerr := s.createFolder(folder); cerr != nil {
			return 0, cerr
		}
		err = run()
	case s.selected == folder && s.readOnly && transport.OutcomeOf(err) == transport.OutcomeNo:
		// Courier refuses an APPEND into the mailbox the session has
		// selected read-only (a phone's round EXAMINEs every folder;
		// docs/servers.md): select it for writing and try once more.
		if serr := s.ensureSelected(folder); serr != nil {
			return 0, serr
		}
		err = run()
	}
	if err != nil {
		return 0, err
	}
	if uid != 0 {
		return uid, d.place(s, folder, uid, &imapMsg{id: d.o.IDs.Handle(id), flags: flags, large: isLarge(int64(len(raw)))})
	}
	return uid, nil
}

// respond is reply and forward: open the original, write the answer,
// submit it, then finish: APPEND it to Sent (\Seen) and set \Answered or
// $Forwarded on the original.
func (d *imapDevice) respond(ctx context.Context, a Action, loc imapLoc) (Result, error) {
	var orig mailgen.Header
	if err := d.onWire(ctx, func(s *imapSession) error {
		return d.onMessage(s, &loc, func(loc imapLoc) error {
			if err := s.ensureSelected(loc.folder); err != nil {
				return err
			}
			var err error
			orig, err = d.header(s, loc)
			return err
		})
	}); err != nil {
		return Result{}, err
	}
	size := a.Size
	if size <= 0 {
		size = defaultReplySize
	}
	now := d.o.Clock.Now()
	d.rngMu.Lock()
	var msg mailgen.Message
	flag := view.Answered
	if a.Kind == ActReply {
		msg = d.gen.Reply(d.rng, d.o.Address, orig, size, now)
	} else {
		msg = d.gen.Forward(d.rng, d.o.Address, a.To, orig, size, now)
		flag = view.Forwarded
	}
	d.rngMu.Unlock()
	to := make([]string, 0, len(msg.To))
	for _, t := range msg.To {
		to = append(to, bareAddress(t))
	}
	if len(to) == 0 {
		return Result{}, fmt.Errorf("clients: device %s: %s of %s: no recipient", d.o.ID, a.Kind, a.MessageID)
	}
	if err := submit(ctx, &d.o, d.log, to, msg.Raw); err != nil {
		return Result{}, err
	}
	return d.finish(ctx, a, Resume{kind: a.Kind, device: d.o.ID, id: msg.ID, raw: msg.Raw, flag: flag})
}

// send writes a new message: APPEND to Drafts (\Draft \Seen), wait
// a.WriteTime (simulated, without holding a connection), submit, then
// finish: delete the draft (STORE \Deleted + UID EXPUNGE) and APPEND to
// Sent (\Seen).
func (d *imapDevice) send(ctx context.Context, a Action) (Result, error) {
	if len(a.To) == 0 {
		return Result{}, fmt.Errorf("clients: device %s: send without recipients", d.o.ID)
	}
	now := d.o.Clock.Now()
	d.rngMu.Lock()
	msg := d.gen.New(d.rng, d.o.Address, a.To, a.Size, false, now)
	d.rngMu.Unlock()
	var (
		drafts string
		draft  imap.UID
	)
	if err := d.onWire(ctx, func(s *imapSession) error {
		// A send needs no message the device shows, so it may come
		// before the device's first LIST: learn the folders then.
		if err := d.knowFolders(s); err != nil {
			return err
		}
		drafts = d.specialUse(imap.MailboxAttrDrafts, view.FolderDrafts)
		var err error
		draft, err = d.appendTo(s, drafts, msg.ID, msg.Raw, view.Seen, imap.FlagDraft)
		return err
	}); err != nil {
		return Result{}, err
	}
	// A send that ends before its message left leaves the draft in
	// Drafts, as a real client does: the audit is told (Result.Draft).
	left := Result{Published: true, Folder: drafts, Flags: view.Seen, Draft: msg.ID, DraftSaved: d.o.Clock.Now()}
	if a.WriteTime > 0 {
		if err := d.o.Clock.Sleep(ctx, a.WriteTime); err != nil {
			return left, err
		}
	}
	if err := submit(ctx, &d.o, d.log, a.To, msg.Raw); err != nil {
		return left, err
	}
	return d.finish(ctx, a, Resume{kind: ActSend, device: d.o.ID, id: msg.ID, raw: msg.Raw, drafted: true, drafts: drafts, draft: draft})
}

// resume finishes an action that submitted its message earlier and failed
// after (Action.Resume).
func (d *imapDevice) resume(ctx context.Context, a Action) (Result, error) {
	r := *a.Resume
	if r.device != d.o.ID || r.kind != a.Kind {
		return Result{}, fmt.Errorf("clients: device %s: cannot resume the %s of device %s as a %s", d.o.ID, r.kind, r.device, a.Kind)
	}
	return d.finish(ctx, a, r)
}

// finish does the steps of a reply, forward or send after the submission,
// on one connection: delete the draft (send), APPEND the copy to Sent,
// flag the original (reply, forward). A failed step returns the error with
// a Result carrying Sent and a Resume for the steps left.
func (d *imapDevice) finish(ctx context.Context, a Action, r Resume) (Result, error) {
	sent := d.specialUse(imap.MailboxAttrSent, view.FolderSent)
	var loc imapLoc
	err := d.onWire(ctx, func(s *imapSession) error {
		if r.drafted {
			if err := d.dropDraft(s, &r); err != nil {
				return err
			}
		}
		if !r.saved && r.unanswered {
			// An earlier APPEND of the copy got no answer: the server
			// may have stored it. Look, rather than store a second.
			if err := d.findCopy(s, sent, &r); err != nil {
				return err
			}
		}
		if !r.saved {
			if _, err := d.appendTo(s, sent, r.id, r.raw, view.Seen); err != nil {
				// Not the server's NO or BAD: the connection broke,
				// perhaps after the server stored the copy.
				r.unanswered = breaks(err)
				return err
			}
			r.saved = true
		}
		if a.Kind == ActSend {
			return nil
		}
		var err error
		if loc, err = d.locate(a.MessageID); err != nil {
			return err
		}
		return d.onMessage(s, &loc, func(loc imapLoc) error {
			if err := s.ensureSelected(loc.folder); err != nil {
				return err
			}
			return d.addFlags(s, loc, r.flag)
		})
	})
	if err != nil {
		return Result{Published: true, Sent: r.id, Resume: &r}, err
	}
	if a.Kind == ActSend {
		return Result{Published: true, Sent: r.id, Folder: sent, Flags: view.Seen}, nil
	}
	res, _ := d.result(loc.folder, loc.uid, nil)
	res.Sent = r.id
	return res, nil
}

// findCopy looks in sent for the copy of r's message that an APPEND whose
// answer never came may have stored (Resume.unanswered): found, it is
// placed in the view and r is saved.
func (d *imapDevice) findCopy(s *imapSession, sent string, r *Resume) error {
	if err := s.ensureSelected(sent); err != nil {
		if breaks(err) {
			return err
		}
		// Refused (no such mailbox yet): no copy in it; the APPEND
		// creates it on TRYCREATE.
		r.unanswered = false
		return nil
	}
	uid, err := s.searchID(r.id)
	if err != nil {
		return err
	}
	r.unanswered = false
	if uid == 0 {
		return nil
	}
	r.saved = true
	return d.place(s, sent, uid, &imapMsg{id: d.o.IDs.Handle(r.id), flags: view.Seen, large: isLarge(int64(len(r.raw)))})
}

// searchID returns the UID of the message with Message-ID id in the
// selected mailbox, 0 when there is none (UID SEARCH HEADER).
func (s *imapSession) searchID(id string) (imap.UID, error) {
	var uid imap.UID
	err := s.do("UID SEARCH", func() error {
		uids, err := s.c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}})
		if err == nil && len(uids) > 0 {
			uid = uids[0]
		}
		return err
	})
	return uid, err
}

// dropDraft deletes the draft of a sent message (found by Message-ID when
// its UID is unknown); a draft another device deleted meanwhile is fine.
func (d *imapDevice) dropDraft(s *imapSession, r *Resume) error {
	if err := s.ensureSelected(r.drafts); err != nil {
		return err
	}
	if r.draft == 0 {
		uid, err := s.searchID(r.id)
		if err != nil {
			return err
		}
		r.draft = uid
	}
	if r.draft != 0 {
		if err := d.expunge(s, imapLoc{folder: r.drafts, uid: r.draft}); err != nil && !errors.Is(err, errGone) {
			return err
		}
	}
	r.drafted = false
	return nil
}
