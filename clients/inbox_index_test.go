package clients

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

func TestInboxIndex(t *testing.T) {
	type op struct {
		put   map[imap.UID]string // added to the map and the index
		drop  []imap.UID          // deleted from the map only (stale slots)
		fresh bool                // a new map (a new UIDVALIDITY) before put
	}
	many := map[imap.UID]string{}
	for u := imap.UID(1); u <= 200; u++ {
		many[u] = fmt.Sprintf("<m%d@x>", u)
	}
	for _, tc := range []struct {
		name string
		ops  []op
		id   string
		want imap.UID // 0: not found
		// unusable: the index cannot tell (a UID 0 in INBOX)
		unusable bool
	}{
		{name: "empty", id: "<a@x>"},
		{name: "found", ops: []op{{put: map[imap.UID]string{3: "<a@x>", 4: "<b@x>"}}}, id: "<b@x>", want: 4},
		{name: "not held", ops: []op{{put: map[imap.UID]string{3: "<a@x>"}}}, id: "<b@x>"},
		{name: "lowest of two copies", ops: []op{{put: map[imap.UID]string{9: "<a@x>"}}, {put: map[imap.UID]string{5: "<a@x>", 7: "<a@x>"}}}, id: "<a@x>", want: 5},
		{name: "gone", ops: []op{{put: map[imap.UID]string{3: "<a@x>"}}, {drop: []imap.UID{3}}}, id: "<a@x>"},
		{name: "gone, other copy kept", ops: []op{{put: map[imap.UID]string{3: "<a@x>", 8: "<a@x>"}}, {drop: []imap.UID{3}}}, id: "<a@x>", want: 8},
		{name: "UID reused after a new UIDVALIDITY", ops: []op{{put: map[imap.UID]string{1: "<a@x>", 2: "<b@x>"}}, {fresh: true, put: map[imap.UID]string{1: "<b@x>"}}}, id: "<a@x>"},
		{name: "moved UID after a new UIDVALIDITY", ops: []op{{put: map[imap.UID]string{1: "<a@x>", 2: "<b@x>"}}, {fresh: true, put: map[imap.UID]string{1: "<b@x>"}}}, id: "<b@x>", want: 1},
		{name: "grown past its first table", ops: []op{{put: many}}, id: "<m137@x>", want: 137},
		{name: "rebuilt with stale slots", ops: []op{{put: many}, {drop: []imap.UID{137}}, {fresh: true, put: map[imap.UID]string{500: "<m137@x>"}}, {put: map[imap.UID]string{501: "<n@x>"}}}, id: "<m137@x>", want: 500},
		{name: "UID 0", ops: []op{{put: map[imap.UID]string{0: "<a@x>", 2: "<b@x>"}}}, id: "<b@x>", unusable: true},
		{name: "UID 0 gone at a rebuild", ops: []op{{put: map[imap.UID]string{0: "<a@x>"}}, {drop: []imap.UID{0}}, {fresh: true, put: many}}, id: "<m3@x>", want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x inboxIndex
			ids := view.NewInterner()
			msgs := map[imap.UID]imapMsg{}
			for _, o := range tc.ops {
				if o.fresh {
					msgs = map[imap.UID]imapMsg{}
				}
				for _, u := range o.drop {
					delete(msgs, u)
				}
				for u, id := range o.put {
					h := ids.Handle(id)
					msgs[u] = imapMsg{id: h}
					x.add(h, u, msgs)
				}
			}
			uid, found, usable := x.find(ids.Handle(tc.id), msgs)
			if usable == tc.unusable || usable && (uid != tc.want || found != (tc.want != 0)) {
				t.Fatalf("find(%s) = %d, %v, %v; want %d, usable %v", tc.id, uid, found, usable, tc.want, !tc.unusable)
			}
		})
	}
}

