package audit

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// DeviceSpec describes one device of a user to the auditor.
type DeviceSpec struct {
	// ID is the device ID, as in Change.Device.
	ID string
	// Profile, Protocol ("imap", "pop3") and Kind ("pc", "phone",
	// "webmail") describe the device for reports.
	Profile, Protocol, Kind string
	// View returns a copy of what the device shows now. It is called from
	// Audit and Final, never while the auditor holds a lock other
	// callers wait on for long.
	View func() view.Snapshot
}

// UserSpec describes one simulated user.
type UserSpec struct {
	Name, Group string
	Devices     []DeviceSpec
}

// Options configure an Auditor.
type Options struct {
	// OnConverged, if set, is called from Audit and Final once for every
	// change that converged, with its lag (e.g. to observe a histogram).
	// It must be cheap and must not call back into the Auditor.
	OnConverged func(kind ChangeKind, lag time.Duration)
}

// Auditor follows the users of a run: the changes they make and the
// divergence of their devices. It is safe for concurrent use: Record and
// Touch are cheap and may be called from any goroutine while Audit runs.
type Auditor struct {
	onConverged func(ChangeKind, time.Duration)

	usersMu sync.RWMutex
	users   map[string]*user
	order   []*user
	// registered counts users per group, for State.
	registered map[string]int

	dirtyMu sync.Mutex
	dirty   []*user

	// auditMu serialises Audit and Final; it guards the audit-side fields
	// of every user, and scratch: a user audit's delta, reused by the
	// next (auditUser).
	auditMu sync.Mutex
	scratch delta

	stateMu sync.Mutex
	groups  map[string]*groupAgg
}

type user struct {
	name     string
	dirty    atomic.Bool
	regGroup string // group counted in Auditor.registered; guarded by usersMu

	mu    sync.Mutex // guards spec and inbox
	spec  UserSpec
	inbox []Change

	// Guarded by Auditor.auditMu.
	group   string // group the contributions below were added to
	added   bool
	pending []*pendingChange
	div     UserDivergence
	live    map[kindReason]int
	// marks are what the changes said of each Message-ID of the user
	// (msgMarks): one map for every fact, kept for the whole run.
	marks map[string]msgMarks
	// drafts are the drafts the user's devices left on the server
	// (Change.Draft), by Message-ID: since when the server had each.
	drafts    map[string]time.Time
	delivered int
	sent      int
}

// msgMarks are the facts the auditor keeps about one Message-ID of a user,
// one bit each: one byte in one map rather than a set per fact, since
// they are kept for every message of the run (docs/performance.md,
// "Memory per message held").
type msgMarks uint8

const (
	// markStored: delivered or sent.
	markStored msgMarks = 1 << iota
	// markUnstored: known only from incomplete sends; the copy may never
	// have been stored, so missing it is not lost.
	markUnstored
	// markDeleted: a person deleted it (gone).
	markDeleted
	// markActed: a published change other than deliver was about it (a
	// person acted on it on the server).
	markActed
	// markDelivered: delivered to the user, to tell a repeated delivery
	// (pendingChange.repeat).
	markDelivered
	// markUnanswered: a delivery whose fate the server never told
	// (Change.Unanswered), for Final to look for.
	markUnanswered
	// markSubmitUnanswered: the same for a device's submission
	// (Change.Submitted).
	markSubmitUnanswered
)

// has reports whether Message-ID id has every mark of m.
func (u *user) has(id string, m msgMarks) bool { return u.marks[id]&m == m }

// mark sets the marks m of Message-ID id.
func (u *user) mark(id string, m msgMarks) {
	if u.marks == nil {
		u.marks = make(map[string]msgMarks)
	}
	u.marks[id] |= m
}

type kindReason struct {
	kind   ChangeKind
	reason Reason
}

