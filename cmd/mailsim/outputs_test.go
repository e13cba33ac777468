package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/scenarios"
)

// TestCheckOutputs: a report file that cannot be written is found before
// the run, not after it.
func TestCheckOutputs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, path, want string
	}{
		{"none", "", ""},
		{"stdout", "-", ""},
		{"new file", filepath.Join(dir, "r.json"), ""},
		{"existing file", file, ""},
		{"missing directory", filepath.Join(dir, "missing", "r.json"), "--report " + filepath.Join(dir, "missing", "r.json") + ": cannot be written"},
		{"under a file", filepath.Join(file, "r.json"), "cannot be written"},
		{"a directory", dir, "is a directory"},
		{"a long name", filepath.Join(dir, strings.Repeat("n", 250)), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := errors.Join(checkOutputs(map[string]string{"--report": tt.path})...)
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("checkOutputs(%q) = %v, want %q", tt.path, err, tt.want)
			}
		})
	}
	// Nothing is left behind in the directory checked.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the check left files: %v", ents)
	}
	for _, args := range [][]string{
		{"run", "quickstart", "--report", filepath.Join(dir, "missing", "r.json"), "--quiet"},
		{"run", "quickstart", "--html", dir, "--quiet"},
		{"capacity", "quickstart", "--report", filepath.Join(dir, "missing", "c.json"), "--quiet"},
	} {
		if res := mailsim(args...); res.code != exitScenario || !regexp.MustCompile(`--(report|html) .*(cannot be written|is a directory)`).MatchString(res.stderr) {
			t.Errorf("%v: want exit %d naming the flag, got %s", args, exitScenario, res)
		}
	}
}

// TestWriteFileSavesElsewhere: a report whose path stopped being writable
// during the run is saved in the temporary directory, and the error says
// where.
func TestWriteFileSavesElsewhere(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	path := filepath.Join(t.TempDir(), "gone", "r.json")
	err := writeFile(path, func(w io.Writer) error { _, err := io.WriteString(w, "report"); return err })
	m := regexp.MustCompile(`saved to (\S+) instead`).FindStringSubmatch(errString(err))
	if m == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("writeFile = %v, want the cause and where it was saved", err)
	}
	if b, rerr := os.ReadFile(m[1]); rerr != nil || string(b) != "report" || !strings.HasPrefix(m[1], os.Getenv("TMPDIR")) {
		t.Errorf("saved %q: %q %v", m[1], b, rerr)
	}
	if err := writeFile(filepath.Join(t.TempDir(), "r.json"), func(io.Writer) error { return nil }); err != nil {
		t.Errorf("a writable path: %v", err)
	}
	// A path that became a directory (not empty: the rename fails) leaves
	// no ".tmp" beside it.
	dir := t.TempDir()
	busy := filepath.Join(dir, "r.json")
	if err := os.MkdirAll(filepath.Join(busy, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(busy, func(w io.Writer) error { return nil }); err == nil || !strings.Contains(err.Error(), "saved to") {
		t.Errorf("writeFile over a directory: %v", err)
	}
	if _, err := os.Stat(busy + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.tmp left behind (%v)", busy, err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestUsersStorage: a real server's storage in the report is the users'
// only when the state reader read every user.
func TestUsersStorage(t *testing.T) {
	st := func(msgs, bytes int64, read int) report.StorageStat {
		return report.StorageStat{Messages: map[string]int64{"inbox": msgs}, Bytes: map[string]int64{"inbox": bytes}, UsersRead: read}
	}
	for _, tt := range []struct {
		name  string
		ci    report.CostInput
		users int
		m     int
		b     int64
		ok    bool
	}{
		{"all read", report.CostInput{Users: map[string]int{"a": 2, "b": 1}, Storage: map[string]report.StorageStat{"a": st(3, 300, 0), "b": st(1, 10, 0)}}, 3, 4, 310, true},
		{"no reader", report.CostInput{Users: map[string]int{"a": 2}}, 2, 0, 0, false},
		{"a group partly read", report.CostInput{Users: map[string]int{"a": 2}, Storage: map[string]report.StorageStat{"a": st(3, 300, 1)}}, 2, 0, 0, false},
		{"a group not read", report.CostInput{Users: map[string]int{"a": 2, "b": 1}, Storage: map[string]report.StorageStat{"a": st(3, 300, 0)}}, 3, 0, 0, false},
		{"users without a group", report.CostInput{Users: map[string]int{"a": 2}, Storage: map[string]report.StorageStat{"a": st(3, 300, 0)}}, 3, 3, 300, false},
		{"an empty group", report.CostInput{Users: map[string]int{"a": 2, "b": 0}, Storage: map[string]report.StorageStat{"a": st(3, 300, 0)}}, 2, 3, 300, true},
	} {
		m, b, ok := usersStorage(tt.ci, tt.users)
		if ok != tt.ok || (ok && (m != tt.m || b != tt.b)) {
			t.Errorf("%s: %d %d %v, want %d %d %v", tt.name, m, b, ok, tt.m, tt.b, tt.ok)
		}
	}
}

// TestVersionArgs: "mailsim version" prints the version; with arguments it
// is a bad command line, not a silent success.
func TestVersionArgs(t *testing.T) {
	if res := mailsim("version"); res.code != exitOK || !strings.HasPrefix(res.stdout, "mailsim ") {
		t.Errorf("version: %s", res)
	}
	if res := mailsim("version", "--bogus"); res.code != exitScenario || !strings.Contains(res.stderr, "takes no arguments") {
		t.Errorf("version --bogus: %s", res)
	}
}

// TestStoppedEarlyExit: a run stopped early whose thresholds held over what
// ran is no pass — 4, from "mailsim run" and from "report merge" when any
// shard was stopped (an evicted Kubernetes shard); a broken threshold
// still says 1.
func TestStoppedEarlyExit(t *testing.T) {
	shard := func(i int, stopped bool, thresholds ...string) string {
		var ths []scenarios.Threshold
		for _, e := range thresholds {
			th, err := scenarios.ParseThreshold(e, nil)
			if err != nil {
				t.Fatal(err)
			}
			ths = append(ths, th)
		}
		r := report.Build(report.Input{
			Scenario: "stop-test", Seed: 1, Shard: fmt.Sprintf("%d/2", i), StartedAt: time.Date(2026, 1, 6, 9, 0, 0, 0, time.UTC),
			Wall: time.Minute, Simulated: time.Hour, Users: 2, Devices: 2, Audit: audit.Result{ServerChecked: true},
			Commands: map[string]map[string]report.CommandStat{"imap": {"FETCH": {Count: 10, P50: 0.001, P95: 0.002, P99: 0.003}}},
			Logins:   map[string]report.LoginStat{"imap": {OK: 2}}, DeviceProtocols: []string{"imap"},
			StoppedEarly: stopped, Thresholds: ths,
		})
		return writeJSONFile(t, fmt.Sprintf("s%d.json", i), r)
	}
	for _, tt := range []struct {
		name       string
		stopped    bool
		thresholds []string
		code       int
	}{
		{"finished", false, []string{"lost_messages == 0"}, exitOK},
		{"stopped, thresholds held", true, []string{"lost_messages == 0"}, exitFailure},
		{"stopped, a threshold broke", true, []string{"lost_messages > 0"}, exitThresholds},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := mailsim("report", "merge", shard(1, false, tt.thresholds...), shard(2, tt.stopped, tt.thresholds...))
			if res.code != tt.code || (tt.code == exitFailure) != strings.Contains(res.stderr, "stopped early") {
				t.Errorf("merge: exit %d, want %d:\n%s", res.code, tt.code, res)
			}
		})
	}
}
