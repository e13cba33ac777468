package clients

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/simclock"
)

// serverProcessEnv marks the test binary re-executed as a server process.
const serverProcessEnv = "MAILSIM_CLIENTS_SERVER_PROCESS"

// TestServerProcess is not a test: run by BenchmarkIMAPCommandClient in a
// child process, it serves the embedded server on loopback (users alice and
// bob, password "secret"), prints "imap=ADDR lmtp=ADDR pop3=ADDR" and
// serves until its stdin closes.
func TestServerProcess(t *testing.T) {
	if os.Getenv(serverProcessEnv) != "1" {
		t.Skip("helper process of BenchmarkIMAPCommandClient")
	}
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	for _, u := range []string{"alice", "bob"} {
		if err := srv.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0", POP3: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	fmt.Printf("imap=%s lmtp=%s pop3=%s\n", addrs.IMAP, addrs.LMTP, addrs.POP3)
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// startServerProcess runs the embedded server in a child process, so that
// the benchmark's process CPU is the client's alone.
func startServerProcess(b testing.TB) *imapEnv {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestServerProcess$", "-test.v=false")
	cmd.Env = append(os.Environ(), serverProcessEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		cancel()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("server process: %v", err)
	}
	env := newIMAPEnvNoServer()
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "imap":
			env.addrs.IMAP = v
		case "lmtp":
			env.addrs.LMTP = v
		case "pop3":
			env.addrs.POP3 = v
		}
	}
	if env.addrs.IMAP == "" || env.addrs.LMTP == "" {
		b.Fatalf("server process said %q", line)
	}
	return env
}

// BenchmarkIMAPCommandClient is BenchmarkIMAPCommand with the server in a
// child process: cpu-ns/cmd is the client's CPU alone (the device's
// session, the client library, the counting connection and the recorder;
// the kernel's share of the socket calls included), and allocs/op the
// client's. Sub-benchmarks: "sync" is BenchmarkIMAPCommand's pair (UID
// FETCH 1:* (UID FLAGS) over 20 messages and a verified UID STORE), the
// others one command each ("headers20": UID FETCH 1:* (UID
// BODY.PEEK[HEADER]) over 20 messages, the literals of a new-mail fetch).
// Each runs with every IMAP client (Profile.IMAPClient: goimap/..., lean/...).
func BenchmarkIMAPCommandClient(b *testing.B) {
	for _, c := range IMAPClients {
		b.Run(c, func(b *testing.B) { benchIMAPCommandClient(b, c) })
	}
}

func benchIMAPCommandClient(b *testing.B, client string) {
	env := startServerProcess(b)
	env.client = client
	s := benchSession(b, env)
	defer s.close()
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	loc := imapLoc{folder: "INBOX", uid: 1}
	flags := &imap.FetchOptions{UID: true, Flags: true}
	seen := []imap.Flag{imap.FlagSeen}
	fetch := func() error { return s.fetch(all, flags, false, func(fetched) {}) }
	headerOpts := &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}
	headers := func() error {
		var n int
		err := s.fetch(all, headerOpts, true, func(f fetched) {
			if f.hasID() {
				n++
			}
		})
		if err == nil && n != 20 {
			err = fmt.Errorf("headers20: %d of 20 Message-IDs", n)
		}
		return err
	}
	store := func() error { _, err := s.d.store(s, loc, seen); return err }
	noop := func() error { return s.do("NOOP", s.c.Noop) }
	for _, bm := range []struct {
		name string
		cmds []func() error
	}{
		{"sync", []func() error{fetch, store}},
		{"fetch20", []func() error{fetch}},
		{"headers20", []func() error{headers}},
		{"store", []func() error{store}},
		{"noop", []func() error{noop}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for _, cmd := range bm.cmds {
					if err := cmd(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(len(bm.cmds)*b.N), "cpu-ns/cmd")
		})
	}
}

