package audit

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// checkExplained fails the test unless every divergent message of the
// final audit is counted once in DivergentByReason.
func checkExplained(t *testing.T, res Result) {
	t.Helper()
	n := 0
	for _, c := range res.DivergentByReason {
		n += c
	}
	if n != res.Overall.Divergent {
		t.Errorf("divergent %d, explained and unexplained %d (%v)", res.Overall.Divergent, n, res.DivergentByReason)
	}
	if u := res.DivergentByReason[ReasonUnexplained]; len(res.Unexplained) != min(u, MaxUnexplainedListed) {
		t.Errorf("%d unexplained, %d listed", u, len(res.Unexplained))
	}
}

// TestDivergenceExplained: each divergent message of the final audit is
// tied to a pending change's reason, or to a cause the views and the
// server show, or counted as unexplained with an example.
func TestDivergenceExplained(t *testing.T) {
	imap2 := []devDef{{"pc", "imap", 0}, {"phone", "imap", 0}}
	tests := []struct {
		name string
		devs []devDef
		// setup runs after <m1> (and <m2>, <m3>) were delivered to INBOX,
		// shown by every device and the server, and converged, and every
		// device synced.
		setup      func(r *rig)
		noTruth    bool
		want       map[Reason]int
		wantListed []UnexplainedMessage
	}{
		{name: "converged", devs: imap2, setup: func(r *rig) {}, want: map[Reason]int{}},
		{name: "a pending change", devs: imap2, setup: func(r *rig) {
			r.dev["u1/pc"].put("<m1>", "INBOX", view.Flagged)
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Flag, MessageID: "<m1>", At: t0.Add(time.Minute), Flags: view.Flagged, Published: true})
		}, want: map[Reason]int{ReasonServerDisagrees: 1}},
		{name: "two copies shown with different flags", devs: imap2, setup: func(r *rig) {
			r.dev["u1/pc"].put("<m1>", "INBOX", view.Seen)
			r.server.put("u1", "<m1>", "INBOX", view.Seen)
		}, want: map[Reason]int{ReasonUnexplained: 1}, wantListed: []UnexplainedMessage{{
			User: "u1", MessageID: "<m1>", Dimensions: []string{"flags"}, Server: `INBOX (\Seen)`,
			Shown: map[string]string{"u1/pc": `INBOX (\Seen)`, "u1/phone": "INBOX ()"},
		}}},
		{name: "shown nowhere it should be", devs: imap2, setup: func(r *rig) {
			r.dev["u1/phone"].del("<m2>")
			r.dev["u1/pc"].put("<m3>", "Archive", 0)
		}, want: map[Reason]int{ReasonUnexplained: 2}},
		{name: "a device that never completed a sync", devs: imap2, setup: func(r *rig) {
			r.dev["u1/phone"].put("<m1>", "INBOX", view.Seen)
			r.server.put("u1", "<m1>", "INBOX", view.Seen)
			r.dev["u1/pc"].sync(time.Time{})
		}, want: map[Reason]int{ReasonNotSyncedYet: 1}},
		{name: "no server state", devs: imap2, noTruth: true, setup: func(r *rig) {
			r.dev["u1/pc"].put("<m1>", "INBOX", view.Seen)
			r.dev["u1/phone"].del("<m2>")
		}, want: map[Reason]int{ReasonServerUnreadable: 2}},
		{name: "no server state, out of the phone's window", devs: []devDef{{"pc", "imap", 0}, {"phone", "imap", 2}}, noTruth: true, setup: func(r *rig) {
			r.dev["u1/phone"].del("<m1>")
		}, want: map[Reason]int{ReasonOutsideWindow: 1}},
		{name: "POP3 download marks the server's copy seen", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.server.put("u1", "<m1>", "INBOX", view.Seen)
			r.dev["u1/phone"].put("<m1>", "INBOX", view.Seen)
		}, want: map[Reason]int{ReasonFlagsNotSynced: 1}},
		{name: "deleted from the server after the phone showed it", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.server.del("u1", "<m1>")
			r.dev["u1/phone"].del("<m1>")
		}, want: map[Reason]int{ReasonDeletedFromServer: 1}},
		{name: "a POP3 device keeps what the server dropped", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.server.del("u1", "<m1>")
			r.dev["u1/pc"].put("<m1>", "INBOX", view.Seen)
			r.dev["u1/phone"].del("<m1>")
		}, want: map[Reason]int{ReasonDeletedFromServer: 1}},
		// A POP3 device writes a new message in its local Drafts
		// (clients/pop3_device.go, send): one the run's end cut before
		// it was sent is on that device alone, and the server never had
		// it (it was deleted-from-server).
		{name: "a POP3 device's draft the server never had", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.dev["u1/pc"].put("<d1>", "Drafts", view.Seen)
		}, want: map[Reason]int{ReasonPOP3LocalOnly: 1}},
		// An IMAP device writes a new message as a draft on the server
		// (clients/imap_actions.go, send): one whose send failed, or the
		// run's end cut while it was written, stays in Drafts, no mail
		// that left (Change.Draft). A device whose last sync began before
		// it was saved has not synced since (it was unexplained); one
		// that synced since and does not show it is unexplained.
		{name: "an IMAP draft saved after the PC's last sync", devs: imap2,
			setup: draftLeft(t0.Add(2 * time.Hour)), want: map[Reason]int{ReasonNotSyncedYet: 1}},
		{name: "an IMAP draft saved before the PC's last sync", devs: imap2,
			setup: draftLeft(t0.Add(30 * time.Minute)), want: map[Reason]int{ReasonUnexplained: 1}},
		// A POP3 device never shows Drafts, synced or not.
		{name: "an IMAP draft a POP3 device does not show", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}},
			setup: func(r *rig) {
				r.server.put("u1", "<d2>", "Drafts", view.Seen)
				r.dev["u1/phone"].put("<d2>", "Drafts", view.Seen)
				r.a.Record(Change{User: "u1", Device: "u1/phone", MessageID: "<d2>", At: t0.Add(2 * time.Hour), Folder: "Drafts", Draft: true})
			}, want: map[Reason]int{ReasonFolderNotSynced: 1}},
		{name: "a POP3 device keeps what a person deleted (a pending change)", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.server.del("u1", "<m1>")
			r.dev["u1/phone"].del("<m1>")
			r.a.Record(Change{User: "u1", Device: "u1/phone", Kind: Delete, MessageID: "<m1>", At: t0.Add(time.Minute), Published: true})
		}, want: map[Reason]int{ReasonKeptLocally: 1}},
		{name: "an IMAP device shows what the server dropped", devs: imap2, setup: func(r *rig) {
			r.server.del("u1", "<m1>")
			r.dev["u1/phone"].del("<m1>")
		}, want: map[Reason]int{ReasonUnexplained: 1}},
		{name: "moved on the server, POP3 reads only INBOX", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.server.put("u1", "<m1>", "Archive", 0)
			r.dev["u1/phone"].put("<m1>", "Archive", 0)
		}, want: map[Reason]int{ReasonFolderNotSynced: 1}},
		// A POP3 device's own Trash (a person deleted <m2> on the PC)
		// holds a message the server has in Trash too (the phone deleted
		// it): the PC still never reads the server's Trash, and <m1>,
		// moved there before the PC downloaded it, is folder-not-synced
		// (it was unexplained: Cyrus frozen 35 s under quickstart, a UID
		// MOVE the server did after the phone's timeout recorded no change).
		{name: "moved on the server, POP3 reads only INBOX, its own Trash alike", devs: []devDef{{"pc", "pop3", 0}, {"phone", "imap", 0}}, setup: func(r *rig) {
			r.server.put("u1", "<m1>", "Trash", view.Seen)
			r.dev["u1/phone"].put("<m1>", "Trash", view.Seen)
			r.dev["u1/pc"].del("<m1>")
			r.server.put("u1", "<m2>", "Trash", view.Seen)
			r.dev["u1/phone"].put("<m2>", "Trash", view.Seen)
			r.dev["u1/pc"].put("<m2>", "Trash", view.Seen)
		}, want: map[Reason]int{ReasonFolderNotSynced: 1}},
		{name: "out of the phone's window", devs: []devDef{{"pc", "imap", 0}, {"phone", "imap", 2}}, setup: func(r *rig) {
			r.dev["u1/phone"].del("<m1>")
		}, want: map[Reason]int{ReasonOutsideWindow: 1}},
		// A phone's window and a webmail's page hold as many messages of
		// every folder (clients/imap_sync.go): Sent beyond it is as
		// explained as INBOX beyond it (it was unexplained).
		{name: "out of the phone's window in Sent", devs: []devDef{{"pc", "imap", 0}, {"phone", "imap", 2}},
			setup: phoneMissesOneOfSent, want: map[Reason]int{ReasonOutsideWindow: 1}},
		{name: "within the phone's window in Sent, not shown", devs: []devDef{{"pc", "imap", 0}, {"phone", "imap", 3}},
			setup: phoneMissesOneOfSent, want: map[Reason]int{ReasonUnexplained: 1}},
		// A phone's window leaves out the messages flagged \Deleted within
		// it (clients/imap_sync.go, syncWindow): of the newest 3 of
		// INBOX, it shows 2 and left 1 out, and <m1>, older, is outside
		// the window all the same, which the phone's sync says (it was
		// unexplained).
		{name: "out of a phone's window that shows fewer", devs: []devDef{{"pc", "imap", 0}, {"phone", "imap", 3}}, setup: func(r *rig) {
			r.dev["u1/phone"].del("<m1>")
			r.dev["u1/phone"].hide("INBOX", 1)
		}, want: map[Reason]int{ReasonOutsideWindow: 1}},
		// A message missing within a window that is not full is no
		// window's doing, whatever else the window left out elsewhere.
		{name: "within a phone's window, another folder's hidden", devs: []devDef{{"pc", "imap", 0}, {"phone", "imap", 4}}, setup: func(r *rig) {
			r.dev["u1/phone"].del("<m1>")
			r.dev["u1/phone"].hide("Sent", 1)
		}, want: map[Reason]int{ReasonUnexplained: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig("u1", "g", tc.devs...)
			for _, id := range []string{"<m1>", "<m2>", "<m3>"} {
				r.server.put("u1", id, "INBOX", 0)
				r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
				for _, d := range r.dev {
					d.put(id, "INBOX", 0)
				}
			}
			r.a.Audit()
			for _, d := range r.dev {
				d.sync(t0.Add(time.Hour))
			}
			tc.setup(r)
			r.clock.set(time.Hour)
			var truth Truth = r.server
			if tc.noTruth {
				truth = nil
			}
			res, err := r.a.Final(context.Background(), truth)
			if err != nil {
				t.Fatal(err)
			}
			checkExplained(t, res)
			got := map[Reason]int{}
			for k, n := range res.DivergentByReason {
				if n != 0 {
					got[k] = n
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("divergent by reason %v, want %v", got, tc.want)
			}
			if tc.wantListed != nil && !reflect.DeepEqual(res.Unexplained, tc.wantListed) {
				t.Errorf("unexplained\n got %+v\nwant %+v", res.Unexplained, tc.wantListed)
			}
		})
	}
}

