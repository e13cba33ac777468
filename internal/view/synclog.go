package view

import "time"

// MaxSyncLog is how many syncs a SyncLog keeps: the last ones that changed
// what the device shows of the folder. The auditor looks back from a change
// to the audit that sees it shown (every 2 s of wall time, 8 simulated
// minutes at time_scale 240); syncs that change nothing (a webmail's INBOX
// reload with no new mail, a PC's poll of a quiet folder) take no room.
// Eight: in quickstart (60 s at time_scale 240) four left 7 of about 500
// lags bounds (a webmail's INBOX changed more often between a change and
// the audit), eight 1 (docs/performance.md, "Memory per idle IMAP
// device, harness alone").
const MaxSyncLog = 8

// SyncLog records the last MaxSyncLog completed syncs of one folder (or of a
// device that syncs as a whole) that changed what the device shows of it,
// each with the start of the sync before it, for the auditor to tell when
// the device came to show a change (ShownAt, Stamped). It is a value of
// fixed size (no allocation; 136 bytes): the devices keep one per folder.
type SyncLog struct {
	steps [MaxSyncLog]syncStep // oldest first
	// added holds, in its low addedBits bits, the count of steps ever
	// added: the newest held is the count'th (its Stamp, stampOf); in
	// its top 8, which of the steps held a message left the view with
	// (bit i: steps[i]; MarkLeft). One word for both keeps the log at
	// 136 bytes.
	added uint64
}

// addedBits is how many low bits of SyncLog.added count the steps.
const addedBits = 56

// count returns the number of steps ever added.
func (l SyncLog) count() uint64 { return l.added & (1<<addedBits - 1) }

// left reports whether a message left the view with step i (MarkLeft).
func (l SyncLog) left(i int) bool { return l.added>>(addedBits+i)&1 != 0 }

// syncStep is one sync that changed the view: when it began, and when the
// completed sync of the folder before it began (0: none), as Unix
// nanoseconds of simulated time.
type syncStep struct{ prev, start int64 }

// Stamp names the sync that brought what a device shows of one message —
// the message into its folder, or its flags (Stamps) — into the view: one
// of the syncs its folder's SyncLog holds, StampOld for one the log no
// longer holds, StampNone when no sync tells (a device that keeps no
// stamps, a message or flags the device's own action put there). A device
// keeps two per message (one byte each): the auditor tells by them which
// sync showed a change, where the log alone tells only which syncs changed
// something (Snapshot.Stamped).
type Stamp uint8

const (
	// StampNone: no sync tells; the auditor falls back to the folder's
	// log (SyncLog.ShownAt).
	StampNone Stamp = iota
	// StampOld: a sync older than the log's oldest (SyncLog.Keep).
	StampOld
	// stampFirst is the first of the stamps naming a logged sync; they
	// cycle through stampCycle values, far more than MaxSyncLog, so
	// that the syncs a log holds have distinct stamps.
	stampFirst
)

// stampCycle is how many stamps name logged syncs.
const stampCycle = 256 - int(stampFirst)

// Stamps are a message's two stamps: the sync that brought it into the
// folder it is shown in (Arrived) and the one that brought its flags
// (Flags; Arrived too for a message that came with them).
type Stamps struct{ Arrived, Flags Stamp }

// stampOf is the stamp of the seq'th step added (seq ≥ 1).
func stampOf(seq uint64) Stamp { return stampFirst + Stamp((seq-1)%uint64(stampCycle)) }

// unixNano returns t as Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Add records a completed sync that began at start and changed what the
// device shows (the first sync of a folder always does); prev is the start
// of the completed sync of the folder before it, zero when none. Syncs that
// change nothing are not added: they are the prev of the next one. Add
// returns the sync's Stamp, for the messages it brought; every stamp a
// device keeps of the folder must go through Keep after each Add, before
// the log is read: the stamps cycle, and one of a sync the log dropped
// would name a newer one.
func (l *SyncLog) Add(prev, start time.Time) Stamp {
	n, mask := l.count(), l.added>>addedBits
	if l.Len() == MaxSyncLog {
		copy(l.steps[:], l.steps[1:])
		mask >>= 1
	}
	l.steps[min(n, MaxSyncLog-1)] = syncStep{unixNano(prev), unixNano(start)}
	n++
	l.added = mask<<addedBits | n
	return stampOf(n)
}

