package clients

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// embeddedTruth is the embedded server as the auditor's truth.
type embeddedTruth struct{ e *embedded }

func (s embeddedTruth) UserState(_ context.Context, user string) (view.Snapshot, error) {
	return s.e.srv.UserState(user)
}

// TestPOP3LagStamped: a POP3 device stamps each message it downloads with
// the poll that downloaded it (view.Message.Stamps, Arrived), so the
// auditor takes a delivery's lag from that poll's start, as for an IMAP
// device: also when the server showed the message late, after a poll since
// that downloaded other mail or none (before 2026-12-05 the log alone
// counted that earlier poll, or no lag at all: "0 s, want poll 1"), and
// when the poll that downloaded it broke before the next message (the log
// alone: the next poll, a bound). The stamp stays when the message leaves
// the server (another device's POP3 deletes it, or the device's own DELE),
// and one whose poll the log dropped is a bound. A PC polls the embedded
// server through a fault proxy; the change, message B, is the server's
// from t, after the PC's first poll; one audit at the end.
func TestPOP3LagStamped(t *testing.T) {
	type step int
	const (
		deliverB      step = iota // B reaches the maildrop
		deliverOther              // another message does
		poll                      // the PC polls
		pollBreaks                // the PC polls and breaks at its second RETR (another message, delivered first)
		deleteOnPhone             // a POP3 phone that leaves nothing on the server polls
		pollsAfter                // view.MaxSyncLog polls, each of another message: the log drops B's poll
	)
	for _, tt := range []struct {
		name    string
		keepOff bool // the PC leaves nothing on the server
		steps   []step
		want    int // the poll whose start B's lag counts to, by its order among the polls
		bounded int
	}{
		{name: "shown by the first poll since", steps: []step{deliverB, poll}, want: 0},
		{name: "shown late, the poll before downloaded other mail",
			steps: []step{deliverOther, poll, deliverB, poll}, want: 1},
		{name: "shown late, the poll before downloaded nothing",
			steps: []step{poll, deliverB, poll}, want: 1},
		{name: "the poll that downloaded it broke",
			steps: []step{pollBreaks, poll}, want: 0},
		{name: "deleted on the server by another device since",
			steps: []step{deliverB, poll, deleteOnPhone, poll}, want: 0},
		{name: "deleted on the server by its own download", keepOff: true,
			steps: []step{deliverB, poll, poll}, want: 0},
		{name: "deleted on the server by its own download, then by another device", keepOff: true,
			steps: []step{deliverOther, deliverB, poll, deliverOther, deleteOnPhone, poll}, want: 0},
		{name: "the log dropped its poll: a bound",
			steps: []step{deliverB, poll, pollsAfter}, want: 0, bounded: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startEmbedded(t)
			p, err := faultproxy.New(faultproxy.Options{Backend: e.addrs.POP3})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			clock := c2Clock()
			device := func(id string, leave bool) *pop3Device {
				o := validOptions()
				o.ID = id
				o.Profile = &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3, LeaveOnServer: leave}
				o.POP3 = transport.Endpoint{Addr: p.Addr()}
				o.Username, o.Password, o.Address = "alice", "secret", "alice@example.com"
				o.Clock, o.Recorder, o.Timeout = clock, &c2Recorder{}, 5*time.Second
				d, err := New(o)
				if err != nil {
					t.Fatal(err)
				}
				return d.(*pop3Device)
			}
			pc := device("alice/pc", !tt.keepOff)
			rng := rand.New(rand.NewPCG(1, 2))
			g := mailgen.Generator{Domain: "example.org"}
			deliver := func() string {
				m := g.New(rng, "bob@example.com", []string{"alice@example.com"}, 2000, false, time.Now())
				e.lmtp(t, "alice@example.com", m.Raw)
				return m.ID
			}
			var lags []time.Duration
			a := audit.New(audit.Options{OnConverged: func(_ audit.ChangeKind, lag time.Duration) { lags = append(lags, lag) }})
			a.AddUser(audit.UserSpec{Name: "alice", Group: "g", Devices: []audit.DeviceSpec{
				{ID: "alice/pc", Profile: "pc-pop3", Protocol: "pop3", Kind: "pc", View: pc.View},
			}})

			// The PC's first poll downloads a message: the log's first
			// step, begun before the change.
			deliver()
			if err := pc.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
			t0 := clock.Now()
			var b string
			type bracket struct{ from, to time.Time } // a poll began within
			var polls []bracket
			pollPC := func(breaks bool) {
				t.Helper()
				from := clock.Now()
				err := pc.Poll(context.Background())
				if breaks != (err != nil) {
					t.Fatalf("poll: %v, want it to break: %v", err, breaks)
				}
				polls = append(polls, bracket{from, clock.Now()})
			}
			for _, s := range tt.steps {
				switch s {
				case deliverB:
					b = deliver()
				case deliverOther:
					deliver()
				case poll:
					pollPC(false)
				case pollBreaks:
					// B is downloaded first (message 2, after the
					// first poll's); the RETR after it stalls until
					// the poll's deadline.
					b = deliver()
					deliver()
					pc.o.Timeout = 300 * time.Millisecond
					p.StallOn([]byte("RETR 3"))
					pollPC(true)
					p.Resume()
					pc.o.Timeout = 5 * time.Second
				case deleteOnPhone:
					if err := device("alice/phone", false).Poll(context.Background()); err != nil {
						t.Fatal(err)
					}
				case pollsAfter:
					for range view.MaxSyncLog {
						deliver()
						pollPC(false)
					}
				}
			}
			a.Record(audit.Change{Kind: audit.Deliver, User: "alice", MessageID: b, Folder: view.FolderInbox, At: t0})
			a.Touch("alice")
			a.Audit()
			res, err := a.Final(context.Background(), embeddedTruth{e})
			if err != nil {
				t.Fatal(err)
			}
			if len(lags) != 1 {
				t.Fatalf("lags %v, want B's", lags)
			}
			w := polls[tt.want]
			if lags[0] < w.from.Sub(t0) || lags[0] > w.to.Sub(t0) {
				at := -1
				for i, p := range polls {
					if lags[0] >= p.from.Sub(t0) && lags[0] <= p.to.Sub(t0) {
						at = i
					}
				}
				t.Errorf("B's lag %v (poll %d; -1: none), want poll %d's start, %v to %v", lags[0], at, tt.want, w.from.Sub(t0), w.to.Sub(t0))
			}
			if got := res.Convergence[audit.Deliver].LagsBounded; got != tt.bounded {
				t.Errorf("lags bounded %d, want %d", got, tt.bounded)
			}
		})
	}
}

