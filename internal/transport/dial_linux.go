package transport

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
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

	// The deadline as net.Dialer's: the timeout or the context's, the
	// earlier.
	deadline := time.Now().Add(timeout)
	if d, has := ctx.Deadline(); has && d.Before(deadline) {
		deadline = d
	}
	if err := ctx.Err(); err != nil {
		return nil, true, dialError(ap, mapCtxErr(err))
	}

	fd, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(family), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if e != 0 {
		return nil, true, dialError(ap, os.NewSyscallError("socket", e))
	}
	if family == syscall.AF_INET6 {
		// net's default: both IP versions (IPV6_V6ONLY off).
		_ = setsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, 0)
	}
	// The file's name shows only in its *os.PathError, which sockConn
	// never returns (net's errors name the addresses): a constant one
	// spares formatting the address at every dial.
	f := os.NewFile(fd, "tcp")
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
	wait := false
	switch e := rawConnect(fd, ap); e {
	case 0, syscall.EISCONN:
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		// A connection to a server on this host is made within connect(2)
		// (the handshake runs in its softirq); check before waiting for
		// the poller, which needs a context.AfterFunc.
		var result syscall.Errno
		wait, result = connectPending(fd)
		if result != 0 {
			_ = f.Close()
			return nil, true, dialError(ap, os.NewSyscallError("connect", result))
		}
	default:
		_ = f.Close()
		return nil, true, dialError(ap, os.NewSyscallError("connect", e))
	}
	if wait {
		if err := waitConnect(ctx, f, rc); err != nil {
			_ = f.Close()
			return nil, true, dialError(ap, err)
		}
	} else if err := ctx.Err(); err != nil {
		_ = f.Close()
		return nil, true, dialError(ap, mapCtxErr(err))
	}
	if err := f.SetWriteDeadline(time.Time{}); err != nil {
		_ = f.Close()
		return nil, true, dialError(ap, err)
	}
	// The socket is the dial's alone until it returns: its options and
	// its address are set and read on the descriptor directly (no
	// RawConn.Control closure). The peer's address is made when asked
	// (sockConn.RemoteAddr): no getpeername(2).
	setSockopts(fd, keepAlive)
	sc := &sockConn{f: f, ap: ap, local: localAddr(fd)}
	sc.io.init(rc, sc, true)
	return sc, true, nil
}

// dialError is net's error of a dial to ap that failed with err.
func dialError(ap netip.AddrPort, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: err}
}

// connectPending checks the connect in progress on fd as waitConnect's
// check does, without waiting: pending is true when it is still in
// progress (or the check failed: waitConnect then checks again), false
// when it is made or failed with result. SO_ERROR, read here, is reset
// by the read: a failure must be reported from result.
func connectPending(fd uintptr) (pending bool, result syscall.Errno) {
	soerr, e := getsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	if e != 0 {
		return true, 0
	}
	switch se := syscall.Errno(soerr); se {
	case syscall.EINPROGRESS, syscall.EALREADY, syscall.EINTR:
		return true, 0
	case syscall.EISCONN:
		return false, 0
	case 0:
		return !hasPeer(fd), 0 // no peer: not connected yet
	default:
		return false, se
	}
}

// hasPeer reports whether socket fd is connected: getpeername(2) as a raw
// system call into the stack.
func hasPeer(fd uintptr) bool {
	var sa syscall.RawSockaddrAny
	l := uint32(syscall.SizeofSockaddrAny)
	_, _, e := syscall.RawSyscall(syscall.SYS_GETPEERNAME, fd, uintptr(unsafe.Pointer(&sa)), uintptr(unsafe.Pointer(&l)))
	return e == 0
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
			if hasPeer(fd) {
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
// closed). The peer's address is made the first time it is asked for,
// from the address dialed: what getpeername(2) returns for a connection
// to an IP address without a zone, which is all dialRaw dials.
type sockConn struct {
	f     *os.File
	io    rawIO
	ap    netip.AddrPort
	local net.Addr // nil when getsockname failed, as net's
	peer  atomic.Pointer[net.TCPAddr]
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
	return &net.OpError{Op: "close", Net: "tcp", Source: c.local, Addr: c.RemoteAddr(), Err: err}
}

func (c *sockConn) LocalAddr() net.Addr { return c.local }

// RemoteAddr implements net.Conn: the address dialed, made at the first
// call.
func (c *sockConn) RemoteAddr() net.Addr {
	if a := c.peer.Load(); a != nil {
		return a
	}
	c.peer.CompareAndSwap(nil, net.TCPAddrFromAddrPort(c.ap))
	return c.peer.Load()
}

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
	return &net.OpError{Op: op, Net: "tcp", Source: c.local, Addr: c.RemoteAddr(), Err: net.ErrClosed}
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

// localAddr returns the address of socket fd as net's getsockname does
// (a *net.TCPAddr, its IP of 4 or 16 bytes as the family's), or nil: a
// raw getsockname(2) into the stack and one allocation for the address
// and its IP.
func localAddr(fd uintptr) net.Addr {
	var rsa syscall.RawSockaddrAny
	l := uint32(syscall.SizeofSockaddrAny)
	if _, _, e := syscall.RawSyscall(syscall.SYS_GETSOCKNAME, fd, uintptr(unsafe.Pointer(&rsa)), uintptr(unsafe.Pointer(&l))); e != 0 {
		return nil
	}
	type addrIP struct {
		a  net.TCPAddr
		ip [16]byte
	}
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		b := &addrIP{}
		b.a.IP = b.ip[:copy(b.ip[:], sa.Addr[:])]
		b.a.Port = int(p[0])<<8 | int(p[1])
		return &b.a
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		b := &addrIP{}
		b.a.IP = b.ip[:copy(b.ip[:], sa.Addr[:])]
		b.a.Port = int(p[0])<<8 | int(p[1])
		if sa.Scope_id != 0 {
			// net names the zone; dialRaw dials no address with one,
			// but a link-local source could carry it.
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				b.a.Zone = ifi.Name
			}
		}
		return &b.a
	}
	return nil
}

// rawConnect is connect(2) to ap as a raw system call, the socket address
// on the stack.
func rawConnect(fd uintptr, ap netip.AddrPort) syscall.Errno {
	port := ap.Port()
	if ap.Addr().Is4() {
		sa := syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: ap.Addr().As4()}
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet4)
		return e
	}
	sa := syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: ap.Addr().As16()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, fd, uintptr(unsafe.Pointer(&sa)), syscall.SizeofSockaddrInet6)
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
