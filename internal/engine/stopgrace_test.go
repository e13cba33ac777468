package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

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
// one, behind a fault proxy) holds across the run's end and answers
// releaseAfter later counts ok with stop_grace 10s, a timeout with the
// default 1 s — the grace alone decides (internal/engine/user.go hands it
// to both; without, the 10 s rows count a timeout).
func TestStopGraceReachesDevices(t *testing.T) {
	// releaseAfter is when the proxy lets the held command through after
	// the run's end: 2 s beyond the default grace, 7 s within the long
	// one, margins a loaded machine does not eat.
	const releaseAfter = 3 * time.Second
	for _, tt := range []struct {
		name string
		// submission: the proxy is the submission's (its MAIL held),
		// else IMAP's (the first SELECT held).
		submission bool
		stopGrace  string // the scenario's stop_grace ("": none)
		// want is the held command's record, "protocol command outcome";
		// not the other outcome. The proxy holds every connection once it
		// struck, so the PC's second connection's first SELECT, when it
		// went out after the first, is held as well and ends the same way.
		want, not string
	}{
		{"IMAP, stop_grace 10s", false, "10s", "imap SELECT ok", "imap SELECT timeout"},
		{"IMAP, default grace", false, "", "imap SELECT timeout", "imap SELECT ok"},
		{"submission, stop_grace 10s", true, "10s", "smtp MAIL ok", "smtp MAIL timeout"},
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
			// command; the server answers releaseAfter later, or the
			// run ended first.
			cancel()
			release := time.NewTimer(releaseAfter)
			defer release.Stop()
			var r runResult
			select {
			case r = <-ch:
			case <-release.C:
				proxy.Resume()
				r = waitRun(t, ch)
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
