package report

import (
	"bytes"
	"encoding/json"
	"html"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/scenarios"
)

var start = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

func sampleResult() audit.Result {
	lags := func(s ...int) []time.Duration {
		var out []time.Duration
		for _, x := range s {
			out = append(out, time.Duration(x)*time.Second)
		}
		return out
	}
	office := audit.GroupResult{
		Divergence: audit.Divergence{Users: 2, ConvergedUsers: 0, Union: 20, Divergent: 12, ByDimension: audit.Dimensions{Presence: 8, Flags: 6}},
		Convergence: map[audit.ChangeKind]audit.KindResult{
			audit.Deliver: {Changes: 10, Converged: 8, Lags: lags(30, 60, 60, 120, 300, 600, 600, 900), Unconverged: map[audit.Reason]int{audit.ReasonDeletedFromServer: 2}},
			audit.Read:    {Changes: 6, Converged: 0, Unconverged: map[audit.Reason]int{audit.ReasonPOP3LocalOnly: 6}},
		},
		Delivered: 10, Sent: 1,
	}
	imap := audit.GroupResult{
		Divergence: audit.Divergence{Users: 2, ConvergedUsers: 2, Union: 20},
		Convergence: map[audit.ChangeKind]audit.KindResult{
			audit.Deliver: {Changes: 10, Converged: 10, Lags: lags(1, 1, 2, 2, 2, 3, 3, 4, 5, 40), Unconverged: map[audit.Reason]int{}},
		},
		Delivered: 10,
	}
	all := map[audit.ChangeKind]audit.KindResult{
		audit.Deliver: {Changes: 20, Converged: 18, Lags: lags(1, 1, 2, 2, 2, 3, 3, 4, 5, 30, 40, 60, 60, 120, 300, 600, 600, 900), Unconverged: map[audit.Reason]int{audit.ReasonDeletedFromServer: 2}},
		audit.Read:    office.Convergence[audit.Read],
	}
	return audit.Result{
		Users: 4, Devices: 10,
		Overall:     audit.Divergence{Users: 4, ConvergedUsers: 2, Union: 40, Divergent: 12, ByDimension: audit.Dimensions{Presence: 8, Flags: 6}},
		Groups:      map[string]audit.GroupResult{"pop3-office": office, "imap-everywhere": imap},
		Convergence: all,
		Delivered:   20, Sent: 1, ServerChecked: true,
	}
}

func mustThreshold(t *testing.T, expr string) scenarios.Threshold {
	t.Helper()
	th, err := scenarios.ParseThreshold(expr, nil)
	if err != nil {
		t.Fatalf("ParseThreshold(%q): %v", expr, err)
	}
	return th
}

func sampleInput(t *testing.T, exprs ...string) Input {
	tl := &Timeline{}
	for i := range 10 {
		tl.Add(Sample{
			At: time.Duration(i) * 10 * time.Second, Sim: time.Duration(i) * 10 * time.Minute,
			DivergenceByGroup: map[string]float64{"pop3-office": 0.1 * float64(i) / 2, "imap-everywhere": 0.3 / float64(i+1)},
			CommandsPerSec:    map[string]float64{"imap": 50 + float64(i), "pop3": 10, "smtp": 1},
			P99ByProtocol:     map[string]float64{"imap": 0.004, "pop3": 0.002 + 0.0001*float64(i), "smtp": 0.01},
			StoredMessages:    100 * i, StoredBytes: int64(100000 * i), Connections: 5 + i%3,
		})
	}
	in := Input{
		Scenario: "pop3-vs-imap", Seed: 7, Shard: "1/1", StartedAt: start,
		Wall: 100 * time.Second, Simulated: 100 * time.Minute, Users: 4, Devices: 10,
		DevicesByProfile: map[string]int{"pc-pop3": 2, "phone-imap": 4, "pc-imap": 2, "webmail": 2},
		Audit:            sampleResult(),
		Commands: map[string]map[string]CommandStat{
			"imap": {"FETCH": {Count: 1000, Errors: 2, P50: 0.001, P95: 0.003, P99: 0.0075}, "UID FETCH": {Count: 500, P50: 0.002, P95: 0.004, P99: 0.009}},
			"pop3": {"RETR": {Count: 200, Errors: 1, P50: 0.0005, P95: 0.001, P99: 0.002}},
			"smtp": {},
		},
		AuditorCommands: map[string]map[string]CommandStat{"imap": {"SELECT": {Count: 8, P50: 0.001, P95: 0.001, P99: 0.001}}},
		Bytes:           map[string]ByteStat{"imap": {In: 5 << 20, Out: 1 << 20}, "pop3": {In: 2 << 20, Out: 1 << 10}},
		Logins:          map[string]LoginStat{"imap": {OK: 20}, "pop3": {OK: 40, Failed: 1}},
		PeakConnections: 9, StoredMessages: 900, StoredBytes: 900000,
		Timeline:    tl,
		Actions:     Actions{Planned: 58, Done: 50, Failed: 3, Dropped: 2, Cut: 1, Pending: 5, Overdue: 2},
		Submissions: Submissions{Sent: 9, Failed: 1, Unanswered: 1, Cut: 2},
		Deliveries: DeliveryCounts{Attempted: 1000, Delivered: 995, Failed: map[string]int64{"4xx": 3, "refused": 2, "5xx": 0},
			Retries: 7, Abandoned: 5},
		DeviceProtocols: []string{"imap", "pop3", "imap"},
	}
	for _, e := range exprs {
		in.Thresholds = append(in.Thresholds, mustThreshold(t, e))
	}
	return in
}

