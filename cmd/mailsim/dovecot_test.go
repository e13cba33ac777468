package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// The tests in this file run every shipped scenario, shortened, in-process
// through run() against a private Dovecot (internal/dovecottest) with
// "--target FILE", and check what must hold on any real server: the run
// finishes (exit 0 or 1), no mail is lost, the final audit read the
// server, protocol errors stay rare, mail was delivered, and mailsim's
// command counts agree with Dovecot's (crosscheck_test.go). quickstart and
// pop3-vs-imap are also checked for the qualitative results they show on
// the embedded server. They are skipped where Dovecot cannot run (not
// installed, not root), and fail under CI (which installs it).

// dovecotRun is one shipped scenario's shortened run against Dovecot.
type dovecotRun struct {
	scenario string
	// args are the run's overrides (--users, --duration, --settle).
	args []string
	// users is the population size after --users, for the passwd-file.
	users int
	// drops says the scenario's devices drop connections on purpose
	// (network.disconnect_every); see the cross-check's rules.
	drops bool
	// check, when set, checks the scenario's qualitative results.
	check func(t *testing.T, rep map[string]any)
}

// dovecotRuns lists every shipped scenario; TestDovecotScenarios fails
// when a shipped scenario is missing here.
var dovecotRuns = []dovecotRun{
	{scenario: "quickstart", users: 6, args: []string{"--duration", "8s", "--settle", "6s"}, check: checkQuickstartDovecot},
	// Long enough in simulated time for every phone to poll twice after
	// the people stop acting (as TestRunPOP3VersusIMAP on the embedded
	// server).
	{scenario: "pop3-vs-imap", users: 8, args: []string{"--users", "8", "--duration", "20s", "--settle", "18s"}, check: checkPOP3VersusIMAPDovecot},
	{scenario: "office-day", users: 8, args: []string{"--users", "8", "--duration", "8s", "--settle", "6s"}},
	// The first mail arrives after about 10 s (ramp-up 10 s) with this seed.
	{scenario: "mobile-heavy", users: 8, drops: true, args: []string{"--users", "8", "--duration", "16s", "--settle", "6s"}},
	// time_scale 1 and a 30 s ramp-up: some users start within 8 s.
	{scenario: "imaptest-profile", users: 10, args: []string{"--users", "10", "--duration", "10s", "--settle", "6s"}},
}

// TestDovecotScenarios runs every shipped scenario against its own private
// Dovecot, in parallel.
func TestDovecotScenarios(t *testing.T) {
	t.Parallel()
	dovecottest.Available(t)
	listed := map[string]bool{}
	for _, r := range dovecotRuns {
		listed[r.scenario] = true
	}
	for _, name := range scenarios.Shipped() {
		if !listed[name] {
			t.Errorf("shipped scenario %s has no Dovecot run in dovecotRuns", name)
		}
	}
	for _, r := range dovecotRuns {
		t.Run(r.scenario, func(t *testing.T) {
			t.Parallel()
			inst := startDovecotFor(t, r.scenario, r.users)
			rep := runAgainstDovecot(t, inst, r.scenario, r.args...)
			checkDovecotRun(t, rep)
			checkExplainedDivergence(t, rep)
			crossCheck(t, inst, rep, r.drops)
			if r.check != nil {
				r.check(t, rep)
			}
		})
	}
}

// startDovecotFor starts a private Dovecot whose passwd-file holds the
// users the scenario's run with users people logs in as. The script
// creates user1..userN; scenarios with another username pattern
// (staff{n:03}, mobile{n}, test{n}) get their names added to the
// passwd-file, which Dovecot re-reads when it changes.
func startDovecotFor(t *testing.T, scenario string, users int) *dovecottest.Instance {
	t.Helper()
	return startDovecotWith(t, scenario, users, dovecottest.Options{})
}

// startDovecotWith is startDovecotFor with instance options.
func startDovecotWith(t *testing.T, scenario string, users int, o dovecottest.Options) *dovecottest.Instance {
	t.Helper()
	inst := dovecottest.StartWith(t, users, o)
	s, err := scenarios.Load(scenario, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	passwd := filepath.Join(inst.Dir, "etc", "users")
	b, err := os.ReadFile(passwd)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			have[name] = true
		}
	}
	var add strings.Builder
	for _, u := range plan.Users {
		if !have[u.Username] {
			fmt.Fprintf(&add, "%s:{PLAIN}%s\n", u.Username, u.Password)
		}
	}
	if add.Len() > 0 {
		tmp := passwd + ".tmp"
		if err := os.WriteFile(tmp, append(b, add.String()...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, passwd); err != nil {
			t.Fatal(err)
		}
	}
	return inst
}

