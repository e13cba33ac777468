package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Series selects the samples of one metric family by name and labels; its
// value on a page is the sum of the samples it selects.
type Series struct {
	Name     string
	Matchers []LabelMatcher
	// Text names the series in reports; default Name.
	Text string
}

// LabelMatcher is one label condition of a [Series]: label="value", or
// label!="value" when Not. A sample without the label has it empty.
type LabelMatcher struct {
	Label, Value string
	Not          bool
}

func (s Series) text() string {
	if s.Text != "" {
		return s.Text
	}
	return s.Name
}

// read returns the sum of the counter, gauge or untyped samples of fams
// that s selects, and whether there was one.
func (s Series) read(fams map[string]*dto.MetricFamily) (float64, bool) {
	mf, ok := fams[s.Name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range mf.GetMetric() {
		if m.Counter == nil && m.Gauge == nil && m.Untyped == nil || !s.matches(m) {
			continue
		}
		sum += sampleValue(m)
		found = true
	}
	return sum, found
}

func (s Series) matches(m *dto.Metric) bool {
	for _, lm := range s.Matchers {
		v, _ := labelValue(m, lm.Label)
		if (v == lm.Value) == lm.Not {
			return false
		}
	}
	return true
}

// resourceSeries is one way to read a resource from a page.
type resourceSeries struct {
	text string
	read func(map[string]*dto.MetricFamily) (float64, bool)
}

func fromSeries(s Series) resourceSeries { return resourceSeries{s.text(), s.read} }

// The standard series, in the order they are looked for: a process
// exporter's (or any client_golang process's), then node exporter's.
var (
	defaultCPU = []resourceSeries{
		fromSeries(Series{Name: "process_cpu_seconds_total"}),
		fromSeries(Series{Name: "node_cpu_seconds_total", Matchers: []LabelMatcher{
			{Label: "mode", Value: "idle", Not: true}, {Label: "mode", Value: "iowait", Not: true}},
			Text: `node_cpu_seconds_total{mode!="idle",mode!="iowait"}`}),
	}
	defaultMemory = []resourceSeries{
		fromSeries(Series{Name: "process_resident_memory_bytes"}),
		{text: "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", read: func(f map[string]*dto.MetricFamily) (float64, bool) {
			total, ok1 := Series{Name: "node_memory_MemTotal_bytes"}.read(f)
			avail, ok2 := Series{Name: "node_memory_MemAvailable_bytes"}.read(f)
			return total - avail, ok1 && ok2
		}},
	}
)

// ReasonNoSeries begins the reason of a figure whose series the
// exporter's page lacks; the series looked for follow.
const ReasonNoSeries = "the exporter has no "

// ResourceOptions configure a [Resources] sampler.
type ResourceOptions struct {
	// URL is the exporter's page, e.g. "http://127.0.0.1:9100/metrics".
	// Required.
	URL string
	// CPUSeconds is the counter of the server's CPU seconds; nil means
	// process_cpu_seconds_total, else node_cpu_seconds_total without the
	// idle and iowait modes, whichever the page has.
	CPUSeconds *Series
	// MemoryBytes is the gauge of the server's resident memory; nil means
	// process_resident_memory_bytes, else node_memory_MemTotal_bytes −
	// node_memory_MemAvailable_bytes.
	MemoryBytes *Series
	// Timeout bounds each scrape. Default 5 s.
	Timeout time.Duration
	// Interval is the time between memory samples inside a window.
	// Default 1 s.
	Interval time.Duration
	// Client is the HTTP client. Default: one without keep-alive.
	Client *http.Client
}

// Validate reports every problem of o.
func (o ResourceOptions) Validate() []error {
	var errs []error
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		errs = append(errs, fmt.Errorf("resources: URL %q: want http:// or https://", o.URL))
	}
	for _, s := range []*Series{o.CPUSeconds, o.MemoryBytes} {
		if s != nil && s.Name == "" {
			errs = append(errs, errors.New("resources: a series without a name"))
		}
	}
	if o.Timeout < 0 || o.Interval < 0 {
		errs = append(errs, fmt.Errorf("resources: timeout %s, interval %s: want 0 (default) or more", o.Timeout, o.Interval))
	}
	return errs
}

// Resources reads a server's CPU and memory from its exporter over
// windows of time (the measured windows of capacity steps).
type Resources struct {
	url      string
	cpu, mem []resourceSeries
	timeout  time.Duration
	interval time.Duration
	client   *http.Client
}

// NewResources returns a sampler of the exporter o.URL.
func NewResources(o ResourceOptions) (*Resources, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	r := &Resources{url: o.URL, cpu: defaultCPU, mem: defaultMemory, timeout: o.Timeout, interval: o.Interval, client: o.Client}
	if o.CPUSeconds != nil {
		r.cpu = []resourceSeries{fromSeries(*o.CPUSeconds)}
	}
	if o.MemoryBytes != nil {
		r.mem = []resourceSeries{fromSeries(*o.MemoryBytes)}
	}
	if r.timeout == 0 {
		r.timeout = 5 * time.Second
	}
	if r.interval == 0 {
		r.interval = time.Second
	}
	if r.client == nil {
		r.client = noKeepAliveClient()
	}
	return r, nil
}

