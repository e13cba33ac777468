package engine

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/backoff"
	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// recipient is one envelope recipient of a delivery; user is nil for an
// address outside the simulated population.
type recipient struct {
	addr   string
	user   *user
	folder string
}

// delivery is one message for the injector to put on the server.
type delivery struct {
	from  string
	rcpts []recipient
	id    string
	raw   []byte
	// inbound is true for mail from outside the simulated population (the
	// scenario's inbound and spam), false for mail a device sent.
	inbound bool
	// arrival is the simulated time inbound mail was scheduled to arrive.
	arrival time.Time
	// heldFrom, when set, is the wall time the delivery's wait for a
	// connection began before its hand-over: inbound mail that fell due
	// while a full queue held the arrival scheduler waited from then
	// (arrivals.inject; enqueue).
	heldFrom time.Time
	// queued is the start of the delivery's wait for a connection (wall
	// time, set by enqueue): when it was handed to the injector, or
	// heldFrom when that is earlier; ticket names it in the injector's
	// waiting list (0: not in it).
	queued time.Time
	ticket uint64
}

// Delivery outcomes: how one try, or in the end one delivery, to one
// recipient went. DeliveryOK is success; the others are the reasons a
// delivery failed (docs/report.md, "Deliveries").
const (
	DeliveryOK = "ok"
	// DeliveryRefused: the connection was refused or the host unreachable.
	DeliveryRefused = "refused"
	// DeliveryTimeout: a connect, reply or write deadline passed.
	DeliveryTimeout = "timeout"
	// DeliveryTLS: the TLS handshake failed.
	DeliveryTLS = "tls"
	// DeliveryAuth: imap-append's login was refused.
	DeliveryAuth = "auth"
	// Delivery4xx and Delivery5xx: the LMTP/SMTP server answered a
	// temporary or permanent error (greeting, MAIL, RCPT or DATA).
	Delivery4xx = "4xx"
	Delivery5xx = "5xx"
	// DeliveryNo: the IMAP server answered APPEND with NO or BAD.
	DeliveryNo = "no"
	// DeliveryError: anything else, e.g. a garbage or oversized reply, a
	// connection closed mid-transaction.
	DeliveryError = "error"
	// DeliveryUnknown: the message data went out in full (LMTP/SMTP
	// DATA's, imap-append's APPEND literal) and the server closed the
	// connection (its 421, a hang-up), answered garbage (imap-append) or
	// left the reply unanswered — past the injector's timeout, or past the
	// stop's grace at the run's end — before it said what became of the
	// message for this recipient (LMTP answers each recipient apart, RFC
	// 2033; SMTP all at once): the server may have stored it or not.
	// Never retried, as a retry could store it twice, and audited
	// (unanswered).
	DeliveryUnknown = "unknown"
	// DeliveryCancelled: the run's end (the end of settle, when the
	// injector stops, or an abort) came during the try, before the
	// message data went out in full (after it: DeliveryUnknown).
	DeliveryCancelled = "cancelled"
	// DeliveryAbandoned: the run ended before the delivery was tried
	// (a final outcome only, never a try's).
	DeliveryAbandoned = "abandoned"
)

// DeliveryOutcomes lists every delivery outcome, DeliveryOK first.
func DeliveryOutcomes() []string {
	return []string{DeliveryOK, DeliveryRefused, DeliveryTimeout, DeliveryTLS, DeliveryAuth, Delivery4xx, Delivery5xx,
		DeliveryNo, DeliveryError, DeliveryUnknown, DeliveryCancelled, DeliveryAbandoned}
}

// DeliveryStats counts the injector's deliveries (inbound mail, and the
// devices' sent mail when the injector plays the MTA), one per recipient:
// a message to two simulated users is two deliveries. Every delivery
// handed to the injector ends delivered, failed or abandoned, so
// Attempted == Delivered + sum(Failed) once the run is over.
type DeliveryStats struct {
	// Attempted counts deliveries tried at least once.
	Attempted int64
	// Delivered counts deliveries the server accepted.
	Delivered int64
	// Failed counts deliveries whose last try failed, by reason (the
	// Delivery* outcomes other than ok and abandoned).
	Failed map[string]int64
	// Retries counts tries beyond the first (see injector.tries).
	Retries int64
	// Abandoned counts deliveries never tried because the run ended.
	Abandoned int64
	// Queue is how long deliveries waited for one of the injector's
	// connections, and what was still waiting when the active phase ended.
	Queue QueueWait
}

// QueueWait is how long deliveries waited in the injector's queue for one
// of its connections (wall time, from the hand-over to the first try, or
// from the due time of inbound mail handed over late: the arrival
// scheduler held by a full queue), one sample per recipient, and the
// backlog the active phase left. With every
// connection busy, inbound mail reaches the server later than the
// scenario's arrivals, a wait the deliver lags do not include (they start
// at the delivery): docs/report.md, "Deliveries".
type QueueWait struct {
	// Connections is the number of the injector's parallel connections
	// (max_parallel_deliveries).
	Connections int
	// Samples counts the deliveries measured (every delivery tried, and
	// every one abandoned before its try with its wait until then, a
	// lower bound); P50 and P99 are quantiles of a uniform sample of at
	// most maxQueueSamples of them, Max the longest wait of all.
	Samples       int64
	P50, P99, Max time.Duration
	// Backlog counts the deliveries queued or being tried when the active
	// phase ended; Drain is how long settle then waited for them, and
	// DrainCut is true when it stopped waiting (after a minute, or at an
	// abort) with some still queued. The injector goes on through settle:
	// those may still be delivered then; what is queued when settle ends
	// is abandoned.
	Backlog  int64
	Drain    time.Duration
	DrainCut bool
}

// FailedTotal is the number of failed deliveries, over every reason.
func (s DeliveryStats) FailedTotal() int64 {
	var n int64
	for _, v := range s.Failed {
		n += v
	}
	return n
}

