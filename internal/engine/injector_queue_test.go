package engine

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// startGatedLMTP starts a fake LMTP server that holds every session, its
// greeting unsent, until open is called (at most 10 s), then stores every
// message; open may be called more than once, and the test's end calls it.
func startGatedLMTP(t *testing.T) (addr string, open func()) {
	gate := make(chan struct{})
	var once sync.Once
	open = func() { once.Do(func() { close(gate) }) }
	ok250 := func(string) string { return "250 ok" }
	script := lmtpScript(ok250, func(int) string { return "250 2.0.0 stored" })
	addr = startFakeLMTP(t, func(c net.Conn, r *bufio.Reader) {
		select {
		case <-gate:
		case <-time.After(10 * time.Second):
			return
		}
		script(c, r)
	})
	// Before the server's own cleanup, which waits for the sessions.
	t.Cleanup(open)
	return addr, open
}

// TestInjectorQueueWait checks the injector's queue figures (QueueWait):
// with one connection and an LMTP server that holds every session until
// the test lets it go, deliveries wait in the queue; every one is
// measured, the backlog settle's drain found is counted, and a drain that
// runs out of time says so; what the injector then delivers during
// settle counts delivered, and what a stopped injector never tried counts
// abandoned.
func TestInjectorQueueWait(t *testing.T) {
	const msgs = 4 // to 2 users each: 8 deliveries
	tests := []struct {
		name    string
		release bool // let the server answer after the hold
		wantCut bool
		// settle: after a cut drain, open the gate and let the injector
		// go on until every delivery was tried, as Run's settle does.
		settle bool
	}{
		{name: "drained", release: true},
		{name: "drain cut", release: false, wantCut: true},
		{name: "drain cut, delivered during settle", release: false, wantCut: true, settle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, open := startGatedLMTP(t)
			e, _ := newTestInjector(t, scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone, Addr: addr})
			e.inj.timeout = 5 * time.Second
			if tt.wantCut {
				e.inj.drainLimit = 100 * time.Millisecond
			}

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			injCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); e.inj.run(injCtx) }()
			queued := time.Now()
			for i := range msgs {
				var rcpts []recipient
				for _, u := range e.users {
					rcpts = append(rcpts, recipient{addr: u.plan.Address, user: u, folder: "INBOX"})
				}
				e.inj.enqueue(ctx, delivery{from: "someone@example.net", rcpts: rcpts, id: fmt.Sprintf("<q%d@test>", i),
					raw: []byte(fmt.Sprintf("Message-ID: <q%d@test>\r\nSubject: t\r\n\r\nhello\r\n", i)), inbound: true})
			}
			const hold = 50 * time.Millisecond
			if tt.release {
				go func() {
					time.Sleep(hold)
					open()
				}()
			}
			e.inj.drain(ctx)
			held := time.Since(queued)
			if tt.settle {
				open()
				limit := time.NewTimer(15 * time.Second)
				for e.inj.inflight.Load() > 0 {
					select {
					case <-e.inj.idle: // inflight reached 0 (a token may be older: look again)
					case <-limit.C:
						t.Fatalf("%d deliveries still in flight 15 s after the gate opened", e.inj.inflight.Load())
					}
				}
				limit.Stop()
			}
			stop()
			<-done
			st := e.inj.finish()
			q := st.Queue

			if q.Connections != 1 {
				t.Errorf("connections %d, want 1", q.Connections)
			}
			// With the gate shut, nothing was delivered when drain started:
			// the first delivery was held by the server, the others queued
			// behind it. With the gate opening after the hold, a stalled
			// machine may have delivered some before drain looked.
			if tt.wantCut && q.Backlog != 2*msgs || q.Backlog <= 0 || q.Backlog > 2*msgs {
				t.Errorf("backlog %d, want %d (at most, with the gate open)", q.Backlog, 2*msgs)
			}
			if q.DrainCut != tt.wantCut {
				t.Errorf("drain cut %v, want %v", q.DrainCut, tt.wantCut)
			}
			if q.Drain <= 0 || q.Drain > held {
				t.Errorf("drain took %v, want in (0, %v]", q.Drain, held)
			}
			if tt.wantCut && !tt.settle {
				// The message being tried (2 deliveries) ends with the run;
				// the 3 queued behind it were never tried: abandoned, not
				// attempted, whichever case the worker's select picks.
				// Their waits count too, until they were abandoned after
				// the drain: the longest wait is at least the drain's.
				if st.Abandoned != 2*msgs-2 || st.Attempted != 2 || q.Samples != 2*msgs {
					t.Errorf("abandoned %d, attempted %d, samples %d: want %d, 2, %d", st.Abandoned, st.Attempted, q.Samples, 2*msgs-2, 2*msgs)
				}
				if q.Max < q.Drain {
					t.Errorf("longest wait %v, shorter than the drain (%v) the abandoned deliveries waited through", q.Max, q.Drain)
				}
				return
			}
			if st.Abandoned != 0 {
				t.Errorf("abandoned %d, want 0", st.Abandoned)
			}
			if q.Samples != 2*msgs || st.Delivered != 2*msgs {
				t.Fatalf("samples %d, delivered %d, want %d each", q.Samples, st.Delivered, 2*msgs)
			}
			// The last message waited for the three before it, each held
			// by the server until the gate opened: at least the hold.
			if q.Max < hold || q.P99 > q.Max || q.P50 > q.P99 {
				t.Errorf("waits p50 %v p99 %v max %v: want p50 ≤ p99 ≤ max and max ≥ %v", q.P50, q.P99, q.Max, hold)
			}
		})
	}
}

