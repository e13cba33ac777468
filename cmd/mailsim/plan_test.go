package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/report"
)

func writeReport(t *testing.T, users int) string {
	t.Helper()
	r := report.Build(report.Input{
		Scenario: "plan-test", Seed: 1, StartedAt: time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC),
		Wall: time.Minute, Simulated: time.Hour, Users: users, Devices: 2 * users,
		Audit: audit.Result{ServerChecked: true},
		Commands: map[string]map[string]report.CommandStat{
			"imap": {"FETCH": {Count: 3600, P50: 0.001, P95: 0.002, P99: 0.003}},
		},
		Logins:          map[string]report.LoginStat{"imap": {OK: 360}},
		PeakConnections: 20, StoredMessages: 50, StoredBytes: 5 << 20,
	})
	path := filepath.Join(t.TempDir(), "report.json")
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPlan(t *testing.T) {
	good := writeReport(t, 10)
	garbage := filepath.Join(t.TempDir(), "garbage.json")
	if err := os.WriteFile(garbage, []byte("not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{"projects", []string{"plan", good, "--users", "1000"}, exitOK,
			// 3600 FETCH per simulated hour for 10 users -> 100/s for 1000.
			[]string{"from 10 to 1000 users", "FETCH", "100", "logins imap: 10/s", "peak connections: 2000"}, ""},
		{"flag first", []string{"plan", "--users", "20", good}, exitOK, []string{"from 10 to 20 users"}, ""},
		{"no users flag", []string{"plan", good}, exitScenario, nil, "--users N is required"},
		{"no report", []string{"plan", "--users", "5"}, exitScenario, nil, "want exactly one JSON report"},
		{"missing file", []string{"plan", filepath.Join(t.TempDir(), "none.json"), "--users", "5"}, exitScenario, nil, "no such file"},
		{"garbage", []string{"plan", garbage, "--users", "5"}, exitScenario, nil, "read json"},
		{"bad flag", []string{"plan", good, "--users", "many"}, exitScenario, nil, "invalid value"},
		{"help", []string{"plan", "--help"}, exitOK, nil, "Usage: mailsim plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if tt.stderr != "" && !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
		})
	}
}
