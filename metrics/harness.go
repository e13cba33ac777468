package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DeviceCount is the number of active simulated devices of one profile.
type DeviceCount struct {
	// Profile is the device profile's name in the scenario.
	Profile string
	// Protocol is the profile's protocol, "imap" or "pop3".
	Protocol string
	// N is the number of devices of the profile active now.
	N int
}

// UnconvergedKey identifies a class of changes that have not reached every
// device of their user.
type UnconvergedKey struct {
	// Change is the change kind (deliver, read, reply, forward, flag, move,
	// delete, send).
	Change string
	// Reason says why, e.g. "pop3-local-only", "deleted-from-server",
	// "not-synced-yet", "server-unreadable" (internal/audit/reason.go
	// lists them all).
	Reason string
}

// Divergence is the auditor's current state, read at scrape time.
type Divergence struct {
	// ByDimension counts divergent messages by dimension (presence,
	// folder, flags), summed over users.
	ByDimension map[string]int
	// RatioByGroup is the divergence ratio (divergent / union of message
	// IDs) by user group.
	RatioByGroup map[string]float64
	// ConvergedByGroup is the share of users, by group, whose devices all
	// show the same mailbox now.
	ConvergedByGroup map[string]float64
	// Unconverged counts changes that have not reached every device.
	Unconverged map[UnconvergedKey]int
	// Lost counts delivered or sent messages that are on no device and not
	// on the server, and were not deleted by a simulated person. Only the
	// final audit, which reads the server's state, counts it: LostCounted
	// says it did, and mailsim_messages_lost is absent before (an unknown,
	// not a 0).
	Lost        int
	LostCounted bool
}

// HarnessOptions configure a [Harness]. Every function is called at scrape
// time, from the scraping goroutine, and must be safe for concurrent use;
// a nil function exports no series of its metrics.
type HarnessOptions struct {
	// Scenario and Shard label mailsim_run_info ("quickstart", "0/1").
	Scenario, Shard string
	// Elapsed returns the wall-clock time since the run started.
	Elapsed func() time.Duration
	// Devices returns the active simulated devices by profile.
	Devices func() []DeviceCount
	// Users returns the simulated users started so far, by group (the
	// denominator of per-user load on the Capacity dashboard).
	Users func() map[string]int
	// Divergence returns the auditor's current divergence state.
	Divergence func() Divergence
}

// maxReasons caps the distinct reason label values of
// mailsim_unconverged_changes; reasons beyond it count as "other".
const maxReasons = 16

// maxGroups caps the distinct group and device profile label values
// exported by a Harness.
const maxGroups = 64

// Harness exports the run-level and divergence metrics: mailsim_run_info,
// mailsim_run_elapsed_seconds, mailsim_devices, mailsim_divergent_messages,
// mailsim_divergence_ratio, mailsim_users_converged_ratio,
// mailsim_unconverged_changes and mailsim_messages_lost, read from the
// harness's own state at scrape time, and the mailsim_convergence_seconds
// histogram.
type Harness struct {
	o           HarnessOptions
	convergence *prometheus.HistogramVec
	lag         [9]prometheus.Observer // by index in ChangeKinds, then other

	mu      sync.Mutex
	reasons map[string]struct{}
}

var (
	runInfoDesc = prometheus.NewDesc("mailsim_run_info",
		"Always 1; labels name the scenario and the shard of this mailsim process.",
		[]string{"scenario", "shard"}, nil)
	runElapsedDesc = prometheus.NewDesc("mailsim_run_elapsed_seconds",
		"Wall-clock seconds since the run started.", nil, nil)
	devicesDesc = prometheus.NewDesc("mailsim_devices",
		"Active simulated devices, by device profile and protocol.",
		[]string{"device", "protocol"}, nil)
	usersDesc = prometheus.NewDesc("mailsim_users",
		"Simulated users started, by user group.",
		[]string{"group"}, nil)
	divergentDesc = prometheus.NewDesc("mailsim_divergent_messages",
		"Messages whose presence, folder or flags differ between a user's devices now, summed over users, by dimension.",
		[]string{"dimension"}, nil)
	divergenceRatioDesc = prometheus.NewDesc("mailsim_divergence_ratio",
		"Divergent messages over the union of message IDs on a user's devices, by user group.",
		[]string{"group"}, nil)
	convergedDesc = prometheus.NewDesc("mailsim_users_converged_ratio",
		"Share of users whose devices all show the same mailbox now, by user group.",
		[]string{"group"}, nil)
	unconvergedDesc = prometheus.NewDesc("mailsim_unconverged_changes",
		"Changes that have not reached every device of their user, by change kind and reason.",
		[]string{"change", "reason"}, nil)
	lostDesc = prometheus.NewDesc("mailsim_messages_lost",
		"Delivered or sent messages on no device and not on the server that no simulated person deleted, as the final audit counted them (absent until it has, and when it could not read every user's state on the server); 0 on a correct server.",
		nil, nil)
)