// MarkLeft records that with the newest sync added a message the view
// showed left it (expunged, moved out, out of a window or page, a new
// UIDVALIDITY): a message a later sync brought may be one the view showed
// before and that came back, so that sync's stamp need not be when the
// view first showed it (Stamped).
func (l *SyncLog) MarkLeft() {
	if n := l.Len(); n > 0 {
		l.added |= 1 << (addedBits + n - 1)
	}
}

// Len returns the number of syncs held.
func (l SyncLog) Len() int { return int(min(l.count(), MaxSyncLog)) }

// dropped reports whether a step was dropped for a newer one.
func (l SyncLog) dropped() bool { return l.count() > MaxSyncLog }

// index returns the position in steps of the sync s names, false when the
// log does not hold it (StampNone, StampOld, or one dropped).
func (l SyncLog) index(s Stamp) (int, bool) {
	if s < stampFirst || l.count() == 0 {
		return 0, false
	}
	age := (int(stampOf(l.count())) - int(s) + stampCycle) % stampCycle
	n := l.Len()
	if age >= n {
		return 0, false
	}
	return n - 1 - age, true
}

// Keep returns s, or StampOld when s names a sync the log no longer holds.
func (l SyncLog) Keep(s Stamp) Stamp {
	if _, ok := l.index(s); s >= stampFirst && !ok {
		return StampOld
	}
	return s
}

// ShownAt returns when the device came to show a change the server had from
// t (Change.Stored in internal/audit), given that it shows it now and that
// last is the start of its last completed sync of the folder: the start of
// the first completed sync that began at or after t, which showed it (the
// server had it) — when that sync changed the view; t itself (no lag) when
// the device showed it before, by a sync that began before t and read the
// server after, or with no sync at all (a flag the message already had,
// the first copy of a repeated delivery, its own edit): that is, when no
// sync began at or after t, or the first that did changed nothing. exact
// is false when the log cannot tell: the syncs it dropped may hold the
// first one, or it holds none while the folder was synced at or after t
// (a view that keeps no log); at is then an upper bound, the earliest
// sync at or after t the log or last tell of. It cannot tell a server
// that showed the change late (the first sync since changed nothing, a
// later one showed it) from one that showed it early: a message's Stamps
// can (Stamped).
func (l SyncLog) ShownAt(t, last time.Time) (at time.Time, exact bool) {
	tn := unixNano(t)
	for i := range l.Len() {
		s := l.steps[i]
		if s.start < tn {
			continue
		}
		switch {
		case s.prev < tn:
			// The sync before it began before t: it is the first since,
			// unless it did not complete (partial).
			if j := l.lastPartial(i, last); j > i {
				// A poll that failed after it downloaded some mail
				// (POP3) changed the view but need not have brought
				// the change: it came with one of the steps i..j, the
				// last of them an upper bound. A partial step with none
				// after it (a poll still under way, or the last one,
				// broken) is the only one since t: it brought it.
				return time.Unix(0, l.steps[j].start).In(t.Location()), false
			}
			return time.Unix(0, s.start).In(t.Location()), true
		case i == 0 && l.dropped():
			// The first since may be a step dropped.
			return time.Unix(0, s.start).In(t.Location()), false
		}
		// A sync began at or after t and changed nothing: the device
		// showed the change before it.
		return t, true
	}
	if l.Len() == 0 && !last.Before(t) && !last.IsZero() {
		return last, false
	}
	return t, true
}

// lastPartial reports whether step i did not complete: a sync that
// changed the view and then failed (a POP3 poll that downloaded some mail
// and broke before the rest; an IMAP sync is logged only once complete).
// A step completed when the next step's prev, or for the newest step the
// last completed sync (last), is at or after its start. It returns -1 when
// step i completed, else the index of the first completed step after it,
// or of the newest step when none did. An IMAP step can read as partial
// too when installs of one folder end out of order: the bound is then
// conservative.
func (l SyncLog) lastPartial(i int, last time.Time) int {
	n := l.Len()
	partial := func(k int) bool {
		if k+1 < n {
			return l.steps[k+1].prev < l.steps[k].start
		}
		return unixNano(last) < l.steps[k].start
	}
	if !partial(i) {
		return -1
	}
	j := i
	for j+1 < n && partial(j) {
		j++
	}
	return j
}

