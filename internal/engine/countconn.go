package engine

import (
	"net"

	"github.com/mailsim/mailsim/clients"
)

// countingConn reports the bytes of the injector's connections to a
// Recorder, as the devices' connections do. It is left for the injector
// only until the injector dials through internal/transport, whose Conn
// counts the same way; then this file goes.
type countingConn struct {
	net.Conn
	rec      clients.Recorder
	protocol string
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.rec.Bytes(c.protocol, int64(n), 0)
	}
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.rec.Bytes(c.protocol, 0, int64(n))
	}
	return n, err
}
