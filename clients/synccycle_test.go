package clients

import (
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
