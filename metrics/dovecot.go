package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The Dovecot metric families a [Dovecot] collector reads: the names
// Dovecot's stats service gives the "metric" blocks of scripts/dovecot.sh
// (see docs/dovecot.md), with Dovecot's "dovecot_" prefix.
const (
	dovecotIMAPCommands   = "dovecot_imap_command_total"                  // {cmd_name[,tagged_reply_state]}
	dovecotIMAPDurations  = "dovecot_imap_command_duration_seconds_total" // {cmd_name[,tagged_reply_state]}
	dovecotIMAPLatency    = "dovecot_imap_command_latency"                // histogram {cmd_name}
	dovecotSMTPCommands   = "dovecot_smtp_command_total"                  // {cmd_name[,status_code]}
	dovecotSMTPDurations  = "dovecot_smtp_command_duration_seconds_total"
	dovecotSMTPLatency    = "dovecot_smtp_command_latency"
	dovecotDeliveries     = "dovecot_mail_delivery_total"
	dovecotAuthSuccess    = "dovecot_auth_success_total" // {service}
	dovecotAuthFailures   = "dovecot_auth_failures_total"
	dovecotSessionsPrefix = "dovecot_" // + imap|pop3|lmtp + "_session_total"
	dovecotSessionsSuffix = "_session_total"
)

// DovecotOptions configure a [Dovecot] collector.
type DovecotOptions struct {
	// URL is Dovecot's OpenMetrics endpoint (the scenario's
	// target.metrics_url), e.g. "http://127.0.0.1:10900/metrics". Required.
	URL string
	// Timeout bounds each scrape of URL. Default 5 s.
	Timeout time.Duration
	// SMTPProtocol is the protocol label of Dovecot's SMTP server commands
	// (smtp_server_command_finished), which come from LMTP and, where it
	// is enabled, the submission service. Default "lmtp".
	SMTPProtocol string
	// Client is the HTTP client. Default: a client without keep-alive (an
	// idle connection would hold Dovecot's stats process, and so the
	// server's shutdown, waiting).
	Client *http.Client
}

// Dovecot is a [prometheus.Collector] that scrapes a Dovecot 2.3 stats
// OpenMetrics endpoint at every collection and re-exports it under
// mailsim's server metric names:
//
//   - mailsim_server_commands_total{protocol,command,outcome}: IMAP from
//     dovecot_imap_command_total by cmd_name and tagged_reply_state
//     (commands without a tagged reply count as outcome "error"); LMTP from
//     dovecot_smtp_command_total by cmd_name and status_code.
//   - mailsim_server_command_duration_seconds{protocol,command}: from the
//     dovecot_*_command_latency histograms, or sum and count only from
//     dovecot_*_command_duration_seconds_total when those are absent.
//   - mailsim_server_logins_total{protocol,outcome},
//     mailsim_server_deliveries_total, mailsim_server_sessions_total{protocol}
//     and mailsim_server_exporter_up (see [DovecotMetrics]).
//
// It is used instead of [Server] when the target is a real Dovecot: both
// export mailsim_server_commands_total and
// mailsim_server_command_duration_seconds, so they must not share a
// registry. A failed scrape exports only mailsim_server_exporter_up 0, so
// mailsim's own metrics stay available; [Dovecot.LastError] tells why.
type Dovecot struct {
	url     string
	timeout time.Duration
	smtp    string
	client  *http.Client

	mu      sync.Mutex
	lastErr error
}

