// Package transport is mailsim's one place for the plumbing every protocol
// client shares: dialing with deadlines, TLS (implicit and STARTTLS), byte
// and connection counting, network shaping, bounded IMAP replies and the
// login exchanges of IMAP and POP3. Devices (clients), the server-state
// reader and the preflight (internal/engine) all dial through it.
//
// It also owns the outcome vocabulary ([Outcome]) and its classifiers
// ([OutcomeOf], [LoginOutcome], [NetOutcome], internal/transport/outcome.go):
// callers classify a failure with them, and the errors returned here wrap
// the underlying network or TLS error so those classifiers see it.
package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultTimeout bounds every network operation when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Meter counts what happens on connections. clients.Recorder implements it.
// Implementations must be safe for concurrent use and cheap.
type Meter interface {
	// Bytes counts bytes read (in) and written (out) on a connection.
	Bytes(protocol string, in, out int64)
	// Connection is called with +1 when a connection opens and -1 when it
	// closes.
	Connection(protocol string, delta int)
}

// ShapeMeter is a Meter that is also told of the network shaping's
// delays (Config.Network): Dial checks whether Config.Meter implements
// it, and each write the shaping held back is then reported with its
// delay. A Meter that does not implement it costs nothing more.
type ShapeMeter interface {
	Meter
	// ShapedWrite counts one write on a connection of protocol held back
	// d by the shaping before it reached the socket: the latency and the
	// time its bytes take at the bandwidth. A write whose wait the
	// connection's close ended is not reported: it never left.
	ShapedWrite(protocol string, d time.Duration)
}

// discardMeter is the Meter used when none is configured.
type discardMeter struct{}

func (discardMeter) Bytes(string, int64, int64) {}
func (discardMeter) Connection(string, int)     {}

// Config configures one connection.
type Config struct {
	// Protocol names the connection for the Meter and in errors ("imap",
	// "pop3", "smtp", "lmtp"). Required.
	Protocol string
	// Endpoint is the server address and TLS mode. Addr is required.
	Endpoint Endpoint
	// Meter counts bytes and connections. Nil discards.
	Meter Meter
	// Timeout bounds the dial, the TLS handshake and, through Conn.Extend,
	// every command. Zero means DefaultTimeout.
	Timeout time.Duration
	// TLS is the base TLS configuration (see TLSConfig). Nil verifies
	// against the system roots.
	TLS *tls.Config
	// Network shapes the connection (latency before each write,
	// bandwidth); the zero value does not shape. A Meter that is a
	// ShapeMeter is told of each write it held back.
	Network Network
	// DropAfter closes the connection under its user after this wall time
	// (a mobile network drop); zero never.
	DropAfter time.Duration
	// KeepAlive is the TCP keep-alive period of the connection, as
	// net.Dialer's: zero means 15 s (net's default: probes after 15 s
	// idle, every 15 s), negative disables keep-alive. A session that
	// lives for one command or three (the injector's APPEND sessions,
	// internal/engine/injector.go) has no use for it: a dial without it
	// saves four setsockopt(2) calls. Long sessions (devices, IDLE) keep
	// the default.
	KeepAlive time.Duration
	// LateCloser, shared by the connections of a run, lets Close close a
	// socket with raw system calls and its descriptor later (see
	// LateCloser); a dial that finds no descriptor left has it close those
	// it holds and tries again. Nil: Close closes the descriptor at once.
	LateCloser *LateCloser
}

// Validate reports every problem of c.
func (c Config) Validate() []error {
	var errs []error
	if c.Protocol == "" {
		errs = append(errs, errors.New("transport: no protocol"))
	}
	if c.Endpoint.Addr == "" {
		errs = append(errs, fmt.Errorf("%s: no server address", c.Protocol))
	}
	switch c.Endpoint.TLS {
	case "", TLSNone, TLSStartTLS, TLSImplicit:
	default:
		errs = append(errs, fmt.Errorf("%s %s: unknown tls mode %q", c.Protocol, c.Endpoint.Addr, c.Endpoint.TLS))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("%s: negative timeout %v", c.Protocol, c.Timeout))
	}
	if c.DropAfter < 0 {
		errs = append(errs, fmt.Errorf("%s: negative drop interval %v", c.Protocol, c.DropAfter))
	}
	return errs
}

