package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// The person alone: built from fakes of the narrow parts it depends on
// (env.go), without an Engine, a server or a device that talks to one.

// fakeClock is a simulated clock that moves only when told; one wall
// second is wallScale simulated seconds.
type fakeClock struct {
	now       time.Time
	wallScale time.Duration
	slept     time.Duration
	// onSleep, if set, runs as a Sleep starts (before it checks ctx).
	onSleep func()
}

func (c *fakeClock) Now() time.Time                     { return c.now }
func (c *fakeClock) Wall(d time.Duration) time.Duration { return d / c.wallScale }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if c.onSleep != nil {
		c.onSleep()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}

// fakeQueue keeps the deliveries it is given.
type fakeQueue struct {
	got []delivery
	// hold, if set, runs as a delivery is handed over, as a full queue's
	// wait would, and reports whether it waited.
	hold func(d delivery) bool
}

func (q *fakeQueue) enqueue(_ context.Context, d delivery) bool {
	q.got = append(q.got, d)
	return q.hold != nil && q.hold(d)
}

// fakeChanges keeps the changes recorded.
type fakeChanges struct{ got []audit.Change }

func (c *fakeChanges) record(ch audit.Change) { c.got = append(c.got, ch) }
func (c *fakeChanges) touch(string)           {}
func (c *fakeChanges) now() time.Time         { return time.Time{} }

// fakeSink keeps the events; safe for concurrent use as a Sink must be.
type fakeSink struct {
	mu  sync.Mutex
	got []Event
}

func (s *fakeSink) Handle(ev Event) { s.mu.Lock(); s.got = append(s.got, ev); s.mu.Unlock() }

// fakeDevice shows a fixed INBOX and answers Do from a script.
type fakeDevice struct {
	profile clients.Profile
	inbox   []string
	// answer is the device's reply to its n-th Do (n from 0).
	answer func(a clients.Action, n int) (clients.Result, error)
	done   []clients.Action
}

func (d *fakeDevice) ID() string                    { return "u1/" + d.profile.Name }
func (d *fakeDevice) Profile() *clients.Profile     { return &d.profile }
func (d *fakeDevice) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (d *fakeDevice) View() view.Snapshot {
	s := view.Snapshot{Messages: map[string]view.Message{}}
	for _, id := range d.inbox {
		s.Messages[id] = view.Message{ID: id, Folder: view.FolderInbox}
	}
	return s
}
func (d *fakeDevice) NewInInbox(clients.InboxCursor) ([]string, clients.InboxCursor) {
	return slices.Clone(d.inbox), 0 // every message in INBOX: allowed, it may return more
}
func (d *fakeDevice) Do(_ context.Context, a clients.Action) (clients.Result, error) {
	n := len(d.done)
	d.done = append(d.done, a)
	if d.answer == nil {
		return clients.Result{}, nil
	}
	return d.answer(a, n)
}

// fakePerson is a person of one device with the fakes around it.
type fakePerson struct {
	p       *person
	clock   *fakeClock
	queue   *fakeQueue
	changes *fakeChanges
	events  *fakeSink
	dev     *fakeDevice
}

func newFakePerson(b scenarios.Behavior, dev *fakeDevice) *fakePerson {
	f := &fakePerson{
		clock:   &fakeClock{now: simEpoch, wallScale: 60},
		queue:   &fakeQueue{},
		changes: &fakeChanges{},
		events:  &fakeSink{},
		dev:     dev,
	}
	u := &user{
		plan: &scenarios.User{Credential: scenarios.Credential{Username: "u1"}, Address: "u1@example.com",
			Behavior: &b, Seed: 42},
		devices: []*device{{dev: dev}},
		wake:    make(chan struct{}, 1),
	}
	r := &roster{users: []*user{u}, byAddr: map[string]*user{u.plan.Address: u}}
	u.env = &env{clock: f.clock, queue: f.queue, changes: f.changes, events: f.events, peers: r,
		gen: mailgen.Generator{Domain: "example.com"}, log: slog.New(slog.DiscardHandler)}
	f.p = newPerson(u)
	f.p.pickHand(f.clock.now)
	return f
}

