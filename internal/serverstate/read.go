package serverstate

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/backoff"
	"github.com/mailsim/mailsim/internal/view"
)

// Workers is how many users' server state ReadAll reads at once.
const Workers = 8

// Attempts is how often ReadAll tries to read one user's server state.
const Attempts = 3

// attemptBackoff is the wait before the second attempt; it doubles
// (internal/backoff).
const attemptBackoff = 500 * time.Millisecond

// AttemptTimeout bounds one attempt at reading one user's state, so that a
// server that stops answering costs a bounded share of the final audit's
// budget.
const AttemptTimeout = 20 * time.Second

// GiveUp is how many users in a row may fail every attempt before ReadAll
// stops: the server is gone (or out of ports), and waiting out the retries
// of thousands of users would only delay the report.
const GiveUp = 3

// ReadAll reads the server state of every user from src in parallel
// (Workers at once: a real server answers one IMAP session per user),
// trying each user up to Attempts times, each within AttemptTimeout, so the
// final audit neither waits for thousands of sequential logins nor fails
// on one dropped connection; it stops after GiveUp users in a row failed.
// It returns what it could read by the time ctx ends, with the first error
// when some user's state was not read.
func ReadAll(parent context.Context, src audit.Truth, users []string) (Snapshots, error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	out := make(Snapshots, len(users))
	var mu sync.Mutex
	var firstErr error
	failedInRow := 0
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				s, err := readUser(ctx, src, name)
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
					if failedInRow++; failedInRow >= GiveUp {
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
	for _, name := range users {
		select {
		case jobs <- name:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if len(out) == len(users) {
		return out, nil
	}
	if err := parent.Err(); err != nil && firstErr != nil {
		// Out of budget or aborted: say so, whatever the first failure.
		return out, fmt.Errorf("server state of %d of %d users read: %w (first failure: %w)", len(out), len(users), err, firstErr)
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return out, fmt.Errorf("server state of %d of %d users read: %w", len(out), len(users), firstErr)
}

// readUser reads one user's state, retrying while ctx lasts.
func readUser(ctx context.Context, src audit.Truth, user string) (view.Snapshot, error) {
	var s view.Snapshot
	err := backoff.Retry(ctx, backoff.Options{Base: attemptBackoff, Tries: Attempts}, nil,
		func(error) bool { return ctx.Err() == nil },
		func() error {
			actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
			defer cancel()
			var err error
			s, err = src.UserState(actx, user)
			return err
		})
	if err != nil {
		return view.Snapshot{}, fmt.Errorf("server state of %s: %w", user, err)
	}
	return s, nil
}

// Snapshots is the server's state read once, by user: what the final
// audit compares the devices with.
type Snapshots map[string]view.Snapshot

// UserState implements audit.Truth.
func (c Snapshots) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	s, ok := c[user]
	if !ok {
		return view.Snapshot{}, fmt.Errorf("no server state read for %s", user)
	}
	return s, nil
}

// The final audit's budget: Budget(users) = budgetBase + budgetPerBatch ×
// ⌈users / Workers⌉, at most budgetMax. The base lets one user's read use
// all its attempts; each batch of users read in parallel adds a little.
// docs/report.md documents the formula.
const (
	budgetBase     = Attempts*AttemptTimeout + 5*time.Second
	budgetPerBatch = 2 * time.Second
	budgetMax      = 10 * time.Minute
)

// Budget is the wall time ReadAll should be given to read the server's
// state of users users.
func Budget(users int) time.Duration {
	batches := (max(users, 0) + Workers - 1) / Workers
	return min(budgetBase+time.Duration(batches)*budgetPerBatch, budgetMax)
}
