package audit

import (
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// min10 is t0 plus m simulated minutes.
func min10(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

// TestLagFirstSync: a device shows a change at the start of its first
// completed sync, since the server had it, of the folder that shows it
// (view.SyncLog), not its last before the audit; a device that showed it
// with no sync since (one begun before the server had it read it, or it
// had the flag already) adds no lag, whether that sync began before the
// action or while it ran. The change is a read (or, where named, a
// delivery or move) on the pc at 10m; the audit at 20m. Before 2026-12-05
// the lags were the last sync's or the audit's (or, for a device with no
// sync since, here the pc that shows a delivery at once, the audit's): 7m,
// 10m, 0, 2m, 5m, 5m (the last sync, at 15m), 10m, 1m and 1m in turn.
func TestLagFirstSync(t *testing.T) {
	type sync struct {
		at      float64 // minute the sync began
		folders []string
		quiet   bool // it changed nothing the phone shows
		show    bool // from it the phone shows the change
	}
	read := Change{Kind: Read, Flags: view.Seen, At: min10(10)}
	for _, tt := range []struct {
		name        string
		change      Change
		pop3        bool
		syncs       []sync
		auditBefore float64 // when > 0, an audit at this minute, after the syncs before it
		lag         time.Duration
		bounded     int
	}{
		{name: "synced again before the audit: the first sync since", change: read, syncs: []sync{
			{at: 5, folders: []string{"INBOX"}}, {at: 12, folders: []string{"INBOX"}, show: true},
			{at: 14, folders: []string{"INBOX"}, quiet: true}, {at: 17, folders: []string{"INBOX"}},
		}, lag: 2 * time.Minute},
		{name: "a sync begun before the action showed it", change: read, syncs: []sync{
			{at: 9, folders: []string{"INBOX"}, show: true},
		}, lag: 0},
		{name: "a sync begun while the action ran showed it",
			change: Change{Kind: Read, Flags: view.Seen, At: min10(10), Done: min10(11)}, syncs: []sync{
				{at: 10.5, folders: []string{"INBOX"}, show: true},
			}, lag: 0},
		{name: "a flag it had already, synced since with no change", change: read, syncs: []sync{
			{at: 5, folders: []string{"INBOX"}, show: true}, {at: 12, folders: []string{"INBOX"}, quiet: true},
		}, lag: 0},
		{name: "the server showed it late: an audit saw it missing", change: read, auditBefore: 13, syncs: []sync{
			{at: 5, folders: []string{"INBOX"}}, {at: 12, folders: []string{"INBOX"}, quiet: true},
			{at: 15, folders: []string{"INBOX"}, show: true},
		}, lag: 5 * time.Minute},
		{name: "the log dropped the first sync: an upper bound", change: read, syncs: func() []sync {
			// view.MaxSyncLog+1 syncs that changed INBOX, 30 s apart from
			// 11m: the first is dropped.
			out := []sync{{at: 11, folders: []string{"INBOX"}, show: true}}
			for i := range view.MaxSyncLog {
				out = append(out, sync{at: 11.5 + float64(i)/2, folders: []string{"INBOX"}})
			}
			return out
		}(), lag: 90 * time.Second, bounded: 1},
		{name: "a device synced as a whole", change: Change{Kind: Deliver, Folder: "INBOX", At: min10(10)}, pop3: true, syncs: []sync{
			{at: 5}, {at: 12, show: true}, {at: 15},
		}, lag: 2 * time.Minute},
		{name: "a move shows once its source is synced",
			change: Change{Kind: Move, Folder: "Archive", From: "INBOX", At: min10(10)}, syncs: []sync{
				{at: 5, folders: []string{"INBOX", "Archive"}}, {at: 11, folders: []string{"Archive"}},
				{at: 14, folders: []string{"INBOX"}, show: true},
			}, lag: 4 * time.Minute},
		{name: "a move into a folder shown first needs no source sync",
			change: Change{Kind: Move, Folder: "Archive", From: "Projects", At: min10(10)}, syncs: []sync{
				{at: 5, folders: []string{"Projects", "Archive"}}, {at: 11, folders: []string{"Archive"}, show: true},
				{at: 14, folders: []string{"Projects"}},
			}, lag: time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proto := "imap"
			if tt.pop3 {
				proto = "pop3"
			}
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", proto, 0})
			c := tt.change
			c.User, c.MessageID, c.Published = "u1", "<m1>", true
			if c.Kind != Deliver {
				c.Device = "u1/pc"
			} else {
				r.dev["u1/pc"].put("<m1>", c.Folder, 0) // at once, no lag
			}
			phone := r.dev["u1/phone"]
			// Before the change: the message unread in INBOX (a move's
			// source), or not yet delivered.
			if c.Kind != Deliver {
				from := "INBOX"
				if c.From != "" {
					from = c.From
				}
				phone.put("<m1>", from, 0)
			}
			r.a.Record(c)
			synced := map[string]time.Time{}
			audited := false
			for _, s := range tt.syncs {
				if tt.auditBefore > 0 && !audited && s.at > tt.auditBefore {
					r.clock.set(time.Duration(tt.auditBefore * float64(time.Minute)))
					r.a.Audit()
					audited = true
				}
				if s.show {
					switch c.Kind {
					case Deliver:
						phone.put("<m1>", c.Folder, 0)
					case Move:
						phone.put("<m1>", c.Folder, 0)
					default:
						phone.put("<m1>", "INBOX", c.Flags)
					}
				}
				if tt.pop3 {
					phone.sync(min10(s.at))
					continue
				}
				quiet := map[string]bool{}
				for _, f := range s.folders {
					synced[f] = min10(s.at)
					quiet[f] = s.quiet
				}
				phone.syncFoldersQuiet(synced, quiet)
			}
			r.clock.set(20 * time.Minute)
			r.a.Touch("u1")
			r.a.Audit()
			if len(r.lags) != 1 || r.lags[0] != tt.lag {
				t.Errorf("lags %v, want [%v]", r.lags, tt.lag)
			}
			if got := final(t, r).Convergence[c.Kind].LagsBounded; got != tt.bounded {
				t.Errorf("lags bounded %d, want %d", got, tt.bounded)
			}
		})
	}
}

// TestNotSyncedYetByFolder: whether a device has synced since a change is
// judged by the folder that can show it — the message's, and the one the
// device shows it in (a move's source copy, shown before the destination's,
// goes only with a sync of the source) — not by the device's earliest
// folder sync (Snapshot.Synced): the webmail synced INBOX and Archive at 5m,
// after the change at 1m, but not Trash. Before 2026-12-05 every case read
// not-synced-yet and was waited for (WaitingForSync 1).
func TestNotSyncedYetByFolder(t *testing.T) {
	for _, tt := range []struct {
		name                string
		change              Change
		synced              map[string]float64 // the webmail's folders' last syncs, minutes
		server, web         string             // the message's folder on the server, on the webmail
		serverFlags         view.Flags
		wantWait            int
		wantLive, wantFinal Reason
	}{
		{name: "flag on a message in a folder synced since",
			change: Change{Kind: Flag, Flags: view.Flagged}, synced: map[string]float64{"INBOX": 5, "Archive": 5, "Trash": 0},
			server: "INBOX", serverFlags: view.Flagged, web: "INBOX",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonFlagsNotSynced},
		{name: "move into a folder synced since, source too",
			change: Change{Kind: Move, Folder: "Archive", From: "INBOX"}, synced: map[string]float64{"INBOX": 5, "Archive": 5, "Trash": 0},
			server: "Archive", web: "INBOX",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonFolderNotSynced},
		{name: "delete that expunged, shown in a folder synced since",
			change: Change{Kind: Delete, From: "Archive"}, synced: map[string]float64{"INBOX": 5, "Archive": 5, "Trash": 0},
			web:      "Archive",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonKeptLocally},
		{name: "move whose source, where the webmail shows it, is not synced since",
			change: Change{Kind: Move, Folder: "Archive", From: "INBOX"}, synced: map[string]float64{"INBOX": 0, "Archive": 5, "Trash": 0},
			server: "Archive", web: "INBOX",
			wantWait: 1, wantLive: ReasonNotSyncedYet, wantFinal: ReasonNotSyncedYet},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"webmail", "imap", 0})
			if tt.server != "" {
				r.server.put("u1", "<m1>", tt.server, tt.serverFlags)
			}
			c := tt.change
			c.User, c.Device, c.MessageID, c.At, c.Published = "u1", "u1/pc", "<m1>", min10(1), true
			r.a.Record(c)
			web := r.dev["u1/webmail"]
			web.put("<m1>", tt.web, 0)
			synced := map[string]time.Time{}
			for f, m := range tt.synced {
				synced[f] = min10(m)
			}
			web.syncFolders(synced)
			web.list(min10(0))
			if got := r.a.WaitingForSync(); got != tt.wantWait {
				t.Errorf("WaitingForSync = %d, want %d", got, tt.wantWait)
			}
			if got := r.a.State().Changes[c.Kind].Unconverged; got[tt.wantLive] != 1 {
				t.Errorf("live reasons: %v, want 1 %s", got, tt.wantLive)
			}
			if got := final(t, r).Convergence[c.Kind].Unconverged; got[tt.wantFinal] != 1 {
				t.Errorf("final reasons: %v, want 1 %s", got, tt.wantFinal)
			}
		})
	}
}

