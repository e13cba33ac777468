package harnessmon

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHistP99(t *testing.T) {
	buckets := []float64{0, 0.001, 0.01, 0.1, math.Inf(1)}
	h := func(counts ...uint64) *metrics.Float64Histogram {
		return &metrics.Float64Histogram{Counts: counts, Buckets: buckets}
	}
	tests := []struct {
		name string
		a, b *metrics.Float64Histogram
		want time.Duration
	}{
		{"no observations", h(5, 5, 5, 5), h(5, 5, 5, 5), 0},
		{"all fast", h(0, 0, 0, 0), h(1000, 0, 0, 0), time.Millisecond},
		{"1% slow is the p99's bucket", h(0, 0, 0, 0), h(0, 990, 10, 0), 10 * time.Millisecond},
		{"2% slower still", h(0, 0, 0, 0), h(0, 980, 0, 20), 100 * time.Millisecond},
		{"unbounded bucket reports its lower bound", h(0, 0, 0, 0), h(0, 0, 0, 100), 100 * time.Millisecond},
		{"only the difference counts", h(0, 0, 0, 500), h(1000, 0, 0, 500), time.Millisecond},
		{"nil reading", nil, h(1, 0, 0, 0), 0},
		{"mismatched", h(0, 0), h(1, 0, 0, 0), 0},
	}
	for _, tc := range tests {
		if got := histP99(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: p99 = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeClock advances by step on every call.
type fakeClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(c.step)
	return c.t
}

// TestWindowLateness: the persons' lateness and the arrival scheduler's
// are measured apart, and only the arrival scheduler's is judged (with
// MaxArrivalsLateP99): persons 1 h late (a slow server, a long write) do
// not make the harness saturated; hand-overs 2 s late do.
func TestWindowLateness(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0), step: time.Second}
	m := New(Options{MaxArrivalsLateP99: 500 * time.Millisecond, MaxCPU: 1e9, MaxSchedP99: time.Hour, Now: clk.now})
	m.ArrivalLate(time.Second) // before the window: dropped by Mark
	m.Late(time.Second)
	start := m.Mark()
	for i := range 100 {
		m.ArrivalLate(time.Duration(i) * time.Millisecond) // 0..99 ms
		m.Late(time.Hour)
	}
	w := m.Since(start)
	if w.ArrivalsLate != 100 || w.ArrivalsLateP99 != 98*time.Millisecond || w.Late != 100 || w.LateP99 != time.Hour || w.Saturated || w.Wall != time.Second {
		t.Errorf("window %+v, want 100 hand-overs, p99 98ms, 100 actions, p99 1h, not saturated, 1s", w)
	}
	start = m.Mark()
	for range 10 {
		m.ArrivalLate(2 * time.Second)
	}
	m.ArrivalLate(-time.Second) // early counts as on time
	w = m.Since(start)
	if !w.Saturated || !slices.Equal(w.Reasons, []string{FigureArrivalsLate}) || w.ArrivalsLateP99 != 2*time.Second {
		t.Errorf("late window %+v, want saturated by late-arrivals", w)
	}
	if why, ok := w.Missing[FigureLate]; !ok || w.Late != 0 {
		t.Errorf("window %+v without actions: want late-actions missing, said why (%q)", w, why)
	}
}

func TestLateReservoirBounded(t *testing.T) {
	m := New(Options{})
	start := m.Mark()
	for i := range 3 * maxLateSamples {
		m.Late(time.Duration(i))
	}
	if len(m.actions.late) != maxLateSamples {
		t.Errorf("kept %d samples, want %d", len(m.actions.late), maxLateSamples)
	}
	if w := m.Since(start); w.Late != 3*maxLateSamples || w.LateP99 <= time.Duration(maxLateSamples) {
		t.Errorf("window %+v: the reservoir lost the later samples", w)
	}
}

func TestWindowCPU(t *testing.T) {
	m := New(Options{MaxCPU: 1e-9})
	start := m.Mark()
	// Burn some CPU, bounded in iterations.
	before := processCPU()
	x := 0
	for i := 0; i < 1e9 && processCPU()-before < 20*time.Millisecond; i++ {
		for j := range 10000 {
			x += j ^ i
		}
	}
	w := m.Since(start)
	if w.CPU <= 0 || w.CPUShare <= 0 || !slices.Contains(w.Reasons, "cpu") {
		t.Errorf("window %+v (x=%d), want CPU used and the cpu reason", w, x)
	}
}

func TestLatenessNotJudgedByDefault(t *testing.T) {
	m := New(Options{MaxCPU: 1e9, MaxSchedP99: time.Hour})
	start := m.Mark()
	m.Late(time.Hour)
	m.ArrivalLate(time.Hour)
	if w := m.Since(start); w.Saturated || w.LateP99 != time.Hour || w.ArrivalsLateP99 != time.Hour {
		t.Errorf("window %+v: lateness judged without MaxArrivalsLateP99", w)
	}
}

func TestSchedulerWithoutObservations(t *testing.T) {
	m := New(Options{MaxSchedP99: time.Nanosecond})
	start := m.Mark()
	start.sched = readSched() // the end's reading: nothing between them
	start.sched.Counts = slices.Clone(start.sched.Counts)
	for i := range start.sched.Counts {
		start.sched.Counts[i] += 1 << 40 // above anything the end reads
	}
	w := m.Since(start)
	if _, ok := w.Missing[FigureScheduler]; !ok || w.SchedP99 != 0 || slices.Contains(w.Reasons, FigureScheduler) {
		t.Errorf("window %+v: want the scheduler latency missing, not judged", w)
	}
}