// TestInjectorQueueSample checks that the queue waits kept for the
// percentiles stay bounded (maxQueueSamples) while every wait counts in
// Samples and Max.
func TestInjectorQueueSample(t *testing.T) {
	// Every wait also goes to the sinks, once per recipient
	// (mailsim_delivery_queue_wait_seconds).
	var queued int
	var longest time.Duration
	in := newInjector(injectorParts{events: SinkFunc(func(ev Event) {
		if ev.Type == EventDeliveryQueued && ev.Protocol == "lmtp" {
			queued++
			longest = max(longest, ev.Late)
		}
	}), delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP}}, 1)
	rcpts := []recipient{{addr: "a@example.com"}}
	n := 3 * maxQueueSamples
	for i := range n {
		in.picked(delivery{rcpts: rcpts, queued: time.Now().Add(-time.Duration(i+1) * time.Millisecond)})
	}
	st := in.finish()
	if len(in.waits.kept) != maxQueueSamples {
		t.Errorf("kept %d waits, want %d", len(in.waits.kept), maxQueueSamples)
	}
	if st.Queue.Samples != int64(n) {
		t.Errorf("samples %d, want %d", st.Queue.Samples, n)
	}
	if st.Queue.Max < time.Duration(n)*time.Millisecond {
		t.Errorf("max %v, want at least %v (the longest wait)", st.Queue.Max, time.Duration(n)*time.Millisecond)
	}
	if queued != n || longest != st.Queue.Max {
		t.Errorf("%d queue events of via lmtp, longest %v; want %d and the report's max %v", queued, longest, n, st.Queue.Max)
	}
	// Uniform over waits of 1..n ms: the median is near n/2 ms, well away
	// from the first maxQueueSamples' median (a sample that kept only the
	// first waits would give ≈ n/6).
	if lo, hi := time.Duration(n)*time.Millisecond/4, time.Duration(n)*time.Millisecond*3/4; st.Queue.P50 < lo || st.Queue.P50 > hi {
		t.Errorf("p50 %v, want within [%v, %v]", st.Queue.P50, lo, hi)
	}
	// A delivery never queued (no hand-over time) is not measured.
	in.picked(delivery{rcpts: rcpts})
	if got := in.finish().Queue.Samples; got != int64(n) {
		t.Errorf("samples %d after an unqueued delivery, want %d", got, n)
	}
}

