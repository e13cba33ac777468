package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/cyrustest"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// The tests in this file run quickstart against a private Cyrus IMAP 3.6
// (internal/cyrustest, scripts/cyrus.sh) with --target: in its default
// "INBOX." namespace and in the alternate namespace, as docs/servers.md
// describes. They are skipped where Cyrus cannot run (not root, packages
// not available).

// cyrusRun runs quickstart against inst (LMTP delivery, no metrics
// endpoint) and returns the JSON report and the run's summary.
func cyrusRun(t *testing.T, inst *cyrustest.Instance) (map[string]any, string) {
	t.Helper()
	target := writeDovecotTarget(t, asDovecot(inst))
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", "quickstart", "--target", target, "--quiet", "--report", js, "--duration", "8s", "--settle", "6s")
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("quickstart against Cyrus: %s", res)
	}
	if res.code == exitThresholds {
		t.Logf("quickstart against Cyrus broke a threshold (allowed in a shortened run):\n%s", res.stdout)
	}
	return readReport(t, js), res.stdout
}

// asDovecot describes a Cyrus instance with the fields the Dovecot test
// helpers read (listeners, users, password; no metrics endpoint).
func asDovecot(inst *cyrustest.Instance) *dovecottest.Instance {
	return &dovecottest.Instance{IMAP: inst.IMAP, POP3: inst.POP3, LMTP: inst.LMTP, Dir: inst.Dir, Users: inst.Users, Password: inst.Password}
}

// TestCyrusQuickstart: against Cyrus, logins, delivery (spam into Junk by
// LMTP user+Junk), every device kind work; nothing is lost; the IMAP group
// has no change the server disagrees with; no CREATE or APPEND fails (the
// devices use INBOX.Sent, INBOX.Archive, ... in the INBOX. namespace); the
// report shows that Cyrus does not mark mail downloaded over POP3 \Seen,
// and measures its push latency.
func TestCyrusQuickstart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		alt  bool
	}{{"inbox-namespace", false}, {"alt-namespace", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inst := cyrustest.Start(t, 6, cyrustest.Options{AltNamespace: tc.alt})
			rep, summary := cyrusRun(t, inst)
			checkDovecotRun(t, rep)
			for _, e := range commandErrors(rep) {
				for _, c := range []string{"/CREATE:", "/APPEND:", "/MOVE:", "/UID MOVE:"} {
					if strings.Contains(e, c) {
						t.Errorf("failed commands: %s", e)
					}
				}
			}
			if n := unconvergedReasons(rep, "imap-everywhere")["server-disagrees"]; n > 0 {
				t.Errorf("imap-everywhere: %v changes unconverged for server-disagrees", n)
			}
			checkIMAPGroupClean(t, rep, "imap-everywhere")
			if n := localOnlyChanges(rep, "pop3-office"); n == 0 {
				t.Errorf("pop3-office has no change unconverged for pop3-local-only: %v", unconvergedReasons(rep, "pop3-office"))
			}
			if v, _ := field(rep, "server.pop3_marks_seen"); v != false {
				t.Errorf("server.pop3_marks_seen = %v (%v of %v seen), want false: Cyrus does not mark downloads \\Seen",
					v, num(t, rep, "server.pop3_seen"), num(t, rep, "server.pop3_checked"))
			}
			if n := num(t, rep, "server.push_latency.samples"); n == 0 {
				t.Error("server.push_latency.samples 0: no IDLE notification measured")
			}
			t.Logf("push latency p50 %vs; POP3 %v of %v seen", num(t, rep, "server.push_latency.p50_s"),
				num(t, rep, "server.pop3_seen"), num(t, rep, "server.pop3_checked"))
			counts := mailboxCounts(t, asDovecot(inst))
			t.Logf("messages per mailbox: %v", counts)
			sent, junk := "INBOX.Sent", "INBOX.Junk"
			if tc.alt {
				sent, junk = "Sent", "Junk"
			}
			for _, name := range []string{sent, junk} {
				if counts[name] == 0 {
					t.Errorf("%s holds no message: %v", name, counts)
				}
			}
			if !strings.Contains(summary, "POP3 read marking: the server marks downloaded mail \\Seen: false") {
				t.Errorf("summary lacks the POP3 read marking:\n%s", summary)
			}
		})
	}
}

