package metrics

import (
	"context"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// TestSeriesRead reads CPU and memory from pages of the exporters the
// sampler knows (pure parsing: the pages are fixed text).
func TestSeriesRead(t *testing.T) {
	const nodePage = `# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 1000
node_cpu_seconds_total{cpu="0",mode="iowait"} 7
node_cpu_seconds_total{cpu="0",mode="user"} 30
node_cpu_seconds_total{cpu="0",mode="system"} 10
node_cpu_seconds_total{cpu="1",mode="idle"} 900
node_cpu_seconds_total{cpu="1",mode="user"} 2.5
# TYPE node_memory_MemTotal_bytes gauge
node_memory_MemTotal_bytes 8e+09
# TYPE node_memory_MemAvailable_bytes gauge
node_memory_MemAvailable_bytes 6e+09
`
	const processPage = `# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 4.5e+07
# TYPE namedprocess_namegroup_memory_bytes gauge
namedprocess_namegroup_memory_bytes{groupname="dovecot",memtype="resident"} 3e+07
namedprocess_namegroup_memory_bytes{groupname="dovecot",memtype="virtual"} 9e+08
namedprocess_namegroup_memory_bytes{groupname="other",memtype="resident"} 1e+06
# TYPE a_histogram histogram
a_histogram_bucket{le="1"} 3
a_histogram_bucket{le="+Inf"} 4
a_histogram_sum 2
a_histogram_count 4
`
	first := func(cands []resourceSeries, page string) (string, float64) {
		fams, err := parsePage([]byte(page))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cands {
			if v, ok := c.read(fams); ok {
				return c.text, v
			}
		}
		return "", math.NaN()
	}
	resident := Series{Name: "namedprocess_namegroup_memory_bytes", Matchers: []LabelMatcher{
		{Label: "groupname", Value: "dovecot"}, {Label: "memtype", Value: "resident"}}}
	for _, tt := range []struct {
		name       string
		cands      []resourceSeries
		page       string
		wantSeries string
		want       float64
	}{
		{"process cpu", defaultCPU, processPage, "process_cpu_seconds_total", 12.5},
		{"process memory", defaultMemory, processPage, "process_resident_memory_bytes", 4.5e7},
		{"node cpu without idle and iowait", defaultCPU, nodePage, `node_cpu_seconds_total{mode!="idle",mode!="iowait"}`, 42.5},
		{"node memory in use", defaultMemory, nodePage, "node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes", 2e9},
		{"labelled override", []resourceSeries{fromSeries(resident)}, processPage, "namedprocess_namegroup_memory_bytes", 3e7},
		{"override with text", []resourceSeries{fromSeries(Series{Name: "process_cpu_seconds_total", Text: "cpu!"})}, processPage, "cpu!", 12.5},
		{"no such label value", []resourceSeries{fromSeries(Series{Name: "process_cpu_seconds_total",
			Matchers: []LabelMatcher{{Label: "job", Value: "x"}}})}, processPage, "", math.NaN()},
		{"absent label matches !=", []resourceSeries{fromSeries(Series{Name: "process_cpu_seconds_total",
			Matchers: []LabelMatcher{{Label: "job", Value: "x", Not: true}}})}, processPage, "process_cpu_seconds_total", 12.5},
		{"histograms are not read", []resourceSeries{fromSeries(Series{Name: "a_histogram"})}, processPage, "", math.NaN()},
		{"dovecot has none", defaultCPU, dovecotPage, "", math.NaN()},
		{"dovecot has no memory", defaultMemory, dovecotPage, "", math.NaN()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			series, v := first(tt.cands, tt.page)
			if series != tt.wantSeries || !(v == tt.want || math.IsNaN(v) && math.IsNaN(tt.want)) {
				t.Errorf("read %q = %g, want %q = %g", series, v, tt.wantSeries, tt.want)
			}
		})
	}
}

