package clients

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// benchIMAPMailbox returns an IMAP PC whose view holds n messages (60 % in
// INBOX, the rest in Archive, Sent and Trash), filled in its records
// directly: what the benchmarks below measure is the in-memory work a
// person's wake-up and an action's lookup cost, not a sync
// (MAILSIM_BENCH_MESSAGES=N for another size; default 5,000). It returns
// the device and the Message-IDs of its INBOX messages.
func benchIMAPMailbox(b *testing.B) (*imapDevice, []string) {
	b.Helper()
	n := 5000
	if s := os.Getenv("MAILSIM_BENCH_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 10 {
			b.Fatalf("MAILSIM_BENCH_MESSAGES=%q: want a number of at least 10", s)
		}
	}
	env := newIMAPEnvNoServer()
	o := env.options(KindPC, nil, nil)
	o.IDs = view.NewInterner()
	o.IMAP.Addr = "127.0.0.1:1" // never dialled: the device does not run
	dev, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	d := dev.(*imapDevice)
	folders := []string{view.FolderInbox, "Archive", view.FolderSent, view.FolderTrash}
	share := []int{n * 6 / 10, n * 2 / 10, n / 10}
	share = append(share, n-share[0]-share[1]-share[2])
	var inbox []string
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	for i, name := range folders {
		msgs := make(map[imap.UID]imapMsg, share[i])
		for u := range share[i] {
			id := o.IDs.Intern(env.gen.NewID(rng))
			msgs[imap.UID(u+1)] = imapMsg{id: o.IDs.Handle(id), flags: view.Seen}
			if name == view.FolderInbox {
				inbox = append(inbox, id)
			}
		}
		d.installAt(name, 1, msgs, start, 0, 0)
	}
	return d, inbox
}

// BenchmarkNotice is what a person's wake-up asks of the device in hand
// to find new INBOX mail, on a mailbox of 5,000 messages with one new
// message each wake-up: "view" builds the whole view and keeps the INBOX
// messages not seen before (person.notice before NewInInbox), "new" asks
// NewInInbox from the last cursor.
//
//	go test -run '^$' -bench 'Notice|Locate' -benchmem ./clients
func BenchmarkNotice(b *testing.B) {
	for _, bc := range []struct {
		name string
		look func(d *imapDevice, seen map[string]bool, c InboxCursor) ([]string, InboxCursor)
	}{
		{"view", func(d *imapDevice, seen map[string]bool, c InboxCursor) ([]string, InboxCursor) {
			var fresh []string
			for id, m := range d.View().Messages {
				if m.Folder == view.FolderInbox && !seen[id] {
					fresh = append(fresh, id)
				}
			}
			return fresh, c
		}},
		{"new", func(d *imapDevice, seen map[string]bool, c InboxCursor) ([]string, InboxCursor) {
			ids, next := d.NewInInbox(c)
			var fresh []string
			for _, id := range ids {
				if !seen[id] {
					fresh = append(fresh, id)
				}
			}
			return fresh, next
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d, inbox := benchIMAPMailbox(b)
			seen := make(map[string]bool, len(inbox)+b.N)
			for _, id := range inbox {
				seen[id] = true
			}
			_, c := d.NewInInbox(0)
			uid := imap.UID(1 << 20)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				id := d.o.IDs.Intern(fmt.Sprintf("<new.%d@example.net>", i))
				if err := d.place(nil, view.FolderInbox, uid, &imapMsg{id: d.o.IDs.Handle(id)}); err != nil {
					b.Fatal(err)
				}
				uid++
				b.StartTimer()
				var fresh []string
				fresh, c = bc.look(d, seen, c)
				if len(fresh) != 1 || fresh[0] != id {
					b.Fatalf("noticed %v, want %s", fresh, id)
				}
				seen[id] = true
			}
		})
	}
}

// BenchmarkLocate is an action's lookup of the message it acts on
// (imapDevice.locate) in a mailbox of 5,000 messages: "inbox" a message
// in INBOX (every action of a person's plan but a retry), "elsewhere" one
// in Archive, "missing" one the device does not hold (a view not synced
// yet).
func BenchmarkLocate(b *testing.B) {
	d, inbox := benchIMAPMailbox(b)
	var elsewhere string
	d.mu.Lock()
	for _, m := range d.folders["Archive"].msgs {
		elsewhere = d.o.IDs.Value(m.id)
		break
	}
	d.mu.Unlock()
	for _, bc := range []struct {
		name, id string
		folder   string
	}{
		{"inbox", inbox[len(inbox)/2], view.FolderInbox},
		{"elsewhere", elsewhere, "Archive"},
		{"missing", "<missing@example.net>", ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				loc, err := d.locate(bc.id)
				if loc.folder != bc.folder || (err != nil) != (bc.folder == "") {
					b.Fatalf("locate(%s) = %+v, %v; want folder %q", bc.id, loc, err, bc.folder)
				}
			}
		})
	}
}

// BenchmarkMoveEdit is what a move does to the view besides the wire
// (imapDevice.move: forget in the source folder, place in the
// destination), in a mailbox of 5,000 messages.
func BenchmarkMoveEdit(b *testing.B) {
	d, _ := benchIMAPMailbox(b)
	d.mu.Lock()
	var uid imap.UID
	var m imapMsg
	for uid, m = range d.folders[view.FolderInbox].msgs {
		break
	}
	d.mu.Unlock()
	next := imap.UID(1 << 20)
	b.ResetTimer()
	for range b.N {
		d.forget(view.FolderInbox, uid)
		if err := d.place(nil, "Archive", next, &m); err != nil {
			b.Fatal(err)
		}
		d.forget("Archive", next)
		if err := d.place(nil, view.FolderInbox, uid, &m); err != nil {
			b.Fatal(err)
		}
		next++
	}
}