type pendingChange struct {
	c Change
	// accept are the folders that count as showing a folder change: the
	// change's own and those of later folder changes to the same message.
	accept  []string
	waiting []string // device IDs that have not shown the change yet
	buf     [2]string
	// seenAt is the latest time a device it reached came to show it
	// (shownAt); bounded is set when one of those is not exact, a bound
	// (KindResult.LagsBounded).
	seenAt  time.Time
	bounded bool
	// missed are, by device, the latest start of a sync since the server
	// had the change of what could show it (syncedSince) that an audit
	// found the device's view not showing it after: it came to show it
	// by a later sync (shownAt). Nil until such a view (a device shows a
	// change at its first sync since, view.SyncLog, unless the server
	// showed it late, or a window left it out); a slice, not a map: a
	// change that never reaches a device (a window) keeps it to the end.
	missed []missedSync
	// changedLater is set once a later change to the same message is
	// recorded, movedLater once a later folder change is: a device's
	// message may then show the sync that brought the later one, not
	// this one (pendingChange.stamped).
	changedLater, movedLater bool
	// repeat marks a delivery of a Message-ID already delivered to the
	// user: any folder shows it. A server may keep one copy (Cyrus's
	// duplicate suppression drops the second delivery silently), and
	// the first copy, wherever the person filed it, is the message.
	repeat bool
	// folder is where the message is, as far as the user's changes tell:
	// the folder of the last folder change to it, this one's or a later
	// one's, or, for a flag change, one still pending when it was
	// recorded; "" when none tells (the message is where it was
	// delivered, or found at the start: a folder every device showed it
	// in) or the change is its absence. A device that has not listed
	// its folders since the change has synced it only if it knows this
	// folder (syncedSince).
	folder string
}

type groupAgg struct {
	div   Divergence
	kinds map[ChangeKind]*kindAgg
}

type kindAgg struct {
	changes, converged, pending int
	unconverged                 map[Reason]int // final (superseded) plus live
	lags                        []time.Duration
	bounded                     int // lags that are bounds (KindResult.LagsBounded)
}

// New returns an Auditor with no users.
func New(o Options) *Auditor {
	return &Auditor{
		onConverged: o.OnConverged,
		users:       make(map[string]*user),
		registered:  make(map[string]int),
		groups:      make(map[string]*groupAgg),
	}
}

// AddUser registers a user and its devices. Adding a user again replaces
// its description (its changes are kept).
func (a *Auditor) AddUser(u UserSpec) {
	u.Devices = slices.Clone(u.Devices)
	a.usersMu.Lock()
	us := a.users[u.Name]
	if us == nil {
		us = &user{name: u.Name}
		a.users[u.Name] = us
		a.order = append(a.order, us)
	} else {
		a.registered[us.regGroup]--
	}
	us.regGroup = u.Group
	a.registered[u.Group]++
	a.usersMu.Unlock()
	us.mu.Lock()
	us.spec = u
	us.mu.Unlock()
	a.mark(us)
}

func (a *Auditor) lookup(name string) *user {
	a.usersMu.RLock()
	u := a.users[name]
	a.usersMu.RUnlock()
	if u != nil {
		return u
	}
	// A change for a user not added yet: keep it, AddUser fills the spec.
	a.usersMu.Lock()
	defer a.usersMu.Unlock()
	if u = a.users[name]; u == nil {
		u = &user{name: name, spec: UserSpec{Name: name}}
		a.users[name] = u
		a.order = append(a.order, u)
		a.registered[""]++
	}
	return u
}

// Record notes a change. It is cheap: the change is examined at the next
// Audit.
func (a *Auditor) Record(c Change) {
	u := a.lookup(c.User)
	u.mu.Lock()
	u.inbox = append(u.inbox, c)
	u.mu.Unlock()
	a.mark(u)
}

// Touch notes that a device view of user changed. It never blocks for
// long; the user is examined at the next Audit. Unknown users are ignored.
func (a *Auditor) Touch(user string) {
	a.usersMu.RLock()
	u := a.users[user]
	a.usersMu.RUnlock()
	if u != nil {
		a.mark(u)
	}
}

func (a *Auditor) mark(u *user) {
	if u.dirty.CompareAndSwap(false, true) {
		a.dirtyMu.Lock()
		a.dirty = append(a.dirty, u)
		a.dirtyMu.Unlock()
	}
}