// The JSON report has every field of its contract (docs/report.md, "The report").
func TestJSONContractKeys(t *testing.T) {
	r := Build(sampleInput(t, "lost_messages == 0"))
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	paths := []string{
		"scenario", "seed", "shard", "started_at", "wall_seconds", "simulated_seconds", "users", "devices",
		"messages.delivered", "messages.sent", "messages.lost",
		"commands.imap.FETCH.count", "commands.imap.FETCH.errors", "commands.imap.FETCH.p50_ms", "commands.imap.FETCH.p95_ms", "commands.imap.FETCH.p99_ms",
		"commands.pop3", "commands.smtp", "auditor_commands.imap.SELECT.count",
		"divergence.final.ratio", "divergence.final.divergent_messages", "divergence.final.users_converged_ratio",
		"divergence.final.by_dimension.presence", "divergence.final.by_dimension.folder", "divergence.final.by_dimension.flags",
		"divergence.by_group.pop3-office.ratio", "divergence.by_group.pop3-office.users_converged_ratio",
		"convergence.read.changes", "convergence.read.converged", "convergence.read.p50_s", "convergence.read.p99_s",
		"convergence.read.unconverged.pop3-local-only",
		"server.stored_messages", "server.stored_bytes", "server.peak_connections",
		"thresholds", "unconverged_examples", "groups.pop3-office.convergence.deliver.histogram", "load.error_rate", "timeline",
		"messages.delivery_attempted", "messages.delivery_failed", "messages.delivery_failed_by_reason.4xx",
		"messages.delivery_retries", "messages.delivery_abandoned", "messages.delivery_unknown", "messages.submissions.cut", "validity.enabled", "validity.ok", "validity.problems",
		"load.login_attempts", "load.login_failures",
	}
	for _, p := range paths {
		var cur any = doc
		for _, k := range strings.Split(p, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			if cur, ok = m[k]; !ok {
				t.Errorf("JSON report lacks %s", p)
				break
			}
		}
	}
	th := doc["thresholds"].([]any)[0].(map[string]any)
	for _, k := range []string{"expr", "ok", "value"} {
		if _, ok := th[k]; !ok {
			t.Errorf("threshold lacks %q", k)
		}
	}
	if got := doc["started_at"]; got != "2025-01-06T09:00:00Z" {
		t.Errorf("started_at = %v, want RFC 3339", got)
	}
	if got := doc["commands"].(map[string]any)["imap"].(map[string]any)["FETCH"].(map[string]any)["p99_ms"]; got != 7.5 {
		t.Errorf("imap FETCH p99_ms = %v, want 7.5", got)
	}
	if got := doc["convergence"].(map[string]any)["read"].(map[string]any)["p50_s"]; got != nil {
		t.Errorf("read p50_s = %v, want null (nothing converged)", got)
	}
}

func TestJSONEmptyInput(t *testing.T) {
	var buf bytes.Buffer
	if err := Build(Input{Scenario: "empty"}).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"pop3": {}`, `"smtp": {}`, `"thresholds": []`, `"convergence": {}`, `"auditor_commands": {}`, `"shard": "1/1"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON of an empty run lacks %s:\n%s", want, buf.String())
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := Build(sampleInput(t, "p99(imap.FETCH) < 5ms", "p99(smtp.DATA) < 1s"))
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := r.WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	if err := back.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("round trip changed the report:\n%s\n---\n%s", a.String(), b.String())
	}
	if _, err := ReadJSON(strings.NewReader("{}")); err == nil {
		t.Error("ReadJSON accepted an empty object")
	}
	if _, err := ReadJSON(strings.NewReader("not json")); err == nil {
		t.Error("ReadJSON accepted garbage")
	}
}

// TestErrorRatePending: commands still in flight at a capacity window's
// close (Input.Pending) count in the command stats, as samples of their
// age, but had no outcome yet: load.error_rate and the error_rate lines
// (per protocol too) leave them out of the denominator, where they
// lowered the rate of a step that stalled at its close.
func TestErrorRatePending(t *testing.T) {
	exprs := []string{"error_rate < 1%", "error_rate{protocol=pop3} < 1%", "error_rate{protocol=imap} < 1%"}
	for _, tt := range []struct {
		name                  string
		pending               map[string]uint64
		load, all, pop3, imap float64
	}{
		{"none", nil, (3.0 + 1) / (1700 + 61), (3.0 + 1) / (1700 + 61), (1.0 + 1) / (200 + 41), 2.0 / (1500 + 20)},
		{"pop3 stalled", map[string]uint64{"pop3": 100}, (3.0 + 1) / (1600 + 61), (3.0 + 1) / (1600 + 61), (1.0 + 1) / (100 + 41), 2.0 / (1500 + 20)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t, exprs...)
			in.Pending = tt.pending
			r := Build(in)
			if got := float64(r.Load.ErrorRate); math.Abs(got-tt.load) > 1e-9 {
				t.Errorf("load.error_rate %v, want %v", got, tt.load)
			}
			for i, want := range []float64{tt.all, tt.pop3, tt.imap} {
				if got := float64(r.Thresholds[i].Value); math.Abs(got-want) > 1e-9 {
					t.Errorf("%s: %v, want %v", exprs[i], got, want)
				}
			}
		})
	}
}

