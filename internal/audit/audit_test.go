package audit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

func final(t *testing.T, r *rig) Result {
	t.Helper()
	res, err := r.a.Final(context.Background(), r.server)
	if err != nil {
		t.Fatalf("Final: %v", err)
	}
	return res
}

func wantUnconverged(t *testing.T, res Result, k ChangeKind, want map[Reason]int) {
	t.Helper()
	got := res.Convergence[k].Unconverged
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unconverged %s = %v, want %v", k, got, want)
	}
}

func TestCompare(t *testing.T) {
	m := func(id, folder string, f view.Flags) view.Message {
		return view.Message{ID: id, Folder: folder, Flags: f}
	}
	synced := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	snap := func(ms ...view.Message) view.Snapshot {
		s := view.Snapshot{Messages: map[string]view.Message{}, Synced: synced}
		for _, x := range ms {
			s.Messages[x.ID] = x
		}
		return s
	}
	tests := []struct {
		name  string
		views []view.Snapshot
		want  UserDivergence
	}{
		{"none", nil, UserDivergence{}},
		{"single device", []view.Snapshot{snap(m("a", "INBOX", 0), m("b", "Sent", view.Seen))}, UserDivergence{Union: 2}},
		{"empty union", []view.Snapshot{snap(), snap()}, UserDivergence{}},
		{"identical", []view.Snapshot{snap(m("a", "INBOX", view.Seen)), snap(m("a", "INBOX", view.Seen))}, UserDivergence{Union: 1}},
		{"presence", []view.Snapshot{snap(m("a", "INBOX", 0)), snap(m("b", "INBOX", 0)), snap(m("a", "INBOX", 0), m("b", "INBOX", 0))},
			UserDivergence{Union: 2, Divergent: 2, ByDimension: Dimensions{Presence: 2}}},
		{"folder", []view.Snapshot{snap(m("a", "INBOX", 0)), snap(m("a", "Archive", 0))},
			UserDivergence{Union: 1, Divergent: 1, ByDimension: Dimensions{Folder: 1}}},
		{"flags", []view.Snapshot{snap(m("a", "INBOX", view.Seen)), snap(m("a", "INBOX", view.Seen|view.Answered))},
			UserDivergence{Union: 1, Divergent: 1, ByDimension: Dimensions{Flags: 1}}},
		{"untracked flag bits ignored", []view.Snapshot{snap(m("a", "INBOX", view.Seen)), snap(m("a", "INBOX", view.Seen|1<<7))},
			UserDivergence{Union: 1}},
		{"several dimensions count once", []view.Snapshot{snap(m("a", "INBOX", 0)), snap(m("a", "Trash", view.Seen)), snap()},
			UserDivergence{Union: 1, Divergent: 1, ByDimension: Dimensions{Presence: 1, Folder: 1, Flags: 1}}},
		{"folders compared by role", []view.Snapshot{snap(m("a", "Junk", 0), m("b", "Sent", view.Seen)), snap(m("a", "INBOX.Junk", 0), m("b", "Sent Items", view.Seen))},
			UserDivergence{Union: 2}},
		{"only in later views", []view.Snapshot{snap(), snap(m("x", "INBOX", 0)), snap(m("x", "Junk", 0))},
			UserDivergence{Union: 1, Divergent: 1, ByDimension: Dimensions{Presence: 1, Folder: 1}}},
		// Devices that never completed a sync show nothing: no message
		// diverges, and the user is not converged (unsynced).
		{"never synced", []view.Snapshot{neverSynced(), neverSynced()}, UserDivergence{Unsynced: true}},
		{"one device never synced", []view.Snapshot{snap(), neverSynced()}, UserDivergence{Unsynced: true}},
		{"single device never synced", []view.Snapshot{neverSynced()}, UserDivergence{Unsynced: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compare(tt.views); got != tt.want {
				t.Errorf("Compare = %+v, want %+v", got, tt.want)
			}
			if got, want := Compare(tt.views).Converged(), tt.want.Divergent == 0 && !tt.want.Unsynced; got != want {
				t.Errorf("Converged = %v, want %v", got, want)
			}
		})
	}
}

// neverSynced is the view of a device that never completed a sync
// (view.Snapshot.Synced zero): it shows nothing.
func neverSynced() view.Snapshot { return view.Snapshot{Messages: map[string]view.Message{}} }

// TestUsersConvergedCountsUnsynced: a group's users converged are those
// with no divergent message whose every device completed a sync; a user
// with a device that never synced is counted apart (UnsyncedUsers), not
// converged. Before 2026-12-05 a group of users whose devices could not
// log in read 100 % converged.
func TestUsersConvergedCountsUnsynced(t *testing.T) {
	synced := view.Snapshot{Messages: map[string]view.Message{}, Synced: time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)}
	var d Divergence
	d.add(Compare([]view.Snapshot{synced, synced}), +1)
	d.add(Compare([]view.Snapshot{synced, neverSynced()}), +1)
	d.add(Compare([]view.Snapshot{neverSynced(), neverSynced()}), +1)
	d.add(Compare([]view.Snapshot{synced}), +1)
	if d.Users != 4 || d.ConvergedUsers != 2 || d.UnsyncedUsers != 2 || d.UsersConvergedRatio() != 0.5 {
		t.Errorf("users %d, converged %d (%.2f), unsynced %d; want 4, 2 (0.50), 2", d.Users, d.ConvergedUsers, d.UsersConvergedRatio(), d.UnsyncedUsers)
	}
	d.add(Compare([]view.Snapshot{synced, neverSynced()}), -1)
	if d.Users != 3 || d.ConvergedUsers != 2 || d.UnsyncedUsers != 1 {
		t.Errorf("after removing one: users %d, converged %d, unsynced %d; want 3, 2, 1", d.Users, d.ConvergedUsers, d.UnsyncedUsers)
	}
	// An IMAP device that synced INBOX, and has not yet synced a folder
	// it listed since, has a zero Synced (the earliest of its folders'
	// when every one synced): it synced, so its user is not unsynced.
	newFolder := view.Snapshot{Messages: map[string]view.Message{}, FolderSynced: map[string]time.Time{"INBOX": synced.Synced}}
	if u := Compare([]view.Snapshot{synced, newFolder}); u.Unsynced {
		t.Errorf("a device that synced INBOX, a new folder not yet: unsynced %+v, want synced", u)
	}
}