// BenchmarkIMAPIdlePhoneMemory measures what an idle IMAP device costs the
// harness alone: phones on push (one connection IDLEing on INBOX) with an
// empty mailbox, the server in a child process. Once every phone has synced
// and sits in IDLE it reports, per device, the heap in use plus goroutine
// stacks (bytes/device), each apart (heap-B/device: spans in use;
// objects-B/device: the live objects in them, HeapAlloc; the difference is
// fragmentation; stack-B/device), and the goroutines (goroutines/device),
// from runtime.MemStats after two GCs.
// This is the live figure; a process's RSS is about that plus the GC's
// headroom (GOGC) and the runtime's fixed cost (docs/performance.md,
// "Memory per idle device"). MAILSIM_IDLE_DEVICES sets the number of phones
// (default 500), MAILSIM_IDLE_HEAPPROFILE=FILE writes a heap profile of
// the idle phones. Run with -benchtime=1x; it runs with every IMAP client
// (Profile.IMAPClient: goimap, lean).
//
//	go test -run '^$' -bench IMAPIdlePhoneMemory -benchtime 1x ./clients
func BenchmarkIMAPIdlePhoneMemory(b *testing.B) {
	for _, c := range IMAPClients {
		b.Run(c, func(b *testing.B) { benchIdlePhoneMemory(b, c) })
	}
}

func benchIdlePhoneMemory(b *testing.B, client string) {
	n := idleDevices(b)
	if os.Getenv("MAILSIM_IDLE_HEAPPROFILE") != "" {
		// Every allocation from here on, not a sample.
		defer func(r int) { runtime.MemProfileRate = r }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	env := startServerProcess(b)
	env.client = client
	// One measurement whatever b.N.
	for range 1 {
		g0 := runtime.NumGoroutine()
		m0 := liveMem()
		ctx, cancel := context.WithCancel(context.Background())
		wait := startSyncedDevices(b, ctx, n, func() Options {
			o := env.options(KindPhone, nil, func(p *Profile) { p.Idle = true })
			// Real time: the phones stay in IDLE (re-IDLE and the next
			// poll are simulated minutes away).
			o.Clock = simclock.New(1, time.Now())
			return o
		})
		time.Sleep(time.Second) // every phone from its sync into IDLE
		m1 := liveMem()
		g1 := runtime.NumGoroutine()
		if p := os.Getenv("MAILSIM_IDLE_HEAPPROFILE"); p != "" {
			writeHeapProfile(b, p)
		}
		reportMem(b, m0, m1, g1-g0, n, "device")
		cancel()
		wait()
	}
}

// idleDevices is the number of idle devices or connections the memory
// benchmarks hold: $MAILSIM_IDLE_DEVICES, default 500.
func idleDevices(b *testing.B) int {
	n := 500
	if v := os.Getenv("MAILSIM_IDLE_DEVICES"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil || n < 1 || n > 10000 {
			b.Fatalf("MAILSIM_IDLE_DEVICES=%q: want 1..10000", v)
		}
	}
	return n
}

// reportMem reports the memory n things (unit: "device", "conn") added
// between m0 and m1, per thing: heap and stacks in use (bytes/unit), the
// heap in use (heap-B/unit), the live objects in it (objects-B/unit), the
// stacks (stack-B/unit) and goroutines more (goroutines/unit).
func reportMem(b *testing.B, m0, m1 runtime.MemStats, goroutines, n int, unit string) {
	per := func(a, b uint64) float64 { return (float64(b) - float64(a)) / float64(n) }
	b.ReportMetric(per(m0.HeapInuse+m0.StackInuse, m1.HeapInuse+m1.StackInuse), "bytes/"+unit)
	b.ReportMetric(per(m0.HeapInuse, m1.HeapInuse), "heap-B/"+unit)
	b.ReportMetric(per(m0.HeapAlloc, m1.HeapAlloc), "objects-B/"+unit)
	b.ReportMetric(per(m0.StackInuse, m1.StackInuse), "stack-B/"+unit)
	b.ReportMetric(float64(goroutines)/float64(n), "goroutines/"+unit)
}

// liveMem returns the memory statistics after two GCs.
func liveMem() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}

// writeHeapProfile writes the heap profile to path.
func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.WriteHeapProfile(f); err != nil {
		b.Fatal(err)
	}
}