var (
	dovecotCommandsDesc = prometheus.NewDesc("mailsim_server_commands_total",
		"Protocol commands the mail server handled, by protocol, command (unknown commands as \"other\") and outcome (ok, no, bad, error); from Dovecot's stats.",
		[]string{"protocol", "command", "outcome"}, nil)
	dovecotDurationDesc = prometheus.NewDesc("mailsim_server_command_duration_seconds",
		"Time the mail server took per command, by protocol and command; from Dovecot's stats.",
		[]string{"protocol", "command"}, nil)
	dovecotLoginsDesc = prometheus.NewDesc("mailsim_server_logins_total",
		"Authentication requests the mail server finished, by protocol (Dovecot's service) and outcome (ok, no).",
		[]string{"protocol", "outcome"}, nil)
	dovecotDeliveriesDesc = prometheus.NewDesc("mailsim_server_deliveries_total",
		"Messages the mail server delivered into mailboxes (Dovecot's mail_delivery_finished: one per recipient).",
		nil, nil)
	dovecotSessionsDesc = prometheus.NewDesc("mailsim_server_sessions_total",
		"Mail user sessions the mail server finished, by protocol (Dovecot has no per-command POP3 statistics; this is its POP3 load).",
		[]string{"protocol"}, nil)
	dovecotUpDesc = prometheus.NewDesc("mailsim_server_exporter_up",
		"1 when the last scrape of the mail server's own exporter succeeded, else 0.",
		nil, nil)
)

// DovecotMetrics returns the metrics a [Dovecot] collector exports beyond
// the catalog's mailsim_server_commands_total and
// mailsim_server_command_duration_seconds.
func DovecotMetrics() []Metric {
	return []Metric{
		{"mailsim_server_logins_total", TypeCounter, []string{"protocol", "outcome"}},
		{"mailsim_server_deliveries_total", TypeCounter, nil},
		{"mailsim_server_sessions_total", TypeCounter, []string{"protocol"}},
		{"mailsim_server_exporter_up", TypeGauge, nil},
	}
}

// NewDovecot returns a collector of the Dovecot endpoint o.URL; register it
// on a registry that holds no [Server].
func NewDovecot(o DovecotOptions) (*Dovecot, error) {
	if o.URL == "" {
		return nil, errors.New("dovecot metrics: no URL")
	}
	if !strings.HasPrefix(o.URL, "http://") && !strings.HasPrefix(o.URL, "https://") {
		return nil, fmt.Errorf("dovecot metrics %q: URL must be http:// or https://", o.URL)
	}
	d := &Dovecot{url: o.URL, timeout: o.Timeout, smtp: o.SMTPProtocol, client: o.Client}
	if d.timeout <= 0 {
		d.timeout = 5 * time.Second
	}
	if d.smtp == "" {
		d.smtp = clients.ProtocolLMTP
	}
	d.smtp = NormalizeProtocol(d.smtp)
	if d.client == nil {
		d.client = noKeepAliveClient()
	}
	return d, nil
}

// LastError returns the error of the last scrape, nil after a success.
func (d *Dovecot) LastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr
}

// Describe implements [prometheus.Collector].
func (d *Dovecot) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range []*prometheus.Desc{dovecotCommandsDesc, dovecotDurationDesc,
		dovecotLoginsDesc, dovecotDeliveriesDesc, dovecotSessionsDesc, dovecotUpDesc} {
		ch <- desc
	}
}

// Collect implements [prometheus.Collector]: it scrapes Dovecot once.
func (d *Dovecot) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()
	fams, err := scrapePage(ctx, d.client, d.url)
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(dovecotUpDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(dovecotUpDesc, prometheus.GaugeValue, 1)
	s := mapDovecot(fams, d.smtp)
	for k, v := range s.commands {
		ch <- prometheus.MustNewConstMetric(dovecotCommandsDesc, prometheus.CounterValue, v,
			k.protocol, k.command, k.outcome)
	}
	for k, h := range s.durations {
		ch <- prometheus.MustNewConstHistogram(dovecotDurationDesc, h.count, h.sum, h.buckets,
			k.protocol, k.command)
	}
	for k, v := range s.logins {
		ch <- prometheus.MustNewConstMetric(dovecotLoginsDesc, prometheus.CounterValue, v,
			k.protocol, k.outcome)
	}
	if s.hasDeliveries {
		ch <- prometheus.MustNewConstMetric(dovecotDeliveriesDesc, prometheus.CounterValue, s.deliveries)
	}
	for p, v := range s.sessions {
		ch <- prometheus.MustNewConstMetric(dovecotSessionsDesc, prometheus.CounterValue, v, p)
	}
}

