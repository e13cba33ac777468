package clients

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
)

// trackingRecorder is an imapRecorder that tracks the commands in flight
// (CommandTracker).
type trackingRecorder struct {
	imapRecorder
	tmu      sync.Mutex
	inflight map[string]int // command → in flight
}

func (r *trackingRecorder) CommandStarted(_, command string, _ time.Time) {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	if r.inflight == nil {
		r.inflight = map[string]int{}
	}
	r.inflight[command]++
}

func (r *trackingRecorder) end(command string) {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	if r.inflight[command] > 0 { // untracked commands end too
		r.inflight[command]--
	}
}

func (r *trackingRecorder) CommandAbandoned(_, command string, _ time.Time) { r.end(command) }

func (r *trackingRecorder) Command(ev CommandEvent) {
	if !ev.Start.IsZero() {
		r.end(ev.Command)
	}
	r.imapRecorder.Command(ev)
}

func (r *trackingRecorder) flying(command string) int {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	return r.inflight[command]
}

// checkLanded fails t for every command still in flight (once the device
// stopped).
func (r *trackingRecorder) checkLanded(t *testing.T) {
	t.Helper()
	r.tmu.Lock()
	defer r.tmu.Unlock()
	for cmd, n := range r.inflight {
		if n != 0 {
			t.Errorf("%s: %d in flight after the device stopped", cmd, n)
		}
	}
}

// TestIMAPTracksCommandsInFlight stalls the server at a command: the
// device's tracker sees it start and not end while the server is silent
// (mailsim capacity counts such a command when a window closes under it),
// then end once the server answers; after the device stopped, no command
// is left in flight.
func TestIMAPTracksCommandsInFlight(t *testing.T) {
	for _, client := range IMAPClients {
		t.Run(client, func(t *testing.T) {
			rec := &trackingRecorder{}
			run := runProxied(t, client, KindPhone, transport.Network{}, 0, rec)
			p := run.p
			waitCommands(t, &rec.imapRecorder, "AUTHENTICATE", "EXAMINE")
			sent := p.StallOn([]byte(" EXAMINE"))
			select {
			case <-sent:
			case <-time.After(20 * time.Second):
				t.Fatal("the device sent no EXAMINE after the stall was armed")
			}
			// The command reached the proxy: its start was tracked before
			// it was written (imapSession.do), so it is in flight now.
			if n := rec.flying("EXAMINE"); n != 1 {
				t.Fatalf("EXAMINE in flight while the server stalls: %d, want 1", n)
			}
			p.Resume()
			deadline := time.Now().Add(20 * time.Second)
			for rec.flying("EXAMINE") != 0 {
				if time.Now().After(deadline) {
					t.Fatal("EXAMINE still in flight 20 s after the server resumed")
				}
				time.Sleep(10 * time.Millisecond)
			}
			run.cancel()
			run.wait(t)
			rec.checkLanded(t)
		})
	}
}

// pairRecorder checks that every tracked start ends with a Command of the
// same protocol, name and Start.
type pairRecorder struct {
	DiscardRecorder
	mu      sync.Mutex
	open    map[string]int
	started []string
}

func (r *pairRecorder) key(p, c string, start time.Time) string {
	return p + " " + c + " " + start.Format(time.RFC3339Nano)
}

func (r *pairRecorder) CommandStarted(p, c string, start time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open == nil {
		r.open = map[string]int{}
	}
	r.open[r.key(p, c, start)]++
	r.started = append(r.started, c)
}

func (r *pairRecorder) CommandAbandoned(p, c string, start time.Time) {
	r.Command(CommandEvent{Protocol: p, Command: c, Start: start})
}

func (r *pairRecorder) Command(ev CommandEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.key(ev.Protocol, ev.Command, ev.Start)
	if r.open[k] > 0 {
		r.open[k]--
	}
}

// TestSMTPTracksCommands: a submission's commands that wait for the
// server are tracked from start to end, each end matching its start.
func TestSMTPTracksCommands(t *testing.T) {
	_, addr := startSMTP(t, nil, false)
	rec := &pairRecorder{}
	sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr, TLS: transport.TLSNone}, SMTPOptions{
		Username: "alice", Password: "secret", Recorder: rec, Timeout: 5 * time.Second,
	})
	if err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got, want := strings.Join(rec.started, " "), "CONNECT EHLO AUTH MAIL RCPT DATA QUIT"; got != want {
		t.Errorf("tracked %q, want %q", got, want)
	}
	for k, n := range rec.open {
		if n != 0 {
			t.Errorf("%s: still in flight after Submit", k)
		}
	}
}

