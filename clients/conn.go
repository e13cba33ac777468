package clients

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// DefaultTimeout bounds every network operation when Options.Timeout is
// zero.
const DefaultTimeout = 30 * time.Second

// timeout returns o.Timeout or DefaultTimeout.
func (o *Options) timeout() time.Duration {
	if o == nil || o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// logger returns o.Logger or a logger that discards.
func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return discardLogger
	}
	return o.Logger
}

// recorder returns o.Recorder or a recorder that discards; never nil.
func (o *Options) recorder() Recorder {
	if o == nil || o.Recorder == nil {
		return discardRecorder{}
	}
	return o.Recorder
}

// tlsConfig returns a copy of o.TLS (or a fresh config) with ServerName set
// from the host of addr when empty. Verification stays on unless o.TLS
// turns it off.
func (o *Options) tlsConfig(addr string) *tls.Config {
	var o2 *tls.Config
	if o != nil {
		o2 = o.TLS
	}
	return tlsConfigFor(o2, addr)
}

func tlsConfigFor(base *tls.Config, addr string) *tls.Config {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg.ServerName = host
	}
	return cfg
}

var discardLogger = slog.New(slog.DiscardHandler)

// discardRecorder is the Recorder used when none is configured.
type discardRecorder struct{}

func (discardRecorder) Command(CommandEvent)       {}
func (discardRecorder) Bytes(string, int64, int64) {}
func (discardRecorder) Connection(string, int)     {}
func (discardRecorder) Login(string, Outcome)      {}

// Conn is a device's connection to a server: a net.Conn that counts the
// bytes it carries (on the wire, below TLS), applies the device profile's
// network shaping and reports its opening and closing to the Recorder
// exactly once each. Reads and writes may run concurrently, as with any
// net.Conn; StartTLS must not run concurrently with them.
type Conn struct {
	protocol string
	rec      Recorder
	timeout  time.Duration

	raw  net.Conn // TCP
	wire *wire    // raw with counting and shaping
	top  net.Conn // wire, or TLS over wire

	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex  // guards drop
	drop *time.Timer // the simulated network drop, or nil

	// writes counts Write calls on the wire, to tell whether a library
	// call sent a command (see Writes).
	writes atomic.Int64
}

// Writes returns how many writes reached the wire so far.
func (c *Conn) Writes() int64 { return c.writes.Load() }

// wire is the TCP connection with byte counting and shaping.
type wire struct {
	net.Conn
	c         *Conn
	latency   time.Duration
	bandwidth int64 // bits per second, 0 unlimited
}

func (w *wire) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		w.c.rec.Bytes(w.c.protocol, int64(n), 0)
		w.pace(n)
	}
	return n, err
}

func (w *wire) Write(p []byte) (int, error) {
	if w.latency > 0 {
		time.Sleep(w.latency)
	}
	w.pace(len(p))
	n, err := w.Conn.Write(p)
	if n > 0 {
		w.c.rec.Bytes(w.c.protocol, 0, int64(n))
		w.c.writes.Add(1)
	}
	return n, err
}

// pace sleeps as long as n bytes take at the configured bandwidth.
func (w *wire) pace(n int) {
	if w.bandwidth <= 0 {
		return
	}
	d := time.Duration(int64(n) * 8 * int64(time.Second) / w.bandwidth)
	if d > 0 {
		time.Sleep(d)
	}
}

// dial connects to ep for protocol ("imap", "pop3", "smtp") with o's
// timeout, TLS settings, Recorder and the network shaping of o.Profile.
// With ep.TLS implicit the TLS handshake is done before dial returns; with
// starttls the protocol code sends its STARTTLS command and calls
// Conn.StartTLS. ctx bounds the dial only: the caller closes the Conn when
// its context ends (context.AfterFunc) and sets deadlines with Extend.
func dial(ctx context.Context, o *Options, protocol string, ep scenarios.Endpoint) (*Conn, error) {
	var nw scenarios.Network
	if o != nil && o.Profile != nil {
		nw = o.Profile.Network
	}
	var dropAfter time.Duration
	if nw.DisconnectEvery > 0 && o.Clock != nil {
		dropAfter = o.Clock.Wall(nw.DisconnectEvery)
		if dropAfter <= 0 {
			dropAfter = time.Millisecond
		}
	}
	var tlsBase *tls.Config
	if o != nil {
		tlsBase = o.TLS
	}
	return dialConn(ctx, dialParams{
		protocol:  protocol,
		ep:        ep,
		rec:       o.recorder(),
		timeout:   o.timeout(),
		tls:       tlsBase,
		network:   nw,
		dropAfter: dropAfter,
	})
}

