package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// dialer is one way of dialing TCP: net.Dialer or dialRaw.
type dialer struct {
	name string
	dial func(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error)
}

func dialers() []dialer {
	return []dialer{
		{"net.Dialer", func(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
			d := net.Dialer{Timeout: timeout}
			return d.DialContext(ctx, "tcp", addr)
		}},
		{"dialRaw", func(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
			conn, ok, err := dialRaw(ctx, netip.MustParseAddrPort(addr), timeout, 0)
			if !ok {
				return nil, errors.New("dialRaw did not dial")
			}
			return conn, err
		}},
	}
}

// sockopts describes the options net.Dialer sets on a TCP socket.
func sockopts(t *testing.T, conn net.Conn) string {
	t.Helper()
	var rc syscall.RawConn
	var err error
	switch c := conn.(type) {
	case *net.TCPConn:
		rc, err = c.SyscallConn()
	case *sockConn:
		rc, err = c.f.SyscallConn()
	default:
		t.Fatalf("%T is not a TCP connection", conn)
	}
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	_ = rc.Control(func(fd uintptr) {
		for _, o := range []struct {
			name         string
			level, name2 int
		}{
			{"nodelay", syscall.IPPROTO_TCP, syscall.TCP_NODELAY},
			{"keepalive", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
			{"keepidle", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
			{"keepintvl", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL},
			{"keepcnt", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
			{"v6only", syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY},
		} {
			v, e := getsockoptInt(fd, o.level, o.name2)
			fmt.Fprintf(&b, "%s=%d/%v ", o.name, v, e)
		}
		flags, _, _ := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		cloexec, _, _ := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFD, 0)
		fmt.Fprintf(&b, "nonblock=%v cloexec=%v", flags&syscall.O_NONBLOCK != 0, cloexec&syscall.FD_CLOEXEC != 0)
	})
	return b.String()
}

// TestDialRawAsNetDialer checks that dialRaw dials as net.Dialer does: the
// same socket options and addresses of a connection made, and the same
// errors (text, classes, outcome) when the port is closed, the context is
// cancelled or past its deadline before the dial or while it waits, and
// when the timeout passes while the server does not answer.
func TestDialRawAsNetDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	var ln6 net.Listener
	if l, err := net.Listen("tcp", "[::1]:0"); err == nil {
		ln6 = l
		defer ln6.Close()
		go func() {
			for {
				c, err := ln6.Accept()
				if err != nil {
					return
				}
				defer c.Close()
			}
		}()
	}
	closed := faketest.RefusedAddr(t)
	connected := func(t *testing.T, conn net.Conn, err error) string {
		if err != nil {
			return "error: " + err.Error()
		}
		defer conn.Close()
		la, ra := conn.LocalAddr().(*net.TCPAddr), conn.RemoteAddr().(*net.TCPAddr)
		return fmt.Sprintf("%s | local %s %s ip%d | remote %s ip%d", sockopts(t, conn),
			la.Network(), la.IP, len(la.IP), ra, len(ra.IP))
	}
	// failed describes a dial's error: its text, the operation, whether it
	// is a timeout or a cancel, and its outcome. Not which value a timeout
	// wraps: net.Dialer's own answer to a timeout that passes while it
	// waits is os.ErrDeadlineExceeded or its mapped context deadline,
	// whichever of its two timers fires first.
	failed := func(t *testing.T, conn net.Conn, err error) string {
		if err == nil {
			conn.Close()
			return "connected"
		}
		var oe *net.OpError
		op := ""
		if errors.As(err, &oe) {
			op = fmt.Sprintf("op=%s net=%s source=%v addr=%T", oe.Op, oe.Net, oe.Source, oe.Addr)
		}
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		return fmt.Sprintf("%s | %s timeout=%v canceled=%v outcome=%s", err, op, timeout, errors.Is(err, context.Canceled), OutcomeOf(err))
	}
	tests := []struct {
		name string
		run  func(t *testing.T, d dialer) string
	}{
		{"connected", func(t *testing.T, d dialer) string {
			conn, err := d.dial(t.Context(), ln.Addr().String(), 5*time.Second)
			return connected(t, conn, err)
		}},
		{"connected over IPv6", func(t *testing.T, d dialer) string {
			if ln6 == nil {
				t.Skip("no IPv6 loopback")
			}
			conn, err := d.dial(t.Context(), ln6.Addr().String(), 5*time.Second)
			return connected(t, conn, err)
		}},
		{"refused", func(t *testing.T, d dialer) string {
			conn, err := d.dial(t.Context(), closed, 5*time.Second)
			return failed(t, conn, err)
		}},
		{"cancelled before", func(t *testing.T, d dialer) string {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			conn, err := d.dial(ctx, ln.Addr().String(), 5*time.Second)
			return failed(t, conn, err)
		}},
		{"deadline passed before", func(t *testing.T, d dialer) string {
			ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
			defer cancel()
			conn, err := d.dial(ctx, ln.Addr().String(), 5*time.Second)
			return failed(t, conn, err)
		}},
		{"timeout while connecting", func(t *testing.T, d dialer) string {
			addr := faketest.FullListener(t)
			conn, err := d.dial(t.Context(), addr, 100*time.Millisecond)
			return strings.ReplaceAll(failed(t, conn, err), addr, "ADDR")
		}},
		{"context deadline while connecting", func(t *testing.T, d dialer) string {
			addr := faketest.FullListener(t)
			ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
			defer cancel()
			conn, err := d.dial(ctx, addr, 5*time.Second)
			return strings.ReplaceAll(failed(t, conn, err), addr, "ADDR")
		}},
		{"cancelled while connecting", func(t *testing.T, d dialer) string {
			addr := faketest.FullListener(t)
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(100*time.Millisecond, cancel)
			conn, err := d.dial(ctx, addr, 5*time.Second)
			return strings.ReplaceAll(failed(t, conn, err), addr, "ADDR")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds := dialers()
			want := tc.run(t, ds[0])
			if got := tc.run(t, ds[1]); got != want {
				t.Errorf("dialRaw:\n %s\nnet.Dialer:\n %s", got, want)
			}
			t.Logf("%s", want)
		})
	}
}

// TestDialRawFallsBack checks the addresses dialRaw leaves to net.Dialer.
func TestDialRawFallsBack(t *testing.T) {
	for _, addr := range []string{"[::ffff:127.0.0.1]:1", "[fe80::1%lo]:1"} {
		if _, ok, _ := dialRaw(t.Context(), netip.MustParseAddrPort(addr), time.Second, 0); ok {
			t.Errorf("dialRaw dialed %s", addr)
		}
	}
}

// fdTarget returns what descriptor fd of this process refers to ("" if it
// is closed).
func fdTarget(fd int) string {
	s, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	return s
}

// socketFD returns the descriptor of a dialed Conn's socket.
func socketFD(t *testing.T, c *Conn) int {
	t.Helper()
	fd := -1
	if err := c.wire.io.rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestCloseReleases checks Conn.Close's release of the socket (rawIO's
// release, Conn.Close): with no read or write in progress the socket is
// closed at once — the server sees the end of the stream, or a reset if a
// reply was left unread, as it would from a net.Conn's Close — and the
// descriptor left in its place is closed within the next second; reads
// and writes after Close fail as on a closed net.Conn; a Close while a
// read waits closes at once and ends the read.
func TestCloseReleases(t *testing.T) {
	type result struct {
		server string // what the server read after the client's Close
		client string // a read and a write after Close
	}
	// serve has a server send reply to the connection conn makes, reads
	// read bytes of it, closes it with conn's function and reports what
	// both ends saw.
	serve := func(t *testing.T, reply string, read int, conn func(addr string) (net.Conn, func() error)) result {
		got := make(chan string, 1)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		closed := make(chan struct{})
		go func() {
			s, err := ln.Accept()
			if err != nil {
				got <- err.Error()
				return
			}
			defer s.Close()
			s.Write([]byte(reply))
			<-closed
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = s.Read(make([]byte, 8))
			got <- errClass(err)
		}()
		c, closeFn := conn(ln.Addr().String())
		if read > 0 {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, read)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond) // the rest of the reply arrives
		if err := closeFn(); err != nil {
			t.Errorf("Close: %v", err)
		}
		close(closed)
		var r result
		r.server = <-got
		_, rerr := c.Read(make([]byte, 8))
		_, werr := c.Write([]byte("x"))
		r.client = errClass(rerr) + " | " + errClass(werr)
		return r
	}
	for _, tc := range []struct {
		name  string
		reply string
		read  int
	}{
		{"reply read", "* OK\r\n", 6},
		{"reply left unread", "* OK\r\n* BYE\r\n", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := serve(t, tc.reply, tc.read, func(addr string) (net.Conn, func() error) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				return c, c.Close
			})
			// Leave a whole second for the checks before the descriptor's close.
			time.Sleep(untilNextSecond(time.Now()) + 20*time.Millisecond)
			m := &testMeter{}
			var fd int
			var c *Conn
			got := serve(t, tc.reply, tc.read, func(addr string) (net.Conn, func() error) {
				var err error
				c, err = Dial(t.Context(), Config{Protocol: "imap", Endpoint: Endpoint{Addr: addr}, Meter: m, LateCloser: NewLateCloser()})
				if err != nil {
					t.Fatal(err)
				}
				fd = socketFD(t, c)
				return c, func() error {
					before := time.Now()
					err := c.Close()
					target := fdTarget(fd)
					// The placeholder's close comes at the next whole
					// second: before it, the descriptor must be the
					// placeholder.
					switch sameSecond := time.Now().Truncate(time.Second).Equal(before.Truncate(time.Second)); {
					case sameSecond && target != "anon_inode:[eventfd]":
						t.Errorf("descriptor %d after Close: %q, want the placeholder eventfd", fd, target)
					case !sameSecond:
						t.Logf("Close crossed a second; the placeholder is not checked")
					}
					return err
				}
			})
			if got != want {
				t.Errorf("Conn: %+v\nnet.Conn: %+v", got, want)
			}
			if n := m.open.Load(); n != 0 {
				t.Errorf("%d connections open after Close, want 0", n)
			}
			deadline := time.Now().Add(3 * time.Second)
			for fdTarget(fd) == "anon_inode:[eventfd]" && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if fdTarget(fd) == "anon_inode:[eventfd]" {
				t.Errorf("the placeholder at descriptor %d is still open 3 s after Close", fd)
			}
			t.Logf("%+v", want)
		})
	}

	t.Run("close while a read waits", func(t *testing.T) {
		stop := make(chan struct{})
		defer close(stop)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			defer s.Close()
			<-stop
		}()
		c, err := Dial(t.Context(), Config{Protocol: "imap", Endpoint: Endpoint{Addr: ln.Addr().String()}, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		fd := socketFD(t, c)
		done := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 8))
			done <- err
		}()
		time.Sleep(50 * time.Millisecond) // the read waits in the poller
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("the waiting read: %v, want net.ErrClosed", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting read did not end with Close")
		}
		if target := fdTarget(fd); target == "anon_inode:[eventfd]" {
			t.Errorf("descriptor %d after Close: %q, want it closed", fd, target)
		}
	})
}

