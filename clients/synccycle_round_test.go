package clients

import (
	"context"
	"sync"
	"testing"
	"time"
)

// roundLog collects OnSyncRound calls.
type roundLog struct {
	mu    sync.Mutex
	walls []time.Duration
}

func (r *roundLog) on(wall time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.walls = append(r.walls, wall)
}

// wait waits until n rounds were reported (a liveness bound, not a timing
// assertion) and returns them.
func (r *roundLog) wait(t *testing.T, n int) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r.mu.Lock()
		got := append([]time.Duration(nil), r.walls...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sync rounds reported, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSyncRoundsReported: every kind of device reports each scheduled
// sync round of its loop, with the wall time it took, to OnSyncRound.
func TestSyncRoundsReported(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		t.Run("imap "+string(kind), func(t *testing.T) {
			env := newIMAPEnv(t)
			var log roundLog
			o := env.options(kind, nil, func(p *Profile) { p.StatusInterval = time.Minute })
			o.OnSyncRound = log.on
			startDevice(t, o)
			for i, w := range log.wait(t, 2) {
				if w <= 0 {
					t.Errorf("round %d took %v", i, w)
				}
			}
		})
	}
	t.Run("pop3", func(t *testing.T) {
		f := newPOP3Fixture(t, KindPC, func(p *Profile) { p.PollInterval = time.Minute })
		var log roundLog
		f.dev.o.OnSyncRound = log.on
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- f.dev.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		for i, w := range log.wait(t, 2) {
			if w <= 0 {
				t.Errorf("round %d took %v", i, w)
			}
		}
	})
}