// TestErrorRateDropped: commands and logins the simulated network dropped
// (outcome dropped, a profile's disconnect_every) are no server's failure:
// error_rate and login_failure_rate leave them out, numerator and
// denominator, in a run's report, a capacity step's (with pending
// commands) and a merge of shards, while load.dropped, load.logins_dropped
// and each command's dropped show them.
func TestErrorRateDropped(t *testing.T) {
	exprs := []string{"error_rate < 1%", "error_rate{protocol=pop3} < 1%", "error_rate{protocol=imap} < 1%",
		"login_failure_rate{protocol=pop3} < 1%"}
	for _, tt := range []struct {
		name                  string
		pending               map[string]uint64
		load, all, pop3, imap float64
	}{
		{"run", nil, (3.0 + 1) / (1700 + 61), (3.0 + 1) / (1700 + 61), (1.0 + 1) / (200 + 41), 2.0 / (1500 + 20)},
		{"capacity step", map[string]uint64{"pop3": 100}, (3.0 + 1) / (1600 + 61), (3.0 + 1) / (1600 + 61), (1.0 + 1) / (100 + 41), 2.0 / (1500 + 20)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t, exprs...)
			in.Pending = tt.pending
			// The network dropped 30 pop3 commands (a LIST 20, a RETR
			// 10) and 5 pop3 logins, 7 IMAP IDLEs.
			in.Commands["pop3"]["LIST"] = CommandStat{Count: 20, Dropped: 20, P50: 0.001, P95: 0.001, P99: 0.001}
			retr := in.Commands["pop3"]["RETR"]
			retr.Count += 10
			retr.Dropped += 10
			in.Commands["pop3"]["RETR"] = retr
			in.Commands["imap"]["IDLE"] = CommandStat{Count: 7, Dropped: 7, P50: 0.001, P95: 0.001, P99: 0.001}
			in.Logins["pop3"] = LoginStat{OK: 40, Failed: 6, FailedBy: map[string]uint64{"auth": 1, "dropped": 5}}
			// The server closed 4 idle IMAP connections, which their
			// devices noticed before their next command: no failure of
			// the server's, no operation, left out of error_rate.
			imapLogins := in.Logins["imap"]
			imapLogins.ClosedIdle = 4
			in.Logins["imap"] = imapLogins
			r := Build(in)
			check := func(what string, r *Report, shards float64) {
				t.Helper()
				if got := float64(r.Load.ErrorRate); math.Abs(got-tt.load) > 1e-9 {
					t.Errorf("%s: load.error_rate %v, want %v", what, got, tt.load)
				}
				for i, want := range []float64{tt.all, tt.pop3, tt.imap, 1.0 / 41} {
					if got := float64(r.Thresholds[i].Value); math.Abs(got-want) > 1e-9 {
						t.Errorf("%s: %s: %v, want %v", what, exprs[i], got, want)
					}
				}
				if r.Load.Dropped != uint64(37*shards) || r.Load.LoginsDropped != uint64(5*shards) || r.Load.Errors != uint64(3*shards) {
					t.Errorf("%s: load dropped %d, logins dropped %d, errors %d; want %v, %v, %v", what,
						r.Load.Dropped, r.Load.LoginsDropped, r.Load.Errors, 37*shards, 5*shards, 3*shards)
				}
				if r.Load.ClosedIdle != uint64(4*shards) || r.Load.Logins["imap"].ClosedIdle != uint64(4*shards) {
					t.Errorf("%s: load closed_idle %d, imap's %d; want %v", what, r.Load.ClosedIdle, r.Load.Logins["imap"].ClosedIdle, 4*shards)
				}
				if c := r.Commands["pop3"]["RETR"]; c.Dropped != uint64(10*shards) || c.Errors != uint64(shards) {
					t.Errorf("%s: pop3 RETR dropped %d errors %d, want %v and %v", what, c.Dropped, c.Errors, 10*shards, shards)
				}
			}
			check("report", r, 1)
			note := "the simulated network (disconnect_every) dropped 37 commands (pop3 LIST 20, pop3 RETR 10, imap IDLE 7) and 5 logins under the clients"
			if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, note) }) {
				t.Errorf("notes %q, want one saying %q", r.Notes, note)
			}
			var sum strings.Builder
			if err := r.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sum.String(), "dropped by the simulated network 37;") || !strings.Contains(sum.String(), "failed 6 (5 dropped)") ||
				!strings.Contains(sum.String(), "; 4 idle connections the server closed") {
				t.Errorf("the summary does not show the drops:\n%s", sum.String())
			}
			if tt.pending != nil {
				return // a capacity step's report is not merged
			}
			a, b := Build(in), Build(in)
			a.Shard, b.Shard = "1/2", "2/2"
			m, err := Merge([]*Report{a, b})
			if err != nil {
				t.Fatal(err)
			}
			check("merged", m, 2)
		})
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
		want float64 // NaN for missing
	}{
		{"lost_messages == 0", true, 0},
		{"divergence_ratio{group=imap-everywhere} < 0.01", true, 0},
		{"divergence_ratio{group=pop3-office} < 50%", false, 0.6},
		{"divergence_ratio < 0.5", true, 0.3},
		{"users_converged_ratio{group=pop3-office} >= 0.5", false, 0},
		{"users_converged_ratio > 0.4", true, 0.5},
		{"divergence_ratio{group=nobody} < 1", false, math.NaN()},
		{"p99(imap.FETCH) < 500ms", true, 0.0075},
		{"p95(imap.UID_FETCH) <= 4ms", true, 0.004},
		{"p50(pop3.RETR) > 1ms", false, 0.0005},
		{"p99(smtp.DATA) < 1s", false, math.NaN()},
		// Failed commands and logins over commands and logins.
		{"error_rate < 1%", true, (3.0 + 1) / (1700 + 61)},
		{"error_rate{protocol=pop3} < 0.1%", false, (1.0 + 1) / (200 + 41)},
		{"error_rate{protocol=lmtp} < 1%", false, math.NaN()},
		{"login_failure_rate{protocol=pop3} < 1%", false, 1.0 / 41},
		{"login_failure_rate{protocol=imap} == 0", true, 0},
		{"login_failure_rate < 2%", true, 1.0 / 61},
		{"login_failure_rate{protocol=smtp} < 1%", false, math.NaN()},
		// Failed and abandoned over attempted and abandoned.
		{"delivery_failure_rate < 1%", true, 10.0 / 1005},
		{"delivery_failure_rate <= 0.5%", false, 10.0 / 1005},
		{"delivery_failed == 0", false, 5},
		{"delivery_failed{reason=4xx} <= 3", true, 3},
		{"delivery_failed{reason=timeout} == 0", true, 0},
		{"delivery_failed{reason=abandoned} == 0", false, 5},
		{"convergence_p99{change=deliver} < 10m", false, 900},
		{"convergence_p50{change=deliver} <= 5s", true, 5},
		{"convergence_p50{change=read} < 1h", false, math.NaN()},
		{"convergence_p99 < 1000", true, 900},
	}
	var exprs []string
	for _, tt := range tests {
		exprs = append(exprs, tt.expr)
	}
	r := Build(sampleInput(t, exprs...))
	for i, tt := range tests {
		got := r.Thresholds[i]
		if got.Expr != tt.expr || got.OK != tt.ok {
			t.Errorf("%s: ok = %v, want %v (value %v, note %q)", tt.expr, got.OK, tt.ok, got.Value, got.Note)
		}
		if math.IsNaN(tt.want) {
			if !got.Value.Missing() || got.Note == "" {
				t.Errorf("%s: value %v note %q, want missing with a note", tt.expr, got.Value, got.Note)
			}
			continue
		}
		if math.Abs(float64(got.Value)-tt.want) > 1e-9 {
			t.Errorf("%s: value = %v, want %v", tt.expr, got.Value, tt.want)
		}
	}
	failed := r.Failed()
	n := 0
	for _, tt := range tests {
		if !tt.ok {
			n++
		}
	}
	if len(failed) != n {
		t.Errorf("Failed() = %d thresholds, want %d", len(failed), n)
	}

	in := sampleInput(t, "lost_messages == 0")
	in.Audit.ServerChecked = false
	if r := Build(in); r.Thresholds[0].OK || !r.Thresholds[0].Value.Missing() {
		t.Errorf("lost_messages without a server check = %+v, want not ok", r.Thresholds[0])
	}
	in = sampleInput(t, "lost_messages == 0")
	in.Audit.UsersUnchecked = 1
	if r := Build(in); r.Thresholds[0].OK || !r.Thresholds[0].Value.Missing() || !strings.Contains(r.Thresholds[0].Note, "1 users") {
		t.Errorf("lost_messages with a user unchecked = %+v, want not ok", r.Thresholds[0])
	}
}