// IMAP-only devices converge to ratio 0, with lags measured to the
// devices' syncs.
func TestIMAPOnlyConverges(t *testing.T) {
	r := newRig("u1", "imap", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 100})
	pc, phone := r.dev["u1/pc"], r.dev["u1/phone"]
	r.server.put("u1", "<m1>", "INBOX", 0)
	r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})

	r.clock.set(time.Minute)
	pc.put("<m1>", "INBOX", 0)
	pc.sync(t0.Add(time.Minute))
	r.a.Touch("u1")
	r.a.Audit()
	st := r.a.State()
	if got := st.Groups["imap"]; got.Divergent != 1 || got.ByDimension.Presence != 1 || got.UsersConvergedRatio() != 0 {
		t.Fatalf("mid-run divergence = %+v, want 1 presence-divergent message", got)
	}
	if ks := st.Changes[Deliver]; ks.Pending != 1 || ks.Unconverged[ReasonNotSyncedYet] != 1 {
		t.Fatalf("mid-run deliver state = %+v, want pending not-synced-yet", ks)
	}

	r.clock.set(2 * time.Minute)
	pc.put("<m1>", "INBOX", view.Seen)
	r.server.put("u1", "<m1>", "INBOX", view.Seen)
	r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Read, MessageID: "<m1>", At: t0.Add(2 * time.Minute), Flags: view.Seen, Published: true})

	r.clock.set(6 * time.Minute)
	phone.put("<m1>", "INBOX", view.Seen)
	phone.sync(t0.Add(5 * time.Minute))
	r.a.Touch("u1")
	r.a.Audit()

	st = r.a.State()
	if d := st.Overall; d.Divergent != 0 || d.Ratio() != 0 || d.UsersConvergedRatio() != 1 || d.Union != 1 {
		t.Errorf("final divergence = %+v, want converged", d)
	}
	res := final(t, r)
	for _, k := range []ChangeKind{Deliver, Read} {
		if kr := res.Convergence[k]; kr.Changes != 1 || kr.Converged != 1 {
			t.Errorf("%s = %+v, want 1 converged", k, kr)
		}
		wantUnconverged(t, res, k, nil)
	}
	if got, want := res.Convergence[Deliver].Lags, []time.Duration{5 * time.Minute}; !reflect.DeepEqual(got, want) {
		t.Errorf("deliver lags = %v, want %v", got, want)
	}
	if got, want := res.Convergence[Read].Lags, []time.Duration{3 * time.Minute}; !reflect.DeepEqual(got, want) {
		t.Errorf("read lags = %v, want %v", got, want)
	}
	if len(r.lags) != 2 {
		t.Errorf("OnConverged called %d times, want 2", len(r.lags))
	}
	if res.Lost != 0 || res.Delivered != 1 || res.Users != 1 || res.Devices != 2 {
		t.Errorf("result = lost %d delivered %d users %d devices %d", res.Lost, res.Delivered, res.Users, res.Devices)
	}
}

// A POP3 PC that deletes after download leaves the phone without the
// message: deleted-from-server, whether or not the phone synced since.
func TestPOP3DeleteAfterDownload(t *testing.T) {
	for _, phoneSynced := range []bool{true, false} {
		t.Run(fmt.Sprintf("phone synced %v", phoneSynced), func(t *testing.T) {
			r := newRig("u1", "pop3", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 100})
			r.server.put("u1", "<m1>", "INBOX", 0)
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})
			r.clock.set(time.Minute)
			r.dev["u1/pc"].put("<m1>", "INBOX", 0)
			r.dev["u1/pc"].sync(t0.Add(time.Minute))
			r.server.del("u1", "<m1>") // DELE after RETR
			if phoneSynced {
				r.clock.set(10 * time.Minute)
				r.dev["u1/phone"].sync(t0.Add(10 * time.Minute))
			}
			res := final(t, r)
			wantUnconverged(t, res, Deliver, map[Reason]int{ReasonDeletedFromServer: 1})
			if d := res.Groups["pop3"].Divergence; d.ByDimension.Presence != 1 || d.Ratio() != 1 {
				t.Errorf("divergence = %+v, want presence 1 ratio 1", d)
			}
			if res.Lost != 0 {
				t.Errorf("lost = %d, want 0 (the PC has it)", res.Lost)
			}
		})
	}
}

// POP3 leave-on-server plus an IMAP phone: presence converges, read flags
// do not.
func TestPOP3LeaveOnServerFlags(t *testing.T) {
	r := newRig("u1", "mixed", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 100})
	pc, phone := r.dev["u1/pc"], r.dev["u1/phone"]
	for _, id := range []string{"<m1>", "<m2>"} {
		r.server.put("u1", id, "INBOX", 0)
		r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
		pc.put(id, "INBOX", 0)
		phone.put(id, "INBOX", 0)
	}
	r.clock.set(time.Minute)
	pc.sync(t0.Add(time.Minute))
	phone.sync(t0.Add(time.Minute))
	r.a.Audit()

	r.clock.set(2 * time.Minute)
	pc.put("<m1>", "INBOX", view.Seen) // local flag only
	r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Read, MessageID: "<m1>", At: r.clock.Now(), Flags: view.Seen})
	phone.put("<m2>", "INBOX", view.Seen)
	r.server.put("u1", "<m2>", "INBOX", view.Seen)
	r.a.Record(Change{User: "u1", Device: "u1/phone", Kind: Read, MessageID: "<m2>", At: r.clock.Now(), Flags: view.Seen, Published: true})

	r.clock.set(30 * time.Minute)
	pc.sync(t0.Add(30 * time.Minute))
	phone.sync(t0.Add(30 * time.Minute))
	res := final(t, r)
	wantUnconverged(t, res, Deliver, nil)
	wantUnconverged(t, res, Read, map[Reason]int{ReasonPOP3LocalOnly: 1, ReasonFlagsNotSynced: 1})
	d := res.Overall
	if d.ByDimension.Presence != 0 || d.ByDimension.Flags != 2 || d.Divergent != 2 {
		t.Errorf("divergence = %+v, want 2 flag-divergent, 0 presence", d)
	}
}

// Mail sent from a POP3 device never appears in the other devices' Sent.
func TestPOP3SentStaysLocal(t *testing.T) {
	r := newRig("u1", "mixed", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 100}, devDef{"web", "imap", 0})
	r.dev["u1/pc"].put("<s1>", "Sent", view.Seen)
	r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0, Folder: "Sent"})
	r.clock.set(time.Hour)
	r.dev["u1/phone"].sync(t0.Add(time.Hour))
	r.dev["u1/web"].sync(t0.Add(time.Hour))
	res := final(t, r)
	wantUnconverged(t, res, Send, map[Reason]int{ReasonPOP3LocalOnly: 1})
	for _, id := range []string{"u1/phone", "u1/web"} {
		if _, ok := r.dev[id].View().Messages["<s1>"]; ok {
			t.Errorf("%s shows the POP3 device's sent mail", id)
		}
	}
	if res.Sent != 1 || res.Lost != 0 {
		t.Errorf("sent %d lost %d, want 1 and 0", res.Sent, res.Lost)
	}
	if d := res.Overall; d.ByDimension.Presence != 1 {
		t.Errorf("presence divergence = %d, want 1", d.ByDimension.Presence)
	}
}

// An IMAP send whose copy to Sent was never stored (the action stayed
// incomplete) is action-incomplete on the other devices, not a finding
// about them or the server.
func TestSendIncomplete(t *testing.T) {
	r := newRig("u1", "imap", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 100})
	r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s2>", At: t0, Folder: "Sent", Published: true, Incomplete: true})
	r.clock.set(time.Hour)
	r.dev["u1/pc"].sync(t0.Add(time.Hour))
	r.dev["u1/phone"].sync(t0.Add(time.Hour))
	res := final(t, r)
	wantUnconverged(t, res, Send, map[Reason]int{ReasonActionIncomplete: 1})
	if res.Lost != 0 {
		t.Errorf("lost %d: an incomplete send is not lost mail", res.Lost)
	}
}

