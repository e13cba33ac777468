package metrics

import (
	"maps"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

func TestClientCountsAndTotals(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewClient(reg)
	ev := func(p, cmd string, o transport.Outcome, d time.Duration) {
		c.Command(clients.CommandEvent{Protocol: p, Command: cmd, Outcome: o, Duration: d})
	}
	for i := 0; i < 100; i++ {
		ev("imap", "UID FETCH", transport.OutcomeOK, time.Duration(i+1)*time.Millisecond)
	}
	ev("imap", "UID FETCH", transport.OutcomeNo, time.Millisecond)
	ev("imap", "UID FETCH", transport.OutcomeTimeout, 50*time.Millisecond)
	ev("imap", "UID FETCH", transport.OutcomeTimeout, 50*time.Millisecond)
	ev("imap", "FROB", transport.OutcomeError, time.Millisecond)
	ev("pop3", "RETR", transport.OutcomeOK, 5*time.Millisecond)
	ev("pop3", "RETR", transport.OutcomeDropped, 5*time.Millisecond)
	c.Connection("imap", 1)
	c.Connection("imap", 1)
	c.Connection("imap", -1)
	c.Bytes("imap", 500, 40)
	c.Bytes("imap", -5, 0)
	c.Login("imap", transport.OutcomeOK)
	c.Login("imap", transport.OutcomeNo)
	c.Login("pop3", transport.OutcomeDropped)
	c.ClosedIdle("imap")
	c.ClosedIdle("imap")
	c.Sent("smtp")
	c.Delivered("lmtp")
	c.Delivered("carrier-pigeon")
	c.Action("pc-imap", "read")
	c.Action("pc-imap", "read")
	c.ActionCut("pc-imap", "send")
	c.ActionCut("pc-imap", "frobnicate")

	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"fetch ok", testutil.ToFloat64(c.cmds.counters.WithLabelValues("imap", "UID FETCH", "ok")), 100},
		{"fetch no", testutil.ToFloat64(c.cmds.counters.WithLabelValues("imap", "UID FETCH", "no")), 1},
		{"unknown command", testutil.ToFloat64(c.cmds.counters.WithLabelValues("imap", "other", "error")), 1},
		{"open imap connections", testutil.ToFloat64(c.connsVec.WithLabelValues("imap")), 1},
		{"bytes in", testutil.ToFloat64(c.bytesVec.WithLabelValues("imap", "in")), 500},
		{"bytes out", testutil.ToFloat64(c.bytesVec.WithLabelValues("imap", "out")), 40},
		{"logins no", testutil.ToFloat64(c.loginsVec.WithLabelValues("imap", "no")), 1},
		{"retr dropped", testutil.ToFloat64(c.cmds.counters.WithLabelValues("pop3", "RETR", "dropped")), 1},
		{"retr error", testutil.ToFloat64(c.cmds.counters.WithLabelValues("pop3", "RETR", "error")), 0},
		{"logins dropped", testutil.ToFloat64(c.loginsVec.WithLabelValues("pop3", "dropped")), 1},
		{"closed idle", testutil.ToFloat64(c.closedVec.WithLabelValues("imap")), 2},
		{"sent", testutil.ToFloat64(c.sent.WithLabelValues("smtp")), 1},
		{"delivered lmtp", testutil.ToFloat64(c.delivered.WithLabelValues("lmtp")), 1},
		{"delivered other", testutil.ToFloat64(c.delivered.WithLabelValues("other")), 1},
		{"actions", testutil.ToFloat64(c.actions.WithLabelValues("pc-imap", "read")), 2},
		{"actions cut", testutil.ToFloat64(c.actionsCut.WithLabelValues("pc-imap", "send")), 1},
		{"actions cut, unknown action", testutil.ToFloat64(c.actionsCut.WithLabelValues("pc-imap", "other")), 1},
		{"no action done for one cut", testutil.ToFloat64(c.actions.WithLabelValues("pc-imap", "send")), 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}

	st := c.Stats()
	fetch := st["imap"]["UID FETCH"]
	if fetch.Count != 103 || fetch.Errors != 3 {
		t.Errorf("UID FETCH stats count %d errors %d, want 103 and 3", fetch.Count, fetch.Errors)
	}
	// Each failure is named by its outcome.
	if want := map[string]uint64{"no": 1, "timeout": 2}; !reflect.DeepEqual(fetch.ErrorsBy, want) {
		t.Errorf("UID FETCH errors by outcome %v, want %v", fetch.ErrorsBy, want)
	}
	if fetch.P50 < 0.049 || fetch.P50 > 0.052 || fetch.P99 < 0.097 || fetch.P99 > 0.101 {
		t.Errorf("UID FETCH p50 %v p99 %v, want ≈0.050 and ≈0.099", fetch.P50, fetch.P99)
	}
	if _, ok := st["imap"]["other"]; !ok {
		t.Errorf("stats lack imap/other: %v", st["imap"])
	}
	// A drop is the simulated network's, not the server's failure: its
	// own figure, not an error.
	if got := st["pop3"]["RETR"]; got.Count != 2 || got.Errors != 0 || got.Dropped != 1 || got.ErrorsBy != nil {
		t.Errorf("pop3 RETR count %d errors %d dropped %d, want 2, 0 and 1", got.Count, got.Errors, got.Dropped)
	}

	tot := c.Totals().Protocols
	imap := tot["imap"]
	if imap.Commands != 104 || imap.Errors != 4 || imap.BytesIn != 500 || imap.BytesOut != 40 ||
		imap.OpenConnections != 1 || imap.PeakConnections != 2 || imap.Logins["ok"] != 1 || imap.Logins["no"] != 1 ||
		imap.ClosedIdle != 2 {
		t.Errorf("imap totals = %+v", imap)
	}
	if pop3 := tot["pop3"]; pop3.Commands != 2 || pop3.Errors != 0 || pop3.Dropped != 1 || pop3.Logins["dropped"] != 1 {
		t.Errorf("pop3 totals = %+v, want 2 commands, 0 errors, 1 dropped, 1 dropped login", pop3)
	}
	if tot["smtp"].Sent != 1 {
		t.Errorf("smtp sent = %d, want 1", tot["smtp"].Sent)
	}
	if _, ok := tot["lmtp"]; ok {
		t.Errorf("unused protocol lmtp in totals: %+v", tot["lmtp"])
	}
}