// testMeter counts open connections.
type testMeter struct{ open atomic.Int64 }

func (m *testMeter) Bytes(string, int64, int64)     {}
func (m *testMeter) Connection(_ string, delta int) { m.open.Add(int64(delta)) }

// TestDialRawTimeoutError checks that a raw dial whose timeout passes
// returns an error callers can test as they test net.Dialer's, which is
// os.ErrDeadlineExceeded or its context's timeout error, whichever fires
// first: both errors.Is answers, a net.Error timeout, "i/o timeout".
func TestDialRawTimeoutError(t *testing.T) {
	check := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%v: not a net.Error timeout", err)
		}
		for _, target := range []error{context.DeadlineExceeded, os.ErrDeadlineExceeded} {
			if !errors.Is(err, target) {
				t.Errorf("%v: errors.Is(err, %v) false", err, target)
			}
		}
		if !strings.HasSuffix(err.Error(), "i/o timeout") {
			t.Errorf("%q: not net's text", err)
		}
	}
	t.Run("error", func(t *testing.T) {
		check(t, &net.OpError{Op: "dial", Net: "tcp", Err: errDialDeadline})
	})
	t.Run("dial", func(t *testing.T) {
		ap := netip.MustParseAddrPort(faketest.FullListener(t))
		for i := 0; i < 3; i++ {
			_, ok, err := dialRaw(context.Background(), ap, 50*time.Millisecond, 0)
			if !ok {
				t.Fatal("not dialed raw")
			}
			check(t, err)
		}
	})
}