// strictRecorder is a pairRecorder that also notes every command recorded
// without a tracked start (untracked).
type strictRecorder struct {
	pairRecorder
	untracked []string
}

func (r *strictRecorder) Command(ev CommandEvent) {
	r.mu.Lock()
	if r.open[r.key(ev.Protocol, ev.Command, ev.Start)] == 0 {
		r.untracked = append(r.untracked, ev.Protocol+" "+ev.Command)
	}
	r.mu.Unlock()
	r.pairRecorder.Command(ev)
}

// check fails t for every command recorded untracked and every tracked
// start that did not end.
func (r *strictRecorder) check(t *testing.T, want ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.untracked) > 0 {
		t.Errorf("recorded without a tracked start: %v", r.untracked)
	}
	for k, n := range r.open {
		if n != 0 {
			t.Errorf("%s: still in flight after the device stopped", k)
		}
	}
	for _, w := range want {
		if !slices.Contains(r.started, w) {
			t.Errorf("%s never tracked; tracked %v", w, r.started)
		}
	}
}

// TestDevicesTrackEveryWait runs an IMAP PC that IDLEs (each IMAP
// client) and a POP3 PC, and submits a message over SMTP: every command
// recorded — the connect and greeting (CONNECT) and IDLE included — was
// tracked from before its wait for the server (CommandTracker), and none
// is left in flight once the device stopped.
func TestDevicesTrackEveryWait(t *testing.T) {
	forEachIMAPClient(t, func(t *testing.T, env *imapEnv) {
		rec := &strictRecorder{}
		o := env.options(KindPC, rec, nil)
		d, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		// New mail ends an IDLE (DONE and its reply).
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; ; i++ {
			rec.mu.Lock()
			idles := 0
			for _, c := range rec.started {
				if c == "IDLE" {
					idles++
				}
			}
			rec.mu.Unlock()
			if idles >= 4 || time.Now().After(deadline) {
				break
			}
			if i%20 == 0 {
				env.deliver(t, 1000)
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		rec.check(t, CommandConnect, "AUTHENTICATE", "IDLE", "LOGOUT")
	})
	t.Run("pop3", func(t *testing.T) {
		f := newPOP3Fixture(t, KindPC, nil)
		rec := &strictRecorder{}
		f.dev.o.Recorder = rec
		f.dev.rec = rec
		f.deliver(2000)
		f.poll(t)
		rec.check(t, CommandConnect, "CAPA", "AUTH", "UIDL", "RETR", "QUIT")
	})
	t.Run("smtp", func(t *testing.T) {
		_, addr := startSMTP(t, nil, false)
		rec := &strictRecorder{}
		sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr, TLS: transport.TLSNone}, SMTPOptions{
			Username: "alice", Password: "secret", Recorder: rec, Timeout: 5 * time.Second,
		})
		if err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("Subject: hi\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		rec.check(t, CommandConnect, "EHLO", "QUIT")
	})
}

// eventRecorder is a pairRecorder that also keeps the commands recorded
// with an outcome (abandoned ones are not).
type eventRecorder struct {
	pairRecorder
	recorded []CommandEvent
	logins   []string // protocol and outcome of each login counted
}

func (r *eventRecorder) Login(protocol string, o transport.Outcome) {
	r.mu.Lock()
	r.logins = append(r.logins, protocol+" "+string(o))
	r.mu.Unlock()
}

func (r *eventRecorder) Command(ev CommandEvent) {
	r.mu.Lock()
	r.recorded = append(r.recorded, ev)
	r.mu.Unlock()
	r.pairRecorder.Command(ev)
}

// The stop's graces of the stop tests (Options.StopGrace,
// SMTPOptions.StopGrace), so that none depends on how fast the machine
// answers. longGrace is for a test whose server answers a held command
// after the stop and wants it answered within the grace: far longer than
// any delay a loaded machine adds between the stop and the answer, and
// shorter than the tests' 20 s liveness bounds. shortGrace is for a test
// whose grace must run out on a server that never answers, on an
// unshaped connection: nothing it could do in the grace matters, and the
// test need not wait a second. A test whose grace must run out on a
// shaped connection keeps DefaultStopGrace: the rule of graceStart.overdue
// weighs the network's holds against half the grace, and a short grace
// would let a loaded machine's slow timers stretch a 20 ms latency past
// it.
const (
	longGrace  = 10 * time.Second
	shortGrace = 100 * time.Millisecond
)

// startHolding starts a deliberately broken server: it greets with
// greeting, answers every command line with answer(line) (upper case,
// trimmed) and holds the first command that starts with hold; held is
// closed then. With late nil it never answers the held command; else it
// answers what late brings and goes on, and after lists the command lines
// it received after the held one, once the client closed the connection
// (or after 5 s).
func startHolding(t *testing.T, greeting, hold string, answer func(cmd string) string, late <-chan string) (addr string, held <-chan struct{}, after func() []string) {
	h := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var got []string
	answered := false
	gone := make(chan struct{})
	var goneOnce sync.Once
	srv := faketest.Start(t, faketest.Options{}, func(c net.Conn) {
		defer goneOnce.Do(func() { close(gone) })
		r := bufio.NewReader(c)
		fmt.Fprint(c, greeting+"\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			mu.Lock()
			if answered {
				got = append(got, cmd)
			}
			mu.Unlock()
			if strings.HasPrefix(cmd, hold) {
				once.Do(func() { close(h) })
				if late == nil {
					_, _ = io.Copy(io.Discard, r) // until the client goes
					return
				}
				fmt.Fprint(c, <-late)
				mu.Lock()
				answered = true
				mu.Unlock()
				continue
			}
			fmt.Fprint(c, answer(cmd))
		}
	})
	return srv.Addr, h, func() []string {
		// Everything the client sent is read once the server saw it go:
		// after its device or submission returned, its connection is
		// closed. Until 2026-12-05 this read on after 5 s.
		select {
		case <-gone:
		case <-time.After(20 * time.Second):
			t.Fatal("the server never saw the client go")
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// stopWhenHeld returns a context that ends once held is closed (a device
// stopping while the server holds its command), or after 10 s.
func stopWhenHeld(held <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		select {
		case <-held:
		case <-time.After(10 * time.Second):
		}
	}()
	return ctx
}

// checkStopped fails t unless rec tracked the held command, recorded
// exactly the failures want ("COMMAND outcome": what the stop's rule
// makes of the held command) and has nothing left in flight.
func checkStopped(t *testing.T, rec *eventRecorder, held string, want ...string) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if !slices.Contains(rec.started, held) {
		t.Fatalf("%s never tracked (tracked %v): the server did not hold it", held, rec.started)
	}
	var failed []string
	for _, ev := range rec.recorded {
		if ev.Outcome != transport.OutcomeOK {
			failed = append(failed, ev.Command+" "+string(ev.Outcome))
		}
	}
	if !slices.Equal(failed, want) {
		t.Errorf("failures recorded after the device stopped %v, want %v", failed, want)
	}
	for k, n := range rec.open {
		if n != 0 {
			t.Errorf("%s: still in flight after the device stopped", k)
		}
	}
}

// TestStopGrace: a POP3 or SMTP submission command in flight when its
// device stops has the stop's grace (Options.StopGrace) to be answered, as an
// IMAP command has (StopGrace): one the server leaves unanswered beyond it
// is recorded as a timeout, one answered within it with its outcome, and
// the stop then closes the connection — nothing else fails (the QUIT it
// cut counts nothing), nothing is left in flight, and the device does not
// wait out its 30 s timeout.
func TestStopGrace(t *testing.T) {
	smtpAnswer := func(cmd string) string {
		switch {
		case strings.HasPrefix(cmd, "EHLO"):
			return "250-fake\r\n250 8BITMIME\r\n"
		case cmd == "QUIT":
			return "221 bye\r\n"
		}
		return "250 ok\r\n"
	}
	pop3Answer := func(cmd string) string {
		if strings.HasPrefix(cmd, "CAPA") {
			return "+OK\r\nUSER\r\n.\r\n"
		}
		return "+OK\r\n"
	}
	for _, tc := range []struct {
		name     string
		protocol string
		hold     string
		late     string // the held command's answer after the stop ("": none)
		want     string // what is recorded of it
		// login is the last login counted ("": none): a login the
		// server left unanswered counts a timeout, as its command does.
		login string
	}{
		{"smtp MAIL unanswered", ProtocolSMTP, "MAIL", "", "MAIL timeout", ""},
		{"smtp MAIL answered within the grace", ProtocolSMTP, "MAIL", "451 4.3.0 busy\r\n", "MAIL no", ""},
		{"smtp DATA unanswered", ProtocolSMTP, "DATA", "", "DATA timeout", ""},
		{"pop3 STAT unanswered", ProtocolPOP3, "STAT", "", "STAT timeout", "pop3 ok"},
		{"pop3 STAT answered within the grace", ProtocolPOP3, "STAT", "-ERR busy\r\n", "STAT no", "pop3 ok"},
		{"pop3 STAT answered ok within the grace", ProtocolPOP3, "STAT", "+OK 1 100\r\n", "", "pop3 ok"},
		{"smtp MAIL answered ok within the grace", ProtocolSMTP, "MAIL", "250 ok\r\n", "", ""},
		{"pop3 PASS unanswered", ProtocolPOP3, "PASS", "", "PASS timeout", "pop3 timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var late chan string
			if tc.late != "" {
				late = make(chan string, 1)
			}
			greeting, answer := "220 fake ESMTP", smtpAnswer
			if tc.protocol == ProtocolPOP3 {
				greeting, answer = "+OK hi", pop3Answer
			}
			addr, held, after := startHolding(t, greeting, tc.hold, answer, late)
			ctx := stopWhenHeld(held)
			if late != nil {
				go func() {
					<-ctx.Done()
					late <- tc.late // the answer comes after the stop
				}()
			}
			rec := &eventRecorder{}
			ep := transport.Endpoint{Addr: addr, TLS: transport.TLSNone}
			grace := shortGrace // the server never answers
			if late != nil {
				grace = longGrace // it answers after the stop
			}
			done := make(chan error, 1)
			go func() {
				if tc.protocol == ProtocolSMTP {
					sub := NewSMTPSubmitter(ep, SMTPOptions{Recorder: rec, Timeout: 30 * time.Second, StopGrace: grace})
					done <- sub.Submit(ctx, "alice@example.com", []string{"bob@example.com"}, []byte("Subject: hi\r\n\r\nbody\r\n"))
					return
				}
				prof := &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3, LeaveOnServer: true}
				d, err := New(Options{ID: "alice/pc", Profile: prof, Username: "alice", Password: "x", Address: "alice@example.com",
					POP3: ep, Submitter: &c2Submitter{}, Clock: c2Clock(), Recorder: rec, Seed: 1, Timeout: 30 * time.Second, StopGrace: grace})
				if err != nil {
					done <- err
					return
				}
				done <- d.(*pop3Device).Poll(ctx)
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("%s %s succeeded on a server that held %s", tc.protocol, tc.hold, tc.hold)
				}
			case <-time.After(20 * time.Second):
				// A liveness bound far below the 30 s timeout, not a
				// timing assertion.
				t.Fatal("the device did not stop within 20 s: it waits for the held command")
			}
			var want []string
			if tc.want != "" {
				want = append(want, tc.want)
			}
			checkStopped(t, rec, tc.hold, want...)
			// Nothing reached the server after the held command's
			// answer: the stop closed the connection before the next. By
			// order, not by luck: the answer comes after the stop (late
			// is sent once ctx ended), so the next command's Start sees
			// the context ended and closes first (StopGrace.Start; with
			// the stop's close held, TestStopGraceStartWhileTheStopCloses).
			if late != nil {
				if got := after(); len(got) > 0 {
					t.Errorf("the server got %q after the held %s: a stopped device sends nothing", got, tc.hold)
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if last := lastOr(rec.logins, ""); last != tc.login {
				t.Errorf("logins counted %v, want the last %q", rec.logins, tc.login)
			}
		})
	}
}

// lastOr returns the last of s, or none when s is empty.
func lastOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return s[len(s)-1]
}

