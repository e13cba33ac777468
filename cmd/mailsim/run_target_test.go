package main

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/scenarios"
)

// TestOpenEmbeddedRateLimit checks that the scenario's server: block
// reaches the embedded server: its commands go through the limit (and are
// counted there) only when the scenario sets one.
func TestOpenEmbeddedRateLimit(t *testing.T) {
	const base = "version: 1\nusers: {count: 1}\ngroups: [{name: g, devices: [pc-imap]}]\nbehaviors: {b: {}}\n"
	tests := []struct {
		name    string
		src     string
		granted int64
	}{
		{"no limit", base, 0},
		{"limit", base + "server: {max_commands_per_second: 50}\n", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := scenarios.Parse("s.yaml", []byte(tt.src), nil)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tg, err := openEmbedded(plan, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer tg.close()
			c, err := net.DialTimeout("tcp", tg.endpoints.IMAP.Addr, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			for _, cmd := range []string{"", "a1 NOOP", "a2 LOGOUT"} { // "": the greeting
				if cmd != "" {
					if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
						t.Fatal(err)
					}
				}
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatalf("after %q: %v", cmd, err)
					}
					if cmd == "" || strings.HasPrefix(line, cmd[:3]) {
						break
					}
				}
			}
			if got := tg.embedded.LimiterStats().Granted; got != tt.granted {
				t.Errorf("%d commands went through the limit, want %d", got, tt.granted)
			}
		})
	}
}

// TestRunMailAtStart is the reused server of the defect: two runs of one
// scenario and seed against one server (the embedded one, started apart
// as a real target). The first finds the mailboxes empty and warns of
// nothing; the second finds the first run's mail, warns on stderr before
// the run and in the summary, carries it in the JSON report, and runs
// all the same. Over POP3 alone (no IMAP endpoint) the second run looks
// with STAT.
func TestRunMailAtStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		second   faultSpec
		protocol string
	}{
		{"imap", faultSpec{devices: "[pc-imap, phone-imap]"}, "imap"},
		{"pop3 alone", faultSpec{devices: "[pc-pop3]"}, "pop3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, addrs := startEmbedded(t, 3, mailserver.ListenConfig{})
			first := faultSpec{name: "reused-first", duration: "3s", settle: "2s", users: 3, devices: "[pc-imap]",
				imap: addrs.IMAP, lmtp: addrs.LMTP}
			second := first
			second.name, second.devices = "reused-second", tc.second.devices
			if tc.protocol == "pop3" {
				second.imap, second.pop3 = "", addrs.POP3
			}
			for i, spec := range []faultSpec{first, second} {
				r := runFaulted(t, spec, nil)
				rep := requireReport(t, r)
				v, ok := field(rep, "mail_at_start.messages")
				if !ok {
					t.Fatalf("run %d: no mail_at_start in the report", i+1)
				}
				proto, _ := field(rep, "mail_at_start.protocol")
				users := num(t, rep, "mail_at_start.users_checked")
				warned := strings.Contains(r.res.stderr, "mailsim run: warning: the users' mailboxes held mail before the run: user1: ")
				summed := strings.Contains(r.res.stdout, "WARNING: the users' mailboxes held mail before the run")
				t.Logf("run %d: mail_at_start %v", i+1, rep["mail_at_start"])
				if i == 0 {
					if v != 0.0 || proto != "imap" || users != 3 || warned || summed {
						t.Errorf("run 1 against empty mailboxes: %v messages over %v of %v users, warned %v/%v", v, proto, users, warned, summed)
					}
					continue
				}
				if n, _ := v.(float64); n == 0 || proto != tc.protocol || users != 3 || !warned || !summed {
					t.Errorf("run 2 against the first run's mail: %v messages over %v of %v users, warned on stderr %v, in the summary %v\n%s",
						v, proto, users, warned, summed, r.res)
				}
				if !strings.Contains(r.res.stderr, "same seed") || !strings.Contains(r.res.stderr, "fresh server instance") {
					t.Errorf("the warning does not say why and what to do:\n%s", r.res.stderr)
				}
			}
		})
	}
}

// TestMailAtStartTotals: a run's mail_at_start (mailAtStart, from the
// preflight's users) and the merge of two shards' (report.Merge) work
// their totals out in one constructor (report.NewMailAtStart): a look at
// users A and B gives the same users, messages and users with mail as
// the merge of a shard that looked at A and one that looked at B.
func TestMailAtStartTotals(t *testing.T) {
	user := func(name string, folders ...serverstate.FolderMail) serverstate.UserMail {
		return serverstate.UserMail{User: name, Folders: folders, Listed: len(folders)}
	}
	a := []serverstate.UserMail{
		user("user1", serverstate.FolderMail{Name: "INBOX", Messages: 4}, serverstate.FolderMail{Name: "Sent", Messages: 3}),
		user("user2", serverstate.FolderMail{Name: "INBOX"}),
	}
	b := []serverstate.UserMail{
		user("user3", serverstate.FolderMail{Name: "INBOX", Messages: 9}),
		user("user4", serverstate.FolderMail{Name: "INBOX"}),
		user("user5", serverstate.FolderMail{Name: "INBOX", Messages: 1}),
	}
	look := func(users []serverstate.UserMail) serverstate.MailAtStart {
		return serverstate.MailAtStart{Protocol: "imap", Users: users, Commands: map[string]int{"STATUS": len(users)}}
	}
	whole := mailAtStart(look(append(append([]serverstate.UserMail(nil), a...), b...)))
	var shards []*report.Report
	for i, part := range [][]serverstate.UserMail{a, b} {
		shards = append(shards, report.Build(report.Input{Scenario: "s", Seed: 1, Shard: fmt.Sprintf("%d/2", i+1), MailAtStart: mailAtStart(look(part))}))
	}
	merged, err := report.Merge(shards)
	if err != nil {
		t.Fatal(err)
	}
	m := merged.MailAtStart
	if whole.UsersChecked != 5 || whole.UsersWithMail != 3 || whole.Messages != 17 {
		t.Errorf("a run's totals: %d users, %d with mail, %d messages; want 5, 3, 17", whole.UsersChecked, whole.UsersWithMail, whole.Messages)
	}
	if m == nil || m.UsersChecked != whole.UsersChecked || m.UsersWithMail != whole.UsersWithMail || m.Messages != whole.Messages ||
		len(m.Users) != len(whole.Users) || m.Commands["STATUS"] != whole.Commands["STATUS"] {
		t.Errorf("merged %+v, want the run's totals %+v", m, whole)
	}
}
