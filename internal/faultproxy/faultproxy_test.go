package faultproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// ioTimeout bounds every read and write of the tests.
const ioTimeout = 10 * time.Second

// echoServer starts a loopback server that echoes every connection until
// the test ends, and returns its address.
func echoServer(t *testing.T) string {
	t.Helper()
	return faketest.Start(t, faketest.Options{}, func(c net.Conn) { _, _ = io.Copy(c, c) }).Addr
}

// start starts a proxy in front of backend, closed at cleanup.
func start(t *testing.T, opts Options) *Proxy {
	t.Helper()
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// dial connects to addr with a deadline on the whole connection.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// refusedErr dials addr and reads one byte, for a connection the proxy
// refuses: it returns the error of the dial or of the read. On a slow
// machine the proxy's reset can reach the client while connect returns, or
// at its first read; both are the refusal.
func refusedErr(t *testing.T, addr string) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return err
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	var one [1]byte
	_, err = c.Read(one[:])
	return err
}

// roundTrip writes msg and reads it back; it returns the error of the
// first step that failed.
func roundTrip(c net.Conn, msg string) error {
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo mismatch: " + string(buf))
	}
	return nil
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings, one per error
	}{
		{"ok", Options{Backend: "127.0.0.1:1"}, nil},
		{"ok full", Options{Backend: "127.0.0.1:1", Listen: "127.0.0.1:0", DialTimeout: time.Second, MaxConns: 3}, nil},
		{"no backend", Options{}, []string{"Backend is required"}},
		{"bad backend", Options{Backend: "nohost"}, []string{"Backend \"nohost\""}},
		{"not loopback", Options{Backend: "127.0.0.1:1", Listen: "0.0.0.0:0"}, []string{"not a loopback"}},
		{"negatives", Options{Backend: "127.0.0.1:1", DialTimeout: -1, IdleTimeout: -1, BufferSize: -1, MaxConns: -1},
			[]string{"DialTimeout", "IdleTimeout", "BufferSize", "MaxConns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.opts.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("errors %v, want %d", errs, len(tt.want))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.want[i]) {
					t.Errorf("error %d %q, want %q", i, e, tt.want[i])
				}
			}
		})
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New accepted options without a backend")
	}
}

func TestForwardsAndCounts(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	if host, _, _ := net.SplitHostPort(p.Addr()); host != "127.0.0.1" {
		t.Errorf("Addr %s, want loopback", p.Addr())
	}
	c := dial(t, p.Addr())
	msg := strings.Repeat("x", 100_000)
	if err := roundTrip(c, msg); err != nil {
		t.Fatal(err)
	}
	// The proxy counts a chunk after writing it, so the client can have
	// read the last one (and the echo server the last upstream one) before
	// it is counted: wait for both counts, bounded.
	st := p.Stats()
	for deadline := time.Now().Add(ioTimeout); (st.Bytes[Upstream] < uint64(len(msg)) || st.Bytes[Downstream] < uint64(len(msg))) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		st = p.Stats()
	}
	if st.Accepted != 1 || st.Proxied != 1 || st.Live != 1 {
		t.Errorf("stats %+v, want one accepted, proxied, live connection", st)
	}
	if st.Bytes[Upstream] != uint64(len(msg)) || st.Bytes[Downstream] != uint64(len(msg)) {
		t.Errorf("bytes %v, want %d each way", st.Bytes, len(msg))
	}
}

