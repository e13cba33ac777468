package transport_test

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestDeadlines checks that the deadlines of a Conn, kept by one timer per
// connection (transport/deadline.go), behave as a socket's own: a deadline
// that passes fails the read with os.ErrDeadlineExceeded; a deadline moved
// later or cleared before it passes does not; and a deadline set after an
// expiry clears it. The sleeps give a wrongly kept timer time to fire; no
// result depends on them being exact.
func TestDeadlines(t *testing.T) {
	later := func() time.Time { return time.Now().Add(time.Hour) }
	soon := func() time.Time { return time.Now().Add(30 * time.Millisecond) }
	past := time.Now().Add(-time.Second)
	nap := func() { time.Sleep(100 * time.Millisecond) }
	tests := []struct {
		name        string
		setup       func(c *transport.Conn)
		wantTimeout bool
	}{
		{"past deadline", func(c *transport.Conn) { _ = c.SetReadDeadline(past) }, true},
		{"deadline passes", func(c *transport.Conn) { _ = c.SetReadDeadline(soon()) }, true},
		{"SetDeadline", func(c *transport.Conn) { _ = c.SetDeadline(soon()) }, true},
		{"Extend", func(c *transport.Conn) { _ = c.Extend(30 * time.Millisecond) }, true},
		{"earlier replaces later", func(c *transport.Conn) { _ = c.SetReadDeadline(later()); _ = c.SetReadDeadline(soon()) }, true},
		{"moved later, then passes", func(c *transport.Conn) {
			_ = c.SetReadDeadline(soon())
			_ = c.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
		}, true},
		{"write deadline leaves reads alone", func(c *transport.Conn) { _ = c.SetWriteDeadline(past); nap() }, false},
		{"moved later", func(c *transport.Conn) { _ = c.SetReadDeadline(soon()); _ = c.SetReadDeadline(later()); nap() }, false},
		{"cleared", func(c *transport.Conn) { _ = c.SetReadDeadline(soon()); _ = c.SetReadDeadline(time.Time{}); nap() }, false},
		{"cleared after expiry", func(c *transport.Conn) { _ = c.SetReadDeadline(past); nap(); _ = c.SetReadDeadline(time.Time{}) }, false},
		{"extended after expiry", func(c *transport.Conn) { _ = c.SetDeadline(past); nap(); _ = c.Extend(time.Hour) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			send, done := make(chan struct{}), make(chan struct{})
			defer close(done)
			addr := fakeServer(t, func(c net.Conn) {
				select {
				case <-send:
					_, _ = c.Write([]byte("x"))
				case <-done:
					return
				}
				_, _ = c.Read(make([]byte, 1)) // until the client closes
			})
			c, err := transport.Dial(t.Context(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A read that neither times out nor gets data fails the
			// test instead of hanging it.
			guard := time.AfterFunc(10*time.Second, func() { _ = c.Close() })
			defer guard.Stop()
			tt.setup(c)
			if !tt.wantTimeout {
				close(send)
			}
			n, err := c.Read(make([]byte, 1))
			switch {
			case tt.wantTimeout && !errors.Is(err, os.ErrDeadlineExceeded):
				t.Errorf("Read = %d, %v; want a deadline error", n, err)
			case tt.wantTimeout && !errors.Is(c.Err(), os.ErrDeadlineExceeded):
				t.Errorf("Err() = %v; want the deadline error kept", c.Err())
			case !tt.wantTimeout && (err != nil || n != 1):
				t.Errorf("Read = %d, %v; want the server's byte", n, err)
			}
		})
	}
}

// TestWriteDeadline checks that a write blocked on a server that reads
// nothing fails with the write deadline.
func TestWriteDeadline(t *testing.T) {
	stop := make(chan struct{})
	addr := fakeServer(t, func(net.Conn) { <-stop })
	defer close(stop)
	c, err := transport.Dial(t.Context(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	guard := time.AfterFunc(10*time.Second, func() { _ = c.Close() })
	defer guard.Stop()
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	chunk := make([]byte, 64<<10)
	for i := 0; i < 4096; i++ { // at most 256 MiB, far beyond the socket buffers
		if _, err = c.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write: %v; want a deadline error", err)
	}
}

// BenchmarkDeadlines measures the deadline calls of one IMAP command (the
// device arms the read deadline, the library sets and clears the write
// deadline, the device disarms) on a socket directly and on a Conn (one
// watchdog timer per connection).
func BenchmarkDeadlines(b *testing.B) {
	stop := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			<-stop
			c.Close()
		}
	}()
	defer close(stop)
	c, err := transport.Dial(b.Context(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: ln.Addr().String()}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	for _, bm := range []struct {
		name string
		conn net.Conn
	}{{"socket", raw}, {"watchdog", c}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bm.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
				_ = bm.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
				_ = bm.conn.SetWriteDeadline(time.Time{})
				_ = bm.conn.SetReadDeadline(time.Time{})
			}
		})
	}
}
