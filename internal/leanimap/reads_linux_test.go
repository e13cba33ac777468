package leanimap

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// threadReads returns the read system calls (syscr) the calling thread
// made so far, from /proc/thread-self/io; false when the kernel does not
// account them.
func threadReads(t *testing.T) (int64, bool) {
	b, err := os.ReadFile("/proc/thread-self/io")
	if err != nil {
		return 0, false
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("syscr: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				t.Fatalf("syscr %q: %v", v, err)
			}
			return n, true
		}
	}
	return 0, false
}

// TestNoopReads pins the read system calls of a command over a
// transport.Conn: one, the reply's, where a write followed by a read made
// two — the first finding nothing yet (EAGAIN) before the wait for the
// reply (transport.Conn.WriteRead, docs/performance.md "Write then
// wait"). The client's goroutine is locked to its thread, whose read(2)
// calls /proc/thread-self/io counts; the server runs in another process.
func TestNoopReads(t *testing.T) {
	srv := serverProcess(t)
	c := login(t, srv, Options{})
	_, err := c.Select("INBOX", false)
	must(t, err)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r0, ok := threadReads(t)
	if !ok {
		t.Skip("no per-thread read accounting (/proc/thread-self/io)")
	}
	r1, _ := threadReads(t)
	own := r1 - r0 // the reads of threadReads itself
	const n = 50
	for range n {
		must(t, c.Noop())
	}
	r2, _ := threadReads(t)
	reads := r2 - r1 - own
	t.Logf("%d NOOPs: %d read system calls", n, reads)
	// A stale readiness event may make a read find nothing now and then;
	// one per command is the old shape.
	if reads > n+n/5 {
		t.Errorf("%d NOOPs made %d read system calls, want at most %d (one per reply)", n, reads, n+n/5)
	}
}
