package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HarnessWindow is the harness's own load over one live window
// (internal/harnessmon.Window, docs/report.md "The harness").
type HarnessWindow struct {
	// Saturated is the harness guard's verdict on the window.
	Saturated bool
	// CPURatio is the process's CPU time over the window's wall time ×
	// the cores the harness may use (1 = every core busy).
	CPURatio float64
	// SchedP99 is the Go scheduler latency p99 of the window.
	SchedP99 time.Duration
	// NoCPU and NoSched say the window could not measure CPURatio or
	// SchedP99 (harnessmon's Window.Missing): their gauges are then left
	// out of the scrape rather than exported as 0, which would read as
	// an idle harness.
	NoCPU, NoSched bool
}

// HarnessLoad exports whether mailsim's own process is the bottleneck of
// the run now, from the last live window: mailsim_harness_saturated (1 or
// 0), mailsim_harness_cpu_ratio and
// mailsim_harness_sched_latency_p99_seconds, and the count of saturated
// windows, mailsim_harness_saturated_windows_total. Nothing is exported
// before the first window. Safe for concurrent use.
type HarnessLoad struct {
	mu        sync.Mutex
	last      HarnessWindow
	set       bool
	saturated uint64
}

var (
	harnessSaturatedDesc = prometheus.NewDesc("mailsim_harness_saturated",
		"1 when mailsim's own process was saturated over the last live window (CPU or Go scheduler latency past the harness guard's limits): latencies then measure the harness too.",
		nil, nil)
	harnessCPUDesc = prometheus.NewDesc("mailsim_harness_cpu_ratio",
		"CPU time of mailsim's process over the last live window, as a share of the cores it may use (1 = every core busy).",
		nil, nil)
	harnessSchedDesc = prometheus.NewDesc("mailsim_harness_sched_latency_p99_seconds",
		"p99 time runnable goroutines of mailsim waited for a thread over the last live window (Go scheduler latency).",
		nil, nil)
	harnessSaturatedWindowsDesc = prometheus.NewDesc("mailsim_harness_saturated_windows_total",
		"Live windows over which mailsim's own process was saturated.",
		nil, nil)
)

// NewHarnessLoad returns a HarnessLoad registered on reg (nil: not
// registered).
func NewHarnessLoad(reg prometheus.Registerer) *HarnessLoad {
	h := &HarnessLoad{}
	register(reg, h)
	return h
}

// Set records a finished live window.
func (h *HarnessLoad) Set(w HarnessWindow) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last, h.set = w, true
	if w.Saturated {
		h.saturated++
	}
}

// Describe implements prometheus.Collector.
func (h *HarnessLoad) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{harnessSaturatedDesc, harnessCPUDesc, harnessSchedDesc, harnessSaturatedWindowsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (h *HarnessLoad) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	last, set, n := h.last, h.set, h.saturated
	h.mu.Unlock()
	if !set {
		return
	}
	sat := 0.0
	if last.Saturated {
		sat = 1
	}
	ch <- prometheus.MustNewConstMetric(harnessSaturatedDesc, prometheus.GaugeValue, sat)
	if !last.NoCPU {
		ch <- prometheus.MustNewConstMetric(harnessCPUDesc, prometheus.GaugeValue, last.CPURatio)
	}
	if !last.NoSched {
		ch <- prometheus.MustNewConstMetric(harnessSchedDesc, prometheus.GaugeValue, last.SchedP99.Seconds())
	}
	ch <- prometheus.MustNewConstMetric(harnessSaturatedWindowsDesc, prometheus.CounterValue, float64(n))
}