// TestLocateMatchesScan drives an IMAP device's records through random
// syncs and edits (installAt, place, forget, noteFlags: what syncs and
// actions do) and checks, after each, that locate and NewInInbox answer
// as the whole view does: locate as a scan of every folder with
// view.Prefer (locate before the INBOX index), NewInInbox with what came
// into INBOX and is still there.
func TestLocateMatchesScan(t *testing.T) {
	for _, trash := range []string{"", view.FolderInbox} {
		t.Run("trash="+trash, func(t *testing.T) {
			env := newIMAPEnvNoServer()
			o := env.options(KindPC, nil, nil)
			o.IMAP.Addr = "127.0.0.1:1" // never dialled: the device does not run
			dev, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			d := dev.(*imapDevice)
			if trash != "" {
				d.special[imap.MailboxAttrTrash] = trash
			}
			rng := rand.New(rand.NewPCG(3, 4))
			ids := make([]string, 40)
			for i := range ids {
				ids[i] = fmt.Sprintf("<%d@x>", i)
			}
			folders := []string{view.FolderInbox, "Archive", view.FolderTrash}
			start := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
			for _, name := range folders {
				d.installAt(name, 1, map[imap.UID]imapMsg{}, start, 0, 0)
			}
			var c InboxCursor
			shown := map[string]bool{} // in INBOX by the view at the last NewInInbox
			for step := range 3000 {
				name := folders[rng.IntN(len(folders))]
				uid := imap.UID(1 + rng.IntN(60))
				m := &imapMsg{id: d.o.IDs.Handle(ids[rng.IntN(len(ids))])}
				switch rng.IntN(10) {
				case 0: // a sync: a new map, sometimes a new UIDVALIDITY
					msgs := map[imap.UID]imapMsg{}
					for range rng.IntN(30) {
						msgs[imap.UID(1+rng.IntN(60))] = imapMsg{id: d.o.IDs.Handle(ids[rng.IntN(len(ids))])}
					}
					validity := uint32(1)
					if rng.IntN(4) == 0 {
						validity = uint32(2 + rng.IntN(3))
					}
					d.installAt(name, validity, msgs, start, d.editGen(name), 0)
				case 1, 2, 3:
					d.forget(name, uid)
				case 4:
					d.noteFlags(name, uid, view.Seen)
				default:
					if err := d.place(nil, name, uid, m); err != nil {
						t.Fatal(err)
					}
				}
				for _, id := range append(ids, "<none@x>") {
					got, gerr := d.locate(id)
					want, werr := scanLocate(d, id)
					if got != want || (gerr == nil) != (werr == nil) {
						t.Fatalf("step %d: locate(%s) = %+v, %v; a scan finds %+v, %v", step, id, got, gerr, want, werr)
					}
				}
				if rng.IntN(3) == 0 {
					var got []string
					got, c = d.NewInInbox(c)
					now := map[string]bool{}
					for id, m := range d.View().Messages {
						if m.Folder == view.FolderInbox {
							now[id] = true
						}
					}
					in := map[string]bool{}
					for _, id := range got {
						if !now[id] {
							t.Fatalf("step %d: NewInInbox names %s, not in INBOX", step, id)
						}
						in[id] = true
					}
					for id := range now {
						if !shown[id] && !in[id] {
							t.Fatalf("step %d: NewInInbox misses %s, new in INBOX", step, id)
						}
					}
					shown = now
				}
			}
		})
	}
}

// scanLocate is locate without the INBOX index: every copy of every
// folder, the one view.Prefer picks.
func scanLocate(d *imapDevice, id string) (imapLoc, error) {
	h, interned := d.o.IDs.Lookup(id)
	d.mu.Lock()
	defer d.mu.Unlock()
	var loc imapLoc
	found := false
	for name, f := range d.folders {
		for uid, m := range f.msgs {
			if !interned || m.id != h {
				continue
			}
			if found && !view.Prefer(view.Copy{Folder: name, UID: uint32(uid)}, view.Copy{Folder: loc.folder, UID: uint32(loc.uid)}, d.special[imap.MailboxAttrTrash]) {
				continue
			}
			loc, found = imapLoc{id: id, folder: name, uid: uid, flags: m.flags, large: m.large}, true
		}
	}
	if !found {
		return imapLoc{}, ErrNoMessage
	}
	return loc, nil
}