// TestPOP3StampsKept: every poll that downloads mail passes the stamps the
// device keeps through the log's Keep, so that a message downloaded by a
// poll the log dropped reads view.StampOld (a bound), never the stamp of a
// newer poll once the stamps cycle (view.SyncLog.Add); the messages of a
// poll share its stamp; a message the device moves itself loses its stamp
// (its own action put it there, view.Message.Stamps); flags are never
// stamped (the device's own).
func TestPOP3StampsKept(t *testing.T) {
	d, err := newPOP3Device(validOptions())
	if err != nil {
		t.Fatal(err)
	}
	pc := d.(*pop3Device)
	base := time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
	uidls := 0
	download := func(poll int, ids ...string) {
		pc.mu.Lock()
		pc.pollStart, pc.pollStamp = base.Add(time.Duration(poll)*time.Minute), view.StampNone
		seen := pc.store.seenIndex()
		pc.mu.Unlock()
		for _, id := range ids {
			raw := []byte("Message-ID: " + id + "\r\nSubject: s\r\n\r\nhi\r\n")
			uidls++
			pc.addDownloaded(seen, fmt.Sprintf("%08X%08X", uidls, 42), raw, int64(len(raw)))
		}
		pc.mu.Lock()
		pc.synced = base.Add(time.Duration(poll) * time.Minute)
		pc.mu.Unlock()
	}
	stamp := func(id string) view.Stamps { return pc.View().Messages[id].Stamps }
	download(0, "<a0>", "<b0>")
	if a, b := stamp("<a0>"), stamp("<b0>"); a.Arrived == view.StampNone || a != b || a.Flags != view.StampNone {
		t.Fatalf("one poll's messages: stamps %+v and %+v, want the poll's, the same, flags unstamped", a, b)
	}
	// More polls than the stamps cycle through.
	for poll := 1; poll <= 300; poll++ {
		download(poll, fmt.Sprintf("<m%d>", poll))
		if poll >= view.MaxSyncLog {
			if got := stamp("<a0>").Arrived; got != view.StampOld {
				t.Fatalf("after poll %d: the first poll's message stamped %d, want StampOld (%d)", poll, got, view.StampOld)
			}
		}
	}
	sh, ok := pc.View().Stamped(view.FolderInbox, stamp("<a0>").Arrived, base.Add(-time.Minute))
	if !ok || sh.Exact || !sh.At.Equal(base.Add(292*time.Minute)) {
		t.Errorf("the first poll's message: %+v, %v; want a bound: the start of the poll before the log's oldest (292m)", sh, ok)
	}
	if _, err := pc.Do(context.Background(), Action{Kind: ActMove, MessageID: "<m300>", Folder: "Archive"}); err != nil {
		t.Fatal(err)
	}
	if got := stamp("<m300>"); got != (view.Stamps{}) {
		t.Errorf("a message the device moved: stamps %+v, want none", got)
	}
}
