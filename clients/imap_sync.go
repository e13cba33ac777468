package clients

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// rearmEvery is how often a streaming FETCH renews its read deadline.
const rearmEvery = 250 * time.Millisecond

// Chunk sizes of new-header fetches (Thunderbird 200, K-9 100).
const (
	pcHeaderChunk    = 200
	phoneHeaderChunk = 100
)

// fetch runs one UID FETCH and calls fn for every message as it streams
// in. The read deadline is renewed as messages arrive (at most every
// rearmEvery: renewing it costs a timer update), so a long transfer fails
// only when the server stalls.
func (s *imapSession) fetch(set imap.UIDSet, opts *imap.FetchOptions, keepHeader bool, fn func(fetched)) error {
	opts = s.adaptFetch(opts)
	return s.do("UID FETCH", func() error {
		if s.rearm == nil {
			s.rearm = s.fetchProgress
		}
		err := s.c.Fetch(set, opts, keepHeader, fn, s.rearm)
		if errors.Is(err, errReplyAbandoned) {
			s.broken = true
		}
		return err
	})
}

// fetchProgress renews a streaming FETCH's read deadline (fetch), at most
// every rearmEvery. It runs for every message that streams in: the check
// reads the monotonic clock only (time.Since of a time.Now reading), not
// the wall clock too as a time.Now would.
func (s *imapSession) fetchProgress() {
	if time.Since(s.armed) >= rearmEvery {
		s.arm(0)
	}
}

// selectBox selects (or with readOnly examines) a mailbox.
func (s *imapSession) selectBox(name string, readOnly bool) (*imap.SelectData, error) {
	cmdName := "SELECT"
	if readOnly {
		cmdName = "EXAMINE"
	}
	var data *imap.SelectData
	err := s.do(cmdName, func() error {
		var err error
		data, err = s.c.Select(name, readOnly)
		return err
	})
	if err != nil {
		s.selected = ""
		return nil, err
	}
	s.selected, s.readOnly, s.validity, s.uidNext = name, readOnly, data.UIDValidity, data.UIDNext
	// Updates queued before the select belong to the old mailbox.
	select {
	case <-s.updates:
	default:
	}
	return data, nil
}

// ensureSelected selects name for writing unless it already is.
func (s *imapSession) ensureSelected(name string) error {
	if s.selected == name && !s.readOnly {
		return nil
	}
	_, err := s.selectBox(name, false)
	return err
}

// list runs LIST "" "*" (RETURN (SPECIAL-USE) when the server supports
// it) and makes the device's folder set the selectable mailboxes found,
// but those of other users' and shared namespaces (ForeignFolders), as of
// the LIST's start (imapDevice.listedAt).
func (d *imapDevice) list(s *imapSession) error {
	d.namespace(s)
	start := d.o.Clock.Now()
	specialUse := s.caps.Has(imap.CapSpecialUse) || s.caps.Has(imap.CapIMAP4rev2)
	var boxes []*imap.ListData
	if err := s.do("LIST", func() error {
		var err error
		boxes, err = s.c.List("", "*", specialUse)
		return err
	}); err != nil {
		return err
	}
	// The folder set is compared by iterating the reply (a handful of
	// folders), not through a map of it.
	changed := false
	d.mu.Lock()
	boxes = slices.DeleteFunc(boxes, func(b *imap.ListData) bool { return d.foreign.Has(b.Mailbox) })
	special := specialFoldersOr(boxes, d.prefix, d.special)
	for _, b := range boxes {
		if name, ok := listedFolder(b); ok && d.folders[name] == nil {
			d.folders[name] = &imapFolder{name: name}
		}
	}
	for name, f := range d.folders {
		if !listsFolder(boxes, name) {
			changed = changed || len(f.msgs) > 0
			delete(d.folders, name)
		}
	}
	d.special = special
	d.listed, d.listedAt = true, start
	d.created = nil
	d.mu.Unlock()
	if changed {
		d.changed()
	}
	return nil
}

