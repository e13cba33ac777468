package report

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/capacity"
)

// TestCapacityServerResources: the server's resources of each step reach
// the JSON report (null, never 0, when unknown, with the reason), the
// summary, the step line and the HTML report's charts.
func TestCapacityServerResources(t *testing.T) {
	nan := math.NaN()
	exporter := func(cores, mem float64, reasons map[string]string) capacity.Resources {
		r := capacity.UnknownResources("exporter")
		r.URL, r.CPUCores, r.CPUSeries = "http://127.0.0.1:9100/metrics", cores, "process_cpu_seconds_total"
		r.MemoryMaxBytes, r.MemoryEndBytes, r.MemorySeries = mem, mem, "process_resident_memory_bytes"
		for k, v := range reasons {
			r.Reasons[k] = v
		}
		return r
	}
	embedded := capacity.UnknownResources("embedded")
	embedded.BusySecondsPerSecond, embedded.StoreBytes = 0.25, 3<<20
	embedded.Reasons["cpu_cores"] = "inside mailsim"

	for _, tt := range []struct {
		name      string
		steps     []capacity.Resources
		json      []string // fragments of the first step's "server"
		summary   []string
		noSummary []string
		charts    []string
		noCharts  []string
		firstCell string
	}{
		{
			name:      "exporter",
			steps:     []capacity.Resources{exporter(0.5, 64<<20, nil), exporter(1.25, 80<<20, nil)},
			json:      []string{`"source":"exporter"`, `"cpu_cores":0.5`, `"memory_max_bytes":6.7108864e+07`, `"busy_seconds_per_second":null`},
			summary:   []string{"server resources from the exporter http://127.0.0.1:9100/metrics", "0.5 cores, mem 64.0 MiB", "1.25 cores, mem 80.0 MiB"},
			charts:    []string{"Server CPU (cores) against users", "Server memory (largest sample, MiB) against users"},
			noCharts:  []string{"busy seconds per second against users"},
			firstCell: "0.5 cores, mem 64.0 MiB",
		},
		{
			name: "exporter down",
			steps: []capacity.Resources{exporter(nan, nan, map[string]string{"cpu_cores": "the scrape at the window's start failed: refused",
				"memory": "the scrape at the window's end failed: refused", "busy_seconds_per_second": "embedded only"})},
			json:      []string{`"cpu_cores":null`, `"memory_max_bytes":null`, `"memory_end_bytes":null`, `"cpu_cores":"the scrape at the window's start failed: refused"`},
			summary:   []string{"server cpu_cores unknown: the scrape at the window's start failed: refused", "server memory unknown: the scrape at the window's end failed"},
			noSummary: []string{"busy_seconds_per_second unknown"},
			noCharts:  []string{"Server CPU", "Server memory"},
			firstCell: "-",
		},
		{
			name:      "embedded",
			steps:     []capacity.Resources{embedded},
			json:      []string{`"source":"embedded"`, `"busy_seconds_per_second":0.25`, `"store_bytes":3.145728e+06`, `"cpu_cores":null`},
			summary:   []string{"server resources from the embedded server's own meters", "busy 0.25/s, store 3.0 MiB", "server cpu_cores unknown: inside mailsim"},
			charts:    []string{"Embedded server busy seconds per second against users"},
			noCharts:  []string{"Server CPU"},
			firstCell: "busy 0.25/s, store 3.0 MiB",
		},
		{
			name:      "not measured",
			steps:     []capacity.Resources{{}},
			json:      []string{`"source":"none"`, `"cpu_cores":null`, `"store_bytes":null`, `"cpu_cores":"not measured"`},
			summary:   []string{"server cpu_cores unknown: not measured"},
			noCharts:  []string{"Server CPU", "busy seconds"},
			firstCell: "-",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := capacity.Result{Users: 2, LimitedBy: "max_users"}
			for i, r := range tt.steps {
				res.Steps = append(res.Steps, capacity.Step{Users: 2 * (i + 1), Phase: "grow", Pass: true,
					Metrics: map[string]float64{"commands_per_second": 10}, Server: r})
			}
			rep := NewCapacityReport(CapacityMeta{Scenario: "s", QoS: []string{"error_rate < 1%"}}, res)
			var js bytes.Buffer
			if err := json.NewEncoder(&js).Encode(rep.Steps[0].Server); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.json {
				if !strings.Contains(js.String(), want) {
					t.Errorf("JSON %s lacks %s", js.String(), want)
				}
			}
			var sum strings.Builder
			if err := rep.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.summary {
				if !strings.Contains(sum.String(), want) {
					t.Errorf("summary lacks %q:\n%s", want, sum.String())
				}
			}
			for _, not := range tt.noSummary {
				if strings.Contains(sum.String(), not) {
					t.Errorf("summary has %q:\n%s", not, sum.String())
				}
			}
			if got := rep.Steps[0].Server.Cell(); got != tt.firstCell {
				t.Errorf("cell %q, want %q", got, tt.firstCell)
			}
			if line := StepLine(rep.Steps[0]); (tt.firstCell == "-") == strings.Contains(line, "server") {
				t.Errorf("step line %q with server cell %q", line, tt.firstCell)
			}
			var html bytes.Buffer
			if err := rep.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			for _, want := range append(tt.charts, "<th>server</th>") {
				if !strings.Contains(html.String(), want) {
					t.Errorf("HTML lacks %q", want)
				}
			}
			for _, not := range tt.noCharts {
				if strings.Contains(html.String(), not) {
					t.Errorf("HTML has %q", not)
				}
			}
			// The report reads back with the figures (null stays unknown).
			var buf bytes.Buffer
			if err := rep.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			back, err := ReadCapacityJSON(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := back.Steps[0].Server.Cell(), tt.firstCell; got != want {
				t.Errorf("read back: cell %q, want %q", got, want)
			}
		})
	}
}