// Audit examines the users touched or given changes since the last audit:
// it reads their device views, settles which pending changes every other
// device now shows (a device shows a folder change when it shows the
// message in that folder — or, for a delete that expunged it, does not show
// it — and a flag change when it shows the message with those flags), and
// recomputes their divergence. Aggregates are updated incrementally, by
// removing each examined user's previous contribution and adding the new
// one, so an audit costs in proportion to the users examined.
//
// A device is taken to have shown a change at the start of the completed
// sync that brought it, begun once the server had the change
// (Change.Stored: the end of the action that made it, so a send's writing
// time and the commands of the action are not in the lag), of the folder
// it shows the message in, as the message's stamps tell
// (view.Message.Stamps; pendingChange.stamped) or, without them, its
// first such sync as its sync log tells (view.SyncLog;
// pendingChange.shownAt);
// at Stored itself (no lag) when it showed it before, by a sync begun
// earlier or with no sync. The lag of a change is the latest of these over
// the devices it had to reach, minus Stored; KindResult.LagsBounded counts
// those the logs could not tell exactly.
func (a *Auditor) Audit() {
	a.auditMu.Lock()
	defer a.auditMu.Unlock()
	a.auditDirty()
}

// auditDirty audits the users touched since the last audit. a.auditMu
// must be held.
func (a *Auditor) auditDirty() {
	a.dirtyMu.Lock()
	batch := a.dirty
	a.dirty = nil
	a.dirtyMu.Unlock()
	for _, u := range batch {
		a.auditUser(u)
	}
}

// readViews returns what each device shows now.
func readViews(devs []DeviceSpec) []view.Snapshot {
	views := make([]view.Snapshot, len(devs))
	for i, d := range devs {
		if d.View != nil {
			views[i] = d.View()
		}
	}
	return views
}

// auditUser examines one user and returns the views it read with the
// devices they belong to. a.auditMu must be held.
func (a *Auditor) auditUser(u *user) ([]DeviceSpec, []view.Snapshot) {
	u.dirty.Store(false)
	u.mu.Lock()
	spec := u.spec
	inbox := u.inbox
	u.inbox = nil
	u.mu.Unlock()

	views := readViews(spec.Devices)

	d := &a.scratch
	d.reset()
	for _, c := range inbox {
		a.addChange(u, spec, c, d)
	}

	kept := u.pending[:0]
	for _, p := range u.pending {
		w := p.waiting[:0]
		for _, id := range p.waiting {
			i := deviceIndex(spec.Devices, id)
			if i < 0 {
				continue // the device went away: nothing to wait for
			}
			if !p.shownBy(views[i]) {
				p.notShown(id, views[i], views)
				w = append(w, id)
				continue
			}
			at, exact := p.shownAt(views[i], p.missedBy(id))
			if at.After(p.seenAt) {
				p.seenAt = at
			}
			p.bounded = p.bounded || !exact
		}
		p.waiting = w
		if len(w) > 0 {
			kept = append(kept, p)
			continue
		}
		lag := max(p.seenAt.Sub(p.c.Stored()), 0)
		d.converged = append(d.converged, convergedChange{p.c.Kind, lag, p.bounded})
	}
	clear(u.pending[len(kept):])
	u.pending = kept

	live := make(map[kindReason]int)
	for _, p := range u.pending {
		live[kindReason{p.c.Kind, liveReason(p, spec.Devices, views)}]++
	}
	div := Compare(views)

	a.stateMu.Lock()
	if u.added && u.group != spec.Group {
		g := a.group(u.group)
		g.div.add(u.div, -1)
		for kr, n := range u.live {
			g.kind(kr.kind).addLive(kr.reason, -n)
		}
		u.added = false
	}
	g := a.group(spec.Group)
	if u.added {
		g.div.add(u.div, -1)
		for kr, n := range u.live {
			g.kind(kr.kind).addLive(kr.reason, -n)
		}
	}
	g.div.add(div, +1)
	for kr, n := range live {
		g.kind(kr.kind).addLive(kr.reason, n)
	}
	for _, k := range d.recorded {
		g.kind(k).changes++
	}
	for _, k := range d.superseded {
		g.kind(k).unconverged[ReasonSuperseded]++
	}
	for _, c := range d.converged {
		k := g.kind(c.kind)
		k.converged++
		k.lags = append(k.lags, c.lag)
		if c.bounded {
			k.bounded++
		}
	}
	for _, k := range d.trivial {
		g.kind(k).converged++
	}
	a.stateMu.Unlock()
	u.group, u.added, u.div, u.live = spec.Group, true, div, live

	if a.onConverged != nil {
		for _, c := range d.converged {
			a.onConverged(c.kind, c.lag)
		}
	}
	return spec.Devices, views
}

