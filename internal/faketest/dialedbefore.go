package faketest

import (
	"net"
	"testing"
	"time"
)

// Unaccepted returns a TCP listener on 127.0.0.1 that nothing accepts
// from, for DialedBefore: the kernel queues the connections made to it.
// It is closed when t ends.
func Unaccepted(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

// DialedBefore reports whether a connection to ln, a TCP listener on
// loopback that nothing accepted from, was made before this call: the
// kernel queued it, and Accept returns it ahead of a probe connection
// made now (a connect to loopback is made within connect(2), so one that
// returned is queued). It accepts one connection, so that a test asks it
// once; 20 s bound the probe (liveness).
func DialedBefore(t testing.TB, ln net.Listener) bool {
	t.Helper()
	probe, err := net.DialTimeout("tcp", ln.Addr().String(), 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if tl, ok := ln.(*net.TCPListener); ok {
		_ = tl.SetDeadline(time.Now().Add(20 * time.Second))
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.RemoteAddr().String() != probe.LocalAddr().String()
}