// injector puts inbound mail on the server through target.delivery (LMTP,
// SMTP or IMAP APPEND) with a few parallel connections, like an MTA. Like
// an MTA it retries a delivery that failed temporarily (connection refused
// or lost, timeout, 4xx), but only briefly: mailsim measures the server, so
// an outage must show as failed deliveries, not vanish in a long queue.
type injector struct {
	injectorParts
	workers  int
	queue    chan delivery
	inflight atomic.Int64
	// pending counts the recipients of the deliveries in flight (queued or
	// being tried), for QueueWait.Backlog.
	pending atomic.Int64
	// idle gets a token whenever inflight drops to zero (see drain).
	idle    chan struct{}
	timeout time.Duration
	// quitWait bounds the wait for a QUIT's reply (quitWait, the
	// constant, by default).
	quitWait time.Duration
	// tries bounds the tries of one delivery; backoff is the wait before
	// the first retry, doubled before each further one.
	tries   int
	backoff time.Duration
	// drainLimit bounds drain's wait (drainLimit, the constant, by
	// default).
	drainLimit time.Duration

	// waiting holds the messages waiting for a connection, by ticket
	// (oldestWaiting); under wmu.
	wmu     sync.Mutex
	waiting map[uint64]waitingMessage
	tickets uint64

	mu    sync.Mutex
	stats DeliveryStats
	// waits is a uniform sample of the queue waits; under mu.
	waits *durationSample
}

// waitingMessage is a message in the injector's queue: when its wait
// began (delivery.queued: its due time for inbound mail), and its
// recipients, each one delivery (docs/report.md,
// Deliveries).
type waitingMessage struct {
	at    time.Time
	rcpts int
}

// injectorQueue bounds deliveries waiting for a connection by default
// (Options.InjectorQueue); senders (the arrival scheduler, people's sends)
// block (back-pressure) when it is full.
const injectorQueue = 4096

// maxQueueSamples bounds the queue waits kept for the percentiles.
const maxQueueSamples = 20000

// drainLimit bounds settle's wait for the deliveries still queued.
const drainLimit = time.Minute

// quitWait bounds the wait for the reply to the injector's QUIT (the
// injector's timeout when that is shorter): a connection is closed after
// it, and its QUIT counts a timeout.
const quitWait = 2 * time.Second

// Retries of temporary delivery failures: 3 tries, 0.5 s then 1 s apart.
const (
	deliveryTries   = 3
	deliveryBackoff = 500 * time.Millisecond
)

// injectorParts are what the injector needs of the run.
type injectorParts struct {
	// delivery is where and how mail is delivered; tls the base TLS
	// configuration.
	delivery scenarios.Delivery
	tls      *tls.Config
	// rec receives the injector's protocol commands.
	rec clients.Recorder
	log *slog.Logger
	// events receives the delivery events; changes the deliver changes
	// of simulated users.
	events  Sink
	changes changeSink
	// push notes the deliveries to INBOX, for the push latency.
	push *pushTracker
	// late closes released connections' placeholders
	// (transport.LateCloser); nil closes them at once.
	late *transport.LateCloser
	// imapCaps keeps the capability lists of the APPEND sessions
	// (leanimap.Options.Caps); nil parses every list.
	imapCaps *leanimap.CapCache
	// queueLen bounds the deliveries waiting for a connection (0:
	// injectorQueue).
	queueLen int
	// stopGrace is the stop's grace of the injector's connections at the
	// run's end (the scenario's stop_grace; 0: clients.DefaultStopGrace).
	stopGrace time.Duration
}

func newInjector(parts injectorParts, workers int) *injector {
	queueLen := parts.queueLen
	if queueLen <= 0 {
		queueLen = injectorQueue
	}
	return &injector{injectorParts: parts, workers: workers, queue: make(chan delivery, queueLen), idle: make(chan struct{}, 1),
		timeout: 30 * time.Second, quitWait: quitWait, tries: deliveryTries, backoff: deliveryBackoff, drainLimit: drainLimit,
		stats: DeliveryStats{Failed: map[string]int64{}}, waits: newDurationSample(maxQueueSamples, 1, 2), waiting: map[uint64]waitingMessage{}}
}

// enqueue hands a delivery to the workers; it blocks while the queue is
// full, until ctx ends (the delivery is then abandoned), and reports
// whether it did. A queue with room takes the delivery even when ctx has
// ended, as an MTA keeps what it accepted: a device's send that the end of
// the active phase cut right after its submission (mtaSubmitter) is
// delivered during settle, not abandoned by select's random pick between
// two ready cases. The delivery's wait for a connection starts now, or at
// d.heldFrom when that is earlier: inbound mail that fell due while a
// full queue held the arrival scheduler waited for a connection from then.
func (in *injector) enqueue(ctx context.Context, d delivery) (waited bool) {
	in.inflight.Add(1)
	in.pending.Add(int64(len(d.rcpts)))
	d.queued = time.Now()
	if !d.heldFrom.IsZero() && d.heldFrom.Before(d.queued) {
		d.queued = d.heldFrom
	}
	in.wmu.Lock()
	in.tickets++
	d.ticket = in.tickets
	in.waiting[d.ticket] = waitingMessage{at: d.queued, rcpts: len(d.rcpts)}
	in.wmu.Unlock()
	select {
	case in.queue <- d:
		return false
	default:
	}
	select {
	case in.queue <- d:
	case <-ctx.Done():
		in.abandon(d)
		in.done(d)
	}
	return true
}

// done ends delivery d (attempted, or never queued).
func (in *injector) done(d delivery) {
	in.pending.Add(-int64(len(d.rcpts)))
	if in.inflight.Add(-1) == 0 {
		select {
		case in.idle <- struct{}{}:
		default:
		}
	}
}

// unwait takes d off the waiting list: a worker took it, or it was
// abandoned.
func (in *injector) unwait(d delivery) {
	if d.ticket == 0 {
		return
	}
	in.wmu.Lock()
	delete(in.waiting, d.ticket)
	in.wmu.Unlock()
}

// oldestWaiting returns how many deliveries (one per recipient, as
// picked counts the waits) wait for a connection at now and how long the
// oldest of them has waited (0 when none does).
func (in *injector) oldestWaiting(now time.Time) (n int, oldest time.Duration) {
	in.wmu.Lock()
	defer in.wmu.Unlock()
	for _, m := range in.waiting {
		n += m.rcpts
		oldest = max(oldest, now.Sub(m.at))
	}
	return n, oldest
}

