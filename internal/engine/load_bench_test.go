package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// loadScenario is scripts/loadbench/idle-phones.yaml without its target:
// every user has an IMAP phone IDLEing on INBOX and a PC polling every 10
// simulated minutes, over POP3 for half the users and over IMAP (no IDLE, one
// kept connection) for the other half; office mail at time_scale 10.
const loadScenario = `
version: 1
name: load
seed: 1
duration: 20s
time_scale: 10
ramp_up: 10s
settle: 1s
audit: 5s
users: {count: 1000, username: "user{n}", password: pass}
groups:
  - {name: pop3-pc, share: 50%, devices: [pc-pop3, phone-push], behavior: office}
  - {name: imap-pc, share: 50%, devices: [pc-imap-poll, phone-push], behavior: office}
behaviors:
  office:
    inbound: {interval: 15m, size: {min: 2KiB, max: 64KiB}, attachments: 10%}
    send: {interval: 4h, write_time: 2m}
    on_new_mail: {read: 90%, reply: 10%, forward: 2%, flag: 5%, move: 10%, delete: 10%}
    action_delay: 5m
    action_repeat_delay: 10s
    folders: [Archive]
    session_length: 20m
devices:
  pc-pop3: {poll_interval: 10m}
  pc-imap-poll: {kind: pc, protocol: imap, idle: false, connections: 1, poll_interval: 10m}
  phone-push: {kind: phone, protocol: imap, idle: true, connections: 1, window: 100}
hand: {pc: 70%, phone: 30%}
`

// loadRecorder counts commands, failed commands and open connections.
type loadRecorder struct {
	commands, errors  atomic.Int64
	conns, peakConns  atomic.Int64
	loginOK, loginBad atomic.Int64
}

func (r *loadRecorder) Command(ev clients.CommandEvent) {
	r.commands.Add(1)
	if ev.Outcome != transport.OutcomeOK {
		r.errors.Add(1)
	}
}

func (r *loadRecorder) Bytes(string, int64, int64) {}

func (r *loadRecorder) Connection(_ string, delta int) {
	n := r.conns.Add(int64(delta))
	for {
		p := r.peakConns.Load()
		if n <= p || r.peakConns.CompareAndSwap(p, n) {
			return
		}
	}
}

func (r *loadRecorder) Login(_ string, o transport.Outcome) {
	if o == transport.OutcomeOK {
		r.loginOK.Add(1)
	} else {
		r.loginBad.Add(1)
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memInUse is the live heap and the goroutine stacks after a full
// collection.
func memInUse() (heap, stacks uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.StackInuse
}

// writeHeapProfile writes a heap profile to path ("" = none).
func writeHeapProfile(path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("heap profile %s: %w", path, err)
	}
	return f.Close()
}

// BenchmarkLoad runs a population (default 2,000 devices, $MAILSIM_LOAD_DEVICES
// overrides) in this process against the embedded server on loopback, with
// IDLE phones and polling PCs, and reports after ramp-up the heap in use,
// goroutine stacks and goroutines per device (with
// $MAILSIM_LOAD_HEAPPROFILE=FILE it writes a heap profile at that moment), and over the whole run the CPU time per client
// command. Harness and server share the process, so both figures cover the
// two; scripts/loadbench.sh measures them apart.
//
//	go test -run '^$' -bench Load -benchtime 1x ./internal/engine
func BenchmarkLoad(b *testing.B) {
	devices := 2000
	if v := os.Getenv("MAILSIM_LOAD_DEVICES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			b.Fatalf("MAILSIM_LOAD_DEVICES=%q: want a number >= 2", v)
		}
		devices = n
	}
	s, err := scenarios.Parse("load.yaml", []byte(loadScenario), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatalf("scenario: %v", err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: devices / 2})
	if err != nil {
		b.Fatalf("plan: %v", err)
	}
	b.Run(fmt.Sprintf("devices=%d", 2*len(plan.Users)), func(b *testing.B) {
		for b.Loop() {
			runLoad(b, plan)
		}
	})
}

// runLoad runs plan once on a fresh embedded server and reports its figures.
func runLoad(b *testing.B, plan *scenarios.Plan) {
	base, baseStacks := memInUse()
	goroutines0 := runtime.NumGoroutine()

	srv, ep := startEmbedded(b, plan)
	rec := &loadRecorder{}
	e, err := New(Options{
		Plan:      plan,
		Endpoints: ep,
		Recorder:  rec,
		Truth:     storeTruth{srv},
	})
	if err != nil {
		b.Fatal(err)
	}
	devices := e.deviceTotal()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Sample memory once every user has started and the connections have
	// had a few seconds to open, well before the active phase ends.
	rampUp := min(plan.Scenario.RampUp, plan.Duration)
	sampleAt := rampUp + (plan.Duration-rampUp)/2
	type sample struct {
		heap, stacks uint64
		goroutines   int
		conns        int64
		started      int
		err          error
	}
	sampled := make(chan sample, 1)
	go func() {
		t := time.NewTimer(sampleAt)
		defer t.Stop()
		select {
		case <-t.C:
			smp := sample{goroutines: runtime.NumGoroutine(), conns: rec.conns.Load(), started: e.Status().UsersStarted}
			smp.heap, smp.stacks = memInUse()
			smp.err = writeHeapProfile(os.Getenv("MAILSIM_LOAD_HEAPPROFILE"))
			sampled <- smp
		case <-ctx.Done():
			close(sampled)
		}
	}()

	cpu0 := cpuTime(b)
	res, err := e.Run(ctx)
	cpu := cpuTime(b) - cpu0
	if err != nil {
		b.Fatalf("run: %v", err)
	}
	cancel()
	smp, ok := <-sampled
	if !ok {
		b.Fatal("the run ended before memory was sampled")
	}
	if smp.err != nil {
		b.Fatal(smp.err)
	}
	if smp.started != len(plan.Users) {
		b.Fatalf("only %d of %d users had started at the memory sample", smp.started, len(plan.Users))
	}
	cmds := rec.commands.Load()
	if cmds == 0 {
		b.Fatal("no client command ran")
	}
	if res.Delivered == 0 {
		b.Fatal("no mail was delivered")
	}

	b.ReportMetric(float64(smp.heap-min(base, smp.heap))/float64(devices), "heap-B/device")
	b.ReportMetric(float64(smp.stacks-min(baseStacks, smp.stacks))/float64(devices), "stack-B/device")
	b.ReportMetric(float64(smp.goroutines-goroutines0)/float64(devices), "goroutines/device")
	b.ReportMetric(float64(smp.conns), "conns-held")
	b.ReportMetric(float64(rec.peakConns.Load()), "conns-peak")
	b.ReportMetric(float64(cmds), "commands")
	b.ReportMetric(float64(cpu.Microseconds())/float64(cmds), "cpu-µs/command")
	b.ReportMetric(float64(rec.errors.Load())/float64(cmds), "error-ratio")
	b.ReportMetric(float64(res.Audit.Lost), "lost")
}