// TestReadCapacityJSONWithoutServer: a report written before steps had a
// server block reads back with the server's figures unknown, not 0.
func TestReadCapacityJSONWithoutServer(t *testing.T) {
	old := `{"capacity": {"users": 4, "limited_by": "max_users"}, "steps": [{"users": 4, "pass": true, "commands_per_second": 12}]}`
	r, err := ReadCapacityJSON(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Steps[0].Server; s.Source != "none" || !s.CPUCores.Missing() || !s.StoreBytes.Missing() || s.Cell() != "-" {
		t.Errorf("server %+v, want unknown", s)
	}
}

// TestCapacitySummaryStoppedAndSmallClaim: a search stopped while bisecting
// keeps the step that failed and says where it stopped; a claim whose
// 80/100/120% are not distinct says so.
func TestCapacitySummaryStoppedAndSmallClaim(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		name string
		res  capacity.Result
		want []string
		not  []string
	}{
		{"stopped while bisecting", capacity.Result{Users: 4, LimitedBy: "error_rate < 1%", FirstFailing: 8, Stopped: true},
			[]string{"capacity: 4 users at least; at 8 users first broke: error_rate < 1% (the search was stopped while bisecting between 4 and 8)"},
			[]string{"before a step failed"}},
		{"small claim", capacity.Result{Users: 2, LimitedBy: "max_users", Claim: 1, Confirmed: &yes, ClaimSteps: []int{1}},
			[]string{"SPECmail-style claim: 1 users (QoS held at 1 users: 80%, 100% and 120% of it are not distinct)"},
			[]string{"QoS held at 80%"}},
		// The HTML read a refuted confirmation (confirmed false) as a
		// claim of 0 users that held.
		{"no claim held", capacity.Result{Users: 32, LimitedBy: "error_rate < 1%", FirstFailing: 35, Confirmed: &no},
			[]string{"SPECmail-style claim: none confirmed"}, []string{"claim: 0 users", "claim: <b>0 users", "QoS held at"}},
		{"full claim", capacity.Result{Users: 12, LimitedBy: "error_rate < 1%", FirstFailing: 13, Claim: 10, Confirmed: &yes, ClaimSteps: []int{8, 10, 12}},
			[]string{"capacity: 12 users; at 13 users first broke", "QoS held at 80%, 100% and 120% of it"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewCapacityReport(CapacityMeta{Scenario: "s", QoS: []string{"error_rate < 1%"}}, tt.res)
			var b bytes.Buffer
			if err := r.WriteSummary(&b); err != nil {
				t.Fatal(err)
			}
			var h bytes.Buffer
			if err := r.WriteHTML(&h); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("summary lacks %q:\n%s", w, b.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(b.String(), w) || strings.Contains(h.String(), w) {
					t.Errorf("summary or HTML has %q:\n%s", w, b.String())
				}
			}
		})
	}
}

