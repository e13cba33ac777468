package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// hangLimit is how long a test waits for Run to return before it fails: far
// more than the runs below need, far less than a stalled server would hold
// an unbounded final audit (minutes).
const hangLimit = 60 * time.Second

// stalledIMAP is a deliberately broken IMAP server on loopback: it greets,
// accepts any LOGIN, then never answers again (a server that stops
// answering during the final state read).
type stalledIMAP struct {
	ln     net.Listener
	logins atomic.Int64
	mu     sync.Mutex
	conns  []net.Conn
	wg     sync.WaitGroup
}

func startStalledIMAP(t *testing.T) *stalledIMAP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalledIMAP{ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *stalledIMAP) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(c)
		}()
	}
}

func (s *stalledIMAP) serve(c net.Conn) {
	defer c.Close()
	// Bounded even if the test's cleanup never ran.
	_ = c.SetDeadline(time.Now().Add(2 * hangLimit))
	fmt.Fprintf(c, "* OK [CAPABILITY IMAP4rev1] stalled test server\r\n")
	r := bufio.NewReaderSize(c, 4096)
	stalled := false
	for {
		line, err := r.ReadString('\n')
		if err != nil || len(line) > 4000 {
			return
		}
		if stalled {
			continue // read, never answer
		}
		tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(strings.ToUpper(rest), "LOGIN") {
			s.logins.Add(1)
			fmt.Fprintf(c, "%s OK logged in\r\n", tag)
			stalled = true
			continue
		}
		if strings.HasPrefix(strings.ToUpper(rest), "CAPABILITY") {
			fmt.Fprintf(c, "* CAPABILITY IMAP4rev1\r\n")
		}
		fmt.Fprintf(c, "%s OK done\r\n", tag)
	}
}

// truth reads the server's state over IMAP from s, as on a real target.
func (s *stalledIMAP) truth() *serverstate.IMAPReader {
	return &serverstate.IMAPReader{
		Endpoint: transport.Endpoint{Addr: s.ln.Addr().String(), TLS: transport.TLSNone},
		Password: func(string) string { return "pass" },
	}
}

// runAsync runs e in the background; the result arrives on the channel.
type runResult struct {
	res *Result
	err error
}

func runAsync(ctx context.Context, e *Engine) <-chan runResult {
	ch := make(chan runResult, 1)
	go func() {
		res, err := e.Run(ctx)
		ch <- runResult{res, err}
	}()
	return ch
}

// waitRun waits for a run started by runAsync, failing the test when it
// does not return within hangLimit.
func waitRun(t *testing.T, ch <-chan runResult) runResult {
	t.Helper()
	timer := time.NewTimer(hangLimit)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.res == nil {
			t.Fatalf("run: no result: %v", r.err)
		}
		return r
	case <-timer.C:
		t.Fatalf("Run did not return within %s", hangLimit)
		return runResult{}
	}
}

// newEndTestEngine builds a short busy run on the embedded server whose
// final state read goes to truth.
func newEndTestEngine(t *testing.T, truth audit.Truth, budget time.Duration) *Engine {
	t.Helper()
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{Duration: 2 * time.Second})
	_, ep := startEmbedded(t, plan)
	settle := time.Second
	e, err := New(Options{Plan: plan, Endpoints: ep, Truth: truth, Settle: &settle, FinalBudget: budget})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestFinalAuditStalledServer: the server answers logins, then stops
// answering during the final state read. The run ends with its budget,
// every device audited, every user counted unchecked.
func TestFinalAuditStalledServer(t *testing.T) {
	stalled := startStalledIMAP(t)
	truth := stalled.truth()
	e := newEndTestEngine(t, truth, 3*time.Second)
	r := waitRun(t, runAsync(context.Background(), e))
	if r.err == nil {
		t.Error("no error though no server state was read")
	}
	a := r.res.Audit
	if a.Users != 4 || a.UsersUnchecked != 4 || a.ServerChecked {
		t.Errorf("users %d, unchecked %d, server checked %v; want 4, 4, false", a.Users, a.UsersUnchecked, a.ServerChecked)
	}
	if stalled.logins.Load() == 0 {
		t.Error("the final read never logged in: the test did not stall it where intended")
	}
	// The report says why (it said only "not read", the cause on stderr).
	if !strings.Contains(r.res.StateUnread, "ran out of its budget of 3s") {
		t.Errorf("StateUnread = %q, want the budget named", r.res.StateUnread)
	}
	for _, ex := range a.Examples {
		if ex.Reason == audit.ReasonNotShown {
			t.Errorf("%s of %s blamed on device %s without the server's state", ex.Change.Kind, ex.Change.User, ex.Device)
		}
	}
}

