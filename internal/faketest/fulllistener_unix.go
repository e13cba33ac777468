//go:build unix

package faketest

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// FullListener returns the address of a listening socket on 127.0.0.1
// whose accept queue is full (backlog 0, the connections it takes queued
// and never accepted): a connect to it waits for its SYN to be answered
// until it times out or is cancelled, as one to a server whose listen
// queue overflowed. The socket and the queued connections are closed
// when t ends; t is skipped on a system whose queue does not fill.
func FullListener(t testing.TB) string {
	t.Helper()
	// Under ForkLock, as package net makes its sockets, so that no
	// process started meanwhile (a Dovecot of another test) inherits it.
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue: connect until a connection is not answered.
	for range 8 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("the listener's accept queue does not fill on this system")
	return ""
}