// draftLeft returns a setup where the phone saved draft <d2> in Drafts
// at saved and left it there (Change.Draft): the server and the phone
// show it, the PC (synced at t0 + 1 h) does not; every device and the
// server show an older draft, <d1>.
func draftLeft(saved time.Time) func(r *rig) {
	return func(r *rig) {
		r.server.put("u1", "<d1>", "Drafts", view.Seen)
		r.dev["u1/pc"].put("<d1>", "Drafts", view.Seen)
		r.dev["u1/phone"].put("<d1>", "Drafts", view.Seen)
		r.server.put("u1", "<d2>", "Drafts", view.Seen)
		r.dev["u1/phone"].put("<d2>", "Drafts", view.Seen)
		r.a.Record(Change{User: "u1", Device: "u1/phone", MessageID: "<d2>", At: saved, Folder: "Drafts", Draft: true})
	}
}

// phoneMissesOneOfSent moves <m1>, <m2> and <m3> to Sent on the server and
// the PC, and shows the phone <m2> and <m3> there, not <m1>.
func phoneMissesOneOfSent(r *rig) {
	for _, id := range []string{"<m1>", "<m2>", "<m3>"} {
		r.server.put("u1", id, "Sent", view.Seen)
		r.dev["u1/pc"].put(id, "Sent", view.Seen)
	}
	r.dev["u1/phone"].put("<m2>", "Sent", view.Seen)
	r.dev["u1/phone"].put("<m3>", "Sent", view.Seen)
	r.dev["u1/phone"].del("<m1>")
}