// TestCapacityNoData: a QoS line that had no data at a step (no deliveries
// in its window) is shown as such, with its note, in the summary and the
// HTML report, and the answer says the step failed for lack of data, not
// that the line broke.
func TestCapacityNoData(t *testing.T) {
	const limited = "no data: delivery_failure_rate < 1% (no deliveries in the run)"
	res := capacity.Result{LimitedBy: limited, FirstFailing: 2, GrowthMode: "live", Steps: []capacity.Step{{
		Users: 2, Phase: "grow", FirstFailed: limited, Metrics: map[string]float64{},
		QoS: []capacity.QoSValue{{Expr: "error_rate < 1%", Value: 0, OK: true},
			{Expr: "delivery_failure_rate < 1%", Value: math.NaN(), Note: "no deliveries in the run"}},
		Server: capacity.UnknownResources("none"),
	}}}
	r := NewCapacityReport(CapacityMeta{Scenario: "s", QoS: []string{"error_rate < 1%", "delivery_failure_rate < 1%"}}, res)
	var sum, html bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"no data ✗", "qos 2 no data at 2 users: no deliveries in the run", "at 2 users first failed: " + limited} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if strings.Contains(sum.String(), "first broke") {
		t.Errorf("summary says a line without data broke:\n%s", sum.String())
	}
	if !strings.Contains(html.String(), "no data: no deliveries in the run") {
		t.Errorf("HTML lacks the line's note")
	}
}

// TestCapacityInvalidStep: a step that failed because its measurements
// were invalid, every QoS line holding, says why in the summary and the
// HTML report. Before, both showed FAIL beside values that all held, and
// the reason was only in the JSON (and on stderr while the search ran).
func TestCapacityInvalidStep(t *testing.T) {
	const why = "inbound mail fell behind: the p99 delivery waited 758ms wall"
	res := capacity.Result{Users: 32, LimitedBy: "invalid run: " + why, FirstFailing: 35, Steps: []capacity.Step{
		{Users: 32, Phase: "bisect", Pass: true, Metrics: map[string]float64{},
			QoS: []capacity.QoSValue{{Expr: "error_rate < 1%", Value: 0, OK: true}}},
		{Users: 35, Phase: "bisect", Invalid: []string{why}, Metrics: map[string]float64{},
			QoS: []capacity.QoSValue{{Expr: "error_rate < 1%", Value: 0, OK: true}}},
	}}
	r := NewCapacityReport(CapacityMeta{Scenario: "s", QoS: []string{"error_rate < 1%"}}, res)
	var sum, html bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if want := "invalid run at 35 users (bisect): " + why; !strings.Contains(sum.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, sum.String())
	}
	if strings.Contains(sum.String(), "invalid run at 32") {
		t.Errorf("summary calls the passing step invalid:\n%s", sum.String())
	}
	// The HTML's table (before its copy of the summary) gives the reason
	// in the step's row.
	table, _, _ := strings.Cut(html.String(), "<pre")
	if want := "FAIL</span><br>invalid run: " + why; !strings.Contains(table, want) {
		t.Errorf("HTML table lacks %q", want)
	}
}