// TLSConfig returns a copy of base (or a fresh config requiring TLS 1.2)
// with ServerName set from the host of addr when empty. Verification stays
// on unless base turns it off. It is the one TLS-config builder of mailsim.
func TLSConfig(base *tls.Config, addr string) *tls.Config {
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

// BaseTLS returns the base TLS configuration of a run against a real
// server, which TLSConfig completes per address: TLS 1.2 at least, the
// certificate verified against the system roots unless skipVerify (the
// target's insecure_skip_verify, docs/scenarios.md).
func BaseTLS(skipVerify bool) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skipVerify}
}

// Conn is a client connection to a server: a net.Conn that counts the
// bytes it carries (on the wire, below TLS), applies network shaping,
// optionally bounds IMAP replies (LimitIMAP) and reports its opening and
// closing to the Meter exactly once each. Reads and writes may run
// concurrently, as with any net.Conn; StartTLS and LimitIMAP must not run
// concurrently with them.
type Conn struct {
	protocol string
	addr     string
	meter    Meter
	timeout  time.Duration

	// shape is meter when it is a ShapeMeter, else nil.
	shape ShapeMeter

	raw  net.Conn    // TCP
	late *LateCloser // closes a released socket's placeholder (Close); nil: none
	wire *wire       // raw with counting and shaping: &w
	w    wire        // (one allocation with the Conn)
	top  net.Conn    // wire, or TLS over wire

	lim *imapLimiter // nil: replies unbounded here

	// implicit is the TLS configuration of the implicit TLS handshake
	// Connect left to Handshake; nil: none due.
	implicit *tls.Config

	// dl enforces the read and write deadlines with one timer (see
	// watchdog): Extend and the Set*Deadline methods go through it.
	dl watchdog

	closeOnce sync.Once
	closeErr  error

	mu   sync.Mutex  // guards drop
	drop *time.Timer // the simulated network drop, or nil
	// dropped is set by the drop timer before it closes the connection:
	// the I/O errors from then on wrap ErrDropped (droppedErr).
	dropped atomic.Bool

	// writes counts Write calls on the wire, to tell whether a library
	// call sent a command (see Writes).
	writes atomic.Int64
	// readErr is the first read error, kept because protocol libraries
	// often flatten the errors they return (see Explain).
	readErr atomic.Pointer[error]
	// heard is set by the first byte the server sent; unserved when a
	// read found the connection ended or reset by the server before that
	// (noteRead): the server never served it (Explain, ErrUnserved).
	heard, unserved atomic.Bool
}

// wire is the TCP connection with byte counting and shaping.
type wire struct {
	net.Conn
	// io reads and writes the socket without the runtime's syscall entry
	// (rawio_linux.go); nil: through Conn.
	io        *rawIO
	c         *Conn
	latency   time.Duration
	bandwidth int64 // bits per second, 0 unlimited
	// corked says that writes are held in held until the next read
	// (Conn.Cork). Only a client that reads and writes on one goroutine
	// corks; a read checks it without gmu.
	corked atomic.Bool
	// gmu guards gathers and held, taken only on a connection with
	// latency (nothing else corks or gathers): a client may write on one
	// goroutine while its reader (go-imap's, and crypto/tls's own alerts
	// under it) runs on another.
	gmu sync.Mutex
	// gathers counts the gatherings in progress (Conn.Gather, and
	// Conn.Write over TLS): while any is, writes are held in held, and
	// the last one's end sends them (Conn.Flush) unless corked.
	gathers int
	held    []byte
	// smu makes the sends of a connection with latency one at a time, in
	// the order their writes came: taken (gmu first) by a write that
	// sends at once and by the release of the held writes, so that
	// neither overtakes the other (a TLS alert written by the reader
	// goroutine, say, while a release waits out the latency).
	smu sync.Mutex
	// closed is closed by Conn.Close on a shaped connection (nil on an
	// unshaped one, which never waits): it ends a shaping wait (hold), so
	// that a close does not wait out a long pace.
	closed chan struct{}
	// heldNanos adds up the shaping waits that ended; readSince and
	// writeSince are the start of the one in progress on each side
	// (monoNow; 0: none): the network's share of a span of time
	// (Conn.HoldMark, Conn.HeldFor). Reads and writes each run one at a
	// time on a connection.
	heldNanos             atomic.Int64
	readSince, writeSince atomic.Int64
	// writeFailed is set once a write to the socket failed
	// (Conn.WriteFailed).
	writeFailed atomic.Bool
}

// Close closes the connection w carries (Conn.Close): so a TLS handshake
// its context ended (crypto/tls closes the connection under it) ends the
// shaping's hold of its write as well, and the connection is counted
// closed once. Conn.Close itself closes the socket, never w.
func (w *wire) Close() error { return w.c.Close() }

