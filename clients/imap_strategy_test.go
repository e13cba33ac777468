package clients

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// TestStrategyChosenOnce checks that New gives each IMAP kind its own
// strategy with the kind's window, connections, sync interval and action
// choices, taken from the profile or its defaults.
func TestStrategyChosenOnce(t *testing.T) {
	tests := []struct {
		name        string
		p           Profile
		strategy    string
		window      int
		slots       int
		every       time.Duration
		bodyLimit   int64
		readsFirst  bool
		retryMaxCap time.Duration
	}{
		{"pc defaults", Profile{Kind: KindPC}, "*clients.pcSync", 0, DefaultPCConnections, DefaultPCPoll, 0, false, retryMax},
		{"pc polling", Profile{Kind: KindPC, PollInterval: time.Minute, Connections: 1}, "*clients.pcSync", 0, 1, time.Minute, 0, false, time.Minute},
		{"phone defaults", Profile{Kind: KindPhone}, "*clients.phoneSync", DefaultPhoneWindow, 1, DefaultPhonePoll, phoneBodyLimit, false, retryMax},
		{"phone window", Profile{Kind: KindPhone, Window: 7, PollInterval: 2 * time.Minute}, "*clients.phoneSync", 7, 1, 2 * time.Minute, phoneBodyLimit, false, 2 * time.Minute},
		{"webmail defaults", Profile{Kind: KindWebmail}, "*clients.webmailSync", DefaultPageSize, 0, DefaultRefresh, 0, true, DefaultRefresh},
		{"webmail page", Profile{Kind: KindWebmail, PageSize: 20, Refresh: 30 * time.Minute}, "*clients.webmailSync", 20, 0, 30 * time.Minute, 0, true, retryMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := validOptions()
			p := tt.p
			p.Name, p.Protocol = "x", IMAP
			o.Profile = &p
			dev, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			d := dev.(*imapDevice)
			if got := typeName(d.strategy); got != tt.strategy {
				t.Errorf("strategy %s, want %s", got, tt.strategy)
			}
			if d.window != tt.window || d.View().Window != tt.window {
				t.Errorf("window %d (view %d), want %d", d.window, d.View().Window, tt.window)
			}
			if len(d.slots) != tt.slots {
				t.Errorf("%d connection slots, want %d", len(d.slots), tt.slots)
			}
			if got := d.strategy.syncEvery(); got != tt.every {
				t.Errorf("sync every %v, want %v", got, tt.every)
			}
			if got := d.strategy.bodyLimit(); got != tt.bodyLimit {
				t.Errorf("body limit %d, want %d", got, tt.bodyLimit)
			}
			if got := d.strategy.readsBeforeTrash(); got != tt.readsFirst {
				t.Errorf("reads before trash %v, want %v", got, tt.readsFirst)
			}
			if got := d.retrier().opts.Max; got != tt.retryMaxCap {
				t.Errorf("retry cap %v, want %v", got, tt.retryMaxCap)
			}
		})
	}
}

func typeName(v any) string {
	switch v.(type) {
	case *pcSync:
		return "*clients.pcSync"
	case *phoneSync:
		return "*clients.phoneSync"
	case *webmailSync:
		return "*clients.webmailSync"
	}
	return "other"
}

// TestRetrierPolicy checks the device retry policy: doubling from
// retryBase, capped, jittered into [50%, 100%], reset by a success, the same
// waits from the same seed.
func TestRetrierPolicy(t *testing.T) {
	var mu sync.Mutex
	waits := func(seed uint64) []time.Duration {
		r := &retrier{opts: retryOptions(0), rng: lockedRand{&mu, rand.New(rand.NewPCG(seed, 1))}}
		var out []time.Duration
		for range 8 {
			out = append(out, r.opts.Delay(r.failures, r.rng))
			r.failures++
		}
		return out
	}
	a, b := waits(7), waits(7)
	step := retryBase
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("retry %d: %v and %v from the same seed", i, a[i], b[i])
		}
		if a[i] > step || a[i] < step/2 {
			t.Fatalf("retry %d: %v outside [%v, %v]", i, a[i], step/2, step)
		}
		step = min(2*step, retryMax)
	}
	r := &retrier{failures: 5}
	r.ok()
	if r.failures != 0 {
		t.Fatalf("ok left %d failures", r.failures)
	}
	if got := retryOptions(time.Minute).Max; got != time.Minute {
		t.Fatalf("cap with a 1-minute sync interval: %v", got)
	}
}
