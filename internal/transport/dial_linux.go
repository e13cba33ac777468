package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// dialRaw connects to ap over TCP as net.Dialer{Timeout: timeout} does —
// the same socket options, the same waiting for the connection, net's
// errors — but makes every system call of it (socket, setsockopt,
// connect, getsockopt, getsockname, getpeername) as a raw system call, and
// hands the socket to the runtime's poller through os.NewFile, whose
// descriptor check (fcntl) is raw too. The errors are net's, but for a
// timeout that passed: net returns os.ErrDeadlineExceeded or its context's
// timeout error, whichever fired first, dialRaw one error that matches both
// (errDialDeadline). ok is false when ap is not an
// address it dials (an IPv4-mapped IPv6 address or one with a zone) or the
// socket could not join the poller; the caller then dials with net.Dialer.
//
// Why: net.Dialer makes seven system calls of a connection (TCP_NODELAY,
// four keep-alive options, connect, SO_ERROR) through the runtime's
// syscall entry, and the first of them after the harness was idle wakes
// the runtime's sysmon thread (see rawIO in rawio_linux.go, and
// docs/performance.md, "Wake-ups per command"). A connection per APPEND
// and per re-login made that a wake-up every few commands.
func dialRaw(ctx context.Context, ap netip.AddrPort, timeout, keepAlive time.Duration) (conn net.Conn, ok bool, err error) {
	family := syscall.AF_INET
	switch a := ap.Addr(); {
	case a.Is4():
	case a.Is6() && !a.Is4In6() && a.Zone() == "":
		family = syscall.AF_INET6
	default:
		return nil, false, nil
	}
	raddr := net.TCPAddrFromAddrPort(ap)
	opErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Addr: raddr, Err: err} }

	// The deadline as net.Dialer's: the timeout or the context's, the
	// earlier.
	deadline := time.Now().Add(timeout)
	if d, has := ctx.Deadline(); has && d.Before(deadline) {
		deadline = d
	}
	if err := ctx.Err(); err != nil {
		return nil, true, opErr(mapCtxErr(err))
	}

	fd, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(family), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if e != 0 {
		return nil, true, opErr(os.NewSyscallError("socket", e))
	}
	if family == syscall.AF_INET6 {
		// net's default: both IP versions (IPV6_V6ONLY off).
		_ = setsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
	}
	f := os.NewFile(fd, "tcp:"+ap.String())
	// A socket the poller refused has no deadlines: dial it with net,
	// before a packet was sent.
	if err := f.SetWriteDeadline(deadline); err != nil {
		_ = f.Close()
		return nil, false, nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, false, nil
	}
	sa, salen := sockaddr(ap)
	wait := false
	switch e := rawConnect(fd, sa, salen); e {
	case 0, syscall.EISCONN:
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		wait = true
	default:
		_ = f.Close()
		return nil, true, opErr(os.NewSyscallError("connect", e))
	}
	if wait {
		if err := waitConnect(ctx, f, rc); err != nil {
			_ = f.Close()
			return nil, true, opErr(err)
		}
	} else if err := ctx.Err(); err != nil {
		_ = f.Close()
		return nil, true, opErr(mapCtxErr(err))
	}
	if err := f.SetWriteDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, true, opErr(err)
	}
	var local, peer net.Addr = nil, raddr
	err = rc.Control(func(fd uintptr) {
		setSockopts(fd, keepAlive)
		// getsockname and getpeername are raw system calls in package
		// syscall.
		if sa, err := syscall.Getsockname(int(fd)); err == nil {
			local = tcpAddrOf(sa)
		}
		if sa, err := syscall.Getpeername(int(fd)); err == nil {
			peer = tcpAddrOf(sa)
		}
	})
	if err != nil {
		_ = f.Close()
		return nil, true, opErr(err)
	}
	sc := &sockConn{f: f, local: local, peer: peer}
	sc.io = newRawIOOf(rc, local, peer, true)
	return sc, true, nil
}

