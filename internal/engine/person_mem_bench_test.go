package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/scenarios"
)

// BenchmarkPersonMemory measures what a person keeps per message it
// noticed: msgs INBOX messages on a fake device (their Message-IDs
// allocated before the first measurement: a user's interner holds them,
// internal/view/intern.go), one notice, then the live heap (HeapAlloc
// after two GCs) the person added, per message. "done": a behaviour that
// does nothing with new mail, so every message is finished at once (what
// a person keeps for the rest of the run); "pending": every message will
// be read after the action delay (what it keeps until it acts).
//
//	go test -run '^$' -bench PersonMemory -benchtime 1x ./internal/engine
func BenchmarkPersonMemory(b *testing.B) {
	const msgs = 5000
	inbox := make([]string, msgs)
	for i := range inbox {
		inbox[i] = fmt.Sprintf("<%016x.%016x@example.com>", i, i*7919)
	}
	for _, bc := range []struct {
		name string
		b    scenarios.Behavior
		want func(p *person) bool
	}{
		{"done", scenarios.Behavior{}, func(p *person) bool { return len(p.done) == msgs }},
		{"pending", scenarios.Behavior{OnNewMail: scenarios.OnNewMail{Read: 1}, ActionDelay: time.Hour},
			func(p *person) bool { return len(p.pending) == msgs }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dev := &fakeDevice{profile: clients.Profile{Name: "pc", Kind: clients.KindPC, Protocol: clients.IMAP}, inbox: inbox}
			for range b.N {
				m0 := heapNow()
				f := newFakePerson(bc.b, dev)
				f.p.notice(f.clock.now)
				if !bc.want(f.p) {
					b.Fatalf("done %d, pending %d of %d messages", len(f.p.done), len(f.p.pending), msgs)
				}
				m1 := heapNow()
				b.ReportMetric((float64(m1.HeapAlloc)-float64(m0.HeapAlloc))/msgs, "B/msg")
				runtime.KeepAlive(f)
			}
		})
	}
}

// heapNow returns the memory statistics after two GCs.
func heapNow() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms
}
