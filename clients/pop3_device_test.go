package clients

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// submitted is a Submitter that keeps what it was given.
type c2Submitter struct {
	mu   sync.Mutex
	msgs []c2Submission
	err  error
}

type c2Submission struct {
	from string
	to   []string
	raw  []byte
}

func (s *c2Submitter) Submit(_ context.Context, from string, to []string, raw []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, c2Submission{from, append([]string(nil), to...), append([]byte(nil), raw...)})
	return nil
}

type pop3Fixture struct {
	srv *testPOP3
	rec *c2Recorder
	sub *c2Submitter
	dev *pop3Device
	gen mailgen.Generator
	rng *rand.Rand
}

func newPOP3Fixture(t *testing.T, kind Kind, mod func(*Profile)) *pop3Fixture {
	t.Helper()
	f := &pop3Fixture{
		srv: newTestPOP3(t, "alice", "secret"),
		rec: &c2Recorder{},
		sub: &c2Submitter{},
		gen: mailgen.Generator{Domain: "example.com"},
		rng: rand.New(rand.NewPCG(1, 2)),
	}
	prof := &Profile{
		Name: string(kind) + "-pop3", Kind: kind, Protocol: POP3,
		LeaveOnServer: true, DeleteAfter: 14 * 24 * time.Hour, DeleteWhenDeletedLocally: true,
	}
	if mod != nil {
		mod(prof)
	}
	d, err := New(Options{
		ID: "alice/" + prof.Name, Profile: prof,
		Username: "alice", Password: "secret", Address: "alice@example.com",
		POP3:      transport.Endpoint{Addr: f.srv.addr(), TLS: transport.TLSNone},
		Submitter: f.sub, Clock: c2Clock(), Recorder: f.rec, Seed: 7,
		Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.dev = d.(*pop3Device)
	return f
}

// deliver puts a generated message on the server and returns its Message-ID.
func (f *pop3Fixture) deliver(size int64) string {
	m := f.gen.New(f.rng, "bob@example.org", []string{"alice@example.com"}, size, false, time.Now())
	f.srv.deliver(m.Raw)
	return m.ID
}

func (f *pop3Fixture) poll(t *testing.T) {
	t.Helper()
	if err := f.dev.Poll(context.Background()); err != nil {
		t.Fatalf("poll: %v", err)
	}
}

func folders(s view.Snapshot) map[string]string {
	out := map[string]string{}
	for id, m := range s.Messages {
		out[id] = m.Folder + m.Flags.String()
	}
	return out
}

func TestPOP3PollSequenceAndView(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone} {
		t.Run(string(kind), func(t *testing.T) {
			f := newPOP3Fixture(t, kind, nil)
			a, b := f.deliver(2000), f.deliver(30000)
			f.poll(t)
			want := c2Seq("CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok RETR:ok QUIT:ok")
			if got := f.rec.take("pop3"); !reflect.DeepEqual(got, want) {
				t.Errorf("commands\n got %v\nwant %v", got, want)
			}
			v := f.dev.View()
			if got, want := folders(v), map[string]string{a: "INBOX()", b: "INBOX()"}; !reflect.DeepEqual(got, want) {
				t.Errorf("view %v, want %v", got, want)
			}
			if v.Synced.IsZero() || v.Window != 0 {
				t.Errorf("Synced %v Window %d", v.Synced, v.Window)
			}
			// Nothing new: no RETR; a new message: one RETR.
			f.poll(t)
			if got, want := f.rec.take("pop3"), c2Seq("CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok QUIT:ok"); !reflect.DeepEqual(got, want) {
				t.Errorf("second poll %v, want %v", got, want)
			}
			c := f.deliver(1000)
			f.poll(t)
			if got, want := f.rec.take("pop3"), c2Seq("CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok QUIT:ok"); !reflect.DeepEqual(got, want) {
				t.Errorf("third poll %v, want %v", got, want)
			}
			if _, ok := f.dev.View().Messages[c]; !ok {
				t.Errorf("new message %s not in view", c)
			}
			if f.srv.count() != 3 {
				t.Errorf("leave_on_server: server has %d messages, want 3", f.srv.count())
			}
			f.rec.mu.Lock()
			defer f.rec.mu.Unlock()
			if f.rec.opened != 3 || f.rec.closed != 3 || f.rec.conns["pop3"] != 0 {
				t.Errorf("connections opened %d closed %d", f.rec.opened, f.rec.closed)
			}
			if f.rec.in < 33000 || f.rec.out == 0 {
				t.Errorf("bytes in %d out %d", f.rec.in, f.rec.out)
			}
			if !reflect.DeepEqual(f.rec.logins, []transport.Outcome{transport.OutcomeOK, transport.OutcomeOK, transport.OutcomeOK}) {
				t.Errorf("logins %v", f.rec.logins)
			}
		})
	}
}

func TestPOP3UserPass(t *testing.T) {
	f := newPOP3Fixture(t, KindPC, nil)
	f.srv.noSASL = true
	f.deliver(1000)
	f.poll(t)
	want := c2Seq("CONNECT:ok CAPA:ok USER:ok PASS:ok STAT:ok LIST:ok UIDL:ok RETR:ok QUIT:ok")
	if got := f.rec.take("pop3"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestPOP3Deletion(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Profile)
		// first and second poll commands, server count after each
		first, second   string
		left1, left2    int
		deleteLocallyAt int // index of message deleted by the person before the second poll, -1 none
	}{
		{
			name:  "not left on server",
			mod:   func(p *Profile) { p.LeaveOnServer = false },
			first: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok DELE:ok RETR:ok DELE:ok QUIT:ok", left1: 0,
			second: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok QUIT:ok", left2: 0, deleteLocallyAt: -1,
		},
		{
			name:  "delete after",
			mod:   func(p *Profile) { p.DeleteAfter = time.Nanosecond },
			first: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok RETR:ok QUIT:ok", left1: 2,
			second: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok DELE:ok DELE:ok QUIT:ok", left2: 0, deleteLocallyAt: -1,
		},
		{
			name:  "deleted locally",
			first: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok RETR:ok QUIT:ok", left1: 2,
			second: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok DELE:ok QUIT:ok", left2: 1, deleteLocallyAt: 1,
		},
		{
			name:  "deleted locally, kept on server",
			mod:   func(p *Profile) { p.DeleteWhenDeletedLocally = false },
			first: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok RETR:ok QUIT:ok", left1: 2,
			second: "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok QUIT:ok", left2: 2, deleteLocallyAt: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newPOP3Fixture(t, KindPC, tc.mod)
			ids := []string{f.deliver(1500), f.deliver(1500)}
			f.poll(t)
			if got := f.rec.take("pop3"); !reflect.DeepEqual(got, c2Seq(tc.first)) {
				t.Errorf("first poll %v, want %v", got, tc.first)
			}
			if n := f.srv.count(); n != tc.left1 {
				t.Errorf("after first poll server has %d, want %d", n, tc.left1)
			}
			if tc.deleteLocallyAt >= 0 {
				res, err := f.dev.Do(context.Background(), Action{Kind: ActDelete, MessageID: ids[tc.deleteLocallyAt]})
				if err != nil || res.Folder != "Trash" || res.Published {
					t.Fatalf("delete = %+v, %v", res, err)
				}
			}
			f.poll(t)
			if got := f.rec.take("pop3"); !reflect.DeepEqual(got, c2Seq(tc.second)) {
				t.Errorf("second poll %v, want %v", got, tc.second)
			}
			if n := f.srv.count(); n != tc.left2 {
				t.Errorf("after second poll server has %d, want %d", n, tc.left2)
			}
			// The device still shows what it downloaded.
			if n := len(f.dev.View().Messages); n != 2 {
				t.Errorf("view has %d messages, want 2", n)
			}
			// Whatever was deleted is never downloaded again.
			f.poll(t)
			for _, c := range f.rec.take("pop3") {
				if strings.HasPrefix(c, "RETR") || strings.HasPrefix(c, "DELE") {
					t.Errorf("third poll did %s", c)
				}
			}
		})
	}
}

