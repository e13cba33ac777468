package clients

import (
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

func TestSyncCycle(t *testing.T) {
	for _, tt := range []struct {
		name    string
		p       scenarios.DeviceProfile
		want    time.Duration
		setting string
	}{
		{"pop3 pc default", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.POP3}, 10 * time.Minute, "poll_interval"},
		{"pop3 phone default", scenarios.DeviceProfile{Kind: scenarios.KindPhone, Protocol: scenarios.POP3}, 15 * time.Minute, "poll_interval"},
		{"pop3 set", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.POP3, PollInterval: 2 * time.Minute}, 2 * time.Minute, "poll_interval"},
		{"imap phone", scenarios.DeviceProfile{Kind: scenarios.KindPhone, Protocol: scenarios.IMAP, PollInterval: 3 * time.Minute}, 3 * time.Minute, "poll_interval"},
		{"webmail default", scenarios.DeviceProfile{Kind: scenarios.KindWebmail, Protocol: scenarios.IMAP}, time.Minute, "refresh"},
		{"imap pc idle", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.IMAP, Idle: true, PollInterval: time.Hour}, 10 * time.Minute, "status_interval"},
		{"imap pc idle status set", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.IMAP, Idle: true, StatusInterval: 20 * time.Minute}, 20 * time.Minute, "status_interval"},
		{"imap pc polling slower than status", scenarios.DeviceProfile{Kind: scenarios.KindPC, Protocol: scenarios.IMAP, PollInterval: 30 * time.Minute}, 30 * time.Minute, "poll_interval"},
	} {
		got, setting := SyncCycle(&tt.p)
		if got != tt.want || setting != tt.setting {
			t.Errorf("%s: SyncCycle = %s (%s), want %s (%s)", tt.name, got, setting, tt.want, tt.setting)
		}
	}
}
