package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/couriertest"
	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// The injector's imap-append sessions (injector.appendOne) over the lean
// client, against the embedded server, Dovecot (its default dialect and
// Courier's "INBOX." one) and deliberately broken servers: the commands of
// each session in order, the logins, the delivery outcomes and where the
// messages land.

// commandLog is a deliveryCounter that also keeps every command the
// injector recorded, in order, as "NAME outcome".
type commandLog struct {
	*deliveryCounter
	cmds []string
}

func (l *commandLog) Command(ev clients.CommandEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = append(l.cmds, ev.Command+" "+string(ev.Outcome))
}

// appendScenario is injectorScenario with users user1..userN and password
// pw, as scripts/dovecot.sh creates them.
func appendScenario(users int, pw string) string {
	return fmt.Sprintf(`
version: 1
name: inj
duration: 1s
users: {count: %d, username: "user{n}", password: %q}
groups: [{name: g, share: 100%%, devices: [pc-imap], behavior: b}]
behaviors: {b: {}}
`, users, pw)
}

// runAppend delivers msgs messages by imap-append to addr, each to every
// user of scenario into folder, with one injector worker (so that the
// sessions, and their commands, come one after the other), and returns
// the injector's stats and what the recorder saw. timeout bounds each
// session.
func runAppend(t *testing.T, scenario, addr, folder string, msgs int, timeout time.Duration) (DeliveryStats, *commandLog) {
	t.Helper()
	e, log := newInjectorEngine(t, mustPlan(t, scenario, scenarios.PlanOptions{}),
		scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: addr, TLS: transport.TLSNone})
	e.inj.timeout = timeout
	e.inj.backoff = 5 * time.Millisecond
	return deliverAll(e, msgs, folder), log
}

