package engine

import (
	"testing"

	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

func TestLiteralCap(t *testing.T) {
	behavior := func(inbound, spam scenarios.Size) *scenarios.Behavior {
		return &scenarios.Behavior{Inbound: scenarios.Inbound{Size: scenarios.Range{Max: inbound}},
			Spam: scenarios.Inbound{Size: scenarios.Range{Max: spam}}}
	}
	tests := []struct {
		name string
		s    *scenarios.Scenario
		want int64
	}{
		{"no scenario", nil, transport.DefaultMaxLiteral},
		{"small mail", &scenarios.Scenario{Behaviors: map[string]*scenarios.Behavior{"a": behavior(1<<20, 64<<10)}}, transport.DefaultMaxLiteral},
		{"big inbound", &scenarios.Scenario{Behaviors: map[string]*scenarios.Behavior{
			"a": behavior(1<<20, 0), "b": behavior(100<<20, 0)}}, 400 << 20},
		{"big spam", &scenarios.Scenario{Behaviors: map[string]*scenarios.Behavior{"a": behavior(0, 50<<20)}}, 200 << 20},
	}
	for _, tc := range tests {
		if got := literalCap(tc.s); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
