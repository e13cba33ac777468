package clients

import (
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

// SyncCycle returns the longest simulated time between two complete syncs
// of a device of profile p (after which its view's Synced has passed any
// earlier moment), and the profile setting that decides it:
//
//   - POP3: every poll (poll_interval);
//   - IMAP phone: every poll, one sync of every folder (poll_interval);
//   - IMAP PC: INBOX at once with IDLE, else every poll, and the other
//     folders every status_interval: the longer of the two;
//   - webmail: every page load (refresh).
//
// Zero settings take the same defaults as the devices themselves.
func SyncCycle(p *scenarios.DeviceProfile) (time.Duration, string) {
	poll := p.PollInterval
	switch {
	case p.Protocol == scenarios.POP3:
		if poll <= 0 {
			poll = DefaultPCPOP3Poll
			if p.Kind == scenarios.KindPhone {
				poll = DefaultPhonePOP3Poll
			}
		}
		return poll, "poll_interval"
	case p.Kind == scenarios.KindWebmail:
		if p.Refresh > 0 {
			return p.Refresh, "refresh"
		}
		return defaultRefresh, "refresh"
	case p.Kind == scenarios.KindPhone:
		if poll <= 0 {
			poll = defaultPollPhone
		}
		return poll, "poll_interval"
	}
	status := p.StatusInterval
	if status <= 0 {
		status = pcFolderCheck
	}
	if poll <= 0 {
		poll = defaultPollPC
	}
	if p.Idle || poll <= status {
		return status, "status_interval"
	}
	return poll, "poll_interval"
}