// newInjectorEngine returns an engine of plan whose injector delivers
// through dl with one worker, recording on the returned log; its devices
// are built, never started.
func newInjectorEngine(t *testing.T, plan *scenarios.Plan, dl scenarios.Delivery) (*Engine, *commandLog) {
	t.Helper()
	log := &commandLog{deliveryCounter: newDeliveryCounter()}
	e, err := New(Options{Plan: plan, Recorder: log, Observer: log, InjectorWorkers: 1, Endpoints: Endpoints{
		IMAP:     transport.Endpoint{Addr: "127.0.0.1:1"},
		Delivery: dl,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return e, log
}

// injectOne runs e's injector until ctx ends, with one message, id, to
// the INBOX of e's first user handed to it, and returns a channel closed
// when the injector has stopped.
func injectOne(ctx context.Context, e *Engine, id string) <-chan struct{} {
	done := make(chan struct{})
	go func() { defer close(done); e.inj.run(ctx) }()
	u := e.users[0]
	e.inj.enqueue(ctx, delivery{from: "someone@example.net", rcpts: []recipient{{addr: u.plan.Address, user: u, folder: "INBOX"}},
		id: id, raw: []byte("Message-ID: " + id + "\r\nSubject: t\r\n\r\nhello\r\n"), inbound: true})
	return done
}

// sessionsOf splits a command log into sessions, each ending with LOGOUT or
// a failed command.
func sessionsOf(cmds []string) [][]string {
	var out [][]string
	var cur []string
	for _, c := range cmds {
		cur = append(cur, c)
		if strings.HasPrefix(c, "LOGOUT ") || !strings.HasSuffix(c, " ok") {
			out = append(out, cur)
			cur = nil
		}
	}
	if cur != nil {
		out = append(out, cur)
	}
	return out
}

// mailboxMessages logs in as user with the lean client and returns the
// number of messages in mailbox.
func mailboxMessages(t *testing.T, addr, user, pass, mailbox string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, c, err := leanimap.Dial(ctx, transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}}, leanimap.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(mailbox, imap.StatusOptions{NumMessages: true})
	if err != nil {
		t.Fatalf("STATUS %s: %v", mailbox, err)
	}
	if st.NumMessages == nil {
		t.Fatalf("STATUS %s: no MESSAGES", mailbox)
	}
	return int(*st.NumMessages)
}

// TestInjectorIMAPAppendSessions delivers by imap-append against real
// servers and checks every session's commands, in order: INBOX takes
// LOGIN, APPEND, LOGOUT; another folder is found by NAMESPACE and LIST
// (RETURN (SPECIAL-USE)) first and created when the server does not list
// it (only by the first session of each user: later ones list it). Every
// delivery succeeds, with one imap login per session, and the messages
// are where the devices would look for them.
func TestInjectorIMAPAppendSessions(t *testing.T) {
	const users, msgs = 2, 2
	type server struct {
		addr, pass string
		// held returns how many messages user n holds in mailbox.
		held func(t *testing.T, n int, mailbox string) int
	}
	embedded := func(t *testing.T) server {
		plan := mustPlan(t, appendScenario(users, "pw"), scenarios.PlanOptions{})
		accounts := make([]mailservertest.User, 0, len(plan.Users))
		for _, u := range plan.Users {
			accounts = append(accounts, mailservertest.User{Name: u.Username, Password: u.Password})
		}
		addrs, _ := mailservertest.Start(t, accounts...)
		return server{addr: addrs.IMAP, pass: "pw", held: func(t *testing.T, n int, mailbox string) int {
			return mailboxMessages(t, addrs.IMAP, "user"+strconv.Itoa(n), "pw", mailbox)
		}}
	}
	dovecot := func(o dovecottest.Options) func(t *testing.T) server {
		return func(t *testing.T) server {
			inst := dovecottest.StartWith(t, users, o)
			return server{addr: inst.IMAP, pass: inst.Password, held: func(t *testing.T, n int, mailbox string) int {
				return mailboxMessages(t, inst.IMAP, inst.Username(n), inst.Password, mailbox)
			}}
		}
	}
	courier := func(t *testing.T) server {
		inst := couriertest.Start(t, users, couriertest.Options{})
		return server{addr: inst.IMAP, pass: inst.Password, held: func(t *testing.T, n int, mailbox string) int {
			return mailboxMessages(t, inst.IMAP, inst.Username(n), inst.Password, mailbox)
		}}
	}
	find := []string{"NAMESPACE ok", "LIST ok"}
	session := func(parts ...[]string) []string { return slices.Concat(parts...) }
	login, store := []string{"CONNECT ok", "LOGIN ok"}, []string{"APPEND ok", "LOGOUT ok"}
	for _, tc := range []struct {
		name    string
		start   func(t *testing.T) server
		folder  string
		mailbox string   // where the messages must land
		first   []string // the commands of each user's first session
		later   []string // those of the later ones
	}{
		{"embedded/INBOX", embedded, "INBOX", "INBOX", session(login, store), session(login, store)},
		{"embedded/new folder", embedded, "Lists", "Lists",
			session(login, find, []string{"CREATE ok"}, store), session(login, find, store)},
		{"dovecot/INBOX", dovecot(dovecottest.Options{}), "INBOX", "INBOX", session(login, store), session(login, store)},
		{"dovecot/Junk", dovecot(dovecottest.Options{}), "Junk", "Junk", session(login, find, store), session(login, find, store)},
		{"dovecot/new folder", dovecot(dovecottest.Options{}), "Lists", "Lists",
			session(login, find, []string{"CREATE ok"}, store), session(login, find, store)},
		// pfx: Courier's and Cyrus's dialect, where Junk is INBOX.Junk,
		// found by name under the namespace prefix.
		{"pfx/Junk", dovecot(dovecottest.Options{NamespacePrefix: "INBOX.", NamespaceSeparator: ".", NoSpecialUse: true}),
			"Junk", "INBOX.Junk", session(login, find, store), session(login, find, store)},
		{"pfx/new folder", dovecot(dovecottest.Options{NamespacePrefix: "INBOX.", NamespaceSeparator: ".", NoSpecialUse: true}),
			"Lists", "INBOX.Lists", session(login, find, []string{"CREATE ok"}, store), session(login, find, store)},
		// Courier: INBOX only at the start, Junk to be created as
		// INBOX.Junk; its LOGIN reply carries no capabilities, so the
		// session asks for them before NAMESPACE.
		{"courier/INBOX", courier, "INBOX", "INBOX", session(login, store), session(login, store)},
		{"courier/Junk", courier, "Junk", "INBOX.Junk",
			session(login, []string{"CAPABILITY ok"}, find, []string{"CREATE ok"}, store), session(login, []string{"CAPABILITY ok"}, find, store)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.start(t)
			st, log := runAppend(t, appendScenario(users, srv.pass), srv.addr, tc.folder, msgs, 10*time.Second)
			if want := int64(users * msgs); st.Attempted != want || st.Delivered != want || st.FailedTotal() != 0 || st.Retries != 0 {
				t.Errorf("stats %+v, want %d attempted and delivered, none failed, no retry", st, want)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if log.logins["imap ok"] != users*msgs || len(log.logins) != 1 {
				t.Errorf("logins %v, want %d imap ok", log.logins, users*msgs)
			}
			got := sessionsOf(log.cmds)
			var want [][]string
			for i := range msgs {
				for range users {
					if i == 0 {
						want = append(want, tc.first)
					} else {
						want = append(want, tc.later)
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("sessions\n %v\nwant\n %v", got, want)
			}
			for n := 1; n <= users; n++ {
				if got := srv.held(t, n, tc.mailbox); got != msgs {
					t.Errorf("user%d holds %d messages in %s, want %d", n, got, tc.mailbox, msgs)
				}
			}
		})
	}
}

// TestInjectorIMAPAppendFaults delivers by imap-append to deliberately
// broken servers (internal/faketest) and checks the exact outcome of every
// delivery, its retries, the logins and the commands recorded. Each
// session counts one successful imap login. An APPEND that failed before
// its message went out is retried as any temporary failure (the server
// cannot have stored it): a connection closed after LOGIN or at the
// APPEND's line, or an answer that is not IMAP or over the line bound,
// instead of the continuation request, fails with error; one never
// answered fails with timeout when the session's deadline passes; an
// APPEND refused with NO fails with no (not retried), also after its
// message. One whose message went out whole and whose reply was lost —
// the server closed, stalled or answered garbage after the literal — fails
// unknown and is not retried (the server may have stored it). Before,
// every failed APPEND kept its reason and none was retried: a reply lost
// after the message counted error or timeout, as if the server had not
// stored it.
func TestInjectorIMAPAppendFaults(t *testing.T) {
	const users, msgs = 2, 2
	for _, tc := range []struct {
		mode faketest.IMAPMode
		// take: the server takes the APPEND's literal before it
		// misbehaves (faketest.Options.TakeLiterals).
		take    bool
		reason  string
		tries   int
		session []string
	}{
		{faketest.IMAPHangUp, false, DeliveryError, deliveryTries, []string{"CONNECT ok", "LOGIN ok", "APPEND error"}},
		{faketest.IMAPClose, false, DeliveryError, deliveryTries, []string{"CONNECT ok", "LOGIN ok", "APPEND error"}},
		{faketest.IMAPRefuse, false, DeliveryNo, 1, []string{"CONNECT ok", "LOGIN ok", "APPEND no"}},
		{faketest.IMAPGarbage, false, DeliveryError, deliveryTries, []string{"CONNECT ok", "LOGIN ok", "APPEND error"}},
		{faketest.IMAPHugeLine, false, DeliveryError, deliveryTries, []string{"CONNECT ok", "LOGIN ok", "APPEND error"}},
		{faketest.IMAPSilent, false, DeliveryTimeout, deliveryTries, []string{"CONNECT ok", "LOGIN ok", "APPEND timeout"}},
		{faketest.IMAPClose, true, DeliveryUnknown, 1, []string{"CONNECT ok", "LOGIN ok", "APPEND error"}},
		{faketest.IMAPGarbage, true, DeliveryUnknown, 1, []string{"CONNECT ok", "LOGIN ok", "APPEND error"}},
		{faketest.IMAPSilent, true, DeliveryUnknown, 1, []string{"CONNECT ok", "LOGIN ok", "APPEND timeout"}},
		{faketest.IMAPRefuse, true, DeliveryNo, 1, []string{"CONNECT ok", "LOGIN ok", "APPEND no"}},
	} {
		name := tc.mode.String()
		if tc.take {
			name += " after the message"
		}
		t.Run(name, func(t *testing.T) {
			srv := faketest.StartIMAP(t, tc.mode, faketest.Options{TakeLiterals: tc.take})
			// A short timeout for the silent server, which holds each
			// session that long; a long one elsewhere, so that a loaded
			// machine's slow LOGIN is no timeout.
			timeout := 10 * time.Second
			if tc.mode == faketest.IMAPSilent {
				timeout = 300 * time.Millisecond
			}
			st, log := runAppend(t, appendScenario(users, "pw"), srv.Addr, "INBOX", msgs, timeout)
			const n = users * msgs
			sessions := n * tc.tries
			if st.Attempted != n || st.Delivered != 0 || st.Failed[tc.reason] != n || len(st.Failed) != 1 || st.Retries != int64(sessions-n) {
				t.Errorf("stats %+v, want %d failed %s, %d retries", st, n, tc.reason, sessions-n)
			}
			if srv.Logins() != int64(sessions) {
				t.Errorf("the server saw %d logins, want %d", srv.Logins(), sessions)
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if log.logins["imap ok"] != sessions || len(log.logins) != 1 {
				t.Errorf("logins %v, want %d imap ok", log.logins, sessions)
			}
			if log.attempts["imap-append "+tc.reason] != sessions || log.done["imap-append "+tc.reason] != n {
				t.Errorf("observer: tries %v, final %v; want %d and %d %s", log.attempts, log.done, sessions, n, tc.reason)
			}
			var want [][]string
			for range sessions {
				want = append(want, tc.session)
			}
			if got := sessionsOf(log.cmds); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("sessions %v, want %v", got, want)
			}
		})
	}
}

// TestInjectorIMAPAppendNoReaderGoroutine: an imap-append session runs on
// the injector worker's goroutine (the lean client): while an APPEND waits
// for the server's answer, no goroutine of go-imap's client (its reader)
// exists.
func TestInjectorIMAPAppendNoReaderGoroutine(t *testing.T) {
	srv := faketest.StartIMAP(t, faketest.IMAPSilent, faketest.Options{})
	dump := make(chan string, 1)
	stop := make(chan struct{})
	go func() {
		// The silent server counts the APPEND it does not answer as its
		// fault: from then on the session waits for the answer.
		for srv.Faults() == 0 {
			select {
			case <-stop:
				dump <- ""
				return
			case <-time.After(time.Millisecond):
			}
		}
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 2)
		dump <- buf.String()
	}()
	st, _ := runAppend(t, appendScenario(1, "pw"), srv.Addr, "INBOX", 1, time.Second)
	close(stop)
	if st.Failed[DeliveryTimeout] != 1 {
		t.Errorf("stats %+v, want the APPEND timed out", st)
	}
	stacks := <-dump
	if stacks == "" {
		t.Fatal("the APPEND never reached the server")
	}
	if i := strings.Index(stacks, "emersion/go-imap/v2/imapclient"); i >= 0 {
		t.Errorf("a go-imap client goroutine runs during the APPEND:\n%s", stacks[max(0, i-500):min(len(stacks), i+500)])
	}
}

// TestInjectorIMAPAppendAtTheEnd: a run that ends while an APPEND waits
// for the server's answer gives it the stop's grace, as every protocol's
// connections (clients.StopGrace): left unanswered beyond it, the APPEND
// counts a timeout and the delivery a timeout when the server had not
// taken the message (it never requested the literal), unknown when it had
// (the literal went out whole: the server may have stored it) — not
// cancelled, and not nothing: the server never answered; answered within
// it, the message is delivered and the APPEND counts ok, and no LOGOUT
// reaches the server (clients.StopGrace.Start closes the connection
// first: without its refusal the server got "L3 LOGOUT"; the test read
// only the commands recorded until 2026-12-04, and a LOGOUT sent into the
// stop's close records nothing). The login counts either way. Before, the run's end closed the session's connection at once:
// cancelled, and the APPEND counted nowhere; and until 2026-12-04 a
// message taken and left unanswered counted timeout.
func TestInjectorIMAPAppendAtTheEnd(t *testing.T) {
	for _, tt := range []struct {
		name string
		// late: the APPEND reaches a server that answers, after the stop;
		// take: the silent server takes the message first
		// (faketest.Options.TakeLiterals).
		late, take bool
		wantFailed string
		wantAppend string
	}{
		{"APPEND unanswered beyond the grace", false, false, DeliveryTimeout, "APPEND timeout"},
		{"APPEND's message taken, unanswered beyond the grace", false, true, DeliveryUnknown, "APPEND timeout"},
		{"APPEND answered within the grace", true, false, "", "APPEND ok"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlan(t, appendScenario(1, "pw"), scenarios.PlanOptions{})
			// The scenario's stop_grace is the injector's (New).
			plan.Scenario.StopGrace = shortGrace
			if tt.late {
				plan.Scenario.StopGrace = longGrace
			}
			var addr string
			var reached <-chan struct{}
			var proxy *faultproxy.Proxy
			if tt.late {
				addrs, _ := mailservertest.Start(t, mailservertest.User{Name: plan.Users[0].Username, Password: "pw"})
				var err error
				proxy, err = faultproxy.New(faultproxy.Options{Backend: addrs.IMAP})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = proxy.Close() })
				addr, reached = proxy.Addr(), proxy.StallOn([]byte("APPEND"))
			} else {
				srv := faketest.StartIMAP(t, faketest.IMAPSilent, faketest.Options{TakeLiterals: tt.take})
				addr = srv.Addr
				r := make(chan struct{})
				reached = r
				go func() {
					defer close(r)
					for deadline := time.Now().Add(20 * time.Second); srv.Faults() == 0 && time.Now().Before(deadline); {
						time.Sleep(time.Millisecond)
					}
				}()
			}
			e, log := newInjectorEngine(t, plan, scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: addr, TLS: transport.TLSNone})
			e.inj.timeout = 20 * time.Second // the run ends first
			if e.inj.stopGrace != plan.Scenario.StopGrace {
				t.Fatalf("the injector's stop grace %v, want the scenario's %v", e.inj.stopGrace, plan.Scenario.StopGrace)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := injectOne(ctx, e, "<c@test>")
			select {
			case <-reached: // the APPEND has reached the server, or the proxy holds it
			case <-done:
				t.Fatal("the injector ended before its APPEND reached the server")
			case <-time.After(20 * time.Second):
				t.Fatal("the APPEND never reached the server")
			}
			cancel()
			if tt.late {
				proxy.Resume() // the server answers within the grace
			}
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the injector did not stop with the run: it waits for the stalled server")
			}
			st := e.inj.finish()
			if tt.wantFailed == "" && (st.Delivered != 1 || st.FailedTotal() != 0) ||
				tt.wantFailed != "" && (st.Failed[tt.wantFailed] != 1 || len(st.Failed) != 1 || st.Delivered != 0) || st.Retries != 0 {
				t.Errorf("stats %+v, want 1 %s", st, cmp.Or(tt.wantFailed, "delivered"))
			}
			log.mu.Lock()
			defer log.mu.Unlock()
			if log.logins["imap ok"] != 1 || len(log.logins) != 1 {
				t.Errorf("logins %v, want 1 imap ok", log.logins)
			}
			// Nothing reached the server after the APPEND's answer: the
			// stop closed the connection before the LOGOUT
			// (clients.StopGrace.Start), which, answered, would count as
			// a stopped injector's command. By order, not by luck: the
			// stop (cancel) came before the answer (Resume), so the
			// LOGOUT's Start sees the context ended and closes first.
			// The proxy has read everything the injector sent once its
			// connection ended (Drained); until 2026-12-05 the test
			// polled for that 5 s and read on regardless.
			if tt.late {
				drainCtx, drainCancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer drainCancel()
				if err := proxy.Drained(drainCtx); err != nil {
					t.Fatalf("the injector's connection did not end: %v", err)
				}
				if sent := proxy.SentAfterStall(); bytes.Contains(sent, []byte("LOGOUT")) {
					t.Errorf("the server got %q after the held APPEND: a stopped injector sends nothing", sent)
				}
			}
			if !slices.Contains(log.cmds, tt.wantAppend) || slices.ContainsFunc(log.cmds, func(c string) bool { return strings.HasPrefix(c, "LOGOUT") }) {
				t.Errorf("commands %q, want %q and no LOGOUT", log.cmds, tt.wantAppend)
			}
		})
	}
}