// DovecotCommandCounts scrapes Dovecot's OpenMetrics endpoint url and
// returns the number of IMAP commands it finished, by Dovecot's command
// name ("SELECT", "UID FETCH"), from dovecot_imap_command_total. Commands
// handled by the login process (LOGIN, AUTHENTICATE and CAPABILITY, ID,
// STARTTLS before login) are not in it.
func DovecotCommandCounts(ctx context.Context, url string) (map[string]float64, error) {
	fams, err := scrapePage(ctx, noKeepAliveClient(), url)
	if err != nil {
		return nil, err
	}
	mf, ok := fams[dovecotIMAPCommands]
	if !ok {
		return nil, fmt.Errorf("dovecot metrics %s: no %s (is the imap_command metric configured?)", url, dovecotIMAPCommands)
	}
	out := make(map[string]float64)
	for cmd, rows := range splitGroups(mf, "cmd_name") {
		out[cmd] = rows.total
	}
	return out, nil
}

// DovecotDeliveries scrapes Dovecot's OpenMetrics endpoint url and returns
// the number of mail deliveries it finished (dovecot_mail_delivery_total:
// one per recipient mailbox, over LMTP or LDA).
func DovecotDeliveries(ctx context.Context, url string) (float64, error) {
	fams, err := scrapePage(ctx, noKeepAliveClient(), url)
	if err != nil {
		return 0, err
	}
	mf, ok := fams[dovecotDeliveries]
	if !ok {
		return 0, fmt.Errorf("dovecot metrics %s: no %s (is the mail_delivery metric configured?)", url, dovecotDeliveries)
	}
	var n float64
	for _, m := range mf.GetMetric() {
		n += sampleValue(m)
	}
	return n, nil
}

// sampleValue returns the value of a counter, gauge or untyped sample.
func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

// labelValue returns the value of label name of m and whether m has it.
func labelValue(m *dto.Metric, name string) (string, bool) {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue(), true
		}
	}
	return "", false
}

// group is one value of Dovecot's first group_by field: its total (the
// row with only that label, or the sum of its sub-rows when that row is
// missing) and its sub-rows by the value of the second field.
type group struct {
	total   float64
	hasRow  bool
	subrows map[string]float64
}

// splitGroups splits a family grouped by "first second" in Dovecot's way:
// rows {first=v} hold the total of v, rows {first=v,second=w} its parts.
func splitGroups(mf *dto.MetricFamily, first string) map[string]*group {
	out := make(map[string]*group)
	for _, m := range mf.GetMetric() {
		v, ok := labelValue(m, first)
		if !ok {
			continue
		}
		g := out[v]
		if g == nil {
			g = &group{subrows: make(map[string]float64)}
			out[v] = g
		}
		if len(m.GetLabel()) == 1 {
			g.total, g.hasRow = sampleValue(m), true
			continue
		}
		for _, lp := range m.GetLabel() {
			if lp.GetName() != first {
				g.subrows[lp.GetValue()] += sampleValue(m)
			}
		}
	}
	for _, g := range out {
		if !g.hasRow {
			for _, n := range g.subrows {
				g.total += n
			}
		}
	}
	return out
}

type commandKey struct{ protocol, command, outcome string }
type durationKey struct{ protocol, command string }
type loginKey struct{ protocol, outcome string }

// constHist is the data of one constant histogram.
type constHist struct {
	count   uint64
	sum     float64
	buckets map[float64]uint64
}

// dovecotSnapshot is a Dovecot page mapped to mailsim's label values.
type dovecotSnapshot struct {
	commands      map[commandKey]float64
	durations     map[durationKey]*constHist
	logins        map[loginKey]float64
	deliveries    float64
	hasDeliveries bool
	sessions      map[string]float64
}

