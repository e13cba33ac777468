package clients

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// shapedRecorder is a trackingRecorder that counts the bytes read.
type shapedRecorder struct {
	trackingRecorder
	in atomic.Int64
}

func (r *shapedRecorder) Bytes(_ string, in, _ int64) { r.in.Add(in) }

// Sizes of TestStopWhileNetworkHolds: a body of bodySize takes 16 s over
// a network of slowLink, far beyond the stop's grace; a command has read
// more than midBody of it (nothing else the device reads is that long)
// when it is in flight mid-body.
const (
	bodySize = 512 << 10
	slowLink = 256_000 // bit/s
	midBody  = 16 << 10
)

// stopMidBody runs run (a device's work) until command is in flight with
// more than midBody read on rec, stops it (cancels its context) and waits
// for run to return; 20 s bounds each wait (liveness, not timing).
func stopMidBody(t *testing.T, rec *shapedRecorder, command string, run func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	for i := 0; rec.flying(command) == 0 || rec.in.Load() <= midBody; i++ {
		if i == 2000 {
			t.Fatalf("no %s in flight mid-body within 20 s; recorded %v", command, rec.names())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("the device did not return 20 s after the stop")
	}
}

// TestStopWhileNetworkHolds stops a device whose network is slow (a
// device profile's network: bandwidth) while a body it downloads from the
// embedded server — an IMAP phone's UID FETCH with either client, a POP3
// phone's RETR — is still coming through the link: the server answered
// long ago, the simulated network holds the reply. The stop's grace runs
// out and the connection is closed under the command, which counts
// nothing (StopGrace, graceStart.overdue): the server is not to blame.
// Until 2026-12-04 it counted as the server's timeout (mobile-heavy: "3
// commands failed: imap UID FETCH 2 (timeout 2), pop3 RETR 1 (timeout
// 1)"). A server that is slow itself still counts a timeout, shaped or
// not (TestIMAPStopWhileServerStalls, TestStopGrace).
func TestStopWhileNetworkHolds(t *testing.T) {
	slow := transport.Network{Bandwidth: slowLink}
	check := func(t *testing.T, rec *shapedRecorder, command string) {
		t.Helper()
		for _, n := range rec.names() {
			if strings.HasSuffix(n, ":"+string(transport.OutcomeTimeout)) {
				t.Errorf("%s recorded after the stop cut %s on the slow link; recorded %v", n, command, rec.names())
			}
		}
		rec.mu.Lock()
		logins := rec.logins
		rec.mu.Unlock()
		for _, o := range logins {
			if o != transport.OutcomeOK {
				t.Errorf("a login counted %s", o)
			}
		}
		rec.checkLanded(t)
	}
	for _, client := range IMAPClients {
		t.Run("imap/"+client, func(t *testing.T) {
			env := newIMAPEnv(t)
			env.client = client
			env.deliver(t, bodySize)
			rec := &shapedRecorder{}
			o := env.options(KindPhone, rec, func(p *Profile) {
				p.FetchImmediate = true
				p.Network = slow
			})
			o.Timeout = 60 * time.Second
			d, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			stopMidBody(t, rec, "UID FETCH", d.Run)
			check(t, rec, "UID FETCH")
		})
	}
	t.Run("pop3", func(t *testing.T) {
		e := startEmbedded(t)
		env := newIMAPEnvNoServer()
		m := env.gen.New(env.rng, "bob@example.com", []string{"alice@example.com"}, bodySize, false, time.Now())
		e.lmtp(t, "alice@example.com", m.Raw)
		rec := &shapedRecorder{}
		prof := &Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3, LeaveOnServer: true, Network: slow}
		d, err := New(Options{ID: "alice/phone-pop3", Profile: prof, Username: "alice", Password: "secret", Address: "alice@example.com",
			POP3: transport.Endpoint{Addr: e.addrs.POP3, TLS: transport.TLSNone}, Submitter: &c2Submitter{}, Clock: c2Clock(),
			Recorder: rec, Seed: 1, Timeout: 60 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		stopMidBody(t, rec, "RETR", d.(*pop3Device).Poll)
		check(t, rec, "RETR")
	})
}

// TestPOP3StopShapedServerStalls: a POP3 server that leaves a command
// unanswered at the stop is to blame on a shaped network too, when the
// shaping is idle while it is silent: the command counts a timeout after
// the grace (graceStart.overdue), as on an unshaped one (TestStopGrace).
func TestPOP3StopShapedServerStalls(t *testing.T) {
	addr, held, _ := startHolding(t, "+OK hi", "STAT", func(cmd string) string {
		if strings.HasPrefix(cmd, "CAPA") {
			return "+OK\r\nUSER\r\n.\r\n"
		}
		return "+OK\r\n"
	}, nil)
	ctx := stopWhenHeld(held)
	rec := &eventRecorder{}
	prof := &Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3, LeaveOnServer: true,
		Network: transport.Network{Latency: 20 * time.Millisecond, Bandwidth: 8_000_000}}
	d, err := New(Options{ID: "alice/phone-pop3", Profile: prof, Username: "alice", Password: "x", Address: "alice@example.com",
		POP3: transport.Endpoint{Addr: addr, TLS: transport.TLSNone}, Submitter: &c2Submitter{}, Clock: c2Clock(),
		Recorder: rec, Seed: 1, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.(*pop3Device).Poll(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the poll succeeded on a server that held STAT")
		}
	case <-time.After(20 * time.Second):
		// A liveness bound far below the 30 s timeout, not a timing
		// assertion.
		t.Fatal("the device did not stop within 20 s: it waits for the held command")
	}
	checkStopped(t, rec, "STAT", "STAT timeout")
}