// abandon counts the recipients of a delivery that was never tried, and
// its wait until now into the sample of queue waits, once per recipient:
// it waited at least that long, and under saturation these are the longest
// waits of the run (docs/report.md, "The queue").
func (in *injector) abandon(d delivery) {
	in.unwait(d)
	via := in.via()
	for range d.rcpts {
		in.events.Handle(Event{Type: EventDeliveryDone, Protocol: via, Outcome: DeliveryAbandoned})
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Abandoned += int64(len(d.rcpts))
	if d.queued.IsZero() {
		return
	}
	wait := max(time.Since(d.queued), 0)
	for range d.rcpts {
		in.waits.add(wait)
	}
}

// failures returns the deliveries whose last try failed so far (the sum
// of DeliveryStats.Failed) and those abandoned (DeliveryStats.Abandoned).
func (in *injector) failures() (failed, abandoned int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, n := range in.stats.Failed {
		failed += n
	}
	return failed, in.stats.Abandoned
}

// finish counts the deliveries still queued as abandoned and returns the
// stats. Call it after run returned.
func (in *injector) finish() DeliveryStats {
	for {
		select {
		case d := <-in.queue:
			in.abandon(d)
			in.done(d)
			continue
		default:
		}
		break
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.stats
	s.Failed = make(map[string]int64, len(in.stats.Failed))
	for k, v := range in.stats.Failed {
		s.Failed[k] = v
	}
	s.Queue.Connections = in.workers
	s.Queue.Samples, s.Queue.Max = in.waits.n, in.waits.max
	q := in.waits.quantiles(0.5, 0.99)
	s.Queue.P50, s.Queue.P99 = q[0], q[1]
	return s
}

// picked notes that a worker took d from the queue: its wait, once per
// recipient, into the sample of queue waits and to the sinks
// (EventDeliveryQueued).
func (in *injector) picked(d delivery) {
	in.unwait(d)
	if d.queued.IsZero() {
		return
	}
	wait := max(time.Since(d.queued), 0)
	via := in.via()
	for range d.rcpts {
		in.events.Handle(Event{Type: EventDeliveryQueued, Protocol: via, Late: wait, Inbound: d.inbound, Arrival: d.arrival})
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for range d.rcpts {
		in.waits.add(wait)
	}
}

// drain waits until every queued delivery was attempted, or ctx ends, or
// drainLimit passes, and notes the backlog it found and how long it
// waited (QueueWait).
func (in *injector) drain(ctx context.Context) {
	start := time.Now()
	backlog := in.pending.Load()
	cut := false
	t := time.NewTimer(in.drainLimit)
	defer t.Stop()
wait:
	for in.inflight.Load() > 0 {
		select {
		case <-in.idle: // look again: a token may be stale
		case <-ctx.Done():
			cut = true
			break wait
		case <-t.C:
			cut = true
			break wait
		}
	}
	took := time.Since(start)
	in.mu.Lock()
	in.stats.Queue.Backlog, in.stats.Queue.Drain = backlog, took
	in.stats.Queue.DrainCut = cut && in.inflight.Load() > 0
	in.mu.Unlock()
}

// run runs the workers until ctx ends.
func (in *injector) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range in.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.worker(ctx)
		}()
	}
	wg.Wait()
}

func (in *injector) worker(ctx context.Context) {
	var c *smtpConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-in.queue:
			if ctx.Err() != nil {
				// select picks at random among ready cases: a delivery
				// taken after the run's end was never tried.
				in.abandon(d)
				in.done(d)
				continue
			}
			in.picked(d)
			in.handle(ctx, &c, d)
			in.done(d)
		}
	}
}

// via is the delivery protocol, the via label of the delivery metrics.
func (in *injector) via() string { return string(in.delivery.Protocol) }

// handle delivers d to each of its recipients, retrying temporary failures,
// and counts every try and every final outcome.
func (in *injector) handle(ctx context.Context, c **smtpConn, d delivery) {
	via := in.via()
	in.mu.Lock()
	in.stats.Attempted += int64(len(d.rcpts))
	in.mu.Unlock()
	pending := d.rcpts
	for try := 1; ; try++ {
		var results []rcptResult
		if in.delivery.Protocol == scenarios.DeliverIMAPAppend {
			results = in.appendIMAP(ctx, d, pending)
		} else {
			results = in.trySMTP(ctx, c, d, pending)
		}
		var again []rcptResult
		for _, res := range results {
			if res.err == nil {
				in.events.Handle(Event{Type: EventDeliveryAttempt, Protocol: via, Outcome: DeliveryOK})
				in.delivered(d, res.r, via, res.handed)
				continue
			}
			in.events.Handle(Event{Type: EventDeliveryAttempt, Protocol: via, Outcome: res.err.reason})
			if res.err.retry && try < in.tries && ctx.Err() == nil {
				again = append(again, res)
				continue
			}
			in.failed(d, res)
		}
		if len(again) == 0 {
			return
		}
		if backoff.Sleep(ctx, backoff.Options{Base: in.backoff}.Delay(try-1, nil)) != nil {
			// The run ended before the retry: the last try's reason stands.
			for _, res := range again {
				in.failed(d, res)
			}
			return
		}
		pending = pending[:0:0]
		for _, res := range again {
			pending = append(pending, res.r)
		}
		in.mu.Lock()
		in.stats.Retries += int64(len(pending))
		in.mu.Unlock()
	}
}

// failed records the final failure of one delivery. One of unknown fate
// (DeliveryUnknown) to a simulated user is noted to the auditor, which
// looks for the message at the run's end (audit.Change.Unanswered).
func (in *injector) failed(d delivery, res rcptResult) {
	in.events.Handle(Event{Type: EventDeliveryDone, Protocol: in.via(), Outcome: res.err.reason})
	in.mu.Lock()
	in.stats.Failed[res.err.reason]++
	in.mu.Unlock()
	if res.err.reason != DeliveryCancelled {
		in.log.Warn("delivery failed", "message", d.id, "reason", res.err.reason, "err", res.err.err)
	}
	if u := res.r.user; u != nil && res.err.reason == DeliveryUnknown {
		in.changes.record(audit.Change{User: u.plan.Username, Kind: audit.ChangeKind("deliver"), MessageID: u.ids.Intern(d.id),
			Folder: res.r.folder, Unanswered: true})
	}
}

// delivered records one successful delivery to one recipient, whose
// hand-over to the server began at handed (wall time: the start of the
// push latency).
func (in *injector) delivered(d delivery, r recipient, via string, handed time.Time) {
	// One reading of the simulated clock stamps the delivery's events and
	// its change (fanout.Handle and auditChanges.record would read it each).
	now := in.changes.now()
	in.events.Handle(Event{Type: EventDeliveryDone, Protocol: via, Outcome: DeliveryOK, Sim: now})
	in.mu.Lock()
	in.stats.Delivered++
	in.mu.Unlock()
	if r.user == nil {
		return
	}
	id := r.user.ids.Intern(d.id) // the string the user's devices keep
	if r.folder == view.FolderInbox {
		in.push.delivered(r.user.plan.Username, id, handed)
	}
	if r.user.meter != nil {
		r.user.meter.Delivered()
	}
	in.events.Handle(Event{Type: EventDeliver, Kind: "deliver", User: r.user.plan.Username, MessageID: id, Folder: r.folder,
		Inbound: d.inbound, Arrival: d.arrival, Sim: now})
	in.changes.record(audit.Change{
		User:      r.user.plan.Username,
		Kind:      audit.ChangeKind("deliver"),
		MessageID: id,
		Folder:    r.folder,
		Published: true,
		At:        now,
	})
}

