package clients

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// TestSlotOwnerServesActions runs actions from several goroutines on
// devices whose sync loops own their long-lived connections: every action
// is served on the owned connection (no connection is added), IDLE
// resumes afterwards, and a one-connection PC runs its INBOX and
// folders schedules on one loop. After Run ended, an action fails at once
// without dialing; a new Run serves again. It runs with both IMAP clients:
// go-imap's IDLE wait takes the request, the lean one is interrupted by
// its requester.
func TestSlotOwnerServesActions(t *testing.T) {
	for _, c := range IMAPClients {
		t.Run(c, func(t *testing.T) { testSlotOwnerServesActions(t, c) })
	}
}

func testSlotOwnerServesActions(t *testing.T, client string) {
	tests := []struct {
		name  string
		kind  Kind
		mod   func(p *Profile)
		conns int
		// want is a subsequence of the commands sent after the actions
		// started. Whether the owner took the actions inside IDLE or
		// between two of its rounds (an IDLE the folders round cut
		// short) depends on the scheduler, so it is not asserted: the
		// actions are served on the owned connection, and IDLE resumes.
		want []string
	}{
		{"phone idle", KindPhone, func(p *Profile) { p.PollInterval, p.Idle = time.Hour, true }, 1,
			[]string{"UID STORE", "IDLE"}},
		{"pc one connection", KindPC, func(p *Profile) { p.Connections = 1 }, 1,
			[]string{"UID STORE", "IDLE", "STATUS", "IDLE", "STATUS"}},
		{"pc two connections", KindPC, nil, 2,
			[]string{"UID STORE", "STATUS", "STATUS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newIMAPEnv(t)
			env.client = client
			rec := &imapRecorder{}
			o := env.options(tt.kind, rec, tt.mod)
			ids := []string{env.deliver(t, 1000), env.deliver(t, 1000), env.deliver(t, 1000), env.deliver(t, 1000)}
			dev, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			d := dev.(*imapDevice)
			stop := runUntilStop(t, d)
			waitView(t, d, "all messages", hasAll(ids...))
			waitCommands(t, rec, "IDLE")
			before := len(rec.names())
			var wg sync.WaitGroup
			errs := make(chan error, len(ids))
			for _, id := range ids {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Bounded: an action the owner does not serve while
					// it IDLEs fails here instead of hanging the test.
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					_, err := d.Do(ctx, Action{Kind: ActFlag, MessageID: id})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("flag: %v", err)
				}
			}
			for _, id := range ids {
				if got := env.truth(t).Messages[id]; !got.Flags.Has(view.Flagged) {
					t.Errorf("%s on the server: %+v, want flagged", id, got)
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for inOrder(rec.names()[before:], tt.want...) != nil && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if err := inOrder(rec.names()[before:], tt.want...); err != nil {
				t.Error(err)
			}
			rec.mu.Lock()
			conns := rec.conns
			rec.mu.Unlock()
			if conns != tt.conns {
				t.Errorf("%d connections open, want %d (the actions on the owned one)", conns, tt.conns)
			}
			stop()

			called := false
			err = d.slots[len(d.slots)-1].with(context.Background(), func(*imapSession) error { called = true; return nil })
			if !errors.Is(err, errSlotStopped) || called {
				t.Fatalf("request after Run: %v (fn called %v), want errSlotStopped without running it", err, called)
			}
			if _, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: ids[0]}); !errors.Is(err, errSlotStopped) {
				t.Fatalf("action after Run: %v, want errSlotStopped", err)
			}
			rec.mu.Lock()
			conns = rec.conns
			rec.mu.Unlock()
			if conns != 0 {
				t.Errorf("%d connections open after Run, want 0", conns)
			}

			// A new Run serves again (once it started: until then an action
			// still fails at once).
			stop = runUntilStop(t, d)
			defer stop()
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				_, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: ids[0]})
				if err == nil {
					break
				}
				if !errors.Is(err, errSlotStopped) || time.Now().After(deadline) {
					t.Fatalf("action in a second Run: %v", err)
				}
			}
			waitView(t, d, "the read flag", msgIs(ids[0], "INBOX", view.Seen|view.Flagged))
		})
	}
}

// runUntilStop runs d until stop is called; stop checks that Run returns
// nil once its context is cancelled.
func runUntilStop(t *testing.T, d Device) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	}
}

