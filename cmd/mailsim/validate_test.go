package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/scenarios"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nusers: {count: 0}\ngroups:\n  - {name: g, devices: [tablet]}\nbehaviors: {b: {}}\nextra: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badFetch := filepath.Join(dir, "badfetch.yaml")
	if err := os.WriteFile(badFetch, []byte("version: 1\nname: f\nusers: {count: 2}\n"+
		"groups: [{name: g, share: 100%, devices: [pc], behavior: b}]\nbehaviors: {b: {inbound: {interval: 5m}}}\n"+
		"devices:\n  pc: {kind: pc, protocol: imap, fetch_new: \"UID FLAGS X-GM-LABELS\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  []string
		stderr  []string
		nErrors int
	}{
		{"shipped", []string{"validate", "quickstart"}, exitOK, []string{"scenario", "quickstart", "1/1: 6 of 6 users", "pop3-office", "webmail"}, nil, 0},
		{"flags after name", []string{"validate", "pop3-vs-imap", "--users", "10", "--seed", "5", "--shard", "2/3"}, exitOK,
			[]string{"seed         5", "2/3: 3 of 10 users"}, nil, 0},
		{"errors", []string{"validate", bad}, exitScenario, nil,
			[]string{bad + ":2:16: users.count: empty population", bad + ":4:25: groups[0].devices: unknown device profile \"tablet\"",
				bad + ":6:1: extra: unknown key", "3 problem(s)"}, 3},
		{"unknown name", []string{"validate", "nope"}, exitScenario, nil, []string{"no shipped scenario of that name (shipped: imaptest-profile"}, 0},
		{"bad shard", []string{"validate", "quickstart", "--shard", "3/2"}, exitScenario, nil, []string{"--shard: bad shard 3/2"}, 0},
		{"shard larger than population", []string{"validate", "quickstart", "--shard", "1/7"}, exitScenario, nil, []string{"shard 1/7 is empty"}, 0},
		{"fetch item the clients cannot send", []string{"validate", badFetch}, exitScenario, nil,
			[]string{badFetch + ":7:45: devices.pc.fetch_new: ", `unknown item "X-GM-LABELS"`}, 0},
		{"no argument", []string{"validate"}, exitScenario, nil, []string{"want one scenario"}, 0},
		{"bad seed", []string{"validate", "quickstart", "--seed", "x"}, exitScenario, nil, []string{"want a whole number"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			if code := run(tt.args, &out, &errb); code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out.String(), errb.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
			if tt.nErrors > 0 {
				if n := strings.Count(errb.String(), bad+":"); n != tt.nErrors {
					t.Errorf("%d error lines, want %d:\n%s", n, tt.nErrors, errb.String())
				}
			}
		})
	}
}

// TestValidateSettleWarning: validate warns (and still exits 0) when settle
// in simulated time is shorter than the slowest device's sync cycle.
func TestValidateSettleWarning(t *testing.T) {
	write := scenarioFiles(t)
	scenario := func(settle, timeScale, devices string) string {
		return write(settle, timeScale, devices, "  slow-phone: {kind: phone, protocol: imap, poll_interval: 30m}\n")
	}
	for _, tt := range []struct {
		name string
		file string
		want string // "" = no warning
	}{
		{"fast devices", scenario("10s", "60", "pc-pop3, webmail"), ""},
		{"phone slower than settle", scenario("10s", "60", "pc-pop3, slow-phone"),
			`settle 10s × time_scale 60 = 10m0s simulated is shorter than the sync cycle of device profile "slow-phone" (30m0s, poll_interval 30m0s)`},
		{"settle long enough", scenario("40s", "60", "pc-imap, slow-phone"), ""},
		{"settle as a mapping", scenario("{max: 20s, until: synced}", "60", "slow-phone"), "at least 30s"},
		{"pc status interval", scenario("5s", "60", "pc-imap"), `"pc-imap" (30m0s, status_interval 10m0s × 3`},
		// Sent, Drafts, Trash, Junk and the behavior's Archive: a page
		// load each, one after another (5 minutes); the folder list,
		// read once a session, takes longer.
		{"webmail lists its folders", scenario("3s", "60", "webmail"), `"webmail" (10m0s, refresh 1m0s × 10: the folder list is read again at the first page load 10m0s after the last)`},
	} {
		t.Run(tt.name, func(t *testing.T) { checkValidateWarning(t, tt.file, tt.want) })
	}
}