func TestPOP3Actions(t *testing.T) {
	f := newPOP3Fixture(t, KindPC, nil)
	ids := []string{f.deliver(1500), f.deliver(1500), f.deliver(1500)}
	f.poll(t)
	f.rec.take("pop3")
	ctx := context.Background()
	steps := []struct {
		a          Action
		wantFolder string
		wantFlags  view.Flags
		sent       bool
	}{
		{Action{Kind: ActRead, MessageID: ids[0]}, "INBOX", view.Seen, false},
		{Action{Kind: ActFlag, MessageID: ids[0]}, "INBOX", view.Seen | view.Flagged, false},
		{Action{Kind: ActReply, MessageID: ids[0]}, "INBOX", view.Seen | view.Flagged | view.Answered, true},
		{Action{Kind: ActForward, MessageID: ids[1], To: []string{"carol@example.net"}}, "INBOX", view.Forwarded, true},
		{Action{Kind: ActMove, MessageID: ids[1], Folder: "Archive"}, "Archive", view.Forwarded, false},
		{Action{Kind: ActDelete, MessageID: ids[2]}, "Trash", 0, false},
		{Action{Kind: ActDelete, MessageID: ids[2]}, "", 0, false},
		{Action{Kind: ActSend, To: []string{"dave@example.com"}, Size: 4000}, "Sent", view.Seen, true},
	}
	var sent []string
	for i, st := range steps {
		res, err := f.dev.Do(ctx, st.a)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, st.a.Kind, err)
		}
		if res.Published {
			t.Errorf("step %d %s: Published over POP3", i, st.a.Kind)
		}
		if res.Folder != st.wantFolder || res.Flags != st.wantFlags {
			t.Errorf("step %d %s: folder %q flags %v, want %q %v", i, st.a.Kind, res.Folder, res.Flags, st.wantFolder, st.wantFlags)
		}
		if (res.Sent != "") != st.sent {
			t.Errorf("step %d %s: Sent %q", i, st.a.Kind, res.Sent)
		}
		if res.Sent != "" {
			sent = append(sent, res.Sent)
		}
	}
	if got := f.rec.take("pop3"); len(got) != 0 {
		t.Errorf("local actions used the wire: %v", got)
	}
	v := f.dev.View()
	want := map[string]string{
		ids[0]: `INBOX(\Seen \Answered \Flagged)`, ids[1]: "Archive($Forwarded)",
		sent[0]: `Sent(\Seen)`, sent[1]: `Sent(\Seen)`, sent[2]: `Sent(\Seen)`,
	}
	if got := folders(v); !reflect.DeepEqual(got, want) {
		t.Errorf("view\n got %v\nwant %v", got, want)
	}
	// What was submitted: a reply to bob, a forward to carol, a new message.
	if len(f.sub.msgs) != 3 {
		t.Fatalf("%d submissions, want 3", len(f.sub.msgs))
	}
	checks := []struct {
		to, subjPrefix, irt string
	}{{"bob@example.org", "Re: ", ids[0]}, {"carol@example.net", "Fwd: ", ""}, {"dave@example.com", "", ""}}
	for i, c := range checks {
		m := f.sub.msgs[i]
		h, err := mailgen.ParseHeader(m.raw)
		if err != nil {
			t.Fatal(err)
		}
		if m.from != "alice@example.com" || len(m.to) != 1 || m.to[0] != c.to || h.ID != sent[i] ||
			!strings.HasPrefix(h.Subject, c.subjPrefix) || h.InReplyTo != c.irt {
			t.Errorf("submission %d: from %s to %v header %+v", i, m.from, m.to, h)
		}
	}
	// Acting on a message the device does not show.
	for _, k := range []ActionKind{ActRead, ActFlag, ActMove, ActDelete, ActReply} {
		_, err := f.dev.Do(ctx, Action{Kind: k, MessageID: "<nope@x>", Folder: "X"})
		if !errors.Is(err, ErrNoMessage) {
			t.Errorf("%s on unknown message: %v, want ErrNoMessage", k, err)
		}
	}
	// The next poll DELEs the message the person deleted for good.
	f.poll(t)
	if got, want := f.rec.take("pop3"), c2Seq("CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok DELE:ok QUIT:ok"); !reflect.DeepEqual(got, want) {
		t.Errorf("poll after actions %v, want %v", got, want)
	}
}