// TestSockConnDeadlinesAfterReleasedClose checks that a raw-dialed
// connection's deadline setters fail with net.ErrClosed after a released
// Close (rawIO.release), as a closed net.Conn's do, rather than acting on
// the placeholder descriptor.
func TestSockConnDeadlinesAfterReleasedClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := Dial(t.Context(), Config{Protocol: "pop3", Endpoint: Endpoint{Addr: ln.Addr().String()}, LateCloser: NewLateCloser()})
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := c.raw.(*sockConn)
	if !ok {
		t.Fatalf("dialed %T, not raw", c.raw)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !sc.io.released.Load() {
		t.Fatal("Close did not release the socket")
	}
	at := time.Now().Add(time.Minute)
	for _, tc := range []struct {
		name string
		set  func(time.Time) error
	}{
		{"SetDeadline", sc.SetDeadline},
		{"SetReadDeadline", sc.SetReadDeadline},
		{"SetWriteDeadline", sc.SetWriteDeadline},
	} {
		if err := tc.set(at); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after Close: %v, want net.ErrClosed", tc.name, err)
		}
	}
}

// TestDialRawKeepAlive checks that dialRaw sets a connection's keep-alive
// options as net.Dialer does for the same KeepAlive (Config.KeepAlive):
// the default, a period of its own, and none.
func TestDialRawKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := ln.Addr().String()
	for _, keepAlive := range []time.Duration{0, 30 * time.Second, 1500 * time.Millisecond, -1} {
		t.Run(keepAlive.String(), func(t *testing.T) {
			d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: keepAlive}
			nc, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			rc, ok, err := dialRaw(t.Context(), netip.MustParseAddrPort(addr), 10*time.Second, keepAlive)
			if !ok || err != nil {
				t.Fatalf("dialRaw: %v, %v", ok, err)
			}
			defer rc.Close()
			if got, want := sockopts(t, rc), sockopts(t, nc); got != want {
				t.Fatalf("dialRaw:   %s\nnet.Dialer: %s", got, want)
			}
		})
	}
}
