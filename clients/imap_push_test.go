package clients

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// pushLog collects OnPush calls.
type pushLog struct {
	mu    sync.Mutex
	ids   []string
	times []time.Time
}

func (p *pushLog) on(ids []string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, ids...)
	for range ids {
		p.times = append(p.times, at)
	}
}

func (p *pushLog) has(id string) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.ids, id)
	if i < 0 {
		return time.Time{}, false
	}
	return p.times[i], true
}

// TestPCReportsPush: a PC IDLE-ing on INBOX reports the messages IDLE
// notifications brought, each with the time its notification arrived (after
// its delivery began); the messages of its first sync are no push.
// Messages are delivered one at a time (at most 10) until one arrives while
// the PC IDLEs; into an INBOX that held mail at the first sync, and into
// one that was empty. A phone with IDLE reports them too: it reported
// none, and a scenario whose only IDLE-ing devices were phones
// (mobile-heavy's push group) had no push latency and no warning of a
// server that polls for IDLE.
func TestPCReportsPush(t *testing.T) {
	for _, kind := range []Kind{KindPC, KindPhone} {
		for _, tc := range []struct {
			name  string
			early bool
		}{{"inbox with mail", true}, {"empty inbox", false}} {
			t.Run(string(kind)+"/"+tc.name, func(t *testing.T) { testPCReportsPush(t, kind, tc.early) })
		}
	}
}

func testPCReportsPush(t *testing.T, kind Kind, withEarly bool) {
	env := newIMAPEnv(t)
	early := ""
	if withEarly {
		early = env.deliver(t, 1000)
	}
	var log pushLog
	o := env.options(kind, nil, func(p *Profile) { p.Idle = true })
	o.OnPush = log.on
	d := startDevice(t, o)
	if withEarly {
		waitView(t, d, "the early message", hasAll(early))
	} else {
		waitView(t, d, "a first sync", func(v view.Snapshot) bool { return !v.Synced.IsZero() })
	}
	pushed := 0
	for i := 0; i < 10 && pushed == 0; i++ {
		began := time.Now()
		id := env.deliver(t, 1000)
		waitView(t, d, "the new message", hasAll(id))
		if at, ok := log.has(id); ok {
			pushed++
			if at.Before(began) {
				t.Errorf("notification of %s at %v, before its delivery began at %v", id, at, began)
			}
		}
	}
	if pushed == 0 {
		t.Fatalf("no delivery of 10 was reported as pushed (reported %v)", log.ids)
	}
	if _, ok := log.has(early); withEarly && ok {
		t.Errorf("the first sync's message %s was reported as a push", early)
	}
}