func TestClientWithoutRegistry(t *testing.T) {
	c := NewClient(nil)
	c.Command(clients.CommandEvent{Protocol: "imap", Command: "NOOP", Outcome: transport.OutcomeOK, Duration: time.Millisecond})
	if got := c.Stats()["imap"]["NOOP"].Count; got != 1 {
		t.Fatalf("Stats without registry: NOOP count %d, want 1", got)
	}
	// A second unregistered client must not clash with the first.
	NewClient(nil).Command(clients.CommandEvent{Protocol: "imap", Command: "NOOP"})
}

func TestClientHotPathDoesNotAllocate(t *testing.T) {
	c := NewClient(prometheus.NewRegistry())
	ev := clients.CommandEvent{Protocol: "imap", Command: "UID FETCH", Outcome: transport.OutcomeOK, Duration: 3 * time.Millisecond}
	c.Command(ev)
	c.Action("pc-imap", "read")
	c.Delivered("imap-append")
	c.DeliveryAttempt("imap-append", "ok")
	c.DeliveryDone("imap-append", "timeout")
	tests := []struct {
		name string
		f    func()
	}{
		{"Command", func() { c.Command(ev) }},
		{"Bytes", func() { c.Bytes("imap", 100, 10) }},
		{"Connection", func() { c.Connection("imap", 1); c.Connection("imap", -1) }},
		{"Login", func() { c.Login("imap", transport.OutcomeOK) }},
		{"Action", func() { c.Action("pc-imap", "read") }},
		{"Delivered", func() { c.Delivered("imap-append") }},
		{"DeliveryAttempt", func() { c.DeliveryAttempt("imap-append", "ok") }},
		{"DeliveryDone", func() { c.DeliveryDone("imap-append", "timeout") }},
		{"DeliveryQueued", func() { c.DeliveryQueued("imap-append", 3*time.Millisecond) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s allocates %v times per call in steady state", tt.name, n)
		}
	}
}

// BenchmarkClientDelivery is the injector's metrics per delivery: a try,
// the delivery, its final outcome.
func BenchmarkClientDelivery(b *testing.B) {
	c := NewClient(prometheus.NewRegistry())
	b.ReportAllocs()
	for b.Loop() {
		c.DeliveryAttempt("imap-append", "ok")
		c.Delivered("imap-append")
		c.DeliveryDone("imap-append", "ok")
	}
}

func BenchmarkClientCommand(b *testing.B) {
	c := NewClient(prometheus.NewRegistry())
	cmds := []string{"UID FETCH", "SELECT", "IDLE", "UID STORE", "NOOP"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Command(clients.CommandEvent{Protocol: "imap", Command: cmds[i%len(cmds)], Outcome: transport.OutcomeOK, Duration: time.Duration(i%1000) * time.Microsecond})
			i++
		}
	})
}