func (w *wire) Read(p []byte) (n int, err error) {
	if w.corked.Load() {
		if err := w.uncork(); err != nil {
			return 0, err
		}
	}
	if w.io != nil {
		n, err = w.io.Read(p)
	} else {
		n, err = w.Conn.Read(p)
	}
	if n > 0 {
		w.c.meter.Bytes(w.c.protocol, int64(n), 0)
		w.pace(n)
	}
	w.c.noteRead(n, err)
	return n, err
}

func (w *wire) Write(p []byte) (int, error) {
	if w.latency > 0 {
		return w.writeShaped(p)
	}
	return w.send(p)
}

// writeShaped keeps p in held while the connection is corked or
// gathering, and otherwise sends it, after any send in progress; w has
// latency.
func (w *wire) writeShaped(p []byte) (int, error) {
	w.gmu.Lock()
	if w.corked.Load() || w.gathers > 0 {
		w.held = append(w.held, p...)
		w.gmu.Unlock()
		return len(p), nil
	}
	w.smu.Lock()
	w.gmu.Unlock()
	defer w.smu.Unlock()
	return w.send(p)
}

// send writes p to the socket, held back by the shaping first.
func (w *wire) send(p []byte) (int, error) {
	if d := w.latency + w.transfer(len(p)); d > 0 {
		if w.hold(d, &w.writeSince) && w.c.shape != nil {
			w.c.shape.ShapedWrite(w.c.protocol, d)
		}
	}
	var n int
	var err error
	if w.io != nil {
		n, err = w.io.Write(p)
	} else {
		n, err = w.Conn.Write(p)
	}
	if n > 0 {
		w.c.meter.Bytes(w.c.protocol, 0, int64(n))
		w.c.writes.Add(1)
	}
	if err != nil {
		w.writeFailed.Store(true)
	}
	return n, err
}

// uncork sends the writes held since Cork in one write, unless a
// gathering holds them still, and writes go out as they come again.
func (w *wire) uncork() error {
	w.gmu.Lock()
	w.corked.Store(false)
	return w.release()
}

// gather starts a gathering (Conn.Gather); w has latency.
func (w *wire) gather() {
	w.gmu.Lock()
	w.gathers++
	w.gmu.Unlock()
}

// flush ends a gathering (Conn.Flush): the last one sends the writes
// held in one write, unless corked. w has latency. A flush without a
// gathering in progress does nothing; one without its own Gather while
// another's gathering holds would end that one (a caller's bug: every
// Flush follows its own Gather).
func (w *wire) flush() error {
	w.gmu.Lock()
	if w.gathers == 0 {
		w.gmu.Unlock()
		return nil
	}
	w.gathers--
	return w.release()
}

// release, with gmu held, which it unlocks, sends the writes held in one
// write when nothing holds them any more.
func (w *wire) release() error {
	held := w.held
	if w.corked.Load() || w.gathers > 0 || len(held) == 0 {
		w.gmu.Unlock()
		return nil
	}
	w.held = nil
	w.smu.Lock()
	w.gmu.Unlock()
	defer w.smu.Unlock()
	_, err := w.send(held)
	return err
}

// writeRead writes p and reads into b on the raw socket (rawIO.writeRead),
// counting as Write and Read do; w.io is set and w does not shape.
func (w *wire) writeRead(p, b []byte) (nr int, werr, rerr error) {
	nw, nr, werr, rerr := w.io.writeRead(p, b)
	if werr != nil {
		w.writeFailed.Store(true)
	}
	if nw > 0 {
		w.c.meter.Bytes(w.c.protocol, 0, int64(nw))
		w.c.writes.Add(1)
	}
	if nr > 0 {
		w.c.meter.Bytes(w.c.protocol, int64(nr), 0)
	}
	w.c.noteRead(nr, rerr)
	return nr, werr, rerr
}

// pace holds the connection as long as n bytes take at the configured
// bandwidth.
func (w *wire) pace(n int) {
	if d := w.transfer(n); d > 0 {
		w.hold(d, &w.readSince)
	}
}

// transfer is the time n bytes take at the configured bandwidth; zero
// when it is unlimited.
func (w *wire) transfer(n int) time.Duration {
	if w.bandwidth <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 8 * int64(time.Second) / w.bandwidth)
}

