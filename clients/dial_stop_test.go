package clients

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/transport"
)

// stopAtConnect is an eventRecorder that ends its run's context (stop)
// when a CONNECT starts: after the setup's own check of the context and
// before its dial.
type stopAtConnect struct {
	eventRecorder
	stop context.CancelFunc
}

func (r *stopAtConnect) CommandStarted(p, c string, start time.Time) {
	r.eventRecorder.CommandStarted(p, c, start)
	if c == CommandConnect {
		r.stop()
	}
}

// checkStoppedQuietly fails t for every command recorded with an outcome,
// every login counted and every command left in flight on rec.
func checkStoppedQuietly(t *testing.T, rec *eventRecorder) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var got []string
	for _, ev := range rec.recorded {
		got = append(got, ev.Command+" "+string(ev.Outcome))
	}
	if len(got) > 0 || len(rec.logins) > 0 {
		t.Errorf("commands recorded %v, logins %v; want none: the stop's, not the server's", got, rec.logins)
	}
	for k, n := range rec.open {
		if n != 0 {
			t.Errorf("%s: still in flight after the stop", k)
		}
	}
}

// TestNothingDialedAfterTheStop ends the context of an IMAP device (either
// client), a POP3 device and an SMTP submission as their CONNECT starts —
// after the setup checked the context, before the dial: nothing is dialed
// (the listener has no connection queued once the client returned), and
// nothing is counted. Before 2026-12-05 the dial went out (its context
// was the stop's rule's, not ctx) and waited for the greeting under the
// grace: "a connection was dialed after the stop", and a CONNECT timeout.
func TestNothingDialedAfterTheStop(t *testing.T) {
	type runner func(ctx context.Context, addr string, rec Recorder) error
	device := func(client string, prof *Profile) runner {
		return func(ctx context.Context, addr string, rec Recorder) error {
			env := newIMAPEnvNoServer()
			env.client = client
			o := env.options(prof.Kind, rec, func(p *Profile) {
				if prof.Protocol == POP3 {
					*p = *prof
				}
			})
			o.IMAP = transport.Endpoint{Addr: addr, TLS: transport.TLSNone}
			o.POP3 = transport.Endpoint{Addr: addr, TLS: transport.TLSNone}
			o.Submitter = &c2Submitter{}
			o.Timeout, o.StopGrace = 60*time.Second, shortGrace
			d, err := New(o)
			if err != nil {
				return err
			}
			return d.Run(ctx)
		}
	}
	submit := func(ctx context.Context, addr string, rec Recorder) error {
		sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr, TLS: transport.TLSNone},
			SMTPOptions{Recorder: rec, Timeout: 60 * time.Second, StopGrace: shortGrace, Username: "alice", Password: "secret"})
		if err := sub.Submit(ctx, "alice@example.com", []string{"alice@example.com"}, []byte("Subject: hi\r\n\r\nbody\r\n")); err == nil {
			return errors.New("a submission stopped before its dial succeeded")
		}
		return nil
	}
	for _, tc := range []struct {
		name string
		run  runner
	}{
		{"imap lean", device(IMAPClientLean, &Profile{Kind: KindPhone, Protocol: IMAP})},
		{"imap go-imap", device(IMAPClientGoIMAP, &Profile{Kind: KindPhone, Protocol: IMAP})},
		{"pop3", device("", &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3, LeaveOnServer: true})},
		{"smtp submission", submit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := faketest.Unaccepted(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			rec := &stopAtConnect{stop: cancel}
			done := make(chan error, 1)
			go func() { done <- tc.run(ctx, ln.Addr().String(), rec) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the client did not return within 20 s of the stop")
			}
			if faketest.DialedBefore(t, ln) {
				t.Error("a connection was dialed after the stop")
			}
			checkStoppedQuietly(t, &rec.eventRecorder)
		})
	}
}

// connRecorder is an eventRecorder that counts the connections opened.
type connRecorder struct {
	eventRecorder
	opened atomic.Int64
}

func (r *connRecorder) Connection(_ string, delta int) {
	if delta > 0 {
		r.opened.Add(1)
	}
}

