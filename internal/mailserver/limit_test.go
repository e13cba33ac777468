package mailserver

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// virtualClock is an injectable clock that only moves when told.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newVirtualClock() *virtualClock { return &virtualClock{t: time.Unix(1_000_000, 0)} }

func (c *virtualClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *virtualClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestNewLimiterOff(t *testing.T) {
	for _, rate := range []float64{0, -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if l := newLimiter(rate, nil); l != nil {
			t.Errorf("newLimiter(%v) = %+v, want nil (no limit)", rate, l)
		}
	}
	var l *limiter
	if err := l.wait(nil, nil); err != nil {
		t.Errorf("nil limiter wait: %v", err)
	}
	if s := l.stats(); s != (LimiterStats{}) {
		t.Errorf("nil limiter stats = %+v", s)
	}
}

// TestLimiterVirtualTime runs K back-to-back commands through the bucket
// on a virtual clock: the first burst pass at once, each further one waits
// 1/rate behind the one before, so the run takes (K-burst)/rate.
func TestLimiterVirtualTime(t *testing.T) {
	tests := []struct {
		rate  float64
		burst int
		k     int
	}{
		{rate: 1, burst: 1, k: 5},
		{rate: 0.5, burst: 1, k: 4},
		{rate: 10, burst: 10, k: 35},
		{rate: 200, burst: 200, k: 1000},
		{rate: 2.5, burst: 2, k: 12},
	}
	for _, tt := range tests {
		clock := newVirtualClock()
		l := newLimiter(tt.rate, clock.now)
		start := clock.now()
		immediate := 0
		for i := 0; i < tt.k; i++ {
			d := l.reserve(clock.now())
			if d == 0 {
				immediate++
			}
			clock.advance(d)
		}
		if immediate != tt.burst {
			t.Errorf("rate %v: %d commands passed at once, want the burst %d", tt.rate, immediate, tt.burst)
		}
		got := clock.now().Sub(start)
		want := time.Duration(float64(tt.k-tt.burst) / tt.rate * float64(time.Second))
		if diff := got - want; diff < 0 || diff > time.Duration(tt.k) {
			t.Errorf("rate %v: %d commands took %v of virtual time, want %v", tt.rate, tt.k, got, want)
		}
	}
}

// TestLimiterQueue reserves many tokens at one instant: the waits form a
// queue, each 1/rate after the one before, and a quiet second refills the
// bucket to one burst, no more.
func TestLimiterQueue(t *testing.T) {
	clock := newVirtualClock()
	l := newLimiter(4, clock.now)
	var got []time.Duration
	for i := 0; i < 7; i++ {
		got = append(got, l.reserve(clock.now()))
	}
	want := []time.Duration{0, 0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits = %v, want %v", got, want)
		}
	}
	clock.advance(time.Hour) // queue served, bucket refilled to the burst only
	for i := 0; i < 4; i++ {
		if d := l.reserve(clock.now()); d != 0 {
			t.Fatalf("after a quiet hour, command %d waits %v", i, d)
		}
	}
	if d := l.reserve(clock.now()); d != 250*time.Millisecond {
		t.Fatalf("command past the burst waits %v, want 250ms", d)
	}
}

// TestLimiterWaitCounters lets burst+3 commands through a frozen clock:
// three of them wait, for 1, 2 and 3 intervals.
func TestLimiterWaitCounters(t *testing.T) {
	clock := newVirtualClock()
	l := newLimiter(100, clock.now)
	for i := 0; i < 103; i++ {
		if err := l.wait(nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := LimiterStats{Granted: 103, Waited: 3, WaitTime: 60 * time.Millisecond}
	if s := l.stats(); s != want {
		t.Errorf("stats = %+v, want %+v", s, want)
	}
}

// TestLimiterWaitEnds checks that closing the connection's or the server's
// channel ends waits at once and gives their tokens back.
func TestLimiterWaitEnds(t *testing.T) {
	for _, which := range []string{"connection", "server"} {
		t.Run(which, func(t *testing.T) {
			clock := newVirtualClock()
			l := newLimiter(1, clock.now) // one token; the clock is frozen, so no other comes
			if err := l.wait(nil, nil); err != nil {
				t.Fatal(err)
			}
			ch := make(chan struct{})
			const n = 8
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				go func() {
					if which == "connection" {
						errs <- l.wait(nil, ch)
					} else {
						errs <- l.wait(ch, nil)
					}
				}()
			}
			waitReserved(t, l, n)
			close(ch)
			for i := 0; i < n; i++ {
				if err := <-errs; !errors.Is(err, errLimitClosed) {
					t.Fatalf("wait = %v, want errLimitClosed", err)
				}
			}
			if s := l.stats(); s != (LimiterStats{Granted: 1, Cancelled: n}) {
				t.Errorf("stats = %+v", s)
			}
			if d := l.reserve(clock.now()); d != time.Second {
				t.Errorf("after the cancelled waits, the next command waits %v, want 1s (tokens given back)", d)
			}
		})
	}
}

// waitReserved waits (boundedly) until n tokens are reserved ahead.
func waitReserved(t *testing.T, l *limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		tokens := l.tokens
		l.mu.Unlock()
		if tokens <= -float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v tokens reserved ahead, want %d", -tokens, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLimiterConcurrent shares one bucket between many goroutines (run it
// with -race): every command is granted exactly once.
func TestLimiterConcurrent(t *testing.T) {
	l := newLimiter(1000, nil)
	const workers, each = 40, 40
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if err := l.wait(nil, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := l.stats()
	if s.Granted != workers*each || s.Cancelled != 0 || s.Waited > s.Granted {
		t.Errorf("stats = %+v, want %d granted, none cancelled", s, workers*each)
	}
}