// listedFolder returns the device's folder name of a LIST entry (INBOX in
// any case is INBOX), and false when the entry is not selectable.
func listedFolder(b *imap.ListData) (string, bool) {
	if !Selectable(b) {
		return "", false
	}
	if strings.EqualFold(b.Mailbox, view.FolderInbox) {
		return view.FolderInbox, true
	}
	return b.Mailbox, true
}

// listsFolder reports whether a LIST reply has the device's folder name
// (listedFolder).
func listsFolder(boxes []*imap.ListData, name string) bool {
	for _, b := range boxes {
		if n, ok := listedFolder(b); ok && n == name {
			return true
		}
	}
	return false
}

// folder returns the state of a folder, creating it.
func (d *imapDevice) folder(name string) *imapFolder {
	f := d.folders[name]
	if f == nil {
		f = &imapFolder{name: name}
		d.folders[name] = f
	}
	return f
}

// known copies the UID → message map of a folder into into (cleared
// first) and returns it, or returns nil when the folder's UIDVALIDITY
// changed (its UIDs mean nothing any more), and the folder's edit
// generation, to hand to installAt. into may be nil (a map is made).
func (d *imapDevice) known(name string, validity uint32, into map[imap.UID]imapMsg) (map[imap.UID]imapMsg, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.folder(name)
	if f.validity != validity {
		return nil, f.gen
	}
	if into == nil {
		into = make(map[imap.UID]imapMsg, len(f.msgs))
	} else {
		clear(into)
	}
	for uid, m := range f.msgs {
		into[uid] = m
	}
	return into, f.gen
}

// syncScratch is what a folder sync (syncFull, syncWindow) needs only
// while it runs: the copy of the folder's messages (known), the map being
// built (msgs: installed in the folder unless it equals the folder's
// messages; the one of the two the folder does not keep is the next
// sync's, installAt), the new UIDs, and the flag
// fetch's callback, made once. A device keeps two between syncs
// (imapDevice.scratch), so that a poll allocates no map; a sync running
// while others hold them makes its own.
type syncScratch struct {
	known, msgs map[imap.UID]imapMsg
	fresh       []imap.UID
	// all is UID 1:*, onFlags syncFull's flag fetch callback.
	all     imap.UIDSet
	onFlags func(fetched)
}

// keepScratchMsgs bounds the messages a kept syncScratch map may hold
// (clear keeps a map's buckets): past it the map is dropped, as a
// folder-sized copy would otherwise stay pinned on the device for the run.
// A device keeps at most 2 scratches of 2 maps: about 37 B per entry, so
// at most about 19 KB at this bound, and nothing for a device whose
// folders are larger (their syncs allocate their maps, as before) or
// empty. A map the folder shrank by deletes keeps its peak's buckets.
const keepScratchMsgs = 128

// takeScratch returns one of the device's sync scratches, or a new one
// when other syncs hold them.
func (d *imapDevice) takeScratch() *syncScratch {
	for i := range d.scratch {
		if sc := d.scratch[i].Swap(nil); sc != nil {
			return sc
		}
	}
	sc := &syncScratch{all: imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}}
	sc.onFlags = func(f fetched) {
		if f.uid == 0 {
			return
		}
		if m, ok := sc.known[f.uid]; ok {
			m.flags = flagsOf(f.flags) // its stamps kept: stampMsgs writes fewer
			sc.msgs[f.uid] = m
		} else {
			sc.fresh = append(sc.fresh, f.uid)
		}
	}
	return sc
}