// renderCapacity writes r's summary and HTML report.
func renderCapacity(t *testing.T, r *CapacityReport) (summary, html string) {
	t.Helper()
	var sum, h bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&h); err != nil {
		t.Fatal(err)
	}
	return sum.String(), h.String()
}

// TestCapacityHarnessLateness: the step table of the summary and of the
// HTML report shows the harness's own lateness (the arrival scheduler's,
// which --harness-max-late judges) beside its CPU, apart from the
// persons' lateness and labelled so. Before, the summary's only lateness
// column, "late p99", was the persons' (which includes waiting for the
// server and their writing time), and the HTML showed neither; the
// progress line on stderr (StepLine) showed neither lateness.
func TestCapacityHarnessLateness(t *testing.T) {
	for _, tt := range []struct {
		name    string
		metrics map[string]float64
		// want are the summary's cells by column, and the HTML table's
		// run of cells from the harness's CPU to the persons' lateness.
		want map[string]string
		html string
	}{
		{name: "both measured", metrics: map[string]float64{"harness_cpu": 0.05, "late_p99_s": 0.8, "arrivals_late_p99_s": 0.004},
			want: map[string]string{"harness cpu": "5.00%", "harness late p99": "4ms", "persons late p99": "800ms"},
			html: `<td class="num">5.00%</td><td class="num">4ms</td><td class="num">800ms</td>`},
		{name: "harness late past the persons'", metrics: map[string]float64{"harness_cpu": 0.95, "late_p99_s": 0.3, "arrivals_late_p99_s": 1.5},
			want: map[string]string{"harness cpu": "95.00%", "harness late p99": "1.5s", "persons late p99": "300ms"},
			html: `<td class="num">95.00%</td><td class="num">1.5s</td><td class="num">300ms</td>`},
		// A report of a mailsim that did not measure the arrivals: the
		// harness's lateness is unknown, not 0.
		{name: "older report", metrics: map[string]float64{"harness_cpu": 0.05, "late_p99_s": 0.8},
			want: map[string]string{"harness cpu": "5.00%", "harness late p99": "-", "persons late p99": "800ms"},
			html: `<td class="num">5.00%</td><td class="num">-</td><td class="num">800ms</td>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ms := map[string]float64{"commands_per_second": 10}
			for k, v := range tt.metrics {
				ms[k] = v
			}
			res := capacity.Result{Users: 2, LimitedBy: "max_users", Steps: []capacity.Step{{Users: 2, Phase: "grow", Pass: true, Metrics: ms,
				QoS: []capacity.QoSValue{{Expr: "error_rate < 1%", Value: 0, OK: true}}}}}
			r := NewCapacityReport(CapacityMeta{Scenario: "s", QoS: []string{"error_rate < 1%"}}, res)
			sum, html := renderCapacity(t, r)
			lines := strings.Split(sum, "\n")
			if len(lines) < 3 {
				t.Fatalf("summary:\n%s", sum)
			}
			cols := regexp.MustCompile(`\s{2,}`)
			header, row := cols.Split(strings.TrimSpace(lines[1]), -1), cols.Split(strings.TrimSpace(lines[2]), -1)
			cells := map[string]string{}
			for i, h := range header {
				if i < len(row) {
					cells[h] = row[i]
				}
			}
			for col, want := range tt.want {
				if got, ok := cells[col]; !ok || got != want {
					t.Errorf("summary column %q: %q (present %v), want %q:\n%s", col, got, ok, want, sum)
				}
			}
			if _, ok := cells["late p99"]; ok {
				t.Errorf("summary has an unlabelled \"late p99\" column:\n%s", sum)
			}
			if !strings.Contains(sum, "harness late p99: how late the harness handed inbound mail") {
				t.Errorf("summary does not tell the two latenesses apart:\n%s", sum)
			}
			table, _, _ := strings.Cut(html, "<pre")
			for _, want := range []string{">harness cpu</th>", ">harness late p99</th>", ">persons late p99</th>", tt.html} {
				if !strings.Contains(table, want) {
					t.Errorf("HTML table lacks %q", want)
				}
			}
			// The progress line on stderr shows both, with their units.
			want := "harness late p99 " + tt.want["harness late p99"] + ", persons late p99 " + tt.want["persons late p99"]
			if line := StepLine(r.Steps[0]); !strings.Contains(line, want) {
				t.Errorf("step line %q lacks %q", line, want)
			}
		})
	}
}

// TestCapacityStepNotes: the JSON report gives each step the notes that
// concern it (steps[].notes), the same strings as the top-level notes,
// which stay; a step no note concerns has no notes field.
func TestCapacityStepNotes(t *testing.T) {
	const line = "p95(imap.SELECT) < 250ms"
	step := func(sat, fail map[int]bool) capacity.StepFunc {
		return func(_ context.Context, users int) (capacity.Step, error) {
			st := capacity.Step{Pass: !fail[users], Metrics: map[string]float64{}}
			if fail[users] {
				st.FirstFailed = line
			}
			if sat[users] {
				st.Pass, st.HarnessSaturated, st.HarnessReasons = false, true, []string{"cpu"}
			}
			return st, nil
		}
	}
	for _, tt := range []struct {
		name string
		run  capacity.StepFunc
		o    capacity.Options
		want map[int]string // a fragment of each step's one note, by index
	}{
		{name: "harness saturated", run: step(map[int]bool{8: true}, nil), o: capacity.Options{Start: 2, Max: 100},
			// 2 4 8 (saturated) 8 (retry)
			want: map[int]string{3: "the harness was saturated at 8 users"}},
		{name: "first step failed", run: step(nil, map[int]bool{2: true}), o: capacity.Options{Start: 2, Max: 100},
			want: map[int]string{0: "the first step (2 users) failed: " + line}},
		{name: "no note", run: step(nil, map[int]bool{8: true}), o: capacity.Options{Start: 2, Max: 100, Resolution: 0.5},
			// 2 4 8, bisect 6
			want: map[int]string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := capacity.Search(context.Background(), tt.run, tt.o)
			r := NewCapacityReport(CapacityMeta{Scenario: "s", QoS: []string{line}}, res)
			var buf bytes.Buffer
			if err := r.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Notes []string `json:"notes"`
				Steps []struct {
					Users int             `json:"users"`
					Notes json.RawMessage `json:"notes"`
				} `json:"steps"`
			}
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for i, st := range got.Steps {
				want, ok := tt.want[i]
				if !ok {
					if st.Notes != nil {
						t.Errorf("step %d (%d users): notes %s, want none", i, st.Users, st.Notes)
					}
					continue
				}
				var notes []string
				if err := json.Unmarshal(st.Notes, &notes); err != nil || len(notes) != 1 || !strings.Contains(notes[0], want) || !slices.Contains(got.Notes, notes[0]) {
					t.Errorf("step %d (%d users): notes %s, want one like %q that is also a top-level note (%q)", i, st.Users, st.Notes, want, got.Notes)
				}
			}
			// The report reads back with them.
			back, err := ReadCapacityJSON(&buf)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tt.want {
				if n := back.Steps[i].Notes; len(n) != 1 || !strings.Contains(n[0], want) {
					t.Errorf("read back: step %d notes %q, want %q", i, n, want)
				}
			}
		})
	}
}

// kneeCapacityReport is a search like docs/capacity.md's worked example:
// three QoS lines, the embedded server's busy time and store per step,
// the devices' submissions per step but the last's (a step without them
// shows "-", as a report of an older mailsim).
func kneeCapacityReport() *CapacityReport {
	qos := []string{"p95(imap.SELECT) < 250ms", "error_rate < 1%", "delivery_failure_rate < 1%"}
	var steps []capacity.Step
	for i, u := range []int{2, 4, 8, 16, 12, 14, 15} {
		srv := capacity.UnknownResources("embedded")
		srv.BusySecondsPerSecond, srv.StoreBytes = 0.000531*float64(u*u*u), float64(25800*u)
		srv.Reasons["cpu_cores"] = "the embedded server runs inside mailsim: its CPU is not separable from the harness's"
		p95 := 0.02 * float64(u)
		steps = append(steps, capacity.Step{Users: u, Phase: map[bool]string{true: "grow", false: "bisect"}[i < 4], Live: i < 4, Pass: p95 < 0.25,
			QoS:     []capacity.QoSValue{{Expr: qos[0], Value: p95, OK: p95 < 0.25}, {Expr: qos[1], OK: true}, {Expr: qos[2], OK: true}},
			Metrics: map[string]float64{"commands_per_second": 6.8 * float64(u), "harness_cpu": 0.001 * float64(u), HarnessLateMetric: 0.001, PersonsLateMetric: 0.002 * float64(u)},
			Server:  srv})
		if i < 6 {
			m := steps[i].Metrics
			m[SubmissionsStartedMetric], m[SubmissionsFailedMetric], m[SubmissionsUnansweredMetric] = float64(3*u), float64(u/8), float64(u/16)
		}
	}
	res := capacity.Result{Users: 12, LimitedBy: qos[0], FirstFailing: 14, GrowthMode: "live", Steps: steps}
	return NewCapacityReport(CapacityMeta{Scenario: "knee", Seed: 3, Target: "the embedded server", QoS: qos}, res)
}

// TestCapacityHTMLStyle: the step table's phase and server cells do not
// wrap (the server cell, "busy 0.000531/s, store 25.2 KiB", had run to 3 or
// 4 lines, making every row tall), and the summary wraps its long lines
// rather than hide their ends behind a scroll bar. TestHTMLFitsInChromium
// checks the layout itself where Chromium is installed.
func TestCapacityHTMLStyle(t *testing.T) {
	_, h := renderCapacity(t, kneeCapacityReport())
	for _, want := range []string{`<td class="nowrap">grow (live)</td>`, `<td class="nowrap">busy 0.00425/s, store 50.4 KiB</td>`,
		"td.nowrap { white-space: nowrap; }", "white-space: pre-wrap;"} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if regexp.MustCompile(`body \{[^}]*max-width`).MatchString(h) {
		t.Error("the body has a max-width: the step table is squeezed to its widest word")
	}
}

// TestSubmissionsCell: the capacity step's submissions cell says how many
// of the unanswered awaited their reply at the run's end, which
// submission_failure_rate leaves out, so that "0+12 of 40" does not sit
// beside a rate of 0 unexplained (review B, 2026-12-05).
func TestSubmissionsCell(t *testing.T) {
	for _, tc := range []struct {
		metrics map[string]Num
		want    string
	}{
		{map[string]Num{"submissions_started": 40, "submissions_failed": 3, "submissions_unanswered": 1}, "3+1 of 40"},
		{map[string]Num{"submissions_started": 40, "submissions_failed": 0, "submissions_unanswered": 12, "submissions_unanswered_at_end": 12}, "0+12 (12 at the end) of 40"},
		{map[string]Num{"submissions_started": 40, "submissions_failed": 0, "submissions_unanswered": 1, "submissions_unanswered_at_end": 0}, "0+1 of 40"},
		{map[string]Num{"submissions_started": 40}, "-"},
	} {
		if got := (CapacityStep{Metrics: tc.metrics}).SubmissionsCell(); got != tc.want {
			t.Errorf("cell %q, want %q (metrics %v)", got, tc.want, tc.metrics)
		}
	}
}
