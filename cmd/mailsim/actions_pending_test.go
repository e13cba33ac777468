package main

import (
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/metrics"
)

// TestRunActionsPendingGauge runs a scenario on the embedded server
// whose people act on their mail 3 simulated minutes after they notice
// it (3 s of the 6 s run), so that some actions are still waiting their
// turn when the people stop, and scrapes the run's metrics to its end:
// mailsim_actions_pending then holds, by action, what the report counts
// in actions.pending; no action's is negative.
func TestRunActionsPendingGauge(t *testing.T) {
	t.Parallel()
	_, addrs := startEmbedded(t, 3, mailserver.ListenConfig{})
	spec := faultSpec{
		name: "actions-pending", duration: "6s", settle: "2s", users: 3,
		devices: "[pc-imap, phone-imap]", imap: addrs.IMAP, submission: addrs.SMTP, lmtp: addrs.LMTP,
		behavior: `{inbound: {interval: 30s, size: {min: 2KiB, max: 8KiB}}, action_delay: 3m, on_new_mail: {read: 60%, reply: 20%, flag: 10%, move: 10%, delete: 5%}, folders: [Archive]}`,
	}
	met := newFinalMetrics(t)
	r := runFaulted(t, spec, met.scrape, met.args()...)
	rep := requireReport(t, r)
	pending := num(t, rep, "actions.pending")
	if pending == 0 {
		t.Fatalf("no action pending at the end (actions %v): the test checks nothing", rep["actions"])
	}
	if got := met.sum(t, "mailsim_actions_pending", nil); got != pending {
		t.Errorf("sum of mailsim_actions_pending %v at the end, the report's actions.pending %v", got, pending)
	}
	for _, a := range metrics.Actions() {
		if n := met.sum(t, "mailsim_actions_pending", map[string]string{"action": a}); n < 0 {
			t.Errorf("mailsim_actions_pending{action=%q} %v, below 0", a, n)
		}
	}
	// Lost mail is the final audit's (absent before it: metrics/harness.go);
	// the lingering metrics carry its count, the report's.
	met.mu.Lock()
	last := met.last
	met.mu.Unlock()
	if !strings.Contains(last, "\nmailsim_messages_lost ") {
		t.Error("no mailsim_messages_lost after the final audit")
	} else if got, want := met.sum(t, "mailsim_messages_lost", nil), num(t, rep, "messages.lost"); got != want {
		t.Errorf("mailsim_messages_lost %v after the final audit, the report's messages.lost %v", got, want)
	}
	t.Logf("actions %v", rep["actions"])
}
