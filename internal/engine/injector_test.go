package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// fakeLMTP is a deliberately broken LMTP server on 127.0.0.1:0 for fault
// tests: each connection is handled by serve until the test ends.
type fakeLMTP struct {
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

// startFakeLMTP listens on loopback and hands every connection to serve;
// listener and connections are closed when the test ends.
func startFakeLMTP(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeLMTP{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				serve(c, bufio.NewReaderSize(c, 4096))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return ln.Addr().String()
}

// lmtpScript serves a well-formed LMTP dialogue; rcpt answers RCPT TO and
// data answers the end of data, once per accepted recipient (i: its index).
func lmtpScript(rcpt func(addr string) string, data func(i int) string) func(net.Conn, *bufio.Reader) {
	return script{rcpt: rcpt, data: data, lmtp: true}.serve
}

// script is a well-formed LMTP or SMTP dialogue of a fake server.
type script struct {
	// rcpt answers RCPT TO; data answers the end of data, once per
	// accepted recipient over LMTP (i: its index), once over SMTP (0).
	rcpt func(addr string) string
	data func(i int) string
	lmtp bool
	// seen, when set, is told every command the server received (its
	// verb, upper case).
	seen func(verb string)
}

func (sc script) serve(c net.Conn, r *bufio.Reader) {
	fmt.Fprintf(c, "220 fake server\r\n")
	accepted := 0
	for n := 0; n < 1000; n++ {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		if sc.seen != nil {
			verb, _, _ := strings.Cut(cmd, " ")
			sc.seen(verb)
		}
		switch {
		case strings.HasPrefix(cmd, "LHLO") && sc.lmtp, strings.HasPrefix(cmd, "EHLO") && !sc.lmtp:
			fmt.Fprintf(c, "250-fake\r\n250 PIPELINING\r\n")
		case strings.HasPrefix(cmd, "MAIL"):
			accepted = 0
			fmt.Fprintf(c, "250 ok\r\n")
		case strings.HasPrefix(cmd, "RCPT"):
			reply := sc.rcpt(strings.TrimSpace(line))
			if strings.HasPrefix(reply, "250") {
				accepted++
			}
			fmt.Fprintf(c, "%s\r\n", reply)
		case cmd == "DATA":
			fmt.Fprintf(c, "354 go on\r\n")
			for k := 0; k < 100000; k++ {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			if !sc.lmtp {
				accepted = min(accepted, 1)
			}
			for i := 0; i < accepted; i++ {
				fmt.Fprintf(c, "%s\r\n", sc.data(i))
			}
		case cmd == "RSET":
			fmt.Fprintf(c, "250 ok\r\n")
		case cmd == "QUIT":
			fmt.Fprintf(c, "221 bye\r\n")
			return
		default:
			fmt.Fprintf(c, "500 what\r\n")
		}
	}
}

// discardObserver is an Observer that keeps nothing.
type discardObserver struct{}

func (discardObserver) Action(string, string)          {}
func (discardObserver) ActionCut(string, string)       {}
func (discardObserver) ActionsPlanned(string, int64)   {}
func (discardObserver) ActionsDropped(string, int64)   {}
func (discardObserver) Delivered(string)               {}
func (discardObserver) Sent(string)                    {}
func (discardObserver) DeliveryAttempt(string, string) {}
func (discardObserver) DeliveryDone(string, string)    {}
func (discardObserver) Submitted(string, string)       {}

// deliveryCounter records the injector's logins and delivery outcomes,
// and tracks its commands (clients.CommandTracker).
type deliveryCounter struct {
	discardObserver
	mu       sync.Mutex
	logins   map[string]int // "protocol outcome"
	attempts map[string]int // "via outcome"
	done     map[string]int
	failed   map[string]int // "protocol command" of commands that did not end ok
	recorded map[string]int // "protocol command outcome" of every command recorded
	// open counts the tracked commands in flight by "protocol command
	// start"; tracked counts the starts by "protocol command"; untracked
	// lists the commands recorded without a tracked start.
	open      map[string]int
	tracked   map[string]int
	untracked []string
	// first is the start of the first command recorded, by "protocol
	// command".
	first map[string]time.Time
	// closedIdle counts the connections the server closed while idle,
	// by protocol (clients.ClosedIdleRecorder).
	closedIdle map[string]int
}

func (d *deliveryCounter) ClosedIdle(protocol string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closedIdle == nil {
		d.closedIdle = map[string]int{}
	}
	d.closedIdle[protocol]++
}

func newDeliveryCounter() *deliveryCounter {
	return &deliveryCounter{logins: map[string]int{}, attempts: map[string]int{}, done: map[string]int{}, failed: map[string]int{},
		recorded: map[string]int{}, open: map[string]int{}, tracked: map[string]int{}, first: map[string]time.Time{}}
}

func trackKey(protocol, command string, start time.Time) string {
	return protocol + " " + command + " " + start.Format(time.RFC3339Nano)
}

func (d *deliveryCounter) CommandStarted(protocol, command string, start time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.open[trackKey(protocol, command, start)]++
	d.tracked[protocol+" "+command]++
}

func (d *deliveryCounter) CommandAbandoned(protocol, command string, start time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.land(protocol, command, start)
}

// land ends a tracked command; d.mu is held.
func (d *deliveryCounter) land(protocol, command string, start time.Time) {
	k := trackKey(protocol, command, start)
	if d.open[k] == 0 {
		d.untracked = append(d.untracked, protocol+" "+command)
		return
	}
	d.open[k]--
}

// checkTracked fails t for every command recorded untracked and every
// tracked one left in flight; d.mu is held.
func (d *deliveryCounter) checkTracked(t *testing.T) {
	t.Helper()
	if len(d.untracked) > 0 {
		t.Errorf("recorded without a tracked start: %v", d.untracked)
	}
	for k, n := range d.open {
		if n != 0 {
			t.Errorf("%s: still in flight after the injector stopped", k)
		}
	}
}

func (d *deliveryCounter) Command(ev clients.CommandEvent) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.land(ev.Protocol, ev.Command, ev.Start)
	d.recorded[ev.Protocol+" "+ev.Command+" "+string(ev.Outcome)]++
	if k := ev.Protocol + " " + ev.Command; d.first[k].IsZero() || ev.Start.Before(d.first[k]) {
		d.first[k] = ev.Start
	}
	if ev.Outcome != transport.OutcomeOK {
		d.failed[ev.Protocol+" "+ev.Command]++
	}
}
func (d *deliveryCounter) Bytes(string, int64, int64) {}
func (d *deliveryCounter) Connection(string, int)     {}
func (d *deliveryCounter) Login(p string, o transport.Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.logins[p+" "+string(o)]++
}
func (d *deliveryCounter) DeliveryAttempt(via, o string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.attempts[via+" "+o]++
}
func (d *deliveryCounter) DeliveryDone(via, o string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done[via+" "+o]++
}

// injectorUsers is the count of injectorScenario's users.
const injectorUsers = 2

const injectorScenario = `
version: 1
name: inj
duration: 1s
users: {count: 2, username: "u{n}", password: pw}
groups: [{name: g, share: 100%, devices: [pc-imap], behavior: b}]
behaviors: {b: {}}
`

// runInjector delivers msgs messages, each to both users of
// injectorScenario, through dl, and returns the injector's stats and what
// the recorder and observer saw.
func runInjector(t *testing.T, dl scenarios.Delivery, ep Endpoints, msgs int) (DeliveryStats, *deliveryCounter) {
	t.Helper()
	return runInjectorTo(t, dl, ep, msgs, "INBOX")
}

// newTestInjector returns an engine of injectorScenario whose injector
// delivers over dl with one connection, counting on the returned counter;
// its devices are built, never started.
func newTestInjector(t *testing.T, dl scenarios.Delivery) (*Engine, *deliveryCounter) {
	t.Helper()
	return newTestInjectorOf(t, mustPlan(t, injectorScenario, scenarios.PlanOptions{}), dl)
}

// newTestInjectorOf is newTestInjector with plan's users.
func newTestInjectorOf(t *testing.T, plan *scenarios.Plan, dl scenarios.Delivery) (*Engine, *deliveryCounter) {
	t.Helper()
	ep := Endpoints{Delivery: dl}
	ep.IMAP.Addr = "127.0.0.1:1"
	dc := newDeliveryCounter()
	e, err := New(Options{Plan: plan, Endpoints: ep, Recorder: dc, Observer: dc, InjectorWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return e, dc
}

// runInjectorTo is runInjector with every delivery filed into folder (the
// engine's name: "INBOX", "Junk", a scenario's folder).
func runInjectorTo(t *testing.T, dl scenarios.Delivery, ep Endpoints, msgs int, folder string) (DeliveryStats, *deliveryCounter) {
	t.Helper()
	plan := mustPlan(t, injectorScenario, scenarios.PlanOptions{})
	ep.Delivery = dl
	if ep.IMAP.Addr == "" {
		ep.IMAP.Addr = "127.0.0.1:1" // devices are built, never started
	}
	dc := newDeliveryCounter()
	e, err := New(Options{Plan: plan, Endpoints: ep, Recorder: dc, Observer: dc, InjectorWorkers: 2})
	if err != nil {
		t.Fatal(err)
	}
	e.inj.timeout = 500 * time.Millisecond
	e.inj.backoff = 5 * time.Millisecond
	return deliverAll(e, msgs, folder), dc
}

// deliverAll runs e's injector until it delivered (or failed) msgs
// messages, each to every user of e into folder, and returns its stats.
func deliverAll(e *Engine, msgs int, folder string) DeliveryStats {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	injCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.inj.run(injCtx) }()
	for i := 0; i < msgs; i++ {
		var rcpts []recipient
		for _, u := range e.users {
			rcpts = append(rcpts, recipient{addr: u.plan.Address, user: u, folder: folder})
		}
		e.inj.enqueue(ctx, delivery{from: "someone@example.net", rcpts: rcpts, id: fmt.Sprintf("<m%d@test>", i),
			raw: []byte(fmt.Sprintf("Message-ID: <m%d@test>\r\nSubject: t\r\n\r\nhello\r\n", i)), inbound: true})
	}
	e.inj.drain(ctx)
	stop()
	<-done
	return e.inj.finish()
}

// TestInjectorCountsDeliveries delivers against the embedded server and
// deliberately broken LMTP servers and checks that every delivery, one per
// recipient, is counted delivered or failed by reason, with retries of
// temporary failures counted apart, and that failed connections count as
// failed logins.
func TestInjectorCountsDeliveries(t *testing.T) {
	const msgs = 3 // to 2 users each: 6 deliveries
	ok250 := func(string) string { return "250 ok" }
	tests := []struct {
		name        string
		serve       func(net.Conn, *bufio.Reader) // nil: a closed port
		embedded    bool
		wantFailed  map[string]int64
		wantRetries int64
		wantLogin   string // an outcome the injector's logins must include
		wantTracked string // a command the injector must have tracked ("": none)
	}{
		{name: "embedded server", embedded: true, wantFailed: map[string]int64{}, wantLogin: "lmtp ok"},
		{name: "451 to every RCPT", serve: lmtpScript(func(string) string { return "451 4.3.0 try later" }, nil),
			wantFailed: map[string]int64{Delivery4xx: 2 * msgs}, wantRetries: 2 * msgs * (deliveryTries - 1), wantLogin: "lmtp ok"},
		{name: "550 to every RCPT", serve: lmtpScript(func(string) string { return "550 5.1.1 no such user" }, nil),
			wantFailed: map[string]int64{Delivery5xx: 2 * msgs}, wantLogin: "lmtp ok", wantTracked: "lmtp RSET"},
		// A server that answers MAIL 421 and hangs up: nothing more goes
		// out on the connection (no RSET, no QUIT: TestInjectorServerClosed),
		// and it is not used again (its next MAIL would fail on the dead
		// connection, an error rather than the 421).
		{name: "421 to MAIL, then hang up", serve: func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake LMTP\r\n")
			for n := 0; n < 10; n++ {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
				case strings.HasPrefix(cmd, "LHLO"):
					fmt.Fprintf(c, "250-fake\r\n250 PIPELINING\r\n")
				case strings.HasPrefix(cmd, "MAIL"):
					fmt.Fprintf(c, "421 4.3.2 shutting down\r\n")
					return
				default:
					fmt.Fprintf(c, "500 what\r\n")
				}
			}
		}, wantFailed: map[string]int64{Delivery4xx: 2 * msgs}, wantRetries: 2 * msgs * (deliveryTries - 1), wantLogin: "lmtp ok"},
		// The retry carries the second recipient alone, as the first of
		// its transaction: it is delivered then.
		{name: "452 for the second recipient after DATA, retried", serve: lmtpScript(ok250, func(i int) string {
			if i == 1 {
				return "452 4.2.2 over quota"
			}
			return "250 2.0.0 stored"
		}), wantFailed: map[string]int64{}, wantRetries: msgs, wantLogin: "lmtp ok"},
		{name: "closed port", serve: nil, wantFailed: map[string]int64{DeliveryRefused: 2 * msgs},
			wantRetries: 2 * msgs * (deliveryTries - 1), wantLogin: "lmtp refused"},
		// A server that resets the connection before it greets never
		// served it: refused, as a closed port, and retried as such (a
		// Dovecot shutting down resets the connects its listen queue
		// held; transport.ErrUnserved). Before, error.
		{name: "reset before the greeting", serve: func(c net.Conn, _ *bufio.Reader) { _ = c.(*net.TCPConn).SetLinger(0) },
			wantFailed: map[string]int64{DeliveryRefused: 2 * msgs}, wantRetries: 2 * msgs * (deliveryTries - 1), wantLogin: "lmtp refused"},
		{name: "never answers", serve: func(c net.Conn, r *bufio.Reader) { _, _ = r.ReadString(0) },
			wantFailed: map[string]int64{DeliveryTimeout: 2 * msgs}, wantRetries: 2 * msgs * (deliveryTries - 1), wantLogin: "lmtp timeout"},
		{name: "1 MiB greeting line", serve: func(c net.Conn, r *bufio.Reader) {
			_, _ = c.Write([]byte("220 " + strings.Repeat("x", 1<<20) + "\r\n"))
		}, wantFailed: map[string]int64{DeliveryError: 2 * msgs}, wantRetries: 2 * msgs * (deliveryTries - 1), wantLogin: "lmtp error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ep Endpoints
			dl := scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone}
			switch {
			case tt.embedded:
				_, ep = startEmbedded(t, mustPlan(t, injectorScenario, scenarios.PlanOptions{}))
				dl.Addr = ep.Delivery.Addr
			case tt.serve == nil:
				dl.Addr = faketest.RefusedAddr(t)
			default:
				dl.Addr = startFakeLMTP(t, tt.serve)
			}
			st, dc := runInjector(t, dl, ep, msgs)
			var wantFailed int64
			for _, n := range tt.wantFailed {
				wantFailed += n
			}
			if st.Attempted != 2*msgs || st.Delivered != 2*msgs-wantFailed || st.Abandoned != 0 {
				t.Errorf("attempted %d delivered %d abandoned %d, want %d, %d, 0", st.Attempted, st.Delivered, st.Abandoned, 2*msgs, 2*msgs-wantFailed)
			}
			if fmt.Sprint(st.Failed) != fmt.Sprint(tt.wantFailed) {
				t.Errorf("failed by reason %v, want %v", st.Failed, tt.wantFailed)
			}
			if st.Retries != tt.wantRetries {
				t.Errorf("retries %d, want %d", st.Retries, tt.wantRetries)
			}
			dc.mu.Lock()
			defer dc.mu.Unlock()
			if dc.logins[tt.wantLogin] == 0 {
				t.Errorf("logins %v, want some %q", dc.logins, tt.wantLogin)
			}
			// Every wait for the server is a tracked command (the
			// transaction's RSET included), and none is left in flight.
			dc.checkTracked(t)
			if tt.wantTracked != "" && dc.tracked[tt.wantTracked] == 0 {
				t.Errorf("tracked %v, want %s", dc.tracked, tt.wantTracked)
			}
			var tries, finals int
			for _, n := range dc.attempts {
				tries += n
			}
			for _, n := range dc.done {
				finals += n
			}
			if int64(tries) != st.Attempted+st.Retries || int64(finals) != st.Attempted || int64(dc.done["lmtp ok"]) != st.Delivered {
				t.Errorf("observer: %d tries %v, final %v; want %d tries, %d final, %d ok",
					tries, dc.attempts, dc.done, st.Attempted+st.Retries, st.Attempted, st.Delivered)
			}
		})
	}
}

