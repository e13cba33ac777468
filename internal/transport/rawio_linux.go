package transport

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// rawIO reads and writes a TCP socket with raw system calls through its
// syscall.RawConn: the runtime's poller still waits for the socket and
// enforces its deadlines (RawConn.Read and Write), but the read(2) and
// write(2) calls themselves skip the runtime's syscall entry and exit.
//
// Why: a harness mostly waiting for servers has all its P's idle between
// responses, and the runtime's sysmon thread then sleeps deeply. Every
// syscall entered from that state wakes sysmon (a futex wake-up, its
// nanosleep and a context switch or three) only for it to find the
// process idle again a moment later: on a population of IMAP devices that
// was about one sysmon wake-up per command and a third of the harness's CPU
// (docs/performance.md, "The round trip's own cost"). A non-blocking read
// or write of a socket never blocks in the kernel, so the P it holds for
// those microseconds needs no handing off, which is all that syscall entry
// prepares for.
//
// The errors are net.Conn's: a *net.OpError "read" or "write" wrapping
// the *os.SyscallError of errno, os.ErrDeadlineExceeded or net.ErrClosed,
// and io.EOF unwrapped at the end of the stream.
type rawIO struct {
	rc syscall.RawConn
	// addrs gives the addresses the errors name (the net.Conn's own,
	// which dialRaw's makes when first asked).
	addrs  addrs
	rd, wr rawOp
	// wx is writeRead's call in progress, guarded by both rd.mu and wr.mu;
	// wxOn (guarded by rd.mu) makes rd.fn run wx.step instead of a read,
	// so that the read side has one function (one allocation per
	// connection, TestSessionAllocs).
	wx   writeReadOp
	wxOn bool
	// pk is peer's and peek's call (their own lock: a read may wait in
	// the poller holding rd.mu meanwhile).
	pk peerOp
	// file: rc is an *os.File's (a socket of dialRaw), whose poller errors
	// are not wrapped as net's are.
	file bool
	// released is set, with both rd.mu and wr.mu held, when release closed
	// the socket: later calls fail as on a closed net.Conn, and so do the
	// deadline setters of dialRaw's sockConn, which read it without them.
	released atomic.Bool
}

// rawOp is one direction's call in progress: its buffer, progress and
// errno, and the function RawConn runs, made once so that a call does not
// allocate a closure. mu keeps concurrent callers (net.Conn allows them)
// from sharing the fields.
type rawOp struct {
	mu    sync.Mutex
	p     []byte
	n     int
	errno syscall.Errno
	short bool // a write wrote nothing
	fn    func(fd uintptr) bool
}

// addrs is what rawIO's errors take the connection's addresses from.
type addrs interface {
	LocalAddr() net.Addr
	RemoteAddr() net.Addr
}

// newRawIO returns the raw reader and writer of conn, or nil when conn is
// not a TCP socket of this platform (a *net.TCPConn or dialRaw's).
func newRawIO(conn net.Conn) *rawIO {
	if sc, ok := conn.(*sockConn); ok {
		return &sc.io
	}
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	r := &rawIO{}
	r.init(rc, tc, false)
	return r
}

// init makes r the raw reader and writer of the socket behind rc, whose
// addresses a gives; file: rc is an *os.File's.
func (r *rawIO) init(rc syscall.RawConn, a addrs, file bool) {
	r.rc, r.addrs, r.file = rc, a, file
	r.rd.fn = r.readSide
	r.wr.fn = r.wr.write
}

// readSide is rd.fn: writeRead's step while wxOn, else a read.
func (r *rawIO) readSide(fd uintptr) bool {
	if r.wxOn {
		return r.wx.step(fd)
	}
	return r.rd.read(fd)
}

// writeReadOp is writeRead's call in progress: the request written, then
// the first bytes of the reply read, in one RawConn.Read.
type writeReadOp struct {
	out     []byte
	wn      int  // bytes of out written
	written bool // out was written whole by one write(2)
	werrno  syscall.Errno
	in      []byte
	n       int
	rerrno  syscall.Errno
	// lateFn is late, for RawConn.Control, made on first use (the wait
	// rarely meets its deadline); empty is its finding nothing.
	lateFn func(fd uintptr)
	empty  bool
}

// late is writeRead's read at the deadline (RawConn.Control's function):
// one read(2) of o.in, empty when it found nothing.
func (o *writeReadOp) late(fd uintptr) { o.empty = !readOnce(fd, o.in, &o.n, &o.rerrno) }