// rcptResult is how one try to deliver to one recipient went; err is nil
// when the server accepted the message for r.
type rcptResult struct {
	r   recipient
	err *tryError
	// handed is when the message's hand-over to the server began for r
	// (wall time: the start of the DATA, or of the APPEND, that delivered
	// it), the start of its push latency (push.go).
	handed time.Time
}

// tryError is a failed try with its reason (a Delivery* outcome) and
// whether a retry may help.
type tryError struct {
	reason string
	retry  bool
	err    error
}

func (e *tryError) Error() string { return e.reason + ": " + e.err.Error() }
func (e *tryError) Unwrap() error { return e.err }

// newTryError classifies err (see deliveryReason). mayRetry is false when
// no retry can help (imap-append to a recipient without credentials);
// otherwise temporary failures (refused, timeout, 4xx, error) are retried.
// A failure after which the server may have delivered the message (its
// final reply was lost) is no try error of newTryError's but unanswered's:
// a retry could deliver it twice. An err that is a try error already,
// the run's end's (stopCut, through injector.dial), keeps its reason:
// its failure's own error may say cancelled (the stop's close cancelled
// a TCP connect) where the stop counted a timeout (until 2026-12-05 an
// LMTP or SMTP connect unanswered beyond the grace counted its CONNECT
// and login timeout but its delivery cancelled).
func newTryError(err error, mayRetry bool) *tryError {
	if cut := (*tryError)(nil); errors.As(err, &cut) {
		return &tryError{reason: cut.reason, retry: mayRetry && cut.retry, err: err}
	}
	r := deliveryReason(err)
	retry := r == DeliveryRefused || r == DeliveryTimeout || r == Delivery4xx || r == DeliveryError
	return &tryError{reason: r, retry: mayRetry && retry, err: err}
}

// deliveryReason classifies why a try failed: an LMTP/SMTP reply by its
// class (4xx, 5xx), an IMAP NO or BAD as no, a failure below the protocol
// by [transport.NetOutcome] (refused, timeout, tls, error), a cancelled run
// as cancelled.
func deliveryReason(err error) string {
	if errors.Is(err, context.Canceled) {
		return DeliveryCancelled
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		switch se.Code / 100 {
		case 4:
			return Delivery4xx
		case 5:
			return Delivery5xx
		}
		return DeliveryError
	}
	if errors.Is(err, transport.ErrGreetingRefused) {
		// imap-append's server refused the session in its greeting
		// (BYE): no APPEND was answered NO, and a later try may be
		// served.
		return DeliveryError
	}
	switch o := transport.OutcomeOf(err); o {
	case transport.OutcomeNo, transport.OutcomeBad:
		return DeliveryNo
	case transport.OutcomeRefused, transport.OutcomeTimeout, transport.OutcomeTLS:
		return string(o)
	}
	return DeliveryError
}

// unanswered is the try error of a recipient the server never answered
// after the message data went out (DeliveryUnknown): err, the failure
// that ended the wait for its reply, is no reply to it (a 421 that ended
// the connection is another recipient's, LMTP's replies being one per
// recipient in order; an APPEND's garbled reply), so the reason is
// neither err's nor a retry's — nor the run's end's, when its stop closed
// the connection under the wait (stopCut).
func unanswered(addr string, err error) *tryError {
	return &tryError{reason: DeliveryUnknown, err: fmt.Errorf("<%s>: no reply after the message data: %w", addr, err)}
}

// failAll fails every recipient of rcpts with err.
func failAll(rcpts []recipient, err error, mayRetry bool) []rcptResult {
	te := newTryError(err, mayRetry)
	out := make([]rcptResult, len(rcpts))
	for i, r := range rcpts {
		out[i] = rcptResult{r: r, err: te}
	}
	return out
}

// trySMTP tries once to deliver d to rcpts over the worker's LMTP/SMTP
// connection *c, dialling one when there is none and dropping it when it
// broke.
func (in *injector) trySMTP(ctx context.Context, c **smtpConn, d delivery, rcpts []recipient) []rcptResult {
	if sc := *c; sc != nil && sc.conn.PeerClosed(smtpClosing) {
		// The server closed the connection while it waited for this
		// delivery (a restart's 421, an idle timeout): counted as such,
		// not as the failure of the next MAIL, and the delivery goes
		// out on a new connection. Nothing more is said on it, not even
		// QUIT. The look, one ppoll(2), is made before every
		// transaction, however short the wait: a transaction is a burst
		// of its own, as a device's sync round (clients.IdleProbeAfter),
		// and a busy injector's connections wait well under a second
		// for their next delivery (a Dovecot restart's 421 waited 0.45
		// to 0.56 s unread on each of four, and each next MAIL read it
		// as its reply: TestFaultDovecotRestart, cmd/mailsim).
		clients.CountClosedIdle(sc.rec, sc.protocol)
		sc.noQuit = true
		sc.close()
		*c = nil
	}
	if *c == nil {
		conn, err := in.dial(ctx)
		if err != nil {
			return failAll(rcpts, err, true)
		}
		*c = conn
	}
	// The run's end closes the connection under the transaction, as a
	// second ^C must not wait out a stalled server's timeout, after the
	// command in flight had the stop's grace (clients.StopGrace); what it
	// cut short is cancelled, or a timeout when the server left it
	// unanswered beyond the grace — but for a recipient whose reply to the
	// message data it cut (unknown: the server may have the message).
	// None is retried.
	sc := *c
	sc.watch = clients.WatchStop(ctx, sc.rec, sc.protocol, sc.conn, in.stopGrace)
	res, broken := sc.deliver(d, rcpts)
	if !sc.watch.Release() {
		// The stop closed the connection, or is closing it: nothing
		// more goes out on it, not even QUIT, which would race the close
		// and, when it won, reach the server after a command answered
		// within the grace (a DATA: close says QUIT with no watch).
		broken = true
		sc.noQuit = true
		// A reply the server had sent before the close (a 5xx RCPT)
		// keeps its reason, and so does a reply to the data it cut.
		for i := range res {
			if e := res[i].err; e != nil && !isReply(e.err) && e.reason != DeliveryUnknown {
				res[i].err = sc.cut(ctx, e.err)
			}
		}
	}
	sc.watch = nil
	if broken {
		sc.close()
		*c = nil
	}
	return res
}

