package metrics

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/mailsim/mailsim/internal/faketest"
)

// dovecotPage is a page of Dovecot 2.3.19's stats service for the metric
// blocks of scripts/dovecot.sh, trimmed from a real scrape. The IDLE rows
// are edited in: one IDLE finished without a tagged reply.
const dovecotPage = `# HELP process_start_time_seconds Timestamp of service start
# TYPE process_start_time_seconds gauge
process_start_time_seconds 1795643396
# HELP dovecot_build Dovecot build information
# TYPE dovecot_build info
dovecot_build_info{version="2.3.19.1",revision="9b53102964"} 1
# HELP dovecot_imap_command Total number of all events of this kind
# TYPE dovecot_imap_command counter
dovecot_imap_command_total{cmd_name="SELECT"} 2
dovecot_imap_command_total{cmd_name="SELECT",tagged_reply_state="OK"} 1
dovecot_imap_command_total{cmd_name="SELECT",tagged_reply_state="NO"} 1
dovecot_imap_command_total{cmd_name="unknown"} 1
dovecot_imap_command_total{cmd_name="unknown",tagged_reply_state="BAD"} 1
dovecot_imap_command_total{cmd_name="IDLE"} 3
dovecot_imap_command_total{cmd_name="IDLE",tagged_reply_state="OK"} 2
dovecot_imap_command_count 6
# HELP dovecot_imap_command_duration_seconds Total duration of all events of this kind
# TYPE dovecot_imap_command_duration_seconds counter
dovecot_imap_command_duration_seconds_total{cmd_name="SELECT"} 0.013372
dovecot_imap_command_duration_seconds_total{cmd_name="SELECT",tagged_reply_state="OK"} 0.013301
dovecot_imap_command_duration_seconds_total{cmd_name="SELECT",tagged_reply_state="NO"} 0.000071
dovecot_imap_command_duration_seconds_total{cmd_name="unknown"} 0.000100
dovecot_imap_command_duration_seconds_total{cmd_name="unknown",tagged_reply_state="BAD"} 0.000100
dovecot_imap_command_duration_seconds_total{cmd_name="IDLE"} 30.5
dovecot_imap_command_duration_seconds_total{cmd_name="IDLE",tagged_reply_state="OK"} 20.5
dovecot_imap_command_duration_seconds_sum 30.513472
# HELP dovecot_imap_command_latency Histogram
# TYPE dovecot_imap_command_latency histogram
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="0.000100"} 1
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="0.001000"} 1
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="0.010000"} 1
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="0.100000"} 2
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="1.000000"} 2
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="10.000000"} 2
dovecot_imap_command_latency_bucket{cmd_name="SELECT",le="+Inf"} 2
dovecot_imap_command_latency_sum{cmd_name="SELECT"} 0.013372
dovecot_imap_command_latency_count{cmd_name="SELECT"} 2
# HELP dovecot_smtp_command Total number of all events of this kind
# TYPE dovecot_smtp_command counter
dovecot_smtp_command_total{cmd_name="RCPT"} 3
dovecot_smtp_command_total{cmd_name="RCPT",status_code="250"} 1
dovecot_smtp_command_total{cmd_name="RCPT",status_code="550"} 1
dovecot_smtp_command_total{cmd_name="RCPT",status_code="501"} 1
dovecot_smtp_command_count 3
# HELP dovecot_smtp_command_duration_seconds Total duration of all events of this kind
# TYPE dovecot_smtp_command_duration_seconds counter
dovecot_smtp_command_duration_seconds_total{cmd_name="RCPT"} 0.000534
dovecot_smtp_command_duration_seconds_total{cmd_name="RCPT",status_code="250"} 0.000350
dovecot_smtp_command_duration_seconds_total{cmd_name="RCPT",status_code="550"} 0.000184
dovecot_smtp_command_duration_seconds_sum 0.000534
# HELP dovecot_mail_delivery Total number of all events of this kind
# TYPE dovecot_mail_delivery counter
dovecot_mail_delivery_total 1
dovecot_mail_delivery_duration_seconds_total 0.008298
# HELP dovecot_auth_success Total number of all events of this kind
# TYPE dovecot_auth_success counter
dovecot_auth_success_total{service="imap"} 1
dovecot_auth_success_total{service="pop3"} 1
dovecot_auth_success_count 2
# HELP dovecot_auth_failures Total number of all events of this kind
# TYPE dovecot_auth_failures counter
dovecot_auth_failures_total{service="pop3"} 1
dovecot_auth_failures_count 1
# HELP dovecot_imap_session Total number of all events of this kind
# TYPE dovecot_imap_session counter
dovecot_imap_session_total 1
dovecot_pop3_session_total 1
dovecot_lmtp_session_total 4
# EOF
`

