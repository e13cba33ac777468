package mailserver

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// trackedListener counts connections for the Recorder and registers each
// with the Server so that Close can interrupt it and wait for its end.
type trackedListener struct {
	net.Listener
	srv   *Server
	proto string
}

func (l *trackedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c, srv: l.srv, proto: l.proto}
		l.srv.mu.Lock()
		if l.srv.closed {
			l.srv.mu.Unlock()
			c.Close()
			continue
		}
		l.srv.conns[tc] = struct{}{}
		l.srv.wg.Add(1)
		l.srv.mu.Unlock()
		l.srv.rec.Connection(l.proto, 1)
		return tc, nil
	}
}

// trackedConn is a connection the Server knows about. Its first Close
// unregisters it; after interrupt every read, write and deadline change
// fails at once, so the goroutine serving it returns promptly even if the
// protocol library resets deadlines.
type trackedConn struct {
	net.Conn
	srv         *Server
	proto       string
	interrupted atomic.Bool
	closeOnce   sync.Once
}

var pastDeadline = time.Unix(1, 0)

func (c *trackedConn) interrupt() {
	c.interrupted.Store(true)
	c.Conn.SetDeadline(pastDeadline)
}

func (c *trackedConn) Read(p []byte) (int, error) {
	if c.interrupted.Load() {
		return 0, net.ErrClosed
	}
	return c.Conn.Read(p)
}

func (c *trackedConn) Write(p []byte) (int, error) {
	if c.interrupted.Load() {
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if c.interrupted.Load() {
		t = pastDeadline
	}
	return c.Conn.SetDeadline(t)
}

func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if c.interrupted.Load() {
		t = pastDeadline
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetWriteDeadline(t time.Time) error {
	if c.interrupted.Load() {
		t = pastDeadline
	}
	return c.Conn.SetWriteDeadline(t)
}

// shut closes the socket without ending the connection for the Server:
// the goroutine serving it is still unwinding (its session not yet
// released), so Close, which the protocol library calls last, stays the
// end that Server.Close waits for.
func (c *trackedConn) shut() error { return c.Conn.Close() }

// shutSocket closes c's socket early (a guard cutting a vanished client
// off) without ending the connection for Server.Close; a connection that
// is no trackedConn (a test's) is closed.
func shutSocket(c net.Conn) error {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if t, ok := c.(*trackedConn); ok {
		return t.shut()
	}
	return c.Close()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.closeOnce.Do(func() {
		c.srv.rec.Connection(c.proto, -1)
		c.srv.mu.Lock()
		delete(c.srv.conns, c)
		c.srv.mu.Unlock()
		c.srv.wg.Done()
	})
	return err
}
