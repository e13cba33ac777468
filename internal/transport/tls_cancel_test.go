package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestDialImplicitTLSEndsWithContext checks that the implicit-TLS
// handshake of a dial ends when the dial's context does, not at the
// connection's timeout: a stop that cancels a setup (the stop's grace,
// clients/setup_grace.go) must not wait out a server that accepts and
// never answers the handshake. Before 2026-12-05 the handshake ran under
// the timeout alone ("tls handshake: context deadline exceeded" after
// it).
func TestDialImplicitTLSEndsWithContext(t *testing.T) {
	hello := make(chan struct{})
	var once sync.Once
	// The server reads the ClientHello's first byte, says so, and never
	// answers.
	silent := fakeServer(t, func(c net.Conn) {
		if _, err := c.Read(make([]byte, 1)); err == nil {
			once.Do(func() { close(hello) })
		}
		_, _ = io.Copy(io.Discard, c)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := transport.Dial(ctx, transport.Config{Protocol: "imap",
			Endpoint: transport.Endpoint{Addr: silent, TLS: transport.TLSImplicit},
			Timeout:  time.Hour})
		done <- err
	}()
	select {
	case <-hello: // the dial is in its handshake
	case err := <-done:
		t.Fatalf("dial ended before its handshake: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no ClientHello within 30 s")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.Canceled) {
			t.Errorf("dial: %v, want the handshake ended by the context (context.Canceled)", err)
		}
	case <-time.After(30 * time.Second): // a liveness bound: the timeout is an hour
		t.Fatal("the handshake did not end with its context within 30 s")
	}
}

// TestDialShapedTLSEndsWithContext: the implicit-TLS handshake of a dial
// on a shaped network (latency 1 h) ends when the dial's context does,
// though the network holds its ClientHello: crypto/tls's close of the
// connection under the handshake is the Conn's Close (wire.Close), which
// ends the shaping's hold, and the connection counts closed once. Before
// 2026-12-05 it closed the socket alone and the hold went on: the dial
// waited out the latency.
func TestDialShapedTLSEndsWithContext(t *testing.T) {
	addrs, cliTLS := embedded(t)
	m := &meter{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := transport.Dial(ctx, transport.Config{Protocol: "imap",
			Endpoint: transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, TLS: cliTLS,
			Meter: m, Timeout: time.Hour, Network: transport.Network{Latency: time.Hour}})
		done <- err
	}()
	// The TCP connect is made (counted open): the handshake follows.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, _, _, total := m.get(); total > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no connection within 30 s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("dial: %v, want the handshake ended by the context (context.Canceled)", err)
		}
	case <-time.After(30 * time.Second): // a liveness bound: the latency is an hour
		t.Fatal("the shaped handshake did not end with its context within 30 s")
	}
	if _, _, open, total := m.get(); open != 0 || total != 1 {
		t.Errorf("connections open %d of %d, want 0 of 1", open, total)
	}
}
