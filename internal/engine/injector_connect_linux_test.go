package engine

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// connecting counts the IPv4 TCP sockets of this host connecting to addr
// (SYN sent, unanswered: /proc/net/tcp, state 02).
func connecting(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer f.Close()
	remote := fmt.Sprintf("0100007F:%04X", p) // 127.0.0.1, as the kernel prints it
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 3 && fs[2] == remote && fs[3] == "02" {
			n++
		}
	}
	return n
}

// TestInjectorConnectAtTheEnd ends the run while an imap-append
// session's TCP connect waits for a server whose listen queue is full
// (faketest.FullListener: its SYN goes unanswered): the connect has the
// stop's grace, as every command and as the injector's LMTP and SMTP
// connects (clients.StopGrace, transport.Setup), and, not made within it,
// counts once — a CONNECT timeout, a login timeout and the delivery's
// timeout, over imap-append as over LMTP. Before 2026-12-05 the run's
// end cut an imap-append TCP connect at once: no CONNECT, no login, and
// the delivery cancelled.
func TestInjectorConnectAtTheEnd(t *testing.T) {
	for _, tc := range []struct {
		protocol scenarios.DeliveryProtocol
		login    string
	}{
		{scenarios.DeliverIMAPAppend, "imap timeout"},
		{scenarios.DeliverLMTP, "lmtp timeout"},
	} {
		t.Run(string(tc.protocol), func(t *testing.T) {
			addr := faketest.FullListener(t)
			plan := mustPlan(t, appendScenario(1, "pw"), scenarios.PlanOptions{})
			plan.Scenario.StopGrace = shortGrace // the server never answers the connect
			e, log := newInjectorEngine(t, plan, scenarios.Delivery{Protocol: tc.protocol, Addr: addr, TLS: transport.TLSNone})
			endRunWhen(t, e, log, "begin its connect", func() bool { return connecting(t, addr) > 0 }, tc.login)
		})
	}
}

// TestInjectorAppendConnectDeadline: an imap-append session whose TCP
// connect runs past the session's deadline (in.timeout) is a timeout,
// retried, whichever of the session's deadline and the dial's own timeout
// ends it first: the binding's close for the deadline cancels the dial,
// and before 2026-12-05 that read as a cancelled delivery, not retried
// (review A: "Failed:map[cancelled:1] Retries:0" in 2 of 3 runs).
func TestInjectorAppendConnectDeadline(t *testing.T) {
	for i := range 5 { // which comes first varies from run to run
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			addr := faketest.FullListener(t)
			e, _ := newInjectorEngine(t, mustPlan(t, appendScenario(1, "pw"), scenarios.PlanOptions{}),
				scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: addr, TLS: transport.TLSNone})
			e.inj.timeout = 100 * time.Millisecond
			e.inj.backoff = time.Millisecond
			st := deliverAll(e, 1, "INBOX")
			if st.Failed[DeliveryTimeout] != 1 || st.FailedTotal() != 1 || st.Retries == 0 {
				t.Errorf("stats %+v, want 1 %s after retries", st, DeliveryTimeout)
			}
		})
	}
}
