package clients

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// TestInstallStamps: a folder's sync that changed the view stamps what it
// brought — a message new to the folder both stamps, a message whose flags
// changed its flags' stamp — and the rest keep theirs, so the auditor
// tells which sync showed a change (view.Snapshot.Stamped); a sync that
// changed nothing adds no step and changes no stamp; the device's own
// flag edit leaves the flags unstamped (view.StampNone); a stamp of a
// sync the log dropped becomes view.StampOld.
func TestInstallStamps(t *testing.T) {
	d, h, install := newStampDevice(t)
	a, b := h("<a>"), h("<b>")
	stamps := func() map[imap.UID]view.Stamps {
		d.mu.Lock()
		defer d.mu.Unlock()
		out := map[imap.UID]view.Stamps{}
		for uid, m := range d.folders["INBOX"].msgs {
			out[uid] = m.st
		}
		return out
	}
	shown := func(uid imap.UID, flags bool, from int) time.Time {
		st := stamps()[uid].Arrived
		if flags {
			st = stamps()[uid].Flags
		}
		sh, ok := d.View().Stamped("INBOX", st, minute(from))
		if !ok || !sh.Exact {
			t.Fatalf("uid %d: Stamped %+v, %v", uid, sh, ok)
		}
		return sh.At
	}
	install(1, map[imap.UID]imapMsg{1: {id: a}})
	install(3, map[imap.UID]imapMsg{1: {id: a}}) // quiet
	install(5, map[imap.UID]imapMsg{1: {id: a, flags: view.Seen}, 2: {id: b}})
	if got := shown(1, true, 2); !got.Equal(minute(5)) {
		t.Errorf("a's \\Seen shown at %v, want 5m (the quiet sync at 3m did not show it)", got)
	}
	if got := shown(1, false, 2); !got.Equal(minute(2)) {
		t.Errorf("a in INBOX shown at %v, want 2m (before)", got)
	}
	if got := shown(2, false, 4); !got.Equal(minute(5)) {
		t.Errorf("b in INBOX shown at %v, want 5m", got)
	}
	d.noteFlags("INBOX", 2, view.Flagged)
	if got := stamps()[2]; got.Flags != view.StampNone || got.Arrived == view.StampNone {
		t.Errorf("b after its own flag edit: %+v, want flags unstamped, arrival kept", got)
	}
	// The log drops the sync at 1m: a's arrival stamp becomes StampOld.
	for i := range view.MaxSyncLog {
		install(10+i, map[imap.UID]imapMsg{1: {id: a, flags: view.Seen}, 2: {id: b, flags: view.Flagged}, imap.UID(3 + i): {id: h("<c>")}})
	}
	if got := stamps()[1]; got.Arrived != view.StampOld || got.Flags != view.StampOld {
		t.Errorf("a after the log dropped its syncs: %+v, want StampOld", got)
	}
}

// TestInstallMarksLeft: a sync with which a message left the folder's view
// (out of the window, expunged, moved out) marks its step in the log, so
// that a message a later sync brought back reads as a bound: it may have
// been shown before (view.SyncLog.MarkLeft); with no message leaving, a
// message new to the folder is exact.
func TestInstallMarksLeft(t *testing.T) {
	for _, tt := range []struct {
		name  string
		back  bool // b was shown at 3m, left at 4m; else b is new at 5m
		exact bool
	}{
		{"b left and came back", true, false},
		{"other mail came and went, b is new", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, h, install := newStampDevice(t)
			a, b, c := h("<a>"), h("<b>"), h("<c>")
			install(1, map[imap.UID]imapMsg{1: {id: a}})
			if tt.back {
				install(3, map[imap.UID]imapMsg{1: {id: a}, 2: {id: b}})
				install(4, map[imap.UID]imapMsg{1: {id: a}}) // b out of the window
			} else {
				install(3, map[imap.UID]imapMsg{1: {id: a}, 2: {id: c}})
				install(4, map[imap.UID]imapMsg{1: {id: a}, 2: {id: c}, 4: {id: h("<e>")}})
			}
			install(5, map[imap.UID]imapMsg{1: {id: a}, 5: {id: b}})
			v := d.View()
			sh, ok := v.Stamped("INBOX", v.Messages["<b>"].Stamps.Arrived, minute(2))
			if !ok || !sh.At.Equal(minute(5)) || sh.Exact != tt.exact {
				t.Errorf("b: %+v, %v; want shown at 5m, exact %v", sh, ok, tt.exact)
			}
		})
	}
}

