package main

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/metrics"
)

// TestStatusLine checks the live status line's fields from a snapshot:
// what failures cost (deliveries failed, submissions failed and
// unanswered, actions given up) is on it, zeros included, in the
// summary's words; dropped, abandoned and cut only when there are any;
// and it fits 160 columns with five-digit counts.
func TestStatusLine(t *testing.T) {
	totals := func(cmds, errs, dropped uint64) metrics.Totals {
		return metrics.Totals{Protocols: map[string]metrics.ProtocolTotals{
			"imap": {Commands: cmds, Errors: errs, Dropped: dropped},
			"smtp": {Commands: cmds, Errors: errs},
		}}
	}
	for _, tt := range []struct {
		name    string
		f       liveFigures
		want    []string
		wantNot []string
	}{
		{
			name: "a quiet run",
			f: liveFigures{st: engine.Status{Phase: engine.PhaseActive, Wall: 30 * time.Second, Simulated: 30 * time.Minute,
				UsersStarted: 6, Users: 6, Delivered: 133, Sent: 50, Actions: 128,
				Submissions: engine.SubmissionStats{Sent: 50}}, totals: totals(100, 0, 0), rate: 127, div: 0.545},
			want: []string{"active ", "wall 30s", "users 6  ", "cmds/s 127 errors 0", "delivered 133 failed 0",
				"sent 50 failed 0 unanswered 0", "given up 0", "divergence 0.545"},
			wantNot: []string{"dropped", "abandoned", "cut"},
		},
		{
			name: "a failing server",
			f: liveFigures{st: engine.Status{Phase: engine.PhaseSettle, Wall: time.Minute, Simulated: time.Hour,
				UsersStarted: 3, Users: 4, Delivered: 7, Sent: 2, Actions: 9, ActionsDropped: 4, ActionErrors: 11,
				DeliveriesFailed: 12, DeliveriesAbandoned: 3,
				Submissions: engine.SubmissionStats{Sent: 2, Failed: 5, Unanswered: 1, Cut: 2}}, totals: totals(50, 6, 2), div: 0.25},
			want: []string{"settle ", "wall 1m ", "users 3/4", "errors 12 dropped 2", "delivered 7 failed 12 abandoned 3",
				"sent 2 failed 5 unanswered 1 cut 2", "given up 4", "divergence 0.250"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			line := statusLine(tt.f)
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("line lacks %q:\n%s", w, line)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(line, w) {
					t.Errorf("line has %q:\n%s", w, line)
				}
			}
		})
	}
	t.Run("width", func(t *testing.T) {
		// A run of 10000 users for an hour and a half, whose server
		// fails: five-digit mail counts, four-digit command errors,
		// three-digit failures of the rest.
		f := liveFigures{st: engine.Status{Phase: engine.PhaseAudit, Wall: time.Hour + 30*time.Minute,
			UsersStarted: 10000, Users: 10000, Delivered: 99999, Sent: 99999, Actions: 99999, ActionsDropped: 999,
			DeliveriesFailed: 999, Submissions: engine.SubmissionStats{Failed: 999, Unanswered: 999}},
			totals: totals(99999, 2000, 0), rate: 2000, div: 0.5}
		if line := statusLine(f); len(line) > 160 {
			t.Errorf("line of %d columns, want at most 160:\n%s", len(line), line)
		}
	})
}

// progressFigures are the figures of a status line.
var progressFigures = []struct {
	name string
	re   *regexp.Regexp
	// report are the report's fields the groups of re give, in order.
	report []string
}{
	{"errors", regexp.MustCompile(`errors (\d+)`), []string{"load.errors"}},
	{"delivered", regexp.MustCompile(`delivered (\d+) failed (\d+)`), []string{"messages.delivered", "messages.delivery_failed"}},
	{"sent", regexp.MustCompile(`sent (\d+) failed (\d+) unanswered (\d+)`),
		[]string{"messages.sent", "messages.submissions.failed", "messages.submissions.unanswered"}},
	{"actions", regexp.MustCompile(`given up (\d+)`), []string{"actions.dropped"}},
}

// TestRunProgressLinesCarryTheFailures runs a scenario whose delivery
// server refuses every recipient (faketest's LMTP), its progress on a
// non-terminal: one line per phase, and a last one, before the summary,
// whose figures are the report's, failures included.
func TestRunProgressLinesCarryTheFailures(t *testing.T) {
	t.Parallel()
	spec, fake := refusingLMTP(t, "progress-refusing-lmtp")
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", writeScenario(t, spec.yaml()), "--report", js)
	if res.code != exitThresholds { // nothing delivered: an invalid run
		t.Fatalf("exit %d, want %d:\n%s", res.code, exitThresholds, res)
	}
	rep := readReport(t, js)
	var lines []string
	for _, l := range strings.Split(res.stderr, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.Contains(l, " wall ") && strings.Contains(l, " divergence ") {
			lines = append(lines, l)
		}
	}
	if len(lines) < 2 {
		t.Fatalf("%d progress lines, want one per phase and the last:\n%s", len(lines), res.stderr)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, string(engine.PhaseDone)+" ") {
		t.Errorf("the last progress line is not the run's end (%s):\n%s", engine.PhaseDone, res.stderr)
	}
	for _, pf := range progressFigures {
		m := pf.re.FindStringSubmatch(last)
		if m == nil {
			t.Errorf("the last progress line has no %s figures (%s):\n%s", pf.name, pf.re, last)
			continue
		}
		for i, path := range pf.report {
			got, _ := strconv.ParseFloat(m[i+1], 64)
			// messages.submissions is null when none was started.
			want := 0.0
			if _, ok := field(rep, path); ok || !strings.HasPrefix(path, "messages.submissions.") {
				want = num(t, rep, path)
			}
			if got != want {
				t.Errorf("the last progress line says %s %v, the report's %s %v:\n%s", pf.name, got, path, want, last)
			}
		}
	}
	// Its wall is the report's (not the engine's clock, which runs on
	// through the final audit's read).
	if want := "wall " + shortDuration(time.Duration(num(t, rep, "wall_seconds")*float64(time.Second))) + " "; !strings.Contains(last, want) {
		t.Errorf("the last progress line lacks %q, the report's wall_seconds:\n%s", want, last)
	}
	if num(t, rep, "messages.delivery_failed") == 0 {
		t.Errorf("no delivery failed: the fake LMTP server refused none (%d faults)", fake.Faults())
	}
}

// TestShortDuration: the status line's wall time drops only a zero
// seconds or minutes field, never a trailing zero digit of one that is not
// zero ("1m30s" read "1m3", mobile-heavy's settle line at 1m30s).
func TestShortDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{42 * time.Second, "42s"},
		{50 * time.Second, "50s"},
		{time.Minute, "1m"},
		{90 * time.Second, "1m30s"},
		{10*time.Minute + 20*time.Second, "10m20s"},
		{20 * time.Minute, "20m"},
		{time.Hour, "1h"},
		{time.Hour + 30*time.Minute, "1h30m"},
		{time.Hour + 10*time.Second, "1h0m10s"},
		{time.Hour + 30*time.Minute + 40*time.Second, "1h30m40s"},
		{2*time.Hour + 1500*time.Millisecond, "2h0m2s"},
	} {
		if got := shortDuration(tt.d); got != tt.want {
			t.Errorf("shortDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