// An incomplete send that a resume finished (a Completes change) is no
// longer action-incomplete: it converges, or not, for the reasons of a
// complete send, and its copy missing everywhere is lost mail again. The
// Completes change counts as no change of its own.
func TestSendCompleted(t *testing.T) {
	for _, tt := range []struct {
		name      string
		completes bool
		// stored: the copy is in Sent on the server; synced: the phone
		// synced after the send.
		stored, synced bool
		want           map[Reason]int
		lost           int
	}{
		{"never finished", false, false, true, map[Reason]int{ReasonActionIncomplete: 1}, 0},
		{"finished, phone not synced since", true, true, false, map[Reason]int{ReasonNotSyncedYet: 1}, 0},
		{"finished, phone synced and not showing it", true, true, true, map[Reason]int{ReasonNotShown: 1}, 0},
		{"finished, copy gone everywhere", true, false, true, map[Reason]int{ReasonLost: 1}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "imap", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s3>", At: t0, Folder: "Sent", Published: true, Incomplete: true})
			if tt.completes {
				r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s3>", At: t0.Add(time.Minute), Completes: true})
			}
			if tt.stored {
				r.server.put("u1", "<s3>", "Sent", view.Seen)
			}
			// The phone shows Sent, with an earlier copy.
			r.server.put("u1", "<s0>", "Sent", view.Seen)
			r.dev["u1/phone"].put("<s0>", "Sent", view.Seen)
			r.clock.set(time.Hour)
			r.dev["u1/pc"].sync(t0.Add(time.Hour))
			if tt.synced {
				r.dev["u1/phone"].sync(t0.Add(time.Hour))
			}
			res := final(t, r)
			wantUnconverged(t, res, Send, tt.want)
			if kr := res.Convergence[Send]; kr.Changes != 1 || res.Sent != 1 {
				t.Errorf("%d send changes, %d sent; want 1 and 1 (Completes is no change)", kr.Changes, res.Sent)
			}
			if res.Lost != tt.lost {
				t.Errorf("lost %d, want %d", res.Lost, tt.lost)
			}
		})
	}
}

// A delivery whose fate the server never told (Change.Unanswered) is no
// change: Final sorts it by what the end shows — stored when the server
// or a device has the message or a person acted on it, not stored when
// nothing does and the server's state was read, unchecked otherwise —
// and never counts it as lost mail. A device's submission's (Submitted)
// is sorted apart from the injector's.
func TestUnanswered(t *testing.T) {
	for _, tt := range []struct {
		name string
		// onServer, onPhone: where the message is at the end; deleted: a
		// person deleted it on the pc (expunged); unread: the server's
		// state cannot be read.
		onServer, onPhone, deleted, unread bool
		want                               Unanswered
	}{
		{"on the server", true, false, false, false, Unanswered{Stored: 1}},
		{"on a device alone", false, true, false, false, Unanswered{Stored: 1}},
		{"deleted by the person", false, false, true, false, Unanswered{Stored: 1}},
		{"nowhere", false, false, false, false, Unanswered{NotStored: 1}},
		{"nowhere, server unread", false, false, false, true, Unanswered{Unchecked: 1}},
	} {
		for _, submitted := range []bool{false, true} {
			name := tt.name
			if submitted {
				name += "/submitted"
			}
			t.Run(name, func(t *testing.T) {
				r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
				r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<u1>", At: t0, Folder: "INBOX", Published: true, Unanswered: true, Submitted: submitted})
				if tt.onServer {
					r.server.put("u1", "<u1>", "INBOX", 0)
				}
				if tt.onPhone {
					r.dev["u1/phone"].put("<u1>", "INBOX", 0)
				}
				if tt.deleted {
					r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Delete, MessageID: "<u1>", At: t0.Add(time.Minute), Published: true})
				}
				if tt.unread {
					r.server.fail = errors.New("down")
				}
				r.clock.set(time.Hour)
				r.dev["u1/pc"].sync(t0.Add(time.Hour))
				r.dev["u1/phone"].sync(t0.Add(time.Hour))
				res, _ := r.a.Final(context.Background(), r.server)
				got, other := res.Unanswered, res.SubmissionUnanswered
				if submitted {
					got, other = other, got
				}
				if got != tt.want || other != (Unanswered{}) {
					t.Errorf("unanswered %+v, submissions' %+v; want %+v in the %s's", res.Unanswered, res.SubmissionUnanswered, tt.want,
						map[bool]string{false: "injector", true: "submissions"}[submitted])
				}
				if res.Lost != 0 || res.Delivered != 0 || res.Convergence[Deliver].Changes != 0 {
					t.Errorf("lost %d, delivered %d, %d deliver changes: want none (no change)", res.Lost, res.Delivered, res.Convergence[Deliver].Changes)
				}
			})
		}
	}
}

// Lost mail is 0 on a correct server, and a server that drops a message is
// caught.
func TestLostMail(t *testing.T) {
	for _, tt := range []struct {
		name string
		drop string
		want []LostMessage
	}{
		{"correct server", "", nil},
		{"server drops one", "<m2>", []LostMessage{{"u1", "<m2>"}}},
		{"server drops a deleted one", "<m3>", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			for _, id := range []string{"<m1>", "<m2>", "<m3>"} {
				r.server.put("u1", id, "INBOX", 0)
				r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
			}
			r.server.put("u1", "<s1>", "Sent", view.Seen)
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0, Folder: "Sent", Published: true})
			// The person deletes m3; it is expunged.
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Delete, MessageID: "<m3>", At: t0, Published: true})
			r.server.del("u1", "<m3>")
			r.server.drop = tt.drop
			res := final(t, r)
			if res.Lost != len(tt.want) || !reflect.DeepEqual(res.LostMessages, tt.want) {
				t.Errorf("lost = %d %v, want %v", res.Lost, res.LostMessages, tt.want)
			}
			if tt.want != nil {
				wantUnconverged(t, res, Deliver, map[Reason]int{ReasonLost: 1, ReasonNotSyncedYet: 1, ReasonSuperseded: 1})
			}
			if g := res.Groups["g"]; g.Lost != len(tt.want) {
				t.Errorf("group lost = %d, want %d", g.Lost, len(tt.want))
			}
		})
	}
}