// waitConnect waits for a connect in progress on f as net does: until the
// socket is writable and SO_ERROR says how it went, a spurious wake-up
// checked with getpeername; the context ends the wait (its error mapped as
// net maps it), and so does f's write deadline.
func waitConnect(ctx context.Context, f *os.File, rc syscall.RawConn) error {
	var result, gerr syscall.Errno
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(aLongTimeAgo) })
	werr := rc.Write(func(fd uintptr) bool {
		soerr, e := getsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
		if e != 0 {
			gerr = e
			return true
		}
		switch se := syscall.Errno(soerr); se {
		case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
			return false
		case syscall.EISCONN:
			result = 0
			return true
		case 0:
			if _, err := syscall.Getpeername(int(fd)); err == nil {
				result = 0
				return true
			}
			return false // woken before the connection was made
		default:
			result = se
			return true
		}
	})
	if !stop() && werr == nil && gerr == 0 && result == 0 {
		// The context ended as the connection was made and may have
		// poisoned the socket's write deadline: fail as net does
		// (net's issue 16523).
		return mapCtxErr(ctx.Err())
	}
	switch {
	case werr != nil:
		if err := ctx.Err(); err != nil {
			return mapCtxErr(err)
		}
		// The timeout passed. net.Dialer's timeout is a context deadline
		// and also the socket's write deadline: it returns the poller's
		// os.ErrDeadlineExceeded or its context's "i/o timeout" error,
		// whichever fires first. This error answers both: errors.Is
		// matches context.DeadlineExceeded and os.ErrDeadlineExceeded,
		// Timeout() is true, the text is "i/o timeout".
		if errors.Is(werr, os.ErrDeadlineExceeded) {
			return errDialDeadline
		}
		return werr
	case gerr != 0:
		return os.NewSyscallError("getsockopt", gerr)
	case result != 0:
		return os.NewSyscallError("connect", result)
	}
	return nil
}

// mapCtxErr maps a context's error as net does for a dial: the deadline
// to a timeout ("i/o timeout"), a cancel to "operation was canceled".
func mapCtxErr(err error) error {
	switch err {
	case context.DeadlineExceeded:
		return errDialTimeout
	case context.Canceled:
		return errDialCanceled
	}
	return err
}

// errDialTimeout and errDialCanceled are net's errors of a dial whose
// deadline passed or whose context was cancelled: the same text, the same
// net.Error and errors.Is answers. errDialDeadline is that of a dial whose
// timeout passed in the poller (see waitConnect): net's timeout error that
// also matches os.ErrDeadlineExceeded, as net's dial returns either.
var (
	errDialTimeout  error = dialTimeoutError{}
	errDialCanceled error = dialCanceledError{}
	errDialDeadline error = dialDeadlineError{}
)

type dialDeadlineError struct{ dialTimeoutError }

func (dialDeadlineError) Is(target error) bool {
	return target == context.DeadlineExceeded || target == os.ErrDeadlineExceeded
}

type dialTimeoutError struct{}

