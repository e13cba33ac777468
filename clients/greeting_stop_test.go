package clients

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestStopCutsTheGreetingWait stops a device, or an SMTP submission, while
// the server it connected to (the embedded one behind a fault proxy that
// holds all traffic: faultproxy.Stall) has not greeted, over IMAP (either
// client), POP3 and SMTP submission. The dial and the wait for the
// greeting, CONNECT, have the stop's grace as every command (dialWatched,
// imapDevice.dialIMAP): a server that does not greet within it counts each
// wait exactly once, a CONNECT timeout and a login timeout, and one that
// greets within it counts CONNECT ok and nothing more (no login goes out).
// Before 2026-12-05 the stop cut the wait at once and it counted nowhere.
func TestStopCutsTheGreetingWait(t *testing.T) {
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	env := newIMAPEnvNoServer()
	env.srv, env.addrs = srv, addrs

	type runner func(ctx context.Context, proxy string, rec Recorder, grace time.Duration) error
	device := func(client string, prof *Profile) runner {
		return func(ctx context.Context, proxy string, rec Recorder, grace time.Duration) error {
			env.client = client
			o := env.options(prof.Kind, rec, func(p *Profile) {
				if prof.Protocol == POP3 {
					*p = *prof
				}
			})
			o.IMAP.Addr = proxy
			o.POP3 = transport.Endpoint{Addr: proxy, TLS: transport.TLSNone}
			o.Timeout, o.StopGrace = 60*time.Second, grace
			d, err := New(o)
			if err != nil {
				return err
			}
			return d.Run(ctx)
		}
	}
	submit := func(ctx context.Context, proxy string, rec Recorder, grace time.Duration) error {
		sub := NewSMTPSubmitter(transport.Endpoint{Addr: proxy, TLS: transport.TLSNone},
			SMTPOptions{Recorder: rec, Timeout: 60 * time.Second, StopGrace: grace, Username: "alice", Password: "secret"})
		if err := sub.Submit(ctx, "alice@example.com", []string{"alice@example.com"}, []byte("Subject: hi\r\n\r\nbody\r\n")); err == nil {
			return fmt.Errorf("a submission the stop cut before the greeting succeeded")
		}
		return nil
	}
	phone := &Profile{Kind: KindPhone, Protocol: IMAP}
	pop3PC := &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3, LeaveOnServer: true}
	for _, tc := range []struct {
		name     string
		protocol string
		backend  string
		run      runner
	}{
		{"imap lean", ProtocolIMAP, addrs.IMAP, device(IMAPClientLean, phone)},
		{"imap go-imap", ProtocolIMAP, addrs.IMAP, device(IMAPClientGoIMAP, phone)},
		{"pop3", ProtocolPOP3, addrs.POP3, device("", pop3PC)},
		{"smtp submission", ProtocolSMTP, addrs.SMTP, submit},
	} {
		for _, greets := range []bool{false, true} {
			name := tc.name + "/silent"
			grace := shortGrace // the server never greets
			if greets {
				name, grace = tc.name+"/greets within the grace", longGrace
			}
			t.Run(name, func(t *testing.T) {
				p, err := faultproxy.New(faultproxy.Options{Backend: tc.backend})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = p.Close() })
				p.Stall(time.Minute) // no greeting reaches the client
				rec := &eventRecorder{}
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- tc.run(ctx, p.Addr(), rec, grace) }()
				// The client connected (the proxy accepted it) and waits
				// for the greeting the stall holds.
				for deadline := time.Now().Add(20 * time.Second); p.Stats().Accepted == 0; {
					if time.Now().After(deadline) {
						t.Fatal("the client did not connect within 20 s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				cancel()
				if greets {
					p.Resume() // the greeting comes after the stop
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("run: %v", err)
					}
				case <-time.After(20 * time.Second):
					// A liveness bound far below the 60 s timeout.
					t.Fatal("the client did not stop within 20 s of the stop")
				}
				accepted := int(p.Stats().Accepted)
				rec.mu.Lock()
				defer rec.mu.Unlock()
				var got []string
				for _, ev := range rec.recorded {
					got = append(got, ev.Command+" "+string(ev.Outcome))
				}
				var want, wantLogins []string
				for range accepted {
					if greets {
						want = append(want, CommandConnect+" ok")
						continue
					}
					want = append(want, CommandConnect+" timeout")
					wantLogins = append(wantLogins, tc.protocol+" timeout")
				}
				if !slices.Equal(got, want) {
					t.Errorf("commands recorded %v, want %v (%d connects)", got, want, accepted)
				}
				if !slices.Equal(rec.logins, wantLogins) {
					t.Errorf("logins counted %v, want %v", rec.logins, wantLogins)
				}
				for k, n := range rec.open {
					if n != 0 {
						t.Errorf("%s: still in flight after the stop", k)
					}
				}
			})
		}
	}
}