// hold is the simulated network holding the connection's bytes (a
// request before it reaches the server, a reply before its reader gets
// it) for d, or until Close, whichever comes first: the read or write
// then fails, or the next one does, as on a closed connection. Only a
// shaped connection holds (closed is set), with one timer per wait and no
// goroutine. The connection's deadlines move d later (watchdog.shift);
// since (the side's readSince or writeSince) and heldNanos note the wait
// for HeldFor. whole is false when Close ended the wait.
func (w *wire) hold(d time.Duration, since *atomic.Int64) (whole bool) {
	// The link's time is not the server's: the deadlines move with it.
	w.c.dl.shift(d)
	start := monoNow()
	since.Store(start)
	t := time.NewTimer(d)
	select {
	case <-t.C:
		whole = true
	case <-w.closed:
		t.Stop()
	}
	w.heldNanos.Add(monoNow() - start)
	since.Store(0)
	return whole
}

// monoBase is the origin of monoNow: set once, read only.
var monoBase = time.Now()

// monoNow is the monotonic clock in nanoseconds since monoBase, never 0
// (0 marks no wait in progress: wire.readSince).
func monoNow() int64 { return int64(time.Since(monoBase)) + 1 }

// heldAt returns how long the network has held the connection's bytes
// since it was dialed, at now (monoNow): the waits that ended and the
// time so far of those in progress.
func (w *wire) heldAt(now int64) int64 {
	h := w.heldNanos.Load()
	for _, since := range [2]*atomic.Int64{&w.readSince, &w.writeSince} {
		if s := since.Load(); s != 0 && s < now {
			h += now - s
		}
	}
	return h
}

// Dial connects to cfg.Endpoint within cfg.Timeout. With TLS mode implicit
// the TLS handshake is done before Dial returns; with starttls the
// protocol code sends its STARTTLS command and calls Conn.StartTLS (or
// uses StartTLSIMAP / POP3.STLS). ctx bounds the dial only: the caller
// closes the Conn when its context ends (context.AfterFunc) and sets
// deadlines with Extend. Dial is Connect and then Handshake; a caller
// that must hold the connection before its handshake (a stop's rule that
// weighs the simulated network's holds: Setup) calls them itself.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	c, err := Connect(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Handshake(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Connect is Dial's first step: the TCP connect to cfg.Endpoint within
// cfg.Timeout, ended by ctx. The connection it returns is counted open,
// shaped (cfg.Network) and under its drop timer (cfg.DropAfter), but with
// TLS mode implicit it is not secured yet: Handshake, next, runs the TLS
// handshake (its writes held by the shaping as any). Until then it must
// carry nothing.
func Connect(ctx context.Context, cfg Config) (*Conn, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Meter == nil {
		cfg.Meter = discardMeter{}
	}
	raw, err := dialTCP(ctx, cfg.Endpoint.Addr, cfg.Timeout, cfg.KeepAlive)
	if err != nil && outOfDescriptors(err) && cfg.LateCloser != nil {
		// The placeholders held may have taken the last descriptors:
		// Flush closes them, or waits for a concurrent Flush closing
		// them, and the dial tries once more whatever it closed itself.
		cfg.LateCloser.Flush()
		raw, err = dialTCP(ctx, cfg.Endpoint.Addr, cfg.Timeout, cfg.KeepAlive)
	}
	if err != nil {
		return nil, &ServerError{Protocol: cfg.Protocol, Addr: cfg.Endpoint.Addr, Err: err}
	}
	c := &Conn{protocol: cfg.Protocol, addr: cfg.Endpoint.Addr, meter: cfg.Meter, timeout: cfg.Timeout, raw: raw, late: cfg.LateCloser}
	c.shape, _ = cfg.Meter.(ShapeMeter)
	c.w = wire{Conn: raw, io: newRawIO(raw), c: c, latency: cfg.Network.Latency, bandwidth: cfg.Network.Bandwidth}
	if c.w.latency > 0 || c.w.bandwidth > 0 {
		c.w.closed = make(chan struct{})
	}
	c.wire = &c.w
	c.dl.conn = raw
	c.top = c.wire
	c.meter.Connection(cfg.Protocol, +1)
	if cfg.DropAfter > 0 {
		// A mobile network drop: the connection dies under the client.
		c.mu.Lock()
		c.drop = time.AfterFunc(cfg.DropAfter, func() {
			c.dropped.Store(true)
			_ = c.Close()
		})
		c.mu.Unlock()
	}
	if cfg.Endpoint.TLS == TLSImplicit {
		c.implicit = TLSConfig(cfg.TLS, cfg.Endpoint.Addr)
	}
	return c, nil
}