// putScratch gives a sync's scratch back to the device, emptied (maps
// past keepScratchMsgs dropped); it is dropped when the device has enough.
func (d *imapDevice) putScratch(sc *syncScratch) {
	for _, m := range []*map[imap.UID]imapMsg{&sc.known, &sc.msgs} {
		if len(*m) > keepScratchMsgs {
			*m = nil
		} else {
			clear(*m)
		}
	}
	if cap(sc.fresh) > keepScratchMsgs {
		sc.fresh = nil
	}
	sc.fresh = sc.fresh[:0]
	for i := range d.scratch {
		if d.scratch[i].CompareAndSwap(nil, sc) {
			return
		}
	}
}

// scratchMsgs returns sc's msgs map emptied, made with room for n when
// there is none.
func (sc *syncScratch) scratchMsgs(n int) map[imap.UID]imapMsg {
	if sc.msgs == nil {
		sc.msgs = make(map[imap.UID]imapMsg, n)
	} else {
		clear(sc.msgs)
	}
	return sc.msgs
}

// editGen returns the edit generation of a folder, to hand to installAt.
func (d *imapDevice) editGen(name string) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.folder(name).gen
}

// installAt replaces a folder's messages with msgs, synced at start, and
// reports a change when the shown messages or flags differ. gen is the
// folder's edit generation before the sync read the server: the device's
// own edits made since (an action on another connection) are replayed on
// msgs, so that a sync that read the server before the action does not
// undo it in the view. When msgs holds exactly what the folder holds
// (the large bits too) the folder keeps its map, after one walk of it.
// hidden counts the messages within the sync's window that it left out
// (view.Snapshot.Hidden). installAt returns the map the
// folder does not hold (msgs, or the one msgs replaced), which is the
// caller's to reuse (syncScratch): a folder's map is only ever read or
// changed under d.mu, so nobody else holds the one replaced.
func (d *imapDevice) installAt(name string, validity uint32, msgs map[imap.UID]imapMsg, start time.Time, gen uint64, hidden int) (spare map[imap.UID]imapMsg) {
	d.mu.Lock()
	f := d.folder(name)
	f.hidden = hidden
	if f.validity == validity && f.gen != gen {
		for _, e := range f.journal {
			if e.gen > gen {
				e.apply(msgs)
			}
		}
	}
	if f.validity == validity && f.msgs != nil && equalMsgs(f.msgs, msgs) {
		f.synced = start
		d.mu.Unlock()
		return msgs
	}
	changed := f.validity != validity || !sameMsgs(f.msgs, msgs)
	was, same := f.msgs, f.validity == validity
	var now view.Stamp // this sync's, when it changed the view
	var gone map[view.Handle]imapMsg
	if changed || was == nil {
		// The view shows the folder as this sync read it from now
		// (view.SyncLog; the first sync of a folder counts).
		now = f.log.Add(f.synced, start)
		var left bool
		if gone, left = leftMsgs(was, msgs, same); left {
			f.log.MarkLeft()
		}
	}
	stampMsgs(&f.log, msgs, was, same, now, gone)
	f.validity, f.msgs, f.synced = validity, msgs, start
	if changed && name == view.FolderInbox {
		for uid, m := range msgs {
			if old, ok := was[uid]; !ok || old.id != m.id {
				d.cameIntoInbox(uid, m.id, msgs)
			}
		}
	}
	d.mu.Unlock()
	if changed {
		d.changed()
	}
	return was
}

// stampMsgs sets the stamps of msgs, a folder's messages as a sync that
// changed the view by stamp now (view.StampNone: it changed nothing
// shown) read them, from was, those it held before (same: of the same
// UIDVALIDITY): a message was held with the same id keeps when it came
// into the folder, and when its flags came if they are the same; the rest
// came with this sync — but for a message of gone (leftMsgs) that left
// under one UID and came back under another with this very sync (moved out
// and back, a new UIDVALIDITY): the view showed it all along, so it keeps
// its stamps as the message was held under its old UID (review C,
// 2026-12-05: stamped by the return's sync, a lag too high and exact).
// Every stamp goes through log.Keep, so that none names a sync the log
// dropped (view.SyncLog.Add).
func stampMsgs(log *view.SyncLog, msgs, was map[imap.UID]imapMsg, same bool, now view.Stamp, gone map[view.Handle]imapMsg) {
	for uid, m := range msgs {
		st := view.Stamps{Arrived: now, Flags: now}
		old, ok := was[uid]
		if !ok || !same || old.id != m.id {
			old, ok = gone[m.id]
		}
		if ok {
			st.Arrived = log.Keep(old.st.Arrived)
			if old.flags == m.flags {
				st.Flags = log.Keep(old.st.Flags)
			}
		}
		if m.st != st {
			m.st = st
			msgs[uid] = m
		}
	}
}