// TestInjectorEnqueueAfterEnd: a delivery handed over with an ended
// context is queued while the queue has room (an MTA keeps what it
// accepted; the run's settle delivers it) and abandoned only when the queue
// is full. Before, select picked at random between the queue and the ended
// context, and about half were abandoned (TestRunDeliversByIMAPAppend's
// "Abandoned:1" now and then).
func TestInjectorEnqueueAfterEnd(t *testing.T) {
	in := newInjector(injectorParts{events: &fakeSink{}}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rcpts := []recipient{{addr: "a@example.com"}}
	for range injectorQueue {
		in.enqueue(ctx, delivery{rcpts: rcpts})
	}
	if st := in.stats; st.Abandoned != 0 || len(in.queue) != injectorQueue {
		t.Fatalf("%d abandoned, %d queued of %d handed over with room in the queue; want all queued", st.Abandoned, len(in.queue), injectorQueue)
	}
	in.enqueue(ctx, delivery{rcpts: rcpts}) // the queue is full
	if in.stats.Abandoned != 1 || in.pending.Load() != injectorQueue {
		t.Errorf("full queue: %d abandoned, %d pending; want 1 and %d", in.stats.Abandoned, in.pending.Load(), injectorQueue)
	}
}

// TestInjectorOldestWaiting: the deliveries waiting for a connection and
// the age of the oldest (a live capacity step's queue at its close) — a
// delivery a worker took, or one abandoned, no longer waits. Deliveries
// count one per recipient, as the late waits within a step's window do
// (picked's EventDeliveryQueued): the close counted messages, so "3
// deliveries waited" at the close beside recipients within the window.
func TestInjectorOldestWaiting(t *testing.T) {
	in := newInjector(injectorParts{events: &fakeSink{}}, 1)
	if n, oldest := in.oldestWaiting(time.Now()); n != 0 || oldest != 0 {
		t.Fatalf("empty injector: %d waiting, oldest %v", n, oldest)
	}
	rcpts := []recipient{{addr: "a@example.com"}, {addr: "b@example.com"}}
	ctx := context.Background()
	in.enqueue(ctx, delivery{rcpts: rcpts})
	first := time.Now()
	in.enqueue(ctx, delivery{rcpts: rcpts})
	in.enqueue(ctx, delivery{rcpts: rcpts})
	n, oldest := in.oldestWaiting(first.Add(time.Minute))
	if n != 6 || oldest < time.Minute {
		t.Errorf("3 messages to 2 recipients each handed over: %d deliveries waiting, oldest %v; want 6 and at least a minute", n, oldest)
	}
	in.picked(<-in.queue) // the oldest, taken by a worker
	in.abandon(<-in.queue)
	n, oldest = in.oldestWaiting(first.Add(time.Minute))
	if n != 2 || oldest > time.Minute {
		t.Errorf("after one picked and one abandoned: %d deliveries waiting, oldest %v; want 2, the third message's, at most a minute", n, oldest)
	}
}

// The stop's graces of the injector's stop tests (injectorParts.stopGrace,
// the scenario's stop_grace), so that none depends on how fast the
// machine answers: longGrace where the server answers a held command
// after the run's end and the test wants it answered within the grace
// (far longer than any delay a loaded machine adds, shorter than the
// tests' liveness bounds), shortGrace where the grace must run out on a
// server that never answers.
const (
	longGrace  = 10 * time.Second
	shortGrace = 100 * time.Millisecond
)

// TestInjectorStalledServerAtTheEnd: the run's end gives an LMTP or SMTP
// command waiting for a stalled server the stop's grace
// (clients.StopGrace), never the injector's timeout (a second ^C must not
// wait out a server): a greeting the server never sends is a CONNECT
// timeout and a login timeout after the grace, as any command (the
// delivery a timeout; until 2026-12-05 the stop cut it at once, counting
// nothing, and the delivery was cancelled); a final reply to DATA left unanswered beyond the grace is a DATA timeout
// and, the message data having gone out, the delivery unknown (the server
// may have stored it: the audit looks for it); one that comes within the
// grace is delivered. A command answered within the grace is the
// connection's last: nothing more reaches the server (no second RCPT, no
// DATA, no RSET, no QUIT). Each case guards one of the three places that
// keep it so:
//   - "RCPT answered within the grace": smtpConn.halt ends the
//     transaction between two commands unsent, no next RCPT or DATA even
//     started, the delivery cancelled (without halt: commands started
//     RCPT:2, the second one cut by clients.StopGrace.Start before it
//     reached the server);
//   - "RCPT refused within the grace": the RSET after a transaction whose
//     every RCPT the server refused, kept from the server by
//     clients.StopGrace.Start alone, which closes the connection before
//     it goes out (without its refusal the server got ["RSET"]);
//   - "DATA answered within the grace", over LMTP and SMTP: the
//     session's QUIT, which goes out without a watch, kept by
//     injector.trySMTP (noQuit once the watch's Release says the stop
//     closes the connection; until 2026-12-04 the server got ["QUIT"]).
//     Without noQuit the QUIT starts every time (commands started
//     QUIT:1), whether or not it beats the stop's close to the server.
//
// Before them, the next command raced the stop's close and, when it won,
// counted as a stopped injector's. Until 2026-12-04 a reply to DATA the
// stop cut counted the delivery a timeout, as if the server had not stored
// it, and the audit did not look for it.
func TestInjectorStalledServerAtTheEnd(t *testing.T) {
	for _, tt := range []struct {
		name  string
		proto scenarios.DeliveryProtocol
		// stall is the command the server holds: "greeting", "lhlo",
		// "data", "rcpt" (the first RCPT, answered ok) or "refused rcpt"
		// (every RCPT is refused, the last one after the stop).
		stall string
		// late: the server answers the held command after the stop.
		late bool
		// wantFailed are the deliveries' failures by reason (all the
		// recipients'), wantCmds the failed commands recorded.
		wantFailed string
		wantCmds   map[string]int
		// wantLogins are the setups counted as logins by outcome: one
		// the server left unanswered beyond the grace is a timeout, as
		// its command is; one the stop cut is nothing.
		wantLogins map[string]int
	}{
		{"stalled greeting", scenarios.DeliverLMTP, "greeting", false, DeliveryTimeout, map[string]int{"lmtp CONNECT": 1}, map[string]int{"lmtp timeout": 1}},
		{"stalled LHLO", scenarios.DeliverLMTP, "lhlo", false, DeliveryTimeout, map[string]int{"lmtp LHLO": 1}, map[string]int{"lmtp timeout": 1}},
		{"stalled after DATA", scenarios.DeliverLMTP, "data", false, DeliveryUnknown, map[string]int{"lmtp DATA": 1}, map[string]int{"lmtp ok": 1}},
		{"SMTP stalled after DATA", scenarios.DeliverSMTP, "data", false, DeliveryUnknown, map[string]int{"smtp DATA": 1}, map[string]int{"smtp ok": 1}},
		{"DATA answered within the grace", scenarios.DeliverLMTP, "data", true, "", map[string]int{}, map[string]int{"lmtp ok": 1}},
		{"SMTP DATA answered within the grace", scenarios.DeliverSMTP, "data", true, "", map[string]int{}, map[string]int{"smtp ok": 1}},
		{"RCPT answered within the grace", scenarios.DeliverLMTP, "rcpt", true, DeliveryCancelled, map[string]int{}, map[string]int{"lmtp ok": 1}},
		{"RCPT refused within the grace", scenarios.DeliverLMTP, "refused rcpt", true, Delivery5xx, map[string]int{"lmtp RCPT": 2}, map[string]int{"lmtp ok": 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stopped := make(chan struct{})
			reached := make(chan struct{}, 1)
			// after lists the commands the server got after the held
			// command's answer; gone is closed when its connection ends.
			var mu sync.Mutex
			var after []string
			answered := false
			gone := make(chan struct{})
			held := func(reply string) string {
				<-stopped // the answer comes after the stop
				mu.Lock()
				answered = true
				mu.Unlock()
				return reply
			}
			rcpt := func(string) string { return "250 ok" }
			refused := 0
			switch tt.stall {
			case "rcpt":
				rcpt = func(string) string {
					reached <- struct{}{}
					return held("250 ok")
				}
			case "refused rcpt":
				rcpt = func(string) string {
					mu.Lock()
					refused++
					n := refused
					mu.Unlock()
					if n < injectorUsers {
						return "550 5.1.1 no such user"
					}
					reached <- struct{}{}
					return held("550 5.1.1 no such user")
				}
			}
			addr := startFakeLMTP(t, func(c net.Conn, r *bufio.Reader) {
				defer close(gone)
				switch tt.stall {
				case "greeting":
					reached <- struct{}{}
					_, _ = r.ReadString(0) // until the client goes
					return
				case "lhlo":
					fmt.Fprintf(c, "220 fake server\r\n")
					if _, err := r.ReadString('\n'); err == nil {
						reached <- struct{}{}
						_, _ = r.ReadString(0) // LHLO, never answered
					}
					return
				}
				script{rcpt: rcpt, data: func(int) string {
					select {
					case reached <- struct{}{}:
					default:
					}
					if tt.late {
						return held("250 2.0.0 stored")
					}
					_, _ = r.ReadString(0)
					return "250 2.0.0 stored"
				}, lmtp: tt.proto == scenarios.DeliverLMTP, seen: func(verb string) {
					mu.Lock()
					defer mu.Unlock()
					if answered {
						after = append(after, verb)
					}
				}}.serve(c, r)
			})
			e, dc := newTestInjector(t, scenarios.Delivery{Protocol: tt.proto, TLS: transport.TLSNone, Addr: addr})
			if len(e.users) != injectorUsers {
				t.Fatalf("%d users, want injectorScenario's %d", len(e.users), injectorUsers)
			}
			e.inj.timeout = time.Minute // longer than the test may take
			e.inj.stopGrace = shortGrace
			if tt.late {
				e.inj.stopGrace = longGrace
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			injCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); e.inj.run(injCtx) }()
			var rcpts []recipient
			for _, u := range e.users {
				rcpts = append(rcpts, recipient{addr: u.plan.Address, user: u, folder: "INBOX"})
			}
			e.inj.enqueue(ctx, delivery{from: "someone@example.net", rcpts: rcpts, id: "<s@test>",
				raw: []byte("Message-ID: <s@test>\r\nSubject: t\r\n\r\nhello\r\n"), inbound: true})
			select {
			case <-reached:
			case <-ctx.Done():
				t.Fatal("the server never saw the try")
			}
			stop()
			close(stopped)
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatal("the injector did not stop with the run: it waits for the stalled server")
			}
			st := e.inj.finish()
			n := int64(len(rcpts))
			if tt.wantFailed == "" && (st.Delivered != n || st.FailedTotal() != 0) ||
				tt.wantFailed != "" && (st.Failed[tt.wantFailed] != n || st.Delivered != 0) {
				t.Errorf("failed %v, delivered %d; want %d %s", st.Failed, st.Delivered, n, tt.wantFailed)
			}
			// The auditor looks for the deliveries of unknown fate: on a
			// server whose state shows no message, none was stored.
			ar, err := e.auditor.Final(context.Background(), emptyServer(e))
			if want := (audit.Unanswered{NotStored: int(st.Failed[DeliveryUnknown])}); err != nil || ar.Unanswered != want {
				t.Errorf("audit: unanswered %+v (err %v), want %+v", ar.Unanswered, err, want)
			}
			// What the run's end cut — the setup, the QUIT on the
			// connection it closed — is no server's error; a command left
			// unanswered beyond the grace is.
			dc.mu.Lock()
			defer dc.mu.Unlock()
			if fmt.Sprint(dc.failed) != fmt.Sprint(tt.wantCmds) {
				t.Errorf("failed commands recorded %v, want %v", dc.failed, tt.wantCmds)
			}
			if fmt.Sprint(dc.logins) != fmt.Sprint(tt.wantLogins) {
				t.Errorf("logins counted %v, want %v", dc.logins, tt.wantLogins)
			}
			// Nothing reached the server after the held command's answer:
			// the stop closed the connection before the next. By order,
			// not by luck: the answer comes after the stop (held waits
			// for stopped), so the next command's Start sees the context
			// ended and closes first (clients.StopGrace.Start). The
			// server has read everything the injector sent once it saw
			// the connection end (gone), which the injector's return
			// guarantees; until 2026-12-05 the test read on after 5 s.
			if tt.late {
				select {
				case <-gone:
				case <-time.After(20 * time.Second):
					t.Fatal("the server never saw the injector's connection end")
				}
				mu.Lock()
				if len(after) > 0 {
					t.Errorf("the server got %q after the held command: a stopped injector sends nothing", after)
				}
				mu.Unlock()
			}
			if tt.stall == "rcpt" && (dc.tracked["lmtp RCPT"] != 1 || dc.tracked["lmtp DATA"] != 0 || dc.tracked["lmtp QUIT"] != 0) {
				t.Errorf("commands started %v: want one RCPT and nothing after it", dc.tracked)
			}
			// The QUIT after a DATA answered within the grace is not even
			// started (trySMTP's noQuit): whether one sent would reach
			// the server before the stop's close is a race, whether it
			// starts is not.
			if tt.stall == "data" && tt.late && dc.tracked[string(tt.proto)+" QUIT"] != 0 {
				t.Errorf("commands started %v: want no QUIT after the DATA answered within the grace", dc.tracked)
			}
			dc.checkTracked(t)
		})
	}
}

