package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// maxProfiles caps the distinct device profile label values of a Client;
// profiles beyond it are counted as "other".
const maxProfiles = 64

// Client records what the simulated devices and the traffic injector do on
// the wire, as the mailsim_client_* metrics and mailsim_actions_total,
// mailsim_actions_cut_total, mailsim_actions_pending,
// mailsim_messages_delivered_total, mailsim_delivery_attempts_total,
// mailsim_deliveries_total, mailsim_delivery_queue_wait_seconds,
// mailsim_messages_sent_total and mailsim_submissions_total. It implements
// [clients.Recorder]. All
// methods are safe for concurrent use;
// Command, Bytes and Connection do not allocate once a label combination
// has been seen.
type Client struct {
	cmds *commandTable

	bytesVec  *prometheus.CounterVec
	connsVec  *prometheus.GaugeVec
	loginsVec *prometheus.CounterVec
	// closedVec counts the idle connections servers closed
	// (clients.ClosedIdleRecorder).
	closedVec *prometheus.CounterVec
	actions   *prometheus.CounterVec
	// actionsCut counts the actions the end of the active phase cut
	// under way, by the labels of actions.
	actionsCut *prometheus.CounterVec
	// pending is mailsim_actions_pending: the actions planned and not
	// ended, by action; pendingC its children of the actions people
	// plan (plannedActions), made at NewClient, read-only after.
	pending   *prometheus.GaugeVec
	pendingC  map[string]prometheus.Gauge
	delivered *prometheus.CounterVec
	sent      *prometheus.CounterVec
	// submitted counts the devices' submissions by protocol and outcome.
	submitted *prometheus.CounterVec
	// attempts and deliveries count the injector's tries and final
	// delivery outcomes, per recipient.
	attempts   *prometheus.CounterVec
	deliveries *prometheus.CounterVec
	// deliveredC, attemptsC and deliveriesC cache the children of
	// delivered, attempts and deliveries.
	deliveredC, attemptsC, deliveriesC deliveryCounters
	// queueWait is how long deliveries waited in the injector's queue,
	// by path; queueWaitC its children by path index.
	queueWait  *prometheus.HistogramVec
	queueWaitC [len(deliveryPathNames)]atomic.Pointer[observerBox]

	proto [numProtocols]clientProto

	actionMu    sync.RWMutex
	actionCache map[actionKey]prometheus.Counter
	profiles    map[string]struct{}
}

// clientProto holds the cached children and totals of one protocol.
type clientProto struct {
	bytesIn, bytesOut prometheus.Counter
	conns             prometheus.Gauge
	logins            [numOutcomes]prometheus.Counter
	closedC           prometheus.Counter
	// sentC, the child of sent, and submittedC, the children of
	// submitted by outcome index, are made by submitOnce: at NewClient
	// for the protocols that submit (submittingProtocols), on first use
	// for the others.
	sentC      prometheus.Counter
	submittedC [len(submissionOutcomeNames)]prometheus.Counter
	submitOnce sync.Once

	nIn, nOut  atomic.Uint64
	open, peak atomic.Int64
	loginsN    [numOutcomes]atomic.Uint64
	sentN      atomic.Uint64
	closedN    atomic.Uint64
}

type actionKey struct{ profile, action string }

var (
	_ clients.Recorder           = (*Client)(nil)
	_ clients.ClosedIdleRecorder = (*Client)(nil)
)