// TestInjectorConnectIsItsOwnCommand checks that the injector records
// its LMTP/SMTP connect and the server's greeting as CONNECT, as SMTP
// submission does (clients.DialSMTP), and its LHLO/EHLO as the hello's
// own round trip: one of each per connection when the server greets, a
// failed CONNECT and no hello when it does not.
func TestInjectorConnectIsItsOwnCommand(t *testing.T) {
	const msgs = 3
	ok250 := func(string) string { return "250 ok" }
	for _, tt := range []struct {
		name     string
		proto    scenarios.DeliveryProtocol
		serve    func(net.Conn, *bufio.Reader) // nil: the embedded server
		connects string                        // the CONNECT's outcome
	}{
		{name: "lmtp, embedded server", proto: scenarios.DeliverLMTP, connects: "ok"},
		{name: "smtp", proto: scenarios.DeliverSMTP, serve: script{rcpt: ok250, data: func(int) string { return "250 2.0.0 queued" }}.serve,
			connects: "ok"},
		{name: "421 greeting", proto: scenarios.DeliverLMTP, serve: func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "421 4.3.2 busy\r\n")
		}, connects: "no"},
		{name: "never greets", proto: scenarios.DeliverLMTP, serve: func(c net.Conn, r *bufio.Reader) { _, _ = r.ReadString(0) },
			connects: "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ep Endpoints
			dl := scenarios.Delivery{Protocol: tt.proto, TLS: transport.TLSNone}
			if tt.serve == nil {
				_, ep = startEmbedded(t, mustPlan(t, injectorScenario, scenarios.PlanOptions{}))
				dl.Addr = ep.Delivery.Addr
			} else {
				dl.Addr = startFakeLMTP(t, tt.serve)
			}
			_, dc := runInjector(t, dl, ep, msgs)
			dc.mu.Lock()
			defer dc.mu.Unlock()
			p := string(tt.proto)
			hello := "EHLO"
			if tt.proto == scenarios.DeliverLMTP {
				hello = "LHLO"
			}
			connects := dc.recorded[p+" CONNECT "+tt.connects]
			hellos := 0
			for k, n := range dc.recorded {
				if strings.HasPrefix(k, p+" "+hello+" ") {
					hellos += n
				}
			}
			if connects == 0 {
				t.Fatalf("no %s CONNECT %s recorded; recorded %v", p, tt.connects, dc.recorded)
			}
			wantHellos := 0
			if tt.connects == "ok" {
				wantHellos = connects
			}
			if hellos != wantHellos || dc.recorded[p+" "+hello+" ok"] != wantHellos {
				t.Errorf("%d %s recorded, want %d ok (one per greeting); recorded %v", hellos, hello, wantHellos, dc.recorded)
			}
			dc.checkTracked(t)
		})
	}
}