// TestCyrusSlowPush: a Cyrus that serves IDLE by checking the mailbox
// every 8 s (no idled) delays pushes by up to 8 s of wall time — up to 16
// simulated minutes with quickstart at time_scale 120 — and the report
// warns when the median is above 5 simulated minutes (and only then).
func TestCyrusSlowPush(t *testing.T) {
	t.Parallel()
	inst := cyrustest.Start(t, 6, cyrustest.Options{IdlePoll: 8})
	_, _ = checkSlowPushNote(t, writeDovecotTarget(t, asDovecot(inst)))
}

// cyrusMode is one of the namespace configurations every shipped scenario
// runs against.
type cyrusMode struct {
	name string
	o    cyrustest.Options
	// sent and junk are the names of the Sent and Junk folders.
	sent, junk string
}

// cyrusModes: Cyrus's default "INBOX." namespace with separator ".", and
// the alternate namespace (folders beside INBOX) with the separator "/"
// (unixhierarchysep), as many Cyrus installations are configured.
var cyrusModes = []cyrusMode{
	{"inbox-namespace", cyrustest.Options{}, "INBOX.Sent", "INBOX.Junk"},
	{"alt-namespace", cyrustest.Options{AltNamespace: true, UnixHierarchySep: true}, "Sent", "Junk"},
}

// cyrusRuns are the shipped scenarios' runs against Cyrus: dovecotRuns,
// but mobile-heavy longer, so that its POP3 phones (polling every 30
// simulated minutes, 30 s) download mail and their people act on it.
func cyrusRuns() []dovecotRun {
	runs := slices.Clone(dovecotRuns)
	for i, r := range runs {
		if r.scenario == "mobile-heavy" {
			runs[i].args = []string{"--users", "8", "--duration", "40s", "--settle", "20s"}
		}
	}
	return runs
}

// TestCyrusScenarios runs every shipped scenario, shortened (cyrusRuns),
// against its own private Cyrus in both namespace modes with --target, as
// parallel subtests (the runs wait on simulated time, not on the CPU: the
// package's TestMain lets several run at once), and checks each: every
// planned user logs in over every protocol its devices use, mail is
// delivered, every device profile of the plan is there and each group's
// devices converge on deliveries, nothing is lost, no folder command
// fails, the IMAP-only groups converge (no change unconverged for a POP3
// reason or because the server disagrees), the groups with a POP3 device
// diverge, and the report shows that Cyrus does not mark POP3 downloads
// \Seen. A fresh instance per run keeps Cyrus's duplicate suppression from
// dropping a run's deliveries.
func TestCyrusScenarios(t *testing.T) {
	t.Parallel()
	runs := cyrusRuns()
	listed := map[string]bool{}
	for _, r := range runs {
		listed[r.scenario] = true
	}
	for _, name := range scenarios.Shipped() {
		if !listed[name] {
			t.Errorf("shipped scenario %s has no Cyrus run in cyrusRuns", name)
		}
	}
	for _, m := range cyrusModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			for _, r := range runs {
				t.Run(r.scenario, func(t *testing.T) {
					t.Parallel()
					testCyrusScenario(t, m, r)
				})
			}
		})
	}
}

