package report

import (
	"bytes"
	"testing"
)

// FuzzMergeHarness merges two shard reports read from arbitrary JSON
// (mailsim report merge reads them from files): reading and merging never
// panic, and a merged harness section is saturated exactly when a shard's
// was.
func FuzzMergeHarness(f *testing.F) {
	f.Add([]byte(`{"scenario":"s","shard":"1/2","users":1,"harness":{"cpu_share":0.5,"saturated":true,"reasons":["cpu"],"reason":"r"}}`),
		[]byte(`{"scenario":"s","shard":"2/2","users":1,"harness":{"cpu_share":null,"saturated":false,"unmeasured":{"cpu":"x"}}}`))
	f.Add([]byte(`{"scenario":"s","shard":"1/2","users":1,"thresholds":[{"expr":"p99(imap.FETCH) < 1s"}],"harness":{"saturated":true}}`),
		[]byte(`{"scenario":"s","shard":"2/2","users":1,"thresholds":[{"expr":"p99(imap.FETCH) < 1s"}],"harness":null}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ra, err := ReadJSON(bytes.NewReader(a))
		if err != nil {
			return
		}
		rb, err := ReadJSON(bytes.NewReader(b))
		if err != nil {
			return
		}
		m, err := Merge([]*Report{ra, rb})
		if err != nil {
			return
		}
		want := (ra.Harness != nil && ra.Harness.Saturated) || (rb.Harness != nil && rb.Harness.Saturated)
		if got := m.Harness != nil && m.Harness.Saturated; got != want {
			t.Errorf("merged saturated %v, shards %+v and %+v", got, ra.Harness, rb.Harness)
		}
		for _, th := range m.Thresholds {
			if th.Unreliable && th.OK {
				t.Errorf("threshold %+v both unreliable and ok", th)
			}
		}
		var buf bytes.Buffer
		if err := m.WriteSummary(&buf); err != nil {
			t.Fatal(err)
		}
	})
}
