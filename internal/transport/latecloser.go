package transport

import (
	"io"
	"sync"
	"time"
)

// LateCloser closes, at the next whole second and all together, the
// descriptors that Conn.Close leaves in place of the sockets it released
// (rawIO.release, rawio_linux.go): the runtime's syscall entry of their
// close(2) then wakes the sysmon thread at most once a second
// (docs/performance.md, "Wake-ups per command"). One is shared by the
// connections of one run (Config.LateCloser); its methods are safe for
// concurrent use.
//
// The placeholders it holds take descriptor slots: it holds at most a
// quarter of the soft open-files limit (RLIMIT_NOFILE) read when it was
// made, and a dial that finds no descriptor left (EMFILE, ENFILE) closes
// those it holds at once (or waits while a concurrent Flush closes them)
// and tries once more (Dial). So a process needs a descriptor per open
// connection plus at most that budget; a dial that meets the limit
// empties it, and later closes fill it again.
type LateCloser struct {
	max int // the most placeholders held at once
	mu  sync.Mutex
	// closing is held by Flush over its whole take and close, so that a
	// concurrent Flush (another dial at the limit, the tick) returns only
	// once those descriptors are free.
	closing sync.Mutex
	held    []io.Closer
	armed   bool // a timer will close held at the next whole second
}

// NewLateCloser returns a LateCloser whose budget is a quarter of the
// process's soft open-files limit now (none where the limit cannot be
// read or on platforms without released closes).
func NewLateCloser() *LateCloser {
	return &LateCloser{max: int(openFilesLimit() / 4)}
}

// hold takes c, a placeholder's net.Conn, to close it at the next whole
// second, and reports whether it did: false when l is nil or holds its
// budget, and the caller closes c now.
func (l *LateCloser) hold(c io.Closer) bool {
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.held) >= l.max {
		return false
	}
	l.held = append(l.held, c)
	if !l.armed {
		l.armed = true
		time.AfterFunc(untilNextSecond(time.Now()), l.tick)
	}
	return true
}

// full reports whether l holds its budget (a nil l holds none), so that
// Close does not release a socket whose placeholder it would close at
// once anyway.
func (l *LateCloser) full() bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.held) >= l.max
}

// tick is the timer's function: it closes what l holds.
func (l *LateCloser) tick() {
	l.mu.Lock()
	l.armed = false
	l.mu.Unlock()
	l.Flush()
}

// Flush closes every placeholder l holds now and returns how many it
// closed. A nil LateCloser holds none.
func (l *LateCloser) Flush() int {
	if l == nil {
		return 0
	}
	l.closing.Lock()
	defer l.closing.Unlock()
	l.mu.Lock()
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, c := range held {
		_ = c.Close()
	}
	return len(held)
}

// untilNextSecond returns the time from now to the next whole second.
func untilNextSecond(now time.Time) time.Duration {
	return time.Second - time.Duration(now.Nanosecond())
}
