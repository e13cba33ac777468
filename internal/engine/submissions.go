package engine

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/mailsim/mailsim/clients"
)

// SubmissionStats counts the devices' submissions of a run (one per call
// of a device's Submitter: a send, reply or forward tried once) by how
// they ended (SubmissionOutcomes). Every submission started ends one way,
// so Started = Sent + Failed + Unanswered + Cut (docs/report.md,
// "Submissions").
type SubmissionStats struct {
	// Sent: the server took the message (Result.Sent).
	Sent int64
	// Failed: it failed while the active phase went on.
	Failed int64
	// Unanswered: the message data went out whole and no reply came (the
	// server may have taken it).
	Unanswered int64
	// UnansweredAtEnd: of Unanswered, those whose device still waited for
	// the reply, within its deadline, when the run's end came (and closed
	// the connection after the stop's grace): no failure of the server's
	// shown yet.
	UnansweredAtEnd int64
	// Cut: the run's end came first and the message did not leave.
	Cut int64
}

// Started returns the number of submissions started.
func (s SubmissionStats) Started() int64 { return s.Sent + s.Failed + s.Unanswered + s.Cut }

// submissionCounts are the run's counters of SubmissionStats.
type submissionCounts struct {
	sent, failed, unanswered, unansweredAtEnd, cut atomic.Int64
}

// count counts one submission that ended with outcome (a Submission*
// constant; anything else counts as failed), atEnd when the run's end
// had come by then (an unanswered one counts in UnansweredAtEnd too).
func (c *submissionCounts) count(outcome string, atEnd bool) {
	switch outcome {
	case SubmissionSent:
		c.sent.Add(1)
	case SubmissionUnanswered:
		// unanswered first: stats loads unansweredAtEnd first, so that
		// a reader between the two never sees more at the end than
		// unanswered.
		c.unanswered.Add(1)
		if atEnd {
			c.unansweredAtEnd.Add(1)
		}
	case SubmissionCut:
		c.cut.Add(1)
	default:
		c.failed.Add(1)
	}
}

// stats returns the counts so far.
func (c *submissionCounts) stats() SubmissionStats {
	// unansweredAtEnd is loaded first: it never exceeds Unanswered.
	atEnd := c.unansweredAtEnd.Load()
	return SubmissionStats{Sent: c.sent.Load(), Failed: c.failed.Load(), Unanswered: c.unanswered.Load(),
		UnansweredAtEnd: atEnd, Cut: c.cut.Load()}
}

// submissionOutcome says how a submission on ctx that returned err ended:
// sent (nil, or some recipients refused and the others sent the message:
// a *clients.RecipientsError with some accepted), unanswered
// (clients.ErrUnanswered, whether or not the run's end closed the
// connection: SubmissionStats.UnansweredAtEnd tells), cut when ctx had
// ended by then (the person counts no
// failed try then: person.doOn), failed otherwise.
func submissionOutcome(ctx context.Context, err error) string {
	var re *clients.RecipientsError
	switch {
	case err == nil, errors.As(err, &re) && re.Accepted > 0:
		return SubmissionSent
	case errors.Is(err, clients.ErrUnanswered):
		return SubmissionUnanswered
	case ctx.Err() != nil:
		return SubmissionCut
	}
	return SubmissionFailed
}
