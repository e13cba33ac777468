package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// imapRecorder keeps the IMAP commands and logins a device reports.
type imapRecorder struct {
	mu     sync.Mutex
	cmds   []CommandEvent
	logins []transport.Outcome
	conns  int
	// closedIdle counts the idle connections the server closed
	// (ClosedIdleRecorder).
	closedIdle int
}

func (r *imapRecorder) ClosedIdle(string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closedIdle++
}

func (r *imapRecorder) Command(ev CommandEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, ev)
}
func (r *imapRecorder) Bytes(string, int64, int64) {}
func (r *imapRecorder) Connection(_ string, delta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns += delta
}
func (r *imapRecorder) Login(_ string, o transport.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logins = append(r.logins, o)
}

// names returns "COMMAND" for each ok command, "COMMAND:outcome" otherwise.
func (r *imapRecorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.cmds {
		s := ev.Command
		if ev.Outcome != transport.OutcomeOK {
			s += ":" + string(ev.Outcome)
		}
		out = append(out, s)
	}
	return out
}

// imapEnv is an embedded server with one user on loopback.
type imapEnv struct {
	srv   *mailserver.Server
	addrs mailserver.Addrs
	gen   mailgen.Generator
	rng   *rand.Rand
	// client is the devices' Profile.IMAPClient ("": the default).
	client string
}

// forEachIMAPClient runs test once per IMAP client the devices can speak
// through (Profile.IMAPClient), each on a server of its own.
func forEachIMAPClient(t *testing.T, test func(t *testing.T, env *imapEnv)) {
	for _, c := range IMAPClients {
		t.Run(c, func(t *testing.T) {
			env := newIMAPEnv(t)
			env.client = c
			test(t, env)
		})
	}
}

func newIMAPEnv(t testing.TB) *imapEnv {
	t.Helper()
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	for _, u := range []string{"alice", "bob"} {
		if err := srv.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := newIMAPEnvNoServer()
	e.srv, e.addrs = srv, addrs
	return e
}

// newIMAPEnvNoServer returns an environment whose server the caller runs
// (addrs to fill in; truth needs srv).
func newIMAPEnvNoServer() *imapEnv {
	return &imapEnv{gen: mailgen.Generator{Domain: "example.net"}, rng: rand.New(rand.NewPCG(1, 2))}
}

// deliver puts a new message into alice's INBOX over LMTP and returns its
// Message-ID.
func (e *imapEnv) deliverB(t testing.TB, size int64) string { return e.deliver(t, size) }

func (e *imapEnv) deliver(t testing.TB, size int64) string {
	t.Helper()
	m := e.gen.New(e.rng, "carol@example.net", []string{"alice@example.com"}, size, false, time.Now())
	lmtpDeliver(t, e.addrs.LMTP, "alice@example.com", m.Raw)
	return m.ID
}

// lmtpDeliver delivers raw from carol@example.net to rcpt over LMTP.
func lmtpDeliver(t testing.TB, addr, rcpt string, raw []byte) {
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
	if err := c.SendMail("carol@example.net", []string{rcpt}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
}

// truth is the server's state of alice's mailbox.
func (e *imapEnv) truth(t *testing.T) view.Snapshot {
	t.Helper()
	s, err := e.srv.UserState("alice")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lmtpSubmitter plays the MTA: it delivers submitted mail over LMTP to the
// local users among the recipients and keeps what it was given.
type lmtpSubmitter struct {
	addr string
	mu   sync.Mutex
	sent [][]byte
}

func (s *lmtpSubmitter) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	s.mu.Lock()
	s.sent = append(s.sent, raw)
	s.mu.Unlock()
	return nil
}

func (e *imapEnv) options(kind Kind, rec Recorder, mod func(p *Profile)) Options {
	p := &Profile{Name: string(kind) + "-imap", Kind: kind, Protocol: IMAP, IMAPClient: e.client}
	switch kind {
	case KindPC:
		p.Connections, p.Idle, p.FetchImmediate = 2, true, true
	case KindPhone:
		p.Connections, p.Window = 1, 100
	}
	if mod != nil {
		mod(p)
	}
	return Options{
		ID: "alice/" + p.Name, Profile: p,
		Username: "alice", Password: "secret", Address: "alice@example.com",
		IMAP:      transport.Endpoint{Addr: e.addrs.IMAP, TLS: transport.TLSNone},
		Clock:     simclock.New(600, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)),
		Recorder:  rec,
		Submitter: &lmtpSubmitter{addr: e.addrs.LMTP},
		Seed:      7,
		Timeout:   5 * time.Second,
	}
}

// pcSession returns a logged-in session of a PC device of env recording
// on rec (nil: nowhere), closed when tb ends.
func pcSession(tb testing.TB, env *imapEnv, rec Recorder) *imapSession {
	tb.Helper()
	d, err := newIMAPDevice(env.options(KindPC, rec, nil), KindPC)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := d.dialIMAP(context.Background(), true)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.close)
	return s
}