// TestUsersUnchecked: users whose server state was not read are counted in
// the JSON report and said in the summary and the HTML.
func TestUsersUnchecked(t *testing.T) {
	for _, tt := range []struct {
		name      string
		checked   bool
		unchecked int
		wantLost  string
	}{
		{"all read", true, 0, "lost 0\n"},
		{"one unread", true, 1, "lost 0 (1 of 4 users not checked)"},
		{"none read", false, 4, "lost not checked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			in.Audit.ServerChecked, in.Audit.UsersUnchecked = tt.checked, tt.unchecked
			const why = "the read was aborted by a second ^C or SIGTERM: context canceled"
			if tt.unchecked > 0 {
				in.StateUnread = why
			}
			r := Build(in)
			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Messages struct {
					UsersUnchecked *int `json:"users_unchecked"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(js.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			if got.Messages.UsersUnchecked == nil || *got.Messages.UsersUnchecked != tt.unchecked {
				t.Errorf("messages.users_unchecked = %v, want %d", got.Messages.UsersUnchecked, tt.unchecked)
			}
			var sum bytes.Buffer
			if err := r.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sum.String(), tt.wantLost) {
				t.Errorf("summary lacks %q:\n%s", tt.wantLost, sum.String())
			}
			var html bytes.Buffer
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			if tt.unchecked > 0 && tt.checked && !strings.Contains(html.String(), "(1 of 4 users not checked)") {
				t.Error("the HTML report does not say users were not checked")
			}
			// Why they were not read is said too (it was on stderr only).
			if tt.unchecked > 0 {
				for name, out := range map[string]string{"JSON": js.String(), "summary": sum.String(), "HTML": html.String()} {
					if !strings.Contains(out, "aborted by a second ^C or SIGTERM") {
						t.Errorf("the %s report does not say why the state was not read", name)
					}
				}
			}
		})
	}
}

func TestSummary(t *testing.T) {
	r := Build(sampleInput(t, "lost_messages == 0", "p99(smtp.DATA) < 1s"))
	var buf bytes.Buffer
	if err := r.WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"pop3-office", "imap-everywhere", "0.600", "pop3-local-only=6", "deleted-from-server=2",
		"UID FETCH", "7.5", "peak connections 9", "ok    lost_messages == 0", "FAIL  p99(smtp.DATA) < 1s",
		"no smtp DATA commands", "15m0s", "auditor commands", "actions 58 planned = 50 done + 2 given up + 1 cut under way + 5 pending at the end of the run (2 overdue); 3 failed tries",
		"deliveries (per recipient): 1000 attempted, 995 delivered, 5 failed (4xx 3, refused 2), 7 retries, 5 abandoned",
		"validity: ok", "logins 61, failed 1; error rate 0.23%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if err := r.WriteSummary(failWriter{}); err == nil {
		t.Error("WriteSummary to a failing writer returned nil")
	}
}

// TestSummaryLagsBounded checks that the convergence table says how many
// of a kind's lags are bounds (Convergence.LagsBounded), and says nothing
// when none is.
func TestSummaryLagsBounded(t *testing.T) {
	for _, tt := range []struct {
		bounded int
		want    string
	}{
		{3, "(3 of the lags bounds)"},
		{0, ""},
	} {
		var buf bytes.Buffer
		writeConvergence(&buf, "all", map[string]Convergence{"read": {Changes: 10, Converged: 8, LagsBounded: tt.bounded}})
		out := buf.String()
		if tt.want != "" && !strings.Contains(out, tt.want) {
			t.Errorf("%d bounded: %q lacks %q", tt.bounded, out, tt.want)
		}
		if tt.want == "" && strings.Contains(out, "bounds") {
			t.Errorf("no lag bounded: %q speaks of bounds", out)
		}
	}
}

// TestValidity checks when a run's own measurements are invalid: more than
// 1% of the injected deliveries not delivered, or no successful login for a
// protocol the devices use; and that validity_checks: false reports the
// problems without failing the run.
func TestValidity(t *testing.T) {
	tests := []struct {
		name   string
		tweak  func(*Input)
		want   []string // problems, by fragment; nil: valid
		enable bool
	}{
		{"sample", func(*Input) {}, nil, true},
		{"exactly 1% not delivered", func(in *Input) {
			in.Deliveries = DeliveryCounts{Attempted: 1000, Delivered: 990, Failed: map[string]int64{"4xx": 10}}
		}, nil, true},
		{"more than 1% failed", func(in *Input) {
			in.Deliveries = DeliveryCounts{Attempted: 1000, Delivered: 989, Failed: map[string]int64{"4xx": 10, "timeout": 1}}
		}, []string{"11 of 1000 deliveries (1.1%) were not delivered (4xx 10, timeout 1): more than 1% of the injected mail"}, true},
		{"abandoned count as not delivered", func(in *Input) {
			in.Deliveries = DeliveryCounts{Attempted: 10, Delivered: 10, Abandoned: 30}
		}, []string{"30 of 40 deliveries (75.0%) were not delivered (abandoned 30)"}, true},
		{"every delivery refused", func(in *Input) {
			in.Deliveries = DeliveryCounts{Attempted: 292, Failed: map[string]int64{"refused": 292}}
		}, []string{"292 of 292 deliveries (100.0%)"}, true},
		{"no successful pop3 login", func(in *Input) { in.Logins["pop3"] = LoginStat{Failed: 5} },
			[]string{"no successful pop3 login: all 5 attempts failed"}, true},
		{"no imap login at all", func(in *Input) { delete(in.Logins, "imap") },
			[]string{"no imap login was attempted"}, true},
		{"injector logins do not count", func(in *Input) { in.Logins["lmtp"] = LoginStat{Failed: 5} }, nil, true},
		{"checks off", func(in *Input) {
			in.ValidityChecksOff = true
			in.Logins["pop3"] = LoginStat{Failed: 5}
		}, []string{"no successful pop3 login"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			tt.tweak(&in)
			r := Build(in)
			v := r.Validity
			if v.Enabled != tt.enable || v.OK != (tt.want == nil) || len(v.Problems) != len(tt.want) {
				t.Fatalf("validity %+v, want enabled %v and problems %q", v, tt.enable, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(v.Problems[i], w) {
					t.Errorf("problem %q lacks %q", v.Problems[i], w)
				}
			}
			if r.Valid() != (tt.want == nil || !tt.enable) {
				t.Errorf("Valid() = %v", r.Valid())
			}
			var sum, html bytes.Buffer
			if err := r.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(sum.String(), w) || !strings.Contains(html.String(), w) {
					t.Errorf("summary or HTML lacks the problem %q", w)
				}
			}
			if tt.want != nil && tt.enable && !strings.Contains(sum.String(), "validity: INVALID run") {
				t.Errorf("summary does not say the run is invalid:\n%s", sum.String())
			}
			if !tt.enable && !strings.Contains(sum.String(), "checks off (validity_checks: false)") {
				t.Errorf("summary does not say the checks are off:\n%s", sum.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, bytes.ErrTooLarge }

func TestTimelineBounded(t *testing.T) {
	tl := &Timeline{Max: 100}
	for i := range 1000 {
		tl.Add(Sample{At: time.Duration(i) * time.Second})
	}
	s := tl.jsonSamples()
	if len(s) > 100 || len(s) < 50 {
		t.Fatalf("kept %d samples, want 50..100", len(s))
	}
	if s[0].WallSeconds != 0 || s[len(s)-1].WallSeconds < 900 {
		t.Errorf("samples span %v..%v s, want the whole run", s[0].WallSeconds, s[len(s)-1].WallSeconds)
	}
	for i := 1; i < len(s); i++ {
		if s[i].WallSeconds <= s[i-1].WallSeconds {
			t.Fatalf("samples out of order at %d", i)
		}
	}
}

// TestActions: the report accounts for every action the people planned
// (planned = done + given up + cut + pending; failed tries apart), in the
// JSON report, on the summary's line and in the HTML report; when the
// parts do not add up to planned (a report from before 2026-12-04, or a
// merge with one), the line says so instead of the equation; a merge sums
// each count.
func TestActions(t *testing.T) {
	in := sampleInput(t)
	r := roundTrip(t, Build(in))
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Actions map[string]int64 `json:"actions"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int64{"planned": 58, "done": 50, "failed": 3, "dropped": 2, "cut": 1, "pending": 5, "overdue": 2}; !maps.Equal(got.Actions, want) {
		t.Errorf("actions %v, want %v", got.Actions, want)
	}
	line := "actions 58 planned = 50 done + 2 given up + 1 cut under way + 5 pending at the end of the run (2 overdue); 3 failed tries"
	buf.Reset()
	if err := r.WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), line+"\n") {
		t.Errorf("summary lacks %q:\n%s", line, buf.String())
	}
	buf.Reset()
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if want := "<p>People's " + line + ".</p>"; !strings.Contains(html.UnescapeString(buf.String()), want) {
		t.Errorf("HTML report lacks %q", want)
	}

	in.Shard = "1/2"
	one := roundTrip(t, Build(in))
	in.Shard = "2/2"
	two := roundTrip(t, Build(in))
	in.Actions = Actions{Done: 7, Failed: 1, Dropped: 1} // an older mailsim's: no planned, cut, pending
	old := roundTrip(t, Build(in))
	for _, tt := range []struct {
		name   string
		shards []*Report
		want   Actions
		line   string
	}{
		{"two shards", []*Report{one, two}, Actions{Planned: 116, Done: 100, Failed: 6, Dropped: 4, Cut: 2, Pending: 10, Overdue: 4},
			"actions 116 planned = 100 done + 4 given up + 2 cut under way + 10 pending at the end of the run (4 overdue); 6 failed tries"},
		{"with an older shard", []*Report{one, old}, Actions{Planned: 58, Done: 57, Failed: 4, Dropped: 3, Cut: 1, Pending: 5, Overdue: 2},
			"actions 57 done, 4 failed tries, 3 given up, 1 cut under way, 5 pending at the end of the run (58 planned, not their sum 66: counted by mailsim from 2026-12-04 on, and a merge with an older shard's report adds none)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Merge(tt.shards)
			if err != nil {
				t.Fatal(err)
			}
			if m.Actions != tt.want {
				t.Errorf("merged %+v, want %+v", m.Actions, tt.want)
			}
			if got := m.Actions.Summary(); got != tt.line {
				t.Errorf("line %q, want %q", got, tt.line)
			}
		})
	}
}

