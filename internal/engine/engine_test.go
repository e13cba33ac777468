package engine

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// testRecorder counts commands by protocol and command.
type testRecorder struct {
	mu   sync.Mutex
	cmds map[string]int
	errs map[string]int
}

func newTestRecorder() *testRecorder {
	return &testRecorder{cmds: map[string]int{}, errs: map[string]int{}}
}

func (r *testRecorder) Command(ev clients.CommandEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := ev.Protocol + " " + ev.Command
	r.cmds[k]++
	if ev.Outcome != transport.OutcomeOK {
		r.errs[k+" "+string(ev.Outcome)]++
	}
}
func (r *testRecorder) Bytes(string, int64, int64)      {}
func (r *testRecorder) Connection(string, int)          {}
func (r *testRecorder) Login(string, transport.Outcome) {}

func (r *testRecorder) count(k string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmds[k]
}

// tracer collects the run's events.
type tracer struct {
	mu     sync.Mutex
	events []Event
}

func (t *tracer) add(ev Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.events = append(t.events, ev)
}

func (t *tracer) kinds() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]int{}
	for _, ev := range t.events {
		m[ev.Kind]++
	}
	return m
}

// inbound returns, per user, the Message-IDs of inbound mail in the order
// of their scheduled arrival.
func (t *tracer) inbound() map[string][]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	evs := append([]Event(nil), t.events...)
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Arrival.Before(evs[j].Arrival) })
	m := map[string][]string{}
	for _, ev := range evs {
		if ev.Kind == "deliver" && ev.Inbound {
			m[ev.User] = append(m[ev.User], ev.MessageID)
		}
	}
	return m
}