// TestSlotStopEndsItsWatch: a tenure's watch (the AfterFunc of the
// owner's context) has ended when stop returns, whether the context ended
// with work in progress or with none, so that a watch slow to be
// scheduled cannot take the next tenure's session for its own and cut it
// after the stop's grace (the next Run's context being live).
func TestSlotStopEndsItsWatch(t *testing.T) {
	for _, busy := range []bool{false, true} {
		sl := newIMAPSlot(nil)
		for round := range 50 {
			ctx, cancel := context.WithCancel(context.Background())
			sl.start(ctx)
			watch := sl.watchDone
			if busy {
				s := &imapSession{d: &imapDevice{}}
				release := make(chan struct{})
				done := make(chan error, 1)
				go func() {
					done <- sl.watched(ctx, s, func(*imapSession) error { <-release; return nil })
				}()
				for sl.busy.Load() == nil {
					time.Sleep(time.Millisecond)
				}
				cancel()
				close(release)
				if err := <-done; err != nil {
					t.Fatalf("busy round %d: %v", round, err)
				}
			} else {
				cancel()
			}
			sl.stop()
			select {
			case <-watch:
			default:
				t.Fatalf("busy=%v round %d: the tenure's watch still runs after stop", busy, round)
			}
		}
	}
}

// TestSlotKnockCountedOut: a requester knocks (imapSlot.knocks) from its
// announcement until the owner receives its request or it gives up, and
// not a moment longer. An owner that has just taken a request sees no
// knock, so that the next lean IDLE wait does not end at once for a
// request already served: when the requester counted itself out after
// its send, the owner could serve it and IDLE again first, and
// TestLeanIdleActionInterrupts recorded an extra IDLE now and then.
func TestSlotKnockCountedOut(t *testing.T) {
	for _, tc := range []struct {
		name string
		// end ends the request the owner does not take: nil, the owner
		// takes it.
		end     func(sl *imapSlot, cancel context.CancelFunc)
		wantErr error
	}{
		{"taken", nil, nil},
		{"ctx ended", func(_ *imapSlot, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"owner stopped", func(sl *imapSlot, _ context.CancelFunc) { sl.stop() }, errSlotStopped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for round := range 50 {
				sl := newIMAPSlot(nil)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- sl.with(ctx, func(*imapSession) error { return nil }) }()
				deadline := time.Now().Add(10 * time.Second)
				if tc.end == nil {
					// take succeeds only once the requester waits in its
					// send: from there on it must not knock.
					for !sl.take() {
						if time.Now().After(deadline) {
							t.Fatal("the request never came")
						}
						time.Sleep(time.Millisecond)
					}
					if sl.knocks() {
						t.Fatalf("round %d: a taken request still knocks", round)
					}
					r := sl.held
					sl.held = nil
					r.done <- nil
				} else {
					for !sl.knocks() {
						if time.Now().After(deadline) {
							t.Fatal("the requester never knocked")
						}
						time.Sleep(time.Millisecond)
					}
					tc.end(sl, cancel)
				}
				if err := <-done; !errors.Is(err, tc.wantErr) {
					t.Fatalf("round %d: with: %v, want %v", round, err, tc.wantErr)
				}
				cancel()
				if sl.knocks() {
					t.Fatalf("round %d: the requester still knocks after with returned", round)
				}
				if tc.end != nil {
					select {
					case <-sl.knocked: // an owner in takeKnocking looks again
					default:
						t.Fatalf("round %d: a requester gave up without a token in knocked", round)
					}
				}
			}
		})
	}
}

// TestSlotHeldRequestEndsWithCtx: a request the owner took and holds (it
// does its own work first: a sync, a redial with a greeting deadline per
// try) no longer waits for the owner once the requester's ctx ends, and
// its fn, which writes the requester's variables, never runs after.
func TestSlotHeldRequestEndsWithCtx(t *testing.T) {
	sl := newIMAPSlot(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ran atomic.Bool
	done := make(chan error, 1)
	go func() { done <- sl.with(ctx, func(*imapSession) error { ran.Store(true); return nil }) }()
	deadline := time.Now().Add(10 * time.Second)
	for !sl.take() {
		if time.Now().After(deadline) {
			t.Fatal("the request never came")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("with: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("with still waits for an owner that holds its request after ctx ended")
	}
	r := sl.held
	sl.held = nil
	sl.serve(context.Background(), *r) // the owner's turn comes: nothing runs
	if ran.Load() {
		t.Error("fn ran after its requester gave up")
	}
}
