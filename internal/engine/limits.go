package engine

import (
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// literalCap is the IMAP literal bound of the scenario's devices: the
// transport default (64 MiB), raised to four times the largest message the
// scenario delivers when that is larger (a forward carries the message it
// forwards, and encodings add a little).
func literalCap(s *scenarios.Scenario) int64 {
	limit := int64(transport.DefaultMaxLiteral)
	if s == nil {
		return limit
	}
	for _, b := range s.Behaviors {
		for _, in := range []scenarios.Inbound{b.Inbound, b.Spam} {
			if c := 4 * int64(in.Size.Max); c > limit {
				limit = c
			}
		}
	}
	return limit
}
