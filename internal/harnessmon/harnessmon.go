// Package harnessmon watches mailsim's own process, so that a figure
// measured while the harness itself was the bottleneck is never reported as
// the server's: CPU time used, Go scheduler latency (how long runnable
// goroutines waited for a thread, from runtime/metrics) and, fed by the
// engine, how late scheduled actions started compared with their plan.
//
// A [Monitor] is sampled at the start and end of a window (a capacity
// step, a run); [Monitor.Since] returns what happened in between as a
// [Window], whose Saturated field applies the rule documented in
// docs/capacity.md.
package harnessmon

import (
	"math"
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"syscall"
	"time"
)

// schedLatencies is the runtime/metrics histogram of the time goroutines
// spent runnable before running.
const schedLatencies = "/sched/latencies:seconds"

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
	// MaxLateP99, when positive, is the p99 lateness of scheduled actions
	// above which the harness counts as saturated. Default 0: lateness is
	// reported, not judged, since a person also starts late while the
	// device in hand waits for a slow server (the server's doing, not the
	// harness's).
	MaxLateP99 time.Duration
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
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

	mu   sync.Mutex
	late []time.Duration // lateness samples since the last Mark, bounded
	n    uint64          // lateness samples seen since the last Mark
}

// maxLateSamples bounds the lateness samples kept per window (reservoir).
const maxLateSamples = 4096

// New returns a Monitor.
func New(o Options) *Monitor {
	o.defaults()
	return &Monitor{o: o}
}

// Late records that a scheduled action started d after it was due (wall
// time; negative values count as 0). Cheap: the engine calls it for every
// action.
func (m *Monitor) Late(d time.Duration) {
	if d < 0 {
		d = 0
	}
	m.mu.Lock()
	m.n++
	if len(m.late) < maxLateSamples {
		m.late = append(m.late, d)
	} else if i := int(splitmix(m.n) % m.n); i < maxLateSamples {
		// Reservoir sampling keeps a uniform sample of the window.
		m.late[i] = d
	}
	m.mu.Unlock()
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
	sched *metrics.Float64Histogram
}

// Mark samples the process now and starts a new window of lateness samples.
func (m *Monitor) Mark() Mark {
	m.mu.Lock()
	m.late, m.n = m.late[:0], 0
	m.mu.Unlock()
	return Mark{at: m.o.Now(), cpu: processCPU(), sched: readSched()}
}

// Window is what the harness did between a Mark and Since.
type Window struct {
	// Wall is the window's length.
	Wall time.Duration
	// CPU is the process CPU time (user + system) used in the window;
	// CPUShare that divided by Wall × the cores the harness may use
	// (Options.Cores; 1 = every core busy).
	CPU      time.Duration
	CPUShare float64
	// SchedP99 is the 99th percentile of the time goroutines waited to
	// run (an upper bound: the runtime's bucket boundary).
	SchedP99 time.Duration
	// LateP99 is the 99th percentile of how late scheduled actions
	// started; Late the number of actions measured.
	LateP99 time.Duration
	Late    uint64
	// Saturated is true when any figure passed its limit; Reasons name
	// which ("cpu", "scheduler", "late-actions").
	Saturated bool
	Reasons   []string
}

// Since returns the window from start to now.
func (m *Monitor) Since(start Mark) Window {
	now := m.o.Now()
	w := Window{Wall: now.Sub(start.at), CPU: processCPU() - start.cpu}
	if w.Wall > 0 {
		cores := m.o.Cores
		if cores <= 0 {
			cores = Cores(runtime.GOMAXPROCS(0))
		}
		w.CPUShare = w.CPU.Seconds() / (w.Wall.Seconds() * float64(cores))
	}
	w.SchedP99 = histP99(start.sched, readSched())
	m.mu.Lock()
	late := append([]time.Duration(nil), m.late...)
	w.Late = m.n
	m.mu.Unlock()
	if len(late) > 0 {
		sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
		w.LateP99 = late[min(len(late)-1, int(math.Ceil(0.99*float64(len(late))))-1)]
	}
	if w.CPUShare > m.o.MaxCPU {
		w.Reasons = append(w.Reasons, "cpu")
	}
	if w.SchedP99 > m.o.MaxSchedP99 {
		w.Reasons = append(w.Reasons, "scheduler")
	}
	if m.o.MaxLateP99 > 0 && w.LateP99 > m.o.MaxLateP99 {
		w.Reasons = append(w.Reasons, "late-actions")
	}
	w.Saturated = len(w.Reasons) > 0
	return w
}

// processCPU returns the CPU time the process used so far; 0 where the
// platform does not tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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
