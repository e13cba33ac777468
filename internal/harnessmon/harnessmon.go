// Package harnessmon watches mailsim's own process, so that a figure
// measured while the harness itself was the bottleneck is never reported as
// the server's: CPU time used, Go scheduler latency (how long runnable
// goroutines waited for a thread, from runtime/metrics) and, fed by the
// engine, how late simulated events happened compared with their plan:
// the persons' actions, and the arrival scheduler's hand-overs of inbound
// mail, apart (the first wait for a slow server too, the second only for
// the harness).
//
// A [Monitor] is sampled at the start and end of a window (a capacity
// step, a run); [Monitor.Since] returns what happened in between as a
// [Window], whose Saturated field applies the rule documented in
// docs/capacity.md.
package harnessmon

import (
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// schedLatencies is the runtime/metrics histogram of the time goroutines
// spent runnable before running.
const schedLatencies = "/sched/latencies:seconds"

// gcTotal and gcIdle are the runtime/metrics estimates of the CPU time the
// garbage collector used, all of it and the part its idle mark workers
// took on P's that had nothing else to run; cpuTotal and cpuIdle those of
// the CPU time the P's had and left unused, so that the GC's share is
// taken within the runtime's one accounting.
const (
	gcTotal  = "/cpu/classes/gc/total:cpu-seconds"
	gcIdle   = "/cpu/classes/gc/mark/idle:cpu-seconds"
	cpuTotal = "/cpu/classes/total:cpu-seconds"
	cpuIdle  = "/cpu/classes/idle:cpu-seconds"
	gcCycles = "/gc/cycles/total:gc-cycles"
)

// The figures a Window judges, as named in Window.Reasons and
// Window.Missing.
const (
	FigureCPU       = "cpu"
	FigureScheduler = "scheduler"
	FigureLate      = "late-actions"
	// FigureArrivalsLate is the arrival scheduler's lateness
	// (Monitor.ArrivalLate), the one lateness judged.
	FigureArrivalsLate = "late-arrivals"
	FigureGC           = "gc"
)

// Options configure a Monitor. Zero values take the documented defaults.
type Options struct {
	// MaxCPU is the share of the available cores (Cores) above which the
	// harness counts as saturated. Default 0.9.
	MaxCPU float64
	// Cores is the number of cores the harness may use: the ceiling of
	// SizeProcs when it sizes GOMAXPROCS. Default Cores(GOMAXPROCS) when
	// a window ends.
	Cores int
	// MaxSchedP99 is the p99 scheduler latency above which the harness
	// counts as saturated. Default 10ms.
	MaxSchedP99 time.Duration
	// MaxArrivalsLateP99, when positive, is the p99 lateness of the
	// arrival scheduler's hand-overs (ArrivalLate) above which the harness
	// counts as saturated. Default 0: not judged. The persons' lateness
	// (Late) is never judged: a person also starts late while the device
	// in hand waits for a slow server (the server's doing, not the
	// harness's) and while they write a message.
	MaxArrivalsLateP99 time.Duration
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
}

// limits returns the limits of o (after defaults).
func (o Options) limits() Limits {
	return Limits{MaxCPU: o.MaxCPU, MaxSchedP99: o.MaxSchedP99, MaxArrivalsLateP99: o.MaxArrivalsLateP99}
}

// Limits are the figures above which a Window counts as saturated: the
// Options it was judged with.
type Limits struct {
	// MaxCPU is the share of the cores (Window.Cores); MaxSchedP99 the
	// scheduler latency p99; MaxArrivalsLateP99 the arrival scheduler's
	// lateness p99, 0 when it is not judged.
	MaxCPU                          float64
	MaxSchedP99, MaxArrivalsLateP99 time.Duration
}

func (o *Options) defaults() {
	if o.MaxCPU <= 0 {
		o.MaxCPU = 0.9
	}
	if o.MaxSchedP99 <= 0 {
		o.MaxSchedP99 = 10 * time.Millisecond
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Monitor samples the process. Safe for concurrent use.
type Monitor struct {
	o Options

	mu sync.Mutex
	// actions and arrivals are the lateness samples since the last Mark
	// of the persons' actions (Late) and of the arrival scheduler
	// (ArrivalLate).
	actions, arrivals lateSample
}

// lateSample is a uniform sample of at most maxLateSamples latenesses,
// and how many were seen.
type lateSample struct {
	late []time.Duration
	n    uint64
}

// maxLateSamples bounds the lateness samples kept per window (reservoir).
const maxLateSamples = 4096

// New returns a Monitor.
func New(o Options) *Monitor {
	o.defaults()
	return &Monitor{o: o}
}

// Late records that a person started a scheduled action d after it was
// due (wall time; negative values count as 0). Cheap: the engine calls it
// for every action.
func (m *Monitor) Late(d time.Duration) {
	m.mu.Lock()
	m.actions.add(d)
	m.mu.Unlock()
}

// ArrivalLate records that the arrival scheduler handed inbound mail to
// the injector d after it was due (wall time; negative values count as 0),
// the harness's lateness: a full injector queue's hold is left out, it is
// the held mail's queue wait (internal/engine/arrivals.go).
func (m *Monitor) ArrivalLate(d time.Duration) {
	m.mu.Lock()
	m.arrivals.add(d)
	m.mu.Unlock()
}

// add records d, keeping a uniform sample (reservoir sampling).
func (s *lateSample) add(d time.Duration) {
	d = max(d, 0)
	s.n++
	if len(s.late) < maxLateSamples {
		s.late = append(s.late, d)
	} else if i := int(splitmix(s.n) % s.n); i < maxLateSamples {
		s.late[i] = d
	}
}

// reset empties the sample, keeping its room.
func (s *lateSample) reset() { s.late, s.n = s.late[:0], 0 }

// p99 returns the 99th percentile (nearest rank) of the sample and how
// many were seen; ok is false when none was.
func (s *lateSample) p99() (p99 time.Duration, n uint64, ok bool) {
	if len(s.late) == 0 {
		return 0, s.n, false
	}
	late := slices.Clone(s.late)
	slices.Sort(late)
	return late[min(len(late)-1, int(math.Ceil(0.99*float64(len(late))))-1)], s.n, true
}

// splitmix is a cheap deterministic hash for reservoir indices.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// Mark is the process state at one moment, the start of a window.
type Mark struct {
	at    time.Time
	cpu   time.Duration
	cpuOK bool
	sched *metrics.Float64Histogram
	gc    gcReading
}

// Mark samples the process now and starts a new window of lateness samples.
func (m *Monitor) Mark() Mark {
	m.mu.Lock()
	m.actions.reset()
	m.arrivals.reset()
	m.mu.Unlock()
	mk := Mark{at: m.o.Now(), sched: readSched()}
	mk.cpu, mk.cpuOK = readCPU()
	mk.gc = readGC()
	return mk
}

// Window is what the harness did between a Mark and Since.
type Window struct {
	// Wall is the window's length.
	Wall time.Duration
	// CPU is the process CPU time (user + system) used in the window;
	// CPUShare that divided by Wall × Cores, the cores the harness may use
	// (Options.Cores; 1 = every core busy).
	CPU      time.Duration
	CPUShare float64
	Cores    int
	// GCCPU is the garbage collector's CPU time in the window, idle mark
	// workers aside (they only run on P's with nothing else to do);
	// GCShare that over the CPU time the P's used. Both are the runtime's
	// estimates (runtime/metrics /cpu/classes), which count a dedicated
	// mark worker's P for the whole mark phase. The runtime brings those
	// estimates up to date only when a GC cycle ends, so they cover the
	// time between the last cycles that ended before the window's start
	// and before its end; a window in which no cycle ended has no GC
	// figure (Missing[FigureGC] says so).
	GCCPU   time.Duration
	GCShare float64
	// SchedP99 is the 99th percentile of the time goroutines waited to
	// run (an upper bound: the runtime's bucket boundary).
	SchedP99 time.Duration
	// LateP99 is the 99th percentile of how late the persons started
	// their scheduled actions; Late the number of actions measured.
	LateP99 time.Duration
	Late    uint64
	// ArrivalsLateP99 is the 99th percentile of how late the arrival
	// scheduler handed inbound mail to the injector (the harness's own
	// lateness); ArrivalsLate the number of hand-overs measured.
	ArrivalsLateP99 time.Duration
	ArrivalsLate    uint64
	// Saturated is true when any figure passed its limit; Reasons name
	// which (FigureCPU, FigureScheduler, FigureArrivalsLate).
	Saturated bool
	Reasons   []string
	// Limits are the limits the window was judged against.
	Limits Limits
	// Missing names the figures that could not be measured (FigureCPU,
	// FigureScheduler, FigureLate, FigureArrivalsLate, FigureGC), with
	// why; their fields are 0
	// and a missing figure never makes the window saturated.
	Missing map[string]string
}

// Since returns the window from start to now.
func (m *Monitor) Since(start Mark) Window {
	now := m.o.Now()
	w := Window{Wall: now.Sub(start.at), Cores: m.o.Cores, Limits: m.o.limits(), Missing: map[string]string{}}
	if w.Cores <= 0 {
		w.Cores = Cores(runtime.GOMAXPROCS(0))
	}
	cpu, cpuOK := readCPU()
	switch {
	case !cpuOK || !start.cpuOK:
		w.Missing[FigureCPU] = "the platform does not report the process's CPU time (getrusage)"
	case w.Wall <= 0:
		w.Missing[FigureCPU] = "the window has no length"
	default:
		w.CPU = cpu - start.cpu
		w.CPUShare = w.CPU.Seconds() / (w.Wall.Seconds() * float64(w.Cores))
	}
	end := readSched()
	switch {
	case start.sched == nil || end == nil:
		w.Missing[FigureScheduler] = "the Go runtime has no scheduler latency histogram (" + schedLatencies + ")"
	case histCount(start.sched, end) == 0:
		w.Missing[FigureScheduler] = "the Go runtime sampled no goroutine's wait to run in the window"
	default:
		w.SchedP99 = histP99(start.sched, end)
	}
	gc := readGC()
	used := gc.used - start.gc.used
	switch {
	case !gc.ok || !start.gc.ok:
		w.Missing[FigureGC] = "the Go runtime does not estimate the garbage collector's CPU time (" + gcTotal + ")"
	case gc.cycles == start.gc.cycles:
		w.Missing[FigureGC] = "no GC cycle ended in the window (the Go runtime brings its CPU estimates up to date only when one ends)"
	case used <= 0:
		w.Missing[FigureGC] = "the Go runtime counted no CPU time used in the window"
	default:
		w.GCCPU = max(gc.gc-start.gc.gc, 0)
		w.GCShare = min(w.GCCPU.Seconds()/used.Seconds(), 1)
	}
	m.mu.Lock()
	var actionsOK, arrivalsOK bool
	w.LateP99, w.Late, actionsOK = m.actions.p99()
	w.ArrivalsLateP99, w.ArrivalsLate, arrivalsOK = m.arrivals.p99()
	m.mu.Unlock()
	if !actionsOK {
		w.Missing[FigureLate] = "no scheduled action started in the window"
	}
	if !arrivalsOK {
		w.Missing[FigureArrivalsLate] = "no inbound mail was handed over in the window"
	}
	if w.CPUShare > m.o.MaxCPU {
		w.Reasons = append(w.Reasons, FigureCPU)
	}
	if w.SchedP99 > m.o.MaxSchedP99 {
		w.Reasons = append(w.Reasons, FigureScheduler)
	}
	if m.o.MaxArrivalsLateP99 > 0 && w.ArrivalsLateP99 > m.o.MaxArrivalsLateP99 {
		w.Reasons = append(w.Reasons, FigureArrivalsLate)
	}
	w.Saturated = len(w.Reasons) > 0
	return w
}

// Explain says in words why the window is saturated (each figure past its
// limit), or that its figures kept within their limits ("within its
// limits: ..."); a figure that could not be measured says so.
func (w Window) Explain() string {
	cpu := fmt.Sprintf("the harness used %s of the %d cores it may use (limit %s)", pct(w.CPUShare), w.Cores, pct(w.Limits.MaxCPU))
	if why, ok := w.Missing[FigureCPU]; ok {
		cpu = "the harness's CPU use is unknown: " + why
	}
	sched := fmt.Sprintf("goroutines waited up to %s for a thread at the p99 (Go scheduler latency; limit %s)", w.SchedP99, w.Limits.MaxSchedP99)
	if why, ok := w.Missing[FigureScheduler]; ok {
		sched = "the Go scheduler latency is unknown: " + why
	}
	late := fmt.Sprintf("the arrival scheduler handed inbound mail over up to %s late at the p99", w.ArrivalsLateP99)
	if w.Limits.MaxArrivalsLateP99 > 0 {
		late += fmt.Sprintf(" (limit %s)", w.Limits.MaxArrivalsLateP99)
	}
	if _, unknown := w.Missing[FigureCPU]; !unknown && w.CPUShare < w.Limits.MaxCPU/2 && slices.Contains(w.Reasons, FigureScheduler) {
		// Goroutines waited with the harness's own cores mostly idle: the
		// machine's other work likely held them.
		sched += fmt.Sprintf(", while the harness used only %s of its cores: other work on the machine may have kept its threads waiting", pct(w.CPUShare))
	}
	words := map[string]string{FigureCPU: cpu, FigureScheduler: sched, FigureArrivalsLate: late}
	if w.Saturated {
		parts := make([]string, 0, len(w.Reasons))
		for _, r := range w.Reasons {
			parts = append(parts, words[r])
		}
		return strings.Join(parts, "; ")
	}
	parts := []string{cpu, sched}
	if _, ok := w.Missing[FigureArrivalsLate]; !ok && w.Limits.MaxArrivalsLateP99 > 0 {
		parts = append(parts, late)
	}
	return "within its limits: " + strings.Join(parts, "; ")
}

// pct formats a share as a percentage to three significant digits.
func pct(v float64) string {
	return strconv.FormatFloat(100*v, 'g', 3, 64) + "%"
}

// processCPU returns the CPU time the process used so far; 0 where the
// platform does not tell.
func processCPU() time.Duration {
	d, _ := readCPU()
	return d
}

// readCPU returns the CPU time the process used so far, and whether the
// platform told.
func readCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// gcReading is the runtime's estimate of the CPU time the garbage
// collector used so far (idle mark workers aside) and of the CPU time the
// P's used (GC included), as of the last GC cycle that ended, and how many
// cycles had ended; ok is false when the runtime has no estimate.
type gcReading struct {
	gc, used time.Duration
	cycles   uint64
	ok       bool
}

// readGC reads the runtime's CPU estimates.
func readGC() gcReading {
	s := []metrics.Sample{{Name: gcTotal}, {Name: gcIdle}, {Name: cpuTotal}, {Name: cpuIdle}, {Name: gcCycles}}
	metrics.Read(s)
	for _, x := range s[:4] {
		if x.Value.Kind() != metrics.KindFloat64 {
			return gcReading{}
		}
	}
	if s[4].Value.Kind() != metrics.KindUint64 {
		return gcReading{}
	}
	sec := func(i int) time.Duration { return time.Duration(s[i].Value.Float64() * float64(time.Second)) }
	return gcReading{gc: sec(0) - sec(1), used: sec(2) - sec(3) - sec(1), cycles: s[4].Value.Uint64(), ok: true}
}

// readSched reads the scheduler latency histogram; nil when the runtime
// does not have it.
func readSched() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := s[0].Value.Float64Histogram()
	return &metrics.Float64Histogram{Counts: append([]uint64(nil), h.Counts...), Buckets: append([]float64(nil), h.Buckets...)}
}

// histCount returns the number of observations between two readings of a
// cumulative histogram of the same buckets.
func histCount(a, b *metrics.Float64Histogram) uint64 {
	if len(a.Counts) != len(b.Counts) {
		return 0
	}
	var n uint64
	for i := range b.Counts {
		if b.Counts[i] > a.Counts[i] {
			n += b.Counts[i] - a.Counts[i]
		}
	}
	return n
}

// histP99 returns the 99th percentile of the observations between two
// readings of a cumulative histogram, as the upper bound of its bucket
// (the lower bound for the last, unbounded one); 0 without observations.
func histP99(a, b *metrics.Float64Histogram) time.Duration {
	if a == nil || b == nil || len(a.Counts) != len(b.Counts) {
		return 0
	}
	var total uint64
	diff := make([]uint64, len(b.Counts))
	for i := range b.Counts {
		if b.Counts[i] >= a.Counts[i] {
			diff[i] = b.Counts[i] - a.Counts[i]
		}
		total += diff[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(0.99 * float64(total)))
	var seen uint64
	for i, n := range diff {
		seen += n
		if seen >= want {
			hi := b.Buckets[i+1]
			if math.IsInf(hi, 1) {
				hi = b.Buckets[i]
			}
			return time.Duration(hi * float64(time.Second))
		}
	}
	return 0
}
