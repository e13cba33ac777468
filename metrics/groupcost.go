package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// GroupCost is what one user group's devices caused so far: the client-side
// figures of the engine's cost meter for that group (internal/cost).
type GroupCost struct {
	// Group is the user group's name.
	Group string
	// Protocols holds the figures per client protocol ("imap", "pop3",
	// "smtp", "lmtp").
	Protocols map[string]GroupProtocolCost
	// Deliveries counts messages delivered to the group's mailboxes.
	Deliveries uint64
	// OpenConnections is the number of connections the group's devices
	// hold open now.
	OpenConnections int
}

// GroupProtocolCost is one protocol's part of a GroupCost.
type GroupProtocolCost struct {
	Commands          uint64
	BytesIn, BytesOut int64
	// ConnectionSeconds is the time connections were held open, summed
	// over connections, in simulated seconds.
	ConnectionSeconds float64
	Logins            uint64
}

var (
	groupCommandsDesc = prometheus.NewDesc("mailsim_group_commands_total",
		"Client commands of the simulated devices, by user group and protocol.",
		[]string{"group", "protocol"}, nil)
	groupBytesDesc = prometheus.NewDesc("mailsim_group_bytes_total",
		"Bytes the simulated devices read (in) and wrote (out), by user group, protocol and direction.",
		[]string{"group", "protocol", "direction"}, nil)
	groupConnSecondsDesc = prometheus.NewDesc("mailsim_group_connection_seconds_total",
		"Time the simulated devices held connections open, in simulated seconds summed over connections, by user group and protocol.",
		[]string{"group", "protocol"}, nil)
	groupLoginsDesc = prometheus.NewDesc("mailsim_group_logins_total",
		"Authentication attempts of the simulated devices, by user group and protocol.",
		[]string{"group", "protocol"}, nil)
	groupConnectionsDesc = prometheus.NewDesc("mailsim_group_connections",
		"Connections the simulated devices hold open now, by user group.",
		[]string{"group"}, nil)
	groupDeliveriesDesc = prometheus.NewDesc("mailsim_group_deliveries_total",
		"Messages the injector delivered to the group's mailboxes (one per recipient), by user group.",
		[]string{"group"}, nil)
)

// groupCostCollector exports the GroupCost figures read at scrape time.
type groupCostCollector struct {
	costs func() []GroupCost
}

// RegisterGroupCost registers, on reg, the per-group cost series
// (mailsim_group_*) read from costs at every scrape; costs must be safe for
// concurrent use. Group names beyond the first 64 count as "other";
// protocols outside Protocols as "other". It panics, like promauto, if reg
// already holds them; a nil reg registers nothing.
func RegisterGroupCost(reg prometheus.Registerer, costs func() []GroupCost) {
	register(reg, &groupCostCollector{costs: costs})
}

// Describe implements prometheus.Collector.
func (c *groupCostCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{groupCommandsDesc, groupBytesDesc, groupConnSecondsDesc, groupLoginsDesc,
		groupConnectionsDesc, groupDeliveriesDesc} {
		ch <- d
	}
}

// groupKey is one series key of a per-group, per-protocol metric.
type groupKey struct{ group, protocol string }

// Collect implements prometheus.Collector. Figures of groups or protocols
// folded into "other" are summed, so every series is unique.
func (c *groupCostCollector) Collect(ch chan<- prometheus.Metric) {
	type protoSums struct {
		commands, logins  float64
		bytesIn, bytesOut float64
		connSeconds       float64
	}
	perProto := map[groupKey]*protoSums{}
	perGroup := map[string]*[2]float64{} // deliveries, open connections
	var order []groupKey
	var groups []string
	for i, g := range c.costs() {
		name := boundedName(g.Group)
		if i >= maxGroups {
			name = Other
		}
		gs, ok := perGroup[name]
		if !ok {
			gs = &[2]float64{}
			perGroup[name] = gs
			groups = append(groups, name)
		}
		gs[0] += float64(g.Deliveries)
		gs[1] += float64(g.OpenConnections)
		for p, pc := range g.Protocols {
			k := groupKey{name, NormalizeProtocol(p)}
			s, ok := perProto[k]
			if !ok {
				s = &protoSums{}
				perProto[k] = s
				order = append(order, k)
			}
			s.commands += float64(pc.Commands)
			s.logins += float64(pc.Logins)
			s.bytesIn += float64(pc.BytesIn)
			s.bytesOut += float64(pc.BytesOut)
			s.connSeconds += pc.ConnectionSeconds
		}
	}
	for _, k := range order {
		s := perProto[k]
		ch <- prometheus.MustNewConstMetric(groupCommandsDesc, prometheus.CounterValue, s.commands, k.group, k.protocol)
		ch <- prometheus.MustNewConstMetric(groupBytesDesc, prometheus.CounterValue, s.bytesIn, k.group, k.protocol, "in")
		ch <- prometheus.MustNewConstMetric(groupBytesDesc, prometheus.CounterValue, s.bytesOut, k.group, k.protocol, "out")
		ch <- prometheus.MustNewConstMetric(groupConnSecondsDesc, prometheus.CounterValue, s.connSeconds, k.group, k.protocol)
		ch <- prometheus.MustNewConstMetric(groupLoginsDesc, prometheus.CounterValue, s.logins, k.group, k.protocol)
	}
	for _, g := range groups {
		gs := perGroup[g]
		ch <- prometheus.MustNewConstMetric(groupDeliveriesDesc, prometheus.CounterValue, gs[0], g)
		ch <- prometheus.MustNewConstMetric(groupConnectionsDesc, prometheus.GaugeValue, gs[1], g)
	}
}