func TestMapDovecotPage(t *testing.T) {
	fams, err := parsePage([]byte(dovecotPage))
	if err != nil {
		t.Fatal(err)
	}
	s := mapDovecot(fams, "lmtp")
	commands := []struct {
		key  commandKey
		want float64
	}{
		{commandKey{"imap", "SELECT", "ok"}, 1},
		{commandKey{"imap", "SELECT", "no"}, 1},
		{commandKey{"imap", "other", "bad"}, 1},
		{commandKey{"imap", "IDLE", "ok"}, 2},
		{commandKey{"imap", "IDLE", "error"}, 1},
		{commandKey{"lmtp", "RCPT", "ok"}, 1},
		{commandKey{"lmtp", "RCPT", "no"}, 1},
		{commandKey{"lmtp", "RCPT", "bad"}, 1},
	}
	for _, tc := range commands {
		if got := s.commands[tc.key]; got != tc.want {
			t.Errorf("commands%v = %v, want %v", tc.key, got, tc.want)
		}
	}
	if len(s.commands) != len(commands) {
		t.Errorf("commands = %v, want exactly %d series", s.commands, len(commands))
	}

	durations := []struct {
		key     durationKey
		count   uint64
		sum     float64
		buckets int
	}{
		{durationKey{"imap", "SELECT"}, 2, 0.013372, 6}, // histogram
		// The IMAP histogram exists, so IMAP durations come from it
		// alone: IDLE, absent from it, has none.
		{durationKey{"imap", "IDLE"}, 0, 0, 0},
		// No SMTP histogram on the page: sum and count only.
		{durationKey{"lmtp", "RCPT"}, 3, 0.000534, 0},
	}
	for _, tc := range durations {
		h := s.durations[tc.key]
		if tc.count == 0 {
			if h != nil {
				t.Errorf("durations%v = %+v, want none", tc.key, h)
			}
			continue
		}
		if h == nil {
			t.Fatalf("durations%v missing; have %v", tc.key, s.durations)
		}
		if h.count != tc.count || math.Abs(h.sum-tc.sum) > 1e-9 || len(h.buckets) != tc.buckets {
			t.Errorf("durations%v = %+v, want count %d sum %v and %d buckets", tc.key, h, tc.count, tc.sum, tc.buckets)
		}
	}
	if b := s.durations[durationKey{"imap", "SELECT"}].buckets; b[0.01] != 1 || b[0.1] != 2 {
		t.Errorf("SELECT buckets = %v", b)
	}

	logins := map[loginKey]float64{{"imap", "ok"}: 1, {"pop3", "ok"}: 1, {"pop3", "no"}: 1}
	for k, want := range logins {
		if got := s.logins[k]; got != want {
			t.Errorf("logins%v = %v, want %v", k, got, want)
		}
	}
	if !s.hasDeliveries || s.deliveries != 1 {
		t.Errorf("deliveries = %v (%v), want 1", s.deliveries, s.hasDeliveries)
	}
	if s.sessions["imap"] != 1 || s.sessions["pop3"] != 1 || s.sessions["lmtp"] != 4 {
		t.Errorf("sessions = %v", s.sessions)
	}
}

func TestDovecotOutcomes(t *testing.T) {
	tests := []struct {
		fn   func(string) string
		in   string
		want string
	}{
		{imapOutcome, "OK", "ok"},
		{imapOutcome, "NO", "no"},
		{imapOutcome, "BAD", "bad"},
		{imapOutcome, "", "error"},
		{smtpOutcome, "250", "ok"},
		{smtpOutcome, "354", "ok"},
		{smtpOutcome, "451", "no"},
		{smtpOutcome, "550", "no"},
		{smtpOutcome, "500", "bad"},
		{smtpOutcome, "504", "bad"},
		{smtpOutcome, "x", "error"},
		{smtpOutcome, "199", "error"},
	}
	for _, tc := range tests {
		if got := tc.fn(tc.in); got != tc.want {
			t.Errorf("outcome(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNewDovecotRejectsBadOptions(t *testing.T) {
	for _, url := range []string{"", "127.0.0.1:1/metrics", "ftp://x/metrics"} {
		if _, err := NewDovecot(DovecotOptions{URL: url}); err == nil {
			t.Errorf("NewDovecot(%q) succeeded", url)
		}
	}
}

// closedURL returns a loopback URL where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	return "http://" + faketest.RefusedAddr(t) + "/metrics"
}

func TestDovecotScrapeFailure(t *testing.T) {
	url := closedURL(t)
	d, err := NewDovecot(DovecotOptions{URL: url, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(d)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v (a dead exporter must not break the registry)", err)
	}
	if len(fams) != 1 || fams[0].GetName() != "mailsim_server_exporter_up" || fams[0].GetMetric()[0].GetGauge().GetValue() != 0 {
		t.Errorf("families = %v, want only mailsim_server_exporter_up 0", fams)
	}
	if err := d.LastError(); err == nil || !strings.Contains(err.Error(), url) {
		t.Errorf("LastError = %v, want an error naming %s", err, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := DovecotCommandCounts(ctx, url); err == nil {
		t.Error("DovecotCommandCounts on a closed port succeeded")
	}
	if _, err := DovecotDeliveries(ctx, url); err == nil {
		t.Error("DovecotDeliveries on a closed port succeeded")
	}
}

// counterValue returns the value of the sample of family name with the
// given labels in fams, and whether it exists.
func counterValue(fams []*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return sampleValue(m), true
		}
	}
	return 0, false
}
