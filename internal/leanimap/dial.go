package leanimap

import (
	"context"
	"net"

	"github.com/mailsim/mailsim/internal/transport"
)

// Dial connects to cfg.Endpoint and starts a client on the connection with
// transport.SetupIMAP (implicit TLS or STARTTLS as the endpoint says, each
// step within cfg.Timeout and ending when ctx ends): the lean counterpart
// of transport.DialIMAP, returning the connection (for Explain and
// Close) and the client. The client bounds its own responses (opts), so
// the connection gets no transport.Conn.LimitIMAP. Closing the client
// closes the connection. On failure nothing stays open and the error is a
// *transport.StepError naming the failed step.
func Dial(ctx context.Context, cfg transport.Config, opts Options) (*transport.Conn, *Client, error) {
	var c *Client
	conn, err := transport.SetupIMAP(ctx, cfg, func(conn *transport.Conn, afterStartTLS bool) (err error) {
		c, err = newOn(conn, afterStartTLS, cfg.Endpoint.Addr, opts)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return conn, c, nil
}

// DialBound is Dial for a caller that closes the connection when ctx
// ends anyway: the connection stays bound to ctx until the caller calls
// stop (transport.SetupIMAPBound), which spares it a context.AfterFunc of
// its own. When ctx ends before, end closes the connection (nil: it is
// closed at once).
func DialBound(ctx context.Context, cfg transport.Config, opts Options, end transport.Ender) (*transport.Conn, *Client, func() bool, error) {
	var c *Client
	conn, stop, err := transport.SetupIMAPBound(ctx, cfg, func(conn *transport.Conn, afterStartTLS bool) (err error) {
		c, err = newOn(conn, afterStartTLS, cfg.Endpoint.Addr, opts)
		return err
	}, end)
	if err != nil {
		return nil, nil, nil, err
	}
	return conn, c, stop, nil
}

// newOn is the open of Dial's session setup: New on conn, dialed to addr.
func newOn(conn *transport.Conn, afterStartTLS bool, addr string, opts Options) (*Client, error) {
	var nc net.Conn = conn
	if afterStartTLS {
		nc = AfterStartTLS(conn)
	}
	c, err := New(nc, opts)
	if err != nil {
		return nil, transport.NameServer("imap", addr, conn.Explain(err))
	}
	return c, nil
}

// AfterStartTLS returns conn with a neutral greeting ahead of its data,
// for New on a connection whose greeting transport.StartTLSIMAP read
// already: the client then knows no capabilities until it asks.
func AfterStartTLS(conn net.Conn) net.Conn {
	return &greeted{Conn: conn, pre: []byte("* OK TLS established\r\n")}
}

// greeted replays a greeting before the connection's data.
type greeted struct {
	net.Conn
	pre []byte
}

func (g *greeted) Read(p []byte) (int, error) {
	if len(g.pre) > 0 {
		n := copy(p, g.pre)
		g.pre = g.pre[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
