package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// TestInjectorGreetingAtTheEnd ends the run while the injector's
// connection waits for the greeting of the embedded server, which a fault
// proxy holds (faultproxy.Stall), over imap-append and LMTP: the wait has
// the stop's grace, as a command (clients.StopGrace), and, unanswered
// beyond it, counts once — a CONNECT timeout, a login timeout and the
// delivery's timeout. Before 2026-12-05 the run's end cut it at once: no
// CONNECT, no login, and the delivery cancelled.
func TestInjectorGreetingAtTheEnd(t *testing.T) {
	for _, tc := range []struct {
		protocol scenarios.DeliveryProtocol
		login    string
	}{
		{scenarios.DeliverIMAPAppend, "imap timeout"},
		{scenarios.DeliverLMTP, "lmtp timeout"},
	} {
		t.Run(string(tc.protocol), func(t *testing.T) {
			plan := mustPlan(t, appendScenario(1, "pw"), scenarios.PlanOptions{})
			plan.Scenario.StopGrace = shortGrace // the server never greets
			addrs, _ := mailservertest.Start(t, mailservertest.User{Name: plan.Users[0].Username, Password: "pw"})
			backend := addrs.IMAP
			if tc.protocol == scenarios.DeliverLMTP {
				backend = addrs.LMTP
			}
			proxy, err := faultproxy.New(faultproxy.Options{Backend: backend})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = proxy.Close() })
			proxy.Stall(time.Minute)
			e, log := newInjectorEngine(t, plan, scenarios.Delivery{Protocol: tc.protocol, Addr: proxy.Addr(), TLS: transport.TLSNone})
			e.inj.timeout = 20 * time.Second // the run ends first
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := injectOne(ctx, e, "<g@test>")
			for deadline := time.Now().Add(20 * time.Second); proxy.Stats().Accepted == 0; {
				if time.Now().After(deadline) {
					t.Fatal("the injector did not connect within 20 s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the injector did not stop with the run: it waits for the greeting")
			}
			st := e.inj.finish()
			if st.Failed[DeliveryTimeout] != 1 || st.FailedTotal() != 1 || st.Delivered != 0 {
				t.Errorf("stats %+v, want 1 %s", st, DeliveryTimeout)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if want := []string{"CONNECT timeout"}; !slices.Equal(log.cmds, want) || proxy.Stats().Accepted != 1 {
				t.Errorf("commands %q over %d connects, want %q over 1", log.cmds, proxy.Stats().Accepted, want)
			}
			if log.logins[tc.login] != 1 || len(log.logins) != 1 {
				t.Errorf("logins %v, want 1 %s", log.logins, tc.login)
			}
		})
	}
}