// TestChangelessReasonByFolder: a divergent message no change explains is
// not-synced-yet on a device that never completed a sync of its folder, not
// one that never completed a sync of some other folder (its Synced zero,
// as an IMAP device's is while a folder awaits its first sync): the
// webmail synced INBOX, where it shows the message without the \Seen the
// server and the pc show, so nothing explains it (before 2026-12-05:
// not-synced-yet).
func TestChangelessReasonByFolder(t *testing.T) {
	r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"webmail", "imap", 0})
	r.server.put("u1", "<m1>", "INBOX", view.Seen)
	pc, web := r.dev["u1/pc"], r.dev["u1/webmail"]
	pc.put("<m1>", "INBOX", view.Seen)
	pc.syncFolders(map[string]time.Time{"INBOX": min10(5)})
	web.put("<m1>", "INBOX", 0)
	web.syncFolders(map[string]time.Time{"INBOX": min10(5)})
	web.mu.Lock()
	web.s.Synced = time.Time{} // a folder still awaits its first sync
	web.mu.Unlock()
	r.a.Touch("u1")
	res := final(t, r)
	if got := res.DivergentByReason; got[ReasonUnexplained] != 1 || got[ReasonNotSyncedYet] != 0 {
		t.Errorf("divergent by reason %v, want 1 unexplained", got)
	}
}