// TestSettleOutcome: how settle ended is in the JSON report and the
// summary.
func TestSettleOutcome(t *testing.T) {
	for _, tt := range []struct {
		st   Settle
		want string
	}{
		{Settle{Until: "synced", MaxSeconds: 30, WallSeconds: 4.2, Ended: "synced"}, "settle 4.2 s of at most 30.0 s (until synced): every device had synced"},
		{Settle{Until: "synced", MaxSeconds: 30, WallSeconds: 30, Ended: "max", ChangesWaiting: 3}, "3 changes still waiting"},
		{Settle{Until: "timer", MaxSeconds: 10, WallSeconds: 10, Ended: "timer"}, "(until timer): ended by its timer"},
	} {
		in := sampleInput(t)
		in.Settle = tt.st
		r := Build(in)
		var sum, js bytes.Buffer
		if err := r.WriteSummary(&sum); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sum.String(), tt.want) {
			t.Errorf("summary lacks %q:\n%s", tt.want, sum.String())
		}
		if err := r.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Settle Settle `json:"settle"`
		}
		if err := json.Unmarshal(js.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if got.Settle != tt.st {
			t.Errorf("JSON settle = %+v, want %+v", got.Settle, tt.st)
		}
	}
}

// TestFailedNote: every failed command is named with its outcomes, in the
// JSON (each command's errors_by) and in a note of the summary, and a merge
// of shards adds them; a run without failures has no such note.
func TestFailedNote(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmds map[string]map[string]CommandStat
		note string // "" for none
	}{
		{"none failed", map[string]map[string]CommandStat{"imap": {"FETCH": {Count: 10, P50: 0.001, P95: 0.001, P99: 0.001}}}, ""},
		{"outcomes named", map[string]map[string]CommandStat{
			"imap": {
				"UID FETCH": {Count: 10, Errors: 2, ErrorsBy: map[string]uint64{"timeout": 2}, P50: 0.001, P95: 0.001, P99: 0.001},
				"SELECT":    {Count: 10, Errors: 3, ErrorsBy: map[string]uint64{"no": 1, "error": 2}, P50: 0.001, P95: 0.001, P99: 0.001},
			},
			"lmtp": {"DATA": {Count: 4, Errors: 2, ErrorsBy: map[string]uint64{"no": 2}, P50: 0.001, P95: 0.001, P99: 0.001}},
		}, "7 commands failed: imap SELECT 3 (error 2, no 1), imap UID FETCH 2 (timeout 2), lmtp DATA 2 (no 2)"},
		{"more than five", map[string]map[string]CommandStat{"imap": {
			"A": {Count: 9, Errors: 6, ErrorsBy: map[string]uint64{"bad": 6}}, "B": {Count: 9, Errors: 5, ErrorsBy: map[string]uint64{"bad": 5}},
			"C": {Count: 9, Errors: 4, ErrorsBy: map[string]uint64{"bad": 4}}, "D": {Count: 9, Errors: 3, ErrorsBy: map[string]uint64{"bad": 3}},
			"E": {Count: 9, Errors: 2, ErrorsBy: map[string]uint64{"bad": 2}}, "F": {Count: 9, Errors: 1, ErrorsBy: map[string]uint64{"bad": 1}},
			"G": {Count: 9, Errors: 1, ErrorsBy: map[string]uint64{"bad": 1}},
		}}, "22 commands failed: imap A 6 (bad 6), imap B 5 (bad 5), imap C 4 (bad 4), imap D 3 (bad 3), imap E 2 (bad 2), 2 more across 2 other commands"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			in.Commands = tt.cmds
			r := Build(in)
			has := func(r *Report, note string) bool {
				return slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, note) })
			}
			if tt.note == "" {
				if slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "commands failed") }) {
					t.Errorf("notes %q name failed commands, none failed", r.Notes)
				}
				return
			}
			if !has(r, tt.note) {
				t.Errorf("notes %q, want one starting %q", r.Notes, tt.note)
			}
			var sum strings.Builder
			if err := r.WriteSummary(&sum); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sum.String(), tt.note) {
				t.Errorf("the summary does not name the failures:\n%s", sum.String())
			}
			for p, m := range tt.cmds {
				for c, s := range m {
					if got := roundTrip(t, Build(in)).Commands[p][c].ErrorsBy; !maps.Equal(got, s.ErrorsBy) {
						t.Errorf("%s %s errors_by %v, want %v", p, c, got, s.ErrorsBy)
					}
				}
			}
			a, b := Build(in), Build(in)
			a.Shard, b.Shard = "1/2", "2/2"
			m, err := Merge([]*Report{a, b})
			if err != nil {
				t.Fatal(err)
			}
			for p, cmds := range tt.cmds {
				for c, s := range cmds {
					for o, n := range s.ErrorsBy {
						if got := m.Commands[p][c].ErrorsBy[o]; got != 2*n {
							t.Errorf("merged %s %s errors_by[%s] %d, want %d", p, c, o, got, 2*n)
						}
					}
					if got := a.Commands[p][c].ErrorsBy; !maps.Equal(got, s.ErrorsBy) {
						t.Errorf("the merge changed a shard's %s %s errors_by: %v", p, c, got)
					}
				}
			}
		})
	}
}

