package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// TestProbePush runs the push probe against the embedded server (TLS
// endpoints, as mailservertest.Start starts it) over each delivery path, and
// checks the cases it must skip or fail: a latency is measured, positive
// and far below the wait, and the probe message is removed again;
// without a user, an IMAP endpoint or a delivery path nothing is probed;
// a delivery path nobody listens on is an error naming the delivery.
func TestProbePush(t *testing.T) {
	t.Parallel()
	addrs, tlsConf := mailservertest.Start(t, mailservertest.Numbered(2)...)
	plan := preflightPlan(2, clients.IMAP)
	plan.Scenario = &scenarios.Scenario{}
	for _, u := range plan.Users {
		u.Address = u.Username + "@example.com"
	}
	imapEP := transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}
	closed := faketest.RefusedAddr(t) // a bound socket that never listens: refused
	const wait = 20 * time.Second
	for _, tt := range []struct {
		name    string
		plan    *scenarios.Plan
		ep      Endpoints
		skipped string // a part of PushProbe.Skipped
		err     string // a part of the error
	}{
		{name: "lmtp", plan: plan, ep: Endpoints{IMAP: imapEP, Delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: addrs.LMTP}, TLS: tlsConf}},
		{name: "imap-append", plan: plan, ep: Endpoints{IMAP: imapEP, Delivery: scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, TLS: tlsConf}},
		{name: "no user", plan: &scenarios.Plan{Scenario: plan.Scenario}, ep: Endpoints{IMAP: imapEP}, skipped: "no user"},
		{name: "no imap", plan: plan, ep: Endpoints{Delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: addrs.LMTP}}, skipped: "no IMAP endpoint"},
		{name: "no delivery", plan: plan, ep: Endpoints{IMAP: imapEP, TLS: tlsConf}, skipped: "no delivery path"},
		{name: "delivery refused", plan: plan, ep: Endpoints{IMAP: imapEP, Delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: closed}, TLS: tlsConf}, err: "delivery by lmtp"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ProbePush(context.Background(), tt.plan, tt.ep, wait)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one with %q", err, tt.err)
				}
			case err != nil:
				t.Fatal(err)
			case tt.skipped != "":
				if !strings.Contains(p.Skipped, tt.skipped) || p.Latency != 0 {
					t.Errorf("%+v, want skipped for %q", p, tt.skipped)
				}
			default:
				if p.Skipped != "" || p.TimedOut || p.Latency <= 0 || p.Latency >= wait || !p.Removed || p.User != "user1" {
					t.Errorf("%+v: want a latency within the wait, the probe message removed, user1", p)
				}
			}
		})
	}
}