// leftMsgs reports whether a message of was, a folder's messages the view
// showed, is not among msgs under the same UID (same: of the same
// UIDVALIDITY): expunged, moved out, out of the window or page
// (view.SyncLog.MarkLeft); and returns, by id, those that left, which a
// message of msgs may be, come back (stampMsgs): nil when none left, as in
// most syncs. A message without a Message-ID (view.NoHandle) is none of
// them: no id tells it from another such.
func leftMsgs(was, msgs map[imap.UID]imapMsg, same bool) (gone map[view.Handle]imapMsg, left bool) {
	for uid, old := range was {
		if m, ok := msgs[uid]; same && ok && m.id == old.id {
			continue
		}
		left = true
		if old.id == view.NoHandle {
			continue
		}
		if gone == nil {
			gone = make(map[view.Handle]imapMsg)
		}
		gone[old.id] = old
	}
	return gone, left
}

// equalMsgs reports whether a and b hold the same messages with the same
// ids, flags and large bits (sameMsgs leaves the large bits out); the
// stamps do not count (a sync's map has the folder's, stampMsgs).
func equalMsgs(a, b map[imap.UID]imapMsg) bool {
	if len(a) != len(b) {
		return false
	}
	for uid, m := range a {
		n, ok := b[uid]
		if !ok || n.id != m.id || n.flags != m.flags || n.large != m.large {
			return false
		}
	}
	return true
}

func sameMsgs(a, b map[imap.UID]imapMsg) bool {
	if len(a) != len(b) {
		return false
	}
	for uid, m := range a {
		n, ok := b[uid]
		if !ok || n.id != m.id || n.flags != m.flags {
			return false
		}
	}
	return true
}

func flagsOf(fl []imap.Flag) view.Flags {
	var f view.Flags
	for _, x := range fl {
		f |= view.ParseFlag(string(x))
	}
	return f
}