// smtpClosing reports whether pending, the first bytes an LMTP or SMTP
// server sent that the injector has not read, announce that it closes the
// connection: a 421 reply (RFC 5321, 3.8), as Dovecot says to every LMTP
// connection when it shuts down. transport.Conn.PeerClosed takes it.
func smtpClosing(pending []byte) bool { return bytes.HasPrefix(pending, []byte("421")) }

// smtpConn is one injector connection speaking LMTP or SMTP.
type smtpConn struct {
	c       *smtp.Client
	conn    *transport.Conn
	timeout time.Duration
	// quit bounds the wait for QUIT's reply (injector.quitWait).
	quit     time.Duration
	protocol string
	rec      clients.Recorder
	// stopping reports whether the run is ending (the context the
	// connection was dialed with was cancelled).
	stopping func() bool
	// watch applies the stop's grace to the setup's and a transaction's
	// commands (clients.StopGrace); nil between them.
	watch *clients.StopGrace
	// noQuit is set when a QUIT cannot go out as a command: the hello
	// failed (go-smtp's Client.Quit then sends nothing and returns the
	// hello's error) or the message data stopped mid-way (a QUIT would be
	// a line of the message). close then closes without one.
	noQuit bool
}

// cut is the try error of err, a failure of a command the run's end cut
// (ctx ended, the watch closed the connection): a timeout when the
// server had left the command unanswered beyond the stop's grace, else
// cancelled.
func (sc *smtpConn) cut(ctx context.Context, err error) *tryError {
	return stopCut(ctx, sc.watch, err)
}

// stopCut is the try error of err, a failure of a command the run's end
// cut on a connection w watched (ctx ended, the stop closed it): a timeout
// when the server had left the command unanswered beyond the stop's
// grace, else cancelled. Neither is retried. A wait for the reply to
// message data that went out in full is no such failure but unanswered,
// whoever ended it: its callers (injector.trySMTP, injector.appendOne)
// keep it.
func stopCut(ctx context.Context, w *clients.StopGrace, err error) *tryError {
	if w.Overdue() {
		return &tryError{reason: DeliveryTimeout, err: fmt.Errorf("%w (unanswered at the run's end: %w)", err, context.DeadlineExceeded)}
	}
	return &tryError{reason: DeliveryCancelled, err: fmt.Errorf("%w (run ended: %w)", err, ctx.Err())}
}

// dial opens an LMTP/SMTP connection and says hello. The session setup
// (connect, greeting, TLS, LHLO/EHLO) is reported to the Recorder as the
// connection's login, with its outcome, so that refused or failing
// connections count (the injector has no other login).
func (in *injector) dial(ctx context.Context) (*smtpConn, error) {
	sc, err := in.dialSession(ctx)
	// A setup the run's end cut counts nothing, but for one the server
	// had left unanswered beyond the stop's grace: a timeout, as its
	// command counted (smtpConn.cut).
	var te *tryError
	if ctx.Err() == nil || errors.As(err, &te) && te.reason == DeliveryTimeout {
		in.rec.Login(in.via(), transport.OutcomeOf(err))
	}
	return sc, err
}

// dialSession opens the connection as SMTP submission does
// (clients.DialSMTP: the connect and greeting recorded as CONNECT, with
// starttls the EHLO before it, STARTTLS and the TLS handshake as
// STARTTLS; every wait within the injector's timeout) and says hello,
// recorded as LHLO or EHLO.
func (in *injector) dialSession(ctx context.Context) (*smtpConn, error) {
	dl := in.delivery
	proto := string(dl.Protocol)
	lmtp := dl.Protocol == scenarios.DeliverLMTP
	rec := in.rec
	conn, c, w, err := clients.DialSMTP(ctx, rec, transport.Config{
		Protocol: proto, Endpoint: transport.Endpoint{Addr: dl.Addr, TLS: dl.TLS},
		Meter: rec, Timeout: in.timeout, TLS: in.tls, LateCloser: in.late,
	}, lmtp, in.stopGrace)
	sc := &smtpConn{c: c, conn: conn, timeout: in.timeout, quit: min(in.timeout, in.quitWait), protocol: proto, rec: rec,
		stopping: func() bool { return errors.Is(ctx.Err(), context.Canceled) }, watch: w}
	if err != nil {
		if w != nil && w.Stopping() {
			err = sc.cut(ctx, err)
		} else if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (run ended: %w)", err, ctx.Err())
		}
		return nil, transport.NameServer(proto, dl.Addr, err)
	}
	err = sc.hello()
	if !w.Release() {
		// The run's end closes the connection (after the hello's grace).
		if err == nil {
			err = net.ErrClosed
		}
		err = sc.cut(ctx, err)
	}
	sc.watch = nil
	if err != nil {
		sc.noQuit = true
		sc.close()
		return nil, transport.NameServer(proto, dl.Addr, err)
	}
	return sc, nil
}

// injectorName is the name the injector says hello with.
const injectorName = "mailsim-injector.localhost"

// hello says the injector's hello, recorded as the protocol's command:
// LHLO over LMTP, EHLO over SMTP.
func (sc *smtpConn) hello() error {
	name := "EHLO"
	if sc.protocol == string(scenarios.DeliverLMTP) {
		name = "LHLO"
	}
	start := sc.start(name)
	err := sc.conn.Explain(sc.c.Hello(injectorName))
	sc.record(name, start, err)
	return err
}

// start returns the start of command cmd of the connection, about to be
// sent (clients.StartCommand; under the watch, if any).
func (sc *smtpConn) start(cmd string) time.Time {
	if sc.watch != nil {
		return sc.watch.Start(cmd)
	}
	return clients.StartCommand(sc.rec, sc.protocol, cmd)
}

// record ends a command of the connection started at start (start): under
// the watch by the stop's rule (clients.StopGrace), else one the run's end
// cut counts nothing (clients.EndCommand: the closing QUIT).
func (sc *smtpConn) record(cmd string, start time.Time, err error) {
	if sc.watch != nil {
		sc.watch.End(cmd, start, err)
		return
	}
	clients.EndCommand(sc.rec, sc.protocol, cmd, start, err, sc.stopping())
}

