package clients

import (
	"net"
	"sync"
	"testing"
	"time"
)

// serveLoopback accepts connections on ln until ln is closed (at the end of
// the test at the latest), handles each in its own goroutine with a 10 s
// deadline on the connection, and at cleanup waits for every handler. It
// returns ln's address.
func serveLoopback(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}