// TestStopDuringShapedHandshake stops an IMAP device (either client) and
// a POP3 device over implicit TLS while their TLS handshake is under way
// on a shaped network (a device profile's network latency: 5 s before
// each write), against the embedded server: the TCP connect is made, and
// the network holds the ClientHello. The stop's grace runs out under the
// network's hold, not the server's silence, and the connect counts
// nothing (graceStart.overdue, transport.Setup: the setup has the
// connection before its handshake). Before 2026-12-05 the connection
// was not the setup's until its handshake ended: the grace saw no
// network hold, and counted a CONNECT timeout and a login timeout
// against the server, once the stop's close had waited out the latency.
// A server that leaves the handshake unanswered (a stalled proxy in front
// of it) on a short latency is still to blame: a CONNECT timeout.
func TestStopDuringShapedHandshake(t *testing.T) {
	imapEnv, imapTLS := newIMAPTLSEnv(t)
	pop := startEmbedded(t)
	type device func(ctx context.Context, addr string, rec Recorder, nw transport.Network) error
	imapDevice := func(client string) device {
		return func(ctx context.Context, addr string, rec Recorder, nw transport.Network) error {
			env := *imapEnv
			env.client = client
			o := env.options(KindPhone, rec, func(p *Profile) { p.Network = nw })
			o.IMAP = transport.Endpoint{Addr: addr, TLS: transport.TLSImplicit}
			o.TLS, o.Timeout, o.StopGrace = imapTLS, 60*time.Second, shortGrace
			d, err := New(o)
			if err != nil {
				return err
			}
			return d.Run(ctx)
		}
	}
	pop3Device := func(ctx context.Context, addr string, rec Recorder, nw transport.Network) error {
		prof := &Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3, LeaveOnServer: true, Network: nw}
		d, err := New(Options{ID: "alice/phone-pop3", Profile: prof, Username: "alice", Password: "secret", Address: "alice@example.com",
			POP3: transport.Endpoint{Addr: addr, TLS: transport.TLSImplicit}, TLS: pop.cliTLS, Submitter: &c2Submitter{}, Clock: c2Clock(),
			Recorder: rec, Seed: 1, Timeout: 60 * time.Second, StopGrace: shortGrace})
		if err != nil {
			return err
		}
		return d.Run(ctx)
	}
	for _, dev := range []struct {
		name     string
		protocol string
		backend  string
		run      device
	}{
		{"imap lean", ProtocolIMAP, imapEnv.addrs.IMAPS, imapDevice(IMAPClientLean)},
		{"imap go-imap", ProtocolIMAP, imapEnv.addrs.IMAPS, imapDevice(IMAPClientGoIMAP)},
		{"pop3", ProtocolPOP3, pop.addrs.POP3S, pop3Device},
	} {
		for _, tc := range []struct {
			name    string
			latency time.Duration
			stall   bool // the server leaves the handshake unanswered
		}{
			{"the network holds the handshake", 5 * time.Second, false},
			{"the server stalls the handshake", 20 * time.Millisecond, true},
		} {
			t.Run(dev.name+"/"+tc.name, func(t *testing.T) {
				p, err := faultproxy.New(faultproxy.Options{Backend: dev.backend})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = p.Close() })
				if tc.stall {
					p.Stall(time.Minute)
				}
				rec := &connRecorder{}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- dev.run(ctx, p.Addr(), rec, transport.Network{Latency: tc.latency}) }()
				// The TCP connect is made (the connection is counted
				// open before its handshake), the handshake under way.
				for deadline := time.Now().Add(20 * time.Second); rec.opened.Load() == 0; {
					if time.Now().After(deadline) {
						t.Fatal("the device did not connect within 20 s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("run: %v", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("the device did not stop within 20 s of the stop")
				}
				if !tc.stall {
					checkStoppedQuietly(t, &rec.eventRecorder)
					return
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				var got []string
				for _, ev := range rec.recorded {
					got = append(got, ev.Command+" "+string(ev.Outcome))
				}
				if want := []string{CommandConnect + " timeout"}; !slices.Equal(got, want) {
					t.Errorf("commands recorded %v, want %v", got, want)
				}
				if want := []string{dev.protocol + " timeout"}; !slices.Equal(rec.logins, want) {
					t.Errorf("logins counted %v, want %v", rec.logins, want)
				}
			})
		}
	}
}