// TestPOP3STLSTracksHandshake: POP3's STLS is one tracked command from
// the command to the end of its TLS handshake, as IMAP's STARTTLS is: a
// server that accepts STLS and never answers the client's hello leaves
// STLS in flight, and the device's stop then counts it a timeout after
// the stop's grace (StopGrace), as any command left unanswered.
func TestPOP3STLSTracksHandshake(t *testing.T) {
	h := make(chan struct{})
	srv := faketest.Start(t, faketest.Options{}, func(c net.Conn) {
		r := bufio.NewReader(c)
		fmt.Fprint(c, "+OK hi\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			switch cmd := strings.ToUpper(strings.TrimSpace(line)); cmd {
			case "CAPA":
				fmt.Fprint(c, "+OK\r\nUSER\r\nSTLS\r\n.\r\n")
			case "STLS":
				fmt.Fprint(c, "+OK begin TLS\r\n")
				if _, err := r.ReadByte(); err != nil { // the client's hello
					return
				}
				close(h)
				_, _ = io.Copy(io.Discard, r) // until the client goes
				return
			default:
				fmt.Fprint(c, "+OK\r\n")
			}
		}
	})
	rec := &eventRecorder{}
	prof := &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3, LeaveOnServer: true}
	d, err := New(Options{ID: "alice/pc", Profile: prof, Username: "alice", Password: "x", Address: "alice@example.com",
		POP3: transport.Endpoint{Addr: srv.Addr, TLS: transport.TLSStartTLS}, Submitter: &c2Submitter{}, Clock: c2Clock(), Recorder: rec, Seed: 1, Timeout: 30 * time.Second,
		StopGrace: shortGrace}) // the handshake is never answered
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polled := make(chan error, 1)
	go func() { polled <- d.(*pop3Device).Poll(ctx) }()
	select {
	case <-h:
	case err := <-polled:
		t.Fatalf("Poll ended before the TLS handshake: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no TLS handshake within 10 s")
	}
	rec.mu.Lock()
	inflight := 0
	for k, n := range rec.open {
		if strings.HasPrefix(k, "pop3 STLS ") {
			inflight += n
		}
	}
	rec.mu.Unlock()
	if inflight != 1 {
		t.Errorf("STLS in flight during its handshake: %d, want 1", inflight)
	}
	cancel()
	if err := <-polled; err == nil {
		t.Fatal("Poll succeeded on a server that never finished the TLS handshake")
	}
	checkStopped(t, rec, "STLS", "STLS timeout")
}

