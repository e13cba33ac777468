package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/cyrustest"
	"github.com/mailsim/mailsim/internal/dovecottest"
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
	checkSlowPushNote(t, writeDovecotTarget(t, asDovecot(inst)))
}