// fetchHeaders fetches the new-mail items for uids in chunks and returns
// the messages found (by UID).
func (d *imapDevice) fetchHeaders(s *imapSession, folder string, uids []imap.UID, chunk int) (map[imap.UID]imapMsg, error) {
	out := make(map[imap.UID]imapMsg, len(uids))
	for len(uids) > 0 {
		n := min(chunk, len(uids))
		err := d.fetchNewInto(s, folder, uids[:n], out)
		uids = uids[n:]
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fetchNewInto runs the new-mail fetch for uids and adds the messages to
// into. The UIDs left unanswered are fetched once more (a UID gone
// meanwhile gets no answer and stays out): go-imap's client gives the
// command's answer for a UID to its unilateral handler when another
// session's flag change for that UID came first (fetched.content).
func (d *imapDevice) fetchNewInto(s *imapSession, folder string, uids []imap.UID, into map[imap.UID]imapMsg) error {
	for try := 0; try < 2 && len(uids) > 0; try++ {
		var set imap.UIDSet
		set.AddNum(uids...)
		answered := 0
		err := s.fetch(set, d.fetchNew, false, func(f fetched) {
			if !f.hasID() {
				d.logNoID(folder, f.uid)
			}
			answered++
			into[f.uid] = imapMsg{id: f.handle(d.o.IDs), flags: flagsOf(f.flags), large: isLarge(f.size)}
		})
		if err != nil || answered == len(uids) {
			return err
		}
		var missed []imap.UID
		for _, uid := range uids {
			if _, ok := into[uid]; !ok {
				missed = append(missed, uid)
			}
		}
		uids = missed
	}
	return nil
}

// fetchBodies downloads the bodies of new messages and discards them, as a
// client filling its offline store: Thunderbird UID FETCH (UID RFC822.SIZE
// BODY.PEEK[]); K-9 the same up to 128 KiB, larger ones BODYSTRUCTURE and
// BODY.PEEK[]<0.131072>. partialOver is 0 (whole bodies) or phoneBodyLimit
// (imapMsg.large says which messages are larger).
func (d *imapDevice) fetchBodies(s *imapSession, msgs map[imap.UID]imapMsg, partialOver int64) error {
	var whole, large imap.UIDSet
	for uid, m := range msgs {
		if partialOver > 0 && m.large {
			large.AddNum(uid)
		} else {
			whole.AddNum(uid)
		}
	}
	if len(whole) > 0 {
		if err := s.fetch(whole, &d.fetchWhole, false, discard); err != nil {
			return err
		}
	}
	if len(large) > 0 {
		opts := &imap.FetchOptions{UID: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}
		if err := s.fetch(large, opts, false, discard); err != nil {
			return err
		}
		opts = &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: partialOver}}}}
		if err := s.fetch(large, opts, false, discard); err != nil {
			return err
		}
	}
	return nil
}

// discard is the callback of a fetch whose responses are not looked at.
func discard(fetched) {}

// syncFull is Thunderbird's folder sync: SELECT, full flag resync
// UID FETCH 1:* (FLAGS), new headers in chunks of 200, bodies of new mail
// when FetchImmediate.
func (d *imapDevice) syncFull(s *imapSession, name string) error {
	start := d.o.Clock.Now()
	var data *imap.SelectData
	if s.selected == name && !s.readOnly {
		// Still selected (after IDLE): NOOP collects pending updates, the
		// message count is tracked from EXISTS/EXPUNGE.
		if err := s.do("NOOP", s.c.Noop); err != nil {
			return err
		}
		// The fetch of every UID below covers the updates announced so
		// far: their token would only make the next IDLE sync again
		// (a server may repeat EXISTS in every NOOP's response).
		select {
		case <-s.updates:
		default:
		}
		data = &imap.SelectData{UIDValidity: s.validity}
		if n, ok := s.c.NumMessages(); ok {
			data.NumMessages = n
		}
	} else {
		var err error
		if data, err = s.selectBox(name, false); err != nil {
			return err
		}
	}
	sc := d.takeScratch()
	defer d.putScratch(sc)
	var gen uint64
	sc.known, gen = d.known(name, data.UIDValidity, sc.known)
	msgs := sc.scratchMsgs(int(data.NumMessages))
	if data.NumMessages > 0 {
		if err := s.fetch(sc.all, &d.flagsFetch, false, sc.onFlags); err != nil {
			return err
		}
	}
	if err := d.addFresh(s, name, sc.fresh, pcHeaderChunk, 0, msgs); err != nil {
		return err
	}
	sc.msgs = d.installAt(name, data.UIDValidity, msgs, start, gen, 0)
	return nil
}

// addFresh fetches headers (and bodies when the profile says so) of new
// UIDs into msgs.
func (d *imapDevice) addFresh(s *imapSession, name string, fresh []imap.UID, chunk int, partialOver int64, msgs map[imap.UID]imapMsg) error {
	if len(fresh) == 0 {
		return nil
	}
	slices.Sort(fresh)
	got, err := d.fetchHeaders(s, name, fresh, chunk)
	if err != nil {
		return err
	}
	for uid, m := range got {
		msgs[uid] = m
	}
	if d.o.Profile.FetchImmediate {
		return d.fetchBodies(s, got, partialOver)
	}
	return nil
}

