package clients

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// TestIMAPMoveCreatesFolder checks that every IMAP kind creates a move
// destination its last LIST did not show before UID MOVE, once, so that no
// command is refused (no NO [TRYCREATE] counted as an error).
func TestIMAPMoveCreatesFolder(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		t.Run(string(kind), func(t *testing.T) {
			env := newIMAPEnv(t)
			rec := &imapRecorder{}
			o := env.options(kind, rec, func(p *Profile) {
				p.PollInterval = time.Minute
				p.Refresh = 30 * time.Second
			})
			a, b := env.deliver(t, 1000), env.deliver(t, 1000)
			d := startDevice(t, o)
			waitView(t, d, "both messages", hasAll(a, b))
			ctx := context.Background()
			for _, id := range []string{a, b} {
				res, err := d.Do(ctx, Action{Kind: ActMove, MessageID: id, Folder: "Archive/2025"})
				if err != nil {
					t.Fatalf("move: %v", err)
				}
				if !res.Published || res.Folder != "Archive/2025" {
					t.Errorf("move result %+v", res)
				}
				if got := env.truth(t).Messages[id]; got.Folder != "Archive/2025" {
					t.Errorf("server has %+v", got)
				}
			}
			names := rec.names()
			creates := 0
			for i, n := range names {
				if strings.Contains(n, ":") {
					t.Errorf("command %s refused in %v", n, names)
				}
				if n == "CREATE" {
					creates++
					if !strings.Contains(strings.Join(names[i:], " "), "UID MOVE") {
						t.Errorf("CREATE not followed by UID MOVE: %v", names)
					}
				}
			}
			if creates != 1 {
				t.Errorf("%d CREATE, want 1: %v", creates, names)
			}
		})
	}
}

// TestIMAPSyncKeepsOwnEdits checks that a sync which read the server before
// an action of the device (on another connection) does not undo the
// action's flags, move or placement in the view.
func TestIMAPSyncKeepsOwnEdits(t *testing.T) {
	o := validOptions()
	o.Profile = &Profile{Name: "pc", Kind: KindPC, Protocol: IMAP}
	d, err := newIMAPDevice(o, KindPC)
	if err != nil {
		t.Fatal(err)
	}
	start := o.Clock.Now()
	d.installAt("INBOX", 1, map[imap.UID]imapMsg{1: {id: d.o.IDs.Handle("<a@x>")}, 2: {id: d.o.IDs.Handle("<b@x>")}}, start, 0, 0)

	// A sync begins and reads the server...
	stale, gen := d.known("INBOX", 1, nil)
	// ...while an action flags <a@x>, moves <b@x> away and a copy lands.
	d.mu.Lock()
	inbox := d.folders["INBOX"]
	inbox.record(imapEdit{uid: 1, flags: view.Flagged})
	inbox.record(imapEdit{uid: 2, gone: true})
	inbox.record(imapEdit{uid: 3, msg: &imapMsg{id: d.o.IDs.Handle("<c@x>"), flags: view.Seen}})
	d.mu.Unlock()
	d.installAt("INBOX", 1, stale, start, gen, 0)

	want := map[string]view.Flags{"<a@x>": view.Flagged, "<c@x>": view.Seen}
	v := d.View()
	if len(v.Messages) != len(want) {
		t.Fatalf("view %+v, want %v", v.Messages, want)
	}
	for id, f := range want {
		if m := v.Messages[id]; m.Folder != "INBOX" || m.Flags != f {
			t.Errorf("%s: %+v, want INBOX %v", id, m, f)
		}
	}
	// A sync that began after the edits installs what it read.
	fresh, gen := d.known("INBOX", 1, nil)
	delete(fresh, 3)
	d.installAt("INBOX", 1, fresh, start, gen, 0)
	if _, ok := d.View().Messages["<c@x>"]; ok {
		t.Error("an edit older than the sync was replayed")
	}
}