// testCyrusScenario is one run of TestCyrusScenarios: scenario r against
// a private Cyrus in mode m.
func testCyrusScenario(t *testing.T, m cyrusMode, r dovecotRun) {
	plan := cyrusPlan(t, r.scenario, r.users)
	o := m.o
	for _, u := range plan.Users {
		if !strings.HasPrefix(u.Username, "user") {
			o.ExtraUsers = append(o.ExtraUsers, u.Username)
		}
	}
	n := r.users
	if len(o.ExtraUsers) > 0 {
		n = 1 // the scenario's users have other names
	}
	inst := cyrustest.Start(t, n, o)
	js := filepath.Join(t.TempDir(), "r.json")
	argv := append([]string{"run", r.scenario, "--target", writeDovecotTarget(t, asDovecot(inst)), "--quiet", "-v", "--report", js}, r.args...)
	res := mailsim(argv...)
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("%s against Cyrus: %s", r.scenario, res)
	}
	rep := readReport(t, js)
	checkDovecotRun(t, rep)
	checkCyrusRun(t, plan, rep, r.drops)
	if r.scenario == "quickstart" {
		// Sent mail and spam land in the mode's folders.
		counts := mailboxCounts(t, asDovecot(inst))
		t.Logf("messages per mailbox: %v", counts)
		for _, name := range []string{m.sent, m.junk} {
			if counts[name] == 0 {
				t.Errorf("%s holds no message: %v", name, counts)
			}
		}
	}
	if t.Failed() {
		t.Logf("the run's warnings:\n%s", lastLines(res.stderr, 20))
	}
}