// TestResourcesWindow samples a real client_golang exporter (this
// process's, served on loopback) over a window in which the process burns
// CPU: cores and memory are measured and plausible. A window on a closed
// port, or on a page without the series asked for, gives NaN and a reason.
func TestResourcesWindow(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := Serve(ctx, "127.0.0.1:0", NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr.String() + "/metrics"

	r, err := NewResources(ResourceOptions{URL: url, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w := r.Start(ctx)
	burn(300 * time.Millisecond)
	w.End()
	u := w.Usage()
	t.Logf("usage %+v", u)
	if u.CPUReason != "" || u.MemoryReason != "" {
		t.Fatalf("reasons: cpu %q, memory %q", u.CPUReason, u.MemoryReason)
	}
	if u.CPUSeries != "process_cpu_seconds_total" || u.MemorySeries != "process_resident_memory_bytes" {
		t.Errorf("series %q, %q", u.CPUSeries, u.MemorySeries)
	}
	// The process burned CPU for most of the window (on a loaded machine,
	// not all of it); the exporter reads /proc in 10 ms ticks.
	if !(u.CPUCores > 0 && u.CPUCores <= float64(runtime.NumCPU())+0.5) {
		t.Errorf("cpu %g cores, want above 0 and at most %d", u.CPUCores, runtime.NumCPU())
	}
	if !(u.MemoryEndBytes > 1<<20 && u.MemoryEndBytes < 1<<40 && u.MemoryMaxBytes >= u.MemoryEndBytes) {
		t.Errorf("memory max %g end %g bytes", u.MemoryMaxBytes, u.MemoryEndBytes)
	}
	if u.Scrapes < 2 || u.Failed != 0 {
		t.Errorf("%d scrapes, %d failed", u.Scrapes, u.Failed)
	}

	// A port nothing listens on.
	down := "http://" + faketest.RefusedAddr(t) + "/metrics"
	missing := Series{Name: "no_such_metric", Text: `no_such_metric{x="1"}`}
	for _, tt := range []struct {
		name          string
		o             ResourceOptions
		cpuWhy, memWh string
	}{
		{"down", ResourceOptions{URL: down}, "the scrape at the window's start failed: metrics page " + down, "the scrape at the window's end failed"},
		{"no series", ResourceOptions{URL: url, CPUSeconds: &missing, MemoryBytes: &missing},
			`the exporter has no no_such_metric{x="1"}`, `the exporter has no no_such_metric{x="1"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewResources(tt.o)
			if err != nil {
				t.Fatal(err)
			}
			w := r.Start(ctx)
			w.End()
			u := w.Usage()
			if !math.IsNaN(u.CPUCores) || !math.IsNaN(u.MemoryMaxBytes) || !math.IsNaN(u.MemoryEndBytes) {
				t.Errorf("figures %+v, want NaN", u)
			}
			if !strings.HasPrefix(u.CPUReason, tt.cpuWhy) || !strings.HasPrefix(u.MemoryReason, tt.memWh) {
				t.Errorf("reasons %q, %q; want %q, %q", u.CPUReason, u.MemoryReason, tt.cpuWhy, tt.memWh)
			}
		})
	}

	// A window whose context ends before End still ends, with a reason.
	wctx, wcancel := context.WithCancel(ctx)
	w = r.Start(wctx)
	wcancel()
	if u := w.Usage(); !math.IsNaN(u.CPUCores) || u.CPUReason == "" || !strings.Contains(u.MemoryReason, "cut short") {
		t.Errorf("cancelled window: %+v", u)
	}
}

func TestResourceOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		o    ResourceOptions
		want string
	}{
		{ResourceOptions{URL: "127.0.0.1:9100"}, "want http://"},
		{ResourceOptions{URL: "http://x/metrics", CPUSeconds: &Series{}}, "without a name"},
		{ResourceOptions{URL: "http://x/metrics", Interval: -time.Second}, "want 0 (default) or more"},
	} {
		if _, err := NewResources(tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewResources(%+v) = %v, want %q", tt.o, err, tt.want)
		}
	}
}

// burn keeps one core busy for d.
func burn(d time.Duration) {
	x := 1.0
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := 0; i < 10000; i++ {
			x = math.Sqrt(x + float64(i))
		}
	}
	_ = x
}