// TestLagStamped: a device that stamps its messages (view.Message.Stamps,
// the syncs that brought each into its folder and its flags) shows a
// change at the start of the sync that brought it, even when the first
// sync since changed nothing (a server that shows other sessions a change
// only after a delay: the folder's log alone read that as shown before,
// lag 0, where the truth is 2m); a sync begun before the action that read
// it after, a flag the message had and the first copy of a repeated
// delivery stay 0 — also when the first sync since changed another message
// (the log alone: 2m). A later change to the message may have brought the
// flags the stamp is of: then the figure is a bound, counted. The phone
// holds the message in INBOX from its sync at 2m; the change is on the pc
// at 10m (a read, unless named), the audit at 20m.
func TestLagStamped(t *testing.T) {
	type step struct {
		at    float64 // minute the sync began
		quiet bool    // it changed nothing the phone shows
		// show, when set, is what the phone shows of the message from
		// this sync: its flags (brought by this sync when they differ).
		show  bool
		flags view.Flags
	}
	deliver := Change{Kind: Deliver, Folder: "INBOX", At: min10(10)}
	for _, tt := range []struct {
		name    string
		change  Change
		later   *Change    // a later change to the message, on the pc
		had     view.Flags // the phone's flags from its sync at 2m
		repeat  bool       // the message was delivered at 1m already
		syncs   []step
		audit   float64       // when > 0, an audit at this minute, after the syncs before it
		lag     time.Duration // the change's
		bounded int
	}{
		{name: "the server showed it late: the first sync since changed nothing", syncs: []step{
			{at: 11, quiet: true}, {at: 12, show: true, flags: view.Seen},
		}, lag: 2 * time.Minute},
		{name: "the server showed it late, an audit between", syncs: []step{
			{at: 11, quiet: true}, {at: 12, show: true, flags: view.Seen}, {at: 15},
		}, audit: 11.5, lag: 2 * time.Minute},
		{name: "a sync begun before the action read it after", syncs: []step{
			{at: 9, show: true, flags: view.Seen}, {at: 12, quiet: true},
		}, lag: 0},
		{name: "a flag it had", had: view.Seen, syncs: []step{{at: 12, quiet: true}}, lag: 0},
		{name: "a flag it had, the first sync since changed another message", had: view.Seen, syncs: []step{{at: 12}}, lag: 0},
		{name: "the first copy of a repeated delivery", change: deliver, repeat: true, syncs: []step{{at: 12, quiet: true}}, lag: 0},
		{name: "the first copy of a repeated delivery, another message since", change: deliver, repeat: true, syncs: []step{{at: 12}}, lag: 0},
		{name: "a reply later: the flags may be the reply's, a bound",
			later: &Change{Kind: Reply, Flags: view.Answered, At: min10(10.5)}, syncs: []step{
				{at: 11, show: true, flags: view.Seen}, {at: 12, show: true, flags: view.Seen | view.Answered},
			}, lag: 2 * time.Minute, bounded: 1},
		{name: "a reply later, shown by the first sync since",
			later: &Change{Kind: Reply, Flags: view.Answered, At: min10(10.5)}, syncs: []step{
				{at: 11, quiet: true}, {at: 12, show: true, flags: view.Seen | view.Answered},
			}, lag: 2 * time.Minute},
		// A flag no person recorded (a POP3 RETR's \Seen on the server)
		// moves the flags stamp past the sync that showed the change.
		{name: "an unrecorded flag later: the stamp may be its, a bound", syncs: []step{
			{at: 11, show: true, flags: view.Seen}, {at: 12, show: true, flags: view.Seen | view.Flagged},
		}, lag: 2 * time.Minute, bounded: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			pc, phone := r.dev["u1/pc"], r.dev["u1/phone"]
			c := tt.change
			if c.Kind == "" {
				c = Change{Kind: Read, Flags: view.Seen, At: min10(10)}
			}
			c.User, c.MessageID, c.Published = "u1", "<m1>", true
			if c.Kind != Deliver {
				c.Device = "u1/pc"
			}
			if c.Kind != Deliver || tt.repeat {
				if tt.repeat {
					first := c
					first.At = min10(1)
					r.a.Record(first)
				}
				pc.put("<m1>", "INBOX", tt.had)
				st := phone.syncStamped("INBOX", min10(2), false)
				phone.putStamped("<m1>", "INBOX", tt.had, view.Stamps{Arrived: st, Flags: st})
				r.a.Touch("u1")
				r.a.Audit()
			}
			r.a.Record(c)
			pc.put("<m1>", "INBOX", c.Flags|tt.had)
			if tt.later != nil {
				l := *tt.later
				l.User, l.Device, l.MessageID, l.Published = "u1", "u1/pc", "<m1>", true
				r.a.Record(l)
				pc.put("<m1>", "INBOX", c.Flags|l.Flags)
			}
			for _, s := range tt.syncs {
				if tt.audit > 0 && s.at > tt.audit {
					r.clock.set(time.Duration(tt.audit * float64(time.Minute)))
					r.a.Touch("u1")
					r.a.Audit()
				}
				st := phone.syncStamped("INBOX", min10(s.at), s.quiet)
				if !s.show {
					continue
				}
				old := phone.stamps("<m1>")
				arrived := old.Arrived
				if c.Kind == Deliver && !tt.repeat {
					arrived = st
				}
				phone.putStamped("<m1>", "INBOX", s.flags, view.Stamps{Arrived: arrived, Flags: st})
			}
			if c.Kind == Deliver && !tt.repeat {
				t.Fatal("no case delivers a new message")
			}
			r.clock.set(20 * time.Minute)
			r.a.Touch("u1")
			r.a.Audit()
			res := final(t, r)
			// The change's lag: the first, or after the first delivery's.
			i := 0
			if tt.repeat {
				i = 1
			}
			if len(r.lags) <= i || r.lags[i] != tt.lag {
				t.Errorf("lags %v, want the change's (%d) %v", r.lags, i, tt.lag)
			}
			if got := res.Convergence[c.Kind].LagsBounded; got != tt.bounded {
				t.Errorf("lags bounded %d, want %d", got, tt.bounded)
			}
		})
	}
}