// TestInjectorQueueWaitFromDue: inbound mail handed over after its due
// time (the arrival scheduler held by a full queue) waited for a
// connection from its due time; a delivery without one, or due later,
// from its hand-over. enqueue says when it waited for room.
func TestInjectorQueueWaitFromDue(t *testing.T) {
	var waits []time.Duration
	in := newInjector(injectorParts{events: SinkFunc(func(ev Event) {
		if ev.Type == EventDeliveryQueued {
			waits = append(waits, ev.Late)
		}
	}), queueLen: 1}, 1)
	rcpts := []recipient{{addr: "a@example.com"}}
	ctx := context.Background()
	if in.enqueue(ctx, delivery{rcpts: rcpts, heldFrom: time.Now().Add(-time.Minute), inbound: true}) {
		t.Error("a queue with room: enqueue says it waited")
	}
	in.picked(<-in.queue)
	in.enqueue(ctx, delivery{rcpts: rcpts, heldFrom: time.Now().Add(time.Hour)})
	in.picked(<-in.queue)
	in.enqueue(ctx, delivery{rcpts: rcpts})
	in.picked(<-in.queue)
	if len(waits) != 3 || waits[0] < time.Minute || waits[1] >= time.Minute || waits[2] >= time.Minute {
		t.Errorf("waits %v: want the first from its due time, a minute ago, the others from their hand-over", waits)
	}
	in.enqueue(ctx, delivery{rcpts: rcpts})
	if !in.enqueue(ended(ctx), delivery{rcpts: rcpts}) {
		t.Error("a full queue: enqueue says it did not wait")
	}
}