// TestInjectorPushStart: a delivery's push latency starts when its
// message went to the server — the DATA, or the APPEND, that delivered it
// — not when its try began: an imap-append try connects and logs in
// first (hundreds of milliseconds on Courier), and before it went out a
// try may have opened the LMTP connection and said MAIL and RCPT.
func TestInjectorPushStart(t *testing.T) {
	for _, tt := range []struct {
		proto  scenarios.DeliveryProtocol
		handed string // the command whose start the push latency starts at
	}{
		{scenarios.DeliverLMTP, "lmtp DATA"},
		{scenarios.DeliverIMAPAppend, "imap APPEND"},
	} {
		t.Run(string(tt.proto), func(t *testing.T) {
			plan := mustPlan(t, injectorScenario, scenarios.PlanOptions{})
			_, ep := startEmbedded(t, plan)
			dl := scenarios.Delivery{Protocol: tt.proto, TLS: transport.TLSNone, Addr: ep.Delivery.Addr}
			if tt.proto == scenarios.DeliverIMAPAppend {
				dl.Addr = ep.IMAP.Addr
			}
			e, dc := newTestInjector(t, dl)
			st := deliverAll(e, 2, "INBOX")
			if st.Delivered != 4 {
				t.Fatalf("delivered %d of 4: %v", st.Delivered, st.Failed)
			}
			dc.mu.Lock()
			handed := dc.first[tt.handed]
			dc.mu.Unlock()
			e.push.mu.Lock()
			defer e.push.mu.Unlock()
			if len(e.push.pending) != 4 || handed.IsZero() {
				t.Fatalf("%d deliveries noted for the push latency, %s first at %v; want 4, and a %s", len(e.push.pending), tt.handed, handed, tt.handed)
			}
			for k, at := range e.push.pending {
				if at.Before(handed) {
					t.Errorf("%s to %s: its push latency starts %v before the first %s", k.id, k.user, handed.Sub(at), tt.handed)
				}
			}
		})
	}
}

