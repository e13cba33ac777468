package main

import "testing"

// checkExplainedDivergence fails the test when the report's divergent
// messages are not each counted once by reason, or when any is
// unexplained (docs/report.md, Explaining divergence).
func checkExplainedDivergence(t *testing.T, rep map[string]any) {
	t.Helper()
	by, ok := field(rep, "divergence.final.by_reason")
	m, isMap := by.(map[string]any)
	if !ok || !isMap {
		t.Errorf("report: divergence.final.by_reason = %v, want an object", by)
		return
	}
	sum := 0.0
	for _, v := range m {
		n, _ := v.(float64)
		sum += n
	}
	if d := num(t, rep, "divergence.final.divergent_messages"); sum != d {
		t.Errorf("divergent_messages %v, by_reason sums to %v: %v", d, sum, m)
	}
	if n, _ := m["unexplained"].(float64); n > 0 {
		ex, _ := field(rep, "unexplained_examples")
		t.Errorf("%v divergent messages unexplained: %v", n, ex)
	}
}
