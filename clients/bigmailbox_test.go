package clients

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
)

// bigMailbox is the INBOX size of TestBigMailboxDovecot: its UID SEARCH
// ALL and UID SORT answers are one line of 128,894 bytes, twice the
// default reply line bound (transport.DefaultMaxLine).
const bigMailbox = 20000

// TestBigMailboxDovecot: devices on a real mailbox of 20,000 messages
// (Dovecot) sync it without an error: the webmail's UID SORT (ARRIVAL)
// and the PC's and phone's UID SEARCH ALL are answered in one line of
// about 129 KB, over the 64 KiB bound of other reply lines, with either
// IMAP client; the PC's FETCH of every message's flags and the STATUS of
// the folder, and POP3's UIDL and LIST of the 20,000, pass too. Before,
// the webmail failed its page load every time ('[... UID SORT:error]':
// "reply too large: response line over 65536 bytes" with the lean client,
// "reply line over 65536 bytes" with go-imap's), counted against the
// server. It logs each device's heap after its sync (go test -v).
func TestBigMailboxDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20,000-message mailbox")
	}
	inst := dovecottest.Start(t, 1)
	user := inst.Username(1)
	gen := mailgen.Generator{Domain: "example.net"}
	rng := rand.New(rand.NewPCG(3, 4))
	date := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	inst.FillInbox(t, user, bigMailbox, func(i int) []byte {
		return gen.New(rng, "carol@example.net", []string{user + "@example.com"}, 400, false, date.Add(time.Duration(i)*time.Second)).Raw
	})
	env := newIMAPEnvNoServer()
	for _, kind := range []Kind{KindWebmail, KindPhone, KindPC} {
		for _, client := range IMAPClients {
			t.Run(string(kind)+"/"+client, func(t *testing.T) {
				rec := &imapRecorder{}
				env.client = client
				o := env.options(kind, rec, func(p *Profile) {
					p.PollInterval, p.Refresh, p.Idle = 24*time.Hour, 24*time.Hour, false
				})
				o.ID, o.Username, o.Password, o.Address = user+"/"+string(kind), user, inst.Password, user+"@example.com"
				o.IMAP = transport.Endpoint{Addr: inst.IMAP, TLS: transport.TLSNone}
				o.Timeout = 60 * time.Second
				want := bigMailbox
				switch kind {
				case KindWebmail:
					want = DefaultPageSize
				case KindPhone:
					want = DefaultPhoneWindow
				}
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				d := startDevice(t, o)
				deadline := time.Now().Add(3 * time.Minute)
				for {
					v := d.View()
					if !v.FolderSynced["INBOX"].IsZero() && len(v.Messages) >= want {
						break
					}
					if bad := failed(rec.names()); len(bad) > 0 {
						t.Fatalf("failed commands %v", bad)
					}
					if time.Now().After(deadline) {
						t.Fatalf("the view shows %d messages, want %d; commands %v", len(v.Messages), want, rec.names())
					}
					time.Sleep(20 * time.Millisecond)
				}
				runtime.GC()
				runtime.ReadMemStats(&m1)
				t.Logf("%s: heap %d KiB after the sync of %d messages (%d KiB before)", o.ID, m1.HeapAlloc>>10, len(d.View().Messages), m0.HeapAlloc>>10)
				if bad := failed(rec.names()); len(bad) > 0 {
					t.Fatalf("failed commands %v", bad)
				}
			})
		}
	}
	t.Run("pop3", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := transport.Dial(ctx, transport.Config{Protocol: ProtocolPOP3, Endpoint: transport.Endpoint{Addr: inst.POP3}, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		p, err := transport.OpenPOP3(conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Login(user, inst.Password); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"UIDL", "LIST"} {
			n := 0
			if err := p.Multi(cmd, cmd, func([]byte) error { n++; return nil }); err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if n != bigMailbox {
				t.Errorf("%s: %d lines, want %d", cmd, n, bigMailbox)
			}
		}
	})
}

// failed returns the names of the commands that did not succeed
// (imapRecorder.names: "COMMAND:outcome").
func failed(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(n, ":") {
			out = append(out, n)
		}
	}
	return out
}
