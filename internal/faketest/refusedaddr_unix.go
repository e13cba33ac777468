//go:build unix

package faketest

import (
	"net"
	"strconv"
	"syscall"
	"testing"
)

// RefusedAddr returns a loopback address ("127.0.0.1:PORT") where a
// connection is refused for the rest of the test: the port is held by a
// socket bound to it that never listens (closed in the test's cleanup), so
// a dial gets a reset, and no listener nor outgoing connection of a test
// running meanwhile can be given the port, as one from a closed
// 127.0.0.1:0 listener could be. It is bound without SO_REUSEADDR, which
// a second bind would need, and the kernel picks no port a socket holds
// for a connection's own end.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	// Close-on-exec before any fork can copy it (a parallel test starting
	// a server), as the net package does without SOCK_CLOEXEC.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatalf("refused address: socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("refused address: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("refused address: getsockname: %v", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		t.Fatalf("refused address: bound to %T, want an IPv4 address", sa)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(in4.Port))
}