// TestInjectorReplyLost delivers one message by imap-append, and by LMTP,
// to a real server — the embedded one and Dovecot — through a fault proxy
// that holds the server's reply to the APPEND or to the end of DATA
// (faultproxy.StallOnReply): the server stored the message, and the
// injector never hears so, until the session's deadline passes or the run
// ends (after the stop's grace). Either way the delivery fails unknown and
// is not retried, the server holds one copy, and the final audit, reading
// the server, finds it stored. Before, an APPEND's counted timeout
// (deadline or run's end) and an LMTP DATA's timeout at the run's end, and
// the audit did not look for them.
func TestInjectorReplyLost(t *testing.T) {
	const pw = "pw"
	type server struct{ imap, lmtp, pass, stored string }
	for _, srv := range []struct {
		name  string
		start func(t *testing.T, user string) server
	}{
		{"embedded", func(t *testing.T, user string) server {
			addrs, _ := mailservertest.Start(t, mailservertest.User{Name: user, Password: pw})
			return server{addrs.IMAP, addrs.LMTP, pw, "OK: queued"} // go-smtp's reply to a delivery
		}},
		{"dovecot", func(t *testing.T, _ string) server {
			inst := dovecottest.Start(t, 1)
			return server{inst.IMAP, inst.LMTP, inst.Password, " Saved"}
		}},
	} {
		for _, proto := range []scenarios.DeliveryProtocol{scenarios.DeliverIMAPAppend, scenarios.DeliverLMTP} {
			for _, atTheEnd := range []bool{false, true} {
				name := srv.name + "/" + string(proto) + "/session deadline"
				if atTheEnd {
					name = srv.name + "/" + string(proto) + "/run's end"
				}
				t.Run(name, func(t *testing.T) {
					const user = "user1" // appendScenario's, as scripts/dovecot.sh names them
					sv := srv.start(t, user)
					backend, stored := sv.imap, "APPENDUID"
					if proto == scenarios.DeliverLMTP {
						backend, stored = sv.lmtp, sv.stored
					}
					p, err := faultproxy.New(faultproxy.Options{Backend: backend})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = p.Close() })
					e, _ := newInjectorEngine(t, mustPlan(t, appendScenario(1, sv.pass), scenarios.PlanOptions{}),
						scenarios.Delivery{Protocol: proto, Addr: p.Addr(), TLS: transport.TLSNone})
					e.inj.timeout, e.inj.backoff = 3*time.Second, 5*time.Millisecond // Dovecot's login on a loaded machine
					if atTheEnd {
						e.inj.timeout = 20 * time.Second // the run ends first
					}
					held := p.StallOnReply([]byte(stored))
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					injCtx, stop := context.WithCancel(ctx)
					defer stop()
					done := injectOne(injCtx, e, "<lost@test>")
					select {
					case <-held:
					case <-ctx.Done():
						t.Fatal("the server never answered the delivery")
					}
					if !atTheEnd {
						e.inj.drain(ctx) // the session's deadline ends the try
					}
					stop()
					<-done
					p.Resume()
					st := e.inj.finish()
					if st.Attempted != 1 || st.Delivered != 0 || st.Failed[DeliveryUnknown] != 1 || len(st.Failed) != 1 || st.Retries != 0 {
						t.Errorf("stats %+v, want 1 failed unknown, no retry", st)
					}
					if n := mailboxMessages(t, sv.imap, user, sv.pass, "INBOX"); n != 1 {
						t.Errorf("the server holds %d copies, want 1", n)
					}
					truth := &serverstate.IMAPReader{Endpoint: transport.Endpoint{Addr: sv.imap, TLS: transport.TLSNone},
						Password: func(string) string { return sv.pass }, Timeout: 10 * time.Second}
					ar, err := e.auditor.Final(ctx, truth)
					if want := (audit.Unanswered{Stored: 1}); err != nil || ar.Unanswered != want || ar.Lost != 0 {
						t.Errorf("audit: unanswered %+v, lost %d (err %v); want %+v, none lost", ar.Unanswered, ar.Lost, err, want)
					}
				})
			}
		}
	}
}