func TestReasons(t *testing.T) {
	t.Run("outside-window", func(t *testing.T) {
		r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 2})
		for i, id := range []string{"<m1>", "<m2>", "<m3>"} {
			at := t0.Add(time.Duration(i) * time.Minute)
			r.server.put("u1", id, "INBOX", 0)
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: at, Folder: "INBOX"})
			r.dev["u1/pc"].put(id, "INBOX", 0)
			if i > 0 {
				r.dev["u1/phone"].put(id, "INBOX", 0)
			}
		}
		r.clock.set(time.Hour)
		r.dev["u1/pc"].sync(t0.Add(3 * time.Minute))
		r.dev["u1/phone"].sync(t0.Add(3 * time.Minute))
		res := final(t, r)
		wantUnconverged(t, res, Deliver, map[Reason]int{ReasonOutsideWindow: 1})
		if kr := res.Convergence[Deliver]; kr.Converged != 2 {
			t.Errorf("converged = %d, want 2", kr.Converged)
		}
	})
	t.Run("superseded by a delete", func(t *testing.T) {
		r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
		r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})
		r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Read, MessageID: "<m1>", At: t0.Add(time.Second), Flags: view.Seen, Published: true})
		r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Delete, MessageID: "<m1>", At: t0.Add(2 * time.Second), Published: true})
		r.clock.set(time.Hour)
		res := final(t, r)
		wantUnconverged(t, res, Deliver, map[Reason]int{ReasonSuperseded: 1})
		wantUnconverged(t, res, Read, map[Reason]int{ReasonSuperseded: 1})
		if kr := res.Convergence[Delete]; kr.Converged != 1 {
			t.Errorf("delete = %+v, want converged (the phone never showed it)", kr)
		}
		if res.Lost != 0 {
			t.Errorf("lost = %d, want 0 (deleted by the person)", res.Lost)
		}
	})
	t.Run("a move overtakes a delivery", func(t *testing.T) {
		r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
		r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})
		r.dev["u1/pc"].put("<m1>", "INBOX", 0)
		r.a.Audit()
		r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Move, MessageID: "<m1>", At: t0.Add(time.Minute), Folder: "Archive", Published: true})
		r.dev["u1/pc"].put("<m1>", "Archive", 0)
		r.dev["u1/phone"].put("<m1>", "Archive", 0)
		r.server.put("u1", "<m1>", "Archive", 0)
		r.clock.set(time.Hour)
		res := final(t, r)
		for _, k := range []ChangeKind{Deliver, Move} {
			if kr := res.Convergence[k]; kr.Converged != 1 {
				t.Errorf("%s = %+v, want converged", k, kr)
			}
		}
	})
	t.Run("folder-not-synced and kept-locally", func(t *testing.T) {
		r := newRig("u1", "g", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 0})
		for _, id := range []string{"<m1>", "<m2>"} {
			r.server.put("u1", id, "INBOX", 0)
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
			r.dev["u1/pc"].put(id, "INBOX", 0)
		}
		r.dev["u1/phone"].put("<m1>", "Archive", 0)
		r.server.put("u1", "<m1>", "Archive", 0)
		r.a.Record(Change{User: "u1", Device: "u1/phone", Kind: Move, MessageID: "<m1>", At: t0.Add(time.Minute), Folder: "Archive", Published: true})
		r.server.del("u1", "<m2>")
		r.a.Record(Change{User: "u1", Device: "u1/phone", Kind: Delete, MessageID: "<m2>", At: t0.Add(time.Minute), Published: true})
		r.clock.set(time.Hour)
		r.dev["u1/pc"].sync(t0.Add(time.Hour))
		r.dev["u1/phone"].sync(t0.Add(time.Hour))
		res := final(t, r)
		wantUnconverged(t, res, Move, map[Reason]int{ReasonFolderNotSynced: 1})
		wantUnconverged(t, res, Delete, map[Reason]int{ReasonKeptLocally: 1})
	})
	// A POP3 device reads only the server's INBOX, whatever its own
	// folders hold: a delivery the phone deleted before the PC downloaded
	// it is folder-not-synced on the PC, though the PC's own Trash holds
	// another message the server has in Trash (it was not-shown, a
	// finding about the device).
	t.Run("folder-not-synced on a POP3 device with its own Trash", func(t *testing.T) {
		r := newRig("u1", "g", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 0})
		for _, id := range []string{"<m1>", "<m2>"} {
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
			r.server.put("u1", id, "Trash", view.Seen)
			r.dev["u1/phone"].put(id, "Trash", view.Seen)
			r.a.Record(Change{User: "u1", Device: "u1/phone", Kind: Delete, MessageID: id, At: t0.Add(time.Minute), Folder: "Trash", Published: true})
		}
		r.dev["u1/pc"].put("<m2>", "Trash", view.Seen)
		r.clock.set(time.Hour)
		r.dev["u1/pc"].sync(t0.Add(time.Hour))
		r.dev["u1/phone"].sync(t0.Add(time.Hour))
		res := final(t, r)
		wantUnconverged(t, res, Delete, map[Reason]int{ReasonFolderNotSynced: 1})
	})
	t.Run("server-disagrees", func(t *testing.T) {
		r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
		r.server.put("u1", "<m1>", "INBOX", 0)
		r.dev["u1/pc"].put("<m1>", "INBOX", view.Flagged)
		r.dev["u1/phone"].put("<m1>", "INBOX", 0)
		r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Flag, MessageID: "<m1>", At: t0, Flags: view.Flagged, Published: true})
		r.clock.set(time.Hour)
		r.dev["u1/phone"].sync(t0.Add(time.Hour))
		res := final(t, r)
		wantUnconverged(t, res, Flag, map[Reason]int{ReasonServerDisagrees: 1})
	})
}

func TestFinalErrors(t *testing.T) {
	r := newRig("u1", "g", devDef{"pc", "imap", 0})
	r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})
	r.server.fail = errors.New("connection refused")
	res, err := r.a.Final(context.Background(), r.server)
	if err == nil || !errors.Is(err, r.server.fail) {
		t.Errorf("Final with failing truth: err = %v", err)
	}
	if res.Users != 1 || res.Delivered != 1 || res.UsersUnchecked != 1 || res.ServerChecked {
		t.Errorf("Final with failing truth = %+v, want the devices audited, 1 user unchecked", res)
	}
	r.server.fail = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err = r.a.Final(ctx, r.server)
	if !errors.Is(err, context.Canceled) || res.Users != 1 || res.UsersUnchecked != 1 {
		t.Errorf("Final with cancelled ctx = %+v, %v", res, err)
	}
	res, err = r.a.Final(context.Background(), nil)
	if err != nil || res.ServerChecked || res.UsersUnchecked != 1 {
		t.Errorf("Final without truth = %+v, %v", res, err)
	}
}

// TestServerUnreadable: when one user's server state cannot be read, only
// that user's changes are classified without it, and lost mail is counted
// for the others.
func TestServerUnreadable(t *testing.T) {
	for _, tt := range []struct {
		name        string
		failUser    string
		noTruth     bool
		wantReason  map[string]Reason // by user, of the unconverged delivery
		wantLost    int
		wantChecked bool
		wantErr     bool
	}{
		{name: "all read", wantReason: map[string]Reason{"u1": ReasonNotShown, "u2": ReasonNotShown}, wantLost: 2, wantChecked: true},
		{name: "u2 unreadable", failUser: "u2", wantReason: map[string]Reason{"u1": ReasonNotShown, "u2": ReasonServerUnreadable}, wantLost: 1, wantChecked: true, wantErr: true},
		{name: "no truth", noTruth: true, wantReason: map[string]Reason{"u1": ReasonServerUnreadable, "u2": ReasonServerUnreadable}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			r.addUser("u2", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			for _, u := range []string{"u1", "u2"} {
				// m0: on the server and both devices (they read INBOX).
				r.server.put(u, "<m0>", "INBOX", 0)
				r.dev[u+"/pc"].put("<m0>", "INBOX", 0)
				r.dev[u+"/phone"].put("<m0>", "INBOX", 0)
				// m1: on the server, on the PC, not on the synced phone.
				r.server.put(u, "<m1>", "INBOX", 0)
				r.a.Record(Change{User: u, Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})
				r.dev[u+"/pc"].put("<m1>", "INBOX", 0)
				// m2: delivered, then on no device and not on the server.
				r.a.Record(Change{User: u, Kind: Deliver, MessageID: "<m2>", At: t0, Folder: "INBOX"})
				r.dev[u+"/pc"].sync(t0.Add(time.Hour))
				r.dev[u+"/phone"].sync(t0.Add(time.Hour))
			}
			r.clock.set(time.Hour)
			r.server.fail, r.server.failUser = errors.New("stalled"), tt.failUser
			if tt.failUser == "" {
				r.server.fail = nil
			}
			var truth Truth = r.server
			if tt.noTruth {
				truth = nil
			}
			res, err := r.a.Final(context.Background(), truth)
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			got := map[string]Reason{}
			for _, ex := range res.Examples {
				if ex.Change.MessageID == "<m1>" {
					got[ex.Change.User] = ex.Reason
				}
			}
			if !reflect.DeepEqual(got, tt.wantReason) {
				t.Errorf("reasons of <m1> by user = %v, want %v", got, tt.wantReason)
			}
			wantUnchecked := 0
			if tt.failUser != "" {
				wantUnchecked = 1
			}
			if tt.noTruth {
				wantUnchecked = 2
			}
			if res.Lost != tt.wantLost || res.UsersUnchecked != wantUnchecked || res.ServerChecked != tt.wantChecked {
				t.Errorf("lost %d, unchecked %d, server checked %v; want %d, %d, %v",
					res.Lost, res.UsersUnchecked, res.ServerChecked, tt.wantLost, wantUnchecked, tt.wantChecked)
			}
			if res.Users != 2 || res.Delivered != 4 {
				t.Errorf("users %d delivered %d, want 2 and 4", res.Users, res.Delivered)
			}
		})
	}
}

