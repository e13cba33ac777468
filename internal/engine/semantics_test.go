package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// The tests in this file pin the divergence semantics of docs/report.md and
// issue 6 on small deterministic scenarios run on the embedded server: what
// IMAP everywhere, POP3 download-and-delete, POP3 leave-on-server and POP3
// sending do to a user's devices, and that no mail is lost in any of them.
//
// Every scenario runs at a high time scale with short poll intervals, so
// the settle phase spans several syncs of every device that is meant to
// sync, and a phone that is meant to stay behind polls far less often than
// the whole run lasts.

// semanticsRun is a finished run with the final views of every device.
type semanticsRun struct {
	res *Result
	// views[user][profile] is the device's view at the end of the run.
	views map[string]map[string]view.Snapshot
	tr    *tracer
	// srv is the embedded server, closed when the test ends.
	srv *mailserver.Server
}

// runSemantics runs the scenario yaml on a fresh embedded server and keeps
// the engine's devices, so the test can look at their final views.
func runSemantics(t *testing.T, yaml string) semanticsRun {
	t.Helper()
	plan := mustPlan(t, yaml, scenarios.PlanOptions{})
	srv, ep := startEmbedded(t, plan)
	tr := &tracer{}
	e, err := New(Options{
		Plan:      plan,
		Endpoints: ep,
		Recorder:  newTestRecorder(),
		Truth:     storeTruth{srv},
		Trace:     tr.add,
		Logger:    slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := e.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	run := semanticsRun{res: res, views: map[string]map[string]view.Snapshot{}, tr: tr, srv: srv}
	for _, u := range e.users {
		m := map[string]view.Snapshot{}
		for _, d := range u.devices {
			m[d.dev.Profile().Name] = d.dev.View()
		}
		run.views[u.plan.Username] = m
	}
	return run
}

// checkNoLoss fails the test when the final audit did not read the
// server, or found lost mail, or nothing was delivered at all, or left a
// divergent message unexplained.
func checkNoLoss(t *testing.T, r audit.Result) {
	t.Helper()
	if !r.ServerChecked {
		t.Error("the final audit did not read the server's state")
	}
	if r.Lost != 0 {
		t.Errorf("lost %d messages on the embedded server: %+v", r.Lost, r.LostMessages)
	}
	if r.Delivered == 0 {
		t.Fatal("nothing was delivered: the scenario tests nothing")
	}
	checkExplained(t, r)
}

// describe formats a convergence result for failure messages.
func describe(r audit.Result) string {
	var kinds []string
	for _, k := range audit.Kinds {
		if kr, ok := r.Convergence[k]; ok {
			kinds = append(kinds, fmt.Sprintf("%s: %d/%d converged, unconverged %v", k, kr.Converged, kr.Changes, kr.Unconverged))
		}
	}
	return fmt.Sprintf("divergence %+v; %v", r.Overall, kinds)
}

// TestSemanticsIMAPEverywhereConverges: a PC on IMAP IDLE, a polling phone
// and a webmail, all on IMAP, show the same mailbox once they have synced:
// after settle the divergence ratio is 0, every change converged and every
// user's devices agree. Settle covers every profile's sync cycle
// (requireSettleCoversSyncCycles).
func TestSemanticsIMAPEverywhereConverges(t *testing.T) {
	const yaml = `
version: 1
name: imap-everywhere
seed: 11
duration: 4s
time_scale: 120
settle: {max: 30s, until: synced} # ends once every device synced since every change it does not show (audit.Change.Stored)
audit: 500ms
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: imap, share: 100%, devices: [pc-imap, phone-imap, webmail], behavior: b}]
behaviors:
  b:
    inbound: {interval: 40s, size: {min: 2KiB, max: 8KiB}}
    send: {interval: 2m, write_time: 10s, internal: 0%}
    on_new_mail: {read: 90%, reply: 20%, flag: 30%, move: 20%, delete: 10%}
    action_delay: 10s
    action_repeat_delay: 2s
    folders: [Archive]
    session_length: 1m
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true, connections: CONNECTIONS, status_interval: 1m}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 1m, network: {latency: 0s}}
  webmail: {kind: webmail, protocol: imap, refresh: 1m}
`
	requireSettleCoversSyncCycles(t, mustPlan(t, strings.ReplaceAll(yaml, "CONNECTIONS", "1"), scenarios.PlanOptions{}).Scenario)
	for _, tc := range []struct {
		name        string
		connections int
		skip        string
	}{
		{name: "pc-one-connection", connections: 1},
		{name: "pc-two-connections", connections: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip != "" {
				t.Skip(tc.skip)
			}
			run := runSemantics(t, strings.ReplaceAll(yaml, "CONNECTIONS", strconv.Itoa(tc.connections)))
			r := run.res.Audit
			checkNoLoss(t, r)
			for _, k := range []audit.ChangeKind{audit.Read, audit.Move, audit.Send} {
				if r.Convergence[k].Changes == 0 {
					t.Errorf("no %s change happened: the scenario tests less than it should (%s)", k, describe(r))
				}
			}
			if r.Overall.Divergent != 0 || r.Overall.Ratio() != 0 {
				t.Errorf("IMAP-only devices diverge after settle: %s", describe(r))
			}
			if got := r.Overall.UsersConvergedRatio(); got != 1 {
				t.Errorf("users converged ratio %v, want 1", got)
			}
			if g, ok := r.Groups["imap"]; !ok || g.Divergence.Ratio() != 0 || g.Divergence.Users != 2 {
				t.Errorf("group imap: %+v (present %v), want 2 users and ratio 0", g.Divergence, ok)
			}
			for _, k := range audit.Kinds {
				if kr := r.Convergence[k]; kr.Converged != kr.Changes {
					t.Errorf("%s: %d of %d changes converged, unconverged %v", k, kr.Converged, kr.Changes, kr.Unconverged)
				}
			}
			// The agreement is not vacuous: the devices show the same,
			// non-empty mailbox.
			for user, vs := range run.views {
				pc, phone, web := vs["pc-imap"], vs["phone-imap"], vs["webmail"]
				if len(pc.Messages) == 0 || len(pc.Messages) != len(phone.Messages) || len(pc.Messages) != len(web.Messages) {
					t.Errorf("%s: pc shows %d messages, phone %d, webmail %d", user, len(pc.Messages), len(phone.Messages), len(web.Messages))
				}
			}
		})
	}
}

// TestSemanticsPOP3DeleteLeavesPresenceDivergence: a POP3 PC that deletes
// what it downloads, and an IMAP phone that polls once at the start and
// not again during the run. Mail the PC fetched is gone from the server
// before the phone could see it: presence divergence, and every delivery
// the phone never showed is unconverged with reason deleted-from-server.
func TestSemanticsPOP3DeleteLeavesPresenceDivergence(t *testing.T) {
	const yaml = `
version: 1
name: pop3-delete
seed: 12
duration: 4s
time_scale: 120
settle: 3s
audit: 500ms
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: pop3-download, share: 100%, devices: [pc-pop3, phone-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 30s, size: {min: 2KiB, max: 8KiB}}
    session_length: 1m
devices:
  pc-pop3: {kind: pc, protocol: pop3, poll_interval: 30s, leave_on_server: false}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 1000h, network: {latency: 0s}}
`
	run := runSemantics(t, yaml)
	r := run.res.Audit
	checkNoLoss(t, r)
	if r.Overall.ByDimension.Presence == 0 || r.Overall.Ratio() == 0 {
		t.Fatalf("no presence divergence: %s", describe(r))
	}
	// Every message the phone does not show is one the PC downloaded and
	// deleted from the server.
	notOnPhone := 0
	for user, vs := range run.views {
		pc, phone := vs["pc-pop3"], vs["phone-imap"]
		if len(pc.Messages) == 0 {
			t.Errorf("%s: the POP3 PC downloaded nothing", user)
		}
		for id := range pc.Messages {
			if _, ok := phone.Messages[id]; !ok {
				notOnPhone++
			}
		}
	}
	if notOnPhone == 0 {
		t.Fatal("the phone shows every message the PC downloaded: the scenario tests nothing")
	}
	d := r.Convergence[audit.Deliver]
	want := map[audit.Reason]int{audit.ReasonDeletedFromServer: notOnPhone}
	if fmt.Sprint(d.Unconverged) != fmt.Sprint(want) {
		t.Errorf("deliver unconverged %v, want %v (%s)", d.Unconverged, want, describe(r))
	}
	if d.Changes-d.Converged != notOnPhone {
		t.Errorf("deliver: %d of %d changes unconverged, want %d (the messages the phone never saw)",
			d.Changes-d.Converged, d.Changes, notOnPhone)
	}
}

// TestSemanticsPOP3LeaveOnServerFlagsStayLocal: a POP3 PC that leaves mail
// on the server, reads and flags every message, and an IMAP phone that
// polls often. Both show every message (presence converges) but the PC's
// flags stay on the PC: flag changes are unconverged with reason
// pop3-local-only and the phone never shows \Flagged.
//
// \Seen is the exception that proves the rule: the embedded server, like
// Dovecot by default, marks a message \Seen when a POP3 session RETRieves
// it and QUITs, so the phone shows downloaded mail as read and the read
// changes do converge (through the download, not through the person's
// read). The test pins that too, from the server's state.
func TestSemanticsPOP3LeaveOnServerFlagsStayLocal(t *testing.T) {
	const yaml = `
version: 1
name: pop3-leave
seed: 13
duration: 4s
time_scale: 120
settle: 5s
audit: 500ms
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: pop3-leave, share: 100%, devices: [pc-pop3, phone-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 30s, size: {min: 2KiB, max: 8KiB}}
    on_new_mail: {read: 100%, flag: 100%}
    action_delay: 5s
    action_repeat_delay: 1s
    session_length: 1h
devices:
  pc-pop3: {kind: pc, protocol: pop3, poll_interval: 30s, leave_on_server: true}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 30s, network: {latency: 0s}}
hand: {pc: 100%, phone: 0%}
`
	run := runSemantics(t, yaml)
	r := run.res.Audit
	checkNoLoss(t, r)
	if r.Overall.ByDimension.Presence != 0 || r.Overall.ByDimension.Folder != 0 {
		t.Errorf("presence or folders diverge with leave_on_server and no move/delete: %s", describe(r))
	}
	if d := r.Convergence[audit.Deliver]; d.Changes == 0 || d.Converged != d.Changes {
		t.Errorf("deliver: %d of %d converged, unconverged %v", d.Converged, d.Changes, d.Unconverged)
	}
	fl := r.Convergence[audit.Flag]
	if fl.Changes == 0 {
		t.Fatalf("nobody flagged anything: %s", describe(r))
	}
	want := map[audit.Reason]int{audit.ReasonPOP3LocalOnly: fl.Changes}
	if fl.Converged != 0 || fmt.Sprint(fl.Unconverged) != fmt.Sprint(want) {
		t.Errorf("flag: %d of %d converged, unconverged %v; want none converged, %v", fl.Converged, fl.Changes, fl.Unconverged, want)
	}
	if r.Overall.ByDimension.Flags == 0 || r.Overall.Ratio() == 0 {
		t.Errorf("no flags divergence although the PC flagged mail locally: %s", describe(r))
	}
	flagged := 0
	for user, vs := range run.views {
		server, err := run.srv.UserState(user)
		if err != nil {
			t.Fatal(err)
		}
		pc, phone := vs["pc-pop3"], vs["phone-imap"]
		for id, m := range pc.Messages {
			pm, ok := phone.Messages[id]
			if !ok {
				t.Errorf("%s: %s on the PC, not on the phone", user, id)
				continue
			}
			if m.Flags.Has(view.Flagged) {
				flagged++
				if pm.Flags.Has(view.Flagged) || server.Messages[id].Flags.Has(view.Flagged) {
					t.Errorf("%s: %s flagged on the POP3 PC shows \\Flagged on the phone or the server", user, id)
				}
			}
			if !server.Messages[id].Flags.Has(view.Seen) {
				t.Errorf("%s: %s downloaded by POP3 is not \\Seen on the server", user, id)
			}
		}
	}
	if flagged != fl.Changes {
		t.Errorf("the PCs show %d flagged messages, the audit recorded %d flag changes", flagged, fl.Changes)
	}
	if rd := r.Convergence[audit.Read]; rd.Changes == 0 || rd.Converged != rd.Changes {
		t.Errorf("read: %d of %d converged, unconverged %v; want all converged through RETR's \\Seen",
			rd.Converged, rd.Changes, rd.Unconverged)
	}
}

// TestSemanticsPOP3SentStaysLocal: mail sent from a POP3 PC goes out over
// SMTP and sits in the PC's local Sent only; the IMAP phone never shows it.
// Send changes are unconverged with reason pop3-local-only.
func TestSemanticsPOP3SentStaysLocal(t *testing.T) {
	const yaml = `
version: 1
name: pop3-send
seed: 14
duration: 4s
time_scale: 120
settle: 4s
audit: 500ms
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: pop3-leave, share: 100%, devices: [pc-pop3, phone-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 1m, size: {min: 2KiB, max: 8KiB}}
    send: {interval: 40s, write_time: 5s, internal: 0%}
    action_repeat_delay: 1s
    session_length: 1h
devices:
  pc-pop3: {kind: pc, protocol: pop3, poll_interval: 30s, leave_on_server: true}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 30s, network: {latency: 0s}}
hand: {pc: 100%, phone: 0%}
`
	run := runSemantics(t, yaml)
	r := run.res.Audit
	checkNoLoss(t, r)
	sends := map[string][]string{} // user -> Message-IDs sent
	run.tr.mu.Lock()
	for _, ev := range run.tr.events {
		if ev.Kind == "send" && ev.MessageID != "" {
			sends[ev.User] = append(sends[ev.User], ev.MessageID)
		}
	}
	run.tr.mu.Unlock()
	total := 0
	for user, ids := range sends {
		sort.Strings(ids)
		vs := run.views[user]
		for _, id := range ids {
			total++
			if m, ok := vs["pc-pop3"].Messages[id]; !ok || m.Folder != "Sent" {
				t.Errorf("%s: sent %s is not in the PC's Sent (%+v, %v)", user, id, m, ok)
			}
			if m, ok := vs["phone-imap"].Messages[id]; ok {
				t.Errorf("%s: sent %s from the POP3 PC shows on the phone in %s", user, id, m.Folder)
			}
		}
	}
	if total == 0 {
		t.Fatalf("nobody sent anything: %s", describe(r))
	}
	s := r.Convergence[audit.Send]
	want := map[audit.Reason]int{audit.ReasonPOP3LocalOnly: total}
	if s.Changes != total || s.Converged != 0 || fmt.Sprint(s.Unconverged) != fmt.Sprint(want) {
		t.Errorf("send: %d of %d converged, unconverged %v; want %d changes, none converged, %v",
			s.Converged, s.Changes, s.Unconverged, total, want)
	}
	if r.Sent != total {
		t.Errorf("audit counted %d sent messages, the people sent %d", r.Sent, total)
	}
}

// TestSemanticsSendLagLeavesOutTheWriting: a send's lag counts from when
// the server had its copy in Sent (audit.Change.Stored, the end of the
// action), not from when the person began writing: with a write_time of
// 15 simulated minutes and a phone polling every 30 s, every send
// converges well within the writing time. Before 2026-12-04 each send's
// lag held the 15 minutes.
func TestSemanticsSendLagLeavesOutTheWriting(t *testing.T) {
	const (
		writeTime = 15 * time.Minute
		yaml      = `
version: 1
name: send-lag
seed: 15
duration: 20s
time_scale: 120
settle: {max: 20s, until: synced}
audit: 250ms
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: imap, share: 100%, devices: [pc-imap, phone-imap], behavior: b}]
behaviors:
  b: {send: {interval: 3m, write_time: 15m, internal: 100%}} # the mail sent is the mail delivered
devices:
  pc-imap: {kind: pc, protocol: imap, status_interval: 1m}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 30s, network: {latency: 0s}}
hand: {pc: 100%, phone: 0%}
`
	)
	run := runSemantics(t, yaml)
	r := run.res.Audit
	checkNoLoss(t, r)
	s := r.Convergence[audit.Send]
	if s.Changes == 0 || s.Converged != s.Changes || len(s.Lags) == 0 {
		t.Fatalf("send: %d of %d converged, unconverged %v: the test needs converged sends", s.Converged, s.Changes, s.Unconverged)
	}
	t.Logf("%d send lags: %v", len(s.Lags), s.Lags)
	if longest := s.Lags[len(s.Lags)-1]; longest >= writeTime {
		t.Errorf("send lags %v: the longest, %v, is not under the writing time %v (it counts from the action's start)", s.Lags, longest, writeTime)
	}
}
