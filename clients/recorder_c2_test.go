package clients

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// c2Recorder keeps everything a device reports.
type c2Recorder struct {
	mu      sync.Mutex
	events  []CommandEvent
	in, out int64
	conns   map[string]int // open connections by protocol
	opened  int
	closed  int
	logins  []transport.Outcome
}

func (r *c2Recorder) Command(ev CommandEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *c2Recorder) Bytes(_ string, in, out int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.in += in
	r.out += out
}

func (r *c2Recorder) Connection(protocol string, delta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[string]int{}
	}
	r.conns[protocol] += delta
	if delta > 0 {
		r.opened++
	} else {
		r.closed++
	}
}

func (r *c2Recorder) Login(_ string, o transport.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logins = append(r.logins, o)
}

// take returns "CMD:outcome" for the events of protocol since the last call.
func (r *c2Recorder) take(protocol string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	var keep []CommandEvent
	for _, ev := range r.events {
		if ev.Protocol != protocol {
			keep = append(keep, ev)
			continue
		}
		out = append(out, ev.Command+":"+string(ev.Outcome))
	}
	r.events = keep
	return out
}

func (r *c2Recorder) open(protocol string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[protocol]
}

func c2Seq(s string) []string { return strings.Fields(s) }

// c2Clock runs simulated time 60× faster than the wall.
func c2Clock() *simclock.Clock {
	return simclock.New(60, time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC))
}

// c2WaitFor polls cond until it holds or 10 s pass.
func c2WaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