// startDevice runs a device until the test ends and checks that Run
// returns nil once its context is cancelled.
func startDevice(t *testing.T, o Options) Device {
	t.Helper()
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runUntilStop(t, d))
	return d
}

// waitView polls the device's view until ok holds (or fails the test after
// a generous bound; this is a liveness bound, not a timing assertion).
func waitView(t *testing.T, d Device, what string, ok func(view.Snapshot) bool) view.Snapshot {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v := d.View()
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("view never showed %s; last view: %+v", what, v)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hasAll(ids ...string) func(view.Snapshot) bool {
	return func(v view.Snapshot) bool {
		for _, id := range ids {
			if _, ok := v.Messages[id]; !ok {
				return false
			}
		}
		return true
	}
}

func msgIs(id, folder string, f view.Flags) func(view.Snapshot) bool {
	return func(v view.Snapshot) bool {
		m, ok := v.Messages[id]
		return ok && m.Folder == folder && m.Flags == f
	}
}

func contains(names []string, want ...string) error {
	for _, w := range want {
		if !slices.Contains(names, w) {
			return fmt.Errorf("no %s in %v", w, names)
		}
	}
	return nil
}

// waitCommands waits until the recorded commands contain want in order.
func waitCommands(t *testing.T, rec *imapRecorder, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := inOrder(rec.names(), want...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Error(err)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inOrder checks that want appears as a subsequence of names.
func inOrder(names []string, want ...string) error {
	i := 0
	for _, n := range names {
		if i < len(want) && n == want[i] {
			i++
		}
	}
	if i < len(want) {
		return fmt.Errorf("want %v in this order, missing %s in %v", want, want[i], names)
	}
	return nil
}

func TestIMAPPC(t *testing.T) { forEachIMAPClient(t, testIMAPPC) }

func testIMAPPC(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	o := env.options(KindPC, rec, nil)
	sub := o.Submitter.(*lmtpSubmitter)
	changes := make(chan struct{}, 1000)
	o.OnChange = func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	}
	old := env.deliver(t, 3000)
	d := startDevice(t, o)
	waitView(t, d, "first message", hasAll(old))
	// New mail arrives while the PC IDLEs on INBOX.
	a, b := env.deliver(t, 5000), env.deliver(t, 90000)
	v := waitView(t, d, "new mail", hasAll(a, b))
	if m := v.Messages[a]; m.Folder != "INBOX" || m.Flags != 0 {
		t.Errorf("new message %+v, want INBOX unflagged", m)
	}
	if v.Synced.IsZero() || v.Window != 0 {
		t.Errorf("Synced %v Window %d, want a sync time and no window", v.Synced, v.Window)
	}
	if len(changes) == 0 {
		t.Error("OnChange never called")
	}
	waitCommands(t, rec, "CAPABILITY", "AUTHENTICATE", "LIST", "SELECT", "UID FETCH", "IDLE", "NOOP", "UID FETCH", "IDLE")
	if err := contains(rec.names(), "STATUS", "ENABLE"); err != nil {
		t.Error(err)
	}

	ctx := context.Background()
	steps := []struct {
		act    Action
		folder string
		flags  view.Flags
	}{
		{Action{Kind: ActRead, MessageID: a}, "INBOX", view.Seen},
		{Action{Kind: ActFlag, MessageID: a}, "INBOX", view.Seen | view.Flagged},
		{Action{Kind: ActReply, MessageID: a}, "INBOX", view.Seen | view.Flagged | view.Answered},
		{Action{Kind: ActForward, MessageID: a, To: []string{"dave@example.org"}}, "INBOX", view.Seen | view.Flagged | view.Answered | view.Forwarded},
		{Action{Kind: ActMove, MessageID: a, Folder: "Projects"}, "Projects", view.Seen | view.Flagged | view.Answered | view.Forwarded},
		{Action{Kind: ActDelete, MessageID: b}, "Trash", 0},
	}
	for _, st := range steps {
		res, err := d.Do(ctx, st.act)
		if err != nil {
			t.Fatalf("%s: %v", st.act.Kind, err)
		}
		if !res.Published || res.Folder != st.folder || res.Flags != st.flags {
			t.Errorf("%s: result %+v, want published in %s with %v", st.act.Kind, res, st.folder, st.flags)
		}
		id := st.act.MessageID
		if got := d.View().Messages[id]; got.Folder != st.folder || got.Flags != st.flags {
			t.Errorf("%s: view shows %+v", st.act.Kind, got)
		}
		if got := env.truth(t).Messages[id]; got.Folder != st.folder || got.Flags != st.flags {
			t.Errorf("%s: server has %+v", st.act.Kind, got)
		}
		if (st.act.Kind == ActReply || st.act.Kind == ActForward) && res.Sent == "" {
			t.Errorf("%s: no Sent id", st.act.Kind)
		}
	}
	// Delete in Trash expunges.
	if res, err := d.Do(ctx, Action{Kind: ActDelete, MessageID: b}); err != nil || res.Folder != "" {
		t.Fatalf("delete in Trash: %+v %v", res, err)
	}
	if _, ok := env.truth(t).Messages[b]; ok {
		t.Error("server still has the message deleted from Trash")
	}
	// Send: Drafts, then submitted, then Sent.
	res, err := d.Do(ctx, Action{Kind: ActSend, To: []string{"bob@example.com"}, Size: 2000, WriteTime: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if got := env.truth(t).Messages[res.Sent]; got.Folder != "Sent" || got.Flags != view.Seen {
		t.Errorf("sent message on server: %+v", got)
	}
	if len(sub.sent) != 3 {
		t.Errorf("submitted %d messages, want 3 (reply, forward, send)", len(sub.sent))
	}
	if _, err := d.Do(ctx, Action{Kind: ActRead, MessageID: "<nope@x>"}); !errors.Is(err, ErrNoMessage) {
		t.Errorf("read of unknown message: %v, want ErrNoMessage", err)
	}
	if err := contains(rec.names(), "UID STORE", "APPEND", "UID MOVE", "UID EXPUNGE"); err != nil {
		t.Error(err)
	}
	// The IDLE connection sees what the other connection did.
	want := env.truth(t)
	waitView(t, d, "the server's state", func(v view.Snapshot) bool {
		if len(v.Messages) != len(want.Messages) {
			return false
		}
		for id, m := range want.Messages {
			if got := v.Messages[id]; got.ID != m.ID || got.Folder != m.Folder || got.Flags != m.Flags {
				return false
			}
		}
		return true
	})
}

// failingSubmitter refuses every message, as a submission server that
// answers 5xx.
type failingSubmitter struct{}

func (failingSubmitter) Submit(context.Context, string, []string, []byte) error {
	return errors.New("554 refused")
}

// TestIMAPSendLeavesDraft: a send whose submission fails leaves its draft
// in Drafts on the server, as a real client does, and says so
// (Result.Draft, DraftSaved), so that the audit knows the message a
// device that has not synced Drafts since does not show
// (audit.Change.Draft; before, nothing said so and the audit counted it
// unexplained).
func TestIMAPSendLeavesDraft(t *testing.T) { forEachIMAPClient(t, testIMAPSendLeavesDraft) }

func testIMAPSendLeavesDraft(t *testing.T, env *imapEnv) {
	o := env.options(KindPC, &imapRecorder{}, nil)
	o.Submitter = failingSubmitter{}
	d := startDevice(t, o)
	res, err := d.Do(context.Background(), Action{Kind: ActSend, To: []string{"bob@example.com"}, Size: 2000})
	if err == nil {
		t.Fatal("send with a refused submission succeeded")
	}
	if res.Draft == "" || res.DraftSaved.IsZero() || res.Folder != "Drafts" {
		t.Fatalf("result %+v, want the draft left in Drafts and when it was saved", res)
	}
	if got, ok := env.truth(t).Messages[res.Draft]; !ok || got.Folder != "Drafts" {
		t.Errorf("the server has the draft %s as %+v (%v), want in Drafts", res.Draft, got, ok)
	}
}

// TestIMAPPhoneWindowHidden: a phone's window takes the newest `window`
// messages of a folder but leaves out those flagged \Deleted (K-9's UID
// SEARCH … NOT DELETED), so it shows fewer than its window while older
// messages are outside it; its view says how many it left out within a
// full window (view.Snapshot.Hidden), which the auditor counts with the
// messages shown, so an older message is outside the window, not
// unexplained. A folder that fits has none hidden.
func TestIMAPPhoneWindowHidden(t *testing.T) {
	forEachIMAPClient(t, testIMAPPhoneWindowHidden)
}

func testIMAPPhoneWindowHidden(t *testing.T, env *imapEnv) {
	ids := []string{env.deliver(t, 1000), env.deliver(t, 1000), env.deliver(t, 1000)}
	o := env.options(KindPhone, &imapRecorder{}, func(p *Profile) {
		p.Window = 3
		p.PollInterval = time.Minute // 100 ms wall at scale 600
	})
	d := startDevice(t, o)
	if v := waitView(t, d, "the folder", hasAll(ids...)); v.Hidden != nil {
		t.Errorf("messages hidden with 3 messages in a window of 3: %v", v.Hidden)
	}
	// A fourth message, and the newest flagged \Deleted by another
	// session: the window (messages 2–4) shows 2 and 3, and 1 is outside.
	newest := env.deliver(t, 1000)
	c := env.inbox(t)
	if err := c.Store(imap.SeqSet{{Start: 4, Stop: 4}}, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	v := waitView(t, d, "the window without its \\Deleted message", func(v view.Snapshot) bool {
		_, old := v.Messages[ids[0]]
		return !old && v.Hidden["INBOX"] == 1
	})
	if _, ok := v.Messages[newest]; ok {
		t.Errorf("the \\Deleted message is in the view")
	}
	if n := len(v.Messages); n != 2 {
		t.Errorf("the view shows %d messages, want 2 (a window of 3 less the \\Deleted one)", n)
	}
}

func TestIMAPPhoneWindow(t *testing.T) { forEachIMAPClient(t, testIMAPPhoneWindow) }

func testIMAPPhoneWindow(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	o := env.options(KindPhone, rec, func(p *Profile) {
		p.Window = 2
		p.PollInterval = time.Minute // 100 ms wall at scale 600
		p.FetchImmediate = true
	})
	ids := []string{env.deliver(t, 2000), env.deliver(t, 200000), env.deliver(t, 3000)}
	d := startDevice(t, o)
	v := waitView(t, d, "the window", hasAll(ids[1], ids[2]))
	if _, ok := v.Messages[ids[0]]; ok {
		t.Error("message outside the window is in the view")
	}
	if v.Window != 2 {
		t.Errorf("Window %d, want 2", v.Window)
	}
	waitCommands(t, rec, "CAPABILITY", "AUTHENTICATE", "LIST", "EXAMINE", "UID SEARCH", "UID FETCH")
	// A change made elsewhere shows at the next poll.
	newer := env.deliver(t, 1000)
	waitView(t, d, "the next poll", func(v view.Snapshot) bool {
		_, old := v.Messages[ids[1]]
		_, n := v.Messages[newer]
		return n && !old
	})
	waitCommands(t, rec, "EXAMINE", "UID SEARCH", "UID FETCH", "LOGOUT", "CAPABILITY", "AUTHENTICATE")
	res, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: newer})
	if err != nil || res.Flags != view.Seen {
		t.Fatalf("read: %+v %v", res, err)
	}
	if got := env.truth(t).Messages[newer]; got.Flags != view.Seen {
		t.Errorf("server flags %v after read", got.Flags)
	}
}

func TestWebmail(t *testing.T) { forEachIMAPClient(t, testWebmail) }

func testWebmail(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	o := env.options(KindWebmail, rec, func(p *Profile) {
		p.PageSize = 2
		p.Refresh = 30 * time.Second
	})
	ids := []string{env.deliver(t, 2000), env.deliver(t, 2000), env.deliver(t, 2000)}
	d := startDevice(t, o)
	v := waitView(t, d, "the page", hasAll(ids[1], ids[2]))
	if _, ok := v.Messages[ids[0]]; ok || v.Window != 2 {
		t.Errorf("view %+v, want the newest 2 with Window 2", v)
	}
	waitCommands(t, rec, "CAPABILITY", "LOGIN", "LIST", "STATUS", "SELECT", "UID SEARCH", "UID FETCH", "LOGOUT")
	if slices.Contains(rec.names(), "IDLE") {
		t.Error("webmail IDLEd")
	}
	res, err := d.Do(context.Background(), Action{Kind: ActDelete, MessageID: ids[2]})
	if err != nil || res.Folder != "Trash" {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if got := env.truth(t).Messages[ids[2]]; got.Folder != "Trash" || got.Flags != view.Seen {
		t.Errorf("server has %+v, want in Trash and seen", got)
	}
}

func TestIMAPLoginRefused(t *testing.T) { forEachIMAPClient(t, testIMAPLoginRefused) }

func testIMAPLoginRefused(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	o := env.options(KindPC, rec, nil)
	o.Password = "wrong"
	d := startDevice(t, o)
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec.mu.Lock()
		n := len(rec.logins)
		rec.mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("device did not retry the login")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, o := range rec.logins {
		if o != transport.OutcomeAuth {
			t.Errorf("login outcome %s, want auth", o)
		}
	}
	if v := d.View(); len(v.Messages) != 0 || !v.Synced.IsZero() {
		t.Errorf("view %+v after refused logins", v)
	}
}

func TestIMAPPhoneReconnectsAfterDrops(t *testing.T) {
	forEachIMAPClient(t, testIMAPPhoneReconnectsAfterDrops)
}

func testIMAPPhoneReconnectsAfterDrops(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	opened := 0
	o := env.options(KindPhone, &connCounter{imapRecorder: rec, opened: &opened}, func(p *Profile) {
		p.Idle = true
		p.PollInterval = 10 * time.Minute
		// 200 ms of wall time at scale 600: the network drops the
		// connection under the IDLE again and again.
		p.Network.DisconnectEvery = 2 * time.Minute
	})
	d := startDevice(t, o)
	first := env.deliver(t, 1000)
	waitView(t, d, "first message", hasAll(first))
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec.mu.Lock()
		n := opened
		rec.mu.Unlock()
		if n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d connections opened; the drops were not retried", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	later := env.deliver(t, 1000)
	waitView(t, d, "mail after the drops", hasAll(first, later))
	// The commands the drops cut are the simulated network's, not the
	// server's failures: dropped, none an error.
	checkDropped(t, rec.names())
}

// checkDropped checks that the failed commands of names ("COMMAND" or
// "COMMAND:outcome": imapRecorder.names, c2Recorder.take) include one the network dropped and that every failure is "dropped":
// the server of these tests never fails a command.
func checkDropped(t *testing.T, names []string) {
	t.Helper()
	dropped := 0
	var other []string
	for _, n := range names {
		_, outcome, _ := strings.Cut(n, ":")
		switch outcome {
		case "", string(transport.OutcomeOK):
		case string(transport.OutcomeDropped):
			dropped++
		default:
			other = append(other, n)
		}
	}
	if len(other) > 0 {
		t.Errorf("failed %v: only the network's drops should fail a command (commands %v)", other, names)
	}
	if dropped == 0 {
		t.Errorf("no command dropped: %v", names)
	}
}

// connCounter counts opened connections on top of imapRecorder.
type connCounter struct {
	*imapRecorder
	opened *int
}

func (c *connCounter) Connection(p string, delta int) {
	c.mu.Lock()
	if delta > 0 {
		*c.opened++
	}
	c.mu.Unlock()
	c.imapRecorder.Connection(p, delta)
}

func TestIMAPPCPolling(t *testing.T) { forEachIMAPClient(t, testIMAPPCPolling) }

func testIMAPPCPolling(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	o := env.options(KindPC, rec, func(p *Profile) {
		p.Idle, p.Connections, p.FetchImmediate = false, 1, false
		p.PollInterval = time.Minute // 100 ms wall at scale 600
		p.FetchNew = "UID FLAGS ENVELOPE"
	})
	d := startDevice(t, o)
	first := env.deliver(t, 1000)
	waitView(t, d, "mail at a poll", hasAll(first))
	// Another device reads it: the next poll's flag resync shows it.
	if _, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: first}); err != nil {
		t.Fatal(err)
	}
	waitView(t, d, "the read flag", msgIs(first, "INBOX", view.Seen))
	waitCommands(t, rec, "SELECT", "UID FETCH", "UID STORE", "SELECT", "UID FETCH")
	if slices.Contains(rec.names(), "IDLE") {
		t.Error("a polling PC sent IDLE")
	}
}

// byteRecorder is an imapRecorder that also counts the bytes read.
type byteRecorder struct {
	imapRecorder
	in atomic.Int64
}

func (r *byteRecorder) Bytes(_ string, in, _ int64) { r.in.Add(in) }

// TestPhoneFetchesLargeMessagesPartially: a phone that downloads new mail
// at once (fetch_immediate) downloads the whole body
// of a message up to phoneBodyLimit and only the first phoneBodyLimit
// bytes of a larger one, when it syncs and when the person opens it; a
// moved message keeps what it was. The device keeps of a message's size
// only whether it is larger (imapMsg.large), so this pins that the bit
// says what the size did.
func TestPhoneFetchesLargeMessagesPartially(t *testing.T) {
	forEachIMAPClient(t, func(t *testing.T, env *imapEnv) {
		const big = 3 * phoneBodyLimit
		large, small := env.deliver(t, big), env.deliver(t, 4000)
		rec := &byteRecorder{}
		d := startDevice(t, env.options(KindPhone, rec, func(p *Profile) { p.FetchImmediate = true }))
		waitView(t, d, "both messages", hasAll(large, small))
		if got := rec.in.Load(); got >= big || got < phoneBodyLimit {
			t.Errorf("the sync read %d bytes; want the first %d of the large message and the small one whole, under %d", got, phoneBodyLimit, big)
		}
		ctx := context.Background()
		for _, act := range []Action{
			{Kind: ActRead, MessageID: large},
			{Kind: ActMove, MessageID: large, Folder: "Archive"},
			{Kind: ActFlag, MessageID: large}, // in Archive now
		} {
			before := rec.in.Load()
			if _, err := d.Do(ctx, act); err != nil {
				t.Fatalf("%s: %v", act.Kind, err)
			}
			if act.Kind == ActRead {
				if got := rec.in.Load() - before; got >= big || got < phoneBodyLimit {
					t.Errorf("opening the large message read %d bytes, want its first %d (under %d)", got, phoneBodyLimit, big)
				}
			}
		}
		d.(*imapDevice).mu.Lock()
		defer d.(*imapDevice).mu.Unlock()
		movedLarge := false
		for name, f := range d.(*imapDevice).folders {
			for _, m := range f.msgs {
				id := d.(*imapDevice).o.IDs.Value(m.id)
				if id == large && !m.large || id == small && m.large {
					t.Errorf("%s in %s: large %v", id, name, m.large)
				}
				movedLarge = movedLarge || id == large && name == "Archive"
			}
		}
		if !movedLarge {
			t.Error("the large message is not in Archive after its move: its bit was not checked there")
		}
	})
}