// TestInjectorQuit: the injector's QUIT is recorded as the server
// answered it. A server that leaves it unanswered makes it a timeout — the
// server's silence — not the error of a connection the injector closed
// under it; after a DATA the server left unanswered no QUIT is sent (the
// DATA's timeout is the stall, counted once: before 2026-12-04 a QUIT went
// out and counted a second timeout); after a refused hello no QUIT is sent
// (go-smtp's Client.Quit then sends none and returns the hello's error),
// so none is recorded.
func TestInjectorQuit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		serve func(net.Conn, *bufio.Reader)
		want  map[string]bool // QUIT outcomes recorded
	}{
		{"unanswered", func(c net.Conn, r *bufio.Reader) {
			// MAIL refused for now, then RSET refused: the injector
			// gives the connection up with a QUIT, never answered.
			fmt.Fprintf(c, "220 fake server\r\n")
			for n := 0; n < 100; n++ {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " "); verb {
				case "MAIL":
					fmt.Fprintf(c, "451 4.3.0 try later\r\n")
				case "RSET":
					fmt.Fprintf(c, "500 5.5.1 no\r\n")
				case "QUIT":
					_, _ = r.ReadString(0) // never answered
					return
				default:
					fmt.Fprintf(c, "250 ok\r\n")
				}
			}
		}, map[string]bool{"timeout": true}},
		{"none after a stalled DATA", func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake server\r\n")
			for n := 0; n < 100; n++ {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if strings.ToUpper(strings.TrimSpace(line)) != "DATA" {
					fmt.Fprintf(c, "250 ok\r\n")
					continue
				}
				fmt.Fprintf(c, "354 go on\r\n")
				_, _ = r.ReadString(0) // the message, never answered
				return
			}
		}, map[string]bool{}},
		{"hello after a RSET refused", func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake server\r\n")
			hellos := 0
			for n := 0; n < 100; n++ {
				line, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " "); verb {
				case "LHLO":
					if hellos++; hellos > 1 {
						fmt.Fprintf(c, "421 4.3.2 going down\r\n")
						continue
					}
					fmt.Fprintf(c, "250 fake\r\n")
				case "RCPT":
					fmt.Fprintf(c, "550 5.1.1 no such user\r\n")
				default:
					fmt.Fprintf(c, "250 ok\r\n")
				}
			}
		}, map[string]bool{}},
		{"hello refused", func(c net.Conn, r *bufio.Reader) {
			fmt.Fprintf(c, "220 fake server\r\n")
			for n := 0; n < 100; n++ {
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				fmt.Fprintf(c, "554 5.7.1 go away\r\n")
			}
		}, map[string]bool{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dl := scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone, Addr: startFakeLMTP(t, tt.serve)}
			e, dc := newTestInjector(t, dl)
			// QUIT's own bound, well under the injector's timeout, ends
			// its wait.
			e.inj.timeout, e.inj.quitWait = 2500*time.Millisecond, 100*time.Millisecond
			e.inj.tries, e.inj.backoff = 1, 5*time.Millisecond
			deliverAll(e, 1, "INBOX")
			dc.mu.Lock()
			defer dc.mu.Unlock()
			got := map[string]bool{}
			for k := range dc.recorded {
				if o, ok := strings.CutPrefix(k, "lmtp QUIT "); ok {
					got[o] = true
				}
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("QUIT outcomes %v, want %v; recorded %v", got, tt.want, dc.recorded)
			}
		})
	}
}

// TestInjectorDataStalledNoQuit: a server that stops reading in the
// middle of a message fails its DATA (the write's deadline), and the
// injector closes without a QUIT, which would be a line of the message,
// not a command the server could answer.
func TestInjectorDataStalledNoQuit(t *testing.T) {
	release := make(chan struct{})
	addr := startFakeLMTP(t, func(c net.Conn, r *bufio.Reader) {
		fmt.Fprintf(c, "220 fake server\r\n")
		for n := 0; n < 100; n++ {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.ToUpper(strings.TrimSpace(line)) == "DATA" {
				fmt.Fprintf(c, "354 go on\r\n")
				<-release // reads no more: the message fills the buffers
				return
			}
			fmt.Fprintf(c, "250 ok\r\n")
		}
	})
	t.Cleanup(func() { close(release) }) // before the fake's cleanup waits for it
	e, dc := newTestInjector(t, scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone, Addr: addr})
	e.inj.timeout, e.inj.tries = 500*time.Millisecond, 1
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	injCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.inj.run(injCtx) }()
	// Larger than loopback's socket buffers, so that the write blocks.
	raw := append([]byte("Message-ID: <big@test>\r\nSubject: t\r\n\r\n"), bytes.Repeat([]byte("0123456789abcdef\r\n"), 2<<20)...)
	u := e.users[0]
	e.inj.enqueue(ctx, delivery{from: "someone@example.net", rcpts: []recipient{{addr: u.plan.Address, user: u, folder: "INBOX"}},
		id: "<big@test>", raw: raw, inbound: true})
	e.inj.drain(ctx)
	stop()
	<-done
	e.inj.finish()
	dc.mu.Lock()
	defer dc.mu.Unlock()
	quits := 0
	for k, n := range dc.recorded {
		if strings.HasPrefix(k, "lmtp QUIT ") {
			quits += n
		}
	}
	if quits != 0 || dc.recorded["lmtp DATA timeout"] == 0 {
		t.Errorf("recorded %v: want a DATA timeout and no QUIT", dc.recorded)
	}
}

