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
// the device came to show a change (ShownAt). It is a value of fixed size
// (no allocation; 136 bytes): the devices keep one per folder.
type SyncLog struct {
	steps [MaxSyncLog]syncStep // oldest first
	n     uint8                // steps held
	// dropped is set once a step was dropped for a newer one.
	dropped bool
}

// syncStep is one sync that changed the view: when it began, and when the
// completed sync of the folder before it began (0: none), as Unix
// nanoseconds of simulated time.
type syncStep struct{ prev, start int64 }

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
// change nothing are not added: they are the prev of the next one.
func (l *SyncLog) Add(prev, start time.Time) {
	if int(l.n) == MaxSyncLog {
		copy(l.steps[:], l.steps[1:])
		l.n--
		l.dropped = true
	}
	l.steps[l.n] = syncStep{unixNano(prev), unixNano(start)}
	l.n++
}

// Len returns the number of syncs held.
func (l SyncLog) Len() int { return int(l.n) }

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
// sync at or after t the log or last tell of.
func (l SyncLog) ShownAt(t, last time.Time) (at time.Time, exact bool) {
	tn := unixNano(t)
	for i := range int(l.n) {
		s := l.steps[i]
		if s.start < tn {
			continue
		}
		switch {
		case s.prev < tn:
			// The sync before it began before t: it is the first since.
			return time.Unix(0, s.start).In(t.Location()), true
		case i == 0 && l.dropped:
			// The first since may be a step dropped.
			return time.Unix(0, s.start).In(t.Location()), false
		}
		// A sync began at or after t and changed nothing: the device
		// showed the change before it.
		return t, true
	}
	if l.n == 0 && !last.Before(t) && !last.IsZero() {
		return last, false
	}
	return t, true
}

// ShownAt returns when the view came to show, in folder, a change the
// server had from t (SyncLog.ShownAt): for a device that syncs its folders
// apart (FolderSynced set), folder's log and last sync, the folder named
// as the view names it or, failing that, one of its role (SameFolder); for
// a device that syncs as a whole, its Log and Synced.
func (s Snapshot) ShownAt(folder string, t time.Time) (at time.Time, exact bool) {
	if s.FolderSynced == nil {
		return s.Log.ShownAt(t, s.Synced)
	}
	if last, ok := s.FolderSynced[folder]; ok {
		return s.FolderLog[folder].ShownAt(t, last)
	}
	for name, last := range s.FolderSynced {
		if SameFolder(name, folder) {
			return s.FolderLog[name].ShownAt(t, last)
		}
	}
	return t, true // a folder it never synced: nothing to show it by
}
