package transport_test

import (
	"context"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

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
			addr := fakeServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
			m := &shapeMeter{}
			c, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp",
				Endpoint: transport.Endpoint{Addr: addr}, Meter: m, Timeout: 10 * time.Second, Network: tc.nw})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
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
