package cost

import (
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// countRecorder counts what reaches it.
type countRecorder struct {
	mu                                         sync.Mutex
	commands, bytes, conns, logins, closedIdle int
}

func (r *countRecorder) Command(clients.CommandEvent)    { r.mu.Lock(); r.commands++; r.mu.Unlock() }
func (r *countRecorder) Bytes(string, int64, int64)      { r.mu.Lock(); r.bytes++; r.mu.Unlock() }
func (r *countRecorder) Connection(string, int)          { r.mu.Lock(); r.conns++; r.mu.Unlock() }
func (r *countRecorder) Login(string, transport.Outcome) { r.mu.Lock(); r.logins++; r.mu.Unlock() }
func (r *countRecorder) ClosedIdle(string)               { r.mu.Lock(); r.closedIdle++; r.mu.Unlock() }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestMeterConnectionSeconds(t *testing.T) {
	// Each step applies a connection change after advancing the clock.
	type step struct {
		after time.Duration
		proto string
		delta int
	}
	tests := []struct {
		name     string
		steps    []step
		end      time.Duration // clock advance before Totals
		wantSec  map[string]float64
		wantPeak int
		wantOpen int
	}{
		{
			name:     "one connection held 10s",
			steps:    []step{{0, "imap", +1}, {10 * time.Second, "imap", -1}},
			wantSec:  map[string]float64{"imap": 10},
			wantPeak: 1,
		},
		{
			name: "two overlapping, counted while still open",
			steps: []step{
				{0, "imap", +1}, {5 * time.Second, "imap", +1}, {5 * time.Second, "pop3", +1},
				{2 * time.Second, "pop3", -1},
			},
			end:      3 * time.Second,
			wantSec:  map[string]float64{"imap": 5 + 2*5 + 2*2 + 2*3, "pop3": 2},
			wantPeak: 3,
			wantOpen: 2,
		},
		{
			name:    "nothing open, nothing counted",
			steps:   []step{{time.Minute, "imap", +1}, {0, "imap", -1}},
			end:     time.Hour,
			wantSec: map[string]float64{"imap": 0}, wantPeak: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)}
			next := &countRecorder{}
			m := NewMeter("g", next, clk.now)
			for _, s := range tc.steps {
				clk.add(s.after)
				m.Connection(s.proto, s.delta)
			}
			clk.add(tc.end)
			got := m.Totals()
			for proto, want := range tc.wantSec {
				if sec := got.Protocols[proto].ConnectionSeconds; sec != want {
					t.Errorf("%s connection seconds = %v, want %v", proto, sec, want)
				}
			}
			if got.PeakConnections != tc.wantPeak || got.OpenConnections != tc.wantOpen {
				t.Errorf("peak %d open %d, want %d %d", got.PeakConnections, got.OpenConnections, tc.wantPeak, tc.wantOpen)
			}
			if next.conns != len(tc.steps) {
				t.Errorf("forwarded %d connection events, want %d", next.conns, len(tc.steps))
			}
		})
	}
}

// TestMeterCountsAndForwards: the meter counts every command and login,
// and as failures those the server failed: a drop by the simulated
// network (outcome dropped) is none, for a command or a login. A dropped
// login counted in LoginFails before.
func TestMeterCountsAndForwards(t *testing.T) {
	next := &countRecorder{}
	m := NewMeter("office", next, nil)
	m.Command(clients.CommandEvent{Protocol: "imap", Command: "NOOP", Outcome: transport.OutcomeOK})
	m.Command(clients.CommandEvent{Protocol: "imap", Command: "NOOP", Outcome: transport.OutcomeTimeout})
	m.Command(clients.CommandEvent{Protocol: "imap", Command: "IDLE", Outcome: transport.OutcomeDropped})
	m.Command(clients.CommandEvent{Protocol: "smtp", Command: "DATA", Outcome: transport.OutcomeOK})
	m.Command(clients.CommandEvent{Protocol: "gopher", Command: "X", Outcome: transport.OutcomeOK})
	m.Bytes("pop3", 100, 7)
	m.Login("pop3", transport.OutcomeOK)
	m.Login("pop3", transport.OutcomeAuth)
	m.Login("pop3", transport.OutcomeDropped)
	m.ClosedIdle("imap")
	m.Delivered()
	m.Delivered()
	got := m.Totals()
	want := map[string]ProtocolTotals{
		"imap": {Commands: 3, Errors: 1},
		"smtp": {Commands: 1},
		"pop3": {BytesIn: 100, BytesOut: 7, Logins: 3, LoginFails: 1},
	}
	if len(got.Protocols) != len(want) {
		t.Errorf("protocols %v, want %v", got.Protocols, want)
	}
	for p, w := range want {
		if got.Protocols[p] != w {
			t.Errorf("%s = %+v, want %+v", p, got.Protocols[p], w)
		}
	}
	if got.Deliveries != 2 || got.Group != "office" {
		t.Errorf("deliveries %d group %q", got.Deliveries, got.Group)
	}
	if next.commands != 5 || next.bytes != 1 || next.logins != 3 || next.closedIdle != 1 {
		t.Errorf("forwarded %+v", next)
	}
}

func TestMetersByGroup(t *testing.T) {
	ms := NewMeters([]string{"b", "a", "b"}, nil, nil)
	if ms.Group("a") == nil || ms.Group("b") == nil || ms.Group("c") != nil {
		t.Fatal("groups not as named")
	}
	ms.Group("b").Delivered()
	tot := ms.Totals()
	if len(tot) != 2 || tot[0].Group != "a" || tot[1].Group != "b" || tot[1].Deliveries != 1 {
		t.Errorf("totals %+v", tot)
	}
	var nilMeters *Meters
	if nilMeters.Group("a") != nil || nilMeters.Totals() != nil {
		t.Error("nil meters are not empty")
	}
}

func TestMeterConcurrent(t *testing.T) {
	m := NewMeter("g", nil, nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				m.Connection("imap", +1)
				m.Command(clients.CommandEvent{Protocol: "imap", Outcome: transport.OutcomeOK})
				m.Connection("imap", -1)
			}
		}()
	}
	wg.Wait()
	got := m.Totals()
	if got.Protocols["imap"].Commands != 8000 || got.OpenConnections != 0 || got.PeakConnections < 1 || got.PeakConnections > 8 {
		t.Errorf("totals %+v", got)
	}
}
