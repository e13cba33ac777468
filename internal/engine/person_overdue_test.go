package engine

import (
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/scenarios"
)

// TestOverdue checks which of a pending message's actions count overdue
// at the end (report.behindNote): the first from its due time, each next
// one action_repeat_delay after; none of a message still waiting out its
// action_delay, which a long action_delay leaves many of (review B: the
// note read "fell behind" on a healthy server with action_delay 8m when it
// counted every pending action).
func TestOverdue(t *testing.T) {
	now := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	three := []clients.Action{{Kind: clients.ActRead}, {Kind: clients.ActFlag}, {Kind: clients.ActMove}}
	p := &person{b: &scenarios.Behavior{ActionRepeatDelay: 10 * time.Second}}
	for _, tc := range []struct {
		name string
		due  time.Time
		want int64
	}{
		{"not due yet", now.Add(time.Second), 0},
		{"due now", now, 1},
		{"the second's turn came", now.Add(-10 * time.Second), 2},
		{"all three's", now.Add(-25 * time.Second), 3},
		{"no due time", time.Time{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.overdue(&plannedMessage{due: tc.due, actions: three}, now); got != tc.want {
				t.Errorf("overdue %d, want %d", got, tc.want)
			}
		})
	}
}
