package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
)

// checkEmbeddedResources checks the server resources of a search against
// the embedded server: busy time and store size on every step that
// measured a window, busy time growing with the users, CPU and memory null
// with their reasons (the server shares the process with the harness).
func checkEmbeddedResources(t *testing.T, steps []any) {
	t.Helper()
	minUsers, maxUsers := math.Inf(1), math.Inf(-1)
	var busyAtMin, busyAtMax float64
	for _, s := range steps {
		st := s.(map[string]any)
		users := st["users"].(float64)
		srv, _ := st["server"].(map[string]any)
		if srv["source"] != "embedded" {
			t.Errorf("step %v: server source %v, want embedded", users, srv["source"])
			continue
		}
		busy, ok1 := srv["busy_seconds_per_second"].(float64)
		store, ok2 := srv["store_bytes"].(float64)
		if !ok1 || !ok2 || busy <= 0 || store <= 0 {
			t.Errorf("step %v: busy %v s/s, store %v bytes: want both measured and positive", users, srv["busy_seconds_per_second"], srv["store_bytes"])
			continue
		}
		reasons, _ := srv["reasons"].(map[string]any)
		if srv["cpu_cores"] != nil || srv["memory_max_bytes"] != nil ||
			!strings.Contains(fmt.Sprint(reasons["cpu_cores"]), "inside mailsim") || !strings.Contains(fmt.Sprint(reasons["memory"]), "inside mailsim") {
			t.Errorf("step %v: cpu %v memory %v reasons %v: want null with the embedded reasons", users, srv["cpu_cores"], srv["memory_max_bytes"], reasons)
		}
		if users < minUsers {
			minUsers, busyAtMin = users, busy
		}
		if users > maxUsers {
			maxUsers, busyAtMax = users, busy
		}
	}
	t.Logf("busy %.3g s/s at %v users, %.3g s/s at %v users", busyAtMin, minUsers, busyAtMax, maxUsers)
	if maxUsers > minUsers && !(busyAtMax > busyAtMin) {
		t.Errorf("busy %.3g s/s at %v users not above %.3g at %v users", busyAtMax, maxUsers, busyAtMin, minUsers)
	}
}

// startServeProcess runs bin ("mailsim serve") as a process of its own on
// loopback ports with its Prometheus exporter, and returns its target
// block's endpoint lines and its metrics URL; the process stops with the
// test.
func startServeProcess(t *testing.T, bin string, users int) (endpoints, metricsURL string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", "--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
		"--lmtp", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--users", fmt.Sprint(users), "--password", "pass")
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	addrs := map[string]string{}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
			if strings.HasPrefix(sc.Text(), "ready") {
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	timeout := time.After(exitLimit)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("mailsim serve ended before it was ready: %v; stderr %s", addrs, stderr.String())
			}
			name, addr, _ := strings.Cut(line, " ")
			addrs[name] = addr
			ready = name == "ready:"
		case <-timeout:
			t.Fatalf("mailsim serve not ready after %s: %v", exitLimit, addrs)
		}
	}
	for _, n := range []string{"imap", "pop3", "lmtp", "metrics"} {
		if addrs[n] == "" {
			t.Fatalf("mailsim serve printed no %s address: %v; stderr %s", n, addrs, stderr.String())
		}
	}
	endpoints = fmt.Sprintf("  imap: {addr: %q, tls: none}\n  pop3: {addr: %q, tls: none}\n  delivery: {protocol: lmtp, addr: %q}\n",
		addrs["imap"], addrs["pop3"], addrs["lmtp"])
	return endpoints, addrs["metrics"]
}

// capacityResources is a small search: 2 then 4 users with a PC and a
// phone each, every step passing.
const capacityResources = `
version: 1
name: capacity-resources
seed: 7
duration: 5s
time_scale: 30
ramp_up: 1s
settle: 1s
users: {count: 2, username: "user{n}", password: pass}
groups:
  - {name: imap, share: 100%, devices: [pc-imap, phone-imap], behavior: office}
behaviors:
  office:
    inbound: {interval: 1m, size: {min: 2KiB, max: 20KiB}}
    on_new_mail: {read: 90%, reply: 10%, flag: 10%, move: 10%}
    action_delay: 1m
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 1m}
capacity:
  start_users: 2
  max_users: 4
  step_duration: 3s
  confirm: false
  qos: ["error_rate < 1%"]
`