// idleWaitRecorder times IDLE's two tracked waits as the tracker sees them:
// from each CommandStarted to its end (the first wait ends abandoned,
// when the continuation came; the second with the IDLE's Command), and
// keeps each recorded IDLE with the sum of its two waits.
type idleWaitRecorder struct {
	DiscardRecorder
	mu      sync.Mutex
	started map[time.Time]time.Time // a tracked IDLE wait's start → when the tracker saw it
	first   time.Duration           // the last continuation wait seen
	idles   []idleSeen
}

// idleSeen is one recorded IDLE: its event, and the two waits the
// tracker saw.
type idleSeen struct {
	ev    CommandEvent
	waits time.Duration
}

func (r *idleWaitRecorder) CommandStarted(_, c string, start time.Time) {
	if c != "IDLE" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started == nil {
		r.started = map[time.Time]time.Time{}
	}
	r.started[start] = start
}

func (r *idleWaitRecorder) CommandAbandoned(_, c string, start time.Time) {
	if c != "IDLE" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.started[start]; ok {
		r.first = time.Since(s)
		delete(r.started, start)
	}
}

func (r *idleWaitRecorder) Command(ev CommandEvent) {
	if ev.Command != "IDLE" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.started[ev.Start]; ok {
		r.idles = append(r.idles, idleSeen{ev: ev, waits: r.first + time.Since(s)})
		delete(r.started, ev.Start)
	}
}