// NewClient returns a Client whose metrics are registered on reg. With a nil
// reg nothing is registered: the Client then only keeps Stats and Totals
// (used for the auditor's own sessions, which must not count as load). It
// panics, like promauto, if reg already holds the Client's metrics.
func NewClient(reg prometheus.Registerer) *Client {
	counters, durations := newCommandVecs("client", "sent by simulated devices and the traffic injector")
	c := &Client{
		cmds: newCommandTable(counters, durations),
		bytesVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_client_bytes_total",
			Help: "Bytes on the wire of simulated devices, by protocol and direction (in: read from the server, out: written to it).",
		}, []string{"protocol", "direction"}),
		connsVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailsim_client_connections",
			Help: "Connections simulated devices hold open now, by protocol.",
		}, []string{"protocol"}),
		loginsVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_client_logins_total",
			Help: "Authentication attempts of simulated devices, by protocol and outcome.",
		}, []string{"protocol", "outcome"}),
		closedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_client_closed_idle_total",
			Help: "Connections of simulated devices the server closed while they were idle between commands (a restart, an autologout, a proxy's idle timeout), noticed before the next command, which went out on a new connection; by protocol.",
		}, []string{"protocol"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_actions_total",
			Help: "Actions simulated people took, by device profile and action.",
		}, []string{"device", "action"}),
		actionsCut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_actions_cut_total",
			Help: "Actions of simulated people the end of the active phase (or a stop) cut under way on a device (a message being written, its commands or its submission under way) and that were not finished, by device profile and action.",
		}, []string{"device", "action"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailsim_actions_pending",
			Help: "Actions simulated people planned and have not ended yet (done, given up, or cut by the end of the active phase): waiting their turn, waiting for their next try, or under way (one per person at most), by action; at the end of the run, the report's actions.pending. A planned action belongs to no device (the one in hand when its turn comes takes it): no device label.",
		}, []string{"action"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_messages_delivered_total",
			Help: "Messages the traffic injector delivered to users' mailboxes, by path (lmtp, smtp, imap-append).",
		}, []string{"via"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_delivery_attempts_total",
			Help: "Tries of the traffic injector to deliver a message to one recipient, retries included, by path and outcome (ok or the failure reason).",
		}, []string{"via", "outcome"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_deliveries_total",
			Help: "Deliveries of the traffic injector, one per recipient, by path and final outcome after retries (ok, a failure reason, or abandoned at the end of the run).",
		}, []string{"via", "outcome"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mailsim_delivery_queue_wait_seconds",
			Help: "Wall time a delivery to one recipient waited in the traffic injector's queue for one of its max_parallel_deliveries connections, from the hand-over to its first try, by path.",
			// Classic buckets only, as the command durations.
			Buckets: QueueWaitBuckets(),
		}, []string{"via"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_messages_sent_total",
			Help: "Messages simulated people sent, by the protocol they were submitted over.",
		}, []string{"protocol"}),
		submitted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_submissions_total",
			Help: "Submissions of simulated devices' messages (sends, replies, forwards; each try), by the protocol they were submitted over (smtp to a submission server; without one the traffic injector's delivery protocol: lmtp, smtp, or imap for imap-append) and how they ended: sent, failed, unanswered (the message data went out whole and no reply came: the server may have taken it), cut (the end of the run came first and the message did not leave).",
		}, []string{"protocol", "outcome"}),
		pendingC:    make(map[string]prometheus.Gauge, len(plannedActions)),
		actionCache: make(map[actionKey]prometheus.Counter),
		profiles:    make(map[string]struct{}),
	}
	for p := 0; p < numProtocols; p++ {
		name := protocolNames[p]
		cp := &c.proto[p]
		cp.bytesIn = c.bytesVec.WithLabelValues(name, "in")
		cp.bytesOut = c.bytesVec.WithLabelValues(name, "out")
		cp.conns = c.connsVec.WithLabelValues(name)
		for o := 0; o < numOutcomes; o++ {
			cp.logins[o] = c.loginsVec.WithLabelValues(name, outcomeNames[o])
		}
		cp.closedC = c.closedVec.WithLabelValues(name)
	}
	// Expose zero-valued series for the known protocols, so that rates
	// and dashboards work from the first scrape. Messages sent and
	// submissions appear from the start only for the protocols mail is
	// submitted over; over pop3 (which never submits) or other, when
	// used.
	for p := 0; p < protoOther; p++ {
		c.proto[p].conns.Set(0)
	}
	for _, p := range submittingProtocols {
		c.submitSeries(p)
	}
	for _, a := range plannedActions {
		c.pendingC[a] = c.pending.WithLabelValues(a)
	}
	c.deliveredC.vec = c.delivered
	c.attemptsC.vec, c.attemptsC.outcomes = c.attempts, true
	c.deliveriesC.vec, c.deliveriesC.outcomes = c.deliveries, true
	register(reg, counters, durations, c.bytesVec, c.connsVec, c.loginsVec, c.closedVec, c.actions, c.actionsCut, c.pending, c.delivered, c.attempts, c.deliveries, c.queueWait, c.sent, c.submitted)
	return c
}

// Command records one finished protocol command.
func (c *Client) Command(ev clients.CommandEvent) {
	c.cmds.record(ev.Protocol, ev.Command, string(ev.Outcome), ev.Duration)
}

// Bytes counts bytes read from (in) and written to (out) the server.
// Negative counts are ignored.
func (c *Client) Bytes(protocol string, in, out int64) {
	cp := &c.proto[protocolIndex(protocol)]
	if in > 0 {
		cp.bytesIn.Add(float64(in))
		cp.nIn.Add(uint64(in))
	}
	if out > 0 {
		cp.bytesOut.Add(float64(out))
		cp.nOut.Add(uint64(out))
	}
}

