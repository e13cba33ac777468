package engine

import (
	"context"
	"net"
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
			endRunWhen(t, e, log, "connect", func() bool { return proxy.Stats().Accepted > 0 }, tc.login)
			if n := proxy.Stats().Accepted; n != 1 {
				t.Errorf("%d connects, want 1", n)
			}
		})
	}
}

// endRunWhen runs e's injector, recording on log, with one message and a
// session timeout of 20 s, ends the run once ready reports true (what the
// injector does then, for the failure's text; polled for 20 s at most)
// and checks that the session's wait unanswered within the stop's grace
// counted once: a CONNECT timeout, one login (login: its protocol and
// outcome, "imap timeout") and the delivery's timeout.
func endRunWhen(t *testing.T, e *Engine, log *commandLog, what string, ready func() bool, login string) {
	t.Helper()
	e.inj.timeout = 20 * time.Second // the run ends first
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := injectOne(ctx, e, "<g@test>")
	for deadline := time.Now().Add(20 * time.Second); !ready(); {
		if time.Now().After(deadline) {
			t.Fatalf("the injector did not %s within 20 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the injector did not stop within 20 s of the run's end")
	}
	st := e.inj.finish()
	if st.Failed[DeliveryTimeout] != 1 || st.FailedTotal() != 1 || st.Delivered != 0 {
		t.Errorf("stats %+v, want 1 %s", st, DeliveryTimeout)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if want := []string{"CONNECT timeout"}; !slices.Equal(log.cmds, want) {
		t.Errorf("commands %q, want %q", log.cmds, want)
	}
	if log.logins[login] != 1 || len(log.logins) != 1 {
		t.Errorf("logins %v, want 1 %s", log.logins, login)
	}
}

// TestInjectorGreetingFailsInTheGrace checks an imap-append session whose
// server refuses the greeting (BYE) after the run's end, while the stop's
// grace still runs: the server's failure is counted, CONNECT and its
// login once each, and the stop does not wait out the rest of the grace.
// Before 2026-12-05 the failure was taken for the run's end cutting the
// TCP connect: counted nowhere, and the stop waited the whole grace.
func TestInjectorGreetingFailsInTheGrace(t *testing.T) {
	plan := mustPlan(t, appendScenario(1, "pw"), scenarios.PlanOptions{})
	plan.Scenario.StopGrace = time.Hour // only the server's reply can end the wait
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	accepted, bye := make(chan struct{}), make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		close(accepted)
		<-bye
		_, _ = c.Write([]byte("* BYE go away\r\n"))
	}()
	e, log := newInjectorEngine(t, plan, scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: ln.Addr().String(), TLS: transport.TLSNone})
	e.inj.timeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := injectOne(ctx, e, "<bye@test>")
	select {
	case <-accepted:
	case <-time.After(20 * time.Second):
		t.Fatal("the injector did not connect within 20 s")
	}
	cancel()
	close(bye)
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a liveness bound: the grace is an hour
		t.Fatal("the injector did not stop after the server's BYE: it waits out the grace")
	}
	e.inj.finish()
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.cmds) != 1 || log.cmds[0] == "CONNECT ok" {
		t.Errorf("commands %q, want one failed CONNECT", log.cmds)
	}
	n := 0
	for _, c := range log.logins {
		n += c
	}
	if n != 1 {
		t.Errorf("logins %v, want one", log.logins)
	}
}