// TestFinalAuditCancelled: cancelling Run's context (a second ^C) during
// the final state read ends the run at once, though its budget is long.
func TestFinalAuditCancelled(t *testing.T) {
	stalled := startStalledIMAP(t)
	truth := stalled.truth()
	e := newEndTestEngine(t, truth, 10*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := runAsync(ctx, e)
	// Wait (bounded) until the final read is stalled on the server.
	deadline := time.Now().Add(hangLimit)
	for stalled.logins.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := e.Status().Phase; p != PhaseAudit {
		t.Fatalf("phase %q when the server stalled, want %q", p, PhaseAudit)
	}
	cancel()
	r := waitRun(t, ch)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", r.err)
	}
	if a := r.res.Audit; a.Users != 4 || a.UsersUnchecked != 4 {
		t.Errorf("users %d, unchecked %d; want 4 and 4", a.Users, a.UsersUnchecked)
	}
	if !strings.HasPrefix(r.res.StateUnread, "the read was aborted") {
		t.Errorf("StateUnread = %q, want the abort said", r.res.StateUnread)
	}
}

// oneUserUnreadable is the embedded server's truth, except for one user
// whose state can never be read.
type oneUserUnreadable struct {
	storeTruth
	user  string
	calls atomic.Int64
}

func (o *oneUserUnreadable) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	if user == o.user {
		o.calls.Add(1)
		return view.Snapshot{}, errors.New("stalled mailbox")
	}
	return o.storeTruth.UserState(ctx, user)
}

// TestFinalAuditOneUserUnreadable: one user's server state can't be read;
// the others are audited normally (lost mail counted, no
// server-unreadable), that user is unchecked.
func TestFinalAuditOneUserUnreadable(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{Duration: 3 * time.Second})
	srv, ep := startEmbedded(t, plan)
	bad := plan.Users[1].Username
	truth := &oneUserUnreadable{storeTruth: storeTruth{srv}, user: bad}
	settle := 2 * time.Second
	e, err := New(Options{Plan: plan, Endpoints: ep, Truth: truth, Settle: &settle})
	if err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, runAsync(context.Background(), e))
	if r.err == nil || !strings.Contains(r.err.Error(), "stalled mailbox") {
		t.Errorf("err = %v, want the unread user's error", r.err)
	}
	if !strings.Contains(r.res.StateUnread, "stalled mailbox") {
		t.Errorf("StateUnread = %q, want the unread user's error", r.res.StateUnread)
	}
	a := r.res.Audit
	if a.UsersUnchecked != 1 || !a.ServerChecked || a.Lost != 0 {
		t.Errorf("unchecked %d, server checked %v, lost %d; want 1, true, 0", a.UsersUnchecked, a.ServerChecked, a.Lost)
	}
	if n := truth.calls.Load(); n != serverstate.Attempts {
		t.Errorf("the unreadable user was tried %d times, want %d", n, serverstate.Attempts)
	}
	for _, ex := range a.Examples {
		if ex.Reason == audit.ReasonServerUnreadable && ex.Change.User != bad {
			t.Errorf("%s of %s (state read) classified %s", ex.Change.Kind, ex.Change.User, ex.Reason)
		}
		if ex.Change.User == bad && ex.Reason == audit.ReasonNotShown {
			t.Errorf("%s of %s (state unread) blamed on device %s", ex.Change.Kind, bad, ex.Device)
		}
	}
}

