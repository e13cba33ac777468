// Package cost measures what each group of simulated users costs the
// server: the commands, bytes, connection time and logins its devices
// cause, and the deliveries made to it. It is the other half of the
// POP3/IMAP trade-off (docs/report.md, "Cost per user"): divergence says
// how well a group's devices agree, cost says what that agreement takes.
//
// A [Meter] wraps the run's [clients.Recorder] for the devices of one group,
// so every event still reaches the metrics; the meter only adds atomic
// counters (and, for connections, a short critical section that integrates
// open connections over simulated time).
package cost

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// Protocols are the client protocols a meter tells apart, in a fixed order.
var Protocols = [...]string{clients.ProtocolIMAP, clients.ProtocolPOP3, clients.ProtocolSMTP, clients.ProtocolLMTP}

const numProtocols = len(Protocols)

// protoIndex maps a protocol name to its index; -1 for anything else
// (counted in the totals only).
func protoIndex(p string) int {
	for i, n := range Protocols {
		if n == p {
			return i
		}
	}
	return -1
}

// protoCounters are one protocol's counters of a group.
type protoCounters struct {
	commands, errors   atomic.Uint64
	bytesIn, bytesOut  atomic.Int64
	logins, loginFails atomic.Uint64
}

// Meter accumulates one group's cost. It implements clients.Recorder and
// forwards every event to the recorder it wraps. Safe for concurrent use.
type Meter struct {
	group string
	next  clients.Recorder
	now   func() time.Time

	proto      [numProtocols]protoCounters
	other      protoCounters
	deliveries atomic.Uint64

	mu sync.Mutex
	// open is the number of open connections per protocol; connSec the
	// integral of open connections over simulated time, in seconds, up to
	// last.
	open    [numProtocols]int
	total   int
	peak    int
	connSec [numProtocols]float64
	last    time.Time
}

// NewMeter returns a meter for group that forwards to next (nil discards)
// and integrates connection time on the clock now (the run's simulated
// clock, so that connection time is in simulated seconds).
func NewMeter(group string, next clients.Recorder, now func() time.Time) *Meter {
	if now == nil {
		now = time.Now
	}
	return &Meter{group: group, next: next, now: now}
}

// Group returns the meter's group name.
func (m *Meter) Group() string { return m.group }

func (m *Meter) counters(protocol string) *protoCounters {
	if i := protoIndex(protocol); i >= 0 {
		return &m.proto[i]
	}
	return &m.other
}

// Command implements clients.Recorder.
func (m *Meter) Command(ev clients.CommandEvent) {
	c := m.counters(ev.Protocol)
	c.commands.Add(1)
	if ev.Outcome != transport.OutcomeOK && ev.Outcome != transport.OutcomeDropped {
		// A drop is the simulated network's, not the server's failure
		// (metrics.CommandStats.Errors).
		c.errors.Add(1)
	}
	if m.next != nil {
		m.next.Command(ev)
	}
}

// CommandStarted implements clients.CommandTracker: it passes the start
// on when the next recorder tracks commands.
func (m *Meter) CommandStarted(protocol, command string, start time.Time) {
	if t, ok := m.next.(clients.CommandTracker); ok {
		t.CommandStarted(protocol, command, start)
	}
}

// CommandAbandoned implements clients.CommandTracker.
func (m *Meter) CommandAbandoned(protocol, command string, start time.Time) {
	if t, ok := m.next.(clients.CommandTracker); ok {
		t.CommandAbandoned(protocol, command, start)
	}
}

// ShapedWrite implements transport.ShapeMeter: it passes the write the
// network shaping held back on when the next recorder counts them.
func (m *Meter) ShapedWrite(protocol string, d time.Duration) {
	if s, ok := m.next.(transport.ShapeMeter); ok {
		s.ShapedWrite(protocol, d)
	}
}

// ClosedIdle implements clients.ClosedIdleRecorder: it passes the close
// on when the next recorder counts them.
func (m *Meter) ClosedIdle(protocol string) {
	if c, ok := m.next.(clients.ClosedIdleRecorder); ok {
		c.ClosedIdle(protocol)
	}
}

// Bytes implements clients.Recorder.
func (m *Meter) Bytes(protocol string, in, out int64) {
	c := m.counters(protocol)
	c.bytesIn.Add(in)
	c.bytesOut.Add(out)
	if m.next != nil {
		m.next.Bytes(protocol, in, out)
	}
}

