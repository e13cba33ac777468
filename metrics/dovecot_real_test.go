package metrics

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/mailsim/mailsim/internal/dovecottest"
)

// deliverLMTP delivers n messages to rcpt over LMTP.
func deliverLMTP(t testing.TB, addr, rcpt string, n int) {
	t.Helper()
	c := smtp.NewClientLMTP(dovecottest.Dial(t, addr))
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatalf("LHLO: %v", err)
	}
	for i := 0; i < n; i++ {
		msg := fmt.Sprintf("From: a@example.org\r\nTo: %s\r\nSubject: m%d\r\nMessage-ID: <m%d@example.org>\r\n\r\nbody %d\r\n", rcpt, i, i, i)
		if err := c.SendMail("a@example.org", []string{rcpt}, strings.NewReader(msg)); err != nil {
			t.Fatalf("LMTP delivery %d: %v", i, err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

// imapLoop logs in and runs rounds of SELECT INBOX, FETCH 1:* FLAGS and
// STORE 1 +FLAGS.SILENT (\Seen), then one SELECT of a missing mailbox, then
// LOGOUT.
func imapLoop(t testing.TB, addr, user, pass string, rounds int) {
	t.Helper()
	c := imapclient.New(dovecottest.Dial(t, addr), nil)
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	all := imap.SeqSetNum()
	all.AddRange(1, 0)
	for i := 0; i < rounds; i++ {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatalf("SELECT: %v", err)
		}
		if _, err := c.Fetch(all, &imap.FetchOptions{Flags: true}).Collect(); err != nil {
			t.Fatalf("FETCH: %v", err)
		}
		store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}
		if err := c.Store(imap.SeqSetNum(1), store, nil).Close(); err != nil {
			t.Fatalf("STORE: %v", err)
		}
	}
	if _, err := c.Select("No-Such-Box", nil).Wait(); err == nil {
		t.Fatal("SELECT of a missing mailbox succeeded")
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("LOGOUT: %v", err)
	}
}

// waitCounts polls Dovecot until it reports at least want[name] of each
// IMAP command (its stats arrive asynchronously) and returns the counts.
func waitCounts(t testing.TB, url string, want map[string]float64) map[string]float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dovecottest.IOTimeout)
	defer cancel()
	for {
		got, err := DovecotCommandCounts(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		for name, n := range want {
			if got[name] < n {
				done = false
			}
		}
		if done {
			return got
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Dovecot counts %v never reached %v", got, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestDovecotCollectorAgainstDovecot(t *testing.T) {
	inst := dovecottest.Start(t, 2)
	const rounds, mails = 4, 3
	deliverLMTP(t, inst.LMTP, "user1@example.com", mails)
	imapLoop(t, inst.IMAP, inst.Username(1), inst.Password, rounds)

	counts := waitCounts(t, inst.MetricsURL, map[string]float64{"LOGOUT": 1})
	for name, want := range map[string]float64{"SELECT": rounds + 1, "FETCH": rounds, "STORE": rounds, "LOGOUT": 1} {
		if counts[name] != want {
			t.Errorf("DovecotCommandCounts[%s] = %v, want %v (all: %v)", name, counts[name], want, counts)
		}
	}
	if _, ok := counts["LOGIN"]; ok {
		t.Errorf("LOGIN counted by the imap process: %v", counts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dovecottest.IOTimeout)
	defer cancel()
	if n, err := DovecotDeliveries(ctx, inst.MetricsURL); err != nil || n != mails {
		t.Errorf("DovecotDeliveries = %v, %v; want %d", n, err, mails)
	}

	d, err := NewDovecot(DovecotOptions{URL: inst.MetricsURL})
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(d); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(d)
	series := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mailsim_server_exporter_up", nil, 1},
		{"mailsim_server_commands_total", map[string]string{"protocol": "imap", "command": "SELECT", "outcome": "ok"}, rounds},
		{"mailsim_server_commands_total", map[string]string{"protocol": "imap", "command": "SELECT", "outcome": "no"}, 1},
		{"mailsim_server_commands_total", map[string]string{"protocol": "imap", "command": "FETCH", "outcome": "ok"}, rounds},
		{"mailsim_server_commands_total", map[string]string{"protocol": "imap", "command": "STORE", "outcome": "ok"}, rounds},
		{"mailsim_server_commands_total", map[string]string{"protocol": "lmtp", "command": "DATA", "outcome": "ok"}, mails},
		{"mailsim_server_commands_total", map[string]string{"protocol": "lmtp", "command": "RCPT", "outcome": "ok"}, mails},
		{"mailsim_server_deliveries_total", nil, mails},
		{"mailsim_server_logins_total", map[string]string{"protocol": "imap", "outcome": "ok"}, 1},
		{"mailsim_server_sessions_total", map[string]string{"protocol": "imap"}, 1},
	}
	// Session events may reach the stats process after the commands':
	// gather until every series is as expected or the deadline passes.
	var fams []*dto.MetricFamily
	var mismatches []string
	for deadline := time.Now().Add(dovecottest.IOTimeout); ; time.Sleep(20 * time.Millisecond) {
		if fams, err = reg.Gather(); err != nil {
			t.Fatal(err)
		}
		if err := d.LastError(); err != nil {
			t.Fatal(err)
		}
		mismatches = mismatches[:0]
		for _, s := range series {
			got, ok := counterValue(fams, s.name, s.labels)
			if !ok || got != s.want {
				mismatches = append(mismatches, fmt.Sprintf("%s%v = %v (present %v), want %v", s.name, s.labels, got, ok, s.want))
			}
		}
		if len(mismatches) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, m := range mismatches {
		t.Error(m)
	}
	promtoolCheck(t, fams)
	var selects uint64
	for _, f := range fams {
		if f.GetName() != "mailsim_server_command_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if l, _ := labelValue(m, "command"); l == "SELECT" {
				selects = m.GetHistogram().GetSampleCount()
				if len(m.GetHistogram().GetBucket()) == 0 {
					t.Error("SELECT duration histogram has no buckets")
				}
			}
		}
	}
	if selects != rounds+1 {
		t.Errorf("SELECT duration count = %d, want %d", selects, rounds+1)
	}
}

// promtoolCheck runs "promtool check metrics" over fams when promtool is
// installed (CI installs it; elsewhere the check is skipped with a note).
func promtoolCheck(t *testing.T, fams []*dto.MetricFamily) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed")
		}
		t.Log("promtool not installed: skipping promtool check metrics")
		return
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), dovecottest.IOTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