// isReply reports whether err is the server's error reply to a command
// (the connection is still usable), not a broken connection.
func isReply(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

// usable reports whether the connection can take another command after
// err, a command's failure: the server replied, and did not close the
// connection (clients.ServerClosed: its 421, the end of the stream, a
// reset). Once it closed it, nothing more, not even QUIT, goes out
// (noQuit): Dovecot says 421 to every connection when it shuts down, and
// a RSET and a QUIT sent after it each failed and counted as a failed
// command of their own. Nor after a reply that did not come in time
// (clients.TimedOut): the server stalled, so a QUIT would wait out its own
// deadline and count one stall twice, and a late reply would be read as
// the QUIT's.
func (sc *smtpConn) usable(err error) bool {
	if clients.ServerClosed(err) || clients.TimedOut(err) {
		sc.noQuit = true
		return false
	}
	return isReply(err)
}

// deliver tries once to deliver d to rcpts in one transaction, and returns
// each recipient's result; broken is true when the connection can no
// longer be used.
func (sc *smtpConn) deliver(d delivery, rcpts []recipient) (res []rcptResult, broken bool) {
	c := sc.c
	start := sc.start("MAIL")
	err := c.Mail(d.from, nil)
	sc.record("MAIL", start, err)
	if err != nil {
		if sc.usable(err) {
			return failAll(rcpts, err, true), !sc.reset()
		}
		return failAll(rcpts, err, true), true
	}
	var accepted []recipient
	for i, r := range rcpts {
		if sc.stopping() {
			return append(res, sc.halt(append(accepted, rcpts[i:]...))...), true
		}
		start = sc.start("RCPT")
		err := c.Rcpt(r.addr, nil)
		sc.record("RCPT", start, err)
		if err == nil {
			accepted = append(accepted, r)
			continue
		}
		if !sc.usable(err) {
			// The connection broke: nobody got the message.
			res = append(res, failAll(accepted, err, true)...)
			return append(res, failAll(rcpts[i:], err, true)...), true
		}
		res = append(res, rcptResult{r: r, err: newTryError(fmt.Errorf("<%s>: %w", r.addr, err), true)})
	}
	if len(accepted) == 0 {
		return res, !sc.reset()
	}
	if sc.stopping() {
		return append(res, sc.halt(accepted)...), true
	}
	start = sc.start("DATA")
	w, err := c.Data()
	if err != nil {
		sc.record("DATA", start, err)
		if sc.usable(err) {
			return append(res, failAll(accepted, err, true)...), !sc.reset()
		}
		return append(res, failAll(accepted, err, true)...), true
	}
	// go-smtp bounds commands and the final reply, not the message data: a
	// server that stops reading must not hold the worker.
	_ = sc.conn.SetWriteDeadline(time.Now().Add(sc.timeout))
	if _, err = w.Write(d.raw); err != nil {
		sc.record("DATA", start, err)
		// The end of the data never went out: the server delivers nothing.
		sc.noQuit = true
		return append(res, failAll(accepted, err, true)...), true
	}
	if sc.protocol != string(scenarios.DeliverLMTP) {
		err = w.Close()
		sc.record("DATA", start, err)
		switch {
		case err == nil:
			for _, r := range accepted {
				res = append(res, rcptResult{r: r, handed: start})
			}
			return res, false
		case isReply(err):
			return append(res, failAll(accepted, err, true)...), !sc.usable(err)
		}
		// No final reply: the server may have taken the message.
		sc.usable(err) // no QUIT after a close
		for _, r := range accepted {
			res = append(res, rcptResult{r: r, err: unanswered(r.addr, err)})
		}
		return res, true
	}
	resp, err := w.CloseWithLMTPResponse()
	sc.record("DATA", start, err)
	var le smtp.LMTPDataError
	errors.As(err, &le)
	for _, r := range accepted {
		if _, ok := resp[r.addr]; ok {
			res = append(res, rcptResult{r: r, handed: start})
		} else if se := le[r.addr]; se != nil {
			res = append(res, rcptResult{r: r, err: newTryError(fmt.Errorf("<%s>: %w", r.addr, se), true)})
			broken = broken || !sc.usable(se)
		} else {
			// No reply for r: the server may have taken the message.
			if err == nil {
				err = errors.New("lmtp: no reply for a recipient")
			}
			res = append(res, rcptResult{r: r, err: unanswered(r.addr, withoutReplies(err))})
			broken = true
			sc.usable(err) // no QUIT after a close
		}
	}
	return res, broken
}

// withoutReplies returns err, the failure of an LMTP DATA's replies,
// without the replies it carries (go-smtp joins the failure that ended
// the wait, a broken connection or a deadline, to the error replies read
// before it, smtp.LMTPDataError): what ended the wait.
func withoutReplies(err error) error {
	j, joined := err.(interface{ Unwrap() []error }) // errors.Join's, as is
	if _, replies := err.(smtp.LMTPDataError); !joined || replies {
		return err
	}
	for _, e := range j.Unwrap() {
		if _, replies := e.(smtp.LMTPDataError); !replies {
			return e
		}
	}
	return err
}

// errHalted is a transaction's failure when the run ended between two of
// its commands.
var errHalted = errors.New("the run ended before the next command")

// halt ends a transaction the run's end interrupted between two commands
// (one in flight had its grace): nothing more goes out on the connection
// the stop is closing — a command sent into that close would race it and,
// answered, count as a stopped injector's — not even QUIT. rcpts fail
// with errHalted, which the caller makes the stop's (smtpConn.cut).
func (sc *smtpConn) halt(rcpts []recipient) []rcptResult {
	sc.noQuit = true
	return failAll(rcpts, errHalted, true)
}

// reset ends a transaction the server refused (RSET), as a command of its
// own: it waits for the server too. It reports whether the connection is
// still usable: a failed RSET (a server that answered 421 and hung up)
// breaks it, so the next delivery opens a new one rather than failing on
// the dead one.
//
// go-smtp forgets the hello at a successful RSET and says it again with
// the next command (Client.Reset, then Client.Mail's hello): reset says
// it at once, recorded as its own LHLO/EHLO, so that the next MAIL's
// latency is MAIL's alone and every hello the server gets is counted.
func (sc *smtpConn) reset() bool {
	start := sc.start("RSET")
	err := sc.c.Reset()
	sc.record("RSET", start, err)
	if err != nil {
		sc.usable(err) // no QUIT after a close
		return false
	}
	err = sc.hello()
	sc.noQuit = err != nil
	return err == nil
}

// close ends the session: QUIT under its own deadline (quitWait), then
// the connection's close; without QUIT when none can go out (noQuit).
func (sc *smtpConn) close() {
	if sc.noQuit {
		_ = sc.c.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// QUIT's own deadline, so that a server that leaves it
		// unanswered counts a timeout, not the error of a connection
		// closed under it.
		sc.c.CommandTimeout = sc.quit
		start := sc.start("QUIT")
		err := sc.c.Quit()
		sc.record("QUIT", start, err)
		_ = sc.c.Close()
	}()
	select {
	case <-done:
	case <-time.After(sc.quit + time.Second):
		// A backstop: the deadline above ends the wait first.
		_ = sc.c.Close()
		<-done
	}
	// Closing the client closed the transport connection, which reported
	// its end to the Recorder.
}

// appendIMAP delivers by logging in as each recipient and APPENDing the
// message to the folder (target.delivery protocol imap-append).
func (in *injector) appendIMAP(ctx context.Context, d delivery, rcpts []recipient) []rcptResult {
	out := make([]rcptResult, 0, len(rcpts))
	for _, r := range rcpts {
		res := rcptResult{r: r}
		if r.user == nil {
			// No credentials to log in with (the injector only queues
			// simulated recipients; this guards the count).
			res.err = newTryError(fmt.Errorf("imap-append: <%s> is no simulated user", r.addr), false)
		} else {
			res.handed, res.err = in.appendOne(ctx, d, r)
		}
		out = append(out, res)
	}
	return out
}

// appendOne APPENDs d to r's folder in a session of its own over the lean
// client (internal/leanimap: every command and its responses on this
// worker's goroutine, no reader goroutine). The connect, greeting, TLS and
// LOGIN are reported as an imap login; each command, as the devices'
// commands are. At the run's end the session has the stop's grace, as
// every protocol's connections (clients.StopGrace): a command in flight
// has the grace (stop_grace, 1 s by default) to be answered, and counts a timeout when it is not. An
// APPEND whose message went out whole (leanimap.Client.Sent) and whose
// reply did not come — a close, a garbled reply, the session's deadline
// or the run's end — fails unanswered (DeliveryUnknown); one that failed
// before is retried as any temporary failure. It returns when the APPEND
// began (wall time, zero when none went out): the session's setup before
// it is no part of the push latency.
func (in *injector) appendOne(ctx context.Context, d delivery, r recipient) (handed time.Time, te *tryError) {
	dl := in.delivery
	rec := in.rec
	run := ctx
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	// The stop's rule for the session's commands (w), applied by the
	// connection's binding to ctx (appendStop.Ended); reused, so that the
	// grace costs the session no allocation.
	as := appendStops.Get().(*appendStop)
	as.run = run
	w := &as.w
	w.Reset(run, rec, clients.ProtocolIMAP, in.stopGrace)
	// When the session's deadline passes, ctx closes the connection under
	// the command in progress, which then fails as on a closed
	// connection: say why (a timeout, a cancelled try).
	ended := func(err error) error {
		if cause := ctx.Err(); err != nil && cause != nil && !errors.Is(err, cause) {
			return fmt.Errorf("%w (session %w)", err, cause)
		}
		return err
	}
	// failed is the try error of a command's failure err, retried when
	// temporary: the stop's when the run's end closed the connection
	// (stopCut).
	failed := func(what string, err error) *tryError {
		if w.LastCut() {
			return stopCut(run, w, fmt.Errorf("imap-append %s: %s: %w", dl.Addr, what, err))
		}
		return newTryError(fmt.Errorf("imap-append %s: %s: %w", dl.Addr, what, err), true)
	}
	loginFailed := func(what string, err error) *tryError {
		te := failed(what, err)
		if !w.LastCut() && transport.LoginOutcome(err) == transport.OutcomeAuth {
			te.reason, te.retry = DeliveryAuth, false
		}
		return te
	}
	// APPEND replies are short: the client's default bounds hold
	// (transport.DefaultMaxLine, transport.DefaultMaxLiteral). No TCP
	// keep-alive: the session ends within in.timeout, long before
	// keep-alive's first probe (15 s idle) and its verdict (nine more,
	// 15 s apart) could tell anything, and a dial without it makes four
	// setsockopt(2) calls fewer (transport.Config.KeepAlive).
	// The connection is bound to ctx (leanimap.DialBound) from before
	// its dial: when the session's deadline passes it is closed under the
	// command in progress, the dial included; when the run ends, by the
	// stop's rule (appendStop). The connect, greeting and TLS are one
	// command, CONNECT, as a device's, under the stop's rule (w) from
	// before the dial: the TCP connect and the wait for the greeting have
	// the stop's grace, as every command, and one the run's end cut after
	// it counts a timeout, its login too (until 2026-12-05 the run's end
	// cut them at once, counting nothing: docs/report.md, Outcomes;
	// TestInjectorGreetingAtTheEnd, TestInjectorConnectAtTheEnd). Once the
	// run has ended nothing is dialed, and CONNECT counts nothing.
	connect := w.Start(clients.CommandConnect)
	conn, c, stop, err := leanimap.DialBound(ctx, transport.Config{
		Protocol: clients.ProtocolIMAP, Endpoint: transport.Endpoint{Addr: dl.Addr, TLS: dl.TLS},
		Meter: rec, Timeout: in.timeout, TLS: in.tls, LateCloser: in.late, KeepAlive: -1,
	}, leanimap.Options{Timeout: in.timeout, Caps: in.imapCaps}, as)
	if err != nil {
		err = ended(err)
		// A dial the run's end came before counts nothing (End: w's
		// context is run's); one the session's deadline came before
		// is the injector's own timeout.
		w.End(clients.CommandConnect, connect, err)
		w.CountLogin(err)
		return time.Time{}, loginFailed(transport.Step(err), err)
	}
	w.End(clients.CommandConnect, connect, nil)
	w.Bind(conn) // from now on, Start closes it once the run has ended
	defer func() {
		if stop() {
			// The binding never fired: no stop uses as.
			as.run = nil
			appendStops.Put(as)
		}
	}()
	defer c.Close()
	// do runs and records command name; once the run has ended, w.Start
	// closes the connection first, so nothing more goes out.
	do := func(name string, fn func() error) error {
		start := w.Start(name)
		err := ended(fn())
		w.End(name, start, conn.Explain(err))
		return err
	}
	if err := do("LOGIN", func() error { return c.Login(r.user.plan.Username, r.user.plan.Password) }); err != nil {
		w.CountLogin(err)
		return time.Time{}, loginFailed("login "+r.user.plan.Username, err)
	}
	rec.Login(clients.ProtocolIMAP, transport.OutcomeOK)
	folder, err := appendFolder(c, r.folder, do)
	if err != nil {
		return time.Time{}, failed("folder "+r.folder, err)
	}
	if err := do("APPEND", func() error {
		handed = time.Now()
		_, err := c.Append(folder, nil, time.Time{}, d.raw)
		return err
	}); err != nil {
		var answered *imap.Error // the server's NO or BAD
		if c.Sent() && !errors.As(err, &answered) {
			// The message went out whole and the server's answer did
			// not come (a close, a stall, a garbled reply; the run's
			// end or not): it may be stored. Not retried, and audited.
			return handed, unanswered(r.addr, fmt.Errorf("imap-append %s: APPEND %s: %w", dl.Addr, folder, err))
		}
		// Refused (NO, BAD), or failed before the message went out
		// whole: the server has not stored it, and a retry is safe.
		return handed, failed("APPEND "+folder, err)
	}
	_ = do("LOGOUT", c.Logout)
	return handed, nil
}

// appendStop is the stop rule of an APPEND session (injector.appendOne):
// its connection is bound to the session's context, which ends at the
// session's deadline or with run, the injector's. At the run's end a
// command in flight has the stop's grace (w); at the deadline the
// connection is closed at once.
type appendStop struct {
	w   clients.StopGrace
	run context.Context
}

// appendStops holds the appendStops of ended sessions for the next.
var appendStops = sync.Pool{New: func() any { return new(appendStop) }}

// Ended implements transport.Ender: setup is the session's
// transport.Setup, dialing or dialed.
func (s *appendStop) Ended(setup io.Closer) {
	if s.run.Err() != nil {
		s.w.Stop(setup)
		return
	}
	_ = setup.Close()
}

// appendFolder returns the mailbox an imap-append delivery to folder goes
// to, as a device finds it (clients.FindFolder: INBOX as is, else by
// NAMESPACE and LIST), creating it when the server does not list it
// (Courier starts with INBOX only), as a delivery agent filing into a
// folder does (Dovecot's lda_mailbox_autocreate); one created meanwhile by
// a device or another delivery is fine (clients.CreateFolder). When the
// LOGIN reply carried no capabilities, it asks for them first (CAPABILITY,
// recorded like the others). run runs and records each command.
func appendFolder(c *leanimap.Client, folder string, run clients.RunFunc) (string, error) {
	if strings.EqualFold(folder, view.FolderInbox) {
		return view.FolderInbox, nil
	}
	fc := clients.LeanFolders{C: c}
	if fc.Caps() == nil {
		if err := run("CAPABILITY", func() error {
			_, err := c.Capability()
			return err
		}); err != nil {
			return "", err
		}
	}
	name, listed, err := clients.FindFolder(fc, fc.Caps(), folder, run)
	if err != nil || listed {
		return name, err
	}
	if err := clients.CreateFolder(fc, name, run); err != nil {
		return "", fmt.Errorf("CREATE %s: %w", name, err)
	}
	return name, nil
}

// trackingSubmitter wraps a device's Submitter: it counts every submission
// by its outcome (EventSubmitted), sent mail and, for
// recipients inside the simulated population whose mail the server delivers
// itself, records the deliver change (to those the server accepted when
// it refused others: clients.RecipientsError). A submission whose reply
// never came after the message data (clients.ErrUnanswered) counts no sent
// mail and records, for each simulated recipient the server had accepted,
// a delivery of unknown fate (audit.Change.Unanswered, Submitted) for the
// final audit to look for: the server may have delivered it.
type trackingSubmitter struct {
	next     clients.Submitter
	protocol string
	// user and device are the sender, for the sent event.
	user, device string
	events       Sink
	peers        directory
	changes      changeSink
}

func (t *trackingSubmitter) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	err := t.next.Submit(ctx, from, to, raw)
	// Every submission is counted once, by how it ended: one the run's
	// end cut counts nowhere else (docs/report.md, "Submissions").
	outcome := submissionOutcome(ctx, err)
	t.events.Handle(Event{Type: EventSubmitted, Protocol: t.protocol, Outcome: outcome, AtEnd: ctx.Err() != nil,
		User: t.user, Device: t.device})
	// The server refused some recipients and sent the others the
	// message: sent (the device does not submit it again), to those.
	var re *clients.RecipientsError
	partial := errors.As(err, &re) && re.Accepted > 0
	if outcome != SubmissionSent {
		var ue *clients.UnansweredError
		if errors.As(err, &ue) {
			t.unanswered(ue.Recipients, raw)
		}
		return err
	}
	t.events.Handle(Event{Type: EventSent, Protocol: t.protocol, User: t.user, Device: t.device})
	if _, isMTA := t.next.(mtaSubmitter); isMTA {
		return nil // the injector records its own deliveries
	}
	id := mailgen.MessageID(raw)
	for _, addr := range clients.DistinctRecipients(to) {
		if partial && re.Rejected[addr] != nil {
			continue
		}
		if u := t.peers.lookup(addr); u != nil && id != "" {
			t.events.Handle(Event{Type: EventDeliver, Kind: "deliver", User: u.plan.Username, MessageID: id, Folder: view.FolderInbox})
			t.changes.record(audit.Change{User: u.plan.Username, Kind: audit.ChangeKind("deliver"),
				MessageID: u.ids.Intern(id), Folder: view.FolderInbox, Published: true})
		}
	}
	return err
}