// Shown is when a device came to show something, as a message's Stamp
// tells (SyncLog.Stamped).
type Shown struct {
	// At is the start of the sync the stamp names, or t (the time asked
	// from) when that sync began before t.
	At time.Time
	// Exact is false when the log cannot tell: a StampOld whose sync may
	// have begun at or after t (At is then the start of the sync before
	// the log's oldest, a bound); or a message left the view with a sync
	// since t before the stamp's (MarkLeft), or maybe with one the log
	// dropped, so the message the stamp is of may have been shown before
	// and come back (out of a phone's window and in again, moved out and
	// back) and At is an upper bound.
	Exact bool
	// First reports that no sync the log holds, begun at or after t,
	// changed the view before the stamp's (and none it dropped could
	// have): of the syncs since t, the stamp's was the first to change
	// anything. Set when At is t.
	First bool
}

// Stamped returns when the sync stamp s names began, for a change the
// server had from t (Shown): t itself when it began before t (the device
// showed what it brought before t); its start otherwise, the first sync
// since t that showed what the stamp is of — even when an earlier sync
// since t changed nothing (a server that showed it late), unless a
// message left the view with a sync since t before it (MarkLeft): then
// the start is an upper bound (Shown.Exact), as what it brought may have
// been shown before and come back. A StampOld began no later than the
// sync before the log's oldest: before t when that did. ok is false for
// StampNone (and an empty log): the caller falls back to ShownAt.
func (l SyncLog) Stamped(s Stamp, t time.Time) (sh Shown, ok bool) {
	tn := unixNano(t)
	if s == StampNone || l.count() == 0 {
		return Shown{}, false
	}
	i, held := l.index(s)
	if !held {
		if oldest := l.steps[0]; oldest.prev >= tn {
			return Shown{At: time.Unix(0, oldest.prev).In(t.Location())}, true
		}
		return Shown{At: t, Exact: true, First: true}, true
	}
	st := l.steps[i]
	if st.start < tn {
		return Shown{At: t, Exact: true, First: true}, true
	}
	first := !(i == 0 && l.dropped() && st.prev >= tn)
	back := !first // a step dropped since t may have had a message leave
	for k, o := range l.steps[:i] {
		if o.start >= tn {
			first = false
			back = back || l.left(k)
		}
	}
	return Shown{At: time.Unix(0, st.start).In(t.Location()), Exact: !back, First: first}, true
}

// logOf returns the log and last sync of folder in s (ShownAt).
func (s Snapshot) logOf(folder string) (l SyncLog, last time.Time, known bool) {
	if s.FolderSynced == nil {
		return s.Log, s.Synced, true
	}
	if last, ok := s.FolderSynced[folder]; ok {
		return s.FolderLog[folder], last, true
	}
	for name, last := range s.FolderSynced {
		if SameFolder(name, folder) {
			return s.FolderLog[name], last, true
		}
	}
	return SyncLog{}, time.Time{}, false
}

// ShownAt returns when the view came to show, in folder, a change the
// server had from t (SyncLog.ShownAt): for a device that syncs its folders
// apart (FolderSynced set), folder's log and last sync, the folder named
// as the view names it or, failing that, one of its role (SameFolder); for
// a device that syncs as a whole, its Log and Synced.
func (s Snapshot) ShownAt(folder string, t time.Time) (at time.Time, exact bool) {
	l, last, known := s.logOf(folder)
	if !known {
		return t, true // a folder it never synced: nothing to show it by
	}
	return l.ShownAt(t, last)
}

// Stamped returns SyncLog.Stamped of stamp st of a message the view shows
// in folder, by folder's log as ShownAt finds it; ok is false when the
// stamp or the log tells nothing (ShownAt then).
func (s Snapshot) Stamped(folder string, st Stamp, t time.Time) (Shown, bool) {
	l, _, known := s.logOf(folder)
	if !known {
		return Shown{}, false
	}
	return l.Stamped(st, t)
}
