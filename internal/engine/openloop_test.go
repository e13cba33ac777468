package engine

import (
	"fmt"
	"testing"

	"github.com/mailsim/mailsim/scenarios"
)

// TestInboundOpenLoop: a person's inbound mail arrives at its scheduled
// times whatever the person does. A person who starts writing a message at
// once and writes for longer than the run (send.write_time 10h: the send
// blocks in the person's action until the active phase ends) gets as much
// inbound mail as the same person who writes nothing, on the same arrival
// schedule (the same seed); before the arrivals left the person's loop,
// what fell due during the send waited for it and was never handed over.
func TestInboundOpenLoop(t *testing.T) {
	const yaml = `
version: 1
name: openloop
seed: 11
duration: 3s
time_scale: 600
settle: 1s
users: {count: 1, username: "u{n}", password: pw}
groups: [{name: g, share: 100%%, devices: [pc-pop3], behavior: b}]
behaviors:
  b:
    inbound: {interval: 1m}
    spam: {interval: 3m}
    send: {interval: 1s, write_time: %s, internal: 0%%}
devices:
  pc-pop3: {kind: pc, protocol: pop3, poll_interval: 10m, leave_on_server: true}
`
	inbound := func(writeTime string) int {
		tr := &tracer{}
		runOnEmbedded(t, mustPlan(t, fmt.Sprintf(yaml, writeTime), scenarios.PlanOptions{}), newTestRecorder(), tr)
		return len(tr.inbound()["u1"])
	}
	idle, busy := inbound("0s"), inbound("10h")
	t.Logf("inbound deliveries: %d writing nothing, %d writing for the whole run", idle, busy)
	if idle < 10 {
		t.Fatalf("only %d inbound deliveries in 30 simulated minutes at one a minute: too few to compare", idle)
	}
	if busy < idle/2 {
		t.Errorf("a person busy writing got %d inbound deliveries, %d when not writing: arrivals waited for the person", busy, idle)
	}
}
