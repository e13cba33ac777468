package transport_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// shapeMeter is a meter that also keeps the delays of the shaped writes
// it is told of (transport.ShapeMeter).
type shapeMeter struct {
	meter
	mu     sync.Mutex
	delays []time.Duration
}

func (m *shapeMeter) ShapedWrite(_ string, d time.Duration) {
	m.mu.Lock()
	m.delays = append(m.delays, d)
	m.mu.Unlock()
}

// dialShapedEcho dials a server that echoes what it reads, shaped by nw,
// and returns the connection, closed when the test ends, and its meter.
func dialShapedEcho(t *testing.T, nw transport.Network) (*transport.Conn, *shapeMeter) {
	t.Helper()
	addr := fakeServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	m := &shapeMeter{}
	c, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp",
		Endpoint: transport.Endpoint{Addr: addr}, Meter: m, Timeout: 10 * time.Second, Network: nw})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, m
}

// TestShapedWrites: a Meter that is a ShapeMeter is told of each write
// the network shaping held back, with the delay the shaping computed
// (latency, and the bytes' time at the bandwidth), and of none on an
// unshaped connection; reads are paced but not reported.
func TestShapedWrites(t *testing.T) {
	tests := []struct {
		name string
		nw   transport.Network
		want []time.Duration // one per write of 1000 bytes
	}{
		{"unshaped", transport.Network{}, nil},
		{"latency", transport.Network{Latency: time.Millisecond},
			[]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}},
		// 1000 bytes at 8 Mbit/s: 1 ms.
		{"latency and bandwidth", transport.Network{Latency: time.Millisecond, Bandwidth: 8_000_000},
			[]time.Duration{2 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond}},
		{"bandwidth", transport.Network{Bandwidth: 8_000_000},
			[]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, m := dialShapedEcho(t, tc.nw)
			buf := make([]byte, 1000)
			for range 3 {
				_ = c.Extend(0)
				if _, err := c.Write(buf); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			if !slices.Equal(m.delays, tc.want) {
				t.Errorf("shaped writes %v, want %v", m.delays, tc.want)
			}
			if c.Writes() != 3 {
				t.Errorf("%d writes, want 3", c.Writes())
			}
		})
	}
}

// TestCork: the writes after Cork on a connection with latency leave in
// one write, held back the latency once (and the bandwidth's time of all
// their bytes), when the connection next reads; later writes go out as
// they come. Without latency Cork does nothing.
func TestCork(t *testing.T) {
	tests := []struct {
		name   string
		nw     transport.Network
		writes int64           // writes on the wire for the three corked pieces and one more
		want   []time.Duration // the shaped writes' delays
	}{
		{"unshaped", transport.Network{}, 4, nil},
		{"bandwidth", transport.Network{Bandwidth: 8_000_000}, 4,
			[]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond, time.Millisecond}},
		// 3000 bytes at 8 Mbit/s: 3 ms.
		{"latency and bandwidth", transport.Network{Latency: time.Millisecond, Bandwidth: 8_000_000}, 2,
			[]time.Duration{4 * time.Millisecond, 2 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, m := dialShapedEcho(t, tc.nw)
			_ = c.Extend(0)
			c.Cork()
			piece := make([]byte, 1000)
			for i := range 3 {
				piece[0] = byte('a' + i)
				if _, err := c.Write(piece); err != nil {
					t.Fatal(err)
				}
			}
			readPieces(t, c)
			// Uncorked by the read: the next write goes out at once.
			if _, err := c.Write(piece); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, piece); err != nil {
				t.Fatal(err)
			}
			m.check(t, c, tc.want, tc.writes)
		})
	}
}

// readPieces reads back from c's echo the three pieces of 1000 bytes
// written, the first byte of each 'a', 'b' and 'c'.
func readPieces(t *testing.T, c *transport.Conn) {
	t.Helper()
	got := make([]byte, 3000)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if got[0] != 'a' || got[1000] != 'b' || got[2000] != 'c' {
		t.Errorf("the pieces came back as %q, %q, %q", got[0], got[1000], got[2000])
	}
}

