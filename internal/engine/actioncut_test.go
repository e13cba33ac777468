package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/scenarios"
)

// stallVariant returns stallScenario with its behavior changed by the
// old, new pairs (strings.NewReplacer).
func stallVariant(oldnew ...string) string {
	return strings.NewReplacer(oldnew...).Replace(stallScenario)
}

// TestRunCountsActionsTheStopCut: runs on the embedded server where the
// end of the active phase cuts actions under way: sends written for 10
// simulated minutes of a 4-minute run, and moves of mail as it arrives,
// which a fault proxy in front of the IMAP server stalls for good at the
// first UID MOVE (stallScenario's variants). Every
// action planned ends one way: ActionsPlanned = Actions + ActionsDropped
// + ActionsCut + ActionsPending, and the ones cut are counted. Until
// 2026-12-04 an action the run's end cut, and those waiting their turn,
// counted nowhere: not done, not a failed try, not given up.
func TestRunCountsActionsTheStopCut(t *testing.T) {
	for _, tt := range []struct {
		name     string
		scenario string
		// stall, if set, arms the proxy in front of the IMAP server.
		stall []byte
	}{
		{"a send being written", stallVariant("send: {interval: 20s}", "send: {interval: 20s, write_time: 10m}"), nil},
		{"a stalled move", stallVariant("interval: 1h", "interval: 15s",
			"on_new_mail: {read: 100%}", "on_new_mail: {read: 100%, move: 100%}\n    folders: [Archive]\n    action_delay: 1s"), []byte("UID MOVE")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlan(t, tt.scenario, scenarios.PlanOptions{})
			srv, ep := startEmbedded(t, plan)
			var hit <-chan struct{}
			if tt.stall != nil {
				proxy, err := faultproxy.New(faultproxy.Options{Backend: ep.IMAP.Addr})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { proxy.Close() })
				hit = proxy.StallOn(tt.stall)
				ep.IMAP.Addr = proxy.Addr()
			}
			e, err := New(Options{Plan: plan, Endpoints: ep, Truth: storeTruth{srv}})
			if err != nil {
				t.Fatal(err)
			}
			r := waitRun(t, runAsync(context.Background(), e))
			if hit != nil {
				select {
				case <-hit:
				default:
					t.Fatal("the proxy never stalled: the test did not stall where intended")
				}
			}
			res := r.res
			t.Logf("actions planned %d: done %d, given up %d, cut %d, pending %d; failed tries %d",
				res.ActionsPlanned, res.Actions, res.ActionsDropped, res.ActionsCut, res.ActionsPending, res.ActionErrors)
			if res.ActionsCut == 0 {
				t.Error("no action counted cut, though the end of the active phase cut one under way")
			}
			if ended := res.Actions + res.ActionsDropped + res.ActionsCut + res.ActionsPending; res.ActionsPlanned != ended || ended == 0 {
				t.Errorf("%d actions planned, %d ended one way (done + given up + cut + pending)", res.ActionsPlanned, ended)
			}
		})
	}
}