// scenarioFiles returns a writer of small scenario files in a temporary
// directory: two users, one group with devices, the settle and time_scale
// given, and devices (YAML lines under "devices:").
func scenarioFiles(t *testing.T) func(settle, timeScale, devices, defs string) string {
	dir, n := t.TempDir(), 0
	return func(settle, timeScale, devices, defs string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("s%d.yaml", n))
		y := "version: 1\nname: s\nusers: {count: 2}\nsettle: " + settle + "\ntime_scale: " + timeScale + "\n" +
			"groups: [{name: g, share: 100%, devices: [" + devices + "], behavior: b}]\nbehaviors: {b: {inbound: {interval: 5m}}}\n" +
			"devices:\n" + defs
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
}

// checkValidateWarning runs validate on file and checks its warnings: none
// when want is "", else one containing want. It returns stderr.
func checkValidateWarning(t *testing.T, file, want string) string {
	t.Helper()
	var out, errb strings.Builder
	if code := run([]string{"validate", file}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, errb.String())
	}
	got := errb.String()
	if want == "" && strings.Contains(got, "warning") {
		t.Errorf("unexpected warning:\n%s", got)
	}
	if want != "" && (!strings.Contains(got, "warning: ") || !strings.Contains(got, want)) {
		t.Errorf("stderr lacks %q:\n%s", want, got)
	}
	return got
}

// TestValidateNetworkWarning: a device whose network latency (wall time)
// makes a session last, in simulated time, more than a quarter of its
// disconnect_every is warned about, with the share in the run and on a
// real network and what would keep it under; mobile-heavy's edge phone at
// disconnect_every 5m was such a device (84 %: 7 round trips × 600 ms ×
// time_scale 60 = 4m12s of 5m).
func TestValidateNetworkWarning(t *testing.T) {
	write := scenarioFiles(t)
	scenario := func(timeScale, network string) string {
		return write("1h", timeScale, "edge, webmail",
			"  edge: {kind: phone, protocol: pop3, poll_interval: 30m, network: "+network+"}\n"+
				"  unused: {kind: phone, protocol: imap, network: {latency: 10s, disconnect_every: 1m}}\n")
	}
	for _, tt := range []struct {
		name string
		file string
		want string // "" = no warning
	}{
		{"edge at 5m", scenario("60", "{latency: 600ms, disconnect_every: 5m}"),
			`device profile "edge": a session takes at least 4.2s of wall time (7 round trips of network latency 600ms, not scaled), 4m12s simulated at time_scale 60: 84% of its disconnect_every 5m0s (1.4% on a real network with these figures); a session that runs past it is cut`},
		{"edge at 5m, what keeps it under", scenario("60", "{latency: 600ms, disconnect_every: 5m}"), "a time_scale of at most 17.9 or a disconnect_every of at least 16m48s keeps it under 25%"},
		{"every session cut", scenario("120", "{latency: 600ms, disconnect_every: 5m}"), "168% of its disconnect_every 5m0s (1.4% on a real network with these figures); no session ends before it: every one is cut"},
		{"edge at 20m", scenario("60", "{latency: 600ms, disconnect_every: 20m}"), ""},
		{"edge at 5m, real time", scenario("1", "{latency: 600ms, disconnect_every: 5m}"), ""},
		{"no drops", scenario("60", "{latency: 600ms}"), ""},
		{"no latency", scenario("60", "{disconnect_every: 1m}"), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkValidateWarning(t, tt.file, tt.want); strings.Contains(got, `"unused"`) {
				t.Errorf("warned about a device no group uses:\n%s", got)
			}
		})
	}
}