// lastLines returns the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// cyrusPlan returns the plan of a shipped scenario with users people.
func cyrusPlan(t *testing.T, scenario string, users int) *scenarios.Plan {
	t.Helper()
	s, err := scenarios.Load(scenario, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// checkCyrusRun checks a shipped scenario's run against Cyrus by what
// plan put in it: logins, device profiles, IMAP groups converging, POP3
// groups diverging, POP3 read marking. drops says the devices drop
// connections on purpose (a command cut by a drop may then fail).
func checkCyrusRun(t *testing.T, plan *scenarios.Plan, rep map[string]any, drops bool) {
	t.Helper()
	protocols := map[string]bool{}
	profiles := map[string]int{}
	groups := map[string]map[clients.Protocol]bool{}
	for _, u := range plan.Users {
		if groups[u.Group.Name] == nil {
			groups[u.Group.Name] = map[clients.Protocol]bool{}
		}
		for _, d := range u.Devices {
			protocols[string(d.Profile.Protocol)] = true
			profiles[d.Profile.Name]++
			groups[u.Group.Name][d.Profile.Protocol] = true
		}
	}
	for p := range protocols {
		if ok := num(t, rep, "load.logins."+p+".ok"); ok == 0 {
			t.Errorf("no %s login succeeded", p)
		}
		// A login the server refused fails the test; one cut by a broken
		// connection or a timeout (a loaded machine) counts in
		// load.error_rate, which checkDovecotRun bounds.
		if f := num(t, rep, "load.logins."+p+".failed"); f > 0 {
			by, _ := field(rep, "load.logins."+p+".failed_by")
			m, _ := by.(map[string]any)
			for o, n := range m {
				if o != string(transport.OutcomeError) && o != string(transport.OutcomeTimeout) {
					t.Errorf("%v %s logins failed with outcome %s: %v", n, p, o, by)
				}
			}
			t.Logf("%v %s logins failed: %v", f, p, by)
		}
	}
	for name, n := range profiles {
		if got := num(t, rep, "devices_by_profile."+name); got != float64(n) {
			t.Errorf("devices_by_profile.%s = %v, want %d", name, got, n)
		}
	}
	if !drops {
		for _, e := range commandErrors(rep) {
			for _, c := range []string{"/CREATE:", "/APPEND:", "/MOVE:", "/UID MOVE:", "/SELECT:"} {
				if strings.Contains(e, c) {
					t.Errorf("failed commands: %s", e)
				}
			}
		}
	}
	for g, protos := range groups {
		reasons := unconvergedReasons(rep, g)
		if num(t, rep, "groups."+g+".delivered") == 0 {
			t.Errorf("group %s: no mail delivered", g)
		}
		if num(t, rep, "groups."+g+".convergence.deliver.converged") == 0 {
			t.Errorf("group %s: no delivery reached every device of the group: %v", g, reasons)
		}
		if !protos[clients.POP3] {
			checkIMAPGroupClean(t, rep, g)
			if n := reasons["server-disagrees"]; n > 0 {
				t.Errorf("IMAP group %s: %v changes unconverged for server-disagrees", g, n)
			}
			t.Logf("IMAP group %s: ratio %v, unconverged %v", g, num(t, rep, "divergence.by_group."+g+".ratio"), reasons)
			continue
		}
		// What only a POP3 device leaves apart: its own changes, mail it
		// deleted from the server or kept, server folders and flags it
		// cannot see.
		var diverged float64
		for _, r := range []string{"pop3-local-only", "deleted-from-server", "kept-locally", "folder-not-synced", "flags-not-synced"} {
			diverged += reasons[r]
		}
		if diverged == 0 || num(t, rep, "divergence.by_group."+g+".ratio") == 0 {
			t.Errorf("POP3 group %s does not diverge: ratio %v, unconverged %v", g, num(t, rep, "divergence.by_group."+g+".ratio"), reasons)
		}
		t.Logf("POP3 group %s: ratio %v, unconverged %v", g, num(t, rep, "divergence.by_group."+g+".ratio"), reasons)
	}
	if protocols["pop3"] && num(t, rep, "server.pop3_checked") > 0 {
		if v, _ := field(rep, "server.pop3_marks_seen"); v != false {
			t.Errorf("server.pop3_marks_seen = %v, want false: Cyrus does not mark downloads \\Seen", v)
		}
	}
}

// quickstartAt120 writes quickstart with time_scale 120 instead of 60.
func quickstartAt120(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "time_scale: 60", "time_scale: 120", 1)
	if y == string(b) {
		t.Fatal("quickstart.yaml has no time_scale: 60 to change")
	}
	scenario := filepath.Join(t.TempDir(), "quickstart-120.yaml")
	if err := os.WriteFile(scenario, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return scenario
}

// TestCyrusValidatePushProbe: mailsim validate with a Cyrus target probes
// its push latency once (LMTP delivery, IDLE on INBOX) and warns with the
// run report's rule: with IDLE polled every 8 s the probe's message is
// announced up to 8 s later, 16 simulated minutes at time_scale 120, above
// the 5 minutes a warning needs; with idled it is announced at once and
// nothing is warned. The probe message is expunged again (UIDPLUS), also
// when it was announced too late.
func TestCyrusValidatePushProbe(t *testing.T) {
	t.Parallel()
	scenario := quickstartAt120(t)
	for _, tc := range []struct {
		name string
		poll int
		warn bool
	}{{"idled", 0, false}, {"polled-8s", 8, true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inst := cyrustest.Start(t, 6, cyrustest.Options{IdlePoll: tc.poll})
			res := mailsim("validate", scenario, "--target", writeDovecotTarget(t, asDovecot(inst)))
			if res.code != exitOK {
				t.Fatalf("validate: %s", res)
			}
			t.Logf("validate:\n%s", res.stderr)
			if strings.Contains(res.stderr, "push latency not measured") || strings.Contains(res.stderr, "push latency unknown") {
				t.Fatalf("no push latency measured:\n%s", res.stderr)
			}
			if warned := strings.Contains(res.stderr, "warning: the server's push latency"); warned != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warn, res.stderr)
			}
			if strings.Contains(res.stderr, "stays") {
				t.Errorf("the probe message was not removed:\n%s", res.stderr)
			}
			if n := mailboxCounts(t, asDovecot(inst))["INBOX"]; n != 0 {
				t.Errorf("INBOX holds %d messages after the probe, want 0", n)
			}
		})
	}
}