// syncWindow is K-9's folder sync: EXAMINE, UID SEARCH <n-window+1>:<n>
// NOT DELETED, new headers in chunks of 100 (bodies when FetchImmediate,
// partial over 128 KiB), then UID FETCH (UID FLAGS) over the window.
func (d *imapDevice) syncWindow(s *imapSession, name string) error {
	start := d.o.Clock.Now()
	data, err := s.selectBox(name, true)
	if err != nil {
		return err
	}
	sc := d.takeScratch()
	defer d.putScratch(sc)
	known, gen := d.known(name, data.UIDValidity, sc.known)
	sc.known = known
	msgs := sc.scratchMsgs(min(int(data.NumMessages), d.window))
	hidden := 0 // messages within a full window the search left out
	if data.NumMessages > 0 {
		lo := uint32(1)
		if n := uint32(d.window); data.NumMessages > n {
			lo = data.NumMessages - n + 1
		}
		var uids []imap.UID
		err := s.do("UID SEARCH", func() error {
			var err error
			uids, err = s.c.Search(&imap.SearchCriteria{
				SeqNum:  []imap.SeqSet{{imap.SeqRange{Start: lo, Stop: data.NumMessages}}},
				NotFlag: []imap.Flag{imap.FlagDeleted},
			})
			return err
		})
		if err != nil {
			return err
		}
		if lo > 1 {
			// The window is full, and older messages are outside it;
			// those it leaves out within it (\Deleted) make the view
			// show fewer than the window (view.Snapshot.Hidden). A
			// folder that fits has nothing outside.
			hidden = max(0, int(data.NumMessages-lo+1)-len(uids))
		}
		var fresh []imap.UID
		for _, uid := range uids {
			if _, ok := known[uid]; !ok {
				fresh = append(fresh, uid)
			}
		}
		if err := d.addFresh(s, name, fresh, phoneHeaderChunk, phoneBodyLimit, msgs); err != nil {
			return err
		}
		if len(uids) > 0 {
			var set imap.UIDSet
			set.AddNum(uids...)
			err = s.fetch(set, &d.flagsFetch, false, func(f fetched) {
				if m, ok := msgs[f.uid]; ok {
					m.flags = flagsOf(f.flags)
					msgs[f.uid] = m
				} else if m, ok := known[f.uid]; ok {
					m.flags = flagsOf(f.flags)
					msgs[f.uid] = m
				}
			})
			if err != nil {
				return err
			}
		}
	}
	sc.msgs = d.installAt(name, data.UIDValidity, msgs, start, gen, hidden)
	return nil
}

// syncPage is Roundcube's message list: SELECT, UID SORT (ARRIVAL) when
// the server has SORT (else UID SEARCH ALL), and the list fetch of the
// newest page_size messages.
func (d *imapDevice) syncPage(s *imapSession, name string) error {
	start := d.o.Clock.Now()
	gen := d.editGen(name)
	data, err := s.selectBox(name, false)
	if err != nil {
		return err
	}
	msgs := make(map[imap.UID]imapMsg, min(int(data.NumMessages), d.window))
	if data.NumMessages > 0 {
		var uids []imap.UID
		if s.caps.Has(imap.CapSort) {
			err = s.do("UID SORT", func() error {
				var err error
				uids, err = s.c.SortArrival()
				return err
			})
		} else {
			err = s.do("UID SEARCH", func() error {
				var err error
				if uids, err = s.c.Search(&imap.SearchCriteria{}); err == nil {
					slices.Sort(uids)
				}
				return err
			})
		}
		if err != nil {
			return err
		}
		if len(uids) > d.window {
			uids = uids[len(uids)-d.window:]
		}
		if err := d.fetchNewInto(s, name, uids, msgs); err != nil {
			return err
		}
	}
	d.installAt(name, data.UIDValidity, msgs, start, gen, 0)
	return nil
}