// TestClientDeliveries checks the delivery metrics: tries and final
// outcomes counted apart, by path and bounded outcome.
func TestClientDeliveries(t *testing.T) {
	c := NewClient(prometheus.NewRegistry())
	c.DeliveryAttempt("lmtp", "4xx")
	c.DeliveryAttempt("lmtp", "4xx")
	c.DeliveryAttempt("lmtp", "ok")
	c.DeliveryDone("lmtp", "ok")
	c.DeliveryAttempt("lmtp", "refused")
	c.DeliveryDone("lmtp", "refused")
	c.DeliveryDone("imap-append", "abandoned")
	c.DeliveryDone("lmtp", "451 4.3.0 user42 over quota") // error text never becomes a label
	// Counted before the lookups below, which create series.
	if n := testutil.CollectAndCount(c.deliveries); n != 4 {
		t.Errorf("mailsim_deliveries_total has %d series, want 4", n)
	}
	tests := []struct {
		name string
		vec  *prometheus.CounterVec
		via  string
		out  string
		want float64
	}{
		{"failed tries", c.attempts, "lmtp", "4xx", 2},
		{"ok tries", c.attempts, "lmtp", "ok", 1},
		{"refused tries", c.attempts, "lmtp", "refused", 1},
		{"delivered", c.deliveries, "lmtp", "ok", 1},
		{"retried then delivered is no failure", c.deliveries, "lmtp", "4xx", 0},
		{"refused", c.deliveries, "lmtp", "refused", 1},
		{"abandoned", c.deliveries, "imap-append", "abandoned", 1},
		{"unknown outcome", c.deliveries, "lmtp", "error", 1},
	}
	for _, tt := range tests {
		if got := testutil.ToFloat64(tt.vec.WithLabelValues(tt.via, tt.out)); got != tt.want {
			t.Errorf("%s: %s{via=%s,outcome=%s} = %v, want %v", tt.name, "deliveries", tt.via, tt.out, got, tt.want)
		}
	}
}

// TestClientSubmitted checks mailsim_submissions_total: one per call, by
// protocol and outcome, an unknown outcome as failed (error text never
// becomes a label), the outcomes of the protocols that submit (imap,
// smtp, lmtp) exposed from the start, pop3's (which never submits) and
// other's only when used.
func TestClientSubmitted(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewClient(reg)
	outcomes := len(SubmissionOutcomes())
	if got, want := seriesByProtocol(t, reg, "mailsim_submissions_total"), map[string]int{"imap": outcomes, "smtp": outcomes, "lmtp": outcomes}; !maps.Equal(got, want) {
		t.Errorf("mailsim_submissions_total's series by protocol before any submission: %v, want %v", got, want)
	}
	c.Submitted("smtp", "sent")
	c.Submitted("smtp", "unanswered")
	c.Submitted("smtp", "unanswered")
	c.Submitted("smtp", "cut")
	c.Submitted("lmtp", "sent")
	c.Submitted("smtp", "smtp 127.0.0.1:25: EOF")
	c.Submitted("carrier-pigeon", "cut")
	for _, tt := range []struct {
		protocol, outcome string
		want              float64
	}{
		{"smtp", "sent", 1},
		{"smtp", "unanswered", 2},
		{"smtp", "cut", 1},
		{"smtp", "failed", 1},
		{"lmtp", "sent", 1},
		{"other", "cut", 1},
		{"imap", "sent", 0},
	} {
		if got := testutil.ToFloat64(c.submitted.WithLabelValues(tt.protocol, tt.outcome)); got != tt.want {
			t.Errorf("mailsim_submissions_total{protocol=%s,outcome=%s} = %v, want %v", tt.protocol, tt.outcome, got, tt.want)
		}
	}
	// other's outcomes appeared with its submission; pop3's did not.
	if got, want := seriesByProtocol(t, reg, "mailsim_submissions_total"), map[string]int{"imap": outcomes, "smtp": outcomes, "lmtp": outcomes, Other: outcomes}; !maps.Equal(got, want) {
		t.Errorf("mailsim_submissions_total's series by protocol: %v, want %v", got, want)
	}
}

// seriesByProtocol counts the series of the metric name reg exposes, by
// protocol.
func seriesByProtocol(t *testing.T, reg prometheus.Gatherer, name string) map[string]int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "protocol" {
					out[l.GetValue()]++
				}
			}
		}
	}
	return out
}