// ResourceUsage is what a window measured. A figure that could not be
// measured is NaN, and its reason says why.
type ResourceUsage struct {
	// CPUCores is the CPU seconds the server used per wall second between
	// the scrapes at the window's start and end.
	CPUCores  float64
	CPUSeries string
	CPUReason string
	// MemoryMaxBytes is the largest memory sample of the window (start,
	// every interval, end); MemoryEndBytes the one at its end.
	MemoryMaxBytes, MemoryEndBytes float64
	MemorySeries                   string
	MemoryReason                   string
	// Scrapes counts the scrapes of the window, Failed those that failed.
	Scrapes, Failed int
}

// ResourceWindow samples one window; see [Resources.Start].
type ResourceWindow struct {
	r       *Resources
	end     chan struct{}
	endOnce sync.Once
	done    chan struct{}
	usage   ResourceUsage
}

// Start opens a window: it scrapes the exporter now, then every interval
// for memory, until End (or ctx's end); Usage returns the figures. It
// never blocks on the network: the scrapes run in a goroutine of their
// own, which ends with End or ctx.
func (r *Resources) Start(ctx context.Context) *ResourceWindow {
	w := &ResourceWindow{r: r, end: make(chan struct{}), done: make(chan struct{})}
	go w.loop(ctx)
	return w
}

// End closes the window: the goroutine scrapes once more and stops. It
// does not wait; calling it again does nothing.
func (w *ResourceWindow) End() { w.endOnce.Do(func() { close(w.end) }) }

// Usage waits for the window's last scrape (End must have been called, or
// the window's context ended) and returns what it measured.
func (w *ResourceWindow) Usage() ResourceUsage {
	<-w.done
	return w.usage
}

// resourceSample is what one scrape read.
type resourceSample struct {
	at       time.Time
	err      error
	cpu, mem float64
	cpuOK    bool
	memOK    bool
}

// sample scrapes the page once and reads the chosen series (choosing the
// first present when *cpuIdx or *memIdx is still -1).
func (w *ResourceWindow) sample(ctx context.Context, cpuIdx, memIdx *int) resourceSample {
	ctx, cancel := context.WithTimeout(ctx, w.r.timeout)
	defer cancel()
	fams, err := scrapePage(ctx, w.r.client, w.r.url)
	s := resourceSample{at: time.Now(), err: err}
	if err != nil {
		return s
	}
	read := func(cands []resourceSeries, idx *int) (float64, bool) {
		if *idx >= 0 {
			return cands[*idx].read(fams)
		}
		for i, c := range cands {
			if v, ok := c.read(fams); ok {
				*idx = i
				return v, true
			}
		}
		return 0, false
	}
	s.cpu, s.cpuOK = read(w.r.cpu, cpuIdx)
	s.mem, s.memOK = read(w.r.mem, memIdx)
	return s
}

func (w *ResourceWindow) loop(ctx context.Context) {
	defer close(w.done)
	u := &w.usage
	*u = ResourceUsage{CPUCores: math.NaN(), MemoryMaxBytes: math.NaN(), MemoryEndBytes: math.NaN()}
	cpuIdx, memIdx := -1, -1
	count := func(s resourceSample) {
		u.Scrapes++
		if s.err != nil {
			u.Failed++
			return
		}
		if s.memOK && !(s.mem <= u.MemoryMaxBytes) {
			u.MemoryMaxBytes = s.mem
		}
	}
	first := w.sample(ctx, &cpuIdx, &memIdx)
	count(first)
	tick := time.NewTicker(w.r.interval)
	defer tick.Stop()
	var last resourceSample
	for ended := false; !ended; {
		select {
		case <-ctx.Done():
			last = resourceSample{err: fmt.Errorf("the window was cut short: %w", ctx.Err())}
			ended = true
		case <-w.end:
			last = w.sample(ctx, &cpuIdx, &memIdx)
			count(last)
			ended = true
		case <-tick.C:
			count(w.sample(ctx, &cpuIdx, &memIdx))
		}
	}
	if cpuIdx >= 0 {
		u.CPUSeries = w.r.cpu[cpuIdx].text
	}
	if memIdx >= 0 {
		u.MemorySeries = w.r.mem[memIdx].text
	}
	u.CPUReason = w.cpu(first, last)
	switch {
	case last.err != nil:
		u.MemoryReason = "the scrape at the window's end failed: " + last.err.Error()
	case !last.memOK:
		u.MemoryReason = ReasonNoSeries + names(w.r.mem)
	default:
		u.MemoryEndBytes = last.mem
	}
	if !math.IsNaN(u.MemoryMaxBytes) && u.MemoryReason != "" {
		u.MemoryReason += " (the largest sample is still given)"
	}
}

// cpu sets CPUCores from the first and last samples and returns why it
// could not ("" when it could).
func (w *ResourceWindow) cpu(first, last resourceSample) string {
	switch {
	case first.err != nil:
		return "the scrape at the window's start failed: " + first.err.Error()
	case last.err != nil:
		return "the scrape at the window's end failed: " + last.err.Error()
	case !first.cpuOK || !last.cpuOK:
		return ReasonNoSeries + names(w.r.cpu)
	case last.cpu < first.cpu:
		return "the CPU counter went down during the window (did the server restart?)"
	}
	secs := last.at.Sub(first.at).Seconds()
	if secs <= 0 {
		return "the window was too short to measure"
	}
	w.usage.CPUCores = (last.cpu - first.cpu) / secs
	return ""
}

// names lists the series looked for, for a reason.
func names(cands []resourceSeries) string {
	parts := make([]string, len(cands))
	for i, c := range cands {
		parts[i] = c.text
	}
	return strings.Join(parts, " or ")
}
