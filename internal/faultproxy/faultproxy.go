// Package faultproxy is a TCP proxy for fault-injection tests: it listens
// on loopback in front of one backend address and, on command, adds latency
// per direction, stalls all traffic (at once, at a given command, then
// keeps what clients send after that command, or at a given reply: the
// server did the command, its client never hears), resets
// new connections, closes a seeded fraction of the live ones, or refuses
// connections altogether.
//
// Every control is a method safe for concurrent use; Stats counts what the
// proxy did. Close ends every goroutine the proxy started and every
// connection it holds.
package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// Direction is one way of a proxied connection.
type Direction int

const (
	// Upstream is client to backend.
	Upstream Direction = iota
	// Downstream is backend to client.
	Downstream
)

// String returns "upstream" or "downstream".
func (d Direction) String() string {
	if d == Upstream {
		return "upstream"
	}
	return "downstream"
}

// Defaults of Options.
const (
	DefaultListen      = "127.0.0.1:0"
	DefaultDialTimeout = 5 * time.Second
	DefaultIdleTimeout = 2 * time.Minute
	DefaultBufferSize  = 32 << 10
	DefaultMaxConns    = 1024
	DefaultSeed        = 1
)

// Options configure a Proxy. Zero values take the defaults above.
type Options struct {
	// Backend is the "host:port" every accepted connection is forwarded
	// to. Required.
	Backend string
	// Listen is the proxy's own address (default DefaultListen). It must
	// be a loopback address.
	Listen string
	// DialTimeout bounds the dial to the backend (default
	// DefaultDialTimeout); a connection whose backend cannot be reached is
	// closed and counted in Stats.DialFailures.
	DialTimeout time.Duration
	// IdleTimeout closes a connection when neither side sent anything for
	// this long (default DefaultIdleTimeout). A stall does not count as
	// idle time.
	IdleTimeout time.Duration
	// BufferSize is the largest chunk forwarded at once per direction
	// (default DefaultBufferSize).
	BufferSize int
	// MaxConns bounds the live connections; beyond it new connections are
	// reset and counted in Stats.OverLimit (default DefaultMaxConns).
	MaxConns int
	// Seed drives which connections CloseFraction picks (default
	// DefaultSeed): the same seed and the same connections give the same
	// picks.
	Seed uint64
}

// Validate returns every problem of o, nil when it is usable.
func (o Options) Validate() []error {
	var errs []error
	if o.Backend == "" {
		errs = append(errs, errors.New("faultproxy: Backend is required"))
	} else if _, _, err := net.SplitHostPort(o.Backend); err != nil {
		errs = append(errs, fmt.Errorf("faultproxy: Backend %q: %w", o.Backend, err))
	}
	if o.Listen != "" {
		host, _, err := net.SplitHostPort(o.Listen)
		if err != nil {
			errs = append(errs, fmt.Errorf("faultproxy: Listen %q: %w", o.Listen, err))
		} else if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			errs = append(errs, fmt.Errorf("faultproxy: Listen %q is not a loopback address", o.Listen))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"DialTimeout", o.DialTimeout}, {"IdleTimeout", o.IdleTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("faultproxy: %s %v is negative", d.name, d.v))
		}
	}
	if o.BufferSize < 0 {
		errs = append(errs, fmt.Errorf("faultproxy: BufferSize %d is negative", o.BufferSize))
	}
	if o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("faultproxy: MaxConns %d is negative", o.MaxConns))
	}
	return errs
}

