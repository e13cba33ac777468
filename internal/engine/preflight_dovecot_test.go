package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// TestPreflightDovecot runs the preflight against a private Dovecot with 5
// users: a plan of those 5 passes; for a plan of 8 the sample (user1, user2, user4, user6, user8)
// finds user6 and user8 missing, over IMAP and over POP3.
func TestPreflightDovecot(t *testing.T) {
	inst := dovecottest.Start(t, 5)
	ep := Endpoints{
		IMAP:     transport.Endpoint{Addr: inst.IMAP},
		POP3:     transport.Endpoint{Addr: inst.POP3},
		Delivery: scenarios.Delivery{Addr: inst.LMTP, Protocol: scenarios.DeliverLMTP},
	}
	for _, proto := range []clients.Protocol{clients.IMAP, clients.POP3} {
		t.Run(string(proto), func(t *testing.T) {
			plan := func(n int) *scenarios.Plan {
				p := preflightPlan(n, proto)
				for _, u := range p.Users {
					u.Password = inst.Password
				}
				return p
			}
			if err := Preflight(context.Background(), plan(5), ep); err != nil {
				t.Fatal(err)
			}
			err := Preflight(context.Background(), plan(8), ep)
			const want = "2 of 5 sampled users: user6, user8"
			if !errors.Is(err, ErrLoginRefused) || errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want only ErrLoginRefused naming %q", err, want)
			}
		})
	}
}
