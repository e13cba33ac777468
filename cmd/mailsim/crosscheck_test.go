package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// The cross-check: after a run against a private Dovecot, mailsim's count
// of IMAP commands per command name agrees with Dovecot's own
// imap_command_finished counters within 1%, and mailsim's deliveries with
// Dovecot's mail_delivery_finished exactly. The counting rules that make
// the two sides comparable (docs/dovecot.md, "Counting rules"):
//
//   - mailsim's side is the devices' commands (report "commands") plus the
//     auditor's ("auditor_commands") plus the preflight check's: its IMAP
//     LOGINs, which the report does not record, and its look at the
//     mailboxes with the first user's LOGOUT, which the report counts in
//     mail_at_start.commands (one NAMESPACE, one LIST, a STATUS per folder
//     of the first user and of each other sampled user's INBOX, and the
//     LOGOUT when the look left the session usable).
//   - LOGIN, AUTHENTICATE and STARTTLS are handled by Dovecot's imap-login
//     process, which emits no imap_command_finished: not compared.
//   - CAPABILITY: the devices ask before logging in (imap-login answers;
//     not counted by Dovecot). Dovecot then leaves the capability list out
//     of the login reply, so go-imap's client asks again after login when
//     the device reads Client.Caps(); that second CAPABILITY reaches the
//     imap process and is counted by Dovecot. mailsim records both under
//     one name, so Dovecot's CAPABILITY count is compared with the
//     devices' successful IMAP logins (load.logins.imap.ok), one each. When devices drop their
//     connections on purpose (network.disconnect_every), a session dropped
//     right after its login never sends it: then Dovecot's count may be
//     lower by up to 5%. And the run's stop may come between a session's
//     LOGIN reply and its CAPABILITY, which then never goes out (nothing
//     is sent after the stop): Dovecot's count may be lower by one per
//     device (report "devices"): a device's last session (a PC's two
//     connections could lose two, rarely: the check would then show it,
//     a difference to look at, not a wrong count).
//   - Commands cut by a hang-up: Dovecot counts a command it finished
//     without a tagged reply (outcome "error" in mailsim_server_*), while
//     mailsim does not record a command its device cut by closing the
//     connection (IDLE at a deliberate drop, or at the end of the run). A
//     command mailsim recorded as failed may have never reached Dovecot
//     (a drop while the shaped network held it back). So per name
//     Dovecot's count may exceed mailsim's by its cut commands, and fall
//     short of it by mailsim's failed ones.
//   - Dovecot's names outside mailsim's catalog (UID SORT …) are folded
//     into "other", as mailsim labels them.
//   - Deliveries: mail_delivery_finished counts one per recipient mailbox,
//     so it is compared with mailsim's per-recipient deliveries
//     (messages.delivered), not with LMTP DATA commands: a message the
//     injector sends to two simulated users is one DATA and two
//     deliveries. DATA ok equals it only when every transaction had one
//     recipient.

// crossTolerance is the relative difference allowed per command name.
const crossTolerance = 0.01

// preLoginIMAP are mailsim's command labels Dovecot's imap process never
// sees: the login process answers them, and CONNECT (the connect and the
// greeting) is no command at all.
var preLoginIMAP = map[string]bool{"LOGIN": true, "AUTHENTICATE": true, "STARTTLS": true, "CAPABILITY": true, "CONNECT": true}

// crossWant is mailsim's side of the cross-check, by mailsim label.
type crossWant struct {
	// count is every command mailsim sent that Dovecot's imap process
	// should count; failed are those of them mailsim saw fail.
	count, failed map[string]float64
	// capSlack is the share by which Dovecot's CAPABILITY count may fall
	// short (devices that drop connections on purpose); capStop the
	// number by which it may, besides (sessions the stop cut after their
	// login: one per IMAP session the devices may hold at once,
	// imapSessions).
	capSlack, capStop float64
	// deliveries is mailsim's deliveries, one per recipient.
	deliveries float64
}

