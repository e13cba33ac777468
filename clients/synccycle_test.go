package clients

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

func TestSyncCycle(t *testing.T) {
	for _, tt := range []struct {
		name  string
		p     Profile
		filed []string
		want  time.Duration
		why   string
	}{
		{"pop3 pc default", Profile{Kind: KindPC, Protocol: POP3}, nil, 10 * time.Minute, "poll_interval 10m0s"},
		{"pop3 phone default", Profile{Kind: KindPhone, Protocol: POP3}, nil, 15 * time.Minute, "poll_interval"},
		{"pop3 set", Profile{Kind: KindPC, Protocol: POP3, PollInterval: 2 * time.Minute}, nil, 2 * time.Minute, "poll_interval"},
		{"imap phone", Profile{Kind: KindPhone, Protocol: IMAP, PollInterval: 3 * time.Minute}, nil, 3 * time.Minute, "poll_interval"},
		{"webmail default", Profile{Kind: KindWebmail, Protocol: IMAP}, nil, 10 * time.Minute, "refresh 1m0s × 10: the folder list is read again"},
		{"webmail, a filed folder of a known role", Profile{Kind: KindWebmail, Protocol: IMAP}, []string{"INBOX.Junk", "Archives"}, 10 * time.Minute, "refresh 1m0s × 10: the folder list"},
		{"webmail, fast refresh", Profile{Kind: KindWebmail, Protocol: IMAP, Refresh: 30 * time.Second}, nil, 10 * time.Minute, "refresh 30s × 20: the folder list"},
		{"webmail, list not on a refresh", Profile{Kind: KindWebmail, Protocol: IMAP, Refresh: 90 * time.Second}, nil, 10*time.Minute + 30*time.Second, "refresh 1m30s × 7: the folder list"},
		{"webmail, folders slower than the list", Profile{Kind: KindWebmail, Protocol: IMAP, Refresh: 3 * time.Minute}, nil, 15 * time.Minute, "refresh 3m0s × 5 folders other than INBOX"},
		{"webmail, 7 other folders", Profile{Kind: KindWebmail, Protocol: IMAP, Refresh: 2 * time.Minute}, []string{"Archive", "Projects", "Sent", "INBOX", "Clients"}, 14 * time.Minute, "refresh 2m0s × 7 folders other than INBOX"},
		{"imap pc idle", Profile{Kind: KindPC, Protocol: IMAP, Idle: true, PollInterval: time.Hour}, nil, 30 * time.Minute, "status_interval 10m0s × 3"},
		{"imap pc idle status set", Profile{Kind: KindPC, Protocol: IMAP, Idle: true, StatusInterval: 2 * time.Minute}, nil, 6 * time.Minute, "status_interval 2m0s × 3"},
		{"imap pc polling slower than status", Profile{Kind: KindPC, Protocol: IMAP, PollInterval: time.Hour}, nil, time.Hour, "poll_interval 1h0m0s"},
	} {
		got, why := SyncCycle(&tt.p, tt.filed)
		if got != tt.want || !strings.HasPrefix(why, tt.why) {
			t.Errorf("%s: SyncCycle = %s (%s), want %s (%s...)", tt.name, got, why, tt.want, tt.why)
		}
	}
}