func (o Options) withDefaults() Options {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.BufferSize == 0 {
		o.BufferSize = DefaultBufferSize
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.Seed == 0 {
		o.Seed = DefaultSeed
	}
	return o
}

// Stats counts what a proxy did since it started.
type Stats struct {
	// Accepted counts connections accepted from clients.
	Accepted uint64
	// Proxied counts connections forwarded to the backend.
	Proxied uint64
	// Reset counts new connections reset on purpose (SetResetNew).
	Reset uint64
	// OverLimit counts new connections reset because MaxConns were live.
	OverLimit uint64
	// DialFailures counts connections closed because the backend could
	// not be reached.
	DialFailures uint64
	// Closed counts live connections closed on purpose (CloseFraction).
	Closed uint64
	// Stalls counts calls of Stall.
	Stalls uint64
	// Refusals counts switches into refusing (SetRefuse(true) while
	// listening).
	Refusals uint64
	// Bytes counts bytes forwarded, per Direction.
	Bytes [2]uint64
	// Live is the number of connections open now.
	Live int
}

// Proxy is a running fault proxy. Create it with New; Close it.
type Proxy struct {
	opts Options
	addr string

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	latency  [2]atomic.Int64 // time.Duration per Direction
	resetNew atomic.Bool

	accepted, proxied, reset, overLimit, dialFailures, closed, stalls, refusals atomic.Uint64
	bytes                                                                       [2]atomic.Uint64

	mu sync.Mutex
	ln net.Listener // nil while refusing
	// portHold keeps the port bound while refusing (faketest.HoldPort,
	// with SO_REUSEADDR: the connections accepted on it may be open); nil
	// when not refusing or where it could not be held.
	portHold io.Closer
	conns    map[uint64]*pair
	// ended is closed, and replaced, whenever connections leave conns
	// (Drained waits on it).
	ended  chan struct{}
	nextID uint64
	rng    *rand.Rand
	// stall is closed when traffic may flow; while stalled it is open and
	// stallTimer (when set) resumes.
	stall      chan struct{}
	stallTimer *time.Timer
	closing    bool
	// armed holds, by Direction, the stall armed at a pattern: from a
	// client (StallOn) or from the backend (StallOnReply).
	armed [2]armedStall
	// sent is what clients sent after the chunk the last StallOn struck
	// at (SentAfterStall), at most maxSent bytes; nil before one struck.
	sent []byte
}

// maxSent bounds what SentAfterStall keeps.
const maxSent = 64 << 10

// pair is one proxied connection: the client side and the backend side.
type pair struct {
	client, backend net.Conn
	once            sync.Once
}

func (p *pair) close() {
	p.once.Do(func() {
		p.client.Close()
		if p.backend != nil {
			p.backend.Close()
		}
	})
}

// New starts a proxy listening on opts.Listen in front of opts.Backend.
func New(opts Options) (*Proxy, error) {
	if errs := opts.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	opts = opts.withDefaults()
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	open := make(chan struct{})
	close(open)
	p := &Proxy{
		opts:   opts,
		addr:   ln.Addr().String(),
		ctx:    ctx,
		cancel: cancel,
		ln:     ln,
		conns:  make(map[uint64]*pair),
		ended:  make(chan struct{}),
		rng:    rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		stall:  open,
	}
	p.wg.Add(1)
	go p.acceptLoop(ln)
	return p, nil
}

// Addr returns the proxy's "127.0.0.1:port"; it stays the same across
// SetRefuse.
func (p *Proxy) Addr() string { return p.addr }

// SetLatency delays every chunk forwarded in direction dir by d before it
// is written (a serial delay per connection and direction, not a pipelined
// link); 0 removes it.
func (p *Proxy) SetLatency(dir Direction, d time.Duration) {
	if d < 0 {
		d = 0
	}
	p.latency[dir&1].Store(int64(d))
}

// Stall holds all traffic, in both directions of every connection, for d,
// or until Resume when d <= 0. Connections stay open and new ones are
// accepted (their bytes wait too). A Stall while stalled replaces the
// previous end.
func (p *Proxy) Stall(d time.Duration) {
	p.stalls.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return
	}
	if p.stallTimer != nil {
		p.stallTimer.Stop()
		p.stallTimer = nil
	}
	select {
	case <-p.stall:
		p.stall = make(chan struct{})
	default: // already stalled
	}
	if d > 0 {
		p.stallTimer = time.AfterFunc(d, p.Resume)
	}
}

// StallOn arms a stall at a given command: the first chunk a client sends
// from now on that holds pattern starts a Stall (until Resume) before it
// is forwarded, so the server never sees that chunk and no reply comes.
// The returned channel is closed when that happened. A later StallOn
// replaces an armed pattern that has not struck.
func (p *Proxy) StallOn(pattern []byte) <-chan struct{} { return p.arm(Upstream, pattern) }

// StallOnReply arms a stall at a given reply: the first chunk the backend
// sends from now on that holds pattern starts a Stall (until Resume)
// before it is forwarded, so the server has done the command (an APPEND
// stored its message, an LMTP DATA delivered it) and its client never
// hears so. The returned channel is closed when that happened. A later
// StallOnReply replaces an armed pattern that has not struck. A pattern
// split over two chunks does not strike (nor does StallOn's).
func (p *Proxy) StallOnReply(pattern []byte) <-chan struct{} { return p.arm(Downstream, pattern) }

// armedStall is a stall armed at the first chunk in one direction that
// holds pattern; hit is closed when it struck.
type armedStall struct {
	pattern []byte
	hit     chan struct{}
}

