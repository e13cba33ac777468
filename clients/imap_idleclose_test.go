package clients

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestIMAPServerClosedIdle: a server that closes a device's connection
// while it is idle between commands — Dovecot restarted (it says BYE, then
// closes), a proxy's idle timeout (a FIN, no BYE) — costs the device no
// failed command: before its next command (LIST) the device notices the
// close, counts it as a connection the server closed
// (ClosedIdleRecorder), and sends LIST on a new connection. Before, LIST
// went out on the closed connection and counted as an error. A
// connection left open is used again, with nothing counted. Both IMAP
// clients.
func TestIMAPServerClosedIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// start starts the server and returns it with what closes the
		// idle connections (nil: nothing does).
		start func(t *testing.T) (idleServer, func(t *testing.T))
	}{
		{"dovecot restart", restartedDovecot},
		{"proxy idle timeout", func(t *testing.T) (idleServer, func(t *testing.T)) {
			srv, p := proxiedServer(t, time.Second)
			return srv, func(t *testing.T) {
				deadline := time.Now().Add(20 * time.Second)
				for p.Stats().Live > 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
		}},
		{"left open", func(t *testing.T) (idleServer, func(t *testing.T)) {
			env := newIMAPEnv(t)
			return idleServer{env.addrs.IMAP, "alice", "secret"}, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cut := tt.start(t)
			for _, client := range IMAPClients {
				t.Run(client, func(t *testing.T) {
					rec := &imapRecorder{}
					dev, err := New(srv.pc(client, rec, false))
					if err != nil {
						t.Fatal(err)
					}
					d := dev.(*imapDevice)
					sl := d.slots[0]
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					sl.start(ctx)
					defer sl.stop()
					list := func(s *imapSession) error { return d.list(s) }
					if err := sl.exec(ctx, list); err != nil {
						t.Fatalf("first LIST: %v", err)
					}
					if cut != nil {
						cut(t)
					}
					// Idle for longer than IdleProbeAfter: the close has
					// reached the device's socket by then.
					time.Sleep(IdleProbeAfter + 300*time.Millisecond)
					if err := sl.exec(ctx, list); err != nil {
						t.Errorf("LIST after the idle time: %v", err)
					}
					if n := slices.Index(rec.names(), "LIST"); n < 0 {
						t.Errorf("no LIST recorded: %q", rec.names())
					}
					rec.mu.Lock()
					defer rec.mu.Unlock()
					var failed []string
					for _, ev := range rec.cmds {
						if ev.Outcome != transport.OutcomeOK {
							failed = append(failed, ev.Command+":"+string(ev.Outcome))
						}
					}
					wantClosed, wantLogins := 1, 2
					if cut == nil {
						wantClosed, wantLogins = 0, 1
					}
					okLogins := 0
					for _, o := range rec.logins {
						if o == transport.OutcomeOK {
							okLogins++
						}
					}
					if len(failed) > 0 || rec.closedIdle != wantClosed || okLogins != wantLogins || len(rec.logins) != wantLogins {
						t.Errorf("failed commands %q, %d closed idle, logins %v; want no failed command, %d closed idle, %d ok logins",
							failed, rec.closedIdle, rec.logins, wantClosed, wantLogins)
					}
				})
			}
		})
	}
}

// idleServer is an IMAP server and a user of it, for the tests of
// connections the server closes while their device is idle.
type idleServer struct{ addr, user, pass string }

// restartedDovecot starts a private Dovecot with one user and returns it
// with its restart, which closes every connection (BYE, then the close).
func restartedDovecot(t *testing.T) (idleServer, func(t *testing.T)) {
	inst := dovecottest.Start(t, 1)
	return idleServer{inst.IMAP, inst.Username(1), inst.Password}, func(t *testing.T) {
		if err := inst.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
	}
}

// proxiedServer starts the embedded server behind a fault proxy that
// closes connections idle for idleTimeout (0: the proxy's default).
func proxiedServer(t *testing.T, idleTimeout time.Duration) (idleServer, *faultproxy.Proxy) {
	env := newIMAPEnv(t)
	p, err := faultproxy.New(faultproxy.Options{Backend: env.addrs.IMAP, IdleTimeout: idleTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return idleServer{p.Addr(), "alice", "secret"}, p
}

// pc returns the options of a one-connection PC of srv's user with IMAP
// client client, recording on rec, IDLEing when idle; its folders round
// never comes.
func (srv idleServer) pc(client string, rec Recorder, idle bool) Options {
	return Options{
		ID: srv.user + "/pc-" + client,
		Profile: &Profile{Name: "pc-imap", Kind: KindPC, Protocol: IMAP, IMAPClient: client,
			Connections: 1, StatusInterval: 1000 * time.Hour, Idle: idle},
		Username: srv.user, Password: srv.pass, Address: srv.user + "@example.com",
		IMAP:     transport.Endpoint{Addr: srv.addr, TLS: transport.TLSNone},
		Clock:    simclock.New(60, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)),
		Recorder: rec, Submitter: &lmtpSubmitter{}, Seed: 7, Timeout: 10 * time.Second,
	}
}

// TestIMAPServerClosedInIdle: a server that closes a PC's connection
// while the PC waits for mail in IDLE — Dovecot restarted (BYE, then the
// close), a proxy cutting the connection (a FIN) — costs no failed IDLE:
// the device sent no DONE the server left unanswered, it was idle. The
// close counts as a connection the server closed (ClosedIdleRecorder)
// and the device IDLEs again on a new connection, at once (a refused
// connect while Dovecot restarts is counted as such). Before, the IDLE
// counted as an error ("read after BYE", or DONE written into the closed
// connection). Both IMAP clients.
func TestIMAPServerClosedInIdle(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		start func(t *testing.T) (idleServer, func(t *testing.T))
	}{
		{"dovecot restart", restartedDovecot},
		{"proxy cut", func(t *testing.T) (idleServer, func(t *testing.T)) {
			srv, p := proxiedServer(t, 0)
			return srv, func(t *testing.T) {
				if n := p.CloseFraction(1); n != 1 {
					t.Fatalf("the proxy closed %d connections, want the PC's 1", n)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, cut := tt.start(t)
			for _, client := range IMAPClients {
				t.Run(client, func(t *testing.T) {
					rec := &idleRecorder{}
					dev, err := New(srv.pc(client, rec, true))
					if err != nil {
						t.Fatal(err)
					}
					stop := runUntilStop(t, dev)
					waitFor(t, "an IDLE waiting for mail", rec.idling)
					cut(t)
					waitFor(t, "an IDLE on a new connection", func() bool {
						rec.tmu.Lock()
						defer rec.tmu.Unlock()
						return rec.waits >= 2 && rec.waits > rec.ended
					})
					stop()
					rec.mu.Lock()
					defer rec.mu.Unlock()
					var failed []string
					for _, ev := range rec.cmds {
						if ev.Outcome != transport.OutcomeOK && (ev.Command != CommandConnect || ev.Outcome != transport.OutcomeRefused) {
							failed = append(failed, ev.Command+":"+string(ev.Outcome))
						}
					}
					if len(failed) > 0 || rec.closedIdle != 1 {
						t.Errorf("failed commands %q, %d closed idle; want none but refused connects, 1 closed idle", failed, rec.closedIdle)
					}
				})
			}
		})
	}
}

// waitFor polls cond until it holds, failing t after a generous bound (a
// liveness bound, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 30 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