// TestValidatePushProbe: with a target, validate probes the server's push
// latency once over the target's delivery path (LMTP, IMAP APPEND), prints
// it, does not warn against the embedded server (it notifies at once) and
// removes the probe message again; without a target it probes nothing.
func TestValidatePushProbe(t *testing.T) {
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
	for _, tt := range []struct{ name, delivery string }{
		{"lmtp", fmt.Sprintf("{protocol: lmtp, addr: %q}", addrs.LMTP)},
		{"imap-append", "{protocol: imap-append}"},
	} {
		p := filepath.Join(dir, tt.name+".yaml")
		y := fmt.Sprintf("target:\n  imap: %q\n  pop3: %q\n  delivery: %s\n", addrs.IMAP, addrs.POP3, tt.delivery)
		if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		res := mailsim("validate", "quickstart", "--target", p)
		if res.code != exitOK {
			t.Fatalf("%s: %s", tt.name, res)
		}
		if !strings.Contains(res.stderr, "push latency (delivery to IDLE notification): ") || !strings.Contains(res.stderr, "in one probe as user1") {
			t.Errorf("%s: no push latency measured:\n%s", tt.name, res.stderr)
		}
		if strings.Contains(res.stderr, "push latency not measured") || strings.Contains(res.stderr, "warning: the server's push latency") || strings.Contains(res.stderr, "stays") {
			t.Errorf("%s: a warning, or the probe message left, against the embedded server:\n%s", tt.name, res.stderr)
		}
		for _, u := range srv.Usage() {
			if u.Messages != 0 {
				t.Errorf("%s: the server stores %d messages in %s after the probe, want 0", tt.name, u.Messages, u.Role)
			}
		}
	}
	res := mailsim("validate", "quickstart")
	if res.code != exitOK || strings.Contains(res.stderr, "push latency") {
		t.Errorf("without a target validate probed: %s", res)
	}
	// A server that cannot be reached: validate says so and still exits 0.
	srv.Close()
	res = mailsim("validate", "quickstart", "--target", filepath.Join(dir, "lmtp.yaml"))
	if res.code != exitOK || !strings.Contains(res.stderr, "warning: push latency not measured: push probe: imap "+addrs.IMAP) {
		t.Errorf("unreachable target: %s", res)
	}
}

// TestNetworkWarningInReports: the network warning validate prints is
// also printed by mailsim capacity and carried, as a note, by the run's
// and the capacity search's JSON reports.
func TestNetworkWarningInReports(t *testing.T) {
	dir := t.TempDir()
	scen := scenarioFiles(t)("1s", "60", "edge",
		"  edge: {kind: phone, protocol: pop3, poll_interval: 30m, network: {latency: 600ms, disconnect_every: 5m}}\n"+
			"thresholds: [\"error_rate < 50%\"]\n")
	const want = `device profile "edge": a session takes at least 4.2s of wall time`
	hasNote := func(js string) bool {
		notes, _ := field(readReport(t, js), "notes")
		list, _ := notes.([]any)
		for _, n := range list {
			if s, _ := n.(string); strings.Contains(s, want) {
				return true
			}
		}
		return false
	}
	runJS := filepath.Join(dir, "run.json")
	if res := mailsim("run", scen, "--duration", "1s", "--quiet", "--report", runJS); res.code != exitOK && res.code != exitThresholds {
		t.Fatalf("run: %s", res)
	}
	if !hasNote(runJS) {
		t.Errorf("the run's report has no note %q", want)
	}
	capJS := filepath.Join(dir, "cap.json")
	res := mailsim("capacity", scen, "--start-users", "1", "--max-users", "1", "--step-duration", "1s", "--quiet", "--report", capJS,
		"--harness-max-sched", "2s")
	if !strings.Contains(res.stderr, "mailsim capacity: warning: "+want) {
		t.Errorf("capacity did not print the warning:\n%s", res.stderr)
	}
	if _, err := os.Stat(capJS); err != nil {
		t.Fatalf("capacity wrote no report (%v): %s", err, res)
	}
	if !hasNote(capJS) {
		t.Errorf("the capacity report has no note %q", want)
	}
}

