package main

import (
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/metrics"
)

// feedWindow sends 40 SELECTs of 1 ms through rec, each tracked from its
// start to its end, and starts 4 more 5 s before now that the server never
// answers (a stall in the window's last seconds); it returns the start of
// one of the stalled commands.
func feedWindow(rec *windowGate, now time.Time) time.Time {
	for range 40 {
		start := now.Add(-time.Second)
		rec.CommandStarted(clients.ProtocolIMAP, "SELECT", start)
		rec.Command(clients.CommandEvent{Protocol: clients.ProtocolIMAP, Command: "SELECT", Outcome: transport.OutcomeOK,
			Duration: time.Millisecond, Start: start})
	}
	stalled := now.Add(-5 * time.Second)
	for i := range 4 {
		rec.CommandStarted(clients.ProtocolIMAP, "SELECT", stalled.Add(time.Duration(i)))
	}
	return stalled
}

// TestWindowGateCountsCommandsInFlight: a command still waiting for the
// server when a step's window closes counts in the window as a sample of
// its age, so a server that stalls in the window's last seconds fails a
// latency line (fresh steps: windowGate.close; live steps: inFlight and
// addCommandSamples). Before, the stalled commands were left out and p95
// was 1 ms.
func TestWindowGateCountsCommandsInFlight(t *testing.T) {
	check := func(t *testing.T, s metrics.CommandStats) {
		t.Helper()
		if s.Count != 44 || s.Errors != 0 {
			t.Errorf("SELECT count %d errors %d, want 44 and 0", s.Count, s.Errors)
		}
		if s.P95 < 4.5 || s.P99 < 4.5 {
			t.Errorf("SELECT p95 %gs p99 %gs: want the stalled commands' age (5 s)", s.P95, s.P99)
		}
	}
	t.Run("fresh", func(t *testing.T) {
		client := metrics.NewClient(metrics.NewRegistry())
		g := &windowGate{next: client}
		g.open.Store(true)
		now := time.Now()
		stalled := feedWindow(g, now)
		g.close(now)
		// A stalled command that ends after the close is not counted
		// again.
		g.Command(clients.CommandEvent{Protocol: clients.ProtocolIMAP, Command: "SELECT", Outcome: transport.OutcomeOK,
			Duration: 9 * time.Second, Start: stalled})
		check(t, client.Stats()[clients.ProtocolIMAP]["SELECT"])
		if n := g.commands.Load(); n != 44 {
			t.Errorf("window commands %d, want 44", n)
		}
	})
	t.Run("live", func(t *testing.T) {
		client := metrics.NewClient(metrics.NewRegistry())
		g := &windowGate{next: client}
		g.open.Store(true)
		before := client.Stats()
		now := time.Now()
		feedWindow(g, now)
		cmds := addCommandSamples(metrics.StatsSince(client.Stats(), before), g.inFlight(now, false))
		check(t, cmds[clients.ProtocolIMAP]["SELECT"])
		if !g.open.Load() {
			t.Error("the live gate closed")
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		g := &windowGate{next: metrics.NewClient(metrics.NewRegistry())}
		start := time.Now()
		g.CommandStarted(clients.ProtocolIMAP, "SELECT", start)
		g.CommandAbandoned(clients.ProtocolIMAP, "SELECT", start)
		if evs := g.inFlight(time.Now(), false); len(evs) != 0 {
			t.Errorf("in flight after abandon: %v", evs)
		}
	})
}