// summary lists the changes and events (but late ones) in a form a test
// states briefly.
func (f *fakePerson) summary() (changes, events []string) {
	for _, c := range f.changes.got {
		s := fmt.Sprintf("%s %s %s", c.Kind, c.MessageID, c.Folder)
		if c.Flags != 0 {
			s += fmt.Sprintf(" flags=%v", c.Flags)
		}
		if c.Incomplete {
			s += " incomplete"
		}
		if c.Completes {
			s = fmt.Sprintf("%s %s completes", c.Kind, c.MessageID)
		}
		if c.Draft {
			s = fmt.Sprintf("draft %s %s", c.MessageID, c.Folder)
		}
		changes = append(changes, strings.TrimSpace(s))
	}
	for _, ev := range f.events.got {
		switch ev.Type {
		case EventAction:
			events = append(events, fmt.Sprintf("action %s %s %s", ev.Kind, ev.Profile, ev.MessageID))
		case EventActionFailed:
			events = append(events, "failed "+ev.Kind)
		case EventActionsDropped, EventActionsPlanned:
			// One event per action, of its kind.
			what := map[EventType]string{EventActionsDropped: "dropped", EventActionsPlanned: "planned"}[ev.Type]
			if ev.Count != 1 {
				what = fmt.Sprintf("%s %d of", what, ev.Count)
			}
			events = append(events, what+" "+ev.Kind)
		case EventActionCut:
			events = append(events, "cut "+ev.Kind)
		case EventActionsPending:
			events = append(events, fmt.Sprintf("pending %d", ev.Count))
		case EventLate:
			// checked by the cases that care
		default:
			events = append(events, fmt.Sprintf("type %d", ev.Type))
		}
	}
	return changes, events
}

// noticeAndAct drives a person who notices the mail its device shows and
// then acts on it n times, a simulated hour apart.
func noticeAndAct(n int) func(ctx context.Context, t *testing.T, f *fakePerson) {
	return func(ctx context.Context, _ *testing.T, f *fakePerson) {
		f.p.notice(f.clock.now)
		for range n {
			f.clock.now = f.clock.now.Add(time.Hour)
			f.p.actOnMail(ctx, f.clock.now)
		}
	}
}

