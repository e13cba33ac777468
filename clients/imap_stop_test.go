package clients

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/transport"
)

// proxiedRun is a device running on the embedded server behind a fault
// proxy (internal/faultproxy), with a device timeout of 60 s that a stop
// must not wait out.
type proxiedRun struct {
	env *imapEnv
	p   *faultproxy.Proxy
	// grace is the device's stop grace (Options.StopGrace; 0: the
	// default), set before start.
	grace  time.Duration
	o      Options
	d      Device
	cancel context.CancelFunc
	done   chan error
}

// runProxied starts a device of kind with IMAP client client on a network
// shaped as nw, with the stop's grace (0: the default), recording on rec;
// the proxy closes and the run stops when t ends.
func runProxied(t *testing.T, client string, kind Kind, nw transport.Network, grace time.Duration, rec Recorder) *proxiedRun {
	t.Helper()
	r := newProxied(t, client)
	r.grace = grace
	r.start(t, kind, rec, func(p *Profile) { p.Network = nw })
	return r
}

// newProxied readies a proxiedRun with IMAP client client: the server and
// its proxy, closed when t ends; start runs the device.
func newProxied(t *testing.T, client string) *proxiedRun {
	t.Helper()
	env := newIMAPEnv(t)
	env.client = client
	p, err := faultproxy.New(faultproxy.Options{Backend: env.addrs.IMAP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return &proxiedRun{env: env, p: p, done: make(chan error, 1)}
}

// start runs a device of kind, its profile changed by mod (nil: none),
// recording on rec, until cancel or the end of t.
func (r *proxiedRun) start(t *testing.T, kind Kind, rec Recorder, mod func(p *Profile)) {
	t.Helper()
	r.o = r.env.options(kind, rec, mod)
	r.o.IMAP.Addr = r.p.Addr()
	r.o.Timeout = 60 * time.Second
	r.o.StopGrace = r.grace
	d, err := New(r.o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r.d, r.cancel = d, cancel
	go func() { r.done <- d.Run(ctx) }()
}

// wait fails t unless Run returned nil within 20 s of the stop (cancel):
// a liveness bound far below the device timeout, not a timing assertion.
func (r *proxiedRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("Run did not return 20 s after the stop (device timeout %v)", r.o.Timeout)
	}
}

// TestIMAPStopWhileServerStalls stops a device while its server stalls,
// with either IMAP client: Run returns within the stop's grace, far before
// the device's 60 s timeout. A command cut by the stop (after the grace,
// then no LOGOUT on the cut connection) is recorded as a timeout, also on
// a shaped network whose shaping is idle while the server is silent (the
// server had the whole grace: graceStart.overdue); a LOGOUT said at the
// stop has its own short bound (imapSession.logout) and is not recorded
// when it fails. The bound is generous on purpose (a liveness check that
// fails on the full timeout, not a timing assertion).
func TestIMAPStopWhileServerStalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind Kind
		nw   transport.Network
		// verb is the command whose write stalls the server: the
		// device is stopped once it is sent (mid-command), or right
		// after the stall is armed ("LOGOUT": the stop's own).
		verb string
		// ready is a command the device ran before the stall is armed.
		ready string
		// wantCut is the command recorded as a timeout ("": none).
		wantCut string
		// grace is the stop's grace: short where the server's silence
		// lets it run out unshaped, the default on a shaped network,
		// long where the server answers (the IDLE's DONE before the
		// stalled LOGOUT): longGrace, shortGrace.
		grace time.Duration
	}{
		{"mid-command", KindPhone, transport.Network{}, "EXAMINE", "EXAMINE", "EXAMINE", shortGrace},
		{"mid-command shaped", KindPhone, transport.Network{Latency: 20 * time.Millisecond, Bandwidth: 8_000_000}, "EXAMINE", "EXAMINE", "EXAMINE", 0},
		{"logout at stop", KindPC, transport.Network{}, "LOGOUT", "IDLE", "", longGrace},
	} {
		for _, client := range IMAPClients {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				rec := &imapRecorder{}
				run := runProxied(t, client, tc.kind, tc.nw, tc.grace, rec)
				p := run.p
				waitCommands(t, rec, "AUTHENTICATE", tc.ready)
				before := len(rec.names())
				// The first write holding the verb stalls the server
				// (internal/faultproxy StallOn): the connections stay
				// open and no reply comes.
				sent := p.StallOn([]byte(" " + tc.verb))
				start := time.Now()
				if tc.verb == "LOGOUT" {
					run.cancel()
				}
				select {
				case <-sent: // a command the server will not answer
				case <-time.After(20 * time.Second):
					t.Fatalf("the device sent no %s after the stall was armed", tc.verb)
				}
				if tc.verb != "LOGOUT" {
					start = time.Now()
					run.cancel()
				}
				run.wait(t)
				took := time.Since(start)
				rec.mu.Lock()
				after := slices.Clone(rec.cmds[min(before, len(rec.cmds)):])
				rec.mu.Unlock()
				var cut []string
				for _, ev := range after {
					if ev.Outcome == transport.OutcomeTimeout {
						cut = append(cut, ev.Command)
					}
				}
				if want := []string{tc.wantCut}; !slices.Equal(cut, want) && !(tc.wantCut == "" && len(cut) == 0) {
					t.Errorf("commands recorded as timeouts after the stall %v, want %v", cut, want)
				}
				t.Logf("Run returned %v after the stop; timeouts %v; commands after the stall %v", took, cut, rec.names()[before:])
			})
		}
	}
}

