package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/mailserver"
)

// The tests in this file drive "mailsim run" in-process through run(), the
// function main calls, on the embedded server: the JSON report contract of
// docs/report.md ("The report"), the qualitative result of the shipped scenarios, the exit
// codes, sharding and the command-line overrides.

// cliResult is the outcome of one mailsim command.
type cliResult struct {
	code           int
	stdout, stderr string
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// mailsim runs the command line args in-process.
func mailsim(args ...string) cliResult {
	var out, errb strings.Builder
	code := run(args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

// writeScenario writes yaml to a file in a temporary directory.
func writeScenario(t *testing.T, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "scenario.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// readReport parses a JSON report generically, so the test pins the field
// names on the wire rather than the Go type.
func readReport(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("report %s: %v", path, err)
	}
	return m
}

// field returns the value at a dotted path of a parsed report, and whether
// it is present.
func field(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// num returns the number at path, failing the test when it is missing or
// not a number.
func num(t *testing.T, m map[string]any, path string) float64 {
	t.Helper()
	v, ok := field(m, path)
	if !ok {
		t.Errorf("report: no %s", path)
		return 0
	}
	f, ok := v.(float64)
	if !ok {
		t.Errorf("report: %s = %v (%T), want a number", path, v, v)
	}
	return f
}

// obj returns the object at path, failing the test when it is missing.
func obj(t *testing.T, m map[string]any, path string) map[string]any {
	t.Helper()
	v, ok := field(m, path)
	o, isObj := v.(map[string]any)
	if !ok || !isObj {
		t.Errorf("report: %s = %v, want an object", path, v)
		return map[string]any{}
	}
	return o
}

// checkContract checks every field of the JSON report contract (docs/report.md, "The report")
// (and sane values) in a finished run's report.
func checkContract(t *testing.T, rep map[string]any, scenario string, groups []string) {
	t.Helper()
	if v, _ := field(rep, "scenario"); v != scenario {
		t.Errorf("scenario %v, want %q", v, scenario)
	}
	if v, _ := field(rep, "shard"); v != "1/1" {
		t.Errorf("shard %v, want 1/1", v)
	}
	if v, ok := field(rep, "started_at"); !ok || !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d`).MatchString(fmt.Sprint(v)) {
		t.Errorf("started_at %v, want RFC 3339", v)
	}
	num(t, rep, "seed")
	if v := num(t, rep, "wall_seconds"); v <= 0 {
		t.Errorf("wall_seconds %v", v)
	}
	if v := num(t, rep, "simulated_seconds"); v <= num(t, rep, "wall_seconds") {
		t.Errorf("simulated_seconds %v not above wall_seconds: the time scale was lost", v)
	}
	if u, d := num(t, rep, "users"), num(t, rep, "devices"); u <= 0 || d < u {
		t.Errorf("users %v devices %v", u, d)
	}
	if v := num(t, rep, "messages.delivered"); v <= 0 {
		t.Errorf("messages.delivered %v, want > 0", v)
	}
	if v := num(t, rep, "messages.sent"); v <= 0 {
		t.Errorf("messages.sent %v, want > 0", v)
	}
	// The submissions sent are the sent mail, counted apart (docs/report.md,
	// "Submissions"; started is their sum by construction, report.Build).
	if sent := num(t, rep, "messages.submissions.sent"); sent != num(t, rep, "messages.sent") {
		t.Errorf("messages.submissions %v, messages.sent %v: want sent = messages.sent",
			obj(t, rep, "messages.submissions"), num(t, rep, "messages.sent"))
	}
	// Every action the people planned ended one way (docs/report.md,
	// "Actions").
	act := func(k string) float64 { return num(t, rep, "actions."+k) }
	if planned := act("planned"); planned == 0 || planned != act("done")+act("dropped")+act("cut")+act("pending") {
		t.Errorf("actions %v: want planned = done + dropped + cut + pending, planned > 0", obj(t, rep, "actions"))
	}
	if v := num(t, rep, "messages.lost"); v != 0 {
		t.Errorf("messages.lost %v on the embedded server", v)
	}
	for _, proto := range []string{"imap", "pop3", "smtp"} {
		cmds := obj(t, rep, "commands."+proto)
		if len(cmds) == 0 {
			t.Errorf("commands.%s is empty", proto)
		}
		for name, c := range cmds {
			cm, _ := c.(map[string]any)
			for _, k := range []string{"count", "errors", "p50_ms", "p95_ms", "p99_ms"} {
				if _, ok := cm[k]; !ok {
					t.Errorf("commands.%s.%s has no %s", proto, name, k)
				}
			}
			if n, _ := cm["count"].(float64); n <= 0 {
				t.Errorf("commands.%s.%s.count %v", proto, name, cm["count"])
			}
		}
	}
	if n := num(t, rep, "commands.imap.UID FETCH.count"); n <= 0 {
		t.Errorf("no imap UID FETCH counted")
	}
	for _, k := range []string{"ratio", "divergent_messages", "users_converged_ratio",
		"by_dimension.presence", "by_dimension.folder", "by_dimension.flags"} {
		num(t, rep, "divergence.final."+k)
	}
	for _, g := range groups {
		num(t, rep, "divergence.by_group."+g+".ratio")
		num(t, rep, "divergence.by_group."+g+".users_converged_ratio")
	}
	for _, k := range []string{"deliver", "read"} {
		c := obj(t, rep, "convergence."+k)
		for _, f := range []string{"changes", "converged", "p50_s", "p99_s", "unconverged"} {
			if _, ok := c[f]; !ok {
				t.Errorf("convergence.%s has no %s", k, f)
			}
		}
		if n, _ := c["changes"].(float64); n <= 0 {
			t.Errorf("convergence.%s.changes %v", k, c["changes"])
		}
	}
	if v := num(t, rep, "server.stored_messages"); v <= 0 {
		t.Errorf("server.stored_messages %v", v)
	}
	if v := num(t, rep, "server.stored_bytes"); v <= 0 {
		t.Errorf("server.stored_bytes %v", v)
	}
	if v := num(t, rep, "server.peak_connections"); v <= 0 {
		t.Errorf("server.peak_connections %v", v)
	}
	ths, _ := rep["thresholds"].([]any)
	if len(ths) == 0 {
		t.Errorf("thresholds: %v, want the scenario's thresholds listed", rep["thresholds"])
	}
	for _, th := range ths {
		m, _ := th.(map[string]any)
		for _, k := range []string{"expr", "ok", "value"} {
			if _, ok := m[k]; !ok {
				t.Errorf("threshold %v has no %s", th, k)
			}
		}
	}
}

// unconvergedReasons returns every unconverged reason with its count in
// one group of a report, over every change kind.
func unconvergedReasons(rep map[string]any, group string) map[string]float64 {
	out := map[string]float64{}
	conv, _ := field(rep, "groups."+group+".convergence")
	kinds, _ := conv.(map[string]any)
	for _, k := range kinds {
		u, _ := k.(map[string]any)["unconverged"].(map[string]any)
		for r, n := range u {
			f, _ := n.(float64)
			out[r] += f
		}
	}
	return out
}

// TestRunQuickstart runs the shipped quickstart, shortened, and checks the
// JSON report contract, the HTML report and that the POP3 group ends
// further apart than the IMAP one.
func TestRunQuickstart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	js, html := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html")
	// Settle 8 s (8 simulated minutes): with 4, a machine loaded by
	// other tests' servers left 5 of imap-everywhere's 10 messages
	// unsynced at the end, on its 50% divergence line, in two runs of
	// the whole suite (4 of 10 on a quiet one).
	res := mailsim("run", "quickstart", "--duration", "6s", "--settle", "8s", "--report", js, "--html", html, "--quiet")
	if res.code != exitOK {
		t.Fatalf("quickstart: %s", res)
	}
	for _, want := range []string{"Thresholds", "lost_messages == 0", "pop3-office", "imap-everywhere"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, res.stdout)
		}
	}
	rep := readReport(t, js)
	checkContract(t, rep, "quickstart", []string{"pop3-office", "imap-everywhere"})
	checkExplainedDivergence(t, rep)
	checkHarness(t, rep, 0.9)
	if !strings.Contains(res.stdout, "harness over the active phase") {
		t.Errorf("summary has no harness line:\n%s", res.stdout)
	}
	// The embedded server starts empty: the preflight does not run, and
	// nothing is said of mail at the start.
	if m, ok := rep["mail_at_start"]; ok || strings.Contains(res.stdout+res.stderr, "mail at the start") {
		t.Errorf("mail_at_start %v on the embedded server, want none", m)
	}
	if u := num(t, rep, "users"); u != 6 {
		t.Errorf("users %v, want 6", u)
	}
	pop := num(t, rep, "divergence.by_group.pop3-office.ratio")
	imap := num(t, rep, "divergence.by_group.imap-everywhere.ratio")
	if pop <= imap {
		t.Errorf("pop3-office ratio %v not above imap-everywhere %v", pop, imap)
	}
	b, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "quickstart") {
		t.Errorf("HTML report has no chart or no scenario name (%d bytes)", len(b))
	}
}

// TestRunPOP3VersusIMAP runs the shipped pop3-vs-imap with fewer users,
// long enough in simulated time for every phone to poll twice after the
// people stop acting: the IMAP group converges, the POP3 groups do not,
// and for reasons that name POP3.
func TestRunPOP3VersusIMAP(t *testing.T) {
	t.Parallel()
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", "pop3-vs-imap", "--users", "8", "--duration", "20s", "--settle", "18s", "--report", js, "--quiet")
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("pop3-vs-imap: %s", res)
	}
	rep := readReport(t, js)
	checkContract(t, rep, "pop3-vs-imap", []string{"pop3-download", "pop3-leave", "imap"})
	checkExplainedDivergence(t, rep)
	imap := num(t, rep, "divergence.by_group.imap.ratio")
	down := num(t, rep, "divergence.by_group.pop3-download.ratio")
	leave := num(t, rep, "divergence.by_group.pop3-leave.ratio")
	if max(down, leave) <= imap {
		t.Errorf("POP3 groups' ratios %v, %v not above the IMAP group's %v", down, leave, imap)
	}
	reasons := unconvergedReasons(rep, "pop3-download")
	for r, n := range unconvergedReasons(rep, "pop3-leave") {
		reasons[r] += n
	}
	if reasons["pop3-local-only"] == 0 && reasons["deleted-from-server"] == 0 {
		t.Errorf("POP3 groups' unconverged changes name neither pop3-local-only nor deleted-from-server: %v", reasons)
	}
	for _, r := range []string{"pop3-local-only", "deleted-from-server", "kept-locally"} {
		if n := unconvergedReasons(rep, "imap")[r]; n > 0 {
			t.Errorf("IMAP group has %v changes unconverged for %s", n, r)
		}
	}
	checkCostTradeOff(t, rep, res.stdout, true)
}

// checkCostTradeOff checks the other half of the trade-off in a
// pop3-vs-imap report: a download-and-delete POP3 user holds less server
// storage than an IMAP user, and IMAP devices hold connections longer.
// On the embedded server (embedded) the server's time per user is known
// too; summary, when not empty, must show the cost table.
func checkCostTradeOff(t *testing.T, rep map[string]any, summary string, embedded bool) {
	t.Helper()
	downStore := num(t, rep, "groups.pop3-download.cost.stored_bytes_per_user.total")
	imapStore := num(t, rep, "groups.imap.cost.stored_bytes_per_user.total")
	if !(downStore < imapStore) {
		t.Errorf("stored bytes per user: pop3-download %v, imap %v; want POP3 download-and-delete below IMAP", downStore, imapStore)
	}
	downConn := num(t, rep, "groups.pop3-download.cost.connection_seconds_per_user_day.total")
	imapConn := num(t, rep, "groups.imap.cost.connection_seconds_per_user_day.total")
	if !(downConn < imapConn) {
		t.Errorf("connection seconds per user-day: pop3-download %v, imap %v; want IMAP above", downConn, imapConn)
	}
	v, _ := field(rep, "groups.imap.cost.server_seconds_per_user_day")
	if f, _ := v.(float64); embedded && !(f > 0) {
		t.Errorf("imap server seconds per user-day %v, want > 0 on the embedded server", v)
	} else if !embedded && v != nil {
		t.Errorf("imap server seconds per user-day %v on a real server, want null", v)
	}
	if num(t, rep, "groups.imap.cost.commands_per_user_day.total") <= 0 || num(t, rep, "cost.all.users") <= 0 {
		t.Error("no commands or users in the cost section")
	}
	if ref, _ := field(rep, "cost.reference"); ref != "pop3-download" {
		t.Errorf("cost.reference %v, want the first group", ref)
	}
	if r := num(t, rep, "cost.ratios.imap.connection_seconds_per_user_day"); !(r > 1) {
		t.Errorf("imap/pop3-download connection time ratio %v, want > 1", r)
	}
	if summary != "" && !strings.Contains(summary, "Cost per user") {
		t.Errorf("summary has no cost table:\n%s", summary)
	}
}

// tinyScenario runs for a second on the embedded server; THRESHOLDS is
// replaced by a threshold list.
const tinyScenario = `
version: 1
name: tiny
seed: 2
duration: 1s
time_scale: 60
settle: 0s
users: {count: USERS, username: "user{n}", password: pass}
groups: [{name: g, share: 100%, devices: [pc-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 1m, size: {min: 2KiB, max: 4KiB}}
    on_new_mail: {read: 50%}
thresholds: THRESHOLDS
`

func tiny(users int, thresholds string) string {
	return strings.NewReplacer("USERS", fmt.Sprint(users), "THRESHOLDS", thresholds).Replace(tinyScenario)
}

// TestRunExitCodes pins the exit codes of "mailsim run" (README, main.go).
func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("user1", "right"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	target := func(imap, pop3, smtp, lmtp, password string) string {
		return fmt.Sprintf(`
version: 1
name: remote
duration: 1s
settle: 0s
target:
  imap: {addr: "%s", tls: none}
  pop3: {addr: "%s", tls: none}
  submission: {addr: "%s", tls: none}
  delivery: {protocol: lmtp, addr: "%s"}
users: {count: 1, username: "user{n}", password: "%s"}
groups: [{name: g, share: 100%%, devices: [pc-imap, pc-pop3], behavior: b}]
behaviors: {b: {inbound: {interval: 1m}}}
`, imap, pop3, smtp, lmtp, password)
	}
	const closed = "127.0.0.1:1"
	tests := []struct {
		name   string
		yaml   string
		code   int
		stderr *regexp.Regexp // nil: not checked
	}{
		{"bad YAML", "version: 1\nname: x\nusers: {count: 2\n", exitScenario,
			regexp.MustCompile(`scenario\.yaml:\d+:\d+: YAML syntax`)},
		{"unknown key", tiny(2, "[]") + "bogus: 1\n", exitScenario,
			regexp.MustCompile(`scenario\.yaml:\d+:1: bogus: unknown key`)},
		{"unreachable server", target(closed, closed, closed, closed, "pass"), exitUnreachable,
			regexp.MustCompile(`(?s)target check failed.*127\.0\.0\.1:1`)},
		{"wrong password", target(addrs.IMAP, addrs.POP3, addrs.SMTP, addrs.LMTP, "wrong"), exitUnreachable,
			regexp.MustCompile(`(?s)target check failed.*(?i:login|auth|refused|credential)`)},
		{"broken threshold", tiny(2, `["lost_messages > 5"]`), exitThresholds, nil},
		{"thresholds held", tiny(2, `["lost_messages == 0", "error_rate < 100%"]`), exitOK, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeScenario(t, tt.yaml)
			js := filepath.Join(t.TempDir(), "r.json")
			res := mailsim("run", path, "--quiet", "--report", js)
			if res.code != tt.code {
				t.Fatalf("want exit %d, got %s", tt.code, res)
			}
			if tt.stderr != nil && !tt.stderr.MatchString(res.stderr) {
				t.Errorf("stderr does not match %s:\n%s", tt.stderr, res.stderr)
			}
			if tt.code != exitThresholds && tt.code != exitOK {
				if _, err := os.Stat(js); err == nil {
					t.Errorf("a run that could not start wrote a report")
				}
				return
			}
			ths, _ := readReport(t, js)["thresholds"].([]any)
			if len(ths) == 0 {
				t.Fatal("no thresholds in the report")
			}
			for _, th := range ths {
				m, _ := th.(map[string]any)
				if ok, _ := m["ok"].(bool); ok != (tt.code == exitOK) {
					t.Errorf("threshold %v: ok %v with exit %d", m["expr"], m["ok"], tt.code)
				}
			}
		})
	}
}

// TestRunShards runs both halves of a 6-user population: each reports its
// shard, and together they hold every user once. Bad shard settings are
// scenario errors.
func TestRunShards(t *testing.T) {
	path := writeScenario(t, tiny(6, "[]"))
	dir := t.TempDir()
	users := 0
	for _, shard := range []string{"1/2", "2/2"} {
		js := filepath.Join(dir, strings.ReplaceAll(shard, "/", "of")+".json")
		res := mailsim("run", path, "--shard", shard, "--quiet", "--report", js)
		if res.code != exitOK {
			t.Fatalf("--shard %s: %s", shard, res)
		}
		rep := readReport(t, js)
		if v, _ := field(rep, "shard"); v != shard {
			t.Errorf("--shard %s: report shard %v", shard, v)
		}
		n := num(t, rep, "users")
		if n != 3 {
			t.Errorf("--shard %s: %v users, want 3 (users are dealt round robin)", shard, n)
		}
		users += int(n)
	}
	if users != 6 {
		t.Errorf("shards hold %d users together, want 6", users)
	}

	t.Run("indexed job", func(t *testing.T) {
		t.Setenv("JOB_COMPLETION_INDEX", "1")
		js := filepath.Join(t.TempDir(), "r.json")
		res := mailsim("run", path, "--shards", "2", "--quiet", "--report", js)
		if res.code != exitOK {
			t.Fatalf("--shards 2: %s", res)
		}
		rep := readReport(t, js)
		if v, _ := field(rep, "shard"); v != "2/2" {
			t.Errorf("JOB_COMPLETION_INDEX=1 --shards 2: shard %v, want 2/2", v)
		}
	})

	for _, tt := range []struct {
		name, env string
		args      []string
	}{
		{"zero index", "", []string{"--shard", "0/2"}},
		{"index above count", "", []string{"--shard", "3/2"}},
		{"not a shard", "", []string{"--shard", "half"}},
		{"empty shard", "", []string{"--shard", "7/7"}},
		{"both flags", "0", []string{"--shard", "1/2", "--shards", "2"}},
		{"job index out of range", "2", []string{"--shards", "2"}},
		{"job index not a number", "x", []string{"--shards", "2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("JOB_COMPLETION_INDEX", tt.env)
			res := mailsim(append([]string{"run", path, "--quiet"}, tt.args...)...)
			if res.code != exitScenario || !strings.Contains(res.stderr, "mailsim run") {
				t.Errorf("%v: want exit %d with a message, got %s", tt.args, exitScenario, res)
			}
		})
	}
}

// TestRunOverrides checks that --users, --seed and --duration replace the
// scenario's values.
func TestRunOverrides(t *testing.T) {
	t.Parallel()
	yaml := strings.Replace(tiny(10, "[]"), "duration: 1s", "duration: 1h", 1)
	path := writeScenario(t, yaml)
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", path, "--users", "3", "--seed", "9", "--duration", "1s", "--quiet", "--report", js)
	if res.code != exitOK {
		t.Fatalf("%s", res)
	}
	rep := readReport(t, js)
	if n := num(t, rep, "users"); n != 3 {
		t.Errorf("users %v, want 3", n)
	}
	if n := num(t, rep, "seed"); n != 9 {
		t.Errorf("seed %v, want 9", n)
	}
	// The active phase lasted --duration, not the scenario's hour: at
	// time_scale 60 with no settle, at least 60 simulated seconds and far
	// fewer than 3600.
	if s := num(t, rep, "simulated_seconds"); s < 60 || s >= 3600 {
		t.Errorf("simulated_seconds %v, want a 1s run at time_scale 60", s)
	}
	if res := mailsim("run", path, "--seed", "nine", "--quiet"); res.code != exitScenario {
		t.Errorf("--seed nine: %s", res)
	}
}