// TestPersonAlone drives a person step by step on fakes of its clock,
// delivery queue, change sink, event sink and device.
func TestPersonAlone(t *testing.T) {
	errBroken := errors.New("connection reset")
	readOnly := scenarios.Behavior{OnNewMail: scenarios.OnNewMail{Read: 1}, ActionDelay: time.Minute}
	cases := []struct {
		name     string
		behavior scenarios.Behavior
		inbox    []string
		answer   func(a clients.Action, n int) (clients.Result, error)
		// drive runs the person; ctx is live.
		drive       func(ctx context.Context, t *testing.T, f *fakePerson)
		wantChanges []string
		wantEvents  []string
		// check, if set, looks at what else the person left.
		check func(t *testing.T, f *fakePerson)
	}{{
		name:     "a read is recorded as a change and an action, after the action delay",
		behavior: readOnly,
		inbox:    []string{"<m1@x>"},
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.notice(f.clock.now)
			f.clock.now = f.clock.now.Add(59 * time.Second)
			if f.p.canAct(f.clock.now) {
				t.Error("the person may act before the action delay")
			}
			f.clock.now = f.clock.now.Add(time.Second)
			f.p.actOnMail(ctx, f.clock.now)
		},
		wantChanges: []string{"read <m1@x>  flags=" + fmt.Sprint(view.Seen)},
		wantEvents:  []string{"planned read", "action read pc <m1@x>"},
	}, {
		name:     "a message the device never shows is retried, then given up without an error",
		behavior: readOnly,
		inbox:    []string{"<m1@x>"},
		answer: func(clients.Action, int) (clients.Result, error) {
			return clients.Result{}, clients.ErrNoMessage
		},
		drive:      noticeAndAct(maxTries),
		wantEvents: []string{"planned read", "dropped read"},
		check: func(t *testing.T, f *fakePerson) {
			if len(f.dev.done) != maxTries || !f.p.done["<m1@x>"] || len(f.p.pending) != 0 {
				t.Errorf("%d tries, done %v, %d pending; want %d tries, the message done", len(f.dev.done),
					f.p.done["<m1@x>"], len(f.p.pending), maxTries)
			}
		},
	}, {
		name:     "a failed try counts as an error and the action is done on the next try",
		behavior: readOnly,
		inbox:    []string{"<m1@x>"},
		answer: func(_ clients.Action, n int) (clients.Result, error) {
			if n == 0 {
				return clients.Result{}, errBroken
			}
			return clients.Result{Published: true}, nil
		},
		drive:       noticeAndAct(2),
		wantChanges: []string{"read <m1@x>  flags=" + fmt.Sprint(view.Seen)},
		wantEvents:  []string{"planned read", "failed read", "action read pc <m1@x>"},
	}, {
		name:     "a reply whose submission got no reply after the message data is given up at once, and the next action goes on",
		behavior: scenarios.Behavior{OnNewMail: scenarios.OnNewMail{Read: 1, Reply: 1, Delete: 1}, ActionDelay: time.Minute},
		inbox:    []string{"<m1@x>"},
		answer: func(a clients.Action, _ int) (clients.Result, error) {
			if a.Kind == clients.ActReply {
				return clients.Result{}, fmt.Errorf("clients: device u1/pc: submit: %w",
					&clients.UnansweredError{Recipients: []string{"x@y"}, Err: errBroken})
			}
			return clients.Result{Published: true}, nil
		},
		drive:       noticeAndAct(3),
		wantChanges: []string{"read <m1@x>  flags=" + fmt.Sprint(view.Seen), "delete <m1@x>"},
		wantEvents:  []string{"planned read", "planned reply", "planned delete", "action read pc <m1@x>", "failed reply", "dropped reply", "action delete pc <m1@x>"},
		check: func(t *testing.T, f *fakePerson) {
			var kinds []clients.ActionKind
			for _, a := range f.dev.done {
				kinds = append(kinds, a.Kind)
			}
			if want := []clients.ActionKind{clients.ActRead, clients.ActReply, clients.ActDelete}; !slices.Equal(kinds, want) {
				t.Errorf("device asked %v, want %v (the reply once)", kinds, want)
			}
		},
	}, {
		name:     "a filter rule moves to Junk at once",
		behavior: scenarios.Behavior{OnNewMail: scenarios.OnNewMail{MoveFilter: 1, Read: 1}, ActionDelay: time.Hour},
		inbox:    []string{"<spam@x>"},
		answer: func(a clients.Action, _ int) (clients.Result, error) {
			return clients.Result{Folder: a.Folder, Published: true}, nil
		},
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.notice(f.clock.now)
			f.p.actOnMail(ctx, f.clock.now)
		},
		wantChanges: []string{"move <spam@x> Junk"},
		wantEvents:  []string{"planned move", "action move pc <spam@x>"},
	}, {
		name:     "a send that failed after submitting is recorded once, incomplete, and resumed",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer: func(a clients.Action, n int) (clients.Result, error) {
			if n == 0 {
				return clients.Result{Sent: "<new@example.com>", Published: true, Resume: &clients.Resume{}}, errBroken
			}
			return clients.Result{Sent: "<new@example.com>", Published: true}, nil
		},
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ctx)
		},
		wantChanges: []string{"send <new@example.com> Sent incomplete", "send <new@example.com> completes"},
		wantEvents:  []string{"planned send", "failed send", "action send pc <new@example.com>"},
		check: func(t *testing.T, f *fakePerson) {
			if len(f.dev.done) != 2 || f.dev.done[1].Resume == nil {
				t.Errorf("device asked %d times, want a send and a resume", len(f.dev.done))
			}
			if f.clock.slept != time.Minute {
				t.Errorf("slept %v before resuming, want a simulated minute", f.clock.slept)
			}
		},
	}, {
		name:     "a send the end of the active phase cut short after submitting is finished on the devices' context",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer:   submittedThenOK("<new@example.com>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ended(ctx))
		},
		wantChanges: []string{"send <new@example.com> Sent incomplete", "send <new@example.com> completes"},
		wantEvents:  []string{"planned send", "action send pc <new@example.com>"},
		check: func(t *testing.T, f *fakePerson) {
			if len(f.dev.done) != 2 || f.dev.done[1].Resume == nil || f.clock.slept != 0 {
				t.Errorf("device asked %d times, slept %v; want a send and a resume at once", len(f.dev.done), f.clock.slept)
			}
		},
	}, {
		name:     "a send cut short after submitting whose resumes are refused is tried again, backed off, then given up",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer:   submittedThenRefused("<new@example.com>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ended(ctx))
		},
		wantChanges: []string{"send <new@example.com> Sent incomplete"},
		wantEvents:  []string{"planned send", "failed send", "failed send", "failed send", "dropped send"},
		check: func(t *testing.T, f *fakePerson) {
			// The first resume at once, the next ones after the backoff.
			wantSlept := lateResumeBackoff.Delay(0, nil) + lateResumeBackoff.Delay(1, nil)
			if len(f.dev.done) != 1+sendResumeTries || f.clock.slept != wantSlept {
				t.Errorf("device asked %d times, slept %v; want a send and %d resumes, %v of backoff", len(f.dev.done), f.clock.slept, sendResumeTries, wantSlept)
			}
		},
	}, {
		name:     "two sends cut short whose resumes are refused share one backoff budget: the second gets one try",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer: func(a clients.Action, n int) (clients.Result, error) {
			if a.Resume == nil {
				return clients.Result{Sent: fmt.Sprintf("<new%d@example.com>", n), Published: true, Resume: &clients.Resume{}}, errors.New("connection reset")
			}
			return clients.Result{Resume: &clients.Resume{}}, errors.New("NO [SERVERBUG] refused")
		},
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			for range 2 {
				f.p.nextSend = f.clock.now
				f.p.send(ended(ctx))
			}
		},
		wantChanges: []string{"send <new0@example.com> Sent incomplete", "send <new4@example.com> Sent incomplete"},
		wantEvents:  []string{"planned send", "failed send", "failed send", "failed send", "dropped send", "planned send", "failed send", "dropped send"},
		check: func(t *testing.T, f *fakePerson) {
			wantSlept := lateResumeBackoff.Delay(0, nil) + lateResumeBackoff.Delay(1, nil)
			if len(f.dev.done) != 2+sendResumeTries+1 || f.clock.slept != wantSlept {
				t.Errorf("device asked %d times, slept %v; want two sends, %d resumes of the first and one of the second, %v of backoff in all",
					len(f.dev.done), f.clock.slept, sendResumeTries, wantSlept)
			}
		},
	}, {
		name:     "refused resumes of a send cut short end when the devices stop during the backoff",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer:   submittedThenRefused("<new@example.com>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			devCtx, stop := context.WithCancel(ctx)
			f.p.devCtx, f.clock.onSleep = devCtx, stop
			f.p.nextSend = f.clock.now
			f.p.send(ended(ctx))
		},
		wantChanges: []string{"send <new@example.com> Sent incomplete"},
		wantEvents:  []string{"planned send", "failed send", "dropped send"},
		check: func(t *testing.T, f *fakePerson) {
			if len(f.dev.done) != 2 || f.clock.slept != 0 {
				t.Errorf("device asked %d times, slept %v; want a send and one resume, no backoff finished", len(f.dev.done), f.clock.slept)
			}
		},
	}, {
		name:     "a send cut short after submitting when the devices stop too is given up",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer:   submittedThenOK("<new@example.com>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.devCtx = ended(ctx)
			f.p.nextSend = f.clock.now
			f.p.send(ended(ctx))
		},
		wantChanges: []string{"send <new@example.com> Sent incomplete"},
		wantEvents:  []string{"planned send", "dropped send"},
	}, {
		name:   "a reply the end of the active phase cut short after submitting is finished on the devices' context",
		answer: submittedThenOK("<re@x>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			planReply(f, "<m1@x>")
			f.p.actOnMail(ended(ctx), f.clock.now)
		},
		wantChanges: []string{"send <re@x> Sent incomplete", "send <re@x> completes", "reply <m1@x>  flags=" + fmt.Sprint(view.Answered)},
		wantEvents:  []string{"planned reply", "action reply pc <m1@x>"},
		check:       wantResumed,
	}, {
		name:   "a reply cut short after submitting when the devices stop too is given up",
		answer: submittedThenOK("<re@x>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			planReply(f, "<m1@x>")
			f.p.devCtx = ended(ctx)
			f.p.actOnMail(ended(ctx), f.clock.now)
		},
		wantChanges: []string{"send <re@x> Sent incomplete"},
		wantEvents:  []string{"planned reply", "dropped reply"},
	}, {
		name:   "a reply waiting for its next try to finish when the active phase ends is finished on the devices' context",
		answer: submittedThenOK("<re@x>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			planReply(f, "<m1@x>")
			f.p.actOnMail(ctx, f.clock.now)
			f.p.run(ended(ctx))
		},
		wantChanges: []string{"send <re@x> Sent incomplete", "send <re@x> completes", "reply <m1@x>  flags=" + fmt.Sprint(view.Answered)},
		wantEvents:  []string{"planned reply", "failed reply", "action reply pc <m1@x>"},
		check:       wantResumed,
	}, {
		name:   "a reply waiting for its next try to finish when the devices stop is given up",
		answer: submittedThenOK("<re@x>"),
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			planReply(f, "<m1@x>")
			f.p.actOnMail(ctx, f.clock.now)
			f.p.devCtx = ended(ctx)
			f.p.run(ended(ctx))
		},
		wantChanges: []string{"send <re@x> Sent incomplete"},
		wantEvents:  []string{"planned reply", "failed reply", "dropped reply"},
	}, {
		name:     "a send that failed before submitting is given up",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer:   func(clients.Action, int) (clients.Result, error) { return clients.Result{}, errBroken },
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ctx)
		},
		wantEvents: []string{"planned send", "failed send", "dropped send"},
	}, {
		name:     "a send the end of the active phase cut while it was written counts cut",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour, WriteTime: time.Hour}},
		answer:   func(clients.Action, int) (clients.Result, error) { return clients.Result{}, context.Canceled },
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ended(ctx))
		},
		wantEvents: []string{"planned send", "cut send"},
	}, {
		// An IMAP send leaves its draft on the server when it ends before
		// its message left (clients.Result.Draft): the audit is told, or
		// a device that had not synced Drafts since missed it unexplained.
		name:     "a send that failed before submitting leaves its draft, recorded",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour}},
		answer: func(clients.Action, int) (clients.Result, error) {
			return clients.Result{Published: true, Folder: view.FolderDrafts, Draft: "<d@x>", DraftSaved: simEpoch}, errBroken
		},
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ctx)
		},
		wantChanges: []string{"draft <d@x> Drafts"},
		wantEvents:  []string{"planned send", "failed send", "dropped send"},
	}, {
		name:     "a send the end of the active phase cut while it was written leaves its draft, recorded",
		behavior: scenarios.Behavior{Send: scenarios.Send{Interval: time.Hour, WriteTime: time.Hour}},
		answer: func(clients.Action, int) (clients.Result, error) {
			return clients.Result{Published: true, Folder: view.FolderDrafts, Draft: "<d@x>", DraftSaved: simEpoch}, context.Canceled
		},
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.nextSend = f.clock.now
			f.p.send(ended(ctx))
		},
		wantChanges: []string{"draft <d@x> Drafts"},
		wantEvents:  []string{"planned send", "cut send"},
	}, {
		name:     "a read the end of the active phase cut counts cut, the message's next action pending when the person stops",
		behavior: scenarios.Behavior{OnNewMail: scenarios.OnNewMail{Read: 1, Flag: 1}, ActionDelay: time.Minute},
		inbox:    []string{"<m1@x>"},
		answer:   func(clients.Action, int) (clients.Result, error) { return clients.Result{}, context.Canceled },
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.notice(f.clock.now)
			f.clock.now = f.clock.now.Add(time.Minute)
			f.p.actOnMail(ended(ctx), f.clock.now)
			f.p.run(ended(ctx))
		},
		wantEvents: []string{"planned read", "planned flag", "cut read", "pending 1"},
	}, {
		name:     "actions waiting their turn or their next try when the person stops count pending",
		behavior: scenarios.Behavior{OnNewMail: scenarios.OnNewMail{Read: 1, Flag: 1}, ActionDelay: time.Minute},
		inbox:    []string{"<m1@x>", "<m2@x>"},
		answer:   func(clients.Action, int) (clients.Result, error) { return clients.Result{}, errBroken },
		drive: func(ctx context.Context, t *testing.T, f *fakePerson) {
			f.p.notice(f.clock.now)
			f.clock.now = f.clock.now.Add(time.Minute)
			f.p.actOnMail(ctx, f.clock.now)
			f.p.run(ended(ctx))
		},
		wantEvents: []string{"planned read", "planned flag", "planned read", "planned flag", "failed read", "pending 4"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePerson(tc.behavior, &fakeDevice{
				profile: clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP},
				inbox:   tc.inbox, answer: tc.answer,
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			f.p.devCtx = ctx
			tc.drive(ctx, t, f)
			changes, events := f.summary()
			if !slices.Equal(changes, tc.wantChanges) {
				t.Errorf("changes %q, want %q", changes, tc.wantChanges)
			}
			if !slices.Equal(events, tc.wantEvents) {
				t.Errorf("events %q, want %q", events, tc.wantEvents)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
			// Every send change left incomplete is an action given up
			// (docs/report.md, action-incomplete).
			unfinished := map[string]bool{}
			for _, c := range f.changes.got {
				unfinished[c.MessageID] = c.Incomplete || unfinished[c.MessageID] && !c.Completes
			}
			var left, dropped int64
			for _, u := range unfinished {
				if u {
					left++
				}
			}
			for _, ev := range f.events.got {
				if ev.Type == EventActionsDropped {
					dropped += ev.Count
				}
			}
			if left > dropped {
				t.Errorf("%d send changes left incomplete, %d actions given up", left, dropped)
			}
			checkActionPartition(t, f)
		})
	}
}