// TestLagCameBack: a delivery the phone showed (at 11m), then left out (its
// window, at 12m) and showed again (at 13m), with no audit between, takes
// the return's sync: a bound, counted, as the phone's log marks the sync
// a message left the view with (view.SyncLog.MarkLeft). Before
// 2026-12-05 the 3m counted as exact. A delivery shown late, with only
// other mail coming between, stays exact.
func TestLagCameBack(t *testing.T) {
	for _, tt := range []struct {
		name    string
		back    bool
		bounded int
	}{
		{"left the window and came back", true, 1},
		{"shown late, other mail since", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			pc, phone := r.dev["u1/pc"], r.dev["u1/phone"]
			phone.syncStamped("INBOX", min10(2), false)
			r.a.Record(Change{Kind: Deliver, User: "u1", MessageID: "<m1>", Folder: "INBOX", At: min10(10)})
			pc.put("<m1>", "INBOX", 0)
			st := phone.syncStamped("INBOX", min10(11), false)
			if tt.back {
				phone.putStamped("<m1>", "INBOX", 0, view.Stamps{Arrived: st, Flags: st})
			}
			phone.syncStamped("INBOX", min10(12), false)
			if tt.back {
				phone.del("<m1>")
				phone.markLeft("INBOX")
			}
			st = phone.syncStamped("INBOX", min10(13), false)
			phone.putStamped("<m1>", "INBOX", 0, view.Stamps{Arrived: st, Flags: st})
			r.clock.set(20 * time.Minute)
			r.a.Touch("u1")
			r.a.Audit()
			res := final(t, r)
			if len(r.lags) != 1 || r.lags[0] != 3*time.Minute {
				t.Errorf("lags %v, want 3m (the return's sync, or the late one's)", r.lags)
			}
			if got := res.Convergence[Deliver].LagsBounded; got != tt.bounded {
				t.Errorf("lags bounded %d, want %d", got, tt.bounded)
			}
		})
	}
}
