package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/couriertest"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/scenarios"
)

// The tests in this file run the shipped scenarios against a private
// Courier-IMAP 5.0 / courier-pop (internal/couriertest,
// scripts/courier.sh) with --target, as docs/servers.md describes:
// delivery by IMAP APPEND (Courier has no LMTP), the personal namespace
// "INBOX." with separator ".", no SPECIAL-USE, no folder but INBOX until
// the devices create one, and IDLE pushed by gamin or polled. They are
// skipped where Courier cannot run (not root, packages not available,
// mount namespaces not permitted).

// asDovecotCourier describes a Courier instance with the fields the
// Dovecot test helpers read (listeners, users, password; no LMTP, no
// metrics endpoint).
func asDovecotCourier(inst *couriertest.Instance) *dovecottest.Instance {
	return &dovecottest.Instance{IMAP: inst.IMAP, POP3: inst.POP3, Dir: inst.Dir, Users: inst.Users, Password: inst.Password}
}

// startCourierFor starts a private Courier with the users a scenario's
// run with users people logs in as: user1..userN, and the scenario's own
// names (staff001, mobile1, test1, ...) beside them.
func startCourierFor(t *testing.T, scenario string, users int, o couriertest.Options) *couriertest.Instance {
	t.Helper()
	s, err := scenarios.Load(scenario, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range plan.Users {
		if n, err := strconv.Atoi(strings.TrimPrefix(u.Username, "user")); err == nil && strings.HasPrefix(u.Username, "user") && n >= 1 && n <= users {
			continue
		}
		o.ExtraUsers = append(o.ExtraUsers, u.Username)
	}
	return couriertest.Start(t, users, o)
}

// runAgainstCourier runs a scenario against inst with --target (IMAP
// APPEND delivery, no metrics endpoint) and returns the JSON report and
// the run's summary; it fails the test unless the run finished (exit 0,
// or 1 for a broken threshold).
func runAgainstCourier(t *testing.T, inst *couriertest.Instance, scenario string, args ...string) (map[string]any, string) {
	t.Helper()
	js := filepath.Join(t.TempDir(), "r.json")
	argv := append([]string{"run", scenario, "--target", dialectTarget(t, asDovecotCourier(inst)), "--quiet", "--report", js}, args...)
	res := mailsim(argv...)
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("%s against Courier: %s", scenario, res)
	}
	if res.code == exitThresholds {
		t.Logf("%s against Courier broke a threshold (allowed in a shortened run):\n%s", scenario, res.stdout)
	}
	return readReport(t, js), res.stdout
}

// checkCourierRun checks what every run against Courier must show beyond
// checkDovecotRun: every delivery was filed (the injector found or
// created its folder under "INBOX."), no device action was given up (the
// devices found or created Sent, Drafts, Trash, Archive), and no change
// is unconverged because the server disagrees (the auditor compared
// folders by role). Failed commands are logged, not counted: Courier
// answers a CREATE of a folder another device created meanwhile with a
// NO without ALREADYEXISTS, which the devices resolve by LIST
// (clients.CreateFolder).
func checkCourierRun(t *testing.T, rep map[string]any) {
	t.Helper()
	checkDovecotRun(t, rep)
	for _, f := range []string{"messages.delivery_failed", "actions.dropped"} {
		if n := num(t, rep, f); n != 0 {
			t.Errorf("%s = %v, want 0; failed commands: %v", f, n, commandErrors(rep))
		}
	}
	groups, _ := field(rep, "groups")
	for g := range groups.(map[string]any) {
		if n := unconvergedReasons(rep, g)["server-disagrees"]; n > 0 {
			t.Errorf("%s: %v changes unconverged for server-disagrees", g, n)
		}
	}
}