// checkActionPartition checks that every action the person planned ended
// one way: done, given up, cut or still pending (docs/report.md,
// "Actions"), and that the actions it counted pending when it stopped are
// those left in its plans.
func checkActionPartition(t *testing.T, f *fakePerson) {
	t.Helper()
	var planned, done, dropped, cut, pending int64
	stopped := false
	for _, ev := range f.events.got {
		switch ev.Type {
		case EventActionsPlanned:
			planned += ev.Count
		case EventAction:
			done++
		case EventActionsDropped:
			dropped += ev.Count
		case EventActionCut:
			cut++
		case EventActionsPending:
			pending += ev.Count
			stopped = true
		}
	}
	var left int64
	for _, pm := range f.p.pending {
		left += int64(len(pm.actions))
	}
	if planned != done+dropped+cut+left {
		t.Errorf("%d actions planned, %d done + %d given up + %d cut + %d left in the plans", planned, done, dropped, cut, left)
	}
	if stopped && pending != left {
		t.Errorf("%d actions counted pending when the person stopped, %d left in the plans", pending, left)
	}
}

// submittedThenOK answers a device's first Do as an action that submitted
// message sent and failed after, and every later one (its resume) as
// done.
func submittedThenOK(sent string) func(clients.Action, int) (clients.Result, error) {
	return func(a clients.Action, n int) (clients.Result, error) {
		if n == 0 {
			return clients.Result{Sent: sent, Published: true, Resume: &clients.Resume{}}, errors.New("connection reset")
		}
		return clients.Result{Sent: sent, Published: true}, nil
	}
}

