package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// harnessFlags are the harness guard's limits (internal/harnessmon,
// docs/capacity.md "The harness must not be the bottleneck"), the same
// flags for run and capacity.
type harnessFlags struct {
	maxCPU   string
	maxSched time.Duration
	maxLate  time.Duration
}

// register adds --harness-max-cpu, --harness-max-sched and
// --harness-max-late to fs; what names the window judged ("a step", "a
// run").
func (h *harnessFlags) register(fs *flag.FlagSet, what string) {
	fs.StringVar(&h.maxCPU, "harness-max-cpu", "90%", "harness guard: "+what+" whose mailsim process used more than this share of the cores is harness-saturated")
	fs.DurationVar(&h.maxSched, "harness-max-sched", 10*time.Millisecond, "harness guard: "+what+" whose Go scheduler latency p99 passed this is harness-saturated")
	fs.DurationVar(&h.maxLate, "harness-max-late", 0, "harness guard: "+what+" whose arrival scheduler handed inbound mail over later than this at the p99 (wall) is harness-saturated; 0 (the default): not judged, "+
		"as no limit parts a healthy harness from a saturated one: on a loaded 2-core machine healthy harnesses reached 61ms and saturated ones showed 46ms, and every one past 61ms had already passed --harness-max-sched (docs/capacity.md)")
}

// options returns the monitor's options for a harness that may use cores.
func (h harnessFlags) options(cores int) (harnessmon.Options, error) {
	maxCPU, err := scenarios.ParsePercent(h.maxCPU)
	if err != nil || maxCPU <= 0 || maxCPU > 1 || h.maxSched <= 0 {
		// Above 100% the guard could never trip: the share is of the
		// cores the harness may use.
		return harnessmon.Options{}, fmt.Errorf("--harness-max-cpu %q and --harness-max-sched %s: want a percentage above 0%% and at most 100%%, and a positive duration", h.maxCPU, h.maxSched)
	}
	if h.maxLate < 0 {
		return harnessmon.Options{}, fmt.Errorf("--harness-max-late %s: want a duration, 0 for none", h.maxLate)
	}
	return harnessmon.Options{MaxCPU: maxCPU, MaxSchedP99: h.maxSched, MaxArrivalsLateP99: h.maxLate, Cores: cores}, nil
}

// harnessSpan names the window a run's harness is judged over.
const harnessSpan = "active phase (ramp-up included)"

// liveHarnessInterval is the length of the live windows of a run's
// harness watch: the gauges and the progress line.
const liveHarnessInterval = 5 * time.Second

// runHarness watches mailsim's own process over a run's active phase, with
// the harness guard of mailsim capacity: one window over the whole active
// phase for the report, and live windows of liveHarnessInterval for the
// metrics (mailsim_harness_*) and a progress line when the harness becomes
// saturated or recovers.
type runHarness struct {
	whole, live *harnessmon.Monitor
	gauges      *metrics.HarnessLoad
	// out receives the live lines; nil for none (--quiet).
	out      io.Writer
	interval time.Duration

	mu             sync.Mutex
	mark           harnessmon.Mark
	opened, closed bool
	window         harnessmon.Window
	stop           context.CancelFunc
	done           chan struct{}
}

// newRunHarness returns a watch judging by o, its gauges on reg, its live
// lines on out (nil: none).
func newRunHarness(o harnessmon.Options, reg prometheus.Registerer, out io.Writer) *runHarness {
	return &runHarness{whole: harnessmon.New(o), live: harnessmon.New(o), gauges: metrics.NewHarnessLoad(reg),
		out: out, interval: liveHarnessInterval}
}

// Late records a person's action's lateness (engine.EventLate,
// engine.LateAction).
func (h *runHarness) Late(d time.Duration) {
	h.whole.Late(d)
	h.live.Late(d)
}

// ArrivalLate records the arrival scheduler's lateness (engine.EventLate,
// engine.LateArrival).
func (h *runHarness) ArrivalLate(d time.Duration) {
	h.whole.ArrivalLate(d)
	h.live.ArrivalLate(d)
}

// phase opens the window when the active phase begins and closes it when
// settle does (engine.EventPhase).
func (h *runHarness) phase(p engine.Phase) {
	switch p {
	case engine.PhaseActive:
		h.open()
	case engine.PhaseSettle:
		h.close()
	}
}

// open starts the window and the live watch; once only.
func (h *runHarness) open() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened {
		return
	}
	h.opened = true
	h.mark = h.whole.Mark()
	ctx, cancel := context.WithCancel(context.Background())
	h.stop, h.done = cancel, make(chan struct{})
	go h.watch(ctx, h.done)
}

// close ends the window and the live watch; safe to call more than once,
// and before open (no window then).
func (h *runHarness) close() {
	h.mu.Lock()
	if !h.opened || h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	h.window = h.whole.Since(h.mark)
	stop, done := h.stop, h.done
	h.mu.Unlock()
	stop()
	<-done
}

// input is the report's harness input; nil when the window never opened.
// It closes the window first.
func (h *runHarness) input() *report.HarnessInput {
	h.close()
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.opened {
		return nil
	}
	return &report.HarnessInput{Window: h.window, Span: harnessSpan}
}

// watch judges a live window every interval until ctx ends: it sets the
// gauges and says when the harness becomes saturated and when it
// recovers.
func (h *runHarness) watch(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(h.interval)
	defer t.Stop()
	mark := h.live.Mark()
	saturated := false
	tty := h.out != nil && isTerminal(h.out)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w := h.live.Since(mark)
		mark = h.live.Mark()
		_, noCPU := w.Missing[harnessmon.FigureCPU]
		_, noSched := w.Missing[harnessmon.FigureScheduler]
		h.gauges.Set(metrics.HarnessWindow{Saturated: w.Saturated, CPURatio: w.CPUShare, SchedP99: w.SchedP99, NoCPU: noCPU, NoSched: noSched})
		if w.Saturated == saturated || h.out == nil {
			saturated = w.Saturated
			continue
		}
		saturated = w.Saturated
		line := "harness no longer saturated over the last " + h.interval.String() + ": " + w.Explain()
		if saturated {
			line = fmt.Sprintf("harness SATURATED over the last %s: %s; latencies now measure the harness too: %s", h.interval, w.Explain(), report.HarnessAdvice)
		}
		if tty {
			line = "\r\033[K" + line
		}
		fmt.Fprintln(h.out, line)
	}
}