// step is writeRead's function for RawConn.Read. Its first call writes
// o.out with one write(2) and, when that wrote all of it, returns false to
// wait for the reply: RawConn.Read reset the socket's read readiness
// before the call, so a reply, which can only come after the write, wakes
// the wait. A write that failed, found the socket full or wrote part of
// o.out returns true, for writeRead to finish it as Write does. The calls
// after the write read as rawOp.read does.
func (o *writeReadOp) step(fd uintptr) bool {
	if !o.written {
		n, e := rawCall(syscall.SYS_WRITE, fd, o.out)
		switch {
		case e == syscall.EAGAIN:
		case e != 0:
			o.werrno = e
		default:
			o.wn = n
			o.written = n == len(o.out)
		}
		return !o.written
	}
	return readOnce(fd, o.in, &o.n, &o.rerrno)
}

// writeRead writes p as Write does and then reads into b as Read does,
// for a client that sends a request and waits for its reply: the write is
// made inside RawConn.Read (writeReadOp.step), so that the read after it
// waits for the reply in the poller instead of first finding nothing
// (a read(2) returning EAGAIN per request, issue 14). It returns the bytes
// written and read; werr is the write's error (nothing was read then),
// rerr the read's. A write that does not complete in one system call is
// finished by Write's own path, and the read then by Read's. p and b are
// not empty.
//
// The read waits under the socket's read deadline, which the write inside
// it does not check: callers set both deadlines together (Conn.Extend,
// SetDeadline), as a write that completes at once never waits for its own.
//
// One difference from Write then Read remains: bytes that reached the
// socket before the write and were not read (the server's response to no
// command, or a BYE followed by a half-close) do not end the wait, which
// ends with the reply, a reset, or the read deadline. At the deadline one
// read(2) takes what is there, so the outcome is Read's (the bytes, EOF),
// only late. A server that closes its side fully answers the write with a
// reset, which ends the wait at once.
func (r *rawIO) writeRead(p, b []byte) (nw, nr int, werr, rerr error) {
	r.wr.mu.Lock()
	defer r.wr.mu.Unlock()
	r.rd.mu.Lock()
	defer r.rd.mu.Unlock()
	if r.released.Load() {
		return 0, 0, r.opError("write", net.ErrClosed), nil
	}
	o := &r.wx
	o.out, o.wn, o.written, o.werrno = p, 0, false, 0
	o.in, o.n, o.rerrno = b, 0, 0
	r.wxOn = true
	err := r.rc.Read(r.rd.fn)
	r.wxOn = false
	nw, written, werrno, nr, rerrno := o.wn, o.written, o.werrno, o.n, o.rerrno
	o.out, o.in = nil, nil
	if !written {
		switch {
		case werrno != 0:
			return nw, 0, r.opError("write", os.NewSyscallError("write", werrno)), nil
		case err != nil:
			// The poller failed before the write: a passed deadline or a
			// closed connection, which Write would have met too.
			return nw, 0, r.pollError("write", err), nil
		}
		m, err := r.runLocked(&r.wr, p[nw:], true)
		nw += m
		if err != nil {
			return nw, 0, err, nil
		}
		nr, err = r.runLocked(&r.rd, b, false)
		if err == nil && nr == 0 {
			err = io.EOF
		}
		return nw, nr, nil, err
	}
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		// The wait began after the write, with the socket's readiness
		// reset: bytes the server sent before the write (an unsolicited
		// response, a BYE and a half-close) wake nothing, so the wait met
		// the deadline. Read once, as Read would have at once: what was
		// there is the outcome, late by the deadline (docs/performance.md,
		// "Write then wait").
		o.in, o.n, o.rerrno, o.empty = b, 0, 0, false
		if o.lateFn == nil {
			o.lateFn = o.late
		}
		if cerr := r.rc.Control(o.lateFn); cerr == nil && !o.empty {
			err, nr, rerrno = nil, o.n, o.rerrno
		}
		o.in = nil
	}
	switch {
	case err != nil:
		return nw, nr, nil, r.pollError("read", err)
	case rerrno != 0:
		return nw, nr, nil, r.opError("read", os.NewSyscallError("read", rerrno))
	case nr == 0:
		return nw, 0, nil, io.EOF
	}
	return nw, nr, nil, nil
}

// read is RawConn.Read's function: one read(2) of o.p into o.n, false to
// wait for the poller when there is nothing to read yet.
func (o *rawOp) read(fd uintptr) bool { return readOnce(fd, o.p, &o.n, &o.errno) }