// idleRecorder is a trackingRecorder that counts IDLE's waits for mail:
// each IDLE continuation abandons the IDLE's first tracked wait, and the
// IDLE is recorded (or cut) once it ended.
type idleRecorder struct {
	trackingRecorder
	waits, ended int
}

func (r *idleRecorder) CommandAbandoned(p, command string, start time.Time) {
	r.trackingRecorder.CommandAbandoned(p, command, start)
	if command == "IDLE" {
		r.tmu.Lock()
		r.waits++
		r.tmu.Unlock()
	}
}

func (r *idleRecorder) Command(ev CommandEvent) {
	r.trackingRecorder.Command(ev)
	if ev.Command == "IDLE" {
		r.tmu.Lock()
		r.ended++
		r.tmu.Unlock()
	}
}

// idling reports whether the device waits for mail in an IDLE now (it
// IDLEs on one connection).
func (r *idleRecorder) idling() bool {
	r.tmu.Lock()
	defer r.tmu.Unlock()
	return r.waits > r.ended
}

// TestIMAPIdleUnansweredAtStop stops an IDLEing PC while the server
// leaves one of IDLE's two waits unanswered — its continuation, or the
// tagged reply after DONE — with either IMAP client: the IDLE is recorded
// as a timeout, as any command the server left unanswered beyond the
// stop's grace (imapSession.end), and nothing is left in flight.
func TestIMAPIdleUnansweredAtStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stall is what the device sends that the server leaves
		// unanswered.
		stall string
		// nw shapes the device's network: the stop's own DONE waits out
		// its latency, a small part of the grace, and the server's
		// silence is still its timeout (HeldFor; it counted nothing when
		// any hold in the grace cleared the server).
		nw transport.Network
		// grace is the stop's grace: short unshaped, the default shaped
		// (longGrace, shortGrace).
		grace time.Duration
	}{
		{"continuation", " IDLE", transport.Network{}, shortGrace},
		{"reply after DONE", "DONE", transport.Network{}, shortGrace},
		{"reply after DONE, shaped", "DONE", transport.Network{Latency: 20 * time.Millisecond}, 0},
	} {
		for _, client := range IMAPClients {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				rec := &idleRecorder{}
				run := runProxied(t, client, KindPC, tc.nw, tc.grace, rec)
				waitCommands(t, &rec.imapRecorder, "AUTHENTICATE")
				sent := run.p.StallOn([]byte(tc.stall))
				// The stop comes once the server holds what the device
				// sent or, for DONE, while the device waits for mail in
				// an IDLE (the stop ends it with DONE).
				deadline := time.Now().Add(20 * time.Second)
			wait:
				for {
					select {
					case <-sent:
						break wait
					default:
					}
					if tc.stall == "DONE" && rec.idling() {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the device sent no %q within 20 s", tc.stall)
					}
					time.Sleep(10 * time.Millisecond)
				}
				run.cancel()
				run.wait(t)
				select {
				case <-sent:
				default:
					t.Fatalf("the device never sent %q", tc.stall)
				}
				if !slices.Contains(rec.names(), "IDLE:timeout") {
					t.Errorf("no IDLE recorded as a timeout; recorded %v", rec.names())
				}
				rec.checkLanded(t)
			})
		}
	}
}

