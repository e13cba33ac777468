package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// truthWorkers is how many users' server state is read at once at the end.
const truthWorkers = 8

// truthAttempts is how often reading one user's server state is tried.
const truthAttempts = 3

// readTruth reads the server state of every user in parallel (a real server
// answers one IMAP session per user), retrying transient failures, so the
// final audit neither waits for thousands of sequential logins nor fails on
// one dropped connection.
func (e *Engine) readTruth(ctx context.Context) (cachedTruth, error) {
	out := make(cachedTruth, len(e.users))
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range truthWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range jobs {
				s, err := e.readUserTruth(ctx, name)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				out[name] = s
				mu.Unlock()
			}
		}()
	}
	for _, u := range e.users {
		if ctx.Err() != nil {
			break
		}
		jobs <- u.plan.Username
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return out, firstErr
}

func (e *Engine) readUserTruth(ctx context.Context, user string) (view.Snapshot, error) {
	var err error
	for attempt := range truthAttempts {
		var s view.Snapshot
		if s, err = e.o.Truth.UserState(ctx, user); err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			break
		}
		t := time.NewTimer(time.Duration(attempt+1) * 500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	return view.Snapshot{}, fmt.Errorf("server state of %s: %w", user, err)
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