// Handshake is Dial's second step, on a connection Connect made: with TLS
// mode implicit it runs the TLS handshake, within the connection's
// timeout, ended by ctx and by Close (which also ends the shaping's hold
// of a handshake's write); otherwise, or once done, it does nothing. On
// failure it closes c and returns the error explained (Explain).
func (c *Conn) Handshake(ctx context.Context) error {
	cfg := c.implicit
	if cfg == nil {
		return nil
	}
	c.implicit = nil
	// The handshake is part of the dial: ctx ends it too (the stop's
	// grace cancels a setup that ran out of it: Setup).
	if err := c.startTLS(ctx, cfg); err != nil {
		_ = c.Close()
		return c.Explain(err)
	}
	return nil
}

// outOfDescriptors reports whether err is a dial's that found no
// descriptor left (EMFILE for the process, ENFILE for the system).
func outOfDescriptors(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// dialTCP connects to addr within timeout, with the keep-alive period
// keepAlive (Config.KeepAlive), as net.Dialer does: an IP address with raw
// system calls (dialRaw, dial_linux.go), anything else — a host name —
// with net.Dialer.
func dialTCP(ctx context.Context, addr string, timeout, keepAlive time.Duration) (net.Conn, error) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		if conn, ok, err := dialRaw(ctx, ap, timeout, keepAlive); ok {
			return conn, err
		}
	}
	d := net.Dialer{Timeout: timeout, KeepAlive: keepAlive}
	return d.DialContext(ctx, "tcp", addr)
}

// StartTLS runs a TLS client handshake over the connection (after the
// protocol's STARTTLS command was accepted, or at once for implicit TLS),
// bounded by the connection's timeout. Later reads and writes are
// encrypted; byte counts stay those of the wire.
func (c *Conn) StartTLS(cfg *tls.Config) error {
	return c.startTLS(context.Background(), cfg)
}

// startTLS is StartTLS, ended also by ctx.
func (c *Conn) startTLS(ctx context.Context, cfg *tls.Config) error {
	if cfg == nil {
		cfg = TLSConfig(nil, c.addr)
	}
	tc := tls.Client(c.wire, cfg)
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return atServer(c.protocol, c.addr, "tls handshake: %w", err)
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
	return c.dl.set(time.Now().Add(d), true, true)
}

// Cork holds the writes that follow, below TLS, until c next reads, which
// first sends them in one write, as a burst a client writes in pieces
// leaves in one flight: the latency of a shaped connection then holds the
// burst back once, not once a piece (the SMTP message data, which go-smtp
// writes 4 KiB at a time: clients/smtp.go), and the bandwidth paces its
// bytes as before. The read that sends them fails with the write's error
// when it fails. On a connection without latency it does nothing: there
// is nothing to save. Cork must not run concurrently with reads or
// writes; writes held when c closes are not sent.
func (c *Conn) Cork() {
	if c.wire.latency > 0 {
		c.wire.corked.Store(true)
	}
}

// Gather holds the writes that follow, below TLS, until Flush, which
// sends them in one write: as Cork, but a read does not send them, so
// that a client whose reader runs on a goroutine of its own (go-imap's)
// can send a burst it writes in pieces in one flight — an APPEND's
// literal, which go-imap writes through a 4 KiB buffer
// (clients/imap_conn.go). Gatherings nest, also across goroutines: the
// last Flush sends. On a connection without latency both do nothing.
// Every Gather needs its Flush, or the writes are never sent; writes
// held when c closes are not sent.
func (c *Conn) Gather() {
	if c.wire.latency > 0 {
		c.wire.gather()
	}
}

// Flush ends the gathering Gather began; the last one sends the writes
// held, unless Cork holds them until the next read, and returns that
// write's error.
// The write that sends them has the connection's timeout as its write
// deadline (the caller's own, such as go-imap's, may have ended with the
// command whose writes it gathered), cleared after it.
func (c *Conn) Flush() error {
	if c.wire.latency == 0 {
		return nil
	}
	_ = c.dl.set(time.Now().Add(c.timeout), false, true)
	err := c.wire.flush()
	_ = c.dl.set(time.Time{}, false, true)
	return c.droppedErr(err)
}