// Connection records a connection opening (delta +1) or closing (-1).
func (c *Client) Connection(protocol string, delta int) {
	cp := &c.proto[protocolIndex(protocol)]
	cp.conns.Add(float64(delta))
	n := cp.open.Add(int64(delta))
	for {
		p := cp.peak.Load()
		if n <= p || cp.peak.CompareAndSwap(p, n) {
			break
		}
	}
}

// Login records one authentication attempt.
func (c *Client) Login(protocol string, outcome transport.Outcome) {
	cp := &c.proto[protocolIndex(protocol)]
	o := outcomeIndex(string(outcome))
	cp.logins[o].Inc()
	cp.loginsN[o].Add(1)
}

// ClosedIdle counts a connection the server closed while its device was
// idle between commands (clients.ClosedIdleRecorder).
func (c *Client) ClosedIdle(protocol string) {
	cp := &c.proto[protocolIndex(protocol)]
	cp.closedC.Inc()
	cp.closedN.Add(1)
}

// Action records an action a simulated person took on a device of the
// given profile (it ended: one fewer pending). Unknown actions count as
// "other"; after 64 distinct profiles, further profiles count as "other".
func (c *Client) Action(deviceProfile, action string) {
	c.pendingGauge(action).Dec()
	k := actionKey{deviceProfile, action}
	c.actionMu.RLock()
	ctr, ok := c.actionCache[k]
	c.actionMu.RUnlock()
	if !ok {
		ctr = c.actionCounter(k)
	}
	ctr.Inc()
}

// actionCounter finds or creates the counter of k under the write lock.
func (c *Client) actionCounter(k actionKey) prometheus.Counter {
	c.actionMu.Lock()
	defer c.actionMu.Unlock()
	if ctr, ok := c.actionCache[k]; ok {
		return ctr
	}
	ctr := c.actions.WithLabelValues(c.profileLabel(k.profile), NormalizeAction(k.action))
	if len(c.actionCache) < 4*maxProfiles*len(Actions()) {
		c.actionCache[k] = ctr
	}
	return ctr
}

// profileLabel returns the device label of profile: its bounded name, or
// Other after maxProfiles distinct ones. c.actionMu must be held for
// writing.
func (c *Client) profileLabel(profile string) string {
	name := boundedName(profile)
	if _, seen := c.profiles[name]; !seen {
		if len(c.profiles) >= maxProfiles {
			return Other
		}
		c.profiles[name] = struct{}{}
	}
	return name
}

// ActionCut records an action of a simulated person that the end of the
// active phase cut under way on a device of the given profile (labels as
// Action's). It happens only at the end of a run, so it caches nothing.
func (c *Client) ActionCut(deviceProfile, action string) {
	c.actionMu.Lock()
	profile := c.profileLabel(deviceProfile)
	c.actionMu.Unlock()
	c.actionsCut.WithLabelValues(profile, NormalizeAction(action)).Inc()
	c.pendingGauge(action).Dec()
}

// ActionsPlanned records n actions a simulated person planned
// (mailsim_actions_pending rises by n; labels as Action's).
func (c *Client) ActionsPlanned(action string, n int64) {
	c.pendingGauge(action).Add(float64(n))
}

// ActionsDropped records n actions a simulated person gave up
// (mailsim_actions_pending falls by n; labels as Action's).
func (c *Client) ActionsDropped(action string, n int64) {
	c.pendingGauge(action).Sub(float64(n))
}

// pendingGauge returns the child of mailsim_actions_pending of action:
// the one made at NewClient for an action people plan, else found in
// the vector (an action no person plans: the Client's own callers').
func (c *Client) pendingGauge(action string) prometheus.Gauge {
	if g, ok := c.pendingC[action]; ok {
		return g
	}
	return c.pending.WithLabelValues(NormalizeAction(action))
}

// Delivered records a message the traffic injector delivered, by path:
// "lmtp", "smtp" or "imap-append" (anything else counts as "other").
func (c *Client) Delivered(via string) {
	c.deliveredC.inc(via, "")
}

// DeliveryAttempt records one try of the traffic injector to deliver a
// message to one recipient, by path and outcome (see [DeliveryOutcomes]).
func (c *Client) DeliveryAttempt(via, outcome string) {
	c.attemptsC.inc(via, outcome)
}

// DeliveryDone records how one delivery to one recipient ended, after its
// retries, by path and outcome (see [DeliveryOutcomes]).
func (c *Client) DeliveryDone(via, outcome string) {
	c.deliveriesC.inc(via, outcome)
}

