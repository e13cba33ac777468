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
	"strings"
	"sync"
	"testing"
	"time"
)

// startServe runs "mailsim serve" in-process on loopback ports and returns
// a target file for it; the server stops with the test.
func startServe(t *testing.T, users int) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	go func() {
		done <- serveMail(ctx, []string{"--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--smtp", "127.0.0.1:0",
			"--lmtp", "127.0.0.1:0", "--users", fmt.Sprint(users), "--password", "pass"}, pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("mailsim serve did not stop")
		}
	})
	addrs := map[string]string{}
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "ready") {
		name, addr, _ := strings.Cut(sc.Text(), " ")
		addrs[name] = addr
	}
	go io.Copy(io.Discard, pr)
	for _, n := range []string{"imap", "pop3", "smtp", "lmtp"} {
		if addrs[n] == "" {
			t.Fatalf("mailsim serve printed no %s address: %v; stderr %s", n, addrs, stderr.String())
		}
	}
	p := filepath.Join(t.TempDir(), "target.yaml")
	y := fmt.Sprintf("target:\n  imap: {addr: %q, tls: none}\n  pop3: {addr: %q, tls: none}\n  submission: {addr: %q, tls: none}\n  delivery: {protocol: lmtp, addr: %q}\n",
		addrs["imap"], addrs["pop3"], addrs["smtp"], addrs["lmtp"])
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReportMergeShards runs the three shards of quickstart at once
// against one "mailsim serve", all waiting for a common --start-at, merges
// their reports with "mailsim report merge" and checks the merged report
// against the shards' sums and the run's semantics.
func TestReportMergeShards(t *testing.T) {
	t.Parallel()
	target := startServe(t, 6)
	dir := t.TempDir()
	const n = 3
	startAt := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
	paths := make([]string, n)
	results := make([]cliResult, n)
	var wg sync.WaitGroup
	for i := range n {
		paths[i] = filepath.Join(dir, fmt.Sprintf("shard%d.json", i+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = mailsim("run", "quickstart", "--target", target, "--shard", fmt.Sprintf("%d/%d", i+1, n),
				"--duration", "4s", "--settle", "4s", "--start-at", startAt.Format(time.RFC3339), "--quiet", "--report", paths[i])
		}()
	}
	wg.Wait()
	shards := make([]map[string]any, n)
	for i, res := range results {
		// A shard may hold no user of a group its scenario's threshold
		// names: that shard's threshold fails, the merged one must not.
		if res.code != exitOK && res.code != exitThresholds {
			t.Fatalf("shard %d/%d: %s", i+1, n, res)
		}
		shards[i] = readReport(t, paths[i])
		started, _ := field(shards[i], "started_at")
		at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(started))
		if err != nil || at.Before(startAt) {
			t.Errorf("shard %d started at %v (%v), before --start-at %v", i+1, started, err, startAt)
		}
	}

	all := filepath.Join(dir, "all.json")
	html := filepath.Join(dir, "all.html")
	res := mailsim("report", "merge", paths[2], paths[0], paths[1], "--report", all, "--html", html)
	if res.code != exitOK {
		t.Fatalf("report merge: %s", res)
	}
	if !strings.Contains(res.stdout, "quickstart") {
		t.Errorf("report merge printed no summary:\n%s", res.stdout)
	}
	m := readReport(t, all)
	if v, _ := field(m, "shard"); v != "1/1" {
		t.Errorf("merged shard %v, want 1/1 (the whole population)", v)
	}
	sums := []string{"users", "devices", "messages.delivered", "messages.sent", "messages.delivery_attempted",
		"divergence.final.divergent_messages", "divergence.final.messages", "divergence.final.converged_users",
		"convergence.deliver.changes", "convergence.deliver.converged", "load.commands", "load.login_attempts",
		"load.logins.imap.ok", "load.bytes.imap.in", "groups.imap-everywhere.users", "groups.pop3-office.users", "cost.all.users",
		"actions.done"}
	for _, path := range sums {
		var want float64
		for _, s := range shards {
			want += num(t, s, path)
		}
		if got := num(t, m, path); got != want {
			t.Errorf("%s: merged %v, shards' sum %v", path, got, want)
		}
	}
	if u := num(t, m, "users"); u != 6 {
		t.Errorf("merged users %v, want quickstart's 6", u)
	}
	if d, u := num(t, m, "divergence.final.divergent_messages"), num(t, m, "divergence.final.messages"); num(t, m, "divergence.final.ratio") != d/u {
		t.Errorf("merged ratio %v, want %v/%v", num(t, m, "divergence.final.ratio"), d, u)
	}
	if v := num(t, m, "messages.lost"); v != 0 {
		t.Errorf("merged lost %v, want 0", v)
	}
	if c := num(t, m, "groups.imap-everywhere.convergence.deliver.converged"); c <= 0 {
		t.Errorf("the IMAP group converged no delivery: %v", c)
	}
	if p := num(t, m, "convergence.deliver.p50_s"); !(p > 0) {
		t.Errorf("merged deliver p50 %v, want a lag", p)
	}
	// Latency percentiles merge from the shards' histograms: between the
	// shards' own, and not flagged as bounds.
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range shards {
		p := num(t, s, "commands.lmtp.DATA.p99_ms")
		lo, hi = math.Min(lo, p), math.Max(hi, p)
	}
	if p := num(t, m, "commands.lmtp.DATA.p99_ms"); p < lo || p > hi {
		t.Errorf("merged lmtp DATA p99 %v ms outside the shards' %v..%v", p, lo, hi)
	}
	if _, ok := field(m, "commands.lmtp.DATA.latency_histogram.buckets"); !ok {
		t.Error("merged report has no latency_histogram")
	}
	if notes, _ := m["notes"].([]any); strings.Contains(fmt.Sprint(notes), "upper bound)") && strings.Contains(fmt.Sprint(notes), "latency") {
		t.Errorf("latency percentiles flagged as bounds though every shard has histograms: %v", notes)
	}
	ths, _ := m["thresholds"].([]any)
	if len(ths) != 2 {
		t.Errorf("merged thresholds %v, want quickstart's two", m["thresholds"])
	}
	if fi, err := os.Stat(html); err != nil || fi.Size() == 0 {
		t.Errorf("merged HTML report: %v", err)
	}

	t.Run("missing shard", func(t *testing.T) {
		res := mailsim("report", "merge", paths[0], paths[2])
		if res.code != exitScenario || !strings.Contains(res.stderr, "missing shard 2/3") {
			t.Errorf("want exit %d naming shard 2/3, got %s", exitScenario, res)
		}
	})
	t.Run("duplicate shard", func(t *testing.T) {
		res := mailsim("report", "merge", paths[0], paths[1], paths[2], paths[1])
		if res.code != exitScenario || !strings.Contains(res.stderr, "shard 2/3 given twice") {
			t.Errorf("want exit %d naming shard 2/3, got %s", exitScenario, res)
		}
	})
	t.Run("stdout", func(t *testing.T) {
		res := mailsim("report", "merge", paths[0], paths[1], paths[2], "--report", "-")
		p := filepath.Join(t.TempDir(), "out.json")
		if err := os.WriteFile(p, []byte(res.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if res.code != exitOK || num(t, readReport(t, p), "users") != 6 {
			t.Errorf("--report -: want the JSON report alone on stdout, got %s", res)
		}
		if lines := strings.Count(strings.TrimSpace(res.stdout), "\n"); lines != 0 || !strings.HasPrefix(res.stdout, `{"scenario"`) {
			t.Errorf("--report -: the report is not one line starting {\"scenario\" (deploy/kubernetes/job.yaml greps for it): %d line breaks", lines)
		}
	})
}

// TestReportMergeBadInput: what is not a set of shard reports is a usage
// error.
func TestReportMergeBadInput(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.json")
	if err := os.WriteFile(junk, []byte(`{"x": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"report"}, "report merge"},
		{"unknown subcommand", []string{"report", "split"}, "report merge"},
		{"no files", []string{"report", "merge"}, "want the JSON report"},
		{"missing file", []string{"report", "merge", filepath.Join(dir, "none.json")}, "none.json"},
		{"not a report", []string{"report", "merge", junk}, "not a mailsim report"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := mailsim(tt.args...)
			if res.code != exitScenario || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("want exit %d with %q, got %s", exitScenario, tt.want, res)
			}
		})
	}
}

// TestRunStartAt: --start-at in the past by more than the slack is
// refused; a bad time is a usage error; --report - writes the JSON report
// alone on stdout.
func TestRunStartAt(t *testing.T) {
	path := writeScenario(t, tiny(2, "[]"))
	for _, tt := range []struct {
		name, at, want string
	}{
		{"past", time.Now().Add(-time.Minute).Format(time.RFC3339), "in the past"},
		{"not a time", "tomorrow", "RFC 3339"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := mailsim("run", path, "--quiet", "--start-at", tt.at)
			if res.code != exitScenario || !strings.Contains(res.stderr, tt.want) {
				t.Errorf("want exit %d with %q, got %s", exitScenario, tt.want, res)
			}
		})
	}
	t.Run("report on stdout, just past start", func(t *testing.T) {
		res := mailsim("run", path, "--quiet", "--report", "-", "--start-at", time.Now().Add(-time.Second).Format(time.RFC3339))
		p := filepath.Join(t.TempDir(), "r.json")
		if err := os.WriteFile(p, []byte(res.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		if res.code != exitOK || num(t, readReport(t, p), "users") != 2 || !strings.Contains(res.stderr, "tiny") {
			t.Errorf("want the JSON report on stdout and the summary on stderr, got %s", res)
		}
	})
}

// TestReportMergeIndexedJob runs the flow of deploy/kubernetes/job.yaml
// with real processes: three mailsim processes with --shards 3 and
// $JOB_COMPLETION_INDEX 0..2 against one mailsim serve, each printing its
// report on stdout (--report -, stdout and stderr in one stream as
// kubectl logs shows them); the report lines grepped out of the logs merge
// into the whole population.
func TestReportMergeIndexedJob(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	target := startServe(t, 6)
	dir := t.TempDir()
	startAt := time.Now().Add(2 * time.Second).Format(time.RFC3339)
	ctx, cancel := context.WithTimeout(context.Background(), 2*exitLimit)
	defer cancel()
	type out struct {
		log  []byte
		err  error
		code int
	}
	outs := make([]out, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, bin, "run", "quickstart", "--target", target, "--shards", "3",
				"--start-at", startAt, "--duration", "3s", "--settle", "3s", "--report", "-", "--quiet")
			cmd.Env = append(os.Environ(), fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
			outs[i].log, outs[i].err = cmd.CombinedOutput() // one stream, as a pod's log
			outs[i].code = cmd.ProcessState.ExitCode()
		}()
	}
	wg.Wait()
	var paths []string
	users := 0.0
	for i, o := range outs {
		if o.code != exitOK && o.code != exitThresholds {
			t.Fatalf("shard index %d: exit %d (%v):\n%s", i, o.code, o.err, o.log)
		}
		var line string
		for _, l := range strings.Split(string(o.log), "\n") {
			if strings.HasPrefix(l, `{"scenario"`) {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("shard index %d: no report line in its log:\n%s", i, o.log)
		}
		p := filepath.Join(dir, fmt.Sprintf("shard-%d.json", i))
		if err := os.WriteFile(p, []byte(line), 0o600); err != nil {
			t.Fatal(err)
		}
		rep := readReport(t, p)
		if v, _ := field(rep, "shard"); v != fmt.Sprintf("%d/3", i+1) {
			t.Errorf("JOB_COMPLETION_INDEX=%d ran shard %v", i, v)
		}
		users += num(t, rep, "users")
		paths = append(paths, p)
	}
	all := filepath.Join(dir, "all.json")
	res := mailsim(append([]string{"report", "merge", "--report", all}, paths...)...)
	if res.code != exitOK {
		t.Fatalf("report merge: %s", res)
	}
	m := readReport(t, all)
	if u := num(t, m, "users"); u != users || u != 6 {
		t.Errorf("merged users %v, shards' sum %v, want 6", u, users)
	}
	if v := num(t, m, "messages.lost"); v != 0 {
		t.Errorf("merged lost %v, want 0", v)
	}
}