// check checks the delays of the shaped writes m was told of on c and
// the writes that reached c's wire.
func (m *shapeMeter) check(t *testing.T, c *transport.Conn, delays []time.Duration, writes int64) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Equal(m.delays, delays) {
		t.Errorf("shaped writes %v, want %v", m.delays, delays)
	}
	if c.Writes() != writes {
		t.Errorf("%d writes, want %d", c.Writes(), writes)
	}
}

// TestCorkFailedWrite: the read that sends the held writes fails with
// their write's error.
func TestCorkFailedWrite(t *testing.T) {
	c, _ := dialShapedEcho(t, transport.Network{Latency: time.Millisecond})
	_ = c.Extend(0)
	c.Cork()
	if _, err := c.Write([]byte("held\r\n")); err != nil {
		t.Fatalf("a held write: %v", err)
	}
	_ = c.Close()
	if _, err := c.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after the close: %v, want the held write's net.ErrClosed", err)
	}
	if c.Writes() != 0 {
		t.Errorf("%d writes reached the wire", c.Writes())
	}
}

// TestGather: the writes between Gather and Flush on a connection with
// latency leave in one write at Flush, held back the latency once (and
// the bandwidth's time of all their bytes); a read in between does not
// send them, and gatherings nest: the last Flush sends. Without latency
// both do nothing.
func TestGather(t *testing.T) {
	tests := []struct {
		name   string
		nw     transport.Network
		writes int64           // writes on the wire for the three gathered pieces
		want   []time.Duration // the shaped writes' delays
	}{
		{"unshaped", transport.Network{}, 3, nil},
		{"bandwidth", transport.Network{Bandwidth: 8_000_000}, 3,
			[]time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}},
		// 3000 bytes at 8 Mbit/s: 3 ms.
		{"latency and bandwidth", transport.Network{Latency: time.Millisecond, Bandwidth: 8_000_000}, 1,
			[]time.Duration{4 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, m := dialShapedEcho(t, tc.nw)
			_ = c.Extend(0)
			c.Gather()
			c.Gather()
			piece := make([]byte, 1000)
			for i := range 3 {
				piece[0] = byte('a' + i)
				if _, err := c.Write(piece); err != nil {
					t.Fatal(err)
				}
				if i == 1 {
					if err := c.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.nw.Latency > 0 {
				// Held still: a read finds nothing echoed and sends nothing.
				_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
				if n, err := c.Read(piece); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("a read while gathering: %d bytes, %v; want none, the deadline", n, err)
				}
				if c.Writes() != 0 {
					t.Errorf("%d writes reached the wire before the last Flush", c.Writes())
				}
				_ = c.Extend(0)
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			readPieces(t, c)
			m.check(t, c, tc.want, tc.writes)
		})
	}
}

// TestShapedTLSWrite: one Write of 100 KiB on a TLS connection with
// latency leaves in one write, held back the latency once, though
// crypto/tls writes it in records of about 1 KiB at first: as one write
// of a client leaves a real TCP stream in one flight. Before 2026-12-04
// it left in 13 writes, each held back the latency.
func TestShapedTLSWrite(t *testing.T) {
	const latency = time.Millisecond
	srvTLS, cliTLS := mailservertest.TLS(t)
	addr := fakeServer(t, func(c net.Conn) {
		tc := tls.Server(c, srvTLS)
		_, _ = io.Copy(tc, tc)
	})
	m := &shapeMeter{}
	c, err := transport.Dial(context.Background(), transport.Config{Protocol: "imap",
		Endpoint: transport.Endpoint{Addr: addr, TLS: transport.TLSImplicit}, TLS: cliTLS, Meter: m,
		Timeout: 10 * time.Second, Network: transport.Network{Latency: latency}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	m.mu.Lock()
	handshake := len(m.delays)
	m.mu.Unlock()
	_ = c.Extend(0)
	msg := make([]byte, 100<<10)
	for i := range msg {
		msg[i] = byte('a' + i%26)
	}
	if n, err := c.Write(msg); n != len(msg) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Error("the echo differs from the message")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.delays[handshake:]; !slices.Equal(w, []time.Duration{latency}) {
		t.Errorf("the write was held back %v, want once, the latency %v", w, latency)
	}
}
