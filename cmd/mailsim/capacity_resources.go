package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/mailsim/mailsim/internal/capacity"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// The reasons a step's server figures are unknown (docs/capacity.md,
// Server resources).
const (
	reasonEmbeddedCPU    = "the embedded server runs inside mailsim: its CPU is not separable from the harness's (busy_seconds_per_second is its command time; metrics.harness_cpu the whole process)"
	reasonEmbeddedMemory = "the embedded server runs inside mailsim: its memory is not separable from the harness's (store_bytes is the mail it stores)"
	reasonNoExporter     = "no exporter: the target names no metrics_url (or target.resources.url)"
	reasonEmbeddedOnly   = "measured only for the embedded server"
	// reasonHint follows a reason "the exporter has no ..." when the
	// standard series were looked for.
	reasonHint = " (Dovecot's stats have no CPU or memory: point target.resources.url at a node or process exporter)"
)

// stepResources measures the server's resources over one step's window:
// the embedded server's own meters, or the target's exporter.
type stepResources struct {
	tgt *target
	// sampler reads the exporter; nil for the embedded server or without
	// an exporter.
	sampler *metrics.Resources
	url     string
	// cpuDefault and memDefault are set when the sampler looks for the
	// standard series of CPU and memory.
	cpuDefault, memDefault bool
	win                    *metrics.ResourceWindow
	// busyStart is the embedded server's command time at the window's
	// start; busy the time over the window.
	busyStart, busy float64
}

// newStepResources prepares the measurement for a step against tgt.
func newStepResources(s *scenarios.Scenario, tgt *target) (*stepResources, error) {
	r := &stepResources{tgt: tgt}
	if tgt.server != nil || s.Target == nil {
		return r, nil
	}
	o := metrics.ResourceOptions{URL: s.Target.MetricsURL}
	if rs := s.Target.Resources; rs != nil {
		if rs.URL != "" {
			o.URL = rs.URL
		}
		o.CPUSeconds, o.MemoryBytes = metricsSeries(rs.CPUSeconds), metricsSeries(rs.MemoryBytes)
	}
	if o.URL == "" {
		return r, nil
	}
	sampler, err := metrics.NewResources(o)
	if err != nil {
		return nil, fmt.Errorf("target resources: %w", err)
	}
	r.sampler, r.url = sampler, o.URL
	r.cpuDefault, r.memDefault = o.CPUSeconds == nil, o.MemoryBytes == nil
	return r, nil
}

// metricsSeries converts a scenario's series for the sampler.
func metricsSeries(s *scenarios.Series) *metrics.Series {
	if s == nil {
		return nil
	}
	out := &metrics.Series{Name: s.Name, Text: s.String()}
	for _, m := range s.Matchers {
		out.Matchers = append(out.Matchers, metrics.LabelMatcher{Label: m.Label, Value: m.Value, Not: m.Not})
	}
	return out
}

// open starts the window. It does not block on the network.
func (r *stepResources) open(ctx context.Context) {
	if r.tgt.server != nil {
		_, r.busyStart = serverTotals(r.tgt.server)
	}
	if r.sampler != nil {
		r.win = r.sampler.Start(ctx)
	}
}

// close ends the window. It does not block on the network.
func (r *stepResources) close() {
	if r.tgt.server != nil {
		_, busy := serverTotals(r.tgt.server)
		r.busy = busy - r.busyStart
	}
	if r.win != nil {
		r.win.End()
	}
}

// result waits for the window's last scrape and returns the resources of
// a window of secs seconds (0 when no window was measured).
func (r *stepResources) result(secs float64) capacity.Resources {
	switch {
	case r.tgt.server != nil:
		res := capacity.UnknownResources("embedded")
		res.Reasons["cpu_cores"], res.Reasons["memory"] = reasonEmbeddedCPU, reasonEmbeddedMemory
		if secs <= 0 {
			res.Reasons["busy_seconds_per_second"], res.Reasons["store_bytes"] = reasonNoWindow, reasonNoWindow
			return res
		}
		res.BusySecondsPerSecond = r.busy / secs
		if _, bytes, ok := r.tgt.usage(); ok {
			res.StoreBytes = float64(bytes)
		}
		return res
	case r.sampler == nil:
		res := capacity.UnknownResources("none")
		res.Reasons["cpu_cores"], res.Reasons["memory"] = reasonNoExporter, reasonNoExporter
		res.Reasons["busy_seconds_per_second"], res.Reasons["store_bytes"] = reasonEmbeddedOnly, reasonEmbeddedOnly
		return res
	}
	res := capacity.UnknownResources("exporter")
	res.URL = r.url
	res.Reasons["busy_seconds_per_second"], res.Reasons["store_bytes"] = reasonEmbeddedOnly, reasonEmbeddedOnly
	if r.win == nil {
		res.Reasons["cpu_cores"], res.Reasons["memory"] = reasonNoWindow, reasonNoWindow
		return res
	}
	u := r.win.Usage()
	if r.cpuDefault && strings.HasPrefix(u.CPUReason, metrics.ReasonNoSeries) {
		u.CPUReason += reasonHint
	}
	if r.memDefault && strings.HasPrefix(u.MemoryReason, metrics.ReasonNoSeries) {
		u.MemoryReason += reasonHint
	}
	res.CPUCores, res.CPUSeries = u.CPUCores, u.CPUSeries
	res.MemoryMaxBytes, res.MemoryEndBytes, res.MemorySeries = u.MemoryMaxBytes, u.MemoryEndBytes, u.MemorySeries
	if u.CPUReason != "" {
		res.Reasons["cpu_cores"] = u.CPUReason
	}
	if u.MemoryReason != "" {
		res.Reasons["memory"] = u.MemoryReason
	}
	return res
}

// reasonNoWindow: the step ended before its ramp-up did.
const reasonNoWindow = "no window was measured (the step ended before its ramp-up did)"