// TestCourierQuickstart: against Courier, logins, delivery by IMAP APPEND
// (spam into the Junk folder the injector finds or creates under INBOX.),
// every device kind work; nothing is lost; the IMAP group has no change
// the server disagrees with and no POP3 reason; the POP3 group's changes
// stay local; every folder lies under "INBOX."; the report says whether
// Courier marked POP3 downloads \Seen and measures its push latency. With
// folders a previous client left under other names (Sent Items, Deleted
// Items, Junk E-mail), the devices use those instead of creating Sent,
// Trash and Junk.
func TestCourierQuickstart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		o    couriertest.Options
		// sent and junk are the folders sends and spam must land in.
		sent, junk string
	}{
		{"inbox-namespace", couriertest.Options{}, "INBOX.Sent", "INBOX.Junk"},
		{"fallback-names", couriertest.Options{Folders: []string{"Sent Items", "Deleted Items", "Junk E-mail"}},
			"INBOX.Sent Items", "INBOX.Junk E-mail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inst := couriertest.Start(t, 6, tc.o)
			rep, summary := runAgainstCourier(t, inst, "quickstart", "--duration", "8s", "--settle", "6s")
			checkCourierRun(t, rep)
			checkIMAPGroupClean(t, rep, "imap-everywhere")
			if n := localOnlyChanges(rep, "pop3-office"); n == 0 {
				t.Errorf("pop3-office has no change unconverged for pop3-local-only: %v", unconvergedReasons(rep, "pop3-office"))
			}
			seen, _ := field(rep, "server.pop3_marks_seen")
			if _, ok := seen.(bool); !ok {
				t.Errorf("server.pop3_marks_seen = %v: POP3 read marking not detected", seen)
			}
			if !strings.Contains(summary, "POP3 read marking: the server marks downloaded mail \\Seen: "+strconv.FormatBool(seen == true)) {
				t.Errorf("summary lacks the POP3 read marking %v:\n%s", seen, summary)
			}
			if n := num(t, rep, "server.push_latency.samples"); n == 0 {
				t.Error("server.push_latency.samples 0: no IDLE notification measured")
			}
			if strings.Contains(summary, "note: the server's IMAP login alerted") {
				t.Errorf("a Courier with gamin noted an alert:\n%s", summary)
			}
			t.Logf("push latency p50 %vs; POP3 marks seen %v (%v of %v)", num(t, rep, "server.push_latency.p50_s"), seen,
				num(t, rep, "server.pop3_seen"), num(t, rep, "server.pop3_checked"))
			counts := mailboxCounts(t, asDovecotCourier(inst))
			t.Logf("messages per mailbox: %v", counts)
			for name := range counts {
				if name != "INBOX" && !strings.HasPrefix(name, "INBOX.") {
					t.Errorf("mailbox %q outside the namespace prefix", name)
				}
			}
			for _, name := range []string{tc.sent, tc.junk} {
				if counts[name] == 0 {
					t.Errorf("%s holds no message: %v", name, counts)
				}
			}
			if len(tc.o.Folders) > 0 {
				for _, name := range []string{"INBOX.Sent", "INBOX.Trash", "INBOX.Junk"} {
					if _, ok := counts[name]; ok {
						t.Errorf("%s created although the server has a folder of its role: %v", name, counts)
					}
				}
			}
		})
	}
}

// courierRuns lists the shipped scenarios run against Courier, with IDLE
// pushed by gamin; TestCourierScenarios fails when a shipped scenario is
// missing here.
var courierRuns = []dovecotRun{
	{scenario: "quickstart", users: 6, args: []string{"--duration", "8s", "--settle", "6s"}, check: checkQuickstartDovecot},
	{scenario: "pop3-vs-imap", users: 8, args: []string{"--users", "8", "--duration", "20s", "--settle", "18s"}, check: checkPOP3VersusIMAPGroups},
	{scenario: "office-day", users: 8, args: []string{"--users", "8", "--duration", "8s", "--settle", "6s"}},
	{scenario: "mobile-heavy", users: 8, args: []string{"--users", "8", "--duration", "16s", "--settle", "6s"}},
	{scenario: "imaptest-profile", users: 10, args: []string{"--users", "10", "--duration", "10s", "--settle", "6s"}},
}

// TestCourierScenarios runs every shipped scenario against its own
// private Courier (gamin-pushed IDLE), in parallel: logins, delivery,
// every device kind, nothing lost, no folder command failing.
func TestCourierScenarios(t *testing.T) {
	t.Parallel()
	listed := map[string]bool{}
	for _, r := range courierRuns {
		listed[r.scenario] = true
	}
	for _, name := range scenarios.Shipped() {
		if !listed[name] {
			t.Errorf("shipped scenario %s has no Courier run in courierRuns", name)
		}
	}
	for _, r := range courierRuns {
		t.Run(r.scenario, func(t *testing.T) {
			t.Parallel()
			inst := startCourierFor(t, r.scenario, r.users, couriertest.Options{})
			rep, _ := runAgainstCourier(t, inst, r.scenario, r.args...)
			checkCourierRun(t, rep)
			checkExplainedDivergence(t, rep)
			if r.check != nil {
				r.check(t, rep)
			}
		})
	}
}

