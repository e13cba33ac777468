package faketest

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the address is on loopback, below the ephemeral range,
// and free: a listen on it succeeds.
func TestFreeAddr(t *testing.T) {
	top := ephemeralStart()
	for range 20 {
		addr := FreeAddr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); host != "127.0.0.1" || p < lowest || p >= top {
			t.Fatalf("FreeAddr %s: want 127.0.0.1 and a port from 10000 below the ephemeral range's %d", addr, top)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		ln.Close()
	}
}