// TestInjectorServerClosed: a server that answers 421 (closing the
// connection: Dovecot says it to every LMTP connection when it shuts
// down), or hangs up without a word, fails that one command; the injector
// sends nothing more on the connection — no RSET, no further RCPT, no
// QUIT, each of which failed and counted as a failed command of its own —
// and the next try opens a new connection, which delivers.
func TestInjectorServerClosed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		proto scenarios.DeliveryProtocol
		// at is the verb answered 421 on the first connection ("." the
		// end of data), or, ending in "!", the one it hangs up at.
		at   string
		rcpt string // the first connection's RCPT reply
		want map[string]int
		// delivered: the deliveries the later connections made.
		delivered int64
	}{
		{"MAIL", scenarios.DeliverLMTP, "MAIL", "250 ok", map[string]int{"lmtp MAIL": 1}, 2},
		{"RCPT", scenarios.DeliverLMTP, "RCPT", "250 ok", map[string]int{"lmtp RCPT": 1}, 2},
		{"DATA", scenarios.DeliverLMTP, "DATA", "250 ok", map[string]int{"lmtp DATA": 1}, 2},
		{"end of data", scenarios.DeliverSMTP, ".", "250 ok", map[string]int{"smtp DATA": 1}, 2},
		{"RSET", scenarios.DeliverLMTP, "RSET", "550 5.1.1 no such user", map[string]int{"lmtp RCPT": 2, "lmtp RSET": 1}, 0},
		{"hang up at MAIL", scenarios.DeliverLMTP, "MAIL!", "250 ok", map[string]int{"lmtp MAIL": 1}, 2},
		{"hang up at RCPT", scenarios.DeliverLMTP, "RCPT!", "250 ok", map[string]int{"lmtp RCPT": 1}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lmtp := tt.proto == scenarios.DeliverLMTP
			var conns atomic.Int32
			ok := script{rcpt: func(string) string { return "250 ok" }, data: func(int) string { return "250 ok" }, lmtp: lmtp}
			addr := startFakeLMTP(t, func(c net.Conn, r *bufio.Reader) {
				if conns.Add(1) > 1 {
					ok.serve(c, r)
					return
				}
				fmt.Fprintf(c, "220 fake server\r\n")
				inData := false
				for n := 0; n < 1000; n++ {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if inData {
						if line != ".\r\n" {
							continue
						}
						if tt.at == "." {
							fmt.Fprintf(c, "421 4.3.2 Shutting down\r\n")
							return
						}
						inData = false
						fmt.Fprintf(c, "250 ok\r\n")
						continue
					}
					verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
					switch {
					case verb == tt.at:
						fmt.Fprintf(c, "421 4.3.2 Shutting down\r\n")
						return
					case verb+"!" == tt.at:
						return
					case verb == "LHLO" || verb == "EHLO":
						fmt.Fprintf(c, "250-fake\r\n250 PIPELINING\r\n")
					case verb == "RCPT":
						fmt.Fprintf(c, "%s\r\n", tt.rcpt)
					case verb == "DATA":
						inData = true
						fmt.Fprintf(c, "354 go on\r\n")
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			})
			e, dc := newTestInjector(t, scenarios.Delivery{Protocol: tt.proto, TLS: transport.TLSNone, Addr: addr})
			e.inj.timeout, e.inj.quitWait, e.inj.backoff = 2500*time.Millisecond, 500*time.Millisecond, 5*time.Millisecond
			st := deliverAll(e, 1, "INBOX")
			dc.mu.Lock()
			defer dc.mu.Unlock()
			if !maps.Equal(dc.failed, tt.want) {
				t.Errorf("failed commands %v, want %v; recorded %v", dc.failed, tt.want, dc.recorded)
			}
			if st.Delivered != tt.delivered {
				t.Errorf("delivered %d, want %d; failed %v", st.Delivered, tt.delivered, st.Failed)
			}
		})
	}
}