// WriteFailed reports whether a write to c's socket failed: some bytes a
// client wrote on c, or that Cork held for the next read, never reached
// it. Once false after a request went out, every byte of it went out
// (the kernel took it): a reply that then never comes leaves the server
// free to have acted on the request, as a write that failed does not —
// the end of an SMTP submission's message data (clients/smtp.go
// smtpSubmitter.data), whose held bytes a failed read may have failed to
// send (Cork) without saying so.
func (c *Conn) WriteFailed() bool { return c.wire.writeFailed.Load() }

// Timeout returns the bound of one network operation on c.
func (c *Conn) Timeout() time.Duration { return c.timeout }

// Addr returns the server address c was dialed to.
func (c *Conn) Addr() string { return c.addr }

// Writes returns how many writes reached the wire so far.
func (c *Conn) Writes() int64 { return c.writes.Load() }

// Read implements net.Conn. With LimitIMAP set, a reply line or literal
// over the limits fails the read (and every later one) with an error
// wrapping ErrReplyTooLarge, having handed none of the offending bytes on.
func (c *Conn) Read(p []byte) (int, error) {
	if c.lim != nil && c.lim.err != nil {
		return 0, c.lim.err
	}
	n, err := c.top.Read(p)
	return c.afterRead(p, n, c.droppedErr(err))
}

// afterRead checks the n bytes read into p against the IMAP limits and
// keeps the read's error; it returns what Read returns.
func (c *Conn) afterRead(p []byte, n int, err error) (int, error) {
	if n > 0 && c.lim != nil {
		if lerr := c.lim.scan(p[:n]); lerr != nil {
			c.lim.err = &ServerError{Protocol: c.protocol, Addr: c.addr, Err: lerr}
			c.readErr.CompareAndSwap(nil, &c.lim.err)
			return 0, c.lim.err
		}
	}
	if err != nil && !errors.Is(err, io.EOF) {
		c.keepReadErr(err)
	}
	return n, err
}

// WriteRead writes p as Write does and then reads into b as Read does,
// for a client that sends a request and then waits for its reply with no
// bytes of the server's left unread (a synchronous client whose read
// buffer is empty). werr is the write's error, and then nothing was read;
// rerr is the read's. The byte counts and errors are those of Write and
// Read, with two differences on the raw path below: the write is not
// checked against the write deadline (a passed read deadline fails it as
// a write error instead), and bytes the server sent before the request
// that are still in the socket end the wait only at the read deadline
// (they are then read: the outcome is Read's, late; rawIO.writeRead).
//
// On a plain TCP connection on Linux without shaping the write is made
// where the read waits for the reply (rawIO.writeRead), which saves the
// read that finds nothing yet and goes to the poller: one read(2)
// returning EAGAIN per request (docs/performance.md, "Write then wait").
// The read waits under the read deadline only, which callers set with the
// write deadline (Extend, SetDeadline). A TLS connection, a shaped one and
// one whose reply limit failed write and read as Write and Read.
func (c *Conn) WriteRead(p, b []byte) (n int, werr, rerr error) {
	if c.top != c.wire || c.wire.io == nil || c.wire.latency > 0 || c.wire.bandwidth > 0 ||
		(c.lim != nil && c.lim.err != nil) || len(p) == 0 || len(b) == 0 {
		if _, werr = c.Write(p); werr != nil {
			return 0, werr, nil
		}
		n, rerr = c.Read(b)
		return n, nil, rerr
	}
	n, werr, rerr = c.wire.writeRead(p, b)
	if werr != nil {
		return 0, c.droppedErr(werr), nil
	}
	n, rerr = c.afterRead(b, n, c.droppedErr(rerr))
	return n, nil, rerr
}

// keepReadErr records the first read error. A function of its own so that
// only a failed read moves its error to the heap: taking the address of
// Read's own err made every Read allocate (issue 14).
func (c *Conn) keepReadErr(err error) { c.readErr.CompareAndSwap(nil, &err) }

// Write implements net.Conn. On a TLS connection with latency the
// records crypto/tls writes p in leave in one write (Gather), as one
// write of a client leaves a real TCP stream in one flight: the latency
// holds p back once, not once a record (crypto/tls writes small records
// at first, about 1 KiB each until 128 KiB have been sent).
func (c *Conn) Write(p []byte) (int, error) {
	if c.wire.latency == 0 || c.top == c.wire {
		n, err := c.top.Write(p)
		return n, c.droppedErr(err)
	}
	c.wire.gather()
	n, err := c.top.Write(p)
	if ferr := c.wire.flush(); err == nil && ferr != nil {
		n, err = 0, ferr
	}
	return n, c.droppedErr(err)
}

