package clients

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"

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