// TestSubmissions: messages.submissions accounts for every submission the
// devices started (started = sent + failed + unanswered + cut, whatever
// the input's Started says; of the unanswered, those at the run's end
// apart), in the JSON report, on a line of the summary
// and in the HTML report; null when none was started; summed by a merge,
// a shard without it (none started, or a report from before it) adding
// nothing.
func TestSubmissions(t *testing.T) {
	in := sampleInput(t)
	in.Submissions.Started = 1000 // ignored: the sum is the count
	in.Submissions.UnansweredAtEnd = 1
	r := roundTrip(t, Build(in))
	want := Submissions{Started: 13, Sent: 9, Failed: 1, Unanswered: 1, UnansweredAtEnd: 1, Cut: 2}
	if r.Messages.Submissions == nil || *r.Messages.Submissions != want {
		t.Fatalf("submissions %+v, want %+v", r.Messages.Submissions, want)
	}
	var buf bytes.Buffer
	if err := r.WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	if line := "submissions (devices' sends, replies, forwards; each try): 13 started = 9 sent + 1 failed + 1 unanswered (1 at the run's end) + 2 cut by the end of the run"; !strings.Contains(buf.String(), line) {
		t.Errorf("summary lacks %q:\n%s", line, buf.String())
	}
	buf.Reset()
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	if html := `13 started = 9 sent + <b class="fail">1 failed</b> + 1 unanswered (1 at the run&#39;s end) + 2 cut by the end of the run`; !strings.Contains(buf.String(), html) {
		t.Errorf("HTML report lacks %q", html)
	}

	in.Shard = "1/2"
	one := roundTrip(t, Build(in))
	in.Shard = "2/2"
	in.Submissions = Submissions{}
	none := roundTrip(t, Build(in))
	none.Messages.Sent = 0 // a shard that started no submission sent nothing
	if none.Messages.Submissions != nil {
		t.Errorf("submissions %+v with none started, want null", none.Messages.Submissions)
	}
	in.Submissions = Submissions{Cut: 1}
	cut := roundTrip(t, Build(in))
	for _, tt := range []struct {
		shards []*Report
		want   Submissions
	}{
		{[]*Report{one, none}, want},
		{[]*Report{none, one}, want},
		{[]*Report{one, cut}, Submissions{Started: 14, Sent: 9, Failed: 1, Unanswered: 1, UnansweredAtEnd: 1, Cut: 3}},
	} {
		m, err := Merge(tt.shards)
		if err != nil {
			t.Fatal(err)
		}
		if m.Messages.Submissions == nil || *m.Messages.Submissions != tt.want {
			t.Errorf("merged %+v, want %+v", m.Messages.Submissions, tt.want)
		}
		for _, n := range m.Notes {
			if strings.Contains(n, "messages.submissions") {
				t.Errorf("note %q with every shard counting submissions", n)
			}
		}
	}
	// A shard of an older mailsim sent mail and counted no submission:
	// the merge's figure leaves it out and says so.
	older := roundTrip(t, Build(in))
	older.Messages.Submissions = nil
	m, err := Merge([]*Report{one, older})
	if err != nil {
		t.Fatal(err)
	}
	if m.Messages.Submissions == nil || *m.Messages.Submissions != want {
		t.Errorf("merged with an older shard: submissions %+v, want %+v", m.Messages.Submissions, want)
	}
	if note := "messages.submissions leaves out 1 of 2 shards"; !slices.ContainsFunc(m.Notes, func(n string) bool { return strings.HasPrefix(n, note) }) {
		t.Errorf("notes %q lack %q", m.Notes, note)
	}
}