// ErrDropped is wrapped by the errors of reads and writes on a connection
// the simulated network dropped (Config.DropAfter): [NetOutcome] classifies
// them as [OutcomeDropped], not as the server's failure.
var ErrDropped = errors.New("connection dropped by the simulated network")

// droppedErr returns err, wrapped with ErrDropped when the drop timer
// closed the connection and err is what that close caused (net.ErrClosed:
// it closed the socket under the call, or before it). Any other error is
// the server's and left alone: a reset or the end of the stream (io.EOF,
// which readers compare with ==) that came before the drop, even when the
// drop's flag is set by the time the call returns.
func (c *Conn) droppedErr(err error) error {
	if err == nil || !c.dropped.Load() || !errors.Is(err, net.ErrClosed) {
		return err
	}
	return dropError{err}
}

// dropError is an I/O error on a dropped connection: errors.Is finds both
// ErrDropped and the error under it.
type dropError struct{ err error }

func (e dropError) Error() string { return ErrDropped.Error() + ": " + e.err.Error() }

func (e dropError) Unwrap() []error { return []error{ErrDropped, e.err} }

// Dropped reports whether the simulated network dropped the connection
// (Config.DropAfter): its reads and writes fail with ErrDropped.
func (c *Conn) Dropped() bool { return c.dropped.Load() }

// peekMax bounds what PeerClosed peeks at: a BYE line and then some.
const peekMax = 512

// PeerClosed reports, without waiting, whether the server closed the
// connection while its client was idle between commands, so that the
// client reconnects instead of sending its next command into a closed
// connection (clients/imap_slot.go): the server's FIN or a reset has
// arrived, or, on a plain-text connection with bytes waiting to be read
// and no FIN yet, closing says that those bytes (at most peekMax, peeked
// at, not read) announce the close (IMAPBye: the BYE a server sends
// before it closes). It costs one ppoll(2) with a zero timeout, and a
// recv(2) with MSG_PEEK when bytes wait (rawIO.peer, rawIO.peek, raw
// system calls that never block); a client calls it only after the
// connection has been idle a while, never per command. Bytes waiting
// under TLS cannot be read without consuming them: there only the FIN or
// reset tells. A connection the simulated network dropped (Dropped) or
// that was closed here is not the server's close (false), and neither is
// anything on a platform without raw socket I/O (false: the next command
// finds out, as before).
func (c *Conn) PeerClosed(closing func(pending []byte) bool) bool {
	rio := c.wire.io
	if rio == nil || c.dropped.Load() {
		return false
	}
	closed, pending := rio.peer()
	if closed || !pending || closing == nil || c.top != c.wire || c.dropped.Load() {
		return closed && !c.dropped.Load()
	}
	var buf [peekMax]byte
	n := rio.peek(buf[:])
	return closing(buf[:n])
}

// noteRead notes what a read from the socket of n bytes, failed with err
// or not, tells of the server: that it spoke (heard), or that it ended or
// reset the connection before it sent a byte (unserved).
func (c *Conn) noteRead(n int, err error) {
	switch {
	case n > 0:
		if !c.heard.Load() {
			c.heard.Store(true)
		}
	case err != nil && !c.heard.Load() && peerEnded(err):
		c.unserved.Store(true)
	}
}

