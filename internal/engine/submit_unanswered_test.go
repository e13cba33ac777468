package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/faultproxy"
)

// TestTrackingSubmitterReplyLost: a device's submission through the
// embedded server, whose reply to the message data a proxy holds (the
// server delivered the message, its client never hears so) until the
// submission's deadline or the run's end after the stop's grace, fails
// unanswered (clients.ErrUnanswered) and counts no sent mail; the
// colleague's delivery is recorded as of unknown fate, and the final
// audit finds it stored — no deliver change, none lost, no unexplained
// divergence; it counts one unanswered submission (SubmissionStats), at
// the run's end when the end came first (UnansweredAtEnd: 0 before
// 2026-12-05, when nothing told the two apart). Before,
// nothing was recorded for it: the audit knew nothing of the message the
// colleague's mailbox held.
func TestTrackingSubmitterReplyLost(t *testing.T) {
	for _, atTheEnd := range []bool{false, true} {
		name := "submission deadline"
		if atTheEnd {
			name = "run's end"
		}
		t.Run(name, func(t *testing.T) {
			c := newColleagues(t)
			srv, e, tr, from, to := c.srv, c.e, c.tr, c.from, c.to
			p, err := faultproxy.New(faultproxy.Options{Backend: c.ep.Submission.Addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close() })
			timeout := 3 * time.Second // EHLO to RCPT through the proxy under -race on a loaded machine
			if atTheEnd {
				timeout = 20 * time.Second // the run ends first
			}
			sub := c.submitter(p.Addr(), clients.SMTPOptions{Timeout: timeout, StopGrace: 100 * time.Millisecond})
			held := p.StallOnReply([]byte("OK: queued")) // go-smtp's reply to DATA
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			subCtx, stop := context.WithCancel(ctx)
			defer stop()
			raw := []byte("Message-ID: <lost@test>\r\nSubject: lost\r\n\r\nhello\r\n")
			done := make(chan error, 1)
			go func() { done <- sub.Submit(subCtx, from.Address, []string{to.Address, "x@elsewhere.org"}, raw) }()
			select {
			case <-held:
			case <-ctx.Done():
				t.Fatal("the server never answered the submission")
			}
			if atTheEnd {
				stop()
			}
			err = <-done
			p.Resume()
			if !errors.Is(err, clients.ErrUnanswered) {
				t.Errorf("submission: %v, want unanswered", err)
			}
			want := SubmissionStats{Unanswered: 1}
			if atTheEnd {
				want.UnansweredAtEnd = 1
			}
			if got := e.submissions.stats(); got != want {
				t.Errorf("submissions %+v, want %+v", got, want)
			}
			if k := tr.kinds(); k["deliver"] != 0 || e.sent.Load() != 0 || e.delivered.Load() != 0 {
				t.Errorf("%d deliver changes, sent %d, delivered %d: want none", k["deliver"], e.sent.Load(), e.delivered.Load())
			}
			st, err := srv.UserState(to.Username)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Messages["<lost@test>"]; !ok {
				t.Fatalf("%s shows %v; want <lost@test>: the server delivered it", to.Username, st.IDs())
			}
			ar, err := e.auditor.Final(ctx, storeTruth{srv})
			if want := (audit.Unanswered{Stored: 1}); err != nil || ar.SubmissionUnanswered != want || ar.Unanswered != (audit.Unanswered{}) || ar.Lost != 0 {
				t.Errorf("audit: submissions' unanswered %+v, injector's %+v, lost %d (err %v); want %+v, none, none lost",
					ar.SubmissionUnanswered, ar.Unanswered, ar.Lost, err, want)
			}
			checkExplained(t, ar)
		})
	}
}