// delta is what one user audit adds to the aggregates besides divergence.
type delta struct {
	recorded   []ChangeKind
	superseded []ChangeKind
	trivial    []ChangeKind // converged with no other device to reach
	converged  []convergedChange
}

// keepDelta bounds the entries a reused delta's lists keep room for
// (Auditor.scratch): a burst's are not kept for the run's life.
const keepDelta = 1024

// reset empties d for the next user audit, dropping lists grown past
// keepDelta.
func (d *delta) reset() {
	if cap(d.recorded)+cap(d.superseded)+cap(d.trivial)+cap(d.converged) > keepDelta {
		*d = delta{}
		return
	}
	d.recorded, d.superseded, d.trivial, d.converged = d.recorded[:0], d.superseded[:0], d.trivial[:0], d.converged[:0]
}

type convergedChange struct {
	kind ChangeKind
	lag  time.Duration
	// bounded: the lag is a bound, not exact (pendingChange.bounded).
	bounded bool
}

func (a *Auditor) addChange(u *user, spec UserSpec, c Change, d *delta) {
	if c.Completes {
		completeSend(u, c.MessageID, c.Stored())
		return
	}
	if c.Draft {
		if u.drafts == nil {
			u.drafts = make(map[string]time.Time)
		}
		u.drafts[c.MessageID] = c.Stored()
		return
	}
	if c.Unanswered {
		m := markUnanswered
		if c.Submitted {
			m = markSubmitUnanswered
		}
		u.mark(c.MessageID, m)
		return
	}
	d.recorded = append(d.recorded, c.Kind)
	switch c.Kind {
	case Deliver, Send:
		if c.Kind == Send && c.Incomplete {
			// The sender's copy was never stored (its mail still reached
			// the recipients, as their deliver changes): not lost mail if
			// it is missing.
			if !u.has(c.MessageID, markStored) {
				u.mark(c.MessageID, markUnstored)
			}
		} else if u.has(c.MessageID, markUnstored) {
			u.marks[c.MessageID] &^= markUnstored
		}
		u.mark(c.MessageID, markStored)
		if c.Kind == Deliver {
			u.delivered++
		} else {
			u.sent++
		}
	}
	if c.Kind != Deliver && c.Published {
		u.mark(c.MessageID, markActed)
	}
	gone := c.Kind == Delete && c.Folder == ""
	if gone {
		u.mark(c.MessageID, markDeleted)
	}
	// Earlier changes to the same message: this one follows them
	// (changedLater), and overtakes them when it moves or deletes it.
	kept := u.pending[:0]
	for _, p := range u.pending {
		if p.c.MessageID == c.MessageID {
			p.changedLater = true
			if gone {
				d.superseded = append(d.superseded, p.c.Kind)
				continue
			}
			if c.Kind.folderChange() {
				p.movedLater = true
				if p.c.Kind.folderChange() && p.c.Folder != "" {
					p.accept = append(p.accept, c.Folder)
				}
				if !p.requiresAbsence() {
					p.folder = c.Folder
				}
			}
		}
		kept = append(kept, p)
	}
	clear(u.pending[len(kept):])
	u.pending = kept
	p := &pendingChange{c: c}
	// accept and waiting start in p's own array (one folder, one other
	// device: no allocation), each without room to grow into the other.
	p.waiting = p.buf[1:1:2]
	if c.Kind.folderChange() {
		p.buf[0] = c.Folder
		p.accept = p.buf[0:1:1]
		p.folder = c.Folder
	} else {
		p.folder = u.folderOf(c.MessageID)
	}
	if c.Kind == Deliver {
		p.repeat = u.has(c.MessageID, markDelivered)
		u.mark(c.MessageID, markDelivered)
	}
	for _, dev := range spec.Devices {
		if dev.ID != c.Device {
			p.waiting = append(p.waiting, dev.ID)
		}
	}
	if len(p.waiting) == 0 {
		d.trivial = append(d.trivial, c.Kind)
		return
	}
	u.pending = append(u.pending, p)
}

