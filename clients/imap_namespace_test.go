package clients

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestIMAPLeavesOutPublicNamespace: on a Dovecot with a public namespace
// whose Public/News holds a message, a PC, a phone and a webmail, each IMAP client,
// sync the user's own folders (the INBOX message) and neither lists nor
// shows the public folder: it is no user's mail, and the auditor's
// reader leaves it out too (internal/serverstate), so a device showing it
// diverged as unexplained (quickstart against such a Dovecot: 3
// unexplained, the phones' copies of the shared message).
func TestIMAPLeavesOutPublicNamespace(t *testing.T) {
	inst := dovecottest.StartWith(t, 1, dovecottest.Options{PublicNamespace: true})
	user := inst.Username(1)
	g := mailgen.Generator{Domain: "example.net"}
	rnd := rand.New(rand.NewPCG(9, 1))
	shared := g.New(rnd, "news@example.net", []string{"all@example.com"}, 1000, false, time.Now())
	own := g.New(rnd, "carol@example.net", []string{user + "@example.com"}, 1000, false, time.Now())
	if err := loginTo(t, inst.IMAP, user, inst.Password).Create("Public/News", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendTo(t, inst.IMAP, user, inst.Password, "Public/News", shared.Raw)
	appendTo(t, inst.IMAP, user, inst.Password, "INBOX", own.Raw)
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		for _, client := range IMAPClients {
			t.Run(string(kind)+"/"+client, func(t *testing.T) {
				d := startDevice(t, Options{
					ID: user + "/" + string(kind) + "-" + client,
					Profile: &Profile{Name: string(kind) + "-imap", Kind: kind, Protocol: IMAP, IMAPClient: client,
						Connections: 1, StatusInterval: 1000 * time.Hour},
					Username: user, Password: inst.Password, Address: user + "@example.com",
					IMAP:     transport.Endpoint{Addr: inst.IMAP, TLS: transport.TLSNone},
					Clock:    simclock.New(600, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)),
					Recorder: &imapRecorder{}, Submitter: &lmtpSubmitter{}, Seed: 7, Timeout: 10 * time.Second,
				})
				v := waitView(t, d, "the INBOX message", hasAll(own.ID))
				dev := d.(*imapDevice)
				dev.mu.Lock()
				var folders []string
				for name := range dev.folders {
					folders = append(folders, name)
				}
				dev.mu.Unlock()
				slices.Sort(folders)
				if m, shown := v.Messages[shared.ID]; shown || slices.Contains(folders, "Public/News") {
					t.Errorf("folders %q, shared message shown (%v) in %q: want the public folder left out", folders, shown, m.Folder)
				}
			})
		}
	}
}
