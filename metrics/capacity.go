package metrics

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// maxQoSLines caps the line label values of mailsim_capacity_qos_value.
const maxQoSLines = 32

// CapacityStep is one finished step of a capacity search, for the metrics.
type CapacityStep struct {
	Users int
	// Result is "pass", "fail" or "saturated" (the harness was the
	// bottleneck).
	Result string
	// QoS holds each QoS line's value, in the scenario's order; NaN when
	// the line had no data.
	QoS []float64
}

// Capacity exports the progress of "mailsim capacity": the population of
// the step running now, the steps by result, the largest passing
// population so far, and each QoS line's value at the last finished step
// (label line = its 1-based position in the scenario). Safe for concurrent
// use.
type Capacity struct {
	mu       sync.Mutex
	running  int
	best     int
	last     CapacityStep
	byResult map[string]float64
}

var (
	capStepUsersDesc = prometheus.NewDesc("mailsim_capacity_step_users",
		"Users of the capacity step running now; 0 between steps.", nil, nil)
	capStepsDesc = prometheus.NewDesc("mailsim_capacity_steps_total",
		"Finished capacity steps, by result (pass, fail, saturated: the harness was the bottleneck).", []string{"result"}, nil)
	capUsersDesc = prometheus.NewDesc("mailsim_capacity_users",
		"The largest population that passed every QoS line so far.", nil, nil)
	capQoSDesc = prometheus.NewDesc("mailsim_capacity_qos_value",
		"Each QoS line's value at the last finished capacity step, in the unit of its right-hand side; line is its position in the scenario (1, 2, ...).",
		[]string{"line"}, nil)
	capLastUsersDesc = prometheus.NewDesc("mailsim_capacity_last_step_users",
		"Users of the last finished capacity step.", nil, nil)
)

// NewCapacity returns a Capacity registered on reg (nil: not registered).
func NewCapacity(reg prometheus.Registerer) *Capacity {
	c := &Capacity{byResult: map[string]float64{"pass": 0, "fail": 0, "saturated": 0}}
	register(reg, c)
	return c
}

// Start records that a step of users began.
func (c *Capacity) Start(users int) {
	c.mu.Lock()
	c.running = users
	c.mu.Unlock()
}

// Finish records a finished step.
func (c *Capacity) Finish(s CapacityStep) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running = 0
	c.last = s
	c.last.QoS = append([]float64(nil), s.QoS...)
	switch s.Result {
	case "pass", "fail", "saturated":
	default:
		s.Result = "fail"
	}
	c.byResult[s.Result]++
	if s.Result == "pass" && s.Users > c.best {
		c.best = s.Users
	}
}

// Describe implements prometheus.Collector.
func (c *Capacity) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{capStepUsersDesc, capStepsDesc, capUsersDesc, capQoSDesc, capLastUsersDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Capacity) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(capStepUsersDesc, prometheus.GaugeValue, float64(c.running))
	for _, r := range []string{"pass", "fail", "saturated"} {
		ch <- prometheus.MustNewConstMetric(capStepsDesc, prometheus.CounterValue, c.byResult[r], r)
	}
	ch <- prometheus.MustNewConstMetric(capUsersDesc, prometheus.GaugeValue, float64(c.best))
	ch <- prometheus.MustNewConstMetric(capLastUsersDesc, prometheus.GaugeValue, float64(c.last.Users))
	for i, v := range c.last.QoS {
		if i >= maxQoSLines {
			break
		}
		ch <- prometheus.MustNewConstMetric(capQoSDesc, prometheus.GaugeValue, v, strconv.Itoa(i+1))
	}
}

// SwappableGatherer gathers a fixed registry and, while one is set, the
// registry of the step running now, without the step's mailsim_run_info
// (the fixed registry keeps one for the whole search). Safe for concurrent
// use.
type SwappableGatherer struct {
	Base prometheus.Gatherer
	mu   sync.Mutex
	cur  prometheus.Gatherer
}

// Set makes g (nil: none) the current step's registry.
func (s *SwappableGatherer) Set(g prometheus.Gatherer) {
	s.mu.Lock()
	s.cur = g
	s.mu.Unlock()
}

// Gather implements prometheus.Gatherer.
func (s *SwappableGatherer) Gather() ([]*dto.MetricFamily, error) {
	out, err := s.Base.Gather()
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if cur == nil {
		return out, err
	}
	have := make(map[string]bool, len(out))
	for _, mf := range out {
		have[mf.GetName()] = true
	}
	more, err2 := cur.Gather()
	for _, mf := range more {
		if !have[mf.GetName()] {
			out = append(out, mf)
		}
	}
	if err == nil {
		err = err2
	}
	return out, err
}

// RunInfo exports mailsim_run_info{scenario, shard} = 1 on reg, as a run's
// Harness does, for processes that register no Harness of their own on
// reg (mailsim capacity's fixed registry).
func RunInfo(reg prometheus.Registerer, scenario, shard string) {
	register(reg, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "mailsim_run_info",
		Help:        "Always 1; labels name the scenario and the shard of this mailsim process.",
		ConstLabels: prometheus.Labels{"scenario": boundedName(scenario), "shard": shard},
	}, func() float64 { return 1 }))
}