// TestIMAPStopGrace is TestStopGrace for IMAP devices, with either IMAP
// client: the server holds a command of a sync or of an action until the
// device (or the action) is told to stop, then answers it within the
// stop's grace (longGrace: a loaded machine may take its time between the
// stop and the answer). That command is the last the work sends:
// the next step of the sync (UID SEARCH after EXAMINE, SELECT after
// STATUS, IDLE after SELECT, a page's next command) or of the action (its
// FETCH after SELECT) does not go out (imapSession.begin), and the server
// gets nothing more but the LOGOUT a stopping device says on each
// connection it holds (docs/report.md, Outcomes). A command answered
// within the grace counts with its outcome; none counts a timeout, none is
// left in flight.
func TestIMAPStopGrace(t *testing.T) {
	pcOneConn := func(p *Profile) { p.Connections = 1 }
	for _, tc := range []struct {
		name string
		kind Kind
		mod  func(p *Profile)
		// hold is what the device sends that the proxy holds until the
		// stop, then lets through to the server.
		hold string
		// action: the held command is a read action's, its context
		// ended at the stop; the device runs on when deviceRunsOn.
		action, deviceRunsOn bool
	}{
		{"phone sync: EXAMINE", KindPhone, nil, " EXAMINE ", false, false},
		{"pc folders: STATUS", KindPC, pcOneConn, " STATUS ", false, false},
		{"pc inbox: SELECT before IDLE", KindPC, pcOneConn, " SELECT INBOX", false, false},
		{"webmail page: STATUS", KindWebmail, nil, " STATUS ", false, false},
		{"phone read action: SELECT", KindPhone, nil, " SELECT ", true, false},
		{"phone read action stops, device runs on", KindPhone, nil, " SELECT ", true, true},
	} {
		for _, client := range IMAPClients {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				rec := &trackingRecorder{}
				run := newProxied(t, client)
				run.grace = longGrace
				id := run.env.deliver(t, 2000) // a sync has more to do after the held command
				hit := make(<-chan struct{})
				if !tc.action {
					hit = run.p.StallOn([]byte(tc.hold))
				}
				run.start(t, tc.kind, rec, tc.mod)
				actx, acancel := context.WithCancel(context.Background())
				defer acancel()
				acted := make(chan error, 1)
				if tc.action {
					waitView(t, run.d, "the message", hasAll(id))
					hit = run.p.StallOn([]byte(tc.hold))
					go func() {
						_, err := run.d.Do(actx, Action{Kind: ActRead, MessageID: id})
						acted <- err
					}()
				}
				select {
				case <-hit:
				case <-time.After(20 * time.Second):
					t.Fatalf("the device sent no %q within 20 s", tc.hold)
				}
				before := len(rec.names())
				acancel()
				if !tc.deviceRunsOn {
					run.cancel()
				}
				run.p.Resume() // the server answers now, within the grace
				if tc.action {
					select {
					case err := <-acted:
						if err == nil {
							t.Error("the read action succeeded: its commands after the stop went out")
						}
					case <-time.After(20 * time.Second):
						t.Fatal("the read action did not end within 20 s of its stop")
					}
				}
				if tc.deviceRunsOn {
					// The device's own work is not the action's: its
					// sync goes on, on the same connection or a new one.
					waitCommands(t, &rec.imapRecorder, append(rec.names(), "EXAMINE")...)
					run.cancel()
				}
				run.wait(t)
				// Every byte the device sent before its connections
				// closed is read (Drained; Close would drop what the
				// proxy had not read yet). Nothing after the held
				// command's answer is sent by order, not by luck: the
				// stop (cancel) came before the answer (Resume), so the
				// next command's begin sees the context ended
				// (imapSession.begin).
				drainCtx, drainCancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer drainCancel()
				if err := run.p.Drained(drainCtx); err != nil {
					t.Fatalf("the device's connections did not end: %v", err)
				}
				sent := sentCommands(run.p.SentAfterStall())
				if tc.deviceRunsOn {
					for _, c := range sent {
						if c == "UID STORE" {
							t.Errorf("the server got %q after the held%s: the stopped action's STORE went out", sent, tc.hold)
						}
					}
				} else if want := []string{"LOGOUT"}; !slices.Equal(sent, want) {
					t.Errorf("the server got %q after the held%s, want %q: a stopping device sends no next command", sent, tc.hold, want)
				}
				for _, n := range rec.names()[before:] {
					if strings.HasSuffix(n, ":"+string(transport.OutcomeTimeout)) {
						t.Errorf("%s recorded after the stop: the held command was answered within the grace", n)
					}
				}
				rec.checkLanded(t)
			})
		}
	}
}

// sentCommands returns the command of each line a client sent (tag left
// out, upper case; a UID command's two words; an untagged line, DONE,
// whole).
func sentCommands(b []byte) []string {
	var out []string
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(strings.ToUpper(line))
		switch {
		case len(f) == 0:
		case len(f) == 1:
			out = append(out, f[0])
		case f[1] == "UID" && len(f) > 2:
			out = append(out, "UID "+f[2])
		default:
			out = append(out, f[1])
		}
	}
	return out
}

// TestIMAPLoginNotSentAtStop: a login whose context ended before its
// command went out (imapSession.begin sent nothing; the dial's watch,
// which closes the connection and marks it dead, had not run yet) is the
// stop's, as one the watch cut: it counts no login.
func TestIMAPLoginNotSentAtStop(t *testing.T) {
	forEachIMAPClient(t, func(t *testing.T, env *imapEnv) {
		rec := &imapRecorder{}
		s := pcSession(t, env, rec)
		rec.mu.Lock()
		logins := len(rec.logins)
		rec.mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.ctx = ctx // the login's context ended, its watch not run
		if err := s.login(true); !errors.Is(err, errNotSent) {
			t.Fatalf("login after its context ended: %v, want errNotSent", err)
		}
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if got := rec.logins[logins:]; len(got) > 0 {
			t.Errorf("logins counted for a login the stop kept from going out: %v, want none", got)
		}
	})
}
