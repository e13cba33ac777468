package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestServerRecords(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewServer(reg, func() []FolderUsage {
		return []FolderUsage{
			{Role: "INBOX", Messages: 3, Bytes: 300},
			{Role: "inbox", Messages: 2, Bytes: 200},
			{Role: "Projects", Messages: 1, Bytes: 10},
		}
	})
	s.Command("imap", "SELECT", "ok", 2*time.Millisecond)
	s.Command("imap", "SELECT", "bad", time.Millisecond)
	s.Command("lmtp", "DATA", "ok", time.Millisecond)
	s.Connection("imap", 1)
	s.Connection("pop3", 1)
	s.Connection("imap", -1)
	s.Connection("pop3", 1)
	s.Delivered("lmtp")

	if got := s.PeakConnections(); got != 2 {
		t.Errorf("PeakConnections = %d, want 2", got)
	}
	if got := s.Stats()["imap"]["SELECT"]; got.Count != 2 || got.Errors != 1 {
		t.Errorf("imap SELECT stats %+v, want count 2 errors 1", got)
	}
	if got := s.Deliveries()["lmtp"]; got != 1 {
		t.Errorf("Deliveries[lmtp] = %d, want 1", got)
	}
	if got := testutil.ToFloat64(s.connsVec.WithLabelValues("pop3")); got != 2 {
		t.Errorf("pop3 connections = %v, want 2", got)
	}
	// Delivered is not exported by default: the injector's Client counts
	// deliveries during a run.
	if n, err := testutil.GatherAndCount(reg, "mailsim_messages_delivered_total"); err != nil || n != 0 {
		t.Errorf("delivered series = %d (%v), want 0 without ExportDelivered", n, err)
	}
	tests := []struct {
		metric, folder string
		want           float64
	}{
		{"mailsim_server_stored_messages", "inbox", 5},
		{"mailsim_server_stored_bytes", "inbox", 500},
		{"mailsim_server_stored_messages", "other", 1},
		{"mailsim_server_stored_messages", "sent", 0},
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		found := false
		for _, mf := range mfs {
			if mf.GetName() != tt.metric {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == tt.folder {
					found = true
					if got := m.GetGauge().GetValue(); got != tt.want {
						t.Errorf("%s{folder=%q} = %v, want %v", tt.metric, tt.folder, got, tt.want)
					}
				}
			}
		}
		if !found {
			t.Errorf("%s{folder=%q} missing", tt.metric, tt.folder)
		}
	}
}

func TestServerExportDelivered(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := NewServerWithOptions(reg, ServerOptions{ExportDelivered: true})
	s.Delivered("smtp")
	if got := testutil.ToFloat64(s.delivered.WithLabelValues("smtp")); got != 1 {
		t.Errorf("delivered{via=smtp} = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(reg, "mailsim_messages_delivered_total", "mailsim_server_stored_messages"); err != nil || n != 1 {
		t.Errorf("series = %d (%v), want 1 (delivered, and no stored_* without Usage)", n, err)
	}
}
