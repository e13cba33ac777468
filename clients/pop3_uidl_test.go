package clients

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// TestPOP3StoreOnServers runs a POP3 device against the embedded server
// and Dovecot (skipped by dovecottest where it cannot run), whose UIDLs
// are 16 hex digits (upper case from the embedded server, lower case from
// Dovecot 2.3's %08Xu%08Xv): the store packs every one (clients/local.go), a
// second poll downloads nothing, a reply's header fields come back as the
// message had them, and a message deleted locally is DELEd at the next
// poll and forgotten, so that a new device of the user finds one less.
func TestPOP3StoreOnServers(t *testing.T) {
	type server struct{ pop3, lmtp, user, pass, addr string }
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) server
	}{
		{"embedded", func(t *testing.T) server {
			srv := mailserver.New(mailserver.Options{Domain: "example.com"})
			if err := srv.AddUser("alice", "secret"); err != nil {
				t.Fatal(err)
			}
			addrs, err := srv.Listen(mailserver.ListenConfig{POP3: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			return server{addrs.POP3, addrs.LMTP, "alice", "secret", "alice@example.com"}
		}},
		{"dovecot", func(t *testing.T) server {
			inst := dovecottest.Start(t, 1)
			return server{inst.POP3, inst.LMTP, inst.Username(1), inst.Password, inst.Username(1) + "@example.com"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			gen, rng := mailgen.Generator{Domain: "example.net"}, rand.New(rand.NewPCG(3, 4))
			want := map[string]mailgen.Header{}
			for i := range 6 {
				m := gen.New(rng, "Carol <carol@example.net>", []string{srv.addr}, 1500, false, time.Now())
				if i == 5 { // a reply to an earlier one: References, "Re: "
					m = gen.Reply(rng, "Carol <carol@example.net>", want[firstKey(want)], 1500, time.Now())
				}
				lmtpDeliver(t, srv.lmtp, srv.addr, m.Raw)
				want[m.ID] = m.Header
			}
			ids := view.NewInterner()
			newDev := func(ids *view.Interner) *pop3Device {
				prof := &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3,
					LeaveOnServer: true, DeleteAfter: 14 * 24 * time.Hour, DeleteWhenDeletedLocally: true}
				d, err := New(Options{
					ID: srv.user + "/pc-pop3", Profile: prof, IDs: ids,
					Username: srv.user, Password: srv.pass, Address: srv.addr,
					POP3:  transport.Endpoint{Addr: srv.pop3, TLS: transport.TLSNone},
					Clock: simclock.New(1, time.Now()), Seed: 7, Timeout: 10 * time.Second,
				})
				if err != nil {
					t.Fatal(err)
				}
				return d.(*pop3Device)
			}
			d := newDev(ids)
			poll := func(d *pop3Device) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := d.Poll(ctx); err != nil {
					t.Fatal(err)
				}
			}
			poll(d)
			poll(d)
			if got := len(d.View().Messages); got != len(want) || len(d.store.msgs) != len(want) {
				t.Fatalf("%d messages in the view, %d records, want %d", got, len(d.store.msgs), len(want))
			}
			if len(d.store.suffixes) != 1 {
				t.Errorf("%d UIDL suffixes, want the mailbox's one", len(d.store.suffixes))
			}
			for id, h := range want {
				m := d.store.get(id)
				if m == nil || (m.st&uidlKind != uidlUpper && m.st&uidlKind != uidlLower) || m.st&recSeen == 0 {
					t.Fatalf("%s: record %+v, want a packed UIDL, seen", id, m)
				}
				got := d.store.header(m, id)
				if got.From != h.From || got.Subject != h.Subject || got.References != h.References {
					t.Errorf("%s: header %+v, want %+v", id, got, h)
				}
			}
			gone := firstKey(want)
			for range 2 { // to Trash, then out of it
				if _, err := d.Do(context.Background(), Action{Kind: ActDelete, MessageID: gone}); err != nil {
					t.Fatal(err)
				}
			}
			if d.store.len() != len(want)-1 || len(d.store.seenIndex()) != len(want) {
				t.Fatalf("after the local deletion: %d messages, %d UIDLs seen", d.store.len(), len(d.store.seenIndex()))
			}
			poll(d) // DELEs it
			if seen := len(d.store.seenIndex()); seen != len(want)-1 || len(d.store.msgs) != len(want) {
				t.Fatalf("after the DELE: %d UIDLs seen, %d records (one free), want %d", seen, len(d.store.msgs), len(want)-1)
			}
			other := newDev(view.NewInterner())
			poll(other)
			if v := other.View().Messages; len(v) != len(want)-1 || v[gone].ID != "" {
				t.Fatalf("a new device finds %d messages (the deleted one: %v), want %d", len(v), v[gone].ID != "", len(want)-1)
			}
		})
	}
}

// firstKey returns the smallest key of m.
func firstKey(m map[string]mailgen.Header) string {
	first := ""
	for k := range m {
		if first == "" || k < first {
			first = k
		}
	}
	return first
}
