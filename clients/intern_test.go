package clients

import (
	"testing"
	"unsafe"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// TestDevicesInternMessageIDs runs every device kind of one user with one
// interner (Options.IDs, as the engine does) against the embedded server
// and checks that every Message-ID their views show is the interner's
// string, not a copy of its own.
func TestDevicesInternMessageIDs(t *testing.T) {
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0", POP3: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	env := newIMAPEnvNoServer()
	env.srv, env.addrs = srv, addrs
	ids := []string{env.deliver(t, 1500), env.deliver(t, 2500), env.deliver(t, 3500)}

	in := view.NewInterner()
	for _, tc := range []struct {
		name string
		kind Kind
		mod  func(p *Profile)
	}{
		{"imap-pc", KindPC, nil},
		{"imap-phone", KindPhone, nil},
		{"webmail", KindWebmail, nil},
		{"pop3-pc", KindPC, func(p *Profile) { p.Protocol, p.LeaveOnServer = POP3, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := env.options(tc.kind, nil, tc.mod)
			o.POP3 = transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSNone}
			o.IDs = in
			d := startDevice(t, o)
			v := waitView(t, d, "the three messages", hasAll(ids...))
			for id := range v.Messages {
				if unsafe.StringData(id) != unsafe.StringData(in.Intern(id)) {
					t.Errorf("%s shows %s in a string of its own", o.ID, id)
				}
			}
		})
	}
}