// Connection implements clients.Recorder: it integrates the open
// connections over time before applying delta.
func (m *Meter) Connection(protocol string, delta int) {
	m.mu.Lock()
	m.advance(m.now())
	if i := protoIndex(protocol); i >= 0 {
		m.open[i] += delta
	}
	m.total += delta
	if m.total > m.peak {
		m.peak = m.total
	}
	m.mu.Unlock()
	if m.next != nil {
		m.next.Connection(protocol, delta)
	}
}

// advance adds the connection time since last. Called with mu held.
func (m *Meter) advance(now time.Time) {
	if !m.last.IsZero() {
		if dt := now.Sub(m.last).Seconds(); dt > 0 {
			for i, n := range m.open {
				if n > 0 {
					m.connSec[i] += float64(n) * dt
				}
			}
		}
	}
	if now.After(m.last) {
		m.last = now
	}
}

// Login implements clients.Recorder.
func (m *Meter) Login(protocol string, outcome transport.Outcome) {
	c := m.counters(protocol)
	c.logins.Add(1)
	if outcome != transport.OutcomeOK && outcome != transport.OutcomeDropped {
		// A drop is the simulated network's, not the server's failure,
		// as in Command (error_rate leaves dropped logins out,
		// report.Load.LoginsDropped).
		c.loginFails.Add(1)
	}
	if m.next != nil {
		m.next.Login(protocol, outcome)
	}
}

// Delivered counts one message the injector put in a mailbox of the group
// (one per recipient).
func (m *Meter) Delivered() { m.deliveries.Add(1) }

// ProtocolTotals are one protocol's figures of a group.
type ProtocolTotals struct {
	// Commands counts the commands, Errors those that failed (the
	// simulated network's drops left out, as metrics.CommandStats's).
	Commands, Errors  uint64
	BytesIn, BytesOut int64
	// ConnectionSeconds is the time connections were held open, summed
	// over connections, in simulated seconds.
	ConnectionSeconds float64
	// Logins counts the login attempts, LoginFails those that failed
	// (the simulated network's drops left out, as Errors leaves them).
	// Neither Errors nor LoginFails is printed: the report's cost
	// figures use Commands, Logins, bytes and connection time.
	Logins, LoginFails uint64
}

// Totals is a meter's state at one moment.
type Totals struct {
	Group string
	// Protocols holds the figures of each protocol that saw any activity.
	Protocols map[string]ProtocolTotals
	// Deliveries counts messages delivered to the group's mailboxes.
	Deliveries uint64
	// PeakConnections is the most connections the group's devices held
	// open at once.
	PeakConnections int
	// OpenConnections is the number open now.
	OpenConnections int
}

// Totals returns the figures so far, with connection time integrated up to
// now.
func (m *Meter) Totals() Totals {
	m.mu.Lock()
	m.advance(m.now())
	connSec := m.connSec
	peak, open := m.peak, m.total
	m.mu.Unlock()
	t := Totals{Group: m.group, Protocols: map[string]ProtocolTotals{}, Deliveries: m.deliveries.Load(),
		PeakConnections: peak, OpenConnections: open}
	for i, name := range Protocols {
		c := &m.proto[i]
		pt := ProtocolTotals{
			Commands: c.commands.Load(), Errors: c.errors.Load(),
			BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
			ConnectionSeconds: connSec[i],
			Logins:            c.logins.Load(), LoginFails: c.loginFails.Load(),
		}
		if pt != (ProtocolTotals{}) {
			t.Protocols[name] = pt
		}
	}
	return t
}

// Meters are the meters of a run, one per group.
type Meters struct {
	byGroup map[string]*Meter
}

// NewMeters returns a meter for each named group, all forwarding to next
// and integrating on now.
func NewMeters(groups []string, next clients.Recorder, now func() time.Time) *Meters {
	ms := &Meters{byGroup: make(map[string]*Meter, len(groups))}
	for _, g := range groups {
		if _, ok := ms.byGroup[g]; !ok {
			ms.byGroup[g] = NewMeter(g, next, now)
		}
	}
	return ms
}

// Group returns the meter of group g, nil for a group it does not know.
func (ms *Meters) Group(g string) *Meter {
	if ms == nil {
		return nil
	}
	return ms.byGroup[g]
}

// Totals returns every group's totals, sorted by group name.
func (ms *Meters) Totals() []Totals {
	if ms == nil {
		return nil
	}
	names := make([]string, 0, len(ms.byGroup))
	for g := range ms.byGroup {
		names = append(names, g)
	}
	sort.Strings(names)
	out := make([]Totals, 0, len(names))
	for _, g := range names {
		out = append(out, ms.byGroup[g].Totals())
	}
	return out
}
