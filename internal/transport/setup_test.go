package transport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestSetupDialsNothingOnceStopped: a Setup whose context has ended, or
// which was closed, before its dial dials nothing (the listener has no
// connection queued, the meter saw none) and says so (ErrNotDialed).
func TestSetupDialsNothingOnceStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		stop func(s *transport.Setup, cancel context.CancelFunc)
	}{
		{"context ended", func(_ *transport.Setup, cancel context.CancelFunc) { cancel() }},
		{"closed", func(s *transport.Setup, _ context.CancelFunc) { _ = s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := faketest.Unaccepted(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := new(transport.Setup)
			tc.stop(s, cancel)
			m := &meter{}
			conn, err := s.Dial(ctx, transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: ln.Addr().String()}, Meter: m, Timeout: 10 * time.Second})
			if err == nil || conn != nil || !errors.Is(err, transport.ErrNotDialed) {
				t.Errorf("dial: %v, %v; want no connection, ErrNotDialed", conn, err)
			}
			if _, _, _, total := m.get(); total != 0 {
				t.Errorf("%d connections opened, want none", total)
			}
			if faketest.DialedBefore(t, ln) {
				t.Error("a connection was dialed")
			}
		})
	}
}

// TestSetupHoldsTheHandshake dials a shaped connection (latency 1 h) with
// implicit TLS through a Setup: the connection is the Setup's before its
// handshake, whose ClientHello the network holds (Conn.HeldFor grows), and
// the Setup's Close ends the handshake at once, the hold included, the
// connection counted closed once.
func TestSetupHoldsTheHandshake(t *testing.T) {
	addrs, cliTLS := embedded(t)
	s := new(transport.Setup)
	m := &meter{}
	done := make(chan error, 1)
	go func() {
		_, err := s.Dial(context.Background(), transport.Config{Protocol: "imap",
			Endpoint: transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, TLS: cliTLS,
			Meter: m, Timeout: time.Hour, Network: transport.Network{Latency: time.Hour}})
		done <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); s.Conn() == nil || s.Conn().HeldFor(transport.HoldMark{}) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no connection held in its handshake within 30 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s.Conn().TLS() {
		t.Error("the connection is secured before its handshake ended")
	}
	_ = s.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("a handshake the Setup's Close cut succeeded")
		}
	case <-time.After(30 * time.Second): // a liveness bound: the latency is an hour
		t.Fatal("the handshake did not end with the Setup's Close within 30 s")
	}
	if _, _, open, total := m.get(); open != 0 || total != 1 {
		t.Errorf("connections open %d of %d, want 0 of 1", open, total)
	}
}
