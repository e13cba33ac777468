package transport

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// fillDescriptors opens /dev/null until the open-files limit, then closes
// spare of those files; the caller closes the rest.
func fillDescriptors(t *testing.T, spare int) []*os.File {
	t.Helper()
	var fs []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		fs = append(fs, f)
	}
	if len(fs) < spare {
		t.Fatalf("only %d descriptors free", len(fs))
	}
	for _, f := range fs[len(fs)-spare:] {
		f.Close()
	}
	return fs[:len(fs)-spare]
}

// TestCloseRedialAtLimit closes connections released (their placeholders
// held by a LateCloser) and re-dials as many at once with only one more
// descriptor free than that: every re-dial must succeed, as after
// net.Conn's Close, the held placeholders closed when a dial finds no
// descriptor left.
func TestCloseRedialAtLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := Config{Protocol: "pop3", Endpoint: Endpoint{Addr: ln.Addr().String()}}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 256, Max: old.Max}); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	for _, tc := range []struct {
		name string
		late *LateCloser
	}{
		{"close at once", nil},
		{"late close", NewLateCloser()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := cfg
			cfg.LateCloser = tc.late
			defer tc.late.Flush()
			const n = 3
			fs := fillDescriptors(t, n+1)
			defer func() {
				for _, f := range fs {
					f.Close()
				}
			}()
			var cs []*Conn
			for i := 0; i < n; i++ {
				c, err := Dial(t.Context(), cfg)
				if err != nil {
					t.Fatalf("dial %d: %v", i, err)
				}
				cs = append(cs, c)
			}
			for _, c := range cs {
				c.Close()
			}
			if tc.late != nil && cs[0].wire.io != nil && !cs[0].wire.io.released.Load() {
				t.Fatal("Close did not release the socket")
			}
			for i := 0; i < n; i++ {
				c, err := Dial(t.Context(), cfg)
				if err != nil {
					t.Errorf("re-dial %d: %v", i, err)
					continue
				}
				defer c.Close()
			}
		})
	}
}

// TestConcurrentRedialAtLimit is TestCloseRedialAtLimit with the re-dials
// made at once, as devices at the limit make them: a dial that meets the
// limit while another's Flush is closing the placeholders must wait for
// those closes and retry, not fail because its own Flush found nothing
// left to close. Rounds, since the interleaving varies.
func TestConcurrentRedialAtLimit(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 512, Max: old.Max}); err != nil {
		t.Skipf("setrlimit: %v", err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	const n, rounds = 16, 50
	failed := 0
	for r := range rounds {
		late := NewLateCloser()
		cfg := Config{Protocol: "pop3", Endpoint: Endpoint{Addr: ln.Addr().String()}, LateCloser: late}
		fs := fillDescriptors(t, n+1)
		var cs []*Conn
		for i := range n {
			c, err := Dial(t.Context(), cfg)
			if err != nil {
				t.Fatalf("round %d: dial %d: %v", r, i, err)
			}
			cs = append(cs, c)
		}
		for _, c := range cs {
			c.Close()
		}
		var (
			wg    sync.WaitGroup
			bad   atomic.Int32
			mu    sync.Mutex
			got   []*Conn
			start = make(chan struct{})
		)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, err := Dial(t.Context(), cfg)
				if err != nil {
					if bad.Add(1) == 1 {
						t.Logf("round %d: %v", r, err)
					}
					return
				}
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			}()
		}
		close(start)
		wg.Wait()
		for _, c := range got {
			c.Close()
		}
		late.Flush()
		for _, f := range fs {
			f.Close()
		}
		failed += int(bad.Load())
	}
	if failed > 0 {
		t.Errorf("%d of %d concurrent re-dials at the limit failed (after net.Conn's Close: none)", failed, n*rounds)
	}
}

// TestLateCloserBudget checks that a LateCloser holds at most its budget
// of placeholders and that Flush closes them.
func TestLateCloserBudget(t *testing.T) {
	for _, max := range []int{0, 1, 3} {
		l := &LateCloser{max: max}
		var fs []*os.File
		held := 0
		for i := 0; i < 5; i++ {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
			if l.hold(f) {
				held++
			} else {
				f.Close()
			}
		}
		if held != max {
			t.Errorf("budget %d: held %d", max, held)
		}
		if got := l.Flush(); got != max {
			t.Errorf("budget %d: Flush closed %d", max, got)
		}
		for _, f := range fs {
			if err := f.Close(); err == nil {
				t.Errorf("budget %d: %s left open", max, f.Name())
			}
		}
	}
	var nl *LateCloser
	if nl.hold(nil) || nl.Flush() != 0 {
		t.Error("a nil LateCloser held a placeholder")
	}
}

// TestCloseWithFullLateCloser: a Close whose LateCloser holds its budget
// closes the socket as net.Conn does, without first putting a placeholder
// over it (an eventfd and a dup3 it would close at once).
func TestCloseWithFullLateCloser(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	late := &LateCloser{max: 0}
	c, err := Dial(t.Context(), Config{Protocol: "pop3", Endpoint: Endpoint{Addr: ln.Addr().String()}, LateCloser: late})
	if err != nil {
		t.Fatal(err)
	}
	if c.wire.io == nil {
		t.Skip("no raw socket I/O here")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if c.wire.io.released.Load() {
		t.Error("Close released the socket with a LateCloser that holds its budget")
	}
	if n := late.Flush(); n != 0 {
		t.Errorf("the full LateCloser holds %d placeholders", n)
	}
}