// NewHarness returns a Harness whose metrics are registered on reg (nil:
// not registered). It panics, like promauto, if reg already holds them.
func NewHarness(reg prometheus.Registerer, o HarnessOptions) *Harness {
	h := &Harness{
		o: o,
		convergence: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "mailsim_convergence_seconds",
			Help:                            "Time, in simulated seconds, from when the server had a change (the end of the action that made it) until every other device of the user shows it: the start of each device's first sync of the folder since that showed it, 0 for one that showed it already, by change kind.",
			Buckets:                         ConvergenceBuckets(),
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"change"}),
		reasons: make(map[string]struct{}),
	}
	kinds := append(ChangeKinds(), Other)
	for i, k := range kinds {
		h.lag[i] = h.convergence.WithLabelValues(k)
	}
	register(reg, h.convergence, (*harnessCollector)(h))
	return h
}

// ObserveConvergence records the convergence lag of one change, in
// simulated time.
func (h *Harness) ObserveConvergence(change string, lag time.Duration) {
	i := len(ChangeKinds())
	for j, k := range ChangeKinds() {
		if k == change {
			i = j
			break
		}
	}
	h.lag[i].Observe(lag.Seconds())
}

// reason returns the bounded label value of an unconverged reason.
func (h *Harness) reason(r string) string {
	r = boundedName(r)
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.reasons[r]; ok {
		return r
	}
	if len(h.reasons) >= maxReasons {
		return Other
	}
	h.reasons[r] = struct{}{}
	return r
}

// harnessCollector is the scrape-time view of a Harness.
type harnessCollector Harness

// Describe implements prometheus.Collector.
func (c *harnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{runInfoDesc, runElapsedDesc, devicesDesc, usersDesc, divergentDesc,
		divergenceRatioDesc, convergedDesc, unconvergedDesc, lostDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *harnessCollector) Collect(ch chan<- prometheus.Metric) {
	h := (*Harness)(c)
	ch <- prometheus.MustNewConstMetric(runInfoDesc, prometheus.GaugeValue, 1,
		boundedName(h.o.Scenario), boundedName(h.o.Shard))
	if h.o.Elapsed != nil {
		ch <- prometheus.MustNewConstMetric(runElapsedDesc, prometheus.GaugeValue, h.o.Elapsed().Seconds())
	}
	if h.o.Devices != nil {
		type key struct{ profile, protocol string }
		sums := make(map[key]int)
		for _, d := range h.o.Devices() {
			sums[key{boundedName(d.Profile), NormalizeProtocol(d.Protocol)}] += d.N
		}
		emitCapped(sums, func(k key) string { return k.profile }, func(k key, n int) {
			ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(n), k.profile, k.protocol)
		}, func(k key) key { return key{Other, k.protocol} })
	}
	if h.o.Users != nil {
		sums := make(map[string]int)
		for g, n := range h.o.Users() {
			sums[boundedName(g)] += n
		}
		emitCapped(sums, func(g string) string { return g }, func(g string, n int) {
			ch <- prometheus.MustNewConstMetric(usersDesc, prometheus.GaugeValue, float64(n), g)
		}, func(string) string { return Other })
	}
	if h.o.Divergence == nil {
		return
	}
	d := h.o.Divergence()
	dims := make(map[string]int)
	for _, dim := range Dimensions() {
		dims[dim] = 0
	}
	for dim, n := range d.ByDimension {
		dims[NormalizeDimension(dim)] += n
	}
	for dim, n := range dims {
		ch <- prometheus.MustNewConstMetric(divergentDesc, prometheus.GaugeValue, float64(n), dim)
	}
	for g, r := range capRatios(d.RatioByGroup) {
		ch <- prometheus.MustNewConstMetric(divergenceRatioDesc, prometheus.GaugeValue, r, g)
	}
	for g, r := range capRatios(d.ConvergedByGroup) {
		ch <- prometheus.MustNewConstMetric(convergedDesc, prometheus.GaugeValue, r, g)
	}
	unconv := make(map[UnconvergedKey]int)
	for k, n := range d.Unconverged {
		unconv[UnconvergedKey{NormalizeChange(k.Change), h.reason(k.Reason)}] += n
	}
	for k, n := range unconv {
		ch <- prometheus.MustNewConstMetric(unconvergedDesc, prometheus.GaugeValue, float64(n), k.Change, k.Reason)
	}
	if d.LostCounted {
		ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.GaugeValue, float64(d.Lost))
	}
}

// capRatios bounds group names. Groups beyond maxGroups are dropped rather
// than merged, since ratios do not add up.
func capRatios(in map[string]float64) map[string]float64 {
	out := make(map[string]float64, len(in))
	for g, r := range in {
		g = boundedName(g)
		if g == Other {
			continue
		}
		if len(out) >= maxGroups {
			break
		}
		out[g] = r
	}
	return out
}

// emitCapped emits sums, merging keys beyond maxGroups distinct names into
// the key other(k).
func emitCapped[K comparable](sums map[K]int, name func(K) string, emit func(K, int), other func(K) K) {
	names := make(map[string]struct{})
	merged := make(map[K]int)
	for k, n := range sums {
		if _, ok := names[name(k)]; !ok && len(names) >= maxGroups {
			merged[other(k)] += n
			continue
		}
		names[name(k)] = struct{}{}
		merged[k] += n
	}
	for k, n := range merged {
		emit(k, n)
	}
}
