package faketest

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestFreeAddr: the address is on loopback, below the ephemeral range,
// and free: a listen on it succeeds.
func TestFreeAddr(t *testing.T) {
	top := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 11000 {
				top = n
			}
		}
	}
	for range 20 {
		addr := FreeAddr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); host != "127.0.0.1" || p < 10000 || p >= top {
			t.Fatalf("FreeAddr %s: want 127.0.0.1 and a port from 10000 below the ephemeral range's %d", addr, top)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		ln.Close()
	}
}
