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
// one that was empty.
func TestPCReportsPush(t *testing.T) {
	for _, tc := range []struct {
		name  string
		early bool
	}{{"inbox with mail", true}, {"empty inbox", false}} {
		t.Run(tc.name, func(t *testing.T) { testPCReportsPush(t, tc.early) })
	}
}

func testPCReportsPush(t *testing.T, withEarly bool) {
	env := newIMAPEnv(t)
	early := ""
	if withEarly {
		early = env.deliver(t, 1000)
	}
	var log pushLog
	o := env.options(KindPC, nil, nil)
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
