package clients

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/transport"
)

// proxiedRun is a device running on the embedded server behind a fault
// proxy (internal/faultproxy), with a device timeout of 60 s that a stop
// must not wait out.
type proxiedRun struct {
	p      *faultproxy.Proxy
	o      Options
	cancel context.CancelFunc
	done   chan error
}

// runProxied starts a device of kind with IMAP client client on a network
// shaped as nw, recording on rec; the proxy closes and the run stops when
// t ends.
func runProxied(t *testing.T, client string, kind Kind, nw transport.Network, rec Recorder) *proxiedRun {
	t.Helper()
	env := newIMAPEnv(t)
	env.client = client
	p, err := faultproxy.New(faultproxy.Options{Backend: env.addrs.IMAP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	o := env.options(kind, rec, func(p *Profile) { p.Network = nw })
	o.IMAP.Addr = p.Addr()
	o.Timeout = 60 * time.Second
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &proxiedRun{p: p, o: o, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	return r
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
// the device's 60 s timeout. A command cut by the stop (shutdownGrace,
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
	}{
		{"mid-command", KindPhone, transport.Network{}, "EXAMINE", "EXAMINE", "EXAMINE"},
		{"mid-command shaped", KindPhone, transport.Network{Latency: 20 * time.Millisecond, Bandwidth: 8_000_000}, "EXAMINE", "EXAMINE", "EXAMINE"},
		{"logout at stop", KindPC, transport.Network{}, "LOGOUT", "IDLE", ""},
	} {
		for _, client := range IMAPClients {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				rec := &imapRecorder{}
				run := runProxied(t, client, tc.kind, tc.nw, rec)
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
// as a timeout, as any command the server left unanswered beyond
// shutdownGrace after the stop (imapSession.end), and nothing is left in
// flight.
func TestIMAPIdleUnansweredAtStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// stall is what the device sends that the server leaves
		// unanswered.
		stall string
	}{
		{"continuation", " IDLE"},
		{"reply after DONE", "DONE"},
	} {
		for _, client := range IMAPClients {
			t.Run(tc.name+"/"+client, func(t *testing.T) {
				rec := &idleRecorder{}
				run := runProxied(t, client, KindPC, transport.Network{}, rec)
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