// TestSyncRoundNoteInReport: a run whose convergence threshold fails while
// a device profile's sync rounds, in simulated time, take more than a
// quarter of its budget says so in its report, with the rounds in
// sync_rounds. The webmail's network latency makes each page load at
// least 7 round trips of 100ms: 7 simulated minutes at time_scale 600,
// against a quarter of 1m.
func TestSyncRoundNoteInReport(t *testing.T) {
	t.Parallel()
	scen := scenarioFiles(t)("2s", "600", "slow, phone-imap",
		"  slow: {kind: webmail, protocol: imap, network: {latency: 100ms}}\n"+
			"thresholds: [\"convergence_p99{change=deliver} < 1m\"]\n")
	js := filepath.Join(t.TempDir(), "run.json")
	if res := mailsim("run", scen, "--duration", "3s", "--quiet", "--report", js); res.code != exitThresholds {
		t.Fatalf("run: want exit %d (the threshold broken): %s", exitThresholds, res)
	}
	r := readReport(t, js)
	if n, _ := field(r, "sync_rounds.slow.rounds"); n == nil || n.(float64) < 1 {
		t.Errorf("sync_rounds.slow.rounds = %v, want at least 1", n)
	}
	notes, _ := field(r, "notes")
	list, _ := notes.([]any)
	found := false
	for _, n := range list {
		s, _ := n.(string)
		if strings.HasPrefix(s, "convergence_p99{change=deliver} < 1m is ") && strings.Contains(s, "sync rounds at the p99") &&
			strings.Contains(s, "slow ") {
			found = true
		}
	}
	if !found {
		t.Errorf("no sync-round note naming the webmail profile: %v", list)
	}
}

// TestNetworkWarningSubmission: a device whose network makes its SMTP
// submission of a median message (8 KiB for a person who writes new mail,
// 4 KiB for one who only replies) last more than a quarter of its
// disconnect_every in simulated time is warned about, as its sessions
// are: each submission's connection is dropped disconnect_every after it
// opens. The phone here, an IMAP phone that fetches headers on a link
// without latency, has sessions too short to warn about, and its
// submissions went unwarned before 2026-12-04 though most were cut. A
// run whose target has no submission server, or whose people send
// nothing, submits nothing shaped.
func TestNetworkWarningSubmission(t *testing.T) {
	const submission = `device profile "phone": a submission of a median message takes at least `
	scenario := func(behavior, target string) string {
		return "version: 1\nname: s\nusers: {count: 2}\ntime_scale: 60\n" + target +
			"groups: [{name: g, share: 100%, devices: [phone], behavior: b}]\nbehaviors: {b: " + behavior + "}\n" +
			"devices:\n  phone: {kind: phone, protocol: imap, network: {bandwidth: 20kbit, disconnect_every: 2m}}\n"
	}
	const sends = "{inbound: {interval: 5m}, send: {interval: 30m}}"
	for _, tt := range []struct {
		name, yaml string
		want       string // "" = no warning
	}{
		// 8 KiB at 20 kbit/s: 3.277 s, 3m17s simulated, 164 % of 2m.
		{"new mail", scenario(sends, ""), submission + "3.277s of wall time (3.277s to upload a 8 KiB message at 20 kbit/s, not scaled), " +
			"3m17s simulated at time_scale 60: 164% of its disconnect_every 2m0s (2.7% on a real network with these figures); no submission of a median message ends before it: most are cut, " +
			"so its dropped commands and failed sends show the time compression more than the network: a time_scale of at most 9.16 or a disconnect_every of at least 13m6s keeps it under 25%"},
		// 4 KiB: 1.638 s, 1m38s simulated, 82 % of 2m.
		{"replies", scenario("{inbound: {interval: 5m}, on_new_mail: {read: 100%, reply: 50%}}", ""), submission + "1.638s of wall time"},
		{"sends nothing", scenario("{inbound: {interval: 5m}}", ""), ""},
		{"no submission server", scenario(sends, "target: {imap: \"127.0.0.1:143\", delivery: {protocol: lmtp, addr: \"127.0.0.1:24\"}}\n"), ""},
		{"a submission server", scenario(sends, "target: {imap: \"127.0.0.1:143\", submission: \"127.0.0.1:587\", delivery: {protocol: lmtp, addr: \"127.0.0.1:24\"}}\n"), submission + "3.277s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scenarios.Parse(tt.name, []byte(tt.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := networkWarnings(s)
			switch {
			case tt.want == "" && len(got) > 0:
				t.Errorf("warnings %q, want none", got)
			case tt.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tt.want)):
				t.Errorf("warnings %q, want one beginning %q", got, tt.want)
			}
		})
	}
}