// TestInjectorNoReplyAfterData: a server that closes the connection (its
// 421, or a hang-up) or stops answering after the end of DATA, before
// every recipient got its reply (LMTP: one reply per recipient, RFC 2033;
// SMTP: one for all), leaves those recipients' fate unknown: the server
// may have stored the message. Each counts the reason unknown, as a try
// and as its final outcome, and is not retried (a retry could store it
// twice); a recipient whose reply came keeps it (a 421 in its place is a
// temporary failure, retried on a new connection, which delivers).
func TestInjectorNoReplyAfterData(t *testing.T) {
	for _, tt := range []struct {
		name  string
		proto scenarios.DeliveryProtocol
		// replies are what the first connection says after the end of
		// data (the recipients in order over LMTP) before it hangs up;
		// stall: it then says nothing more and keeps the connection.
		replies []string
		stall   bool
		// delivered, failed, retries: the stats; rcpts the RCPTs the
		// later connections got (the retries).
		delivered int64
		failed    map[string]int64
		retries   int64
	}{
		{"LMTP: 250, then hang up", scenarios.DeliverLMTP, []string{"250 2.0.0 stored"}, false,
			1, map[string]int64{DeliveryUnknown: 1}, 0},
		{"LMTP: 421, then hang up", scenarios.DeliverLMTP, []string{"421 4.3.2 Shutting down"}, false,
			1, map[string]int64{DeliveryUnknown: 1}, 1},
		{"LMTP: hang up", scenarios.DeliverLMTP, nil, false, 0, map[string]int64{DeliveryUnknown: 2}, 0},
		{"LMTP: 250, then no reply", scenarios.DeliverLMTP, []string{"250 2.0.0 stored"}, true,
			1, map[string]int64{DeliveryUnknown: 1}, 0},
		{"SMTP: hang up", scenarios.DeliverSMTP, nil, false, 0, map[string]int64{DeliveryUnknown: 2}, 0},
		{"SMTP: no reply", scenarios.DeliverSMTP, nil, true, 0, map[string]int64{DeliveryUnknown: 2}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lmtp := tt.proto == scenarios.DeliverLMTP
			var conns, rcpts atomic.Int32
			ok := script{rcpt: func(string) string { return "250 ok" }, data: func(int) string { return "250 ok" }, lmtp: lmtp,
				seen: func(verb string) {
					if verb == "RCPT" {
						rcpts.Add(1)
					}
				}}
			addr := startFakeLMTP(t, func(c net.Conn, r *bufio.Reader) {
				if conns.Add(1) > 1 {
					ok.serve(c, r)
					return
				}
				fmt.Fprintf(c, "220 fake server\r\n")
				for n := 0; n < 100; n++ {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " "); verb {
					case "LHLO", "EHLO":
						fmt.Fprintf(c, "250-fake\r\n250 PIPELINING\r\n")
					case "DATA":
						fmt.Fprintf(c, "354 go on\r\n")
						for k := 0; k < 1000; k++ {
							if l, err := r.ReadString('\n'); err != nil || l == ".\r\n" {
								break
							}
						}
						for _, reply := range tt.replies {
							fmt.Fprintf(c, "%s\r\n", reply)
						}
						if tt.stall {
							_, _ = r.ReadString(0) // until the injector closes
						}
						return
					default:
						fmt.Fprintf(c, "250 ok\r\n")
					}
				}
			})
			e, dc := newTestInjector(t, scenarios.Delivery{Protocol: tt.proto, TLS: transport.TLSNone, Addr: addr})
			e.inj.timeout, e.inj.quitWait, e.inj.backoff = 500*time.Millisecond, 100*time.Millisecond, 5*time.Millisecond
			st := deliverAll(e, 1, "INBOX")
			if st.Attempted != 2 || st.Delivered != tt.delivered || !maps.Equal(st.Failed, tt.failed) || st.Retries != tt.retries {
				t.Errorf("attempted %d delivered %d failed %v retries %d, want 2, %d, %v, %d",
					st.Attempted, st.Delivered, st.Failed, st.Retries, tt.delivered, tt.failed, tt.retries)
			}
			if got := int64(rcpts.Load()); got != tt.retries {
				t.Errorf("the later connections got %d RCPT, want %d (the retries)", got, tt.retries)
			}
			// The auditor looks for each unanswered delivery: on a server
			// whose state shows no message, none was stored.
			ar, err := e.auditor.Final(context.Background(), emptyServer(e))
			if want := (audit.Unanswered{NotStored: int(tt.failed[DeliveryUnknown])}); err != nil || ar.Unanswered != want || ar.Delivered != int(tt.delivered) {
				t.Errorf("audit: unanswered %+v, delivered %d (err %v); want %+v, %d", ar.Unanswered, ar.Delivered, err, want, tt.delivered)
			}
			dc.mu.Lock()
			defer dc.mu.Unlock()
			via := string(tt.proto)
			if n := int64(dc.done[via+" "+DeliveryUnknown]); n != tt.failed[DeliveryUnknown] || int64(dc.attempts[via+" "+DeliveryUnknown]) != n {
				t.Errorf("observer: tries %v, final %v; want %d unknown in each", dc.attempts, dc.done, tt.failed[DeliveryUnknown])
			}
		})
	}
}

// emptyServer is a server state for e's final audit that shows every
// user's mailbox empty.
func emptyServer(e *Engine) serverstate.Snapshots {
	empty := serverstate.Snapshots{}
	for _, u := range e.users {
		empty[u.plan.Username] = view.Snapshot{Messages: map[string]view.Message{}}
	}
	return empty
}