// Group ratios are Σdivergent/Σunion, and incremental audits agree with a
// fresh full audit.
func TestIncrementalMatchesFull(t *testing.T) {
	r := newRig("seed", "g0", devDef{"d0", "imap", 0})
	users := 40
	for u := range users {
		r.addUser(fmt.Sprintf("u%d", u), fmt.Sprintf("g%d", u%3), devDef{"a", "imap", 0}, devDef{"b", "imap", 0}, devDef{"c", "pop3", 0})
	}
	fill := func(u, round int) {
		for d, dev := range []string{"a", "b", "c"} {
			fd := r.dev[fmt.Sprintf("u%d/%s", u, dev)]
			for i := range 10 {
				id := fmt.Sprintf("<u%d-%d>", u, i)
				switch {
				case (i+d+round)%7 == 0:
					fd.del(id)
				case (i*d+u+round)%5 == 0:
					fd.put(id, "Archive", view.Seen)
				default:
					fd.put(id, "INBOX", 0)
				}
			}
		}
	}
	for u := range users {
		fill(u, 0)
	}
	r.a.Audit()
	for u := 0; u < users; u += 7 {
		fill(u, 1)
		r.a.Touch(fmt.Sprintf("u%d", u))
	}
	r.a.Audit()
	got := r.a.State()

	fresh := New(Options{})
	r.a.usersMu.RLock()
	for _, u := range r.a.order {
		fresh.AddUser(u.spec)
	}
	r.a.usersMu.RUnlock()
	fresh.Audit()
	want := fresh.State()
	if !reflect.DeepEqual(got.Groups, want.Groups) || got.Overall != want.Overall {
		t.Fatalf("incremental state\n%+v\nfull state\n%+v", got.Groups, want.Groups)
	}
	var div, union int
	for name, g := range got.Groups {
		if name == "g1" {
			div, union = g.Divergent, g.Union
		}
	}
	if union == 0 || got.Groups["g1"].Ratio() != float64(div)/float64(union) {
		t.Errorf("g1 ratio %v, want %d/%d", got.Groups["g1"].Ratio(), div, union)
	}
}

// Record and Touch from many goroutines while audits run (meant for -race).
func TestConcurrentUse(t *testing.T) {
	r := newRig("u0", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
	for u := 1; u < 8; u++ {
		r.addUser(fmt.Sprintf("u%d", u), "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
	}
	const perUser = 50
	var wg sync.WaitGroup
	for u := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("u%d", u)
			for i := range perUser {
				id := fmt.Sprintf("<%s-%d>", name, i)
				r.dev[name+"/pc"].put(id, "INBOX", 0)
				r.dev[name+"/phone"].put(id, "INBOX", 0)
				r.a.Record(Change{User: name, Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
				r.a.Touch(name)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			r.a.Audit()
			_ = r.a.State()
		}
	}()
	wg.Wait()
	<-done
	r.a.Audit()
	st := r.a.State()
	if ks := st.Changes[Deliver]; ks.Changes != 8*perUser || ks.Converged != 8*perUser {
		t.Errorf("deliver = %+v, want %d converged", ks, 8*perUser)
	}
}

func TestQuantile(t *testing.T) {
	lags := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.99, 10}, {0.1, 1}, {0, 1}, {1, 10}} {
		if got, ok := (KindResult{Lags: lags}).Quantile(tt.q); !ok || got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if _, ok := (KindResult{}).Quantile(0.5); ok {
		t.Error("Quantile of no lags reported ok")
	}
}

func TestStateCountsUsers(t *testing.T) {
	a := New(Options{})
	a.AddUser(UserSpec{Name: "a", Group: "g1"})
	a.Record(Change{User: "b", Kind: Deliver, MessageID: "<m>", At: t0, Folder: "INBOX"})
	st := a.State()
	if st.Groups["g1"].Users != 1 || st.Groups[""].Users != 1 || st.Overall.Users != 2 || st.Overall.ConvergedUsers != 2 {
		t.Fatalf("before AddUser(b): %+v", st)
	}
	a.AddUser(UserSpec{Name: "b", Group: "g2"})
	a.AddUser(UserSpec{Name: "a", Group: "g2"}) // moves to another group
	a.Audit()
	st = a.State()
	if _, ok := st.Groups[""]; ok || st.Groups["g2"].Users != 2 || st.Groups["g1"].Users != 0 || st.Overall.Users != 2 {
		t.Fatalf("after AddUser: %+v", st.Groups)
	}
	if ks := st.Changes[Deliver]; ks.Changes != 1 || ks.Converged != 1 {
		t.Errorf("deliver to a user without devices = %+v, want trivially converged", ks)
	}
}

func TestExamples(t *testing.T) {
	r := newRig("u1", "g", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 0})
	for i := range MaxExamples + 2 {
		id := fmt.Sprintf("<r%d>", i)
		r.server.put("u1", id, "INBOX", 0)
		r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Read, MessageID: id, At: t0, Flags: view.Seen})
	}
	res := final(t, r)
	if len(res.Examples) != MaxExamples {
		t.Fatalf("%d examples, want %d", len(res.Examples), MaxExamples)
	}
	if e := res.Examples[0]; e.Reason != ReasonPOP3LocalOnly || e.Device != "u1/phone" || e.Change.Kind != Read {
		t.Errorf("example = %+v", e)
	}
}

// TestWaitingForSync: a change waits for a device until the device shows
// it or has completed a sync since the change; changes kept locally never
// wait.
func TestWaitingForSync(t *testing.T) {
	for _, tt := range []struct {
		name  string
		setup func(r *rig)
		want  int
	}{
		{"phone never synced", func(r *rig) {}, 1},
		{"phone synced before the change", func(r *rig) { r.dev["u1/phone"].sync(t0.Add(-time.Minute)) }, 1},
		{"phone synced since, without it", func(r *rig) { r.dev["u1/phone"].sync(t0.Add(time.Minute)) }, 0},
		{"phone shows it, not synced", func(r *rig) { r.dev["u1/phone"].put("<m1>", "INBOX", 0) }, 0},
		{"a local-only change too", func(r *rig) {
			r.dev["u1/phone"].sync(t0.Add(time.Minute))
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Flag, MessageID: "<m1>", At: t0.Add(2 * time.Minute), Flags: view.Flagged})
		}, 0},
		{"a later change the phone has not synced since", func(r *rig) {
			r.dev["u1/phone"].sync(t0.Add(time.Minute))
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Flag, MessageID: "<m1>", At: t0.Add(2 * time.Minute), Flags: view.Flagged, Published: true})
		}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX"})
			r.dev["u1/pc"].put("<m1>", "INBOX", 0)
			r.dev["u1/pc"].sync(t0.Add(time.Hour))
			r.clock.set(time.Hour)
			tt.setup(r)
			if got := r.a.WaitingForSync(); got != tt.want {
				t.Errorf("WaitingForSync = %d, want %d", got, tt.want)
			}
		})
	}
}

