package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// preflightPlan is a plan of n users user1…userN, each with one device of
// each protocol given.
func preflightPlan(n int, protos ...clients.Protocol) *scenarios.Plan {
	p := &scenarios.Plan{}
	for i := 1; i <= n; i++ {
		u := &scenarios.User{Index: i, Credential: scenarios.Credential{Username: fmt.Sprintf("user%d", i), Password: "pw"}}
		for _, proto := range protos {
			u.Devices = append(u.Devices, &scenarios.Device{ID: u.Username + "/" + string(proto),
				Profile: &clients.Profile{Name: string(proto), Protocol: proto}})
		}
		p.Users = append(p.Users, u)
	}
	return p
}

// TestEndpointsPreflight checks the preflight of a plan checks the access
// endpoints its devices use, submission when set, delivery over LMTP or
// SMTP (not IMAP APPEND), with every user of the plan.
func TestEndpointsPreflight(t *testing.T) {
	imapEP := transport.Endpoint{Addr: "127.0.0.1:143", TLS: transport.TLSStartTLS}
	pop3EP := transport.Endpoint{Addr: "127.0.0.1:110"}
	sub := transport.Endpoint{Addr: "127.0.0.1:587", TLS: transport.TLSStartTLS}
	ep := Endpoints{IMAP: imapEP, POP3: pop3EP, TLS: &tls.Config{ServerName: "mail.test"}}
	tests := []struct {
		name       string
		protos     []clients.Protocol
		submission transport.Endpoint
		delivery   scenarios.Delivery
		wantIMAP   bool
		wantPOP3   bool
		wantSub    *transport.Endpoint
		wantDl     *transport.Endpoint
		wantLMTP   bool
	}{
		{name: "imap only", protos: []clients.Protocol{clients.IMAP}, wantIMAP: true},
		{name: "pop3 only, submission", protos: []clients.Protocol{clients.POP3}, submission: sub, wantPOP3: true, wantSub: &sub},
		{name: "both, lmtp", protos: []clients.Protocol{clients.IMAP, clients.POP3},
			delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: "127.0.0.1:24"},
			wantIMAP: true, wantPOP3: true, wantDl: &transport.Endpoint{Addr: "127.0.0.1:24"}, wantLMTP: true},
		{name: "smtp delivery over starttls", protos: []clients.Protocol{clients.IMAP},
			delivery: scenarios.Delivery{Protocol: scenarios.DeliverSMTP, Addr: "127.0.0.1:25", TLS: transport.TLSStartTLS},
			wantIMAP: true, wantDl: &transport.Endpoint{Addr: "127.0.0.1:25", TLS: transport.TLSStartTLS}},
		{name: "imap append delivery", protos: []clients.Protocol{clients.POP3},
			delivery: scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: "127.0.0.1:143"}, wantPOP3: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ep
			e.Submission, e.Delivery = tc.submission, tc.delivery
			plan := preflightPlan(3, tc.protos...)
			p := e.Preflight(plan)
			if (p.IMAP != nil) != tc.wantIMAP || p.IMAP != nil && *p.IMAP != imapEP {
				t.Errorf("IMAP %v, want checked %v", p.IMAP, tc.wantIMAP)
			}
			if (p.POP3 != nil) != tc.wantPOP3 || p.POP3 != nil && *p.POP3 != pop3EP {
				t.Errorf("POP3 %v, want checked %v", p.POP3, tc.wantPOP3)
			}
			if !reflect.DeepEqual(p.Submission, tc.wantSub) {
				t.Errorf("submission %v, want %v", p.Submission, tc.wantSub)
			}
			if !reflect.DeepEqual(p.Delivery, tc.wantDl) || p.LMTP != tc.wantLMTP {
				t.Errorf("delivery %v lmtp %v, want %v lmtp %v", p.Delivery, p.LMTP, tc.wantDl, tc.wantLMTP)
			}
			if p.TLS != ep.TLS {
				t.Error("the base TLS configuration is not the endpoints'")
			}
			want := []serverstate.User{{Username: "user1", Password: "pw"}, {Username: "user2", Password: "pw"}, {Username: "user3", Password: "pw"}}
			if !reflect.DeepEqual(p.Users, want) {
				t.Errorf("users %v, want %v", p.Users, want)
			}
		})
	}
}

// TestEndpointsPreflightEmbedded runs a plan's preflight against the
// embedded server: the sampled users missing on the server are named.
func TestEndpointsPreflightEmbedded(t *testing.T) {
	addrs, cliTLS := mailservertest.Start(t, mailservertest.Numbered(10, 3, 10)...)
	ep := Endpoints{
		IMAP:     transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS},
		POP3:     transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSStartTLS},
		Delivery: scenarios.Delivery{Addr: addrs.LMTP, Protocol: scenarios.DeliverLMTP},
		TLS:      cliTLS,
	}
	_, err := ep.Preflight(preflightPlan(10, clients.IMAP)).Check(context.Background())
	const want = "2 of 5 sampled users: user3, user10"
	if !errors.Is(err, serverstate.ErrLoginRefused) || errors.Is(err, serverstate.ErrUnreachable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want only ErrLoginRefused naming %q", err, want)
	}
}
