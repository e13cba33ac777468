package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestDeliveryQueueReport checks messages.delivery_queue: null without
// deliveries, the waits in seconds and the p99 in simulated time, the note
// when inbound mail waited more than a simulated minute at the p99 or the
// drain gave up, the summary's words, and the delivery_queue_p99
// threshold.
func TestDeliveryQueueReport(t *testing.T) {
	slow := QueueInput{Connections: 4, Samples: 1868, P50: 27 * time.Second, P99: 61 * time.Second, Max: 62 * time.Second,
		Backlog: 1549, Drain: time.Minute, DrainCut: true}
	fast := QueueInput{Connections: 4, Samples: 500, P50: time.Millisecond, P99: 300 * time.Millisecond, Max: time.Second}
	for _, tt := range []struct {
		name    string
		q       QueueInput
		scale   float64
		null    bool
		simP99  float64
		note    bool
		summary []string
		thValue float64 // NaN: no value
		// retries: the run's retried tries; retryNote: the note says
		// they held the connections.
		retries   int64
		retryNote bool
	}{
		{name: "no deliveries", null: true, scale: 100, thValue: math.NaN()},
		{name: "saturated injector", q: slow, scale: 100, simP99: 6100, note: true,
			summary: []string{"waited for a connection (of 4): p50 27s, p99 1m1s, max 1m2s", "1549 queued at the end of the active phase, drained in 1m0s (cut)"},
			thValue: 61},
		{name: "keeping up at time_scale 100", q: fast, scale: 100, simP99: 30,
			summary: []string{"waited for a connection (of 4): p50 1ms, p99 300ms, max 1s"}, thValue: 0.3},
		{name: "the same waits at time_scale 300", q: fast, scale: 300, simP99: 90, note: true, thValue: 0.3},
		{name: "waits while the server failed deliveries", q: slow, scale: 100, simP99: 6100, note: true, thValue: 61,
			retries: 90, retryNote: true},
		{name: "a cut drain notes whatever the waits", q: QueueInput{Connections: 2, Samples: 10, P99: time.Millisecond, Backlog: 3, Drain: time.Minute, DrainCut: true},
			scale: 1, simP99: 0.001, note: true, thValue: 0.001},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := sampleInput(t, "delivery_queue_p99 < 10s")
			in.Deliveries.Queue, in.TimeScale = tt.q, tt.scale
			in.Deliveries.Retries = tt.retries
			r := Build(in)
			var js bytes.Buffer
			if err := r.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			var got struct {
				Messages map[string]any `json:"messages"`
			}
			if err := json.Unmarshal(js.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			v, present := got.Messages["delivery_queue"]
			if !present {
				t.Fatalf("messages.delivery_queue missing")
			}
			if tt.null {
				if v != nil {
					t.Errorf("messages.delivery_queue = %v, want null", v)
				}
			} else {
				q, _ := v.(map[string]any)
				if q == nil || q["samples"] != float64(tt.q.Samples) || q["connections"] != float64(tt.q.Connections) ||
					q["wait_p99_s"] != tt.q.P99.Seconds() || q["wait_max_s"] != tt.q.Max.Seconds() ||
					math.Abs(q["wait_p99_sim_s"].(float64)-tt.simP99) > 1e-9 || q["backlog"] != float64(tt.q.Backlog) ||
					q["drain_cut"] != tt.q.DrainCut {
					t.Errorf("messages.delivery_queue = %v, want %+v with p99 %v s simulated", q, tt.q, tt.simP99)
				}
			}
			if got := hasNote(r, "inbound mail waited for one of the injector's"); got != tt.note {
				t.Errorf("queue note %v, want %v: %v", got, tt.note, r.Notes)
			}
			if got := hasNote(r, "inbound mail waited") && strings.Contains(strings.Join(r.Notes, "\n"), fmt.Sprintf("also retried %d failed tries in the run", tt.retries)); got != tt.retryNote {
				t.Errorf("the queue note names the retries: %v, want %v: %v", got, tt.retryNote, r.Notes)
			}
			sum := summaryOf(t, r)
			for _, want := range tt.summary {
				if !strings.Contains(sum, want) {
					t.Errorf("summary lacks %q:\n%s", want, sum)
				}
			}
			if tt.null && strings.Contains(sum, "waited for a connection") {
				t.Errorf("summary speaks of a queue without deliveries:\n%s", sum)
			}
			var th *ThresholdResult
			for i := range r.Thresholds {
				if r.Thresholds[i].Expr == "delivery_queue_p99 < 10s" {
					th = &r.Thresholds[i]
				}
			}
			switch {
			case th == nil:
				t.Fatalf("threshold not evaluated: %+v", r.Thresholds)
			case math.IsNaN(tt.thValue):
				if !th.Value.Missing() || th.OK {
					t.Errorf("threshold value %v ok %v, want null and not ok", th.Value, th.OK)
				}
			case math.Abs(float64(th.Value)-tt.thValue) > 1e-9 || th.OK != (tt.thValue < 10):
				t.Errorf("threshold value %v ok %v, want %v", th.Value, th.OK, tt.thValue)
			}
		})
	}
}

