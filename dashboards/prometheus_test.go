package dashboards

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// TestDashboardsAgainstPrometheus runs a short `mailsim run` with
// --metrics-addr, scrapes it with a real Prometheus on loopback, and
// evaluates every panel query of every dashboard through Prometheus's HTTP
// API at a moment when the run's metrics were scraped; it fails on any
// invalid query or empty result.
// syncBuffer is a bytes.Buffer safe for a writing child process and a
// reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDashboardsAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: runs mailsim and Prometheus for about a minute")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not found: install the Debian package prometheus (apt-get install -y prometheus) to run this test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()

	mailsim := filepath.Join(dir, "mailsim")
	build := exec.CommandContext(ctx, "go", "build", "-o", mailsim, "github.com/mailsim/mailsim/cmd/mailsim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/mailsim: %v\n%s", err, out)
	}

	metricsAddr := faketest.FreeAddr(t)
	capAddr := faketest.FreeAddr(t)
	promAddr := faketest.FreeAddr(t)
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: mailsim\n    static_configs:\n      - targets: [%q, %q]\n", metricsAddr, capAddr)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var promOut bytes.Buffer
	prom := exec.CommandContext(ctx, promBin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")
	prom.Stdout, prom.Stderr = &promOut, &promOut
	if err := prom.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	defer func() {
		prom.Process.Kill()
		prom.Wait()
	}()
	api := "http://" + promAddr
	waitReady(ctx, t, api+"/-/ready", &promOut)

	// A quickstart run, and a small capacity search for the Capacity
	// search row, side by side; both linger with their final values until
	// the panels are evaluated, then are stopped.
	var runOut, capOut syncBuffer
	start := func(out *syncBuffer, args ...string) {
		cmd := exec.CommandContext(ctx, mailsim, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start mailsim %s: %v", args[0], err)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	start(&runOut, "run", "quickstart", "--duration", "15s", "--metrics-addr", metricsAddr, "--linger", "5m")
	start(&capOut, "capacity", "quickstart", "--start-users", "1", "--max-users", "2",
		"--step-duration", "3s", "--settle", "1s", "--metrics-addr", capAddr, "--linger", "5m", "--quiet")
	for _, out := range []*syncBuffer{&runOut, &capOut} {
		for deadline := time.Now().Add(3 * time.Minute); !strings.Contains(out.String(), "serving the final metrics"); {
			if time.Now().After(deadline) || ctx.Err() != nil {
				t.Fatalf("mailsim did not finish in time:\n%s", out.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// Both are lingering: wait until Prometheus scraped both after that.
	lingering := time.Now()
	fresh := fmt.Sprintf("timestamp(mailsim_run_info) > %d", lingering.Unix()+1)
	for deadline := time.Now().Add(time.Minute); ; {
		if n, err := query(ctx, api, fresh, time.Now()); err == nil && n >= 2 {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("Prometheus did not scrape both lingering targets\nprometheus output:\n%s", promOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	at := time.Now()

	if n := queryCount(ctx, t, api, "mailsim_run_info", at); n == 0 {
		t.Fatalf("Prometheus has no mailsim_run_info: the run was never scraped\nmailsim output:\n%s\nprometheus output:\n%s", runOut.String(), promOut.String())
	}
	for _, d := range loadDashboards(t) {
		vars := variableValues(d)
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				q := substitute(tg.Expr, vars)
				res, err := query(ctx, api, q, at)
				switch {
				case err != nil:
					t.Errorf("%s: panel %q: %v\nquery: %s", d.file, p.Title, err, q)
				case res == 0:
					t.Errorf("%s: panel %q: no data\nquery: %s", d.file, p.Title, q)
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			for _, m := range metricNames(v.Definition) {
				if n := queryCount(ctx, t, api, m, at); n == 0 {
					t.Errorf("%s: variable %s: no series of %s", d.file, v.Name, m)
				}
			}
		}
	}
}

// waitReady polls url until it answers 200 or ctx ends.
func waitReady(ctx context.Context, t *testing.T, u string, log *bytes.Buffer) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus not ready at %s: %v\n%s", u, ctx.Err(), log.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var reVar = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// variableValues returns the value each variable of d takes in the test:
// the current value of constants and text boxes, ".*" (All) for the rest.
func variableValues(d dashboard) map[string]string {
	vals := map[string]string{
		"__rate_interval": "30s", "__interval": "5s", "__range": "1m",
	}
	for _, v := range d.Templating.List {
		if s, ok := v.Current.Value.(string); ok && (v.Type == "textbox" || v.Type == "constant" || v.Type == "custom") {
			vals[v.Name] = s
		}
	}
	return vals
}

// substitute replaces Grafana variables in expr; unknown ones become ".*".
func substitute(expr string, vals map[string]string) string {
	return reVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := reVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := vals[name]; ok {
			return v
		}
		return ".*"
	})
}

// query evaluates q at time at and returns the number of result elements
// with a value.
func query(ctx context.Context, api, q string, at time.Time) (int, error) {
	form := url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/api/v1/query", strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("query: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status, Error string
		Data          struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query: decoding the answer (HTTP %s): %w", resp.Status, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query failed: %s", body.Error)
	}
	if body.Data.ResultType == "scalar" || body.Data.ResultType == "string" {
		return 1, nil
	}
	// Elements whose value is NaN (a ratio whose denominator has no data)
	// show nothing on a panel: they do not count.
	var elems []struct {
		Value [2]any `json:"value"`
	}
	if err := json.Unmarshal(body.Data.Result, &elems); err != nil {
		return 0, fmt.Errorf("query: result: %w", err)
	}
	n := 0
	for _, e := range elems {
		if v, _ := e.Value[1].(string); v != "NaN" {
			n++
		}
	}
	return n, nil
}

// queryCount is query that fails the test on error.
func queryCount(ctx context.Context, t *testing.T, api, q string, at time.Time) int {
	t.Helper()
	n, err := query(ctx, api, q, at)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