// Deliveries of unknown fate are sorted by the audit's look for them
// (audit.Unanswered): the injector's that failed unknown are
// messages.delivery_unknown in the JSON report, shown beside the reason
// in the summary; those of the devices' submissions whose reply never came
// (audit.Result.SubmissionUnanswered) are messages.submission_unknown,
// apart (delivery_unknown adds up to the injector's failed deliveries),
// on a line of their own in the summary. Each is null when there are
// none, in the HTML report too, and summed by a merge.
func TestDeliveryUnknown(t *testing.T) {
	for _, tt := range []struct {
		name string
		// set gives the audit's counts to in; field is what the report
		// made of them, other the other kind's.
		set          func(in *Input, u audit.Unanswered)
		field, other func(m Messages) *DeliveryUnknown
		summary      string // of {Stored: 1, NotStored: 2}
		html         string
	}{
		{"injector", func(in *Input, u audit.Unanswered) {
			in.Deliveries.Failed["unknown"] = int64(u.Stored + u.NotStored + u.Unchecked)
			in.Audit.Unanswered = u
		}, func(m Messages) *DeliveryUnknown { return m.DeliveryUnknown }, func(m Messages) *DeliveryUnknown { return m.SubmissionUnknown },
			"unknown 3 [on the server after all 1, not 2, unchecked 0]",
			"that failed unknown (no reply after the message data): 1 on the server after all, 2 not, 0 unchecked"},
		{"submissions", func(in *Input, u audit.Unanswered) { in.Audit.SubmissionUnanswered = u },
			func(m Messages) *DeliveryUnknown { return m.SubmissionUnknown }, func(m Messages) *DeliveryUnknown { return m.DeliveryUnknown },
			"submissions without a reply after the message data (per recipient): 3 [on the server after all 1, not 2, unchecked 0]",
			"Devices' submissions without a reply after the message data (per recipient): 1 on the server after all, 2 not, 0 unchecked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t)
			if r := Build(in); tt.field(r.Messages) != nil {
				t.Errorf("%+v with no delivery of unknown fate, want null", tt.field(r.Messages))
			}
			tt.set(&in, audit.Unanswered{Stored: 1, NotStored: 2})
			r := roundTrip(t, Build(in))
			if want := (DeliveryUnknown{Stored: 1, NotStored: 2}); tt.field(r.Messages) == nil || *tt.field(r.Messages) != want || tt.other(r.Messages) != nil {
				t.Errorf("%+v, the other kind's %+v; want %+v, null", tt.field(r.Messages), tt.other(r.Messages), want)
			}
			var buf bytes.Buffer
			if err := r.WriteSummary(&buf); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tt.summary) {
				t.Errorf("summary lacks %q:\n%s", tt.summary, buf.String())
			}
			buf.Reset()
			if err := r.WriteHTML(&buf); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tt.html) {
				t.Errorf("HTML report lacks %q", tt.html)
			}
			in.Shard = "1/2"
			one := roundTrip(t, Build(in))
			in.Shard = "2/2"
			tt.set(&in, audit.Unanswered{Unchecked: 1})
			m, err := Merge([]*Report{one, roundTrip(t, Build(in))})
			if err != nil {
				t.Fatal(err)
			}
			if want := (DeliveryUnknown{Stored: 1, NotStored: 2, Unchecked: 1}); tt.field(m.Messages) == nil || *tt.field(m.Messages) != want {
				t.Errorf("merged %+v, want %+v", tt.field(m.Messages), want)
			}
		})
	}
}