// arm arms a stall at pattern in direction dir (StallOn, StallOnReply).
func (p *Proxy) arm(dir Direction, pattern []byte) <-chan struct{} {
	hit := make(chan struct{})
	p.mu.Lock()
	p.armed[dir&1] = armedStall{pattern: slices.Clone(pattern), hit: hit}
	p.mu.Unlock()
	return hit
}

// strike starts the stall armed in direction dir if chunk holds its
// pattern; a chunk from a client that does not strike is kept once
// StallOn's struck (SentAfterStall).
func (p *Proxy) strike(dir Direction, chunk []byte) {
	p.mu.Lock()
	a := p.armed[dir&1]
	if a.pattern == nil || !bytes.Contains(chunk, a.pattern) {
		if dir == Upstream && p.sent != nil {
			p.sent = append(p.sent, chunk[:min(len(chunk), maxSent-len(p.sent))]...)
		}
		p.mu.Unlock()
		return
	}
	p.armed[dir&1] = armedStall{}
	if dir == Upstream {
		p.sent = make([]byte, 0, 256)
	}
	p.mu.Unlock()
	p.Stall(0)
	close(a.hit)
}

// SentAfterStall returns a copy of what clients sent, over every
// connection in the order the proxy read it, after the chunk at which the
// last StallOn struck (that chunk left out), up to the next strike: what a
// client sent once the server held its command (the first 64 KiB). It is
// nil before a StallOn struck.
func (p *Proxy) SentAfterStall() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}

// Resume lets traffic flow again after Stall; without a stall it does
// nothing.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resumeLocked()
}

func (p *Proxy) resumeLocked() {
	if p.stallTimer != nil {
		p.stallTimer.Stop()
		p.stallTimer = nil
	}
	select {
	case <-p.stall:
	default:
		close(p.stall)
	}
}

// Stalled reports whether traffic is held now.
func (p *Proxy) Stalled() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.stall:
		return false
	default:
		return true
	}
}

// SetResetNew makes the proxy reset (TCP RST, SO_LINGER 0) every new
// connection as soon as it is accepted, until called with false.
func (p *Proxy) SetResetNew(on bool) { p.resetNew.Store(on) }

// CloseFraction closes round(f × live) of the live connections, both
// sides, picked with the seeded generator among the connections in
// accept order, and returns how many it closed. f is clamped to [0, 1].
func (p *Proxy) CloseFraction(f float64) int {
	f = min(max(f, 0), 1)
	p.mu.Lock()
	ids := make([]uint64, 0, len(p.conns))
	for id := range p.conns {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	n := int(f*float64(len(ids)) + 0.5)
	p.rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	victims := make([]*pair, 0, n)
	for _, id := range ids[:n] {
		victims = append(victims, p.conns[id])
		delete(p.conns, id)
	}
	if n > 0 {
		p.endedLocked()
	}
	p.mu.Unlock()
	for _, v := range victims {
		v.close()
	}
	p.closed.Add(uint64(len(victims)))
	return len(victims)
}

// SetRefuse(true) stops listening, so new connections are refused by the
// kernel (ECONNREFUSED); live connections are left alone. The port stays
// bound meanwhile (by a socket that does not listen), so that no other
// connection or listener on the machine is given it. SetRefuse(false)
// listens again on the same address.
func (p *Proxy) SetRefuse(on bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing {
		return net.ErrClosed
	}
	switch {
	case on && p.ln != nil:
		p.refusals.Add(1)
		err := p.ln.Close()
		p.ln = nil
		if _, h, herr := faketest.HoldPort(p.addr, true); herr == nil {
			p.portHold = h
		}
		return err
	case !on && p.ln == nil:
		if p.portHold != nil {
			_ = p.portHold.Close()
			p.portHold = nil
		}
		ln, err := net.Listen("tcp", p.addr)
		if err != nil {
			return fmt.Errorf("faultproxy: listen again on %s: %w", p.addr, err)
		}
		p.ln = ln
		p.wg.Add(1)
		go p.acceptLoop(ln)
	}
	return nil
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	live := len(p.conns)
	p.mu.Unlock()
	return Stats{
		Accepted:     p.accepted.Load(),
		Proxied:      p.proxied.Load(),
		Reset:        p.reset.Load(),
		OverLimit:    p.overLimit.Load(),
		DialFailures: p.dialFailures.Load(),
		Closed:       p.closed.Load(),
		Stalls:       p.stalls.Load(),
		Refusals:     p.refusals.Load(),
		Bytes:        [2]uint64{p.bytes[Upstream].Load(), p.bytes[Downstream].Load()},
		Live:         live,
	}
}

// Drained waits until no connection is live (Stats.Live 0) or ctx ends
// (then it returns ctx's error). A connection stays live until both its
// directions ended, so once its client closed and the proxy read it to
// the end, what the client sent before it closed is in SentAfterStall —
// unlike Close, which closes the connections with what the proxy had not
// read yet: for a test that checks nothing more reached the server once
// its client ended.
func (p *Proxy) Drained(ctx context.Context) error {
	for {
		p.mu.Lock()
		live, ended := len(p.conns), p.ended
		p.mu.Unlock()
		if live == 0 {
			return nil
		}
		select {
		case <-ended:
		case <-ctx.Done():
			return fmt.Errorf("faultproxy: %d connections live: %w", live, ctx.Err())
		}
	}
}

// endedLocked wakes Drained: connections left conns. p.mu is held.
func (p *Proxy) endedLocked() {
	close(p.ended)
	p.ended = make(chan struct{})
}

// Close stops listening, closes every connection and waits for every
// goroutine of the proxy to end. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closing {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closing = true
	p.cancel()
	var err error
	if p.ln != nil {
		err = p.ln.Close()
		p.ln = nil
	}
	if p.portHold != nil {
		_ = p.portHold.Close()
		p.portHold = nil
	}
	p.resumeLocked()
	conns := p.conns
	p.conns = map[uint64]*pair{}
	p.endedLocked()
	p.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // closed: Close or SetRefuse
		}
		p.accepted.Add(1)
		if p.resetNew.Load() {
			p.reset.Add(1)
			resetConn(c)
			continue
		}
		p.mu.Lock()
		if p.closing {
			p.mu.Unlock()
			c.Close()
			return
		}
		if len(p.conns) >= p.opts.MaxConns {
			p.mu.Unlock()
			p.overLimit.Add(1)
			resetConn(c)
			continue
		}
		p.nextID++
		id := p.nextID
		pr := &pair{client: c}
		p.conns[id] = pr
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(id, pr)
	}
}

