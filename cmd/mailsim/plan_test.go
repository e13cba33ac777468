package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/capacity"
	"github.com/mailsim/mailsim/internal/cost"
	"github.com/mailsim/mailsim/internal/report"
)

func writeReport(t *testing.T, users int) string {
	t.Helper()
	return writeReportWith(t, users, report.CostInput{})
}

// writeCostReport writes a report whose 10 users are split into two groups
// with costs: "pop" (4 users) and "imap" (6).
func writeCostReport(t *testing.T) string {
	t.Helper()
	return writeReportWith(t, 10, report.CostInput{
		Groups: []cost.Totals{
			{Group: "pop", Protocols: map[string]cost.ProtocolTotals{"pop3": {Commands: 400, ConnectionSeconds: 400}}},
			{Group: "imap", PeakConnections: 12, Protocols: map[string]cost.ProtocolTotals{"imap": {Commands: 3600, ConnectionSeconds: 6 * 2 * 3600}}},
		},
		Order: []string{"pop", "imap"},
		Users: map[string]int{"pop": 4, "imap": 6},
	})
}

func writeReportWith(t *testing.T, users int, ci report.CostInput) string {
	t.Helper()
	r := report.Build(report.Input{
		Cost:     ci,
		Scenario: "plan-test", Seed: 1, StartedAt: time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC),
		Wall: time.Minute, Simulated: time.Hour, Users: users, Devices: 2 * users,
		Audit: audit.Result{ServerChecked: true},
		Commands: map[string]map[string]report.CommandStat{
			"imap": {"FETCH": {Count: 3600, P50: 0.001, P95: 0.002, P99: 0.003}},
		},
		Logins:          map[string]report.LoginStat{"imap": {OK: 360}},
		PeakConnections: 20, StoredMessages: 50, StoredBytes: 5 << 20,
	})
	return writeJSONFile(t, "report.json", r)
}

// writeCapacityReport writes a capacity report that found 120 users per
// server, with a confirmed claim of 100 when claim is set.
func writeCapacityReport(t *testing.T, claim bool, limitedBy string) string {
	t.Helper()
	ok := claim
	res := capacity.Result{Users: 120, LimitedBy: limitedBy, Steps: []capacity.Step{{Users: 120, Pass: true}}}
	if claim {
		res.Claim, res.Confirmed = 100, &ok
	}
	r := report.NewCapacityReport(report.CapacityMeta{Scenario: "cap", Target: "the embedded server"}, res)
	return writeJSONFile(t, "cap.json", r)
}

// writeJSONFile writes r's JSON to a file named name in a new temporary
// directory and returns its path.
func writeJSONFile(t *testing.T, name string, r interface{ WriteJSON(io.Writer) error }) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
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
	claimed := writeCapacityReport(t, true, "p95(imap.SELECT) < 250ms")
	unclaimed := writeCapacityReport(t, false, "harness")
	no := false
	refuted := writeJSONFile(t, "refuted.json", report.NewCapacityReport(report.CapacityMeta{Scenario: "cap"},
		capacity.Result{Users: 120, LimitedBy: "error_rate < 1%", Confirmed: &no, Steps: []capacity.Step{{Users: 120, Pass: true}}}))
	costly := writeCostReport(t)
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
		{"no report", []string{"plan", "--users", "5"}, exitScenario, nil, "want a JSON report"},
		{"missing file", []string{"plan", filepath.Join(t.TempDir(), "none.json"), "--users", "5"}, exitScenario, nil, "no such file"},
		{"garbage", []string{"plan", garbage, "--users", "5"}, exitScenario, nil, "read json"},
		{"bad flag", []string{"plan", good, "--users", "many"}, exitScenario, nil, "invalid value"},
		{"help", []string{"plan", "--help"}, exitOK, nil, "Usage: mailsim plan"},
		{"old report, no mix", []string{"plan", good, "--users", "5"}, exitOK, []string{"from 10 to 5 users"}, "no cost per group"},
		// The run's mix: 40% pop, 60% imap. An imap user holds 2
		// connections all the time: 600 imap users hold 1200.
		{"run mix", []string{"plan", costly, "--users", "1000"}, exitOK,
			[]string{"projection by group cost to 1000 users", "60.0%", "40.0%", "commands imap: 100/s", "connections: 1211 open on average"}, ""},
		{"all imap", []string{"plan", costly, "--users", "1000", "--mix", "imap=100%"}, exitOK,
			[]string{"connections: 2000 open on average, at most 2000", "storage: not known per user"}, ""},
		{"mix of unknown group", []string{"plan", costly, "--users", "10", "--mix", "webmail=100%"}, exitScenario, nil, "no cost for group webmail"},
		// 100 users per server (the claim), 30% headroom: 70 planned; 1000
		// users need 15.
		{"servers from the claim", []string{"plan", claimed, "--users", "1000"}, exitOK,
			[]string{"servers for 1000 users: 15 (one holds 100 users, the SPECmail-style claim; planned at 70 with 30% headroom)"}, ""},
		{"servers from the capacity, harness-bound", []string{"plan", unclaimed, "--users", "1000", "--headroom", "0%"}, exitOK,
			[]string{"servers for 1000 users: 9 (one holds 120 users, the capacity found", "upper bound"}, ""},
		// The confirmation refuted every claim: smaller populations
		// than the capacity failed, and the plan says so.
		{"servers from the capacity, no claim held", []string{"plan", refuted, "--users", "1000", "--headroom", "0%"}, exitOK,
			[]string{"servers for 1000 users: 9 (one holds 120 users, the capacity found", "no SPECmail-style claim held", "may be too low"}, ""},
		{"run and capacity together", []string{"plan", good, claimed, "--users", "1000"}, exitOK,
			[]string{"from 10 to 1000 users", "servers for 1000 users: 15"}, ""},
		{"bad headroom", []string{"plan", claimed, "--users", "10", "--headroom", "100%"}, exitScenario, nil, "--headroom"},
		{"two capacity reports", []string{"plan", claimed, unclaimed, "--users", "10"}, exitScenario, nil, "two capacity reports"},
		{"mix not 100%", []string{"plan", costly, "--users", "10", "--mix", "imap=50%"}, exitScenario, nil, "add up to 50%"},
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
