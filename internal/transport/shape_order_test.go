package transport_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestShapedSendsKeepOrder: on a shaped connection a write that comes
// while the release of gathered writes waits out the network goes after
// them, as on one TCP stream. Before the sends were serialised (wire.smu),
// a small write could overtake a large release (its shorter pace ended
// first), and the server read "B" before the gathered "A…". A nested
// gathering's Flush leaves the outer one holding.
func TestShapedSendsKeepOrder(t *testing.T) {
	got := make(chan []byte, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const big = 2000
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, big+1)
		_, _ = io.ReadFull(c, b)
		got <- b
	}()
	// 2,000 bytes at 40 kbit/s: 400 ms held, where one byte takes 0.2 ms.
	c := dialShaped(t, ln.Addr().String(), transport.Network{Latency: time.Millisecond, Bandwidth: 40_000}, nil)
	c.Gather()
	if _, err := c.Write(bytes.Repeat([]byte("A"), big)); err != nil {
		t.Fatal(err)
	}
	// A nested gathering ends: the outer one holds on.
	c.Gather()
	_ = c.Flush()
	if n := c.Writes(); n != 0 {
		t.Fatalf("%d writes on the wire while a gathering holds them", n)
	}
	mark := c.HoldMark()
	flushed := make(chan error, 1)
	go func() { flushed <- c.Flush() }()
	// Once the network holds the release, a small write comes.
	for deadline := time.Now().Add(10 * time.Second); c.HeldFor(mark) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the release never began")
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Write([]byte("B")); err != nil {
		t.Fatal(err)
	}
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if want := append(bytes.Repeat([]byte("A"), big), 'B'); !bytes.Equal(b, want) {
			t.Errorf("the server read %q…%q, want the gathered A's, then B", b[:min(4, len(b))], b[max(0, len(b)-4):])
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server read nothing")
	}
}