// TestIdleDurationIsItsWaits: an IDLE's recorded duration is its two
// waits for the server (the continuation, the reply after DONE), at most
// what the tracker saw of them, not the time the device waited for mail
// between them. Before, it ran from IDLE to the reply after DONE, so an
// IDLE that waited for mail for a while filled the top of the latency
// histograms (the dashboards' p99 over every command).
func TestIdleDurationIsItsWaits(t *testing.T) {
	forEachIMAPClient(t, func(t *testing.T, env *imapEnv) {
		rec := &idleWaitRecorder{}
		d := startDevice(t, env.options(KindPC, rec, nil))
		// The PC IDLEs for a while with no mail, then new mail ends it.
		waitCommands := func() int {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return len(rec.idles)
		}
		first := env.deliver(t, 1000)
		waitView(t, d, "the first message", hasAll(first))
		before := waitCommands()
		time.Sleep(300 * time.Millisecond)
		env.deliver(t, 1000)
		deadline := time.Now().Add(20 * time.Second)
		for waitCommands() == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(rec.idles) == before {
			t.Fatal("no IDLE ended after the new mail")
		}
		for _, s := range rec.idles {
			if s.ev.Duration > s.waits {
				t.Errorf("IDLE recorded %v, more than its two waits for the server (%v): the wait for mail is in it", s.ev.Duration, s.waits)
			}
		}
	})
}
