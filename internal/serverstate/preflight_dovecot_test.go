package serverstate

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestPreflightDovecot runs the preflight against a private Dovecot with 5
// users: a plan of those 5 passes; for a plan of 8 the sample (user1, user2, user4, user6, user8)
// finds user6 and user8 missing, over IMAP and over POP3.
func TestPreflightDovecot(t *testing.T) {
	inst := dovecottest.Start(t, 5)
	for _, proto := range []clients.Protocol{clients.IMAP, clients.POP3} {
		t.Run(string(proto), func(t *testing.T) {
			check := func(n int) error {
				p := &Preflight{Delivery: &transport.Endpoint{Addr: inst.LMTP}, LMTP: true, Users: testUsers(n)}
				for i := range p.Users {
					p.Users[i].Password = inst.Password
				}
				if proto == clients.IMAP {
					p.IMAP = &transport.Endpoint{Addr: inst.IMAP}
				} else {
					p.POP3 = &transport.Endpoint{Addr: inst.POP3}
				}
				return p.Check(context.Background())
			}
			if err := check(5); err != nil {
				t.Fatal(err)
			}
			err := check(8)
			const want = "2 of 5 sampled users: user6, user8"
			if !errors.Is(err, ErrLoginRefused) || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want only ErrLoginRefused naming %q", err, want)
			}
		})
	}
}
