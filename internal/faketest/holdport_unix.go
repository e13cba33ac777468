//go:build unix

package faketest

import (
	"fmt"
	"io"
	"net"
	"syscall"
)

// HoldPort binds a TCP socket that never listens to addr ("IP:port"; port
// 0 picks a free one) and returns the address bound and the socket, whose
// Close releases the port. While it is held a dial there is refused, and
// the kernel gives the port to no outgoing connection nor listen on port
// 0. reuse sets SO_REUSEADDR, as Go's listeners have: it binds beside the
// connections a closed listener accepted on the port, still open (and then
// a listener with SO_REUSEADDR bound to that very port may bind beside
// it); without, a second bind fails.
func HoldPort(addr string, reuse bool) (string, io.Closer, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		sa4 := &syscall.SockaddrInet4{Port: ta.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		family = syscall.AF_INET6
		sa6 := &syscall.SockaddrInet6{Port: ta.Port}
		copy(sa6.Addr[:], ta.IP.To16())
		sa = sa6
	}
	// Close-on-exec before any fork can copy it (a parallel test starting
	// a server), as the net package does without SOCK_CLOEXEC.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return "", nil, fmt.Errorf("hold %s: socket: %w", addr, err)
	}
	fail := func(what string, err error) (string, io.Closer, error) {
		_ = syscall.Close(fd)
		return "", nil, fmt.Errorf("hold %s: %s: %w", addr, what, err)
	}
	if reuse {
		if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
			return fail("SO_REUSEADDR", err)
		}
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		return fail("getsockname", err)
	}
	var got *net.TCPAddr
	switch b := bound.(type) {
	case *syscall.SockaddrInet4:
		got = &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}
	case *syscall.SockaddrInet6:
		got = &net.TCPAddr{IP: net.IP(b.Addr[:]), Port: b.Port}
	default:
		return fail("getsockname", fmt.Errorf("bound to %T", bound))
	}
	return got.String(), heldPort(fd), nil
}

// heldPort is a socket holding a port; Close releases it.
type heldPort int

func (h heldPort) Close() error { return syscall.Close(int(h)) }