func mustPlan(t *testing.T, yaml string, opts scenarios.PlanOptions) *scenarios.Plan {
	t.Helper()
	s, err := scenarios.Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("scenario: %v", err)
	}
	p, err := scenarios.NewPlan(s, opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

// runOnEmbedded runs plan against a fresh embedded server on loopback.
func runOnEmbedded(t *testing.T, plan *scenarios.Plan, rec *testRecorder, tr *tracer) *Result {
	t.Helper()
	return runOnEmbeddedWith(t, plan, rec, tr, nil)
}

// runOnEmbeddedWith is runOnEmbedded with a last word on the engine's
// options (tweak may be nil).
func runOnEmbeddedWith(t *testing.T, plan *scenarios.Plan, rec *testRecorder, tr *tracer, tweak func(*Options)) *Result {
	t.Helper()
	srv, ep := startEmbedded(t, plan)
	o := Options{
		Plan:      plan,
		Endpoints: ep,
		Recorder:  rec,
		Truth:     storeTruth{srv},
		Logger:    slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tr != nil {
		o.Trace = tr.add
	}
	if tweak != nil {
		tweak(&o)
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := e.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

// busyScenario makes people do a bit of everything quickly.
const busyScenario = `
version: 1
name: busy
seed: 7
duration: 5s
time_scale: 120
settle: 4s
audit: 500ms
users: {count: 4, username: "user{n}", password: pass}
groups:
  - {name: pop3-office, share: 50%, devices: [pc-pop3, phone-imap], behavior: busy}
  - {name: imap-everywhere, share: 50%, devices: [pc-imap, webmail], behavior: busy}
behaviors:
  busy:
    inbound: {interval: 2m, size: {min: 2KiB, max: 40KiB}, attachments: 20%}
    spam: {interval: 10m}
    send: {interval: 4m, write_time: 30s}
    on_new_mail: {read: 100%, reply: 40%, forward: 30%, flag: 40%, move: 30%, delete: 30%}
    action_delay: 30s
    action_repeat_delay: 5s
    folders: [Archive, Projects]
    session_length: 3m
devices:
  pc-pop3: {kind: pc, protocol: pop3, poll_interval: 1m, leave_on_server: true}
  pc-imap: {kind: pc, protocol: imap, idle: true}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 2m}
  webmail: {kind: webmail, protocol: imap, refresh: 1m}
`

// TestRunEveryProtocolAndAction runs a busy population end to end on the
// embedded server and checks that mail was delivered, read, replied,
// forwarded, flagged, filed, deleted and sent over every protocol, and that
// no mail was lost.
func TestRunEveryProtocolAndAction(t *testing.T) {
	// 7 s, not the scenario's 5: about ten deletes instead of five, so a
	// slow machine (the race detector under load) that gets through
	// fewer of the people's actions still does each kind.
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{Duration: 7 * time.Second})
	rec := newTestRecorder()
	tr := &tracer{}
	res := runOnEmbedded(t, plan, rec, tr)

	kinds := tr.kinds()
	for _, k := range []string{"deliver", "read", "reply", "forward", "flag", "move", "delete", "send"} {
		if kinds[k] == 0 {
			t.Errorf("no %q happened in the run (events: %v)", k, kinds)
		}
	}
	for _, c := range []string{"pop3 RETR", "pop3 UIDL", "imap UID STORE", "imap APPEND", "imap UID FETCH", "smtp DATA", "lmtp DATA"} {
		if rec.count(c) == 0 {
			t.Errorf("no %s command was sent (commands: %v)", c, rec.cmds)
		}
	}
	if res.Delivered == 0 || res.Sent == 0 {
		t.Errorf("delivered %d, sent %d; want both > 0", res.Delivered, res.Sent)
	}
	if !res.Audit.ServerChecked {
		t.Error("the final audit did not read the server's state")
	}
	if res.Audit.Lost != 0 {
		t.Errorf("lost %d messages on the embedded server: %+v", res.Audit.Lost, res.Audit.LostMessages)
	}
	if res.Users != 4 || res.Devices != 8 {
		t.Errorf("users %d devices %d; want 4 and 8", res.Users, res.Devices)
	}
	// A move into a folder that does not exist yet is refused with
	// [TRYCREATE]; the device creates it and moves again, as Thunderbird does.
	// Two devices of one person may create the same folder at once; the
	// second CREATE is refused ([ALREADYEXISTS]).
	errs := rec.errs
	if n := errs["imap UID MOVE no"]; n > 0 && n <= rec.count("imap CREATE") {
		delete(errs, "imap UID MOVE no")
	}
	if n := errs["imap CREATE no"]; n > 0 && n < rec.count("imap CREATE") {
		delete(errs, "imap CREATE no")
	}
	if len(errs) > 0 {
		t.Errorf("protocol errors on a correct server: %v", errs)
	}
}

// TestRunDeterministic checks that the same seed gives the same arrival
// schedule (the inbound Message-IDs of every user, in order) and another
// seed another one.
func TestRunDeterministic(t *testing.T) {
	const yaml = `
version: 1
name: determinism
seed: 3
duration: 2s
time_scale: 600
settle: 0s
users: {count: 3, username: "u{n}", password: pw}
groups: [{name: g, share: 100%, devices: [pc-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 2m}
    on_new_mail: {read: 50%}
devices:
  pc-imap: {kind: pc, protocol: imap}
`
	inboundOf := func(seed int64) map[string][]string {
		tr := &tracer{}
		runOnEmbedded(t, mustPlan(t, yaml, scenarios.PlanOptions{Seed: &seed}), newTestRecorder(), tr)
		return tr.inbound()
	}
	a, b, c := inboundOf(3), inboundOf(3), inboundOf(4)
	const prefix = 3
	for _, u := range []string{"u1", "u2", "u3"} {
		if len(a[u]) < prefix || len(b[u]) < prefix {
			t.Fatalf("%s: too few deliveries to compare (%d, %d)", u, len(a[u]), len(b[u]))
		}
		if strings.Join(a[u][:prefix], ",") != strings.Join(b[u][:prefix], ",") {
			t.Errorf("%s: same seed, different inbound mail:\n%v\n%v", u, a[u][:prefix], b[u][:prefix])
		}
		if len(c[u]) > 0 && c[u][0] == a[u][0] {
			t.Errorf("%s: seeds 3 and 4 gave the same first message %s", u, a[u][0])
		}
	}
}

// TestDecideDependsOnSeedAndMessageOnly pins that a person's decisions on a
// message depend only on their seed and its Message-ID.
func TestDecideDependsOnSeedAndMessageOnly(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{})
	e, err := New(Options{Plan: plan, Endpoints: Endpoints{
		IMAP: transport.Endpoint{Addr: "127.0.0.1:1"}, POP3: transport.Endpoint{Addr: "127.0.0.1:1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := newPerson(e.users[0]), newPerson(e.users[0])
	other := newPerson(e.users[1])
	differ := 0
	for i := range 200 {
		id := "<" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "@example.com>"
		id = id[:len(id)-1] + string(rune('0'+i%10)) + ">"
		a, _ := p1.decide(id)
		b, _ := p2.decide(id)
		if len(a) != len(b) {
			t.Fatalf("decide(%s) differs for the same person: %v vs %v", id, a, b)
		}
		for j := range a {
			if a[j].Kind != b[j].Kind || a[j].Folder != b[j].Folder {
				t.Fatalf("decide(%s) differs for the same person: %v vs %v", id, a, b)
			}
		}
		if o, _ := other.decide(id); len(o) != len(a) {
			differ++
		}
	}
	if differ == 0 {
		t.Error("two people with different seeds decided alike on 200 messages")
	}
}

// TestDecisionRand holds a person's decision source to the one decide
// used to build for each message, rand.New(rand.NewPCG(seed, FNV-1a of
// the Message-ID)) with hash/fnv, draw for draw: the same seed makes the
// same decisions as before.
func TestDecisionRand(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{})
	e, err := New(Options{Plan: plan, Endpoints: Endpoints{
		IMAP: transport.Endpoint{Addr: "127.0.0.1:1"}, POP3: transport.Endpoint{Addr: "127.0.0.1:1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range e.users[:2] {
		p := newPerson(u)
		for i := range 300 {
			id := fmt.Sprintf("<%016x.%d@example.com>", uint64(i)*0x9e3779b97f4a7c15, i)
			if i%50 == 0 {
				id = strings.Repeat("é", i/50) // not ASCII, or empty
			}
			h := fnv.New64a()
			h.Write([]byte(id))
			want := rand.New(rand.NewPCG(uint64(u.plan.Seed), h.Sum64()))
			got := p.decisionRand(id)
			for j := range 8 {
				if g, w := got.Uint64(), want.Uint64(); g != w {
					t.Fatalf("%s, message %q: draw %d is %#x, want %#x", u.plan.Username, id, j, g, w)
				}
			}
		}
	}
}

// tWriter sends log lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestRunDeliversByIMAPAppend runs with target.delivery imap-append: the
// injector logs in as each recipient and APPENDs (no LMTP at all), and the
// devices send through the injector playing the MTA (no submission).
func TestRunDeliversByIMAPAppend(t *testing.T) {
	const yaml = `
version: 1
name: append
duration: 3s
time_scale: 300
settle: 2s
users: {count: 3, username: "u{n}", password: pw}
groups: [{name: g, share: 100%, devices: [pc-imap, phone-imap], behavior: b}]
behaviors:
  b:
    inbound: {interval: 2m}
    spam: {interval: 10m}
    send: {interval: 5m}
    on_new_mail: {read: 100%, reply: 50%}
devices:
  pc-imap: {kind: pc, protocol: imap}
  phone-imap: {kind: phone, protocol: imap, poll_interval: 1m}
`
	rec := newTestRecorder()
	tr := &tracer{}
	calls := &callLog{}
	res := runOnEmbeddedWith(t, mustPlan(t, yaml, scenarios.PlanOptions{}), rec, tr, func(o *Options) {
		o.Endpoints.Delivery = scenarios.Delivery{Protocol: scenarios.DeliverIMAPAppend, Addr: o.Endpoints.IMAP.Addr}
		o.Endpoints.Submission = transport.Endpoint{}
		o.Observer = calls
	})
	if res.Delivered == 0 || rec.count("imap APPEND") == 0 {
		t.Fatalf("delivered %d, APPENDs %d; want mail put on the server by APPEND", res.Delivered, rec.count("imap APPEND"))
	}
	if d := res.Deliveries; d.Attempted == 0 || d.Delivered != d.Attempted || d.FailedTotal() != 0 || d.Abandoned != 0 {
		t.Errorf("deliveries %+v, want every attempted delivery delivered", d)
	}
	if n := rec.count("lmtp DATA") + rec.count("smtp DATA"); n != 0 {
		t.Errorf("%d LMTP/SMTP DATA commands with delivery imap-append and no submission", n)
	}
	if res.Sent == 0 {
		t.Error("nothing was sent through the injector playing the MTA")
	}
	// The sent mail went over IMAP (APPEND): counted by the name of the
	// delivery path ("imap-append"), outside the metrics' protocols, it
	// made an "other" protocol, and the summary printed "bytes other: in
	// 0 B, out 0 B" and "logins other: 0 ok, 0 failed".
	calls.mu.Lock()
	for _, c := range calls.calls {
		if strings.HasPrefix(c, "sent ") && c != "sent "+clients.ProtocolIMAP {
			t.Errorf("observer call %q, want %q", c, "sent "+clients.ProtocolIMAP)
			break
		}
	}
	calls.mu.Unlock()
	sentDelivered := 0
	for _, ev := range tr.events {
		if ev.Kind == "deliver" && !ev.Inbound {
			sentDelivered++
		}
	}
	if sentDelivered == 0 {
		t.Error("no sent mail reached a simulated recipient through the injector")
	}
	if res.Audit.Lost != 0 {
		t.Errorf("lost %d messages", res.Audit.Lost)
	}
}

// TestDecideMoveFilter pins that on_new_mail.move_filter files mail into
// Junk at once, instead of the person's other actions.
func TestDecideMoveFilter(t *testing.T) {
	plan := mustPlan(t, strings.Replace(busyScenario, "delete: 30%}", "delete: 30%, move_filter: 100%}", 1), scenarios.PlanOptions{})
	e, err := New(Options{Plan: plan, Endpoints: Endpoints{
		IMAP: transport.Endpoint{Addr: "127.0.0.1:1"}, POP3: transport.Endpoint{Addr: "127.0.0.1:1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	acts, filtered := newPerson(e.users[0]).decide("<m@example.com>")
	if !filtered || len(acts) != 1 || acts[0].Kind != clients.ActMove || acts[0].Folder != "Junk" {
		t.Errorf("decide with move_filter 100%% = %+v (filtered %v), want one move to Junk", acts, filtered)
	}
}