// TestMergeDeliveryQueue: shards' queues merge into the highest waits and
// drain (an upper bound) and the summed samples, connections and backlog.
func TestMergeDeliveryQueue(t *testing.T) {
	a := &DeliveryQueue{Connections: 4, Samples: 10, WaitP50S: 1, WaitP99S: 5, WaitMaxS: 6, WaitP99SimS: 500, Backlog: 2, DrainS: 3}
	b := &DeliveryQueue{Connections: 4, Samples: 30, WaitP50S: 2, WaitP99S: 4, WaitMaxS: 9, WaitP99SimS: 400, Backlog: 5, DrainS: 1, DrainCut: true}
	got := mergeQueue(mergeQueue(nil, a), b)
	want := DeliveryQueue{Connections: 8, Samples: 40, WaitP50S: 2, WaitP99S: 5, WaitMaxS: 9, WaitP99SimS: 500, Backlog: 7, DrainS: 3, DrainCut: true}
	if got == nil || *got != want {
		t.Errorf("merged %+v, want %+v", got, want)
	}
	if *a != (DeliveryQueue{Connections: 4, Samples: 10, WaitP50S: 1, WaitP99S: 5, WaitMaxS: 6, WaitP99SimS: 500, Backlog: 2, DrainS: 3}) {
		t.Errorf("merging changed a shard's queue: %+v", *a)
	}
	if mergeQueue(nil, nil) != nil {
		t.Error("merging two null queues gave a queue")
	}
}

// TestQueueProblems: a step whose inbound mail fell behind is invalid,
// with the figures that show it; one that kept up has no problem.
func TestQueueProblems(t *testing.T) {
	for _, tt := range []struct {
		name string
		got  string
		want []string // substrings; none: no problem
	}{
		{"no queue", QueueProblem(nil), nil},
		{"kept up", QueueProblem(&DeliveryQueue{Connections: 4, WaitP99S: 0.5, WaitP99SimS: 30}), nil},
		{"late p99", QueueProblem(&DeliveryQueue{Connections: 4, WaitP99S: 2, WaitP99SimS: 120}),
			[]string{"fell behind", "p99 delivery waited 2s wall (2m0s simulated, over 1m0s)", "max_parallel_deliveries 4", "max_parallel_deliveries"}},
		{"drain cut", QueueProblem(&DeliveryQueue{Connections: 4, WaitP99S: 0.1, WaitP99SimS: 6, DrainCut: true, Backlog: 9}),
			[]string{"9 were still queued when settle gave up"}},
		{"window: none waiting", QueueWindowProblem(QueueWindow{}, 60), nil},
		// A queue of a few at a high rate: mail held back for less than a
		// simulated minute is no backlog.
		{"window: a short queue", QueueWindowProblem(QueueWindow{Waiting: 12, Oldest: 900 * time.Millisecond}, 60), nil},
		{"window: held back", QueueWindowProblem(QueueWindow{Waiting: 41, Oldest: 2500 * time.Millisecond}, 60),
			[]string{"inbound mail fell behind: at the window's close 41 deliveries (one per recipient) waited for a delivery connection, the oldest for 2.5s wall (2m30s simulated at time_scale 60, over 1m0s)", "max_parallel_deliveries"}},
		// Late within the window, drained before its close.
		{"window: late, then drained", QueueWindowProblem(QueueWindow{Late: 7, Longest: 3 * time.Second}, 60),
			[]string{"inbound mail fell behind: within the window 7 deliveries (one per recipient) waited over 1m0s simulated for a delivery connection, the longest 3s wall (3m0s simulated at time_scale 60)", "max_parallel_deliveries"}},
		{"window: both", QueueWindowProblem(QueueWindow{Waiting: 3, Oldest: 2 * time.Second, Late: 7, Longest: 3 * time.Second}, 60),
			[]string{"at the window's close 3 deliveries", ", and within the window 7 deliveries"}},
		{"window: late count, no long wait", QueueWindowProblem(QueueWindow{Late: 2, Longest: 500 * time.Millisecond}, 60), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 {
				if tt.got != "" {
					t.Errorf("problem %q, want none", tt.got)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.got, w) {
					t.Errorf("problem %q lacks %q", tt.got, w)
				}
			}
		})
	}
}