func TestPOP3SendFailureKeepsDraft(t *testing.T) {
	f := newPOP3Fixture(t, KindPhone, nil)
	f.sub.err = errors.New("submission refused")
	res, err := f.dev.Do(context.Background(), Action{Kind: ActSend, To: []string{"x@example.com"}})
	if err == nil || res.Folder != "Drafts" {
		t.Fatalf("send = %+v, %v; want error and the draft kept", res, err)
	}
	v := f.dev.View()
	if len(v.Messages) != 1 {
		t.Fatalf("view %v", v.Messages)
	}
	for _, m := range v.Messages {
		if m.Folder != "Drafts" {
			t.Errorf("draft in %s", m.Folder)
		}
	}
	f.dev.o.Submitter = nil
	if _, err := f.dev.Do(context.Background(), Action{Kind: ActSend, To: []string{"x@example.com"}}); !errors.Is(err, ErrNoSubmitter) {
		t.Errorf("send without submitter: %v", err)
	}
}

// TestPOP3DotStuffingAndLongLines checks that what RETR returns is the
// message byte for byte, whatever its lines look like.
func TestPOP3DotStuffingAndLongLines(t *testing.T) {
	long := strings.Repeat("x", 5000)
	longDot := "." + strings.Repeat("y", 9000)
	bodies := []string{
		"Message-ID: <dots@x>\r\nSubject: dots\r\n\r\n.\r\n..\r\n...and then\r\n. \r\nend\r\n",
		"Message-ID: <long@x>\r\nSubject: long\r\n\r\n" + long + "\r\n" + longDot + "\r\n.\r\n" + strings.Repeat("z", 4094) + "\r\n",
		"Message-ID: <exact@x>\r\n\r\n" + strings.Repeat("a", 4096) + "\r\n" + strings.Repeat("b", 4095) + "\r\n" + strings.Repeat("c", 4097) + "\r\n",
	}
	srv := newTestPOP3(t, "alice", "secret")
	for _, b := range bodies {
		srv.deliver([]byte(b))
	}
	rec := &c2Recorder{}
	o := &Options{Recorder: rec, Timeout: 5 * time.Second}
	s := pop3Login(t, o, srv.addr())
	defer s.close()
	for i, want := range bodies {
		got, err := s.retr(i + 1)
		if err != nil {
			t.Fatalf("RETR %d: %v", i+1, err)
		}
		if !bytes.Equal(got, []byte(want)) {
			t.Errorf("RETR %d: got %d bytes, want %d (first difference at %d)", i+1, len(got), len(want), firstDiff(got, []byte(want)))
		}
		// The connection is still in step: a single-line command works.
		if err := s.noop(); err != nil {
			t.Fatalf("NOOP after RETR %d: %v", i+1, err)
		}
	}
	top, err := s.top(1, 0)
	if err != nil || !bytes.HasPrefix(top, []byte("Message-ID: <dots@x>\r\n")) {
		t.Errorf("TOP = %q, %v", top, err)
	}
	// A generated message with dot lines round-trips too.
	g := mailgen.Generator{}
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 30; i++ {
		m := g.New(r, "a@example.com", []string{"b@example.com"}, 6000, i%3 == 0, time.Now())
		srv.deliver(m.Raw)
	}
	if err := s.quit(time.Second); err != nil {
		t.Fatal(err)
	}
	s, err = dialPOP3(context.Background(), o, transport.Endpoint{Addr: srv.addr()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.capabilities(); err != nil {
		t.Fatal(err)
	}
	if err := s.login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	msgs := append([]testPOP3Msg(nil), srv.msgs...)
	srv.mu.Unlock()
	dots := 0
	for i, m := range msgs {
		got, err := s.retr(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, m.raw) {
			t.Errorf("message %d differs at %d", i+1, firstDiff(got, m.raw))
		}
		if bytes.Contains(m.raw, []byte("\r\n.")) {
			dots++
		}
	}
	if dots == 0 {
		t.Error("no generated message had a line starting with '.'")
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestPOP3LoginRefusedRetries(t *testing.T) {
	f := newPOP3Fixture(t, KindPhone, nil)
	f.dev.o.Password = "wrong"
	err := f.dev.Poll(context.Background())
	var pe *transport.POP3Error
	if !errors.As(err, &pe) || pe.Command != "AUTH" {
		t.Fatalf("poll with a wrong password: %v, want a transport.POP3Error for AUTH", err)
	}
	if got, want := f.rec.take("pop3"), c2Seq("CONNECT:ok CAPA:ok AUTH:no"); !reflect.DeepEqual(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	if f.rec.logins[0] != transport.OutcomeAuth {
		t.Errorf("login outcome %v", f.rec.logins)
	}
	// Run keeps retrying (with backoff) until ctx ends, then returns nil
	// with no connection left open.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.dev.Run(ctx) }()
	c2WaitFor(t, "three more login attempts", func() bool { return f.srv.loginCount() >= 4 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if n := f.rec.open("pop3"); n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

func TestPOP3RunStopsAndSyncs(t *testing.T) {
	f := newPOP3Fixture(t, KindPC, func(p *Profile) { p.PollInterval = 6 * time.Second })
	var changes sync.WaitGroup
	changes.Add(1)
	var once sync.Once
	f.dev.o.OnChange = func() { once.Do(changes.Done) }
	id := f.deliver(1200)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.dev.Run(ctx) }()
	changes.Wait()
	c2WaitFor(t, "the message in the view", func() bool { _, ok := f.dev.View().Messages[id]; return ok })
	id2 := f.deliver(1200)
	c2WaitFor(t, "the second message after another poll", func() bool { _, ok := f.dev.View().Messages[id2]; return ok })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := f.rec.open("pop3"); n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

// TestPOP3ConnectionRefused: a poll of a server that refuses the
// connection (faketest.RefusedAddr: a port held by a socket that never
// listens, which no other test's listener can take meanwhile, as one of a
// closed listener could) fails with the refusal itself, naming the server
// (transport.ServerError), and counts its CONNECT and its login attempt
// refused, nothing else, no connection left open. Before 2026-12-05 the
// test closed its fixture's listener and took any error naming the port.
func TestPOP3ConnectionRefused(t *testing.T) {
	f := newPOP3Fixture(t, KindPC, nil)
	addr := faketest.RefusedAddr(t)
	f.dev.o.POP3.Addr = addr
	err := f.dev.Poll(context.Background())
	var se *transport.ServerError
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &se) || se.Addr != addr {
		t.Fatalf("poll of a refusing server: %v, want the refusal (ECONNREFUSED) at %s", err, addr)
	}
	if got, want := f.rec.take("pop3"), c2Seq("CONNECT:refused"); !reflect.DeepEqual(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	if want := []transport.Outcome{transport.OutcomeRefused}; !reflect.DeepEqual(f.rec.logins, want) {
		t.Errorf("logins %v, want %v", f.rec.logins, want)
	}
	if n := f.rec.conns["pop3"]; n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

// TestPOP3ConcurrentDoAndRun acts on the device while it polls (run with
// -race): no data race, no lost state.
func TestPOP3ConcurrentDoAndRun(t *testing.T) {
	f := newPOP3Fixture(t, KindPhone, func(p *Profile) {
		p.PollInterval = time.Second // 60× clock: a poll every ~17 ms
		p.Network = transport.Network{Latency: 100 * time.Microsecond}
	})
	var ids []string
	for range 10 {
		ids = append(ids, f.deliver(1500))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.dev.Run(ctx) }()
	c2WaitFor(t, "the first download", func() bool { return len(f.dev.View().Messages) == 10 })
	for i, id := range ids {
		kinds := []ActionKind{ActRead, ActFlag, ActMove, ActDelete, ActReply}
		k := kinds[i%len(kinds)]
		if _, err := f.dev.Do(ctx, Action{Kind: k, MessageID: id, Folder: "Archive"}); err != nil {
			t.Errorf("%s: %v", k, err)
		}
		_ = f.dev.View()
	}
	if _, err := f.dev.Do(ctx, Action{Kind: ActSend, To: []string{"x@example.com"}, WriteTime: time.Second}); err != nil {
		t.Error(err)
	}
	// The two locally deleted messages vanish from the server at a poll.
	c2WaitFor(t, "the DELEs", func() bool { return f.srv.count() == 8 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := len(f.dev.View().Messages); n != 13 { // 10 + 2 replies + 1 sent
		t.Errorf("view has %d messages, want 13", n)
	}
}

// pop3Login returns a POP3 session to addr logged in as alice.
func pop3Login(t *testing.T, o *Options, addr string) *pop3Session {
	t.Helper()
	s, err := dialPOP3(context.Background(), o, transport.Endpoint{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.capabilities(); err != nil {
		s.close()
		t.Fatal(err)
	}
	if err := s.login("alice", "secret"); err != nil {
		s.close()
		t.Fatal(err)
	}
	return s
}