// peerEnded reports whether err, a read's error, is the server's end of
// the stream or its reset.
func peerEnded(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// ErrUnserved is wrapped by the errors Explain returns on a connection
// the server ended or reset before it sent a single byte, its greeting's
// first: it never served the connection. So a server shutting down
// resets the connections its listen queue held, which the kernel had
// accepted for it (a Dovecot restart: internal/engine/injector.go's
// LMTP setups, the devices' logins). [NetOutcome] classifies it as
// [OutcomeRefused], as the refused connect a moment later.
var ErrUnserved = errors.New("closed by the server before it sent anything")

// unservedError is Explain's cause on an unserved connection: the read's
// error (nil for the end of the stream) under ErrUnserved.
type unservedError struct{ read error }

func (e *unservedError) Error() string { return ErrUnserved.Error() }

func (e *unservedError) Unwrap() []error {
	if e.read == nil {
		return []error{ErrUnserved}
	}
	return []error{ErrUnserved, e.read}
}

// Err returns the first read error the connection saw (a deadline, a
// reset, an oversized reply), or nil.
func (c *Conn) Err() error {
	if p := c.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Explain returns err with the connection's first read error attached when
// err does not already wrap it: protocol libraries report a timed-out or
// oversized read as flat text, and the classifiers need the cause. On a
// connection the server ended or reset before it sent a byte, the cause
// is that, ErrUnserved (the read's error under it).
func (c *Conn) Explain(err error) error {
	if err == nil {
		return nil
	}
	cause := c.Err()
	if c.unserved.Load() && !errors.Is(err, ErrUnserved) {
		cause = &unservedError{cause}
	}
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	return explained{err, cause}
}

// explained is an error with the connection's cause under it: both are
// seen by errors.Is and errors.As, and the cause is printed after the
// error, in parentheses, unless the error's text already says it (a
// client library that quoted the cause without wrapping it).
type explained struct{ err, cause error }

func (e explained) Error() string {
	msg, c := e.err.Error(), e.cause.Error()
	if strings.Contains(msg, c) {
		return msg
	}
	return msg + " (" + c + ")"
}

func (e explained) Unwrap() []error { return []error{e.err, e.cause} }

// Close closes the connection; the Meter sees the closing once however
// often Close is called. The socket is closed when Close returns (the
// server sees the end of the stream, or a reset if a reply was left
// unread, as from a net.Conn's Close), and later reads and writes fail
// with net.ErrClosed. With a Config.LateCloser and no read or write in
// progress, on Linux, the socket is closed with raw system calls and its
// descriptor (a placeholder by then) is closed at the next whole second,
// with the others released in that second (rawIO.release): so a process
// closing N connections a second holds up to N more descriptors, at most
// the LateCloser's budget (emptied when a dial meets the open-files
// limit, filled again by later closes).
//
// On a shaped connection (Config.Network) Close also ends the shaping
// wait in progress, once the socket is closed: the read or write that
// waited fails, or the next one does, and a stop does not wait out a
// long pace.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.shut()
		if c.wire.closed != nil {
			close(c.wire.closed)
		}
	})
	return c.closeErr
}

// shut is Close's work, once: it stops the timers, counts the closing
// and closes the socket.
func (c *Conn) shut() error {
	c.mu.Lock()
	if c.drop != nil {
		c.drop.Stop()
	}
	c.mu.Unlock()
	c.dl.stop()
	// Count first: whoever sees the connection fail sees it closed.
	c.meter.Connection(c.protocol, -1)
	if c.wire.io != nil && !c.late.full() && c.wire.io.release() {
		// The socket is closed; the descriptor left in its place is
		// closed with the others released in the same second, so that
		// the runtime's syscall entry of its close(2) wakes the sysmon
		// thread at most once a second (docs/performance.md, "Wake-ups
		// per command"), or now when the LateCloser filled up
		// meanwhile.
		if !c.late.hold(c.raw) {
			return c.raw.Close()
		}
		return nil
	}
	return c.raw.Close()
}

// HoldMark is a moment of a connection's shaping (Conn.HoldMark), for
// Conn.HeldFor.
type HoldMark struct {
	held int64 // the network's holding time by then (wire.heldAt)
}

// HoldMark returns the connection's shaping now, for HeldFor.
func (c *Conn) HoldMark() HoldMark { return HoldMark{held: c.wire.heldAt(monoNow())} }

// HeldFor returns how long the simulated network (Config.Network: the
// latency before a write, the bandwidth's pace of a read or write) held
// the connection's bytes since m was taken, up to now: a request on its
// way to the server, a reply on its way to its reader, each side's waits
// added up (both sides at once count twice). It is 0 on an unshaped
// connection, and on a shaped one whose shaping was idle all along (the
// client waited for the server alone). The stop's rule uses it
// (clients/stop_grace.go, graceStart): a command the network held for
// most of the stop's grace is not the server's timeout.
func (c *Conn) HeldFor(m HoldMark) time.Duration {
	return time.Duration(max(0, c.wire.heldAt(monoNow())-m.held))
}

// LocalAddr implements net.Conn.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr implements net.Conn.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline implements net.Conn, through the connection's watchdog: the
// deadline is enforced by one timer per connection (see watchdog).
func (c *Conn) SetDeadline(t time.Time) error { return c.dl.set(t, true, true) }

// SetReadDeadline implements net.Conn, through the connection's watchdog.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.dl.set(t, true, false) }

// SetWriteDeadline implements net.Conn, through the connection's watchdog.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.dl.set(t, false, true) }

// TLS reports whether the connection is encrypted.
func (c *Conn) TLS() bool {
	_, ok := c.top.(*tls.Conn)
	return ok
}

var _ net.Conn = (*Conn)(nil)