// writeDovecotTarget writes a target file naming inst's listeners.
func writeDovecotTarget(t *testing.T, inst *dovecottest.Instance) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "target.yaml")
	y := fmt.Sprintf(`target:
  imap: {addr: %q, tls: none}
  pop3: {addr: %q, tls: none}
  delivery: {protocol: lmtp, addr: %q}
  metrics_url: %q
`, inst.IMAP, inst.POP3, inst.LMTP, inst.MetricsURL)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runAgainstDovecot runs a scenario against inst with --target and
// returns its JSON report; it fails the test unless the run finished
// (exit 0, or 1 for a broken threshold).
func runAgainstDovecot(t *testing.T, inst *dovecottest.Instance, scenario string, args ...string) map[string]any {
	t.Helper()
	js := filepath.Join(t.TempDir(), "r.json")
	argv := append([]string{"run", scenario, "--target", writeDovecotTarget(t, inst), "--quiet", "--report", js}, args...)
	res := mailsim(argv...)
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("%s against Dovecot: %s", scenario, res)
	}
	if res.code == exitThresholds {
		t.Logf("%s against Dovecot broke a threshold (allowed in a shortened run):\n%s", scenario, res.stdout)
	}
	return readReport(t, js)
}

// maxDovecotErrorRate bounds the share of failed commands in a run that
// provokes none: timeouts and dropped connections of shaped networks.
const maxDovecotErrorRate = 0.01

// checkDovecotRun checks what every run against Dovecot must show.
func checkDovecotRun(t *testing.T, rep map[string]any) {
	t.Helper()
	if v := num(t, rep, "messages.lost"); v != 0 {
		ids, _ := field(rep, "messages.lost_ids")
		t.Errorf("messages.lost %v, want 0: %v", v, ids)
	}
	if v, _ := field(rep, "messages.server_checked"); v != true {
		t.Errorf("messages.server_checked %v: the final audit did not read Dovecot's mailboxes", v)
	}
	if v := num(t, rep, "messages.delivered"); v <= 0 {
		t.Errorf("messages.delivered %v, want > 0", v)
	}
	if v := num(t, rep, "users"); v <= 0 {
		t.Errorf("users %v", v)
	}
	errs := commandErrors(rep)
	if len(errs) > 0 {
		t.Logf("failed commands: %s", strings.Join(errs, ", "))
	}
	if r := num(t, rep, "load.error_rate"); r > maxDovecotErrorRate {
		t.Errorf("load.error_rate %.4f above %.2f; failed commands: %s", r, maxDovecotErrorRate, strings.Join(errs, ", "))
	}
}