// TestFinalAuditOneUserRefusedOverIMAP is TestFinalAuditOneUserUnreadable
// on a real server read over IMAP: the auditor's login of one user is
// refused (a wrong password), the others are read and audited normally.
func TestFinalAuditOneUserRefusedOverIMAP(t *testing.T) {
	plan := mustPlan(t, busyScenario, scenarios.PlanOptions{Duration: 3 * time.Second})
	_, ep := startEmbedded(t, plan)
	bad := plan.Users[2].Username
	passwords := map[string]string{}
	for _, u := range plan.Users {
		passwords[u.Username] = u.Password
	}
	truth := &serverstate.IMAPReader{Endpoint: ep.IMAP, Password: func(u string) string {
		if u == bad {
			return "wrong"
		}
		return passwords[u]
	}}
	settle := 2 * time.Second
	e, err := New(Options{Plan: plan, Endpoints: ep, Truth: truth, Settle: &settle})
	if err != nil {
		t.Fatal(err)
	}
	r := waitRun(t, runAsync(context.Background(), e))
	if r.err == nil || !strings.Contains(r.err.Error(), bad) {
		t.Errorf("err = %v, want the refused user named", r.err)
	}
	a := r.res.Audit
	if a.Users != 4 || a.UsersUnchecked != 1 || !a.ServerChecked || a.Lost != 0 {
		t.Errorf("users %d, unchecked %d, server checked %v, lost %d; want 4, 1, true, 0", a.Users, a.UsersUnchecked, a.ServerChecked, a.Lost)
	}
	for _, ex := range a.Examples {
		if ex.Reason == audit.ReasonServerUnreadable && ex.Change.User != bad {
			t.Errorf("%s of %s (state read) classified %s", ex.Change.Kind, ex.Change.User, ex.Reason)
		}
	}
}

// settleScenario has fast devices (a full sync every 1.5 s wall at most)
// and, in the slow variant, a phone that syncs every 30 s wall.
const settleScenario = `
version: 1
name: settle
seed: 3
duration: 3s
time_scale: 120
settle: {max: %s, until: synced}
audit: 200ms
users: {count: 4, username: "user{n}", password: pass}
groups:
  - {name: g, share: 100%%, devices: [pc-imap, %s], behavior: b}
behaviors:
  b:
    inbound: {interval: 1m}
    on_new_mail: {read: 50%%, flag: 30%%}
    action_delay: 30s
devices:
  pc-imap: {kind: pc, protocol: imap, idle: true, status_interval: 1m}
  fast-phone: {kind: phone, protocol: imap, poll_interval: 1m}
  slow-phone: {kind: phone, protocol: imap, poll_interval: 1h}
`

// TestSettleUntilSynced: settle until synced ends once no change waits for
// a device, and at its maximum when a device is too slow.
func TestSettleUntilSynced(t *testing.T) {
	for _, tt := range []struct {
		name, max, phone string
		want             SettleEnd
	}{
		{"devices sync", "60s", "fast-phone", SettleEndSynced},
		{"a phone too slow", "1s", "slow-phone", SettleEndMax},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlan(t, fmt.Sprintf(settleScenario, tt.max, tt.phone), scenarios.PlanOptions{})
			srv, ep := startEmbedded(t, plan)
			e, err := New(Options{Plan: plan, Endpoints: ep, Truth: storeTruth{srv}})
			if err != nil {
				t.Fatal(err)
			}
			r := waitRun(t, runAsync(context.Background(), e))
			if r.err != nil {
				t.Fatalf("run: %v", r.err)
			}
			st := r.res.Settle
			if st.Until != scenarios.SettleSynced || st.Ended != tt.want {
				t.Errorf("settle until %q ended %q, want until synced ended %q (%+v)", st.Until, st.Ended, tt.want, st)
			}
			switch tt.want {
			case SettleEndSynced:
				if st.Waiting != 0 {
					t.Errorf("ended synced with %d changes waiting", st.Waiting)
				}
				if n := r.res.Audit.Convergence[audit.Deliver].Unconverged[audit.ReasonNotSyncedYet]; n != 0 {
					t.Errorf("%d deliveries not synced yet after a settle that ended synced", n)
				}
			case SettleEndMax:
				if st.Waiting == 0 {
					t.Error("ended at its maximum with no change waiting")
				}
			}
			if st.Wall <= 0 || st.Wall > hangLimit {
				t.Errorf("settle wall %s not reported", st.Wall)
			}
		})
	}
}