// crossExpect returns mailsim's side of the cross-check from a run's
// report; drops says the scenario's devices drop connections on purpose.
func crossExpect(t *testing.T, rep map[string]any, drops bool) crossWant {
	t.Helper()
	w := crossWant{count: map[string]float64{}, failed: map[string]float64{}}
	for _, section := range []string{"commands", "auditor_commands"} {
		cmds, _ := field(rep, section+".imap")
		m, _ := cmds.(map[string]any)
		for name, c := range m {
			if preLoginIMAP[name] {
				continue
			}
			cm, _ := c.(map[string]any)
			n, _ := cm["count"].(float64)
			e, _ := cm["errors"].(float64)
			w.count[name] += n
			w.failed[name] += e
		}
	}
	// The preflight's look and its LOGOUT, when it sent one (the look
	// left the session usable).
	if proto, _ := field(rep, "mail_at_start.protocol"); proto == "imap" {
		cmds, _ := field(rep, "mail_at_start.commands")
		m, _ := cmds.(map[string]any)
		for name, n := range m {
			c, _ := n.(float64)
			w.count[name] += c
		}
	}
	// The post-login CAPABILITY of every device IMAP session.
	if n := num(t, rep, "load.logins.imap.ok"); n > 0 {
		w.count["CAPABILITY"] = n
	}
	if drops {
		w.capSlack = 0.05
	}
	w.capStop = imapSessions(reportPlan(t, rep))
	w.deliveries = num(t, rep, "messages.delivered")
	return w
}

// reportPlan returns the plan of a run of a shipped scenario from its
// report: the scenario by name, its users and seed.
func reportPlan(t *testing.T, rep map[string]any) *scenarios.Plan {
	t.Helper()
	name, _ := rep["scenario"].(string)
	s, err := scenarios.Load(name, nil)
	if err != nil {
		t.Fatalf("the report's scenario %q: %v", name, err)
	}
	seed := int64(num(t, rep, "seed"))
	plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{Users: int(num(t, rep, "users")), Seed: &seed})
	if err != nil {
		t.Fatalf("the report's plan: %v", err)
	}
	return plan
}

// imapSessions returns how many IMAP sessions plan's devices may hold at
// once, each of which the stop may cut between its LOGIN and go-imap's
// post-login CAPABILITY: a PC's long-lived connections (two by default,
// clients.Profile.LongLivedConnections), a phone's one, a webmail's one
// session of a check; POP3 devices none.
func imapSessions(plan *scenarios.Plan) float64 {
	n := 0
	for _, u := range plan.Users {
		for _, d := range u.Devices {
			if d.Profile.Protocol == clients.IMAP {
				n += max(1, d.Profile.LongLivedConnections())
			}
		}
	}
	return float64(n)
}

// okCount returns count minus errors of one command in a report section.
func okCount(rep map[string]any, path string) float64 {
	c, _ := field(rep, path)
	m, _ := c.(map[string]any)
	count, _ := m["count"].(float64)
	errs, _ := m["errors"].(float64)
	return count - errs
}

// dovecotCounts are Dovecot's IMAP command counts by mailsim label.
type dovecotCounts struct {
	// total counts every finished command; cut those Dovecot finished
	// without a tagged reply (the client hung up mid-command).
	total, cut map[string]float64
}

// dovecotIMAPByLabel reads Dovecot's IMAP command counts through mailsim's
// Dovecot collector (names folded into mailsim's labels, outcomes mapped),
// without the login process's commands.
func dovecotIMAPByLabel(url string) (dovecotCounts, error) {
	c := dovecotCounts{total: map[string]float64{}, cut: map[string]float64{}}
	col, err := metrics.NewDovecot(metrics.DovecotOptions{URL: url})
	if err != nil {
		return c, err
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(col); err != nil {
		return c, err
	}
	fams, err := reg.Gather()
	if err != nil {
		return c, err
	}
	if err := col.LastError(); err != nil {
		return c, err
	}
	for _, mf := range fams {
		if mf.GetName() != "mailsim_server_commands_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["protocol"] != "imap" || preLoginIMAP[l["command"]] && l["command"] != "CAPABILITY" {
				continue
			}
			v := m.GetCounter().GetValue()
			c.total[l["command"]] += v
			if l["outcome"] == "error" {
				c.cut[l["command"]] += v
			}
		}
	}
	return c, nil
}

// crossDiff lists every label whose counts disagree beyond the rules
// above and the tolerance, "LABEL mailsim N (F failed) dovecot M (K cut)".
func crossDiff(want crossWant, got dovecotCounts) []string {
	labels := map[string]bool{}
	for k := range want.count {
		labels[k] = true
	}
	for k := range got.total {
		labels[k] = true
	}
	var out []string
	for k := range labels {
		w, g := want.count[k], got.total[k]
		low, high := w-want.failed[k], w+got.cut[k]
		if k == "CAPABILITY" {
			low -= want.capSlack*w + want.capStop
		}
		tol := crossTolerance * math.Max(w, g)
		if g < low-tol || g > high+tol {
			out = append(out, fmt.Sprintf("%s mailsim %v (%v failed) dovecot %v (%v cut)", k, w, want.failed[k], g, got.cut[k]))
		}
	}
	sort.Strings(out)
	return out
}