// completeSend ends the incompleteness of u's send change of id (a resume
// stored its copy in Sent by done): the copy counts as lost mail again
// when it is missing, and the change is no longer action-incomplete; the
// server had it from done (Change.Done).
func completeSend(u *user, id string, done time.Time) {
	if u.has(id, markUnstored) {
		u.marks[id] &^= markUnstored
	}
	for _, p := range u.pending {
		if p.c.Kind == Send && p.c.MessageID == id {
			p.c.Incomplete = false
			if done.After(p.c.Done) {
				p.c.Done = done
			}
		}
	}
}

// folderOf returns the folder u's pending changes tell message id is in
// (pendingChange.folder), "" when none does.
func (u *user) folderOf(id string) string {
	for i := len(u.pending) - 1; i >= 0; i-- {
		if p := u.pending[i]; p.c.MessageID == id && !p.requiresAbsence() {
			return p.folder
		}
	}
	return ""
}

func deviceIndex(devs []DeviceSpec, id string) int {
	for i, d := range devs {
		if d.ID == id {
			return i
		}
	}
	return -1
}

// requiresAbsence reports whether the change is shown by not showing the
// message.
func (p *pendingChange) requiresAbsence() bool {
	return p.c.Kind == Delete && p.c.Folder == ""
}

// shownBy reports whether v reflects the change.
func (p *pendingChange) shownBy(v view.Snapshot) bool {
	m, ok := v.Messages[p.c.MessageID]
	if p.requiresAbsence() {
		return !ok
	}
	if !ok {
		return false
	}
	if p.c.Kind.folderChange() {
		return p.accepts(m.Folder)
	}
	return m.Flags.Has(p.c.Flags)
}

// missedSync is one entry of pendingChange.missed.
type missedSync struct {
	device string
	at     time.Time
}

// notShown notes that device id's view v, one of the user's views, does
// not show the change: when v syncs its folders apart (IMAP; a POP3 device
// shows a delivery from the first download, view.Snapshot.Log) and has
// synced since the server had it what could show it (syncedSince), the
// device comes to show it only by a later sync (pendingChange.missed).
// Changes the server never had are left out: they never show.
func (p *pendingChange) notShown(id string, v view.Snapshot, views []view.Snapshot) {
	if v.FolderSynced == nil || p.c.Incomplete || p.c.Device != "" && !p.c.Published {
		return
	}
	s := p.syncedSince(v, views)
	if s.Before(p.c.Stored()) {
		return
	}
	for i := range p.missed {
		if m := &p.missed[i]; m.device == id {
			if s.After(m.at) {
				m.at = s
			}
			return
		}
	}
	p.missed = append(p.missed, missedSync{id, s})
}

// missedBy returns pendingChange.missed of device id, zero when none.
func (p *pendingChange) missedBy(id string) time.Time {
	for _, m := range p.missed {
		if m.device == id {
			return m.at
		}
	}
	return time.Time{}
}

// shownAt returns when device view v, which shows the change, came to
// show it, and whether that is exact (view.SyncLog.ShownAt): the start of
// the first completed sync that began once the server had it
// (Change.Stored) of the folder v shows the message in, or the time the
// server had it (no lag) when v showed it before, by a sync begun earlier
// or with no sync (a flag the message already had, the first copy of a
// repeated delivery). missed, when set, is the start of a sync since
// then after which an audit found v not showing it (pendingChange.missed):
// only a sync begun after it counts, and one that the log does not tell
// leaves the lag at missed, inexact. A move or delete whose source folder
// is known (Change.From) shows once that folder was synced too, unless v
// shows the copy in the destination before one in the source
// (view.Prefer): the later of the two. A delete that expunged the message
// shows by its absence from the source; with no source known, from the
// latest of v's folders, an upper bound (or from v's own log, a device
// that syncs as a whole).
func (p *pendingChange) shownAt(v view.Snapshot, missed time.Time) (time.Time, bool) {
	t, from := p.c.Stored(), p.c.From
	if missed.Before(t) {
		missed = time.Time{}
	} else {
		t = missed.Add(time.Nanosecond)
	}
	at, exact := p.shownIn(v, t, from)
	if !missed.IsZero() && !at.After(t) {
		return missed, false // shown, by nothing the log tells of since missed
	}
	return at, exact
}