// TestLatency checks that a chunk is held at least the latency of its
// direction (a lower bound only).
func TestLatency(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	const d = 150 * time.Millisecond
	p.SetLatency(Upstream, d)
	p.SetLatency(Downstream, d)
	c := dial(t, p.Addr())
	begin := time.Now()
	if err := roundTrip(c, "ping"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(begin); el < 2*d {
		t.Errorf("round trip took %v, want at least %v with %v each way", el, 2*d, d)
	}
	p.SetLatency(Upstream, 0)
	p.SetLatency(Downstream, -time.Second) // clamped to 0
	if err := roundTrip(c, "pong"); err != nil {
		t.Fatal(err)
	}
}

func TestStallAndResume(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	c := dial(t, p.Addr())
	if err := roundTrip(c, "a"); err != nil {
		t.Fatal(err)
	}
	p.Stall(0)
	if !p.Stalled() {
		t.Fatal("not stalled after Stall(0)")
	}
	if _, err := c.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	// Nothing can come back while stalled: the read must time out.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var one [1]byte
	if n, err := c.Read(one[:]); n != 0 || !isTimeout(err) {
		t.Fatalf("read while stalled: %d bytes, %v; want a timeout", n, err)
	}
	// A connection made during the stall is accepted and waits too.
	c2 := dial(t, p.Addr())
	if _, err := c2.Write([]byte("c")); err != nil {
		t.Fatal(err)
	}
	p.Resume()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadFull(c, one[:]); err != nil || one[0] != 'b' {
		t.Fatalf("after Resume: %q, %v", one, err)
	}
	if _, err := io.ReadFull(c2, one[:]); err != nil || one[0] != 'c' {
		t.Fatalf("connection made while stalled, after Resume: %q, %v", one, err)
	}
	// A timed stall ends by itself.
	p.Stall(100 * time.Millisecond)
	if err := roundTrip(c, "d"); err != nil {
		t.Fatalf("after a timed stall: %v", err)
	}
	if p.Stalled() {
		t.Error("still stalled after the timed stall's data went through")
	}
	if st := p.Stats(); st.Stalls != 2 {
		t.Errorf("Stalls %d, want 2", st.Stalls)
	}
}

// TestStallOn: traffic flows until a client sends the armed pattern;
// that chunk starts a stall before it is forwarded (no echo comes back),
// the returned channel is closed, and Resume lets it through; what the
// client sends after that chunk is kept (SentAfterStall), not before.
func TestStallOn(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	c := dial(t, p.Addr())
	hit := p.StallOn([]byte(" LOGOUT"))
	if err := roundTrip(c, "a1 NOOP"); err != nil {
		t.Fatalf("before the pattern: %v", err)
	}
	select {
	case <-hit:
		t.Fatal("struck without the pattern")
	default:
	}
	if got := p.SentAfterStall(); got != nil {
		t.Errorf("SentAfterStall before the pattern struck: %q, want nil", got)
	}
	if _, err := c.Write([]byte("a2 LOGOUT")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hit:
	case <-time.After(ioTimeout):
		t.Fatal("the pattern did not strike")
	}
	if !p.Stalled() {
		t.Fatal("not stalled after the pattern")
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var one [1]byte
	if n, err := c.Read(one[:]); n != 0 || !isTimeout(err) {
		t.Fatalf("read after the pattern: %d bytes, %v; want a timeout", n, err)
	}
	p.Resume()
	buf := make([]byte, len("a2 LOGOUT"))
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "a2 LOGOUT" {
		t.Fatalf("after Resume: %q, %v", buf, err)
	}
	if err := roundTrip(c, "a3 NOOP"); err != nil {
		t.Fatalf("after the stall: %v", err)
	}
	if got := string(p.SentAfterStall()); got != "a3 NOOP" {
		t.Errorf("SentAfterStall %q, want %q", got, "a3 NOOP")
	}
}

// TestDrained: Drained waits while a connection is live (here held by a
// stall after its client closed) and returns once the proxy read the
// client to its end: what it sent just before it closed is in
// SentAfterStall. Close, which tests used for this before 2026-12-05,
// closes the connection with it unread.
func TestDrained(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	c := dial(t, p.Addr())
	hit := p.StallOn([]byte(" APPEND"))
	if _, err := c.Write([]byte("a1 APPEND\r\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hit:
	case <-time.After(ioTimeout):
		t.Fatal("the pattern did not strike")
	}
	if _, err := c.Write([]byte("a2 LOGOUT\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Drained(ended); !errors.Is(err, context.Canceled) {
		t.Errorf("Drained with a connection held live: %v, want context.Canceled", err)
	}
	p.Resume()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	if err := p.Drained(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Live != 0 {
		t.Errorf("Live %d after Drained, want 0", st.Live)
	}
	if got, want := string(p.SentAfterStall()), "a2 LOGOUT\r\n"; got != want {
		t.Errorf("SentAfterStall %q, want %q", got, want)
	}
}

// TestStallOnReply: traffic flows until the backend sends the armed
// pattern (not the client: its command holds the pattern's tail); that
// reply starts a stall before it is forwarded, the returned channel is
// closed, and Resume lets it through.
func TestStallOnReply(t *testing.T) {
	t.Parallel()
	backend := faketest.Start(t, faketest.Options{}, func(c net.Conn) {
		r := bufio.NewReader(c)
		for range 10 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, "did "+line); err != nil {
				return
			}
		}
	})
	p := start(t, Options{Backend: backend.Addr})
	c := dial(t, p.Addr())
	r := bufio.NewReader(c)
	hit := p.StallOnReply([]byte("did STORE"))
	if _, err := io.WriteString(c, "NOOP\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := r.ReadString('\n'); err != nil || l != "did NOOP\n" {
		t.Fatalf("before the pattern: %q, %v", l, err)
	}
	select {
	case <-hit:
		t.Fatal("struck without the pattern")
	default:
	}
	if _, err := io.WriteString(c, "STORE x\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hit:
	case <-time.After(ioTimeout):
		t.Fatal("the pattern did not strike")
	}
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if l, err := r.ReadString('\n'); !isTimeout(err) {
		t.Fatalf("read after the pattern: %q, %v; want a timeout", l, err)
	}
	p.Resume()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	if l, err := r.ReadString('\n'); err != nil || l != "did STORE x\n" {
		t.Fatalf("after Resume: %q, %v", l, err)
	}
}

func TestResetNew(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	live := dial(t, p.Addr())
	if err := roundTrip(live, "a"); err != nil {
		t.Fatal(err)
	}
	p.SetResetNew(true)
	if err := refusedErr(t, p.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("a connection made after SetResetNew: %v, want ECONNRESET", err)
	}
	if err := roundTrip(live, "b"); err != nil {
		t.Errorf("a connection made before SetResetNew broke: %v", err)
	}
	p.SetResetNew(false)
	if err := roundTrip(dial(t, p.Addr()), "c"); err != nil {
		t.Errorf("after SetResetNew(false): %v", err)
	}
	if st := p.Stats(); st.Reset != 1 || st.Accepted != 3 {
		t.Errorf("stats %+v, want 1 reset of 3 accepted", st)
	}
}

// openN opens n connections through p, each proven forwarded.
func openN(t *testing.T, p *Proxy, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, p.Addr())
		if err := roundTrip(conns[i], "x"); err != nil {
			t.Fatal(err)
		}
	}
	return conns
}

// closedOnes returns the indexes of the connections that no longer echo.
func closedOnes(conns []net.Conn) []int {
	var out []int
	for i, c := range conns {
		if roundTrip(c, "y") != nil {
			out = append(out, i)
		}
	}
	return out
}

func TestCloseFraction(t *testing.T) {
	t.Parallel()
	backend := echoServer(t)
	var picks [2][]int
	for run := range picks {
		p := start(t, Options{Backend: backend, Seed: 7})
		conns := openN(t, p, 10)
		if n := p.CloseFraction(0.3); n != 3 {
			t.Fatalf("CloseFraction(0.3) of 10 closed %d, want 3", n)
		}
		picks[run] = closedOnes(conns)
		if len(picks[run]) != 3 {
			t.Errorf("%d connections stopped echoing, want 3: %v", len(picks[run]), picks[run])
		}
		if st := p.Stats(); st.Closed != 3 || st.Live != 7 {
			t.Errorf("stats %+v, want 3 closed, 7 live", st)
		}
		if n := p.CloseFraction(-1); n != 0 {
			t.Errorf("CloseFraction(-1) closed %d", n)
		}
		if n := p.CloseFraction(2); n != 7 {
			t.Errorf("CloseFraction(2) closed %d, want the 7 left", n)
		}
	}
	if !slices.Equal(picks[0], picks[1]) {
		t.Errorf("same seed picked %v then %v", picks[0], picks[1])
	}
}

func TestRefuse(t *testing.T) {
	t.Parallel()
	p := start(t, Options{Backend: echoServer(t)})
	live := dial(t, p.Addr())
	// Proven accepted: a connection still in the listener's backlog when
	// refusing begins is reset by the kernel, not kept.
	if err := roundTrip(live, "0"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetRefuse(true); err != nil {
		t.Fatal(err)
	}
	if err := p.SetRefuse(true); err != nil { // idempotent
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", p.Addr(), ioTimeout); err == nil {
		c.Close()
		t.Fatal("dial succeeded while refusing")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial while refusing: %v, want ECONNREFUSED", err)
	}
	if err := roundTrip(live, "a"); err != nil {
		t.Errorf("a live connection broke when refusing began: %v", err)
	}
	if err := p.SetRefuse(false); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(dial(t, p.Addr()), "b"); err != nil {
		t.Errorf("after SetRefuse(false) on the same address: %v", err)
	}
	if st := p.Stats(); st.Refusals != 1 {
		t.Errorf("Refusals %d, want 1", st.Refusals)
	}
}

func TestBackendDownAndMaxConns(t *testing.T) {
	t.Parallel()
	dead := faketest.RefusedAddr(t)
	p := start(t, Options{Backend: dead})
	if err := refusedErr(t, p.Addr()); err == nil {
		t.Error("read through a proxy whose backend is down succeeded")
	}
	if st := p.Stats(); st.DialFailures != 1 || st.Proxied != 0 {
		t.Errorf("stats %+v, want one dial failure", st)
	}

	q := start(t, Options{Backend: echoServer(t), MaxConns: 2})
	openN(t, q, 2)
	if err := refusedErr(t, q.Addr()); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("connection over MaxConns: %v, want ECONNRESET", err)
	}
	if st := q.Stats(); st.OverLimit != 1 {
		t.Errorf("OverLimit %d, want 1", st.OverLimit)
	}
}

// TestCloseEndsEverything closes a proxy with live, stalled and delayed
// connections: every client sees its connection end, and the proxy's
// goroutines are gone.
func TestCloseEndsEverything(t *testing.T) {
	backend := echoServer(t)
	before := runtime.NumGoroutine()
	p, err := New(Options{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	conns := openN(t, p, 5)
	p.SetLatency(Downstream, time.Hour)
	if _, err := conns[0].Write([]byte("held by latency")); err != nil {
		t.Fatal(err)
	}
	p.Stall(0)
	if _, err := conns[1].Write([]byte("held by the stall")); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	for i, c := range conns {
		if _, err := io.ReadAll(c); isTimeout(err) {
			t.Errorf("connection %d still open after Close", i)
		}
	}
	if err := p.SetRefuse(false); !errors.Is(err, net.ErrClosed) {
		t.Errorf("SetRefuse after Close: %v", err)
	}
	faketest.GoroutinesBack(t, before, 5*time.Second, "after Close")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
