package engine

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// resumeScenario is two IMAP users; the tests drive the person by hand.
const resumeScenario = `
version: 1
name: resume
seed: 3
duration: 5s
time_scale: 60
users: {count: 2, username: "user{n}", password: pass}
groups:
  - {name: imap, share: 100%, devices: [pc-imap], behavior: quiet}
behaviors:
  quiet:
    inbound: {interval: 1h, size: {min: 2KiB, max: 4KiB}}
    on_new_mail: {read: 100%}
    action_repeat_delay: 5s
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true}
`

// cutProxy relays TCP to target and drops the connection, without passing
// it on, at the first line from the client that matches (a network failure
// in the middle of that command). Every connection ends with the test.
type cutProxy struct {
	ln     net.Listener
	target string
	match  *regexp.Regexp
	cut    atomic.Bool
	// always cuts every matching line, not only the first.
	always atomic.Bool
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string, match *regexp.Regexp) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, match: match}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		// Both directions end within a minute at most; closing one
		// connection ends the other direction's copy.
		deadline := time.Now().Add(time.Minute)
		_ = c.SetDeadline(deadline)
		_ = s.SetDeadline(deadline)
		p.wg.Add(2)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			_, _ = io.Copy(c, s)
		}()
		go func() {
			defer p.wg.Done()
			defer s.Close()
			r := bufio.NewReader(c)
			for {
				line, err := r.ReadString('\n')
				if p.match.MatchString(line) && (p.cut.CompareAndSwap(false, true) || p.always.Load()) {
					c.Close()
					return
				}
				if _, werr := io.WriteString(s, line); werr != nil || err != nil {
					return
				}
			}
		}()
	}
}

