package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// deliveryPathNames are the via label values in table order ([DeliveryPaths],
// then Other); deliveryOutcomeNames the outcome label values
// ([DeliveryOutcomes]).
var (
	deliveryPathNames    = [...]string{"lmtp", "smtp", "imap-append", Other}
	deliveryOutcomeNames = [...]string{"ok", "refused", "timeout", "tls", "auth", "4xx", "5xx", "no", "error", "unknown", "cancelled", "abandoned"}
)

// outcomeErrorIndex is the table index of "error", where unknown delivery
// outcomes count.
const outcomeErrorIndex = 8

// deliveryPathIndex returns the table index of a via label (Other's for
// anything unknown).
func deliveryPathIndex(v string) int {
	for i, n := range deliveryPathNames[:len(deliveryPathNames)-1] {
		if v == n {
			return i
		}
	}
	return len(deliveryPathNames) - 1
}

// deliveryOutcomeIndex returns the table index of a delivery outcome
// ("error"'s for anything unknown).
func deliveryOutcomeIndex(o string) int {
	for i, n := range deliveryOutcomeNames {
		if o == n {
			return i
		}
	}
	return outcomeErrorIndex
}

// deliveryCounters are a counter vector by via (and, with outcomes, by
// outcome) whose children are created on first use, as WithLabelValues
// would, and cached by label index, so that counting one does no label
// hashing, map lookup or lock once its series exists.
type deliveryCounters struct {
	vec *prometheus.CounterVec
	// outcomes is true for a vector by via and outcome, false for one by
	// via only (whose children are in column 0).
	outcomes bool
	c        [len(deliveryPathNames)][len(deliveryOutcomeNames)]atomic.Pointer[counterBox]
}

// inc counts one (via, outcome); outcome is ignored without outcomes.
func (t *deliveryCounters) inc(via, outcome string) {
	p, o := deliveryPathIndex(via), 0
	if t.outcomes {
		o = deliveryOutcomeIndex(outcome)
	}
	slot := &t.c[p][o]
	cb := slot.Load()
	if cb == nil {
		labels := []string{deliveryPathNames[p]}
		if t.outcomes {
			labels = append(labels, deliveryOutcomeNames[o])
		}
		cb = &counterBox{t.vec.WithLabelValues(labels...)}
		if !slot.CompareAndSwap(nil, cb) {
			cb = slot.Load()
		}
	}
	cb.c.Inc()
}
