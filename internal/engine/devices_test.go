package engine

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// startAlice starts the embedded server with the user alice (password
// secret) and delivers her n messages of 2 KB over LMTP, generated with
// seed; it returns their Message-IDs, oldest first.
func startAlice(t *testing.T, n int, seed uint64) (*mailserver.Server, Endpoints, []string) {
	t.Helper()
	srv, ep := startEmbedded(t, &scenarios.Plan{Users: []*scenarios.User{{Credential: scenarios.Credential{Username: "alice", Password: "secret"}}}})
	gen, rng := mailgen.Generator{Domain: "example.net"}, rand.New(rand.NewPCG(seed, seed+1))
	ids := make([]string, n)
	for i := range ids {
		msg := gen.New(rng, "carol@example.net", []string{"alice@example.com"}, 2048, false, time.Now())
		lmtpDeliver(t, ep.Delivery.Addr, "alice@example.com", msg.Raw)
		ids[i] = msg.ID
	}
	return srv, ep, ids
}

// runAliceDevice starts a device of the user alice (password secret) on
// the IMAP endpoint imap, on clock; onChange is its Options.OnChange (nil:
// none). The device stops at the test's cleanup; stop stops it before.
func runAliceDevice(t *testing.T, imap transport.Endpoint, clock *simclock.Clock, name string, p *clients.Profile, onChange func()) (d clients.Device, stop func()) {
	t.Helper()
	d, err := clients.New(clients.Options{
		ID: "alice/" + name, Profile: p,
		Username: "alice", Password: "secret", Address: "alice@example.com",
		IMAP:     imap,
		Clock:    clock,
		Seed:     7,
		Timeout:  5 * time.Second,
		OnChange: onChange,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: Run: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s: Run did not return after cancel", name)
		}
	}
	t.Cleanup(stop)
	return d, stop
}

// waitForView polls d's view until ok holds, and returns it; it fails
// the test after 30 s of wall time (a liveness bound, not a timing
// assertion).
func waitForView(t *testing.T, d clients.Device, what string, ok func(view.Snapshot) bool) view.Snapshot {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v := d.View()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never showed %s; last view: %+v", d.ID(), what, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// alicePCAndWebmail starts alice's PC (one connection, IDLE) and webmail
// (a page load every refresh of simulated time, pageSize messages a page;
// onWebChange its OnChange) on clock, and an auditor with options o that
// follows them. stopWeb stops the webmail before the test's cleanup.
func alicePCAndWebmail(t *testing.T, ep Endpoints, clock *simclock.Clock, refresh time.Duration, pageSize int, onWebChange func(), o audit.Options) (pc, web clients.Device, stopWeb func(), a *audit.Auditor) {
	t.Helper()
	pc, _ = runAliceDevice(t, ep.IMAP, clock, "pc", &clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP, Connections: 1, Idle: true}, nil)
	web, stopWeb = runAliceDevice(t, ep.IMAP, clock, "webmail", &clients.Profile{Name: "webmail", Kind: clients.KindWebmail, Protocol: clients.IMAP, Refresh: refresh, PageSize: pageSize}, onWebChange)
	a = audit.New(o)
	a.AddUser(audit.UserSpec{Name: "alice", Group: "g", Devices: []audit.DeviceSpec{
		{ID: pc.ID(), Protocol: "imap", Kind: "pc", View: pc.View},
		{ID: web.ID(), Protocol: "imap", Kind: "webmail", View: web.View},
	}})
	return pc, web, stopWeb, a
}