// shownIn is shownAt from t, with the source folder from.
func (p *pendingChange) shownIn(v view.Snapshot, t time.Time, from string) (time.Time, bool) {
	m, ok := v.Messages[p.c.MessageID]
	if !ok {
		if from != "" || v.FolderSynced == nil {
			return v.ShownAt(from, t)
		}
		at, exact := t, true
		for name := range v.FolderSynced {
			if s, _ := v.ShownAt(name, t); s.After(at) {
				at, exact = s, false
			}
		}
		return at, exact
	}
	at, exact, ok := p.stamped(v, m, t)
	if !ok {
		at, exact = v.ShownAt(m.Folder, t)
	}
	if from == "" || !p.c.Kind.folderChange() || view.SameFolder(from, m.Folder) ||
		view.Prefer(view.Copy{Folder: m.Folder}, view.Copy{Folder: from}, "") {
		return at, exact
	}
	if s, ex := v.ShownAt(from, t); s.After(at) {
		at, exact = s, ex
	}
	return at, exact
}

// stamped returns when device view v, which shows the change by its
// message m, came to show it from t, as m's stamps tell
// (view.Snapshot.Stamped): for a folder change, the sync that brought m
// into its folder; for a flag change, the one that brought its flags —
// t (no lag) when that sync began before t. That sync showed this change
// unless a later change to the message did (changedLater, movedLater): a
// later folder change may have brought it into the folder it is in now
// (or, for a repeated delivery, another copy shown before), a later flag
// change its flags, after an earlier sync since t had shown this one;
// then the start is a bound, unless it is of the first sync since t that
// changed the folder's view and the message was in the folder from before
// t, or the message came into the folder with these flags and no later
// move brought it there. ok is false when the stamps tell nothing
// (view.StampNone: a device that keeps none, or its own edit): shownIn
// then takes the folder's log.
func (p *pendingChange) stamped(v view.Snapshot, m view.Message, t time.Time) (at time.Time, exact, ok bool) {
	if p.c.Kind.folderChange() {
		sh, ok := v.Stamped(m.Folder, m.Stamps.Arrived, t)
		later := p.repeat || p.movedLater && !view.SameFolder(m.Folder, p.c.Folder)
		return sh.At, sh.Exact && !(later && sh.At.After(t)), ok
	}
	sh, ok := v.Stamped(m.Folder, m.Stamps.Flags, t)
	if !ok || !sh.At.After(t) {
		return sh.At, sh.Exact, ok
	}
	if !p.changedLater {
		// A flag change no person recorded (the server's \Seen for a
		// POP3 RETR, docs/report.md "POP3 read marking") may be what
		// moved the flags stamp past the sync that showed this one:
		// exact only when no sync since t changed the view before the
		// stamp's (a server that showed the change late).
		return sh.At, sh.Exact && sh.First, true
	}
	if m.Stamps.Flags == m.Stamps.Arrived {
		// It came into the folder with its flags since t: shown then,
		// unless a later move brought it from where it showed them.
		return sh.At, sh.Exact && !p.movedLater, true
	}
	arrived, known := v.Stamped(m.Folder, m.Stamps.Arrived, t)
	inFolder := known && arrived.Exact && !arrived.At.After(t)
	return sh.At, sh.Exact && sh.First && inFolder, true
}

// syncedSince returns the simulated time since which device view v has
// synced what could show a change to a message in folder (where the
// server, or the user's changes, put it; "" when unknown, or gone: a
// delete that expunged it) that v shows in shownIn ("" when it does not
// show it): for a device that syncs its folders apart (FolderSynced set:
// IMAP), the earlier of the last syncs of those two folders (the message
// leaves shownIn and comes into folder), each compared by role (SameFolder);
// a folder v has not synced is one it does not know, so a change into it
// cannot show before v lists its folders again (Snapshot.Listed: a move
// into a folder created after its last list). When neither folder is
// known, and for a device that syncs as a whole (POP3), its last completed
// sync (Snapshot.Synced, for IMAP the earliest of its folders'). The other
// folders' syncs do not count: a webmail reloads INBOX on every page load
// and one other folder at a time, so its Synced is older than most
// changes; a flag change on a message it shows in INBOX has been synced
// once INBOX was.
func syncedSince(v view.Snapshot, folder, shownIn string) time.Time {
	if v.FolderSynced == nil || folder == "" && shownIn == "" {
		return v.Synced
	}
	var since time.Time
	first := true
	for _, f := range [2]string{folder, shownIn} {
		if f == "" {
			continue
		}
		s, ok := folderSynced(v, f)
		if !ok {
			s = v.Listed
		}
		if first || s.Before(since) {
			since, first = s, false
		}
	}
	return since
}