// TestCourierSlowPush: a Courier without gamin polls the mailbox for IDLE
// (every 8 s here, 60 s by Debian's default) and delays pushes by up to
// that much wall time — up to 16 simulated minutes with quickstart at
// time_scale 120 — and the report warns when the median is above 5
// simulated minutes (and only then).
func TestCourierSlowPush(t *testing.T) {
	t.Parallel()
	inst := couriertest.Start(t, 6, couriertest.Options{NoFAM: true, IdlePoll: 8})
	rep, summary := checkSlowPushNote(t, dialectTarget(t, asDovecotCourier(inst)))
	// Courier says at every login that it has no file notification: the
	// report notes it, with what it does to the figures.
	want := report.AlertNote("Filesystem notification initialization error -- contact your mail administrator (check for configuration errors with the FAM/Gamin library)")
	if notes, _ := field(rep, "notes"); !strings.Contains(fmt.Sprint(notes), want) || !strings.Contains(summary, "note: "+want) {
		t.Errorf("notes %v (summary below) lack %q\n%s", notes, want, summary)
	}
}

// TestCourierCapacityAlert: a capacity search on a Courier without file
// notification, which alerts at every login and makes every folder open
// wait about 1.2 s, says so where its answer is read: the summary, the
// JSON report's notes and the HTML report, with the run report's words.
// Before, only mailsim run's report noted the preflight's [ALERT].
func TestCourierCapacityAlert(t *testing.T) {
	t.Parallel()
	inst := couriertest.Start(t, 2, couriertest.Options{NoFAM: true})
	// One IMAP phone, 1 user then 2; the scenario's target is replaced
	// by the Courier's (delivery by IMAP APPEND).
	const unused = "127.0.0.1:1"
	scen := writeScenario(t, fmt.Sprintf(capacityStall, unused, unused, unused, unused,
		"{kind: phone, protocol: imap, poll_interval: 1m}", "error_rate < 50%"))
	dir := t.TempDir()
	js, html := filepath.Join(dir, "cap.json"), filepath.Join(dir, "cap.html")
	res := mailsim("capacity", scen, "--target", dialectTarget(t, asDovecotCourier(inst)), "--max-users", "2", "--step-duration", "2s",
		"--quiet", "--report", js, "--html", html, "--harness-max-sched", "2s", "--harness-max-cpu", "100%")
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("capacity on Courier without FAM: %s", res)
	}
	want := report.AlertNote("Filesystem notification initialization error -- contact your mail administrator (check for configuration errors with the FAM/Gamin library)")
	if !strings.Contains(res.stdout, "note: "+want+" (said at the preflight's login to the population opened at step 1, the only one the search opened") {
		t.Errorf("summary lacks the note %q:\n%s", want, res.stdout)
	}
	if notes, _ := readReport(t, js)["notes"].([]any); !strings.Contains(fmt.Sprint(notes), want) {
		t.Errorf("JSON notes %q lack %q", notes, want)
	}
	b, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	// html/template escapes the quotes.
	if !strings.Contains(string(b), "Filesystem notification initialization error") || !strings.Contains(string(b), "the server has no file notification") {
		t.Errorf("the HTML report lacks the alert's note")
	}
}

// checkSlowPushNote runs quickstart at time_scale 120 against target, a
// server whose IDLE polls every few seconds, and checks that its push
// latency is measured and the report warns exactly when the median is
// above 5 simulated minutes. It returns the report and the summary.
func checkSlowPushNote(t *testing.T, target string) (rep map[string]any, summary string) {
	t.Helper()
	scenario := quickstartAt120(t)
	js := filepath.Join(t.TempDir(), "r.json")
	res := mailsim("run", scenario, "--target", target, "--quiet", "--report", js, "--duration", "16s", "--settle", "10s")
	if res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("quickstart at time_scale 120: %s", res)
	}
	rep = readReport(t, js)
	if v, _ := field(rep, "server.push_latency"); v == nil {
		t.Fatalf("server.push_latency null: no IDLE notification measured\n%s", res.stdout)
	}
	sim := num(t, rep, "server.push_latency.p50_sim_s")
	t.Logf("push latency p50 %vs wall, %vs simulated over %v", num(t, rep, "server.push_latency.p50_s"), sim,
		num(t, rep, "server.push_latency.samples"))
	warned := strings.Contains(res.stdout, "note: the server's push latency")
	if (sim > 300) != warned {
		t.Errorf("p50 %vs simulated, warned %v: want a warning exactly above 300 s\n%s", sim, warned, res.stdout)
	}
	return rep, res.stdout
}