// TestInjectorDovecotShutsDown delivers one message to three users of a
// real Dovecot over LMTP, through a fault proxy that holds the end of the
// message data until Dovecot has been stopped: Dovecot says one line,
// "421 4.3.2 ... Shutting down", and closes (smtp-server's terminate),
// read as the first recipient's reply, or lost with the connection. No
// recipient counts delivered or a plain failure: the 421's is 4xx (tries
// 1: no retry here), the others unknown; and the final audit, reading the
// restarted Dovecot, finds that it stored none of those.
func TestInjectorDovecotShutsDown(t *testing.T) {
	const users = 3
	inst := dovecottest.Start(t, users)
	p, err := faultproxy.New(faultproxy.Options{Backend: inst.LMTP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	plan := mustPlan(t, appendScenario(users, inst.Password), scenarios.PlanOptions{})
	dc := newDeliveryCounter()
	e, err := New(Options{Plan: plan, Recorder: dc, Observer: dc, InjectorWorkers: 1, Endpoints: Endpoints{
		IMAP:     transport.Endpoint{Addr: "127.0.0.1:1"}, // devices are built, never started
		Delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: p.Addr(), TLS: transport.TLSNone},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.inj.timeout, e.inj.tries = 10*time.Second, 1
	hit := p.StallOn([]byte("\r\n.\r\n"))
	stopped := make(chan error, 1)
	go func() {
		select {
		case <-hit:
		case <-time.After(20 * time.Second):
			stopped <- errors.New("the end of data never came")
			p.Resume()
			return
		}
		err := inst.Stop()
		p.Resume()
		stopped <- err
	}()
	st := deliverAll(e, 1, "INBOX")
	if err := <-stopped; err != nil {
		t.Fatalf("stopping Dovecot: %v", err)
	}
	unknown, temporary := st.Failed[DeliveryUnknown], st.Failed[Delivery4xx]
	t.Logf("failed %v", st.Failed)
	if st.Attempted != users || st.Delivered != 0 || unknown+temporary != users || unknown < users-1 {
		t.Errorf("attempted %d delivered %d failed %v: want %d attempted, none delivered, at most one 4xx (the 421), the others unknown",
			st.Attempted, st.Delivered, st.Failed, users)
	}
	if err := inst.Restart(); err != nil {
		t.Fatalf("restarting Dovecot: %v", err)
	}
	truth := &serverstate.IMAPReader{Endpoint: transport.Endpoint{Addr: inst.IMAP, TLS: transport.TLSNone},
		Password: func(string) string { return inst.Password }, Timeout: 10 * time.Second}
	ar, err := e.auditor.Final(context.Background(), truth)
	if want := (audit.Unanswered{NotStored: int(unknown)}); err != nil || ar.Unanswered != want {
		t.Errorf("audit: unanswered %+v (err %v), want %+v", ar.Unanswered, err, want)
	}
}

// TestInjectorRecordsWhatTheServerGot delivers to fake LMTP and SMTP
// servers that refuse every recipient, so that each transaction ends in
// RSET, and checks that the injector recorded every command the server
// received, once: go-smtp says the hello again after a RSET (Client.Reset
// forgets it), which must be its own LHLO/EHLO, not a part of the next
// MAIL.
func TestInjectorRecordsWhatTheServerGot(t *testing.T) {
	const msgs = 3
	for _, proto := range []scenarios.DeliveryProtocol{scenarios.DeliverLMTP, scenarios.DeliverSMTP} {
		t.Run(string(proto), func(t *testing.T) {
			var mu sync.Mutex
			got := map[string]int{}
			dl := scenarios.Delivery{Protocol: proto, TLS: transport.TLSNone, Addr: startFakeLMTP(t, script{
				rcpt: func(string) string { return "550 5.1.1 no such user" },
				lmtp: proto == scenarios.DeliverLMTP,
				seen: func(verb string) {
					mu.Lock()
					defer mu.Unlock()
					got[verb]++
				},
			}.serve)}
			st, dc := runInjector(t, dl, Endpoints{}, msgs)
			if st.Failed[Delivery5xx] != 2*msgs {
				t.Fatalf("failed %v, want %d 5xx", st.Failed, 2*msgs)
			}
			// The server saw every command before the injector's
			// connections closed (QUIT's reply came after it).
			mu.Lock()
			defer mu.Unlock()
			dc.mu.Lock()
			defer dc.mu.Unlock()
			recorded := map[string]int{}
			for k, n := range dc.recorded {
				f := strings.Fields(k)
				if f[1] != clients.CommandConnect {
					recorded[f[1]] += n
				}
			}
			if fmt.Sprint(recorded) != fmt.Sprint(got) {
				t.Errorf("recorded %v, the server got %v", recorded, got)
			}
			if got["RSET"] != msgs {
				t.Errorf("the server got %d RSET, want %d (one per refused transaction)", got["RSET"], msgs)
			}
			dc.checkTracked(t)
		})
	}
}

// TestInjectorIMAPAppendFailures delivers by imap-append with a wrong
// password and to a closed port: both count as failed deliveries and
// failed imap logins (auth is not retried, refused is).
func TestInjectorIMAPAppendFailures(t *testing.T) {
	plan := mustPlan(t, injectorScenario, scenarios.PlanOptions{})
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	for i, u := range plan.Users {
		pw := u.Password
		if i == 1 {
			pw = "not-" + pw // the second user's login fails
		}
		if err := srv.AddUser(u.Username, pw); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	st, dc := runInjector(t, scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: addrs.IMAP, TLS: transport.TLSNone}, Endpoints{}, 2)
	if st.Attempted != 4 || st.Delivered != 2 || st.Failed[DeliveryAuth] != 2 || st.Retries != 0 {
		t.Errorf("stats %+v, want 4 attempted, 2 delivered, 2 failed auth, no retry", st)
	}
	if dc.logins["imap ok"] != 2 || dc.logins["imap auth"] != 2 {
		t.Errorf("logins %v, want 2 ok and 2 auth", dc.logins)
	}

	closed := faketest.RefusedAddr(t)
	st, dc = runInjector(t, scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: closed, TLS: transport.TLSNone}, Endpoints{}, 1)
	if st.Attempted != 2 || st.Failed[DeliveryRefused] != 2 || st.Retries != 2*(deliveryTries-1) {
		t.Errorf("closed port: stats %+v, want 2 failed refused after %d retries", st, 2*(deliveryTries-1))
	}
	if dc.logins["imap refused"] != 2*deliveryTries {
		t.Errorf("closed port: logins %v, want %d refused", dc.logins, 2*deliveryTries)
	}
}

// TestInjectorIMAPAppendCreatesFolder delivers by imap-append into a
// folder the server does not have (as Courier, which starts with INBOX
// only, has no Junk): the injector creates it once and files every
// message there, and nothing fails.
func TestInjectorIMAPAppendCreatesFolder(t *testing.T) {
	plan := mustPlan(t, injectorScenario, scenarios.PlanOptions{})
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	for _, u := range plan.Users {
		if err := srv.AddUser(u.Username, u.Password); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	const msgs = 3
	st, _ := runInjectorTo(t, scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: addrs.IMAP, TLS: transport.TLSNone}, Endpoints{}, msgs, "Lists")
	if want := int64(msgs * len(plan.Users)); st.Attempted != want || st.Delivered != want || st.Retries != 0 {
		t.Errorf("stats %+v, want %d attempted and delivered, no retry", st, want)
	}
	for _, u := range plan.Users {
		snap, err := srv.UserState(u.Username)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range snap.Messages {
			if m.Folder != "Lists" {
				t.Errorf("%s: %s in %q, want Lists", u.Username, m.ID, m.Folder)
			}
			n++
		}
		if n != msgs {
			t.Errorf("%s holds %d messages, want %d", u.Username, n, msgs)
		}
	}
}

// TestInjectorAbandoned counts deliveries the run ended before trying:
// those still queued, and those that could not be queued any more.
func TestInjectorAbandoned(t *testing.T) {
	plan := mustPlan(t, injectorScenario, scenarios.PlanOptions{})
	dc := newDeliveryCounter()
	e, err := New(Options{Plan: plan, Recorder: dc, Observer: dc, Endpoints: Endpoints{
		IMAP:     transport.Endpoint{Addr: "127.0.0.1:1"},
		Delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: "127.0.0.1:1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	u := e.users[0]
	d := delivery{rcpts: []recipient{{addr: u.plan.Address, user: u}, {addr: u.plan.Address + ".x", user: u}}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	queue := e.inj.queue
	e.inj.queue = make(chan delivery) // full: enqueue must give up with ctx
	e.inj.enqueue(ctx, d)
	e.inj.queue = queue
	e.inj.enqueue(context.Background(), d) // queued, never tried: no worker runs
	st := e.inj.finish()
	if st.Abandoned != 4 || st.Attempted != 0 || e.inj.inflight.Load() != 0 {
		t.Errorf("stats %+v, %d in flight; want 4 abandoned, none in flight", st, e.inj.inflight.Load())
	}
	if dc.done["lmtp abandoned"] != 4 {
		t.Errorf("observer: %v, want 4 abandoned", dc.done)
	}
}

// TestDeliveryVocabulary keeps the delivery outcomes of the engine, the
// metric labels and the threshold reasons the same.
func TestDeliveryVocabulary(t *testing.T) {
	outcomes := DeliveryOutcomes()
	if got := metrics.DeliveryOutcomes(); !slices.Equal(got, outcomes) {
		t.Errorf("metrics.DeliveryOutcomes() = %v, want %v", got, outcomes)
	}
	if outcomes[0] != DeliveryOK || !slices.Equal(scenarios.DeliveryReasons, outcomes[1:]) {
		t.Errorf("scenarios.DeliveryReasons = %v, want %v", scenarios.DeliveryReasons, outcomes[1:])
	}
}

// TestWithoutReplies: what ended the wait for an LMTP DATA's replies,
// without the error replies go-smtp joined to it.
func TestWithoutReplies(t *testing.T) {
	replies := smtp.LMTPDataError{"a@example.com": {Code: 421, Message: "Shutting down"}}
	for _, tt := range []struct {
		name    string
		err     error
		wantEOF bool
	}{
		{"no reply at all", io.EOF, true},
		{"after an error reply", errors.Join(io.EOF, replies), true},
		{"replies alone", replies, false},
	} {
		if got := withoutReplies(tt.err); errors.Is(got, io.EOF) != tt.wantEOF || strings.Contains(got.Error(), "421") == tt.wantEOF {
			t.Errorf("%s: withoutReplies(%v) = %v", tt.name, tt.err, got)
		}
	}
}

// TestInjectorServerClosedIdle: an LMTP server that closes the injector's
// connection while it waits for the next delivery — its FIN, or the 421
// Dovecot says to every LMTP connection when it shuts down, then the FIN
// — is noticed before the next transaction (transport.Conn.PeerClosed):
// counted as a connection the server closed while idle, not as the
// failure of the next MAIL, and the delivery goes out on a new
// connection, with no QUIT on the closed one. Before, the next MAIL
// failed (error, or no for the 421 read as its reply) and the delivery
// was retried. The next delivery comes as soon as the injector's socket
// has the close: the look is made however short the wait (before
// 2026-12-04, only after a second's).
func TestInjectorServerClosedIdle(t *testing.T) {
	for _, tt := range []struct {
		name string
		// bye is what the fake server says before its FIN; dovecot: a
		// real Dovecot's restart closes the connection instead.
		bye     string
		dovecot bool
	}{
		{name: "fin"},
		{name: "421 then fin", bye: "421 4.3.2 Shutting down\r\n"},
		{name: "dovecot restart", dovecot: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, dc, closeIdle := closedIdleServer(t, tt.bye, tt.dovecot)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			injCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); e.inj.run(injCtx) }()
			send := func(i int) {
				var rcpts []recipient
				for _, u := range e.users {
					rcpts = append(rcpts, recipient{addr: u.plan.Address, user: u, folder: "INBOX"})
				}
				e.inj.enqueue(ctx, delivery{from: "someone@example.net", rcpts: rcpts, id: fmt.Sprintf("<m%d@test>", i),
					raw: []byte(fmt.Sprintf("Message-ID: <m%d@test>\r\nSubject: t\r\n\r\nhello\r\n", i)), inbound: true})
				e.inj.drain(ctx)
			}
			send(0)
			// The injector is idle, its connection open: the server
			// closes it now.
			if err := closeIdle(ctx); err != nil {
				stop()
				<-done
				t.Fatal(err)
			}
			send(1)
			stop()
			<-done
			st := e.inj.finish()
			dc.mu.Lock()
			defer dc.mu.Unlock()
			if len(dc.failed) != 0 || st.Retries != 0 {
				t.Errorf("failed commands %v, retries %d, want none; recorded %v", dc.failed, st.Retries, dc.recorded)
			}
			if dc.closedIdle["lmtp"] != 1 {
				t.Errorf("closed idle %v, want lmtp 1", dc.closedIdle)
			}
			if st.Delivered != 2*int64(len(e.users)) {
				t.Errorf("delivered %d, want %d", st.Delivered, 2*len(e.users))
			}
			if n := dc.recorded["lmtp QUIT ok"] + dc.recorded["lmtp QUIT error"] + dc.recorded["lmtp QUIT timeout"]; n > 1 {
				t.Errorf("%d QUITs recorded, want none on the closed connection; recorded %v", n, dc.recorded)
			}
		})
	}
}

// closedIdleServer returns an injector with one connection to an LMTP
// server, and closeIdle, which closes the injector's connection from the
// server's side once the first delivery is done and returns once the
// injector's socket has the close: a fake server's, which ends the
// connection after one transaction, saying bye first, or a real
// Dovecot's restart (it says 421 to every LMTP connection as it stops,
// then closes; Restart returns once it serves again).
func closedIdleServer(t *testing.T, bye string, dovecot bool) (e *Engine, dc *deliveryCounter, closeIdle func(context.Context) error) {
	t.Helper()
	dl := scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone}
	if dovecot {
		inst := dovecottest.Start(t, injectorUsers)
		dl.Addr = inst.LMTP
		e, dc = newTestInjectorOf(t, mustPlan(t, appendScenario(injectorUsers, inst.Password), scenarios.PlanOptions{}), dl)
		return e, dc, func(context.Context) error { return inst.Restart() }
	}
	var conns atomic.Int32
	closed := make(chan struct{})
	ok := script{rcpt: func(string) string { return "250 ok" }, data: func(int) string { return "250 ok" }, lmtp: true}
	addr := startFakeLMTP(t, func(c net.Conn, r *bufio.Reader) {
		if conns.Add(1) > 1 {
			ok.serve(c, r)
			return
		}
		// One transaction, then the close while idle.
		fmt.Fprintf(c, "220 fake server\r\n")
		inData, done, rcpts := false, false, 0
		for n := 0; n < 100 && !done; n++ {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if inData {
				if line == ".\r\n" {
					inData, done = false, true
					for ; rcpts > 0; rcpts-- {
						fmt.Fprintf(c, "250 ok\r\n") // one per recipient
					}
				}
				continue
			}
			switch verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " "); verb {
			case "LHLO":
				fmt.Fprintf(c, "250-fake\r\n250 PIPELINING\r\n")
			case "DATA":
				inData = true
				fmt.Fprintf(c, "354 go on\r\n")
			case "RCPT":
				rcpts++
				fmt.Fprintf(c, "250 ok\r\n")
			default:
				fmt.Fprintf(c, "250 ok\r\n")
			}
		}
		fmt.Fprint(c, bye)
		// With SO_LINGER set, Close returns once the injector's
		// kernel acknowledged the FIN: the close is in its
		// socket before the test sends the next delivery.
		_ = c.(*net.TCPConn).SetLinger(10)
		_ = c.Close()
		close(closed)
	})
	dl.Addr = addr
	e, dc = newTestInjector(t, dl)
	return e, dc, func(ctx context.Context) error {
		select {
		case <-closed:
			return nil
		case <-ctx.Done():
			return errors.New("the server never closed the first connection")
		}
	}
}