// TestArrivalsHeldByStalledServer: a server that holds the injector's one
// connection fills a queue of one delivery and holds the arrival
// scheduler; the mail that falls due meanwhile reaches a connection late,
// and its queue wait says so: every inbound delivery's wait is at least
// the time from its due time to its first try. Before, the mail the
// scheduler handed over after the hold counted its wait from then, and
// the hold showed as the scheduler's lateness only.
func TestArrivalsHeldByStalledServer(t *testing.T) {
	const yaml = `
version: 1
name: held
duration: 1m
time_scale: 60
users: {count: 1, username: "u{n}", password: pw}
groups: [{name: g, share: 100%, devices: [pc-imap], behavior: b}]
behaviors: {b: {inbound: {interval: 6s}}}
devices:
  pc-imap: {kind: pc, protocol: imap}
`
	addr, open := startGatedLMTP(t)
	var (
		mu          sync.Mutex
		clock       simClock
		queued      int
		short       []string
		longest     time.Duration
		lateArrival time.Duration
	)
	sink := SinkFunc(func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.Type == EventDeliveryQueued && ev.Inbound:
			queued++
			// Its due time to now: the least it waited for a connection
			// (less a little for the clock readings between).
			behind := clock.Wall(clock.Now().Sub(ev.Arrival))
			if ev.Late < behind-50*time.Millisecond {
				short = append(short, fmt.Sprintf("waited %v, due %v before", ev.Late, behind))
			}
			longest = max(longest, ev.Late)
		case ev.Type == EventLate && ev.Kind == LateArrival:
			lateArrival = max(lateArrival, ev.Late)
		}
	})
	ep := Endpoints{Delivery: scenarios.Delivery{Protocol: scenarios.DeliverLMTP, TLS: transport.TLSNone, Addr: addr}}
	ep.IMAP.Addr = "127.0.0.1:1" // devices are built, never started
	e, err := New(Options{Plan: mustPlan(t, yaml, scenarios.PlanOptions{}), Endpoints: ep, Recorder: newTestRecorder(),
		InjectorWorkers: 1, InjectorQueue: 1, Sinks: []Sink{sink}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	clock = e.clock
	mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	injCtx, stopInj := context.WithCancel(ctx)
	arrCtx, stopArr := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); e.inj.run(injCtx) }()
	go func() { defer wg.Done(); e.arrivals.run(arrCtx) }()
	e.arrivals.add(e.users[0])
	time.Sleep(1500 * time.Millisecond) // the server holds: some 15 messages fall due
	open()
	time.Sleep(500 * time.Millisecond)
	stopArr()
	e.inj.drain(ctx)
	stopInj()
	wg.Wait()
	st := e.inj.finish()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d inbound deliveries left the queue, longest wait %v; the scheduler's lateness at most %v; %d attempted, %d abandoned",
		queued, longest, lateArrival, st.Attempted, st.Abandoned)
	if queued < 5 {
		t.Fatalf("%d inbound deliveries left the queue: too few to test", queued)
	}
	if len(short) > 0 {
		t.Errorf("%d of %d inbound deliveries waited less than from their due time: %q", len(short), queued, short)
	}
}
