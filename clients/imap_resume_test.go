package clients

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/view"
)

// TestIMAPResumeAfterSubmit checks reply, forward and send when the
// connection drops at the APPEND to Sent, after the message was submitted:
// Do fails with the Message-ID sent and a Resume; the action resumed with
// it files the copy in Sent and flags the original without submitting
// again: exactly one submission.
func TestIMAPResumeAfterSubmit(t *testing.T) {
	tests := []struct {
		act  Action
		flag view.Flags // on the original
	}{
		{Action{Kind: ActReply}, view.Answered},
		{Action{Kind: ActForward, To: []string{"dave@example.org"}}, view.Forwarded},
		{Action{Kind: ActSend, To: []string{"bob@example.com"}, Size: 2000}, 0},
	}
	for _, tt := range tests {
		t.Run(string(tt.act.Kind), func(t *testing.T) {
			env := newIMAPEnv(t)
			proxy := newCutProxy(t, env.addrs.IMAP, regexp.MustCompile(`(?i)^\S+ APPEND "?Sent"? `))
			rec := &imapRecorder{}
			o := env.options(KindPC, rec, nil)
			o.IMAP.Addr = proxy.ln.Addr().String()
			sub := o.Submitter.(*lmtpSubmitter)
			orig := env.deliver(t, 3000)
			d := startDevice(t, o)
			waitView(t, d, "the message", hasAll(orig))
			ctx := context.Background()
			a := tt.act
			if a.Kind != ActSend {
				a.MessageID = orig
			}
			res, err := d.Do(ctx, a)
			if err == nil || res.Sent == "" || res.Resume == nil || !res.Published {
				t.Fatalf("Do with the APPEND to Sent cut: %+v %v; want an error with Sent and Resume", res, err)
			}
			if !proxy.injected() {
				t.Fatal("the proxy never cut the APPEND")
			}
			sentID := res.Sent
			if m, ok := env.truth(t).Messages[sentID]; ok && m.Folder == "Sent" {
				t.Fatalf("the server has the copy in Sent already: %+v", m)
			}
			a.Resume = res.Resume
			res, err = d.Do(ctx, a)
			if err != nil || res.Sent != sentID || res.Resume != nil || !res.Published {
				t.Fatalf("resumed Do: %+v %v; want success with Sent %s", res, err, sentID)
			}
			if n := len(sub.sent); n != 1 {
				t.Errorf("%d submissions, want 1", n)
			}
			truth := env.truth(t)
			if m := truth.Messages[sentID]; m.Folder != "Sent" || m.Flags != view.Seen {
				t.Errorf("the copy on the server: %+v, want in Sent, \\Seen", m)
			}
			if m := truth.Messages[orig]; !m.Flags.Has(tt.flag) {
				t.Errorf("the original on the server: %+v, want %v", m, tt.flag)
			}
			if a.Kind == ActSend && len(truth.Messages) != 2 {
				t.Errorf("server has %+v, want the original and the copy in Sent (no draft)", truth.Messages)
			}
			if err := contains(rec.names(), "APPEND:error"); err != nil {
				t.Error(err)
			}
		})
	}
}

// refusingSubmitter plays a submission server that refuses one recipient
// of every message and sends it to the others.
type refusingSubmitter struct{ n atomic.Int32 }

func (s *refusingSubmitter) Submit(_ context.Context, _ string, to []string, _ []byte) error {
	s.n.Add(1)
	return &RecipientsError{Rejected: map[string]error{"nobody@example.org": errors.New("550 no such user")}, Accepted: len(to)}
}

// TestIMAPSubmitSomeRecipientsRefused checks that a message sent to some of
// its recipients is sent: the forward succeeds, once, on every device kind.
func TestIMAPSubmitSomeRecipientsRefused(t *testing.T) {
	forEachIMAPClient(t, testIMAPSubmitSomeRecipientsRefused)
}

func testIMAPSubmitSomeRecipientsRefused(t *testing.T, env *imapEnv) {
	orig := env.deliver(t, 3000)
	for _, kind := range []Kind{KindPC, KindWebmail} {
		t.Run(string(kind), func(t *testing.T) {
			o := env.options(kind, &imapRecorder{}, nil)
			sub := &refusingSubmitter{}
			o.Submitter = sub
			d := startDevice(t, o)
			waitView(t, d, "the message", hasAll(orig))
			res, err := d.Do(context.Background(), Action{Kind: ActForward, MessageID: orig, To: []string{"dave@example.org", "nobody@example.org"}})
			if err != nil || res.Sent == "" || !res.Flags.Has(view.Forwarded) {
				t.Errorf("forward: %+v %v, want success", res, err)
			}
			if n := sub.n.Load(); n != 1 {
				t.Errorf("%d submissions, want 1", n)
			}
		})
	}
}

// TestIMAPResumeAfterLostAppend: a send whose APPEND to Sent the server
// stored but never answered (a proxy holds the reply until the device's
// deadline) fails with a Resume; the resume looks for the copy in Sent
// (UID SEARCH by Message-ID) before storing one, finds it and stores no
// second: Sent holds one copy, and the device shows it. Before, the
// resume APPENDed again and Sent held two copies of the message.
func TestIMAPResumeAfterLostAppend(t *testing.T) {
	forEachIMAPClient(t, testIMAPResumeAfterLostAppend)
}

func testIMAPResumeAfterLostAppend(t *testing.T, env *imapEnv) {
	p, err := faultproxy.New(faultproxy.Options{Backend: env.addrs.IMAP})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	rec := &imapRecorder{}
	o := env.options(KindPC, rec, nil)
	o.IMAP.Addr = p.Addr()
	// The held reply must outlast the device's deadline; a loaded
	// machine must not make the other commands do so.
	o.Timeout = 3 * time.Second
	d := startDevice(t, o)
	waitView(t, d, "a first sync", func(v view.Snapshot) bool { return !v.Synced.IsZero() })
	msg := env.gen.New(env.rng, "alice@example.com", []string{"bob@example.com"}, 2000, false, time.Now())
	// The action's message was submitted; the copy to Sent is what is
	// left (finish).
	a := Action{Kind: ActSend, To: []string{"bob@example.com"}, Resume: &Resume{kind: ActSend, device: o.ID, id: msg.ID, raw: msg.Raw}}
	held := p.StallOnReply([]byte("APPENDUID"))
	ctx := context.Background()
	res, err := d.Do(ctx, a)
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server never answered the APPEND (Do: %+v, %v)", res, err)
	}
	p.Resume()
	if err == nil || res.Resume == nil {
		t.Fatalf("Do with the APPEND's reply held: %+v %v; want an error with a Resume", res, err)
	}
	a.Resume = res.Resume
	if res, err = d.Do(ctx, a); err != nil || res.Resume != nil || res.Sent != msg.ID {
		t.Fatalf("resumed Do: %+v %v; want success", res, err)
	}
	if n := sentCopies(t, env); n != 1 {
		t.Errorf("Sent holds %d messages, want the one copy", n)
	}
	waitView(t, d, "the copy in Sent", func(v view.Snapshot) bool { return v.Messages[msg.ID].Folder == "Sent" })
}

// sentCopies is the number of messages in alice's Sent on env's server.
func sentCopies(t *testing.T, env *imapEnv) uint32 {
	t.Helper()
	st, err := env.session(t).Status("Sent", &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil || st.NumMessages == nil {
		t.Fatalf("STATUS Sent: %+v, %v", st, err)
	}
	return *st.NumMessages
}