// On a server whose personal namespace has the prefix "INBOX." the engine's
// move to Junk and send (to Sent) land in INBOX.Junk and INBOX.Sent: the
// auditor compares folders by role, so they converge.
func TestFoldersByRole(t *testing.T) {
	r := newRig("u1", "imap", devDef{"pc", "imap", 0})
	pc := r.dev["u1/pc"]
	r.server.put("u1", "<m1>", "INBOX.Junk", 0)
	r.server.put("u1", "<s1>", "INBOX.Sent", view.Seen)
	r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "Junk"})
	r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0, Folder: "Sent", Published: true})
	r.clock.set(time.Minute)
	pc.put("<m1>", "INBOX.Junk", 0)
	pc.put("<s1>", "INBOX.Sent", view.Seen)
	pc.sync(t0.Add(time.Minute))
	r.a.Touch("u1")
	r.a.Audit()
	res := final(t, r)
	for _, k := range []ChangeKind{Deliver, Send} {
		if kr := res.Convergence[k]; kr.Changes != 1 || kr.Converged != 1 {
			t.Errorf("%s = %+v, want 1 converged", k, kr)
		}
		wantUnconverged(t, res, k, nil)
	}
	if res.Lost != 0 {
		t.Errorf("lost = %d, want 0", res.Lost)
	}
	// A folder of another role is still a disagreement.
	r2 := newRig("u1", "imap", devDef{"pc", "imap", 0})
	r2.server.put("u1", "<m1>", "INBOX.Trash", 0)
	r2.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "Junk"})
	r2.clock.set(time.Minute)
	r2.dev["u1/pc"].put("<m1>", "INBOX.Trash", 0)
	r2.dev["u1/pc"].sync(t0.Add(time.Minute))
	res = final(t, r2)
	if kr := res.Convergence[Deliver]; kr.Converged != 0 {
		t.Errorf("deliver to Junk shown in INBOX.Trash = %+v, want unconverged", kr)
	}
}

// POP3 read marking is read from the final state: messages a POP3 device
// downloaded that no person acted on over IMAP, by whether the server shows
// them \Seen.
func TestPOP3Marking(t *testing.T) {
	r := newRig("u1", "mixed", devDef{"pc", "pop3", 0}, devDef{"phone", "imap", 0})
	pc, phone := r.dev["u1/pc"], r.dev["u1/phone"]
	for _, id := range []string{"<m1>", "<m2>", "<m3>", "<m4>", "<m5>"} {
		r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: id, At: t0, Folder: "INBOX"})
	}
	r.server.put("u1", "<m1>", "INBOX", view.Seen) // downloaded, marked by the server
	r.server.put("u1", "<m2>", "INBOX", view.Seen) // read on the phone: not counted
	r.server.put("u1", "<m3>", "INBOX", 0)         // downloaded, not marked
	r.server.put("u1", "<m5>", "INBOX", 0)         // not downloaded: not counted
	// <m4> was downloaded and deleted from the server: not counted.
	r.clock.set(time.Minute)
	for _, id := range []string{"<m1>", "<m2>", "<m3>", "<m4>"} {
		pc.put(id, "INBOX", 0)
	}
	phone.put("<m2>", "INBOX", view.Seen)
	r.a.Record(Change{User: "u1", Device: "u1/phone", Kind: Read, MessageID: "<m2>", At: t0.Add(time.Minute), Flags: view.Seen, Published: true})
	pc.sync(t0.Add(time.Minute))
	phone.sync(t0.Add(time.Minute))
	res := final(t, r)
	if got, want := res.POP3Marking, (POP3Marking{Downloaded: 2, Seen: 1}); got != want {
		t.Errorf("POP3Marking = %+v, want %+v", got, want)
	}
}

func TestPOP3MarkingMarksSeen(t *testing.T) {
	for _, tc := range []struct {
		m            POP3Marking
		marks, known bool
	}{
		{POP3Marking{}, false, false},
		{POP3Marking{Downloaded: 10, Seen: 10}, true, true},
		{POP3Marking{Downloaded: 10, Seen: 9}, true, true},
		{POP3Marking{Downloaded: 10, Seen: 0}, false, true},
		{POP3Marking{Downloaded: 10, Seen: 1}, false, true},
		{POP3Marking{Downloaded: 10, Seen: 5}, false, false},
	} {
		if marks, known := tc.m.MarksSeen(); marks != tc.marks || known != tc.known {
			t.Errorf("%+v.MarksSeen() = %v, %v; want %v, %v", tc.m, marks, known, tc.marks, tc.known)
		}
	}
}

// A server with duplicate suppression (Cyrus) silently drops a second
// delivery of a Message-ID to the same mailbox: the first copy, filed to
// Archive meanwhile, is the message. Nothing is lost and the repeated
// delivery converges where the first copy is; on a server that keeps both
// copies (Dovecot) the devices show the INBOX copy and it converges too.
func TestRepeatedDelivery(t *testing.T) {
	for _, tc := range []struct {
		name       string
		serverHas  string // folder of the copy the devices and server show
		suppressed bool
	}{
		{"suppressed", "Archive", true},
		{"kept twice", "INBOX", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig("u1", "imap", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			pc, phone := r.dev["u1/pc"], r.dev["u1/phone"]
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0, Folder: "INBOX", Published: true})
			r.clock.set(time.Minute)
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Move, MessageID: "<m1>", At: t0.Add(time.Minute), Folder: "Archive", Published: true})
			r.clock.set(2 * time.Minute)
			r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m1>", At: t0.Add(2 * time.Minute), Folder: "INBOX", Published: true})
			r.clock.set(3 * time.Minute)
			r.server.put("u1", "<m1>", tc.serverHas, 0)
			pc.put("<m1>", tc.serverHas, 0)
			phone.put("<m1>", tc.serverHas, 0)
			pc.sync(t0.Add(3 * time.Minute))
			phone.sync(t0.Add(3 * time.Minute))
			r.a.Touch("u1")
			r.a.Audit()
			res := final(t, r)
			if res.Lost != 0 {
				t.Errorf("lost = %d (%v), want 0", res.Lost, res.LostMessages)
			}
			if kr := res.Convergence[Deliver]; kr.Changes != 2 || kr.Converged != 2 {
				t.Errorf("deliver = %+v, want 2 converged", kr)
			}
			wantUnconverged(t, res, Deliver, nil)
		})
	}
	// The person deleted the first copy; the server dropped the repeated
	// delivery: the message is gone, as the person wanted, not lost.
	r0 := newRig("u1", "imap", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
	r0.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m3>", At: t0, Folder: "INBOX", Published: true})
	r0.clock.set(time.Minute)
	r0.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Delete, MessageID: "<m3>", At: t0.Add(time.Minute), Published: true})
	r0.clock.set(2 * time.Minute)
	r0.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m3>", At: t0.Add(2 * time.Minute), Folder: "INBOX", Published: true})
	r0.clock.set(3 * time.Minute)
	for _, d := range []string{"u1/pc", "u1/phone"} {
		r0.dev[d].sync(t0.Add(3 * time.Minute))
	}
	res := final(t, r0)
	if res.Lost != 0 {
		t.Errorf("deleted then suppressed: lost = %d, want 0", res.Lost)
	}
	if got := res.Convergence[Deliver].Unconverged; got[ReasonLost] != 0 || got[ReasonDeletedFromServer] != 0 || got[ReasonSuperseded] != 2 {
		// The first delivery by the delete, the repeated one by the
		// server's suppression.
		t.Errorf("deleted then suppressed: unconverged deliver = %v, want superseded 2", got)
	}
	// A first delivery is still compared with its folder.
	r := newRig("u1", "imap", devDef{"pc", "imap", 0})
	r.a.Record(Change{User: "u1", Kind: Deliver, MessageID: "<m2>", At: t0, Folder: "INBOX", Published: true})
	r.clock.set(time.Minute)
	r.server.put("u1", "<m2>", "Archive", 0)
	r.dev["u1/pc"].put("<m2>", "Archive", 0)
	r.dev["u1/pc"].sync(t0.Add(time.Minute))
	if kr := final(t, r).Convergence[Deliver]; kr.Converged != 0 {
		t.Errorf("a first delivery shown in another folder converged: %+v", kr)
	}
}

