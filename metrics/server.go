package metrics

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FolderUsage is what a mail server stores in one folder (or, summed, in
// every folder of one role) across all users.
type FolderUsage struct {
	// Role is the folder's role or name: "inbox", "sent", "drafts",
	// "trash", "junk", "archive"; anything else is reported as "other".
	Role string
	// Messages is the number of stored messages.
	Messages int
	// Bytes is the stored size in bytes.
	Bytes int64
}

// ServerOptions configure a [Server].
type ServerOptions struct {
	// Usage, when set, is called at every scrape and reports what the
	// server stores now; entries of the same role are summed. Nil: no
	// mailsim_server_stored_* series.
	Usage func() []FolderUsage
	// ExportDelivered makes Delivered count into
	// mailsim_messages_delivered_total on the registry. Off by default,
	// because in a run the traffic injector's [Client] already counts each
	// delivery; turn it on where the server runs alone ("mailsim serve").
	ExportDelivered bool
}

// Server records the load on the embedded mail server as the
// mailsim_server_* metrics. It implements the Recorder of
// internal/mailserver. All methods are safe for concurrent use.
type Server struct {
	cmds      *commandTable
	connsVec  *prometheus.GaugeVec
	conns     [numProtocols]prometheus.Gauge
	open      atomic.Int64
	peak      atomic.Int64
	delivered *prometheus.CounterVec
	nDeliver  [4]atomic.Uint64 // by index in DeliveryPaths, then other
}

// NewServer returns a Server whose metrics are registered on reg (nil: not
// registered). usage may be nil; see [ServerOptions].
func NewServer(reg prometheus.Registerer, usage func() []FolderUsage) *Server {
	return NewServerWithOptions(reg, ServerOptions{Usage: usage})
}

// NewServerWithOptions is [NewServer] with all options. It panics, like
// promauto, if reg already holds the Server's metrics.
func NewServerWithOptions(reg prometheus.Registerer, o ServerOptions) *Server {
	counters, durations := newCommandVecs("server", "the mail server handled")
	s := &Server{
		cmds: newCommandTable(counters, durations),
		connsVec: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mailsim_server_connections",
			Help: "Client connections the mail server holds open now, by protocol.",
		}, []string{"protocol"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mailsim_messages_delivered_total",
			Help: "Messages delivered to users' mailboxes, by path (lmtp, smtp, imap-append).",
		}, []string{"via"}),
	}
	for p := 0; p < numProtocols; p++ {
		s.conns[p] = s.connsVec.WithLabelValues(protocolNames[p])
	}
	for p := 0; p < protoOther; p++ {
		s.conns[p].Set(0)
	}
	cs := []prometheus.Collector{counters, durations, s.connsVec}
	if o.Usage != nil {
		cs = append(cs, &usageCollector{usage: o.Usage})
	}
	if o.ExportDelivered {
		cs = append(cs, s.delivered)
	}
	register(reg, cs...)
	return s
}

// Command records one command the server handled: protocol "imap", "pop3",
// "smtp" or "lmtp", the command name, outcome "ok", "no", "bad" or "error",
// and how long the server took.
func (s *Server) Command(protocol, command, outcome string, d time.Duration) {
	s.cmds.record(protocol, command, outcome, d)
}

// Connection records a client connection opening (delta +1) or closing
// (-1).
func (s *Server) Connection(protocol string, delta int) {
	s.conns[protocolIndex(protocol)].Add(float64(delta))
	n := s.open.Add(int64(delta))
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
}

// Delivered records a message the server accepted for delivery, by path.
func (s *Server) Delivered(via string) {
	v := NormalizeDeliveryPath(via)
	i := len(DeliveryPaths())
	for j, p := range DeliveryPaths() {
		if p == v {
			i = j
		}
	}
	s.nDeliver[i].Add(1)
	s.delivered.WithLabelValues(v).Inc()
}

// Deliveries returns the number of messages delivered so far, by path.
func (s *Server) Deliveries() map[string]uint64 {
	out := make(map[string]uint64)
	paths := append(DeliveryPaths(), Other)
	for i := range s.nDeliver {
		if n := s.nDeliver[i].Load(); n > 0 {
			out[paths[i]] = n
		}
	}
	return out
}

// Stats returns protocol → command → latency and error statistics of every
// command the server handled, from fine-grained histograms (about 2%
// relative error on percentiles).
func (s *Server) Stats() map[string]map[string]CommandStats { return s.cmds.stats() }

// PeakConnections returns the largest number of connections, over all
// protocols, the server held open at once.
func (s *Server) PeakConnections() int { return int(s.peak.Load()) }

// usageCollector exports mailsim_server_stored_messages and
// mailsim_server_stored_bytes by folder role, calling usage at each scrape.
type usageCollector struct {
	usage func() []FolderUsage
}

var (
	storedMessagesDesc = prometheus.NewDesc("mailsim_server_stored_messages",
		"Messages the mail server stores now over all users, by folder role (inbox, sent, drafts, trash, junk, archive, other).",
		[]string{"folder"}, nil)
	storedBytesDesc = prometheus.NewDesc("mailsim_server_stored_bytes",
		"Bytes the mail server stores now over all users, by folder role (inbox, sent, drafts, trash, junk, archive, other).",
		[]string{"folder"}, nil)
)

// Describe implements prometheus.Collector.
func (u *usageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storedMessagesDesc
	ch <- storedBytesDesc
}

// Collect implements prometheus.Collector.
func (u *usageCollector) Collect(ch chan<- prometheus.Metric) {
	type sum struct {
		msgs  int
		bytes int64
	}
	by := make(map[string]*sum)
	// The main roles always appear, so that dashboards have data from the
	// first scrape.
	for _, r := range []string{"inbox", "sent"} {
		by[r] = &sum{}
	}
	for _, f := range u.usage() {
		r := NormalizeFolderRole(f.Role)
		if by[r] == nil {
			by[r] = &sum{}
		}
		by[r].msgs += f.Messages
		by[r].bytes += f.Bytes
	}
	for r, s := range by {
		ch <- prometheus.MustNewConstMetric(storedMessagesDesc, prometheus.GaugeValue, float64(s.msgs), r)
		ch <- prometheus.MustNewConstMetric(storedBytesDesc, prometheus.GaugeValue, float64(s.bytes), r)
	}
}