// readOnce makes one read(2) of p on fd for a RawConn.Read function: the
// bytes read into *n or the error into *errno, and false to wait for the
// poller when there is nothing to read yet.
func readOnce(fd uintptr, p []byte, n *int, errno *syscall.Errno) bool {
	m, e := rawCall(syscall.SYS_READ, fd, p)
	switch e {
	case 0:
		*n = m
	case syscall.EAGAIN:
		return false
	default:
		*errno = e
	}
	return true
}

// write is RawConn.Write's function: write(2) of o.p from o.n until all of
// it is written, false to wait for the poller when the socket is full.
func (o *rawOp) write(fd uintptr) bool {
	for o.n < len(o.p) {
		n, e := rawCall(syscall.SYS_WRITE, fd, o.p[o.n:])
		switch e {
		case 0:
			if n == 0 {
				o.short = true // as internal/poll: no progress is an error
				return true
			}
			o.n += n
		case syscall.EAGAIN:
			return false
		default:
			o.errno = e
			return true
		}
	}
	return true
}

// rawCall makes the system call trap (read or write) on fd over p, which
// is not empty, as a raw system call, again when a signal interrupted it.
func rawCall(trap, fd uintptr, p []byte) (int, syscall.Errno) {
	for {
		n, _, e := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e != syscall.EINTR {
			return int(n), e
		}
	}
}

// Read implements io.Reader as net.Conn's Read does.
func (r *rawIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.run(&r.rd, p, false)
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write implements io.Writer as net.Conn's Write does: all of p, or an
// error.
func (r *rawIO) Write(p []byte) (int, error) { return r.run(&r.wr, p, true) }

// run runs o's function over p through RawConn's Write (write) or Read and
// returns the bytes it moved and its error as net.Conn's would.
func (r *rawIO) run(o *rawOp, p []byte, write bool) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return r.runLocked(o, p, write)
}

// runLocked is run with o.mu held.
func (r *rawIO) runLocked(o *rawOp, p []byte, write bool) (int, error) {
	op := "read"
	if write {
		op = "write"
	}
	if r.released.Load() {
		return 0, r.opError(op, net.ErrClosed)
	}
	o.p, o.n, o.errno, o.short = p, 0, 0, false
	var err error
	if write {
		err = r.rc.Write(o.fn)
	} else {
		err = r.rc.Read(o.fn)
	}
	n, errno, short := o.n, o.errno, o.short
	o.p = nil
	switch {
	case err != nil:
		return n, r.pollError(op, err)
	case errno != 0:
		return n, r.opError(op, os.NewSyscallError(op, errno))
	case short:
		return n, r.opError(op, io.ErrUnexpectedEOF)
	}
	return n, nil
}

// pollError returns the error of op (read or write) whose RawConn call
// failed with err.
func (r *rawIO) pollError(op string, err error) error {
	if r.file && !errors.Is(err, os.ErrDeadlineExceeded) {
		// An *os.File's RawConn returns the poller's own errors: a
		// passed deadline, or that of a closed file, which net.Conn
		// reports as net.ErrClosed. The poller's other error,
		// poll.ErrNotPollable, cannot come here: dialRaw only makes a
		// rawIO of a socket whose deadline the poller accepted (the
		// first SetWriteDeadline), and a file never leaves the poller
		// until it is closed — so every other error is a closed file's.
		err = net.ErrClosed
	}
	return r.opError(op, err)
}

// opError wraps err as net.Conn's methods do; the poller's errors come
// from a net.Conn's RawConn wrapped as a "raw-read" or "raw-write"
// *net.OpError, whose cause it keeps.
func (r *rawIO) opError(op string, err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: r.addrs.LocalAddr(), Addr: r.addrs.RemoteAddr(), Err: err}
}

// release closes the socket under the connection with raw system calls
// when no read or write is in progress, and reports whether it did. It
// puts a placeholder (a new eventfd) at the socket's descriptor with
// dup3(2), which closes the socket as close(2) would have at that moment:
// the same FIN, or reset with unread data. The socket leaves the runtime's
// epoll set when dup3 drops the last reference to it; a fork in progress
// holds a copy of the descriptor table until its exec (the descriptors are
// close-on-exec), and then the socket stays open and registered until
// that exec, as after close(2). That is harmless: its events carry the
// pollDesc of the placeholder file, on which no read or write waits (they
// fail once released), and after the placeholder's close the runtime's
// stale-event guard (the descriptor sequence number in the epoll data)
// drops them. The descriptor itself, the placeholder now, is closed later
// by the net.Conn's Close, which goes through the runtime's syscall entry
// (see Conn.Close). Later reads and writes here fail as on a closed
// net.Conn.
//
// false: a read or write is in progress (it may be waiting in the poller,
// which only the net.Conn's Close wakes) or a system call failed (no
// descriptor left for the placeholder); the socket is untouched and the
// caller closes the net.Conn now.
func (r *rawIO) release() bool {
	if !r.rd.mu.TryLock() {
		return false
	}
	defer r.rd.mu.Unlock()
	if !r.wr.mu.TryLock() {
		return false
	}
	defer r.wr.mu.Unlock()
	if r.released.Load() {
		return true
	}
	var errno syscall.Errno
	if err := r.rc.Control(func(fd uintptr) { errno = replaceFD(fd) }); err != nil || errno != 0 {
		return false
	}
	r.released.Store(true)
	return true
}