// TestLagAtFolderSync: a device that syncs its folders apart shows a
// change at the start of its first sync since the change of the folder
// that shows it, even though another folder's last sync (its Synced, the
// earliest) is older than the change; a device that shows it with no sync
// since (one begun before the change read it) at once, not at the audit
// (before 2026-12-05: 10m, the audit's time, in the two "before it"
// cases). A delete that expunged the message shows at the first sync of
// the folder it was in (Change.From). A webmail reloads one folder other
// than INBOX per page load, a phone's round syncs its folders one by one:
// their Synced is older than most changes.
func TestLagAtFolderSync(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, tt := range []struct {
		name    string
		folders map[string]time.Time // nil: a device synced as a whole at synced
		synced  time.Time
		change  Change
		lag     time.Duration
	}{
		{"flag change, its folder synced after it", map[string]time.Time{"INBOX": at(12), "Archive": at(1)}, time.Time{},
			Change{Kind: Read, Flags: view.Seen}, 2 * time.Minute},
		{"flag change, its folder synced before it", map[string]time.Time{"INBOX": at(9), "Archive": at(1)}, time.Time{},
			Change{Kind: Read, Flags: view.Seen}, 0},
		{"folder change, its folder synced after it", map[string]time.Time{"INBOX": at(1), "Archive": at(15)}, time.Time{},
			Change{Kind: Move, Folder: "Archive"}, 5 * time.Minute},
		{"every folder synced after it", map[string]time.Time{"INBOX": at(14), "Archive": at(11)}, time.Time{},
			Change{Kind: Read, Flags: view.Seen}, 4 * time.Minute},
		{"device synced as a whole after it", nil, at(13), Change{Kind: Read, Flags: view.Seen}, 3 * time.Minute},
		{"device synced as a whole before it", nil, at(5), Change{Kind: Read, Flags: view.Seen}, 0},
		{"expunged: its folder's sync", map[string]time.Time{"INBOX": at(12), "Trash": at(11)}, time.Time{},
			Change{Kind: Delete, From: "Trash"}, time.Minute},
		{"expunged from a folder not named: the latest", map[string]time.Time{"INBOX": at(12), "Trash": at(11)}, time.Time{},
			Change{Kind: Delete}, 2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			c := tt.change
			c.User, c.Device, c.MessageID, c.At, c.Published = "u1", "u1/pc", "<m1>", at(10), true
			r.a.Record(c)
			phone := r.dev["u1/phone"]
			if tt.change.Kind != Delete {
				folder := "INBOX"
				if c.Folder != "" {
					folder = c.Folder
				}
				phone.put("<m1>", folder, c.Flags)
			}
			if tt.folders != nil {
				phone.syncFolders(tt.folders)
			} else {
				phone.sync(tt.synced)
			}
			r.clock.set(20 * time.Minute)
			r.a.Audit()
			if len(r.lags) != 1 || r.lags[0] != tt.lag {
				t.Errorf("lags %v, want [%v]", r.lags, tt.lag)
			}
		})
	}
}

// TestLagFromStored: a lag counts from when the server had the change
// (Change.Stored: the end of the action that made it), not from when the
// person began it: a send's writing time and the action's commands are
// not propagation. A change with no Done counts from At; a device whose
// sync began before the server had the change and still showed it adds
// no lag. Before 2026-12-04 lags counted from At, and a send's included
// its writing time.
func TestLagFromStored(t *testing.T) {
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, tt := range []struct {
		name     string
		change   Change
		folder   string    // where the phone shows <m1>
		synced   time.Time // the phone's last sync of every folder
		complete time.Time // when set, a resume stored the copy then (Completes)
		lag      time.Duration
	}{
		{"send written for 15m, shown at its next sync", Change{Kind: Send, Folder: "Sent", At: at(10), Done: at(25)}, "Sent", at(27), time.Time{}, 2 * time.Minute},
		{"read whose STORE took 30s", Change{Kind: Read, Flags: view.Seen, At: at(10), Done: at(10).Add(30 * time.Second)}, "INBOX", at(13), time.Time{}, 150 * time.Second},
		{"move without Done: from At", Change{Kind: Move, Folder: "Archive", At: at(10)}, "Archive", at(13), time.Time{}, 3 * time.Minute},
		{"reply, the phone's sync began before it ended", Change{Kind: Reply, Flags: view.Answered, At: at(10), Done: at(12)}, "INBOX", at(11), time.Time{}, 0},
		{"send completed by a resume", Change{Kind: Send, Folder: "Sent", At: at(10), Done: at(11), Incomplete: true}, "Sent", at(16), at(14), 2 * time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"phone", "imap", 0})
			c := tt.change
			c.User, c.Device, c.MessageID, c.Published = "u1", "u1/pc", "<m1>", true
			r.a.Record(c)
			if !tt.complete.IsZero() {
				r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<m1>", Done: tt.complete, Completes: true})
			}
			phone := r.dev["u1/phone"]
			phone.put("<m1>", tt.folder, c.Flags)
			phone.syncFolders(map[string]time.Time{"INBOX": tt.synced, tt.folder: tt.synced})
			r.clock.set(30 * time.Minute)
			r.a.Audit()
			if len(r.lags) != 1 || r.lags[0] != tt.lag {
				t.Errorf("lags %v, want [%v]", r.lags, tt.lag)
			}
		})
	}
}