// DeliveryQueued records how long (wall time) a delivery to one recipient
// waited in the traffic injector's queue for a connection, by path (see
// Delivered), when it left the queue for its first try. It implements
// the engine's QueueObserver.
func (c *Client) DeliveryQueued(via string, wait time.Duration) {
	p := deliveryPathIndex(via)
	slot := &c.queueWaitC[p]
	ob := slot.Load()
	if ob == nil { // the series appears on first use, as a path's counters
		ob = &observerBox{c.queueWait.WithLabelValues(deliveryPathNames[p])}
		if !slot.CompareAndSwap(nil, ob) {
			ob = slot.Load()
		}
	}
	ob.o.Observe(wait.Seconds())
}

// Sent records a message a simulated person sent, by the protocol it was
// submitted over ("smtp", or "imap" for a server-side send; without a
// submission endpoint, the injector's delivery protocol: "lmtp", "smtp",
// or "imap" for imap-append).
func (c *Client) Sent(protocol string) {
	cp := c.submitSeries(protocolIndex(protocol))
	cp.sentC.Inc()
	cp.sentN.Add(1)
}

// Submitted records a device's submission that ended, by the protocol it
// was submitted over (as Sent) and its outcome (see [SubmissionOutcomes];
// anything else counts as "failed").
func (c *Client) Submitted(protocol, outcome string) {
	c.submitSeries(protocolIndex(protocol)).submittedC[submissionOutcomeIndex(outcome)].Inc()
}

// submitSeries returns the protocol state of protocol index p with its
// children of mailsim_messages_sent_total and mailsim_submissions_total
// made (on the first call).
func (c *Client) submitSeries(p int) *clientProto {
	cp := &c.proto[p]
	cp.submitOnce.Do(func() {
		cp.sentC = c.sent.WithLabelValues(protocolNames[p])
		for o, outcome := range submissionOutcomeNames {
			cp.submittedC[o] = c.submitted.WithLabelValues(protocolNames[p], outcome)
		}
	})
	return cp
}

// Stats returns protocol → command → latency and error statistics of every
// command recorded so far, from fine-grained histograms (about 2% relative
// error on percentiles), independent of the coarse Prometheus buckets.
func (c *Client) Stats() map[string]map[string]CommandStats { return c.cmds.stats() }

// ProtocolTotals are the totals of one protocol.
type ProtocolTotals struct {
	// Commands, Errors and Dropped count commands, those that failed and
	// those the simulated network dropped (CommandStats.Errors, Dropped).
	Commands, Errors, Dropped uint64
	// BytesIn and BytesOut count bytes read from and written to servers.
	BytesIn, BytesOut uint64
	// OpenConnections is the number of connections open now;
	// PeakConnections the largest number open at once.
	OpenConnections, PeakConnections int64
	// Logins counts authentication attempts by outcome (transport.Outcome:
	// ok, auth, refused, timeout, tls, error, dropped...).
	Logins map[string]uint64
	// Sent counts messages submitted over this protocol.
	Sent uint64
	// ClosedIdle counts the connections the server closed while their
	// device was idle between commands (Client.ClosedIdle).
	ClosedIdle uint64
}

// Totals are a Client's totals per protocol.
type Totals struct {
	// Protocols maps a protocol ("imap", "pop3", "smtp", "lmtp", "other")
	// to its totals; protocols never used are absent.
	Protocols map[string]ProtocolTotals
}

// Totals returns the totals recorded so far.
func (c *Client) Totals() Totals {
	t := Totals{Protocols: make(map[string]ProtocolTotals)}
	for p := 0; p < numProtocols; p++ {
		cp := &c.proto[p]
		commands, errors, dropped := c.cmds.totals(p)
		pt := ProtocolTotals{
			Commands:        commands,
			Errors:          errors,
			Dropped:         dropped,
			BytesIn:         cp.nIn.Load(),
			BytesOut:        cp.nOut.Load(),
			OpenConnections: cp.open.Load(),
			PeakConnections: cp.peak.Load(),
			Sent:            cp.sentN.Load(),
			ClosedIdle:      cp.closedN.Load(),
			Logins:          make(map[string]uint64),
		}
		used := pt.Commands > 0 || pt.BytesIn > 0 || pt.BytesOut > 0 || pt.PeakConnections > 0 || pt.Sent > 0 || pt.ClosedIdle > 0
		for o := 0; o < numOutcomes; o++ {
			if n := cp.loginsN[o].Load(); n > 0 {
				pt.Logins[outcomeNames[o]] = n
				used = true
			}
		}
		if used {
			t.Protocols[protocolNames[p]] = pt
		}
	}
	return t
}
