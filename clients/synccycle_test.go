package clients

import (
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

func TestSyncCycle(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    scenarios.DeviceProfile
		want time.Duration
		why  string
	}{
		{"pop3 pc default", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.POP3}, 10 * time.Minute, "poll_interval 10m0s"},
		{"pop3 phone default", scenarios.DeviceProfile{Kind: scenarios.KindPhone, Protocol: scenarios.POP3}, 15 * time.Minute, "poll_interval"},
		{"pop3 set", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.POP3, PollInterval: 2 * time.Minute}, 2 * time.Minute, "poll_interval"},
		{"imap phone", scenarios.DeviceProfile{Kind: scenarios.KindPhone, Protocol: scenarios.IMAP, PollInterval: 3 * time.Minute}, 3 * time.Minute, "poll_interval"},
		{"webmail default", scenarios.DeviceProfile{Kind: scenarios.KindWebmail, Protocol: scenarios.IMAP}, time.Minute, "refresh"},
		{"imap pc idle", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.IMAP, Idle: true, PollInterval: time.Hour}, 30 * time.Minute, "status_interval 10m0s × 3"},
		{"imap pc idle status set", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.IMAP, Idle: true, StatusInterval: 2 * time.Minute}, 6 * time.Minute, "status_interval 2m0s × 3"},
		{"imap pc polling slower than status", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.IMAP, PollInterval: time.Hour}, time.Hour, "poll_interval 1h0m0s"},
	} {
		got, why := SyncCycle(&tt.p)
		if got != tt.want || !strings.HasPrefix(why, tt.why) {
			t.Errorf("%s: SyncCycle = %s (%s), want %s (%s...)", tt.name, got, why, tt.want, tt.why)
		}
	}
}