// crossCheck compares a finished run's report with inst's counters.
// Dovecot's processes send their statistics asynchronously (and sessions
// closed at the end of the run finish their last command a moment
// later), so it polls for up to 30 s before it reports a difference (a
// loaded machine slows Dovecot's metrics page too); a scrape that fails
// then does not hide the difference an earlier one found.
func crossCheck(t *testing.T, inst *dovecottest.Instance, rep map[string]any, drops bool) {
	t.Helper()
	want := crossExpect(t, rep, drops)
	wantDeliveries := want.deliveries
	if len(want.count) == 0 {
		t.Fatal("cross-check: the report has no IMAP commands")
	}
	if wantDeliveries <= 0 {
		t.Errorf("cross-check: mailsim delivered nothing (messages.delivered)")
	}
	// Every delivery went through an accepted RCPT of an LMTP
	// transaction whose DATA succeeded.
	if rcpt, data := okCount(rep, "commands.lmtp.RCPT"), okCount(rep, "commands.lmtp.DATA"); wantDeliveries > rcpt || data > wantDeliveries {
		t.Errorf("cross-check: %v deliveries but LMTP RCPT ok %v, DATA ok %v: want DATA <= deliveries <= RCPT", wantDeliveries, rcpt, data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var diff []string
	var gotDeliveries float64
	var err error
	scraped := false // a scrape succeeded: diff and gotDeliveries are its
	for {
		got, serr := dovecotIMAPByLabel(inst.MetricsURL)
		var delivered float64
		if serr == nil {
			delivered, serr = metrics.DovecotDeliveries(ctx, inst.MetricsURL)
		}
		if err = serr; err == nil {
			scraped, gotDeliveries, diff = true, delivered, crossDiff(want, got)
			if len(diff) == 0 && gotDeliveries == wantDeliveries {
				t.Logf("cross-check: %d IMAP command names agree with Dovecot; %v deliveries", len(want.count), gotDeliveries)
				return
			}
		}
		select {
		case <-ctx.Done():
			if !scraped {
				t.Fatalf("cross-check: %v", err)
			}
			if len(diff) > 0 {
				t.Errorf("cross-check: IMAP command counts differ by more than %.0f%%:\n%s", crossTolerance*100, strings.Join(diff, "\n"))
			}
			if gotDeliveries != wantDeliveries {
				t.Errorf("cross-check: mailsim's deliveries (messages.delivered) %v, Dovecot's mail_delivery_finished %v", wantDeliveries, gotDeliveries)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// TestCrossDiff pins the comparison itself: within 1% passes, beyond it
// or a name only one side has fails; Dovecot's cut commands widen the
// window upwards, mailsim's failed ones downwards, and capSlack only
// CAPABILITY's downwards.
func TestCrossDiff(t *testing.T) {
	type m = map[string]float64
	tests := []struct {
		name          string
		count, failed m
		capSlack      float64
		total, cut    m
		diff          []string
	}{
		{"equal", m{"SELECT": 10}, nil, 0, m{"SELECT": 10}, nil, nil},
		{"within 1%", m{"UID FETCH": 1000}, nil, 0, m{"UID FETCH": 1009}, nil, nil},
		{"beyond 1%", m{"UID FETCH": 1000}, nil, 0, m{"UID FETCH": 1011}, nil,
			[]string{"UID FETCH mailsim 1000 (0 failed) dovecot 1011 (0 cut)"}},
		{"small counts exact", m{"NOOP": 9}, nil, 0, m{"NOOP": 10}, nil,
			[]string{"NOOP mailsim 9 (0 failed) dovecot 10 (0 cut)"}},
		{"cut commands mailsim did not record", m{"IDLE": 4}, nil, 0, m{"IDLE": 5}, m{"IDLE": 1}, nil},
		{"more than cut", m{"IDLE": 3}, nil, 0, m{"IDLE": 5}, m{"IDLE": 1},
			[]string{"IDLE mailsim 3 (0 failed) dovecot 5 (1 cut)"}},
		{"cut does not excuse a shortfall", m{"IDLE": 6}, nil, 0, m{"IDLE": 5}, m{"IDLE": 1},
			[]string{"IDLE mailsim 6 (0 failed) dovecot 5 (1 cut)"}},
		{"failed commands may not have arrived", m{"SELECT": 20}, m{"SELECT": 2}, 0, m{"SELECT": 18}, nil, nil},
		{"failed do not excuse a surplus", m{"SELECT": 20}, m{"SELECT": 2}, 0, m{"SELECT": 21}, nil,
			[]string{"SELECT mailsim 20 (2 failed) dovecot 21 (0 cut)"}},
		{"capability slack", m{"CAPABILITY": 100}, nil, 0.05, m{"CAPABILITY": 95}, nil, nil},
		{"capability beyond slack", m{"CAPABILITY": 100}, nil, 0.05, m{"CAPABILITY": 93}, nil,
			[]string{"CAPABILITY mailsim 100 (0 failed) dovecot 93 (0 cut)"}},
		{"slack is for capability only", m{"ID": 100}, nil, 0.05, m{"ID": 95}, nil,
			[]string{"ID mailsim 100 (0 failed) dovecot 95 (0 cut)"}},
		{"only mailsim", m{"IDLE": 3}, nil, 0, m{}, nil,
			[]string{"IDLE mailsim 3 (0 failed) dovecot 0 (0 cut)"}},
		{"only dovecot", m{}, nil, 0, m{"other": 4}, nil,
			[]string{"other mailsim 0 (0 failed) dovecot 4 (0 cut)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := crossWant{count: tt.count, failed: tt.failed, capSlack: tt.capSlack}
			got := crossDiff(want, dovecotCounts{total: tt.total, cut: tt.cut})
			if strings.Join(got, "|") != strings.Join(tt.diff, "|") {
				t.Errorf("got %q, want %q", got, tt.diff)
			}
		})
	}
}

// TestCrossDiffCapStop: Dovecot's CAPABILITY count may fall short of the
// logins by the sessions the stop cut between their LOGIN and their
// CAPABILITY, one per IMAP session at most (a CI run read 71 for 72
// logins; TestIMAPSessions).
func TestCrossDiffCapStop(t *testing.T) {
	type m = map[string]float64
	for _, tt := range []struct {
		got  float64
		diff bool
	}{{72, false}, {71, false}, {66, false}, {65, true}} {
		want := crossWant{count: m{"CAPABILITY": 72}, capStop: 6}
		if got := crossDiff(want, dovecotCounts{total: m{"CAPABILITY": tt.got}}); (len(got) > 0) != tt.diff {
			t.Errorf("dovecot %v of 72 with 6 devices: diff %q, want a difference: %v", tt.got, got, tt.diff)
		}
	}
}

// TestIMAPSessions: the cross-check's CAPABILITY allowance at the stop is
// one per IMAP session the devices may hold at once, not one per device:
// a PC over IMAP holds two by default (its connections), a phone and a
// webmail one, a POP3 PC none. Until 2026-12-04 it was the report's
// devices, one for a PC that may lose two.
func TestIMAPSessions(t *testing.T) {
	for _, tt := range []struct {
		devices  string // the group's devices; the profiles below
		sessions float64
	}{
		{"[pc-imap]", 2},
		{"[pc-one]", 1},
		{"[pc-pop3]", 0},
		{"[phone-imap, webmail]", 2},
		{"[pc-imap, phone-imap, pc-pop3]", 3},
	} {
		src := fmt.Sprintf(`
version: 1
name: sessions
duration: 1s
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: g, share: 100%%, devices: %s, behavior: b}]
behaviors: {b: {}}
devices:
  pc-one: {kind: pc, protocol: imap, connections: 1}
`, tt.devices)
		s, err := scenarios.Parse("sessions.yaml", []byte(src), nil)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := scenarios.NewPlan(s, scenarios.PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := imapSessions(plan); got != 2*tt.sessions {
			t.Errorf("%s: %v IMAP sessions for 2 users, want %v", tt.devices, got, 2*tt.sessions)
		}
	}
	// From a run's report: quickstart's 6 users are 3 with a POP3 PC and
	// a phone (3 sessions) and 3 with an IMAP PC, a phone and a webmail
	// (12).
	rep := map[string]any{"scenario": "quickstart", "users": 6.0, "seed": 1.0}
	if got := imapSessions(reportPlan(t, rep)); got != 15 {
		t.Errorf("quickstart, 6 users: %v IMAP sessions, want 15", got)
	}
}