func TestDefaults(t *testing.T) {
	m := New(Options{})
	if m.o.MaxCPU != 0.9 || m.o.MaxSchedP99 != 10*time.Millisecond || m.o.MaxArrivalsLateP99 != 0 || m.o.Now == nil {
		t.Errorf("defaults %+v", m.o)
	}
	if readSched() == nil {
		t.Error("the runtime has no scheduler latency histogram")
	}
}

func TestWindowFigures(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0), step: time.Second}
	m := New(Options{Cores: 3, MaxCPU: 1e9, MaxSchedP99: time.Hour, Now: clk.now})
	start := m.Mark()
	x := make([][]byte, 0, 64)
	for i := range 2000 {
		x = append(x[:i%64], make([]byte, 64<<10))
	}
	runtime.GC()
	w := m.Since(start)
	if w.Cores != 3 || w.Limits.MaxCPU != 1e9 || w.Limits.MaxSchedP99 != time.Hour || w.Limits.MaxArrivalsLateP99 != 0 {
		t.Errorf("window %+v: cores and limits not carried", w)
	}
	if w.CPU <= 0 || w.CPUShare != w.CPU.Seconds()/3 {
		t.Errorf("CPU %v, share %v: want the CPU over 1s × 3 cores", w.CPU, w.CPUShare)
	}
	if w.GCCPU <= 0 || w.GCShare <= 0 || w.GCShare > 1 {
		t.Errorf("GC CPU %v, share %v after a forced GC (x %d): want a share in (0, 1]", w.GCCPU, w.GCShare, len(x))
	}
	_, late := w.Missing[FigureLate]
	_, cpu := w.Missing[FigureCPU]
	_, gc := w.Missing[FigureGC]
	if !late || cpu || gc {
		t.Errorf("missing %v: want the lateness (no action started), not the CPU or GC", w.Missing)
	}
}

// TestWindowWithoutGC: the runtime's CPU estimates move only when a GC
// cycle ends, so a window in which none ended says so instead of giving a
// GC share (or claiming the process used no CPU).
func TestWindowWithoutGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	m := New(Options{})
	start := m.Mark()
	w := m.Since(start)
	why, ok := w.Missing[FigureGC]
	if !ok || !strings.Contains(why, "no GC cycle ended") || w.GCCPU != 0 || w.GCShare != 0 {
		t.Errorf("GC %v, share %v, missing %q (%v): want no GC figure, said why", w.GCCPU, w.GCShare, why, ok)
	}
}

func TestExplain(t *testing.T) {
	limits := Limits{MaxCPU: 0.9, MaxSchedP99: 10 * time.Millisecond}
	tests := []struct {
		name string
		w    Window
		want []string
		not  []string
	}{
		{"within", Window{CPUShare: 0.25, Cores: 2, SchedP99: time.Millisecond, Limits: limits},
			[]string{"within its limits", "25% of the 2 cores", "limit 90%", "1ms", "limit 10ms"}, []string{"saturated", "started", "other work"}},
		{"cpu", Window{CPUShare: 0.975, Cores: 4, SchedP99: time.Millisecond, Limits: limits, Saturated: true, Reasons: []string{FigureCPU}},
			[]string{"the harness used 97.5% of the 4 cores it may use (limit 90%)"}, []string{"scheduler"}},
		{"both", Window{CPUShare: 0.95, Cores: 1, SchedP99: 20 * time.Millisecond, Limits: limits, Saturated: true, Reasons: []string{FigureCPU, FigureScheduler}},
			[]string{"95% of the 1 cores", "; goroutines waited up to 20ms for a thread"}, nil},
		{"scheduler on a busy machine", Window{CPUShare: 0.01, Cores: 2, SchedP99: 12 * time.Millisecond, Limits: limits, Saturated: true, Reasons: []string{FigureScheduler}},
			[]string{"goroutines waited up to 12ms for a thread at the p99 (Go scheduler latency; limit 10ms), while the harness used only 1% of its cores: other work on the machine"}, []string{"2 cores"}},
		{"late judged", Window{LateP99: time.Hour, ArrivalsLateP99: 3 * time.Second, Limits: Limits{MaxArrivalsLateP99: time.Second}, Saturated: true, Reasons: []string{FigureArrivalsLate}},
			[]string{"the arrival scheduler handed inbound mail over up to 3s late at the p99 (limit 1s)"}, []string{"cores", "1h"}},
		{"unknown cpu", Window{Cores: 2, Limits: limits, Missing: map[string]string{FigureCPU: "no getrusage"}},
			[]string{"CPU use is unknown: no getrusage"}, []string{"0%"}},
	}
	for _, tc := range tests {
		got := tc.w.Explain()
		for _, s := range tc.want {
			if !strings.Contains(got, s) {
				t.Errorf("%s: %q lacks %q", tc.name, got, s)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(got, s) {
				t.Errorf("%s: %q has %q", tc.name, got, s)
			}
		}
	}
}

// BenchmarkLate measures Monitor.Late, which mailsim run calls twice per
// action (the run's window and the live one), from every person.
func BenchmarkLate(b *testing.B) {
	m := New(Options{})
	m.Mark()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += time.Microsecond
			m.Late(d)
		}
	})
}

// BenchmarkWindow measures a Mark and Since pair: one live window.
func BenchmarkWindow(b *testing.B) {
	m := New(Options{})
	for b.Loop() {
		m.Since(m.Mark())
	}
}
