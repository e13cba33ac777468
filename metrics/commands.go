package metrics

import (
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// commandTable records commands into a counter vector (by protocol, command,
// outcome), a histogram vector (by protocol, command) and the fine-grained
// logHists behind Stats. Children and logHists are created on first use and
// cached in fixed arrays indexed by the normalised labels, so that the hot
// path does no map lookup in the vectors and no allocation.
type commandTable struct {
	counters  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	perProto  [numProtocols][]commandSlot
	// names caches the table index of the command names seen, per
	// protocol, by the address of their bytes (see commandIndex).
	names [numProtocols][nameCacheSize]atomic.Pointer[cachedName]
}

// nameCacheSize is the number of slots of a commandTable's name cache per
// protocol, a power of two: ample for the command names of [commandNames],
// which the callers pass as string constants. A name is looked for in at
// most nameCacheProbes consecutive slots from the one its address selects.
const (
	nameCacheBits   = 9
	nameCacheSize   = 1 << nameCacheBits
	nameCacheProbes = 8
)

// cachedName is one entry of the name cache: a command name as a caller
// passed it, and its table index.
type cachedName struct {
	name string
	idx  int
}

// commandSlot holds the cached children of one (protocol, command).
type commandSlot struct {
	hist     atomic.Pointer[logHist]
	observer atomic.Pointer[observerBox]
	counters [numOutcomes]atomic.Pointer[counterBox]
}

type counterBox struct{ c prometheus.Counter }
type observerBox struct{ o prometheus.Observer }

// newCommandTable returns a table over the given vectors.
func newCommandTable(counters *prometheus.CounterVec, durations *prometheus.HistogramVec) *commandTable {
	t := &commandTable{counters: counters, durations: durations}
	for p := range t.perProto {
		t.perProto[p] = make([]commandSlot, len(commandNames[p]))
	}
	return t
}

// record counts one command.
func (t *commandTable) record(protocol, command, outcome string, d time.Duration) {
	p := protocolIndex(protocol)
	c := t.commandIndex(p, command)
	o := outcomeIndex(outcome)
	slot := &t.perProto[p][c]

	cb := slot.counters[o].Load()
	if cb == nil {
		cb = &counterBox{t.counters.WithLabelValues(protocolNames[p], commandNames[p][c], outcomeNames[o])}
		if !slot.counters[o].CompareAndSwap(nil, cb) {
			cb = slot.counters[o].Load()
		}
	}
	cb.c.Inc()

	ob := slot.observer.Load()
	if ob == nil {
		ob = &observerBox{t.durations.WithLabelValues(protocolNames[p], commandNames[p][c])}
		if !slot.observer.CompareAndSwap(nil, ob) {
			ob = slot.observer.Load()
		}
	}
	ob.o.Observe(d.Seconds())

	h := slot.hist.Load()
	if h == nil {
		h = new(logHist)
		if !slot.hist.CompareAndSwap(nil, h) {
			h = slot.hist.Load()
		}
	}
	h.observe(d, o)
}

// totals returns the commands of protocol p recorded so far, those that
// failed and those the simulated network dropped (CommandStats.Errors,
// Dropped): the sums of its commands' logHists (no counters of their own,
// which every command of every connection would update on one cache
// line).
func (t *commandTable) totals(p int) (commands, errors, dropped uint64) {
	for c := range t.perProto[p] {
		if h := t.perProto[p][c].hist.Load(); h != nil {
			commands += h.count.Load()
			errors += h.errors.Load()
			dropped += h.dropped.Load()
		}
	}
	return commands, errors, dropped
}

// commandIndex returns cmdIndex(p, c) without its map lookup for a name
// seen before: the callers pass command names as string constants
// (clients/imap_session.go, internal/engine/injector.go) or the stored
// strings of the embedded server's command sets
// (internal/mailserver/recorder.go, canonicalNames), whose bytes sit at
// one address for the whole run, so the cache finds a name by that
// address and length alone (no hashing of its bytes, no comparison of
// them). Two strings with the same address and length are the same bytes;
// an entry holds its string, so the address cannot be reused for another
// name while it is cached. An entry is only ever added to an empty slot: a
// name built at run time (a new address each time) fills one slot, and once
// nameCacheSize are full costs nameCacheProbes probes and the map lookup.
func (t *commandTable) commandIndex(p int, c string) int {
	if len(c) == 0 {
		return cmdIndex(p, c)
	}
	addr := uintptr(unsafe.Pointer(unsafe.StringData(c)))
	// Fibonacci hashing of the address: its top bits select the slot.
	h := uint64(addr)*0x9e3779b97f4a7c15 + uint64(len(c))
	i := uint(h >> (64 - nameCacheBits))
	for range nameCacheProbes {
		slot := &t.names[p][i%nameCacheSize]
		e := slot.Load()
		if e == nil {
			idx := cmdIndex(p, c)
			slot.CompareAndSwap(nil, &cachedName{name: c, idx: idx})
			return idx
		}
		if unsafe.StringData(e.name) == unsafe.StringData(c) && len(e.name) == len(c) {
			return e.idx
		}
		i++
	}
	return cmdIndex(p, c)
}

// stats returns protocol → command → CommandStats for every command seen.
func (t *commandTable) stats() map[string]map[string]CommandStats {
	out := make(map[string]map[string]CommandStats)
	for p := range t.perProto {
		for c := range t.perProto[p] {
			h := t.perProto[p][c].hist.Load()
			if h == nil {
				continue
			}
			m := out[protocolNames[p]]
			if m == nil {
				m = make(map[string]CommandStats)
				out[protocolNames[p]] = m
			}
			m[commandNames[p][c]] = h.stats()
		}
	}
	return out
}

// CommandBuckets returns the classic histogram buckets of command latencies,
// in seconds: 100 µs to 30 s.
func CommandBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
		0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
}

// QueueWaitBuckets returns the classic histogram buckets of the injector's
// queue waits, in wall seconds: 1 ms (a connection was free) to a minute
// (settle's drain gives up there, docs/report.md "The queue").
func QueueWaitBuckets() []float64 {
	return []float64{0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// ConvergenceBuckets returns the classic histogram buckets of convergence
// lag, in simulated seconds: one second to a week.
func ConvergenceBuckets() []float64 {
	return []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400,
		28800, 86400, 172800, 604800}
}

// newCommandVecs returns the command counter and duration vectors of a
// subsystem ("client" or "server").
func newCommandVecs(subsystem, who string) (*prometheus.CounterVec, *prometheus.HistogramVec) {
	counters := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "mailsim",
		Subsystem: subsystem,
		Name:      "commands_total",
		Help:      "Protocol commands " + who + ", by protocol, command (unknown commands as \"other\") and outcome (ok, no, bad, error, refused, timeout, tls, dropped: docs/report.md, Outcomes).",
	}, []string{"protocol", "command", "outcome"})
	// Classic buckets only: native histograms would allocate on the hot
	// path (their sparse buckets live in a sync.Map keyed by int).
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "mailsim",
		Subsystem: subsystem,
		Name:      "command_duration_seconds",
		Help:      "Latency of protocol commands " + who + ", in seconds, by protocol and command.",
		Buckets:   CommandBuckets(),
	}, []string{"protocol", "command"})
	return counters, durations
}

// register registers cs on reg, unless reg is nil.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) {
	if reg == nil {
		return
	}
	for _, c := range cs {
		reg.MustRegister(c)
	}
}
