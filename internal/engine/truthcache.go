package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/backoff"
	"github.com/mailsim/mailsim/internal/view"
)

// truthWorkers is how many users' server state is read at once at the end.
const truthWorkers = 8

// truthAttempts is how often reading one user's server state is tried.
const truthAttempts = 3

// truthBackoff is the wait before the second attempt; it doubles
// (internal/backoff).
const truthBackoff = 500 * time.Millisecond

// truthAttemptTimeout bounds one attempt at reading one user's state, so
// that a server that stops answering costs a bounded share of the final
// audit's budget.
const truthAttemptTimeout = 20 * time.Second

// truthGiveUp is how many users in a row may fail every attempt before the
// read stops: the server is gone (or out of ports), and waiting out the
// retries of thousands of users would only delay the report.
const truthGiveUp = 3

// readTruth reads the server state of every user in parallel (a real server
// answers one IMAP session per user), retrying transient failures, so the
// final audit neither waits for thousands of sequential logins nor fails on
// one dropped connection. It returns what it could read by the time ctx
// ends, with the first error when some user's state was not read.
func (e *Engine) readTruth(parent context.Context) (cachedTruth, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	out := make(cachedTruth, len(e.users))
	var mu sync.Mutex
	var firstErr error
	failedInRow := 0
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range truthWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				s, err := e.readUserTruth(ctx, name)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					if failedInRow++; failedInRow >= truthGiveUp {
						cancel()
					}
				} else {
					failedInRow = 0
					out[name] = s
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, u := range e.users {
		select {
		case jobs <- u.plan.Username:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if len(out) == len(e.users) {
		return out, nil
	}
	if err := parent.Err(); err != nil && firstErr != nil {
		// Out of budget or aborted: say so, whatever the first failure.
		return out, fmt.Errorf("server state of %d of %d users read: %w (first failure: %w)", len(out), len(e.users), err, firstErr)
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return out, fmt.Errorf("server state of %d of %d users read: %w", len(out), len(e.users), firstErr)
}

func (e *Engine) readUserTruth(ctx context.Context, user string) (view.Snapshot, error) {
	var s view.Snapshot
	err := backoff.Retry(ctx, backoff.Options{Base: truthBackoff, Tries: truthAttempts}, nil,
		func(error) bool { return ctx.Err() == nil },
		func() error {
			actx, cancel := context.WithTimeout(ctx, truthAttemptTimeout)
			defer cancel()
			var err error
			s, err = e.o.Truth.UserState(actx, user)
			return err
		})
	if err != nil {
		return view.Snapshot{}, fmt.Errorf("server state of %s: %w", user, err)
	}
	return s, nil
}

// cachedTruth is the server's state read once, for the final audit.
type cachedTruth map[string]view.Snapshot

// UserState implements audit.Truth.
func (c cachedTruth) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	s, ok := c[user]
	if !ok {
		return view.Snapshot{}, fmt.Errorf("no server state read for %s", user)
	}
	return s, nil
}