// TestClientSent checks mailsim_messages_sent_total: one per call, by
// protocol, the series of the protocols mail is submitted over (imap,
// smtp, lmtp) exposed at 0 from the start, pop3's (which never submits)
// and other's only when used.
func TestClientSent(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewClient(reg)
	const name = "mailsim_messages_sent_total"
	if got, want := seriesByProtocol(t, reg, name), map[string]int{"imap": 1, "smtp": 1, "lmtp": 1}; !maps.Equal(got, want) {
		t.Errorf("%s's series by protocol before any message: %v, want %v", name, got, want)
	}
	c.Sent("smtp")
	c.Sent("smtp")
	c.Sent("carrier-pigeon")
	for _, tt := range []struct {
		protocol string
		want     float64
	}{
		{"smtp", 2},
		{"imap", 0},
		{"other", 1},
	} {
		if got := testutil.ToFloat64(c.sent.WithLabelValues(tt.protocol)); got != tt.want {
			t.Errorf("%s{protocol=%s} = %v, want %v", name, tt.protocol, got, tt.want)
		}
	}
	if got, want := seriesByProtocol(t, reg, name), map[string]int{"imap": 1, "smtp": 1, "lmtp": 1, Other: 1}; !maps.Equal(got, want) {
		t.Errorf("%s's series by protocol: %v, want %v", name, got, want)
	}
	if got := c.Totals().Protocols; got["smtp"].Sent != 2 || got[Other].Sent != 1 {
		t.Errorf("Totals: smtp sent %d, other sent %d; want 2 and 1", got["smtp"].Sent, got[Other].Sent)
	}
}

// TestClientDeliveryQueued checks mailsim_delivery_queue_wait_seconds:
// one observation per call, in seconds, by path (anything unknown as
// other), in the documented buckets.
func TestClientDeliveryQueued(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewClient(reg)
	c.DeliveryQueued("imap-append", 2*time.Millisecond)
	c.DeliveryQueued("imap-append", 3*time.Second)
	c.DeliveryQueued("lmtp", 0)
	c.DeliveryQueued("user42@example.com", time.Minute) // never a label
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type obs struct {
		count    uint64
		sum      float64
		under5ms uint64 // cumulative count of the 5 ms bucket
		under5s  uint64
	}
	got := map[string]obs{}
	for _, mf := range mfs {
		if mf.GetName() != "mailsim_delivery_queue_wait_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			o := obs{count: h.GetSampleCount(), sum: h.GetSampleSum()}
			for _, b := range h.GetBucket() {
				switch b.GetUpperBound() {
				case 0.005:
					o.under5ms = b.GetCumulativeCount()
				case 5:
					o.under5s = b.GetCumulativeCount()
				}
			}
			got[m.GetLabel()[0].GetValue()] = o
		}
	}
	want := map[string]obs{
		"imap-append": {count: 2, sum: 3.002, under5ms: 1, under5s: 2},
		"lmtp":        {count: 1, sum: 0, under5ms: 1, under5s: 1},
		"other":       {count: 1, sum: 60, under5ms: 0, under5s: 0},
	}
	for via, w := range want {
		g := got[via]
		if g.count != w.count || g.under5ms != w.under5ms || g.under5s != w.under5s || math.Abs(g.sum-w.sum) > 1e-9 {
			t.Errorf("via %s: %+v, want %+v", via, g, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series by via %v, want %d: a path's series appears when used", got, len(want))
	}
}

// TestClientActionsPending checks mailsim_actions_pending: the actions
// planned less those done, cut and given up, by action; the actions
// people plan exposed at 0 from the start, an unknown one as other.
func TestClientActionsPending(t *testing.T) {
	c := NewClient(prometheus.NewRegistry())
	if n, want := testutil.CollectAndCount(c.pending), len(plannedActions); n != want {
		t.Errorf("mailsim_actions_pending has %d series before any action, want %d", n, want)
	}
	c.ActionsPlanned("read", 1)
	c.ActionsPlanned("read", 1)
	c.ActionsPlanned("reply", 1)
	c.ActionsPlanned("send", 1)
	c.ActionsPlanned("send", 1)
	c.ActionsPlanned("juggle", 2)
	c.Action("phone", "read")
	c.ActionCut("pc", "send")
	c.ActionsDropped("reply", 1)
	c.ActionsDropped("juggle", 1)
	for _, tt := range []struct {
		action string
		want   float64
	}{
		{"read", 1}, {"reply", 0}, {"send", 1}, {"flag", 0}, {Other, 1},
	} {
		if got := testutil.ToFloat64(c.pending.WithLabelValues(tt.action)); got != tt.want {
			t.Errorf("mailsim_actions_pending{action=%s} = %v, want %v", tt.action, got, tt.want)
		}
	}
}