// TestSyncedSinceTheServerHadIt: a send's copy reaches Sent at the end of
// the action (Change.Done), after the writing time; a device whose sync
// began in between, showing the draft, has not synced since the change:
// the change waits for it (an until-synced settle goes on) and is
// not-synced-yet, not folder-not-synced. A sync begun after the end
// counts, and the lag is from the end (Stored). Likewise the end of a
// resume that stored the copy (Completes).
func TestSyncedSinceTheServerHadIt(t *testing.T) {
	for _, tt := range []struct {
		name string
		// record records the send of <s1> on the pc.
		record func(r *rig)
		// synced is when the webmail's last sync of every folder began,
		// showing <s1> in Drafts.
		synced     time.Duration
		wantWait   int
		wantReason Reason
		// wantLag is the lag once the webmail's sync at 6m showed the
		// copy: from the end of the action, or of the resume.
		wantLag time.Duration
	}{
		{"synced while the person wrote", func(r *rig) {
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0, Done: t0.Add(2 * time.Minute), Folder: "Sent", Published: true})
		}, time.Minute, 1, ReasonNotSyncedYet, 4 * time.Minute},
		{"synced after the copy was stored", func(r *rig) {
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0, Done: t0.Add(2 * time.Minute), Folder: "Sent", Published: true})
		}, 3 * time.Minute, 0, ReasonFolderNotSynced, 4 * time.Minute},
		{"synced before a resume stored the copy", func(r *rig) {
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0, Done: t0.Add(time.Minute), Folder: "Sent", Published: true, Incomplete: true})
			r.a.Record(Change{User: "u1", Device: "u1/pc", Kind: Send, MessageID: "<s1>", At: t0.Add(5 * time.Minute), Done: t0.Add(5 * time.Minute), Completes: true})
		}, 3 * time.Minute, 1, ReasonNotSyncedYet, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"webmail", "imap", 0})
			r.server.put("u1", "<s1>", "Sent", view.Seen)
			tt.record(r)
			web := r.dev["u1/webmail"]
			web.put("<s1>", "Drafts", view.Seen)
			at := t0.Add(tt.synced)
			web.syncFolders(map[string]time.Time{"INBOX": at, "Drafts": at, "Sent": at})
			r.clock.set(10 * time.Minute)
			if got := r.a.WaitingForSync(); got != tt.wantWait {
				t.Errorf("WaitingForSync = %d, want %d", got, tt.wantWait)
			}
			wantUnconverged(t, final(t, r), Send, map[Reason]int{tt.wantReason: 1})

			// The webmail's next sync shows the copy in Sent.
			web.del("<s1>")
			web.put("<s1>", "Sent", view.Seen)
			later := t0.Add(6 * time.Minute)
			web.syncFolders(map[string]time.Time{"INBOX": later, "Drafts": later, "Sent": later})
			r.a.Touch("u1")
			if got := r.a.WaitingForSync(); got != 0 {
				t.Errorf("after the next sync: WaitingForSync = %d, want 0", got)
			}
			if len(r.lags) != 1 || r.lags[0] != tt.wantLag {
				t.Errorf("lags = %v, want [%v] (from when the server had the copy)", r.lags, tt.wantLag)
			}
		})
	}
}

// TestListNeededForUnknownFolders: a webmail lists its folders once a
// session (10 simulated minutes) and syncs the folders it knows more
// often; it has synced a change since its last folder list
// (view.Snapshot.Listed) only when the change needs no list: one into a
// folder it does not know (a move into a folder created after its list),
// or a flag change on a message in one, waits for its next list
// (not-synced-yet, counted by WaitingForSync); a flag change on a message
// in a folder it knows, a move into a known folder and a delete that
// expunged the message do not, and what the device still misses is
// classified at once (flags-not-synced, folder-not-synced, kept-locally),
// not after its next list. The change is at 1m; the webmail listed at
// listed and synced INBOX, Archive, Sent and Trash at 5m.
func TestListNeededForUnknownFolders(t *testing.T) {
	five := t0.Add(5 * time.Minute)
	known := map[string]time.Time{"INBOX": five, "Archive": five, "Sent": five, "Trash": five}
	withProjects := maps.Clone(known)
	withProjects["Projects"] = five
	for _, tt := range []struct {
		name   string
		listed time.Duration
		// synced are the webmail's folders' last syncs (default known).
		synced map[string]time.Time
		// changes are recorded at 1m on the pc, in order; the last is
		// the one checked.
		changes []Change
		// server is the message's place on the server at the end; web
		// the webmail's ("" it shows none).
		server, web          string
		serverFlags, webFlag view.Flags
		wantWait             int
		wantLive, wantFinal  Reason
	}{
		{name: "flag in a known folder", listed: 0,
			changes: []Change{{Kind: Read, Flags: view.Seen}},
			server:  "INBOX", serverFlags: view.Seen, web: "INBOX",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonFlagsNotSynced},
		{name: "move into a known folder", listed: 0,
			changes: []Change{{Kind: Move, Folder: "Archive"}},
			server:  "Archive", web: "INBOX",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonFolderNotSynced},
		{name: "move into a known folder under another name", listed: 0,
			changes: []Change{{Kind: Move, Folder: "INBOX.Archive"}},
			server:  "INBOX.Archive", web: "INBOX",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonFolderNotSynced},
		{name: "delete that expunged", listed: 0,
			changes:  []Change{{Kind: Delete}},
			web:      "INBOX",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonKeptLocally},
		{name: "move into a folder not listed", listed: 0,
			changes: []Change{{Kind: Move, Folder: "Projects"}},
			server:  "Projects", web: "",
			wantWait: 1, wantLive: ReasonNotSyncedYet, wantFinal: ReasonNotSyncedYet},
		{name: "flag on a message moved into a folder not listed", listed: 0,
			changes: []Change{{Kind: Move, Folder: "Projects"}, {Kind: Flag, Flags: view.Flagged}},
			server:  "Projects", serverFlags: view.Flagged, web: "",
			wantWait: 2, wantLive: ReasonNotSyncedYet, wantFinal: ReasonNotSyncedYet},
		{name: "never listed", listed: -1,
			changes: []Change{{Kind: Move, Folder: "Projects"}},
			server:  "Projects", web: "",
			wantWait: 1, wantLive: ReasonNotSyncedYet, wantFinal: ReasonNotSyncedYet},
		{name: "move into a folder listed since", listed: 3 * time.Minute, synced: withProjects,
			changes: []Change{{Kind: Move, Folder: "Projects"}},
			server:  "Projects", web: "",
			wantWait: 0, wantLive: ReasonPending, wantFinal: ReasonFolderNotSynced},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig("u1", "g", devDef{"pc", "imap", 0}, devDef{"webmail", "imap", 0})
			if tt.server != "" {
				r.server.put("u1", "<m1>", tt.server, tt.serverFlags)
			}
			for _, c := range tt.changes {
				c.User, c.Device, c.MessageID, c.At, c.Published = "u1", "u1/pc", "<m1>", t0.Add(time.Minute), true
				r.a.Record(c)
			}
			web := r.dev["u1/webmail"]
			if tt.web != "" {
				web.put("<m1>", tt.web, tt.webFlag)
			}
			synced := known
			if tt.synced != nil {
				synced = tt.synced
			}
			web.syncFolders(synced)
			if tt.listed >= 0 {
				web.list(t0.Add(tt.listed))
			}
			r.clock.set(10 * time.Minute)
			if got := r.a.WaitingForSync(); got != tt.wantWait {
				t.Errorf("WaitingForSync = %d, want %d", got, tt.wantWait)
			}
			last := tt.changes[len(tt.changes)-1].Kind
			if got := r.a.State().Changes[last].Unconverged; got[tt.wantLive] != 1 {
				t.Errorf("live reasons of %s: %v, want 1 %s", last, got, tt.wantLive)
			}
			res := final(t, r)
			if got := res.Convergence[last].Unconverged; got[tt.wantFinal] != 1 {
				t.Errorf("final reasons of %s: %v, want 1 %s", last, got, tt.wantFinal)
			}
		})
	}
}