// TestSessionLengthOf: a session's least length beside the drop interval,
// in the run (latency in wall time, the interval compressed) and on a
// real network.
func TestSessionLengthOf(t *testing.T) {
	edge := func(proto Protocol, latency, every time.Duration) *Profile {
		p := &Profile{Name: "p", Kind: KindPhone, Protocol: proto}
		p.Network.Latency, p.Network.DisconnectEvery = latency, every
		return p
	}
	slow := func(p *Profile, bandwidth int64, fetch bool) *Profile {
		p.Network.Bandwidth, p.FetchImmediate = bandwidth, fetch
		return p
	}
	for _, tt := range []struct {
		name            string
		p               *Profile
		scale           float64
		message         int64
		ok              bool
		trips           int
		wall            time.Duration
		inRun, onNetwrk float64
	}{
		{"pop3 edge", edge(POP3, 600*time.Millisecond, 5*time.Minute), 60, 0, true, 7, 4200 * time.Millisecond, 0.84, 0.014},
		{"imap 3g", edge(IMAP, 300*time.Millisecond, 10*time.Minute), 60, 0, true, 8, 2400 * time.Millisecond, 0.24, 0.004},
		{"real time", edge(POP3, 600*time.Millisecond, 5*time.Minute), 1, 0, true, 7, 4200 * time.Millisecond, 0.014, 0.014},
		{"no drops", edge(POP3, 600*time.Millisecond, 0), 60, 0, false, 0, 0, 0, 0},
		{"no latency", edge(IMAP, 0, time.Minute), 60, 0, false, 0, 0, 0, 0},
		// 25,000 bytes at 200 kbit/s: 1 s more.
		{"pop3 edge download", slow(edge(POP3, 600*time.Millisecond, 5*time.Minute), 200_000, false), 60, 25_000, true, 7, 5200 * time.Millisecond, 1.04, 5.2 / 300},
		{"bandwidth alone", slow(edge(POP3, 0, 5*time.Minute), 200_000, false), 60, 25_000, true, 7, time.Second, 0.2, 1.0 / 300},
		{"imap headers only", slow(edge(IMAP, 300*time.Millisecond, 10*time.Minute), 200_000, false), 60, 25_000, true, 8, 2400 * time.Millisecond, 0.24, 0.004},
		{"imap bodies", slow(edge(IMAP, 300*time.Millisecond, 10*time.Minute), 200_000, true), 60, 25_000, true, 8, 3400 * time.Millisecond, 0.34, 3.4 / 600},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := SessionLengthOf(tt.p, tt.scale, tt.message)
			if ok != tt.ok || l.Trips != tt.trips || l.Wall != tt.wall ||
				math.Abs(l.InRun-tt.inRun) > 1e-9 || math.Abs(l.OnNetwork-tt.onNetwrk) > 1e-9 {
				t.Errorf("SessionLengthOf = %+v, %v; want trips %d, wall %v, in run %g, on a network %g, %v",
					l, ok, tt.trips, tt.wall, tt.inRun, tt.onNetwrk, tt.ok)
			}
		})
	}
}

// TestSubmissionLengthOf: an SMTP submission's least length (7 round
// trips and the message's upload at the bandwidth) beside its network's
// drop interval, in the run and on a real network.
func TestSubmissionLengthOf(t *testing.T) {
	nw := func(latency time.Duration, bandwidth int64, every time.Duration) transport.Network {
		return transport.Network{Latency: latency, Bandwidth: bandwidth, DisconnectEvery: every}
	}
	for _, tt := range []struct {
		name            string
		nw              transport.Network
		scale           float64
		message         int64
		ok              bool
		wall            time.Duration
		inRun, onNetwrk float64
	}{
		// 8 KiB at 200 kbit/s: 327.68 ms.
		{"edge", nw(600*time.Millisecond, 200_000, 5*time.Minute), 60, 8192, true, 4527680 * time.Microsecond, 4.52768 / 300 * 60, 4.52768 / 300},
		{"latency alone", nw(300*time.Millisecond, 0, 10*time.Minute), 60, 8192, true, 2100 * time.Millisecond, 0.21, 2.1 / 600},
		// 25,000 bytes at 200 kbit/s: 1 s.
		{"bandwidth alone", nw(0, 200_000, 2*time.Minute), 60, 25_000, true, time.Second, 0.5, 1.0 / 120},
		{"no drops", nw(600*time.Millisecond, 200_000, 0), 60, 8192, false, 0, 0, 0},
		{"unshaped", nw(0, 0, time.Minute), 60, 8192, false, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := SubmissionLengthOf(tt.nw, tt.scale, tt.message)
			wantTrips := 0
			if tt.ok {
				wantTrips = 7
			}
			if ok != tt.ok || l.Trips != wantTrips || l.Wall != tt.wall ||
				math.Abs(l.InRun-tt.inRun) > 1e-9 || math.Abs(l.OnNetwork-tt.onNetwrk) > 1e-9 {
				t.Errorf("SubmissionLengthOf = %+v, %v; want trips %d, wall %v, in run %g, on a network %g, %v",
					l, ok, wantTrips, tt.wall, tt.inRun, tt.onNetwrk, tt.ok)
			}
		})
	}
}