// newResumeEngine builds the engine of resumeScenario on a fresh embedded
// server whose IMAP is reached through a proxy that cuts the first APPEND
// to Sent, and runs user1's device until the test ends.
func newResumeEngine(t *testing.T) (*Engine, *testRecorder, *cutProxy, storeTruth, Endpoints) {
	t.Helper()
	plan := mustPlan(t, resumeScenario, scenarios.PlanOptions{})
	srv, ep := startEmbedded(t, plan)
	proxy := newCutProxy(t, ep.IMAP.Addr, regexp.MustCompile(`(?i)^\S+ APPEND "?Sent"? `))
	ep.IMAP.Addr = proxy.ln.Addr().String()
	rec := newTestRecorder()
	e, err := New(Options{Plan: plan, Endpoints: ep, Recorder: rec, Truth: storeTruth{srv}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = e.users[0].devices[0].dev.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e, rec, proxy, storeTruth{srv}, ep
}

// TestReplyResumedAfterSubmit checks a reply whose APPEND to Sent fails
// after the submission: the error is counted, the send change recorded at
// once, and the retry resumes on the device that sent it — one submission,
// the copy in Sent, the original answered, the send change recorded once.
func TestReplyResumedAfterSubmit(t *testing.T) {
	e, rec, proxy, truth, ep := newResumeEngine(t)
	u1, u2 := e.users[0], e.users[1]
	msg := u1.env.gen.New(rand.New(rand.NewPCG(1, 2)), u2.plan.Address, []string{u1.plan.Address}, 2000, false, e.clock.Now())
	lmtpDeliver(t, ep.Delivery.Addr, u1.plan.Address, msg.Raw)
	dev := u1.devices[0].dev
	deadline := time.Now().Add(20 * time.Second)
	for _, ok := dev.View().Messages[msg.ID]; !ok; _, ok = dev.View().Messages[msg.ID] {
		if time.Now().After(deadline) {
			t.Fatal("the device never showed the message")
		}
		time.Sleep(10 * time.Millisecond)
	}

	p := newPerson(u1)
	p.hand = u1.devices[0]
	ctx := context.Background()
	now := e.clock.Now()
	p.plan(msg.ID, &plannedMessage{due: now, actions: []clients.Action{{Kind: clients.ActReply, MessageID: msg.ID, Size: 2000}}})
	p.actOnMail(ctx, now)
	if !proxy.cut.Load() {
		t.Fatal("the proxy never cut the APPEND to Sent")
	}
	pm := p.pending[msg.ID]
	if pm == nil || pm.resume == nil || pm.resumeOn != p.hand {
		t.Fatalf("after the failed reply: %+v, want it pending with a resume", pm)
	}
	if n := e.actionErrors.Load(); n != 1 {
		t.Errorf("%d action errors, want 1", n)
	}
	p.actOnMail(ctx, now.Add(2*time.Minute))
	if p.pending[msg.ID] != nil || !p.done[msg.ID] {
		t.Fatalf("the resumed reply did not finish: %+v", p.pending[msg.ID])
	}
	if n := rec.count("smtp DATA"); n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
	if got := [3]int64{e.actions.Load(), e.actionErrors.Load(), e.actionsDropped.Load()}; got != [3]int64{1, 1, 0} {
		t.Errorf("actions done, failed, dropped = %v, want [1 1 0]", got)
	}
	st, err := truth.UserState(ctx, u1.plan.Username)
	if err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, m := range st.Messages {
		if m.Folder == "Sent" {
			sent++
		}
	}
	if sent != 1 {
		t.Errorf("%d messages in Sent on the server, want 1", sent)
	}
	if m := st.Messages[msg.ID]; !m.Flags.Has(view.Answered) {
		t.Errorf("the original on the server: %+v, want \\Answered", m)
	}
	res, err := e.auditor.Final(ctx, truth)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1 {
		t.Errorf("the audit has %d send changes, want 1", res.Sent)
	}
	if kr := res.Convergence[audit.Reply]; kr.Changes != 1 {
		t.Errorf("the audit has %+v reply changes, want 1", kr)
	}
}

// TestSendFailedAfterSubmit checks a send whose APPEND to Sent fails after
// the submission: the send change is recorded at once (the mail left), the
// client finishes the send with a resume — the copy lands in Sent — and
// the message is never submitted again; the failed try is counted.
func TestSendFailedAfterSubmit(t *testing.T) {
	e, rec, proxy, truth, _ := newResumeEngine(t)
	u1, u2 := e.users[0], e.users[1]
	p := newPerson(u1)
	p.hand = u1.devices[0]
	ctx := context.Background()
	if err := p.do(ctx, clients.Action{Kind: clients.ActSend, To: []string{u2.plan.Address}, Size: 2000}); err != nil {
		t.Fatalf("send not finished by its resume: %v", err)
	}
	if !proxy.cut.Load() {
		t.Fatal("the proxy never cut the APPEND to Sent")
	}
	if n := rec.count("smtp DATA"); n != 1 {
		t.Errorf("%d submissions, want 1", n)
	}
	if got := [3]int64{e.actions.Load(), e.actionErrors.Load(), e.actionsDropped.Load()}; got != [3]int64{1, 1, 0} {
		t.Errorf("actions done, failed, dropped = %v, want [1 1 0]", got)
	}
	res, err := e.auditor.Final(ctx, truth)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1 {
		t.Errorf("the audit has %d send changes, want 1", res.Sent)
	}
}

// TestSendGivenUpStaysIncomplete: a send whose copy to Sent can never be
// stored (every APPEND to Sent is cut) is given up after its resumes, and
// its send change is recorded once (marked incomplete: the audit's reason
// is action-incomplete, internal/audit TestSendIncomplete).
func TestSendGivenUpStaysIncomplete(t *testing.T) {
	e, rec, proxy, truth, _ := newResumeEngine(t)
	u1, u2 := e.users[0], e.users[1]
	p := newPerson(u1)
	p.hand = u1.devices[0]
	proxy.always.Store(true)
	ctx := context.Background()
	if err := p.do(ctx, clients.Action{Kind: clients.ActSend, To: []string{u2.plan.Address}, Size: 2000}); err == nil {
		t.Fatal("send with the APPEND to Sent cut succeeded")
	}
	if !proxy.cut.Load() || rec.count("smtp DATA") != 1 {
		t.Fatalf("cut %v, %d submissions", proxy.cut.Load(), rec.count("smtp DATA"))
	}
	if got := e.actionsDropped.Load(); got != 1 {
		t.Errorf("%d actions given up, want 1", got)
	}
	res, err := e.auditor.Final(ctx, truth)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 1 {
		t.Errorf("the audit has %d send changes, want 1 (the mail left)", res.Sent)
	}
}

// TestActionsGivenUpAreCounted checks that actions dropped after maxTries
// tries are counted, never silent.
func TestActionsGivenUpAreCounted(t *testing.T) {
	e, _, _, _, _ := newResumeEngine(t)
	p := newPerson(e.users[0])
	p.hand = e.users[0].devices[0]
	const id = "<never-delivered@example.net>"
	now := e.clock.Now()
	p.plan(id, &plannedMessage{due: now, actions: []clients.Action{{Kind: clients.ActRead, MessageID: id}, {Kind: clients.ActFlag, MessageID: id}}})
	for i := 0; i < maxTries && p.pending[id] != nil; i++ {
		p.actOnMail(context.Background(), now)
		now = now.Add(time.Hour)
	}
	if p.pending[id] != nil || !p.done[id] {
		t.Fatalf("still pending after %d tries: %+v", maxTries, p.pending[id])
	}
	if got := [3]int64{e.actions.Load(), e.actionErrors.Load(), e.actionsDropped.Load()}; got != [3]int64{0, 0, 2} {
		t.Errorf("actions done, failed, dropped = %v, want [0 0 2]", got)
	}
}

// lmtpDeliver delivers raw to rcpt over LMTP at addr.
func lmtpDeliver(t *testing.T, addr, rcpt string, raw []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("sender@example.net", []string{rcpt}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
}
