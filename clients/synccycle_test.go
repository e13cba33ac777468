package clients

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestSyncCycle(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    Profile
		want time.Duration
		why  string
	}{
		{"pop3 pc default", Profile{Kind: KindPC, Protocol: POP3}, 10 * time.Minute, "poll_interval 10m0s"},
		{"pop3 phone default", Profile{Kind: KindPhone, Protocol: POP3}, 15 * time.Minute, "poll_interval"},
		{"pop3 set", Profile{Kind: KindPC, Protocol: POP3, PollInterval: 2 * time.Minute}, 2 * time.Minute, "poll_interval"},
		{"imap phone", Profile{Kind: KindPhone, Protocol: IMAP, PollInterval: 3 * time.Minute}, 3 * time.Minute, "poll_interval"},
		{"webmail default", Profile{Kind: KindWebmail, Protocol: IMAP}, time.Minute, "refresh"},
		{"imap pc idle", Profile{Kind: KindPC, Protocol: IMAP, Idle: true, PollInterval: time.Hour}, 30 * time.Minute, "status_interval 10m0s × 3"},
		{"imap pc idle status set", Profile{Kind: KindPC, Protocol: IMAP, Idle: true, StatusInterval: 2 * time.Minute}, 6 * time.Minute, "status_interval 2m0s × 3"},
		{"imap pc polling slower than status", Profile{Kind: KindPC, Protocol: IMAP, PollInterval: time.Hour}, time.Hour, "poll_interval 1h0m0s"},
	} {
		got, why := SyncCycle(&tt.p)
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
	for _, tt := range []struct {
		name            string
		p               *Profile
		scale           float64
		ok              bool
		trips           int
		wall            time.Duration
		inRun, onNetwrk float64
	}{
		{"pop3 edge", edge(POP3, 600*time.Millisecond, 5*time.Minute), 60, true, 7, 4200 * time.Millisecond, 0.84, 0.014},
		{"imap 3g", edge(IMAP, 300*time.Millisecond, 10*time.Minute), 60, true, 8, 2400 * time.Millisecond, 0.24, 0.004},
		{"real time", edge(POP3, 600*time.Millisecond, 5*time.Minute), 1, true, 7, 4200 * time.Millisecond, 0.014, 0.014},
		{"no drops", edge(POP3, 600*time.Millisecond, 0), 60, false, 0, 0, 0, 0},
		{"no latency", edge(IMAP, 0, time.Minute), 60, false, 0, 0, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, ok := SessionLengthOf(tt.p, tt.scale)
			if ok != tt.ok || l.Trips != tt.trips || l.Wall != tt.wall ||
				math.Abs(l.InRun-tt.inRun) > 1e-9 || math.Abs(l.OnNetwork-tt.onNetwrk) > 1e-9 {
				t.Errorf("SessionLengthOf = %+v, %v; want trips %d, wall %v, in run %g, on a network %g, %v",
					l, ok, tt.trips, tt.wall, tt.inRun, tt.onNetwrk, tt.ok)
			}
		})
	}
}
