package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/scenarios"
)

// stopGraceScenario is one IMAP user who sends often, with the scenario's
// stop_grace line %s ("": the default).
const stopGraceScenario = `
version: 1
name: stopgrace
seed: 3
duration: 30s
time_scale: 60
settle: 1s
%s
users: {count: 1, username: "user{n}", password: pass}
groups:
  - {name: imap, share: 100%%, devices: [pc-imap], behavior: sender}
behaviors:
  sender:
    inbound: {interval: 1h, size: {min: 2KiB, max: 4KiB}}
    send: {interval: 20s}
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true}
`

// TestStopGraceReachesDevices: the scenario's stop_grace is the stop's
// grace of the devices' commands (clients.Options.StopGrace) and of their
// submissions (clients.SMTPOptions.StopGrace), as it is the injector's
// (TestInjectorIMAPAppendAtTheEnd): a command the server (the embedded
// one, behind a fault proxy) holds across the run's end counts ok when the
// server answers it after the default grace (1 s) has passed, with
// stop_grace 10m; with the default grace, a command the server never
// answers counts a timeout and the run ends by itself — the grace alone
// decides (internal/engine/user.go hands it to both; without, the 10m rows
// count a timeout).
//
// Nothing here depends on the machine being fast: the default rows never
// release the command, so the run's end is the grace's; the 10m rows
// release it 2 s after the run's end, far within a grace no load eats,
// and only a broken grace (the default's) could end the run before. The
// one wall-time wait, that 2 s, can at worst miss a broken grace on a
// machine that held the device's stop more than a second, never fail a
// working one. Before 2026-12-05 every row released the command 3 s after
// the run's end, against graces of 1 s and 10 s: margins, not order.
func TestStopGraceReachesDevices(t *testing.T) {
	// releaseAfter is when the 10m rows let the held command through
	// after the run's end: past the default grace, which the device
	// began at the earliest then.
	const releaseAfter = 2 * clients.DefaultStopGrace
	for _, tt := range []struct {
		name string
		// submission: the proxy is the submission's (its MAIL held),
		// else IMAP's (the first SELECT held).
		submission bool
		stopGrace  string // the scenario's stop_grace ("": none, and the command is never released)
		// want is the held command's record, "protocol command outcome";
		// not the other outcome. The proxy holds every connection once it
		// struck, so the PC's second connection's first SELECT, when it
		// went out after the first, is held as well and ends the same way.
		want, not string
	}{
		{"IMAP, stop_grace 10m", false, "10m", "imap SELECT ok", "imap SELECT timeout"},
		{"IMAP, default grace", false, "", "imap SELECT timeout", "imap SELECT ok"},
		{"submission, stop_grace 10m", true, "10m", "smtp MAIL ok", "smtp MAIL timeout"},
		{"submission, default grace", true, "", "smtp MAIL timeout", "smtp MAIL ok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			line := ""
			if tt.stopGrace != "" {
				line = "stop_grace: " + tt.stopGrace
			}
			plan := mustPlan(t, fmt.Sprintf(stopGraceScenario, line), scenarios.PlanOptions{})
			_, ep := startEmbedded(t, plan)
			backend, pattern := &ep.IMAP.Addr, "SELECT"
			if tt.submission {
				backend, pattern = &ep.Submission.Addr, "MAIL FROM"
			}
			proxy, err := faultproxy.New(faultproxy.Options{Backend: *backend})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() })
			held := proxy.StallOn([]byte(pattern))
			*backend = proxy.Addr()
			dc := newDeliveryCounter()
			e, err := New(Options{Plan: plan, Endpoints: ep, Recorder: dc})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := runAsync(ctx, e)
			select {
			case <-held:
			case r := <-ch:
				t.Fatalf("the run ended (%v) before the proxy held a %s", r.err, pattern)
			case <-time.After(hangLimit):
				t.Fatalf("no %s within %s", pattern, hangLimit)
			}
			// The run's end (a second ^C) while the server holds the
			// command.
			cancel()
			var r runResult
			if tt.stopGrace == "" {
				// Never answered: the grace ends the run.
				r = waitRun(t, ch)
			} else {
				// Answered once the default grace is over, unless the
				// run ended first (the grace is not stop_grace's).
				release := time.NewTimer(releaseAfter)
				defer release.Stop()
				select {
				case r = <-ch:
				case <-release.C:
					proxy.Resume()
					r = waitRun(t, ch)
				}
			}
			if r.res == nil {
				t.Fatalf("run: no result: %v", r.err)
			}
			dc.mu.Lock()
			defer dc.mu.Unlock()
			if dc.recorded[tt.want] < 1 || dc.recorded[tt.not] != 0 {
				t.Errorf("recorded %v, want %s and no %s", dc.recorded, tt.want, tt.not)
			}
			dc.checkTracked(t)
		})
	}
}
