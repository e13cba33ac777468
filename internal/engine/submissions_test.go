package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// TestSubmissionVocabulary keeps the submission outcomes of the engine and
// the metric labels the same, and each counted under its own figure.
func TestSubmissionVocabulary(t *testing.T) {
	if got, want := metrics.SubmissionOutcomes(), SubmissionOutcomes(); !slices.Equal(got, want) {
		t.Errorf("metrics.SubmissionOutcomes() = %v, want %v", got, want)
	}
	var c submissionCounts
	for outcome, n := range map[string]int{SubmissionSent: 1, SubmissionFailed: 2, SubmissionUnanswered: 3, SubmissionCut: 4, "garbage": 10} {
		for range n {
			c.count(outcome, false)
		}
	}
	// The run's end came: an unanswered one counts at the end too, the
	// others as before.
	for _, outcome := range []string{SubmissionUnanswered, SubmissionCut, SubmissionSent} {
		c.count(outcome, true)
	}
	if got, want := c.stats(), (SubmissionStats{Sent: 2, Failed: 12, Unanswered: 4, UnansweredAtEnd: 1, Cut: 5}); got != want || got.Started() != 23 {
		t.Errorf("counts %+v (%d started), want %+v (23)", got, got.Started(), want)
	}
}

// TestSubmissionOutcome: how a submission ended, by its error and whether
// the run's end had come.
func TestSubmissionOutcome(t *testing.T) {
	refused := errors.New("550 5.1.1 no such user")
	unanswered := fmt.Errorf("device: %w", &clients.UnansweredError{Recipients: []string{"a@b"}, Err: io.EOF})
	someRefused := &clients.RecipientsError{Rejected: map[string]error{"x@y": refused}, Accepted: 1}
	allRefused := &clients.RecipientsError{Rejected: map[string]error{"x@y": refused}}
	for _, tt := range []struct {
		name    string
		err     error
		stopped bool
		want    string
	}{
		{"taken", nil, false, SubmissionSent},
		{"taken during the stop's grace", nil, true, SubmissionSent},
		{"some recipients refused", someRefused, false, SubmissionSent},
		{"some refused during the stop's grace", someRefused, true, SubmissionSent},
		{"every recipient refused", allRefused, false, SubmissionFailed},
		{"every recipient refused during the stop's grace", allRefused, true, SubmissionCut},
		{"hang-up", io.EOF, false, SubmissionFailed},
		{"the stop's close before the data went out", io.EOF, true, SubmissionCut},
		{"no reply after the data", unanswered, false, SubmissionUnanswered},
		{"no reply after the data through the stop's grace", unanswered, true, SubmissionUnanswered},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.stopped {
				cancel()
			}
			if got := submissionOutcome(ctx, tt.err); got != tt.want {
				t.Errorf("outcome %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRunCountsSubmissionsTheStopCut: a run of stallScenario on the
// embedded server (a run shorter than a submission's deadline) whose
// submission a fault proxy stalls for good, at a command before the data
// or at the reply to the data, so that the end of the active phase cuts
// the submissions under way. Each is counted once, by how it ended: cut
// (the message did not leave) or unanswered (it may have), beside those
// sent before the stall; an unanswered one counts at the run's end
// (UnansweredAtEnd). Until 2026-12-04 a submission the run's end cut
// counted nowhere: neither a failed try nor an action given up (the
// person counts neither once the active phase has ended), nor sent; an
// unanswered one only in the audit's messages.submission_unknown, and
// not at all when its recipients were all outside the population.
func TestRunCountsSubmissionsTheStopCut(t *testing.T) {
	for _, tt := range []struct {
		name string
		// stall arms the proxy's stall.
		stall func(p *faultproxy.Proxy) <-chan struct{}
		// unanswered: the stall holds the reply to the data.
		unanswered bool
	}{
		{"before the data", func(p *faultproxy.Proxy) <-chan struct{} { return p.StallOn([]byte("RCPT TO")) }, false},
		{"the reply to the data", func(p *faultproxy.Proxy) <-chan struct{} { return p.StallOnReply([]byte("OK: queued")) }, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan := mustPlan(t, stallScenario, scenarios.PlanOptions{})
			srv, ep := startEmbedded(t, plan)
			proxy, err := faultproxy.New(faultproxy.Options{Backend: ep.Submission.Addr})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { proxy.Close() })
			hit := tt.stall(proxy)
			ep.Submission.Addr = proxy.Addr()
			e, err := New(Options{Plan: plan, Endpoints: ep, Truth: storeTruth{srv}})
			if err != nil {
				t.Fatal(err)
			}
			r := waitRun(t, runAsync(context.Background(), e))
			select {
			case <-hit:
			default:
				t.Fatal("the proxy never stalled: the test did not stall where intended")
			}
			s := r.res.Submissions
			t.Logf("submissions %+v; sent %d, actions failed %d, given up %d; the proxy accepted %d connections",
				s, r.res.Sent, r.res.ActionErrors, r.res.ActionsDropped, proxy.Stats().Accepted)
			// Every submission dials the proxy once (one whose run had
			// ended before its dial would not).
			if accepted := int64(proxy.Stats().Accepted); s.Started() < accepted || accepted == 0 {
				t.Errorf("submissions %+v: %d started, the proxy accepted %d connections", s, s.Started(), accepted)
			}
			if s.Sent != r.res.Sent {
				t.Errorf("submissions %+v: %d sent, the run's sent mail %d", s, s.Sent, r.res.Sent)
			}
			if s.Cut == 0 && !tt.unanswered {
				t.Errorf("submissions %+v (actions failed %d, given up %d): none cut, though the stall held one until the end",
					s, r.res.ActionErrors, r.res.ActionsDropped)
			}
			if tt.unanswered && s.Unanswered == 0 {
				t.Errorf("submissions %+v (actions failed %d, given up %d): none unanswered, though the stall held a reply to the data until the end",
					s, r.res.ActionErrors, r.res.ActionsDropped)
			}
			// The run is shorter than a submission's deadline: every
			// unanswered one still waited for its reply at the end.
			if s.UnansweredAtEnd != s.Unanswered {
				t.Errorf("submissions %+v: %d unanswered at the run's end, want all %d", s, s.UnansweredAtEnd, s.Unanswered)
			}
			if !tt.unanswered && s.Unanswered != 0 {
				t.Errorf("submissions %+v: unanswered, though no message data went out during the stall", s)
			}
		})
	}
}