// TestInstallCameBackInOneSync: a message moved out and back (a new UID)
// between two syncs left and came back with the second: the view showed it
// all along, so its stamps are those it had under its old UID, and its lag
// is the first sync's, exact. Before 2026-12-05 it was stamped by the
// second (review C: "b: shown at 5m0s exact true", the true answer 3m).
// A new UIDVALIDITY, all messages read anew, keeps their stamps alike.
func TestInstallCameBackInOneSync(t *testing.T) {
	for _, tt := range []struct {
		name      string
		validity2 uint32
	}{
		{"a new UID", 1},
		{"a new UIDVALIDITY", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, h, install := newStampDevice(t)
			a, b := h("<a>"), h("<b>")
			install(1, map[imap.UID]imapMsg{1: {id: a}})
			install(3, map[imap.UID]imapMsg{1: {id: a}, 2: {id: b}})
			d.installAt("INBOX", tt.validity2, map[imap.UID]imapMsg{1: {id: a}, 7: {id: b}}, minute(5), d.editGen("INBOX"), 0)
			v := d.View()
			sh, ok := v.Stamped("INBOX", v.Messages["<b>"].Stamps.Arrived, minute(2))
			if !ok || !sh.At.Equal(minute(3)) || !sh.Exact {
				t.Errorf("b: %+v, %v; want shown at 3m, exact", sh, ok)
			}
		})
	}
}

// minute is the simulated minute m of the stamp tests.
func minute(m int) time.Time {
	return time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)
}

// newStampDevice returns an IMAP PC for the stamp tests, the handle of a
// Message-ID in its view, and install, which installs msgs in its INBOX
// (UIDVALIDITY 1) as a sync begun at minute m read them.
func newStampDevice(t *testing.T) (d *imapDevice, h func(string) view.Handle, install func(m int, msgs map[imap.UID]imapMsg)) {
	t.Helper()
	o := validOptions()
	o.Profile = &Profile{Name: "pc", Kind: KindPC, Protocol: IMAP}
	d, err := newIMAPDevice(o, KindPC)
	if err != nil {
		t.Fatal(err)
	}
	h = func(id string) view.Handle { return d.o.IDs.Handle(id) }
	install = func(m int, msgs map[imap.UID]imapMsg) {
		d.installAt("INBOX", 1, msgs, minute(m), d.editGen("INBOX"), 0)
	}
	return d, h, install
}

// TestInstallNoMessageIDIsNew: a message without a Message-ID that comes
// with the sync that saw another such leave is new, stamped by that sync:
// no id tells that it came back (leftMsgs). Keyed by the handle they share
// (view.NoHandle), it took the other's stamps, an exact lag too low (the
// final read).
func TestInstallNoMessageIDIsNew(t *testing.T) {
	d, h, install := newStampDevice(t)
	a := h("<a>")
	install(1, map[imap.UID]imapMsg{1: {id: a}, 2: {id: view.NoHandle}})
	install(3, map[imap.UID]imapMsg{1: {id: a}, 3: {id: view.NoHandle}})
	d.mu.Lock()
	st := d.folders["INBOX"].msgs[3].st
	d.mu.Unlock()
	sh, ok := d.View().Stamped("INBOX", st.Arrived, minute(2))
	if !ok || !sh.At.Equal(minute(3)) {
		t.Errorf("UID 3: %+v, %v; want shown at 3m", sh, ok)
	}
}