// resetConn closes c with an RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// serve dials the backend for one accepted connection and pumps both
// directions until either side ends.
func (p *Proxy) serve(id uint64, pr *pair) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		if _, live := p.conns[id]; live {
			delete(p.conns, id)
			p.endedLocked()
		}
		p.mu.Unlock()
		pr.close()
	}()
	d := net.Dialer{Timeout: p.opts.DialTimeout}
	b, err := d.DialContext(p.ctx, "tcp", p.opts.Backend)
	if err != nil {
		p.dialFailures.Add(1)
		return
	}
	p.mu.Lock()
	_, live := p.conns[id]
	if live {
		pr.backend = b
	}
	p.mu.Unlock()
	if !live { // closed by CloseFraction or Close while dialing
		b.Close()
		return
	}
	p.proxied.Add(1)
	done := make(chan struct{}, 2)
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.pump(Upstream, pr.client, b); done <- struct{}{} }()
	go func() { defer p.wg.Done(); p.pump(Downstream, b, pr.client); done <- struct{}{} }()
	<-done // one side ended: end the other
	pr.close()
	<-done
}

// pump copies src to dst chunk by chunk, waiting out stalls and latency.
func (p *Proxy) pump(dir Direction, src, dst net.Conn) {
	buf := make([]byte, p.opts.BufferSize)
	for {
		_ = src.SetReadDeadline(time.Now().Add(p.opts.IdleTimeout))
		n, err := src.Read(buf)
		if n > 0 {
			p.strike(dir, buf[:n])
			if !p.hold(dir) {
				return
			}
			_ = dst.SetWriteDeadline(time.Now().Add(p.opts.IdleTimeout))
			w, werr := dst.Write(buf[:n])
			p.bytes[dir].Add(uint64(w))
			if werr != nil {
				return
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && p.Stalled() {
				continue // a stall is not idleness
			}
			return
		}
	}
}

// hold waits while traffic is stalled, then for the direction's latency;
// it returns false when the proxy closes meanwhile.
func (p *Proxy) hold(dir Direction) bool {
	for {
		p.mu.Lock()
		gate := p.stall
		p.mu.Unlock()
		select {
		case <-gate:
		case <-p.ctx.Done():
			return false
		}
		if d := time.Duration(p.latency[dir].Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-p.ctx.Done():
				t.Stop()
				return false
			}
		}
		// A stall may have begun during the latency: wait it out too.
		p.mu.Lock()
		gate = p.stall
		p.mu.Unlock()
		select {
		case <-gate:
			return true
		default:
		}
	}
}