// commandErrors lists "protocol/COMMAND: errors of count" for every
// command with errors, devices' and auditor's.
func commandErrors(rep map[string]any) []string {
	var out []string
	for _, section := range []string{"commands", "auditor_commands"} {
		protos, _ := rep[section].(map[string]any)
		for proto, cmds := range protos {
			m, _ := cmds.(map[string]any)
			for name, c := range m {
				cm, _ := c.(map[string]any)
				if n, _ := cm["errors"].(float64); n > 0 {
					out = append(out, fmt.Sprintf("%s %s/%s: %v of %v", section, proto, name, n, cm["count"]))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// kindReasons returns the unconverged reasons of one change kind in one
// group.
func kindReasons(rep map[string]any, group, kind string) map[string]float64 {
	out := map[string]float64{}
	u, _ := field(rep, "groups."+group+".convergence."+kind+".unconverged")
	m, _ := u.(map[string]any)
	for r, n := range m {
		f, _ := n.(float64)
		out[r] = f
	}
	return out
}

// localOnlyChanges sums pop3-local-only over a group's flag, move and send
// changes (what a POP3 PC does that never reaches the server).
func localOnlyChanges(rep map[string]any, group string) float64 {
	var n float64
	for _, kind := range []string{"flag", "move", "send"} {
		n += kindReasons(rep, group, kind)["pop3-local-only"]
	}
	return n
}

// checkIMAPGroupClean fails when an IMAP-only group has changes
// unconverged for a POP3 reason.
func checkIMAPGroupClean(t *testing.T, rep map[string]any, group string) {
	t.Helper()
	for _, r := range []string{"pop3-local-only", "deleted-from-server", "kept-locally"} {
		if n := unconvergedReasons(rep, group)[r]; n > 0 {
			t.Errorf("IMAP group %s has %v changes unconverged for %s", group, n, r)
		}
	}
}

// checkQuickstartDovecot: on Dovecot as on the embedded server, the IMAP
// group ends closer together than the POP3 one, and the POP3 PC's flags,
// moves and sent mail stay on the PC.
func checkQuickstartDovecot(t *testing.T, rep map[string]any) {
	pop := num(t, rep, "divergence.by_group.pop3-office.ratio")
	imap := num(t, rep, "divergence.by_group.imap-everywhere.ratio")
	if pop <= imap {
		t.Errorf("pop3-office ratio %v not above imap-everywhere %v", pop, imap)
	}
	if n := localOnlyChanges(rep, "pop3-office"); n == 0 {
		t.Errorf("pop3-office has no flag/move/send change unconverged for pop3-local-only: %v", unconvergedReasons(rep, "pop3-office"))
	}
	checkIMAPGroupClean(t, rep, "imap-everywhere")
}

// checkPOP3VersusIMAPDovecot: the IMAP group converges better than both
// POP3 groups; the download-and-delete PC takes deliveries off the server
// before the phone sees them; the POP3 PCs' own changes stay local.
func checkPOP3VersusIMAPDovecot(t *testing.T, rep map[string]any) {
	checkPOP3VersusIMAPGroups(t, rep)
	// The other half, on Dovecot: storage per user from the state
	// reader's RFC822.SIZE, connection time from the devices.
	checkCostTradeOff(t, rep, "", false)
	if g, _ := field(rep, "groups.imap.cost.stored_bytes_growth_per_user_day"); g != nil {
		t.Errorf("storage growth %v on a real server, whose start storage is not read: want null", g)
	}
	checkUsersStorage(t, rep)
}

// checkUsersStorage: on a real server the report's storage is the
// simulated users' mailboxes as the state reader read them (the sum of
// each group's storage per user times its users), not a 0; its start is
// not known (null).
func checkUsersStorage(t *testing.T, rep map[string]any) {
	t.Helper()
	if src, _ := field(rep, "server.storage_source"); src != "users" {
		t.Errorf("server.storage_source %v, want users", src)
	}
	for _, f := range []string{"server.stored_messages_start", "server.stored_bytes_start"} {
		if v, _ := field(rep, f); v != nil {
			t.Errorf("%s = %v on a real server: want null", f, v)
		}
	}
	groups, _ := field(rep, "groups")
	var want float64
	for name := range groups.(map[string]any) {
		if u := num(t, rep, "groups."+name+".cost.users"); u > 0 {
			want += num(t, rep, "groups."+name+".cost.stored_bytes_per_user.total") * u
		}
	}
	if got := num(t, rep, "server.stored_bytes"); want <= 0 || math.Abs(got-want) > 0.5 {
		t.Errorf("server.stored_bytes %v, want the groups' %v", got, want)
	}
}

// checkPOP3VersusIMAPGroups: on a real server, pop3-vs-imap's IMAP group
// converges better than both POP3 groups; the download-and-delete PC
// takes deliveries off the server before the phone sees them; the POP3
// PCs' own changes stay local.
func checkPOP3VersusIMAPGroups(t *testing.T, rep map[string]any) {
	t.Helper()
	imap := num(t, rep, "divergence.by_group.imap.ratio")
	for _, g := range []string{"pop3-download", "pop3-leave"} {
		if r := num(t, rep, "divergence.by_group."+g+".ratio"); r <= imap {
			t.Errorf("%s ratio %v not above the IMAP group's %v", g, r, imap)
		}
	}
	if n := kindReasons(rep, "pop3-download", "deliver")["deleted-from-server"]; n == 0 {
		t.Errorf("pop3-download has no delivery unconverged for deleted-from-server: %v", kindReasons(rep, "pop3-download", "deliver"))
	}
	if n := localOnlyChanges(rep, "pop3-download") + localOnlyChanges(rep, "pop3-leave"); n == 0 {
		t.Errorf("POP3 groups have no flag/move/send change unconverged for pop3-local-only: %v / %v",
			unconvergedReasons(rep, "pop3-download"), unconvergedReasons(rep, "pop3-leave"))
	}
	checkIMAPGroupClean(t, rep, "imap")
}

// TestRunTargetFlag points quickstart at a separately started embedded
// server with --target: the run uses that server (its mailboxes fill; no
// embedded server of the run's own), and target files that are broken or
// lack what the scenario needs stop the run with exit 2 and a positioned
// message.
func TestRunTargetFlag(t *testing.T) {
	t.Parallel()
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	for i := 1; i <= 6; i++ {
		if err := srv.AddUser(fmt.Sprintf("user%d", i), "pass"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, y string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", fmt.Sprintf("target:\n  imap: %q\n  pop3: %q\n  delivery: {protocol: lmtp, addr: %q}\n",
		addrs.IMAP, addrs.POP3, addrs.LMTP))
	js := filepath.Join(dir, "r.json")
	res := mailsim("run", "quickstart", "--target", good, "--duration", "3s", "--settle", "2s", "--quiet", "--report", js)
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("quickstart --target: %s", res)
	}
	rep := readReport(t, js)
	if v, _ := field(rep, "messages.server_checked"); v != true {
		t.Errorf("server_checked %v", v)
	}
	stored := 0
	for _, u := range srv.Usage() {
		stored += u.Messages
	}
	if d := num(t, rep, "messages.delivered"); d <= 0 || stored == 0 {
		t.Errorf("delivered %v, the target server stores %d messages: the run did not use the target", d, stored)
	}

	for _, tt := range []struct {
		name, yaml string
		want       *regexp.Regexp
	}{
		{"unknown key", "target:\n  imap: {adress: 127.0.0.1:1}\n", regexp.MustCompile(`unknown key\.yaml:2:10: target\.imap\.adress: unknown key`)},
		{"no pop3 for a POP3 scenario", fmt.Sprintf("target:\n  imap: %q\n  delivery: {protocol: lmtp, addr: %q}\n", addrs.IMAP, addrs.LMTP),
			regexp.MustCompile(`(?s)--target .*no pop3 for a POP3 scenario\.yaml.*target\.pop3: missing`)},
		{"unset variable", "target:\n  imap: \"${MAILSIM_TEST_UNSET_ADDR}\"\n", regexp.MustCompile(`:2:9: target\.imap: environment variable MAILSIM_TEST_UNSET_ADDR is not set`)},
	} {
		p := write(tt.name+".yaml", tt.yaml)
		res := mailsim("run", "quickstart", "--target", p, "--quiet")
		if res.code != exitScenario || !tt.want.MatchString(res.stderr) {
			t.Errorf("%s: want exit %d and %s, got %s", tt.name, exitScenario, tt.want, res)
		}
	}
	if res := mailsim("run", "quickstart", "--target", filepath.Join(dir, "missing.yaml"), "--quiet"); res.code != exitScenario ||
		!strings.Contains(res.stderr, "missing.yaml") {
		t.Errorf("missing target file: %s", res)
	}
}

// TestDovecotShippedTargetFile runs quickstart, briefly, with the shipped
// scripts/dovecot-target.yaml and the environment dovecot.sh writes, as
// docs/dovecot.md tells users to.
func TestDovecotShippedTargetFile(t *testing.T) {
	inst := startDovecotFor(t, "quickstart", 6)
	t.Setenv("IMAP_ADDR", inst.IMAP)
	t.Setenv("POP3_ADDR", inst.POP3)
	t.Setenv("LMTP_ADDR", inst.LMTP)
	t.Setenv("METRICS_URL", inst.MetricsURL)
	js := filepath.Join(t.TempDir(), "r.json")
	target := filepath.Join("..", "..", "scripts", "dovecot-target.yaml")
	res := mailsim("run", "quickstart", "--target", target, "--duration", "3s", "--settle", "2s", "--quiet", "--report", js)
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("quickstart --target %s: %s", target, res)
	}
	rep := readReport(t, js)
	if v, _ := field(rep, "messages.server_checked"); v != true {
		t.Errorf("server_checked %v", v)
	}
	n, err := metrics.DovecotDeliveries(context.Background(), inst.MetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 {
		t.Errorf("Dovecot delivered %v messages: the run did not use it", n)
	}
}
