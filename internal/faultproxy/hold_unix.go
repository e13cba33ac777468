//go:build unix

package faultproxy

import (
	"fmt"
	"io"
	"net"
	"syscall"
)

// holdPort binds a socket that never listens to addr (an IP:port the
// proxy listened on), so that while the proxy refuses, a dial is refused
// and no outgoing connection of another test nor a listen on port 0 is
// given the port (the kernel skips ports a socket is bound to), as it
// could be if nothing held it: SetRefuse(false) would then fail with
// "address already in use". SO_REUSEADDR, as the listener had, lets it
// bind beside the connections the proxy accepted on the port, still open.
func holdPort(addr string) (io.Closer, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	var sa syscall.Sockaddr
	family := syscall.AF_INET
	if ip4 := ta.IP.To4(); ip4 != nil {
		sa4 := &syscall.SockaddrInet4{Port: ta.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		family = syscall.AF_INET6
		sa6 := &syscall.SockaddrInet6{Port: ta.Port}
		copy(sa6.Addr[:], ta.IP.To16())
		sa = sa6
	}
	// Close-on-exec before any fork can copy it, as the net package does.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("SO_REUSEADDR: %w", err)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", addr, err)
	}
	return heldPort(fd), nil
}

// heldPort is a socket holding a port; Close releases it.
type heldPort int

func (h heldPort) Close() error { return syscall.Close(int(h)) }