func (dialTimeoutError) Error() string        { return "i/o timeout" }
func (dialTimeoutError) Timeout() bool        { return true }
func (dialTimeoutError) Temporary() bool      { return true }
func (dialTimeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

type dialCanceledError struct{}

func (dialCanceledError) Error() string        { return "operation was canceled" }
func (dialCanceledError) Is(target error) bool { return target == context.Canceled }

// sockConn is a TCP connection dialed by dialRaw: a net.Conn over the
// socket's *os.File, reading and writing through rawIO. Its errors are
// net.Conn's (a *net.OpError naming the operation, net.ErrClosed once
// closed).
type sockConn struct {
	f           *os.File
	io          *rawIO
	local, peer net.Addr
}

func (c *sockConn) Read(p []byte) (int, error)  { return c.io.Read(p) }
func (c *sockConn) Write(p []byte) (int, error) { return c.io.Write(p) }

// Close closes the socket (the descriptor, as net.Conn's Close).
func (c *sockConn) Close() error {
	err := c.f.Close()
	if err == nil || errors.Is(err, os.ErrClosed) {
		return c.opError("close", err)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return &net.OpError{Op: "close", Net: "tcp", Source: c.local, Addr: c.peer, Err: err}
}

func (c *sockConn) LocalAddr() net.Addr  { return c.local }
func (c *sockConn) RemoteAddr() net.Addr { return c.peer }

// SetDeadline, SetReadDeadline and SetWriteDeadline set the socket's
// deadlines as net.Conn's do; after a released close (rawIO.release) the
// file holds the placeholder, and they fail with net.ErrClosed as on a
// closed net.Conn.
func (c *sockConn) SetDeadline(t time.Time) error {
	if c.io.released.Load() {
		return c.opError("set", net.ErrClosed)
	}
	return c.opError("set", c.f.SetDeadline(t))
}

func (c *sockConn) SetReadDeadline(t time.Time) error {
	if c.io.released.Load() {
		return c.opError("set", net.ErrClosed)
	}
	return c.opError("set", c.f.SetReadDeadline(t))
}

func (c *sockConn) SetWriteDeadline(t time.Time) error {
	if c.io.released.Load() {
		return c.opError("set", net.ErrClosed)
	}
	return c.opError("set", c.f.SetWriteDeadline(t))
}

// opError wraps an error of the socket's *os.File as net.Conn's: the only
// errors a pollable file's Close and Set*Deadline return are those of a
// closed file, which net.Conn reports as net.ErrClosed.
func (c *sockConn) opError(op string, err error) error {
	if err == nil {
		return nil
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.peer, Err: net.ErrClosed}
}

// setSockopts sets net.Dialer{KeepAlive: keepAlive}'s options of a TCP
// connection on fd: no Nagle delay and, unless keepAlive < 0, keep-alive
// probes after keepAlive idle (15 s when zero, rounded up to whole
// seconds), every 15 s, 9 of them (net's defaults). Errors are ignored, as
// net does.
func setSockopts(fd uintptr, keepAlive time.Duration) {
	_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if keepAlive < 0 {
		return
	}
	if keepAlive == 0 {
		keepAlive = 15 * time.Second
	}
	_ = setsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1)
	_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int((keepAlive+time.Second-1)/time.Second))
	_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 15)
	_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 9)
}

// sockaddr returns ap as a raw socket address and its length.
func sockaddr(ap netip.AddrPort) (unsafe.Pointer, uintptr) {
	port := ap.Port()
	if ap.Addr().Is4() {
		sa := &syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: ap.Addr().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		return unsafe.Pointer(sa), syscall.SizeofSockaddrInet4
	}
	sa := &syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: ap.Addr().As16()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unsafe.Pointer(sa), syscall.SizeofSockaddrInet6
}

// tcpAddrOf converts a socket address as net does.
func tcpAddrOf(sa syscall.Sockaddr) net.Addr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[0:], Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: sa.Addr[0:], Port: sa.Port}
	}
	return nil
}

// rawConnect is connect(2) as a raw system call.
func rawConnect(fd uintptr, sa unsafe.Pointer, salen uintptr) syscall.Errno {
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, fd, uintptr(sa), salen)
	return e
}

// setsockoptInt is setsockopt(2) of an int as a raw system call.
func setsockoptInt(fd uintptr, level, name, v int) syscall.Errno {
	val := int32(v)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, uintptr(level), uintptr(name), uintptr(unsafe.Pointer(&val)), 4, 0)
	return e
}

// getsockoptInt is getsockopt(2) of an int as a raw system call.
func getsockoptInt(fd uintptr, level, name int) (int, syscall.Errno) {
	var val int32
	l := uint32(4)
	_, _, e := syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, fd, uintptr(level), uintptr(name), uintptr(unsafe.Pointer(&val)), uintptr(unsafe.Pointer(&l)), 0)
	return int(val), e
}
