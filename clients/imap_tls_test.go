package clients

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// newIMAPTLSEnv returns an imapEnv whose embedded server, with users
// alice and bob, serves IMAP with STARTTLS (addrs.IMAP), implicit TLS
// (addrs.IMAPS) and LMTP, and the client TLS configuration that trusts
// its self-signed certificate.
func newIMAPTLSEnv(t *testing.T) (*imapEnv, *tls.Config) {
	t.Helper()
	srvTLS, cliTLS := mailservertest.TLS(t)
	srv := mailserver.New(mailserver.Options{Domain: "example.com", TLS: srvTLS})
	for _, u := range []string{"alice", "bob"} {
		if err := srv.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	env := newIMAPEnvNoServer()
	env.srv, env.addrs = srv, addrs
	return env, cliTLS
}

// TestIMAPOverTLS runs a PC and a phone over STARTTLS and implicit TLS
// against the embedded server's self-signed certificate: verified when the
// device trusts it, refused (and retried, never shown) when it does not.
func TestIMAPOverTLS(t *testing.T) {
	env, cliTLS := newIMAPTLSEnv(t)
	addrs := env.addrs

	tests := []struct {
		name    string
		kind    Kind
		ep      transport.Endpoint
		trusted bool
	}{
		{"pc starttls", KindPC, transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, true},
		{"phone implicit", KindPhone, transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, true},
		{"untrusted certificate", KindPhone, transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := env.deliver(t, 4096)
			rec := &imapRecorder{}
			o := env.options(tc.kind, rec, nil)
			o.IMAP = tc.ep
			if tc.trusted {
				o.TLS = cliTLS
			}
			d := startDevice(t, o)
			if !tc.trusted {
				waitLogin(t, rec, transport.OutcomeTLS)
				if _, ok := d.View().Messages[id]; ok {
					t.Error("a device that refused the certificate shows mail")
				}
				return
			}
			waitView(t, d, id, hasAll(id))
			if tc.ep.TLS == transport.TLSStartTLS && !strings.Contains(strings.Join(rec.names(), " "), "STARTTLS") {
				t.Errorf("no STARTTLS command recorded: %v", rec.names())
			}
		})
	}
}

// waitLogin waits until rec saw a login attempt with outcome o.
func waitLogin(t *testing.T, rec *imapRecorder, o transport.Outcome) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !rec.sawLogin(o) {
		if time.Now().After(deadline) {
			t.Fatalf("no login attempt with outcome %q", o)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sawLogin reports whether a login attempt with outcome o was recorded.
func (r *imapRecorder) sawLogin(o transport.Outcome) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.logins {
		if l == o {
			return true
		}
	}
	return false
}
