package clients

import (
	"context"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// cpuTime is the process's user+system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIMAPCommand measures the CPU of one IMAP command: a UID FETCH
// (FLAGS) over 20 messages plus a UID STORE, as a syncing device sends
// them. The server runs in the same process, so cpu-ns/cmd is client and
// server together: an upper bound of the client's share.
func BenchmarkIMAPCommand(b *testing.B) {
	s := benchSession(b, newIMAPEnv(b))
	defer s.close()
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	one := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 1}}
	flags := &imap.FetchOptions{UID: true, Flags: true}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.fetch(all, flags, false, func(fetched) {}); err != nil {
			b.Fatal(err)
		}
		if err := s.do("UID STORE", func() error {
			return s.c.StoreAdd(one, []imap.Flag{imap.FlagSeen}, func(fetched) {})
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(2*b.N), "cpu-ns/cmd")
}

// BenchmarkIMAPIdleDeviceMemory measures the memory of idle simulated PC
// devices (one connection IDLEing on INBOX each): heap in use plus
// goroutine stacks, per device, after all of them are idle. The in-process
// server's per-session state is included. Run with -benchtime=1x.
func BenchmarkIMAPIdleDeviceMemory(b *testing.B) {
	const n = 200
	env := newIMAPEnv(b)
	env.deliverB(b, 2000)
	for i := 0; i < b.N; i++ {
		before := liveBytes()
		ctx, cancel := context.WithCancel(context.Background())
		wait := startSyncedDevices(b, ctx, n, func() Options {
			return env.options(KindPC, nil, func(p *Profile) {
				p.Connections, p.FetchImmediate = 1, false
			})
		})
		time.Sleep(300 * time.Millisecond) // let every device enter IDLE
		after := liveBytes()
		b.ReportMetric(float64(after-before)/n, "bytes/device")
		cancel()
		wait()
	}
}

// startSyncedDevices starts n devices made from options() that run until
// ctx ends, waits (at most 2 minutes) until each has synced once, and
// returns a function that waits for all of them to return.
func startSyncedDevices(b *testing.B, ctx context.Context, n int, options func() Options) (wait func()) {
	b.Helper()
	var wg sync.WaitGroup
	devs := make([]Device, n)
	for j := range devs {
		d, err := New(options())
		if err != nil {
			b.Fatal(err)
		}
		devs[j] = d
		wg.Add(1)
		go func() { defer wg.Done(); _ = d.Run(ctx) }()
	}
	deadline := time.Now().Add(2 * time.Minute)
	for _, d := range devs {
		for d.View().Synced.IsZero() {
			if time.Now().After(deadline) {
				b.Fatal("the devices did not sync within 2 minutes")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return wg.Wait
}

func liveBytes() uint64 {
	ms := liveMem()
	return ms.HeapInuse + ms.StackInuse
}

// benchSession delivers 20 messages to alice and returns a logged-in PC
// session with INBOX selected, as the command benchmarks start.
func benchSession(b *testing.B, env *imapEnv) *imapSession {
	b.Helper()
	for i := 0; i < 20; i++ {
		env.deliverB(b, 2000)
	}
	s := pcSession(b, env, nil)
	if _, err := s.selectBox("INBOX", false); err != nil {
		b.Fatal(err)
	}
	return s
}