// submittedThenRefused answers a send that submitted sent and failed after,
// then refuses every resume, leaving it resumable: a server that refuses
// to store the copy in Sent.
func submittedThenRefused(sent string) func(clients.Action, int) (clients.Result, error) {
	return func(a clients.Action, n int) (clients.Result, error) {
		if n == 0 {
			return clients.Result{Sent: sent, Published: true, Resume: &clients.Resume{}}, errors.New("connection reset")
		}
		return clients.Result{Resume: &clients.Resume{}}, errors.New("NO [SERVERBUG] refused")
	}
}

// planReply makes a reply to id the person's next action, due now.
func planReply(f *fakePerson, id string) {
	f.p.plan(id, &plannedMessage{due: f.clock.now, actions: []clients.Action{{Kind: clients.ActReply, MessageID: id}}})
}

// wantResumed fails the test unless the device was asked twice, the second
// time to resume.
func wantResumed(t *testing.T, f *fakePerson) {
	t.Helper()
	if len(f.dev.done) != 2 || f.dev.done[1].Resume == nil {
		t.Errorf("device asked %d times, want an action and its resume", len(f.dev.done))
	}
}

// ended returns a context derived from ctx that has ended: the person's
// once the active phase is over.
func ended(ctx context.Context) context.Context {
	c, cancel := context.WithCancel(ctx)
	cancel()
	return c
}