type dialParams struct {
	protocol  string
	ep        scenarios.Endpoint
	rec       Recorder
	timeout   time.Duration
	tls       *tls.Config
	network   scenarios.Network
	dropAfter time.Duration // wall time; 0 never
}

func dialConn(ctx context.Context, p dialParams) (*Conn, error) {
	if p.ep.Addr == "" {
		return nil, fmt.Errorf("%s: no server address", p.protocol)
	}
	if p.timeout <= 0 {
		p.timeout = DefaultTimeout
	}
	if p.rec == nil {
		p.rec = discardRecorder{}
	}
	switch p.ep.TLS {
	case "", scenarios.TLSNone, scenarios.TLSStartTLS, scenarios.TLSImplicit:
	default:
		return nil, fmt.Errorf("%s %s: unknown tls mode %q", p.protocol, p.ep.Addr, p.ep.TLS)
	}
	d := net.Dialer{Timeout: p.timeout}
	raw, err := d.DialContext(ctx, "tcp", p.ep.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", p.protocol, p.ep.Addr, err)
	}
	c := &Conn{protocol: p.protocol, rec: p.rec, timeout: p.timeout, raw: raw}
	c.wire = &wire{Conn: raw, c: c, latency: p.network.Latency, bandwidth: p.network.Bandwidth}
	c.top = c.wire
	c.rec.Connection(p.protocol, +1)
	if p.dropAfter > 0 {
		// A mobile network drop: the connection dies under the client.
		c.mu.Lock()
		c.drop = time.AfterFunc(p.dropAfter, func() { _ = c.Close() })
		c.mu.Unlock()
	}
	if p.ep.TLS == scenarios.TLSImplicit {
		if err := c.StartTLS(tlsConfigFor(p.tls, p.ep.Addr)); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	return c, nil
}

// StartTLS runs a TLS client handshake over the connection (after the
// protocol's STARTTLS command was accepted, or at once for implicit TLS),
// bounded by the connection's timeout. Later reads and writes are
// encrypted; byte counts stay those of the wire.
func (c *Conn) StartTLS(cfg *tls.Config) error {
	if cfg == nil {
		cfg = tlsConfigFor(nil, c.raw.RemoteAddr().String())
	}
	tc := tls.Client(c.wire, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("%s %s: tls handshake: %w", c.protocol, c.raw.RemoteAddr(), err)
	}
	c.top = tc
	return nil
}

// Extend sets the read and write deadline to now plus d, or plus the
// connection's timeout when d <= 0. Protocol code calls it before each
// command.
func (c *Conn) Extend(d time.Duration) error {
	if d <= 0 {
		d = c.timeout
	}
	return c.raw.SetDeadline(time.Now().Add(d))
}

// Timeout returns the bound of one network operation on c.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) { return c.top.Read(p) }

// Write implements net.Conn.
func (c *Conn) Write(p []byte) (int, error) { return c.top.Write(p) }

// Close closes the connection; the Recorder sees the closing once however
// often Close is called.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		if c.drop != nil {
			c.drop.Stop()
		}
		c.mu.Unlock()
		// Count first: whoever sees the connection fail sees it closed.
		c.rec.Connection(c.protocol, -1)
		c.closeErr = c.raw.Close()
	})
	return c.closeErr
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline implements net.Conn.
func (c *Conn) SetDeadline(t time.Time) error { return c.raw.SetDeadline(t) }

// SetReadDeadline implements net.Conn.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// SetWriteDeadline implements net.Conn.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// TLS reports whether the connection is encrypted.
func (c *Conn) TLS() bool {
	_, ok := c.top.(*tls.Conn)
	return ok
}

var _ net.Conn = (*Conn)(nil)
var _ io.ReadWriteCloser = (*Conn)(nil)