// TestSubmissionFailureRate: the devices' submissions that failed or got
// no reply over those started, less those the run's end cut or came to
// while their device waited for the reply (in neither figure); no data
// when none was started but those.
func TestSubmissionFailureRate(t *testing.T) {
	const expr = "submission_failure_rate < 10%"
	for _, tt := range []struct {
		name string
		sub  Submissions
		ok   bool
		want float64 // NaN: no data
	}{
		{"healthy", Submissions{Sent: 99, Failed: 1}, true, 0.01},
		{"collapsed", Submissions{Sent: 4, Failed: 8, Unanswered: 2, Cut: 6}, false, 10.0 / 14},
		{"only cut", Submissions{Cut: 3}, false, math.NaN()},
		// A reply the run's end left unanswered is in neither figure
		// (0.1 before 2026-12-05) when it does not decide the line...
		{"unanswered at the end", Submissions{Sent: 98, Unanswered: 1, UnansweredAtEnd: 1}, true, 0},
		{"unanswered before and at the end", Submissions{Sent: 8, Failed: 1, Unanswered: 3, UnansweredAtEnd: 1}, false, 3.0 / 11},
		// ... and the line is undecided when it does: a server that
		// stopped answering near the end passed with them left out
		// (review B).
		{"deciding at the end", Submissions{Sent: 9, Unanswered: 1, UnansweredAtEnd: 1}, false, math.NaN()},
		{"a stall at the end", Submissions{Sent: 20, Unanswered: 12, UnansweredAtEnd: 12}, false, math.NaN()},
		{"only unanswered at the end", Submissions{Unanswered: 2, UnansweredAtEnd: 2, Cut: 1}, false, math.NaN()},
		{"none", Submissions{}, false, math.NaN()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t, expr)
			in.Submissions = tt.sub
			got := Build(in).Thresholds[0]
			if got.OK != tt.ok {
				t.Errorf("ok %v, want %v (value %v, note %q)", got.OK, tt.ok, got.Value, got.Note)
			}
			switch {
			case math.IsNaN(tt.want):
				if !got.Value.Missing() || got.Note == "" {
					t.Errorf("value %v note %q, want no data with a note", got.Value, got.Note)
				}
			case math.Abs(float64(got.Value)-tt.want) > 1e-9:
				t.Errorf("value %v, want %v", got.Value, tt.want)
			}
		})
	}
}

// TestAlertNoteWithoutFileNotification: Courier without FAM or Gamin
// answers IDLE's DONE only after its 1.2 s wait too, past the stop's
// default grace of 1 s: the note says what the IDLE timeouts at the run's
// end are and how to avoid them (a pop3-vs-imap run against such a
// Courier ended with "imap IDLE 19 (timeout 19)" and nothing said why).
func TestAlertNoteWithoutFileNotification(t *testing.T) {
	n := AlertNote("Filesystem notification initialization error -- contact your mail administrator (check for configuration errors with the FAM/Gamin library)")
	for _, want := range []string{"waits about 1.2 s", "IDLE's DONE", "stop_grace"} {
		if !strings.Contains(n, want) {
			t.Errorf("note lacks %q: %s", want, n)
		}
	}
	if n := AlertNote("System going down at 5pm"); strings.Contains(n, "stop_grace") {
		t.Errorf("another alert's note speaks of the notification library: %s", n)
	}
}

// TestBehindNote checks the note on people who fell behind the scenario's
// pace: absent at the shipped scenarios' shares of pending actions, said
// with the actions' lateness when more than a quarter were pending (the
// hunt on a loaded Cyrus left 4,488 of 7,551 pending, and no figure of the
// report said the scenario's pace was not kept).
func TestBehindNote(t *testing.T) {
	late := &Harness{LateP99ms: 41_000}
	for _, tc := range []struct {
		name string
		a    Actions
		h    *Harness
		want string // a part of the note; "" for none
	}{
		{"a kept pace", Actions{Planned: 659, Done: 650, Cut: 1, Pending: 8, Overdue: 2}, late, ""},
		{"quickstart's end", Actions{Planned: 103, Done: 92, Cut: 1, Pending: 10, Overdue: 1}, late, ""},
		{"a long action_delay", Actions{Planned: 92, Done: 44, Pending: 48, Overdue: 3}, late, ""},
		{"at the share", Actions{Planned: 100, Done: 75, Pending: 25, Overdue: 25}, late, ""},
		{"too few to judge", Actions{Planned: 10, Done: 2, Pending: 8, Overdue: 8}, late, ""},
		{"a report from before", Actions{Planned: 7551, Done: 3030, Cut: 33, Pending: 4488}, late, ""},
		{"fell behind", Actions{Planned: 7551, Done: 3030, Cut: 33, Pending: 4488, Overdue: 4400}, late, "4400 of 7551 planned actions (58%) were overdue at the end of the run (their turn had come; 4488 pending in all), and their actions began up to 41s late (p99, wall)"},
		{"harness not measured", Actions{Planned: 100, Done: 50, Pending: 50, Overdue: 50}, nil, "50 of 100 planned actions (50%) were overdue at the end of the run (their turn had come; 50 pending in all) —"},
		{"lateness not measured", Actions{Planned: 100, Done: 50, Pending: 50, Overdue: 40}, &Harness{LateP99ms: NaN()}, "(40%) were overdue at the end of the run (their turn had come; 50 pending in all) —"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := behindNote(tc.a, tc.h)
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("note %q, want one with %q", got, tc.want)
			}
		})
	}
}

// TestUsersNotStartedNote checks that the note blames a stop only when the
// run was stopped: a ramp-up that had not reached every user by the end of
// an uninterrupted run says so instead (review B, 2026-12-05).
func TestUsersNotStartedNote(t *testing.T) {
	for _, tc := range []struct {
		interrupted bool
		want, not   string
	}{
		{true, "the run was stopped during its ramp-up: 1 of 6 users had started; the other 5 never ran", "active phase ended"},
		{false, "the ramp-up had not started every user when the active phase ended", "stopped"},
	} {
		got := UsersNotStartedNote(1, 6, tc.interrupted)
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("interrupted %v: note %q, want %q and not %q", tc.interrupted, got, tc.want, tc.not)
		}
	}
}