// mapDovecot maps Dovecot's families onto mailsim's names and bounded
// label values; Dovecot names outside the allow-lists add up under
// "other".
func mapDovecot(fams map[string]*dto.MetricFamily, smtpProto string) *dovecotSnapshot {
	s := &dovecotSnapshot{
		commands:  make(map[commandKey]float64),
		durations: make(map[durationKey]*constHist),
		logins:    make(map[loginKey]float64),
		sessions:  make(map[string]float64),
	}
	addCommands := func(proto, family string, outcome func(string) string) {
		mf, ok := fams[family]
		if !ok {
			return
		}
		for name, g := range splitGroups(mf, "cmd_name") {
			cmd := NormalizeCommand(proto, name)
			var parts float64
			for reply, n := range g.subrows {
				s.commands[commandKey{proto, cmd, outcome(reply)}] += n
				parts += n
			}
			// finished without a reply (client gone, server shutdown)
			if rest := g.total - parts; rest > 0 {
				s.commands[commandKey{proto, cmd, "error"}] += rest
			}
		}
	}
	addCommands(clients.ProtocolIMAP, dovecotIMAPCommands, imapOutcome)
	addCommands(smtpProto, dovecotSMTPCommands, smtpOutcome)

	addDurations := func(proto, latency, counts, sums string) {
		if mf, ok := fams[latency]; ok && mf.GetType() == dto.MetricType_HISTOGRAM {
			for _, m := range mf.GetMetric() {
				name, _ := labelValue(m, "cmd_name")
				h := s.hist(durationKey{proto, NormalizeCommand(proto, name)})
				hm := m.GetHistogram()
				h.count += hm.GetSampleCount()
				h.sum += hm.GetSampleSum()
				for _, b := range hm.GetBucket() {
					h.buckets[b.GetUpperBound()] += b.GetCumulativeCount()
				}
			}
			return
		}
		// No latency histogram: sum and count only.
		cf, ok1 := fams[counts]
		sf, ok2 := fams[sums]
		if !ok1 || !ok2 {
			return
		}
		n := splitGroups(cf, "cmd_name")
		for name, g := range splitGroups(sf, "cmd_name") {
			h := s.hist(durationKey{proto, NormalizeCommand(proto, name)})
			h.sum += g.total
			if c, ok := n[name]; ok {
				h.count += uint64(c.total)
			}
		}
	}
	addDurations(clients.ProtocolIMAP, dovecotIMAPLatency, dovecotIMAPCommands, dovecotIMAPDurations)
	addDurations(smtpProto, dovecotSMTPLatency, dovecotSMTPCommands, dovecotSMTPDurations)
	for _, h := range s.durations {
		delete(h.buckets, math.Inf(1)) // implied by the count
	}

	for family, outcome := range map[string]string{dovecotAuthSuccess: "ok", dovecotAuthFailures: "no"} {
		mf, ok := fams[family]
		if !ok {
			continue
		}
		for _, m := range mf.GetMetric() {
			svc, _ := labelValue(m, "service")
			s.logins[loginKey{NormalizeProtocol(svc), outcome}] += sampleValue(m)
		}
	}
	if mf, ok := fams[dovecotDeliveries]; ok {
		s.hasDeliveries = true
		for _, m := range mf.GetMetric() {
			s.deliveries += sampleValue(m)
		}
	}
	for _, p := range []string{clients.ProtocolIMAP, clients.ProtocolPOP3, clients.ProtocolLMTP} {
		if mf, ok := fams[dovecotSessionsPrefix+p+dovecotSessionsSuffix]; ok {
			for _, m := range mf.GetMetric() {
				s.sessions[p] += sampleValue(m)
			}
		}
	}
	return s
}

func (s *dovecotSnapshot) hist(k durationKey) *constHist {
	h := s.durations[k]
	if h == nil {
		h = &constHist{buckets: make(map[float64]uint64)}
		s.durations[k] = h
	}
	return h
}

// imapOutcome maps Dovecot's tagged_reply_state to an outcome.
func imapOutcome(state string) string {
	switch strings.ToUpper(state) {
	case "OK":
		return "ok"
	case "NO":
		return "no"
	case "BAD":
		return "bad"
	}
	return "error"
}

// smtpOutcome maps an SMTP/LMTP status code to an outcome: 2xx and 3xx
// ok, 500-504 (syntax, unknown command) bad, other 4xx/5xx no.
func smtpOutcome(code string) string {
	n, err := strconv.Atoi(code)
	switch {
	case err != nil:
		return "error"
	case n >= 200 && n < 400:
		return "ok"
	case n >= 500 && n <= 504:
		return "bad"
	case n >= 400 && n < 600:
		return "no"
	}
	return "error"
}