// unanswered records a delivery of unknown fate of raw to each simulated
// recipient among rcpts, those the server accepted before the message
// data whose reply never came.
func (t *trackingSubmitter) unanswered(rcpts []string, raw []byte) {
	id := mailgen.MessageID(raw)
	if id == "" {
		return
	}
	for _, addr := range clients.DistinctRecipients(rcpts) {
		if u := t.peers.lookup(addr); u != nil {
			t.changes.record(audit.Change{User: u.plan.Username, Kind: audit.ChangeKind("deliver"),
				MessageID: u.ids.Intern(id), Folder: view.FolderInbox, Unanswered: true, Submitted: true})
		}
	}
}

// mtaSubmitter is used when the target has no submission server: the
// injector plays the MTA and delivers the devices' mail to simulated
// recipients through target.delivery; external recipients are only counted.
type mtaSubmitter struct {
	peers directory
	queue mailQueue
}

func (m mtaSubmitter) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	var rcpts []recipient
	for _, addr := range clients.DistinctRecipients(to) {
		if u := m.peers.lookup(addr); u != nil {
			rcpts = append(rcpts, recipient{addr: addr, user: u, folder: view.FolderInbox})
		}
	}
	if len(rcpts) == 0 {
		return nil
	}
	m.queue.enqueue(ctx, delivery{from: from, rcpts: rcpts, id: mailgen.MessageID(raw), raw: raw})
	return nil
}