// folderSynced returns the start of v's last completed sync of folder,
// compared by role (internal/view/folders.go SameFolder), and false when v
// has not synced it.
func folderSynced(v view.Snapshot, folder string) (time.Time, bool) {
	if t, ok := v.FolderSynced[folder]; ok {
		return t, true
	}
	for name, t := range v.FolderSynced {
		if view.SameFolder(name, folder) {
			return t, true
		}
	}
	return time.Time{}, false
}

// syncedSince returns syncedSince of device view v for p: the folder the
// message is in as the user's changes tell (pendingChange.folder), else
// where another device of the user shows it (views), and the folder v
// shows it in.
func (p *pendingChange) syncedSince(v view.Snapshot, views []view.Snapshot) time.Time {
	id := p.c.MessageID
	folder := p.folder
	if folder == "" && !p.requiresAbsence() {
		for _, o := range views {
			if m, ok := o.Messages[id]; ok {
				folder = m.Folder
				break
			}
		}
	}
	return syncedSince(v, folder, v.Messages[id].Folder)
}

// liveReason is the reason a pending change is not converged yet, as far as
// the device views tell.
func liveReason(p *pendingChange, devs []DeviceSpec, views []view.Snapshot) Reason {
	if p.c.Device != "" && !p.c.Published {
		return ReasonPOP3LocalOnly
	}
	if p.c.Incomplete {
		return ReasonActionIncomplete
	}
	for _, id := range p.waiting {
		if i := deviceIndex(devs, id); i >= 0 && p.syncedSince(views[i], views).Before(p.c.Stored()) {
			return ReasonNotSyncedYet
		}
	}
	return ReasonPending
}

func (a *Auditor) group(name string) *groupAgg {
	g := a.groups[name]
	if g == nil {
		g = &groupAgg{kinds: make(map[ChangeKind]*kindAgg)}
		a.groups[name] = g
	}
	return g
}

func (g *groupAgg) kind(k ChangeKind) *kindAgg {
	ka := g.kinds[k]
	if ka == nil {
		ka = &kindAgg{unconverged: make(map[Reason]int)}
		g.kinds[k] = ka
	}
	return ka
}

func (k *kindAgg) addLive(r Reason, n int) {
	k.pending += n
	k.unconverged[r] += n
	if k.unconverged[r] == 0 {
		delete(k.unconverged, r)
	}
}

// WaitingForSync audits the users touched since the last audit, then
// counts the changes that have not converged and wait for a device that
// has not completed a sync since the change of the folders that can show
// it (a sync that began once the server had it: Change.Stored, of the
// message's folder and the one the device shows it in; and a folder list
// since, for a change into a folder the device has not synced:
// syncedSince), from the current
// views of the users with pending changes. Changes kept locally (pop3-local-only) never
// reach the other devices and are not counted. 0 means every device has
// synced since every change it does not show: syncing longer changes
// nothing.
func (a *Auditor) WaitingForSync() int {
	a.auditMu.Lock()
	defer a.auditMu.Unlock()
	a.auditDirty()
	a.usersMu.RLock()
	users := slices.Clone(a.order)
	a.usersMu.RUnlock()
	n := 0
	for _, u := range users {
		if len(u.pending) == 0 {
			continue
		}
		u.mu.Lock()
		spec := u.spec
		u.mu.Unlock()
		views := readViews(spec.Devices)
		for _, p := range u.pending {
			if liveReason(p, spec.Devices, views) == ReasonPOP3LocalOnly {
				continue
			}
			for _, id := range p.waiting {
				i := deviceIndex(spec.Devices, id)
				if i >= 0 && !p.shownBy(views[i]) && p.syncedSince(views[i], views).Before(p.c.Stored()) {
					n++
					break
				}
			}
		}
	}
	return n
}

// accepts reports whether folder is one of the folders that show the
// change, compared by role (internal/view/folders.go SameFolder): the
// device's INBOX.Junk shows a move to Junk. Any folder shows a repeated
// delivery.
func (p *pendingChange) accepts(folder string) bool {
	if p.repeat {
		return true
	}
	return slices.ContainsFunc(p.accept, func(a string) bool { return view.SameFolder(a, folder) })
}