// TestCapacityServerResources searches a real server in a process of its
// own, "mailsim serve --metrics-addr", whose client_golang exporter gives
// process_cpu_seconds_total and process_resident_memory_bytes: every step
// reports the server's CPU and memory, non-null and plausible. An exporter
// that is down, or lacks the series asked for, gives null figures with a
// reason, and the search still completes.
func TestCapacityServerResources(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	endpoints, metricsURL := startServeProcess(t, bin, 8)
	dir := t.TempDir()
	scen := filepath.Join(dir, "scenario.yaml")
	if err := os.WriteFile(scen, []byte(capacityResources), 0o644); err != nil {
		t.Fatal(err)
	}
	down := "http://" + faketest.RefusedAddr(t) + "/metrics"

	search := func(t *testing.T, name, targetExtra string, args ...string) (map[string]any, cliResult) {
		t.Helper()
		target := filepath.Join(dir, name+"-target.yaml")
		if err := os.WriteFile(target, []byte("target:\n"+endpoints+targetExtra), 0o644); err != nil {
			t.Fatal(err)
		}
		js := filepath.Join(dir, name+".json")
		res := mailsim(append([]string{"capacity", scen, "--target", target, "--report", js, "--quiet", "--harness-max-sched", "2s", "--harness-max-cpu", "100%"}, args...)...)
		if res.code != exitOK {
			t.Fatalf("capacity: %s", res)
		}
		return readReport(t, js), res
	}
	servers := func(t *testing.T, rep map[string]any) []map[string]any {
		t.Helper()
		steps, _ := rep["steps"].([]any)
		if len(steps) == 0 {
			t.Fatal("no steps")
		}
		var out []map[string]any
		for _, s := range steps {
			srv, _ := s.(map[string]any)["server"].(map[string]any)
			if srv["source"] != "exporter" {
				t.Errorf("server source %v, want exporter", srv["source"])
			}
			out = append(out, srv)
		}
		return out
	}

	t.Run("exporter", func(t *testing.T) {
		rep, res := search(t, "exporter", fmt.Sprintf("  metrics_url: %q\n", metricsURL))
		var cpuSeconds float64
		for _, srv := range servers(t, rep) {
			cores, ok1 := srv["cpu_cores"].(float64)
			maxMem, ok2 := srv["memory_max_bytes"].(float64)
			endMem, ok3 := srv["memory_end_bytes"].(float64)
			t.Logf("server %v", srv)
			if !ok1 || !ok2 || !ok3 || srv["reasons"] != nil && srv["reasons"].(map[string]any)["cpu_cores"] != nil {
				t.Errorf("server %v: want CPU and memory measured", srv)
				continue
			}
			if cores < 0 || cores > float64(runtime.NumCPU())+0.5 {
				t.Errorf("server cpu %g cores on a %d-core machine", cores, runtime.NumCPU())
			}
			if endMem < 1<<20 || endMem > 1<<36 || maxMem < endMem {
				t.Errorf("server memory max %g end %g bytes: want 1 MiB..64 GiB, max >= end", maxMem, endMem)
			}
			if srv["cpu_series"] != "process_cpu_seconds_total" || srv["memory_series"] != "process_resident_memory_bytes" {
				t.Errorf("series %v, %v", srv["cpu_series"], srv["memory_series"])
			}
			if srv["url"] != metricsURL {
				t.Errorf("url %v, want %s", srv["url"], metricsURL)
			}
			cpuSeconds += cores
		}
		// The server answered every command of the steps: it used some CPU.
		if cpuSeconds <= 0 {
			t.Errorf("the server used no CPU over the steps")
		}
		if !strings.Contains(res.stdout, "server resources from the exporter "+metricsURL) || !strings.Contains(res.stdout, " cores, mem ") {
			t.Errorf("summary lacks the server's resources:\n%s", res.stdout)
		}
	})

	for _, tt := range []struct {
		name, extra, cpuWhy, memWhy string
	}{
		{"down", fmt.Sprintf("  metrics_url: %q\n", down), "the scrape at the window's start failed", "the scrape at the window's end failed"},
		{"lacks the series", fmt.Sprintf("  metrics_url: %q\n  resources: {cpu_seconds: 'process_cpu_seconds_total{job=\"dovecot\"}', memory_bytes: no_such_bytes}\n", metricsURL),
			`the exporter has no process_cpu_seconds_total{job="dovecot"}`, "the exporter has no no_such_bytes"},
		{"resources url beside metrics_url", fmt.Sprintf("  metrics_url: %q\n  resources: {url: %q}\n", metricsURL, down),
			"the scrape at the window's start failed: metrics page " + down, "the scrape at the window's end failed: metrics page " + down},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, res := search(t, strings.ReplaceAll(tt.name, " ", "-"), tt.extra, "--max-users", "2")
			for _, srv := range servers(t, rep) {
				reasons, _ := srv["reasons"].(map[string]any)
				if srv["cpu_cores"] != nil || srv["memory_max_bytes"] != nil || srv["memory_end_bytes"] != nil ||
					!strings.HasPrefix(fmt.Sprint(reasons["cpu_cores"]), tt.cpuWhy) || !strings.HasPrefix(fmt.Sprint(reasons["memory"]), tt.memWhy) {
					t.Errorf("server %v: want null CPU and memory, reasons %q and %q", srv, tt.cpuWhy, tt.memWhy)
				}
			}
			if !strings.Contains(res.stdout, "server cpu_cores unknown: "+tt.cpuWhy) {
				t.Errorf("summary lacks the reason:\n%s", res.stdout)
			}
		})
	}
}