// replaceFD puts a new eventfd at fd, which closes what fd was, with raw
// system calls.
func replaceFD(fd uintptr) syscall.Errno {
	efd, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC, 0)
	if e != 0 {
		return e
	}
	_, _, e = syscall.RawSyscall(syscall.SYS_DUP3, efd, fd, syscall.O_CLOEXEC)
	syscall.RawSyscall(syscall.SYS_CLOSE, efd, 0, 0)
	return e
}

// Linux's poll(2) event bits (include/uapi/asm-generic/poll.h, the same
// on every architecture Go supports); the syscall package does not name
// them.
const (
	pollIn    = 0x1
	pollErr   = 0x8
	pollHup   = 0x10
	pollRDHup = 0x2000
)

// pollFD is struct pollfd.
type pollFD struct {
	fd      int32
	events  int16
	revents int16
}

// peerOp is a call of peer or peek: its arguments and results, and the
// functions RawConn.Control runs, made on first use (a connection that is
// never looked at allocates nothing for them, one that is looked at again
// nothing more).
type peerOp struct {
	mu     sync.Mutex
	p      pollFD
	zero   syscall.Timespec
	buf    []byte
	n      uintptr
	errno  syscall.Errno
	pollFn func(fd uintptr)
	peekFn func(fd uintptr)
}

// poll is peer's function: ppoll(2) of the socket for input and the
// peer's FIN, with a zero timeout.
func (o *peerOp) poll(fd uintptr) {
	o.p = pollFD{fd: int32(fd), events: pollIn | pollRDHup}
	_, _, o.errno = syscall.RawSyscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&o.p)), 1,
		uintptr(unsafe.Pointer(&o.zero)), 0, 0, 0)
}

// peek is peek's function: recv(2) of o.buf with MSG_PEEK and MSG_DONTWAIT.
func (o *peerOp) peek(fd uintptr) {
	o.n, _, o.errno = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&o.buf[0])), uintptr(len(o.buf)),
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
}

// peer looks at the socket without waiting (Conn.PeerClosed): closed when
// the peer's FIN (POLLRDHUP) or a reset or error (POLLHUP, POLLERR) has
// arrived, pending when bytes wait to be read. It is one ppoll(2) with a
// zero timeout, a raw system call as the reads and writes here are: it
// never blocks, and it takes no lock, so a read waiting in the poller
// (go-imap's reader goroutine) does not hold it up. A released socket, or
// one the call cannot look at, reports neither.
func (r *rawIO) peer() (closed, pending bool) {
	if r.released.Load() {
		return false, false
	}
	o := &r.pk
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pollFn == nil {
		o.pollFn = o.poll
	}
	o.p.revents = 0
	if err := r.rc.Control(o.pollFn); err != nil || o.errno != 0 {
		return false, false
	}
	ev := o.p.revents
	return ev&(pollRDHup|pollHup|pollErr) != 0, ev&pollIn != 0
}

// peek copies the bytes waiting to be read into b without reading them
// (recv(2) with MSG_PEEK and MSG_DONTWAIT, a raw system call) and returns
// how many; 0 when there are none or the call failed.
func (r *rawIO) peek(b []byte) int {
	if len(b) == 0 || r.released.Load() {
		return 0
	}
	o := &r.pk
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.peekFn == nil {
		o.peekFn = o.peek
	}
	o.buf, o.n = b, 0
	err := r.rc.Control(o.peekFn)
	o.buf = nil
	if err != nil || o.errno != 0 {
		return 0
	}
	return int(o.n)
}

// openFilesLimit returns the process's soft open-files limit
// (RLIMIT_NOFILE), read with a raw prlimit64(2), or 0 when it cannot.
func openFilesLimit() uint64 {
	var lim syscall.Rlimit
	_, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, syscall.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&lim)), 0, 0)
	if e != 0 {
		return 0
	}
	return lim.Cur
}
