package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestGroupCostReadsAtScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	commands := uint64(7)
	RegisterGroupCost(reg, func() []GroupCost {
		return []GroupCost{
			{Group: "pop3-office", Deliveries: 3, OpenConnections: 1, Protocols: map[string]GroupProtocolCost{
				"pop3": {Commands: commands, BytesIn: 100, BytesOut: 10, ConnectionSeconds: 2.5, Logins: 2},
			}},
			// Both fold into "other": their figures add up.
			{Group: "bad name!", Deliveries: 1, Protocols: map[string]GroupProtocolCost{
				"gopher": {Commands: 1}, "finger": {Commands: 2},
			}},
		}
	})
	commands = 9
	want := `
# HELP mailsim_group_commands_total Client commands of the simulated devices, by user group and protocol.
# TYPE mailsim_group_commands_total counter
mailsim_group_commands_total{group="other",protocol="other"} 3
mailsim_group_commands_total{group="pop3-office",protocol="pop3"} 9
# HELP mailsim_group_connection_seconds_total Time the simulated devices held connections open, in simulated seconds summed over connections, by user group and protocol.
# TYPE mailsim_group_connection_seconds_total counter
mailsim_group_connection_seconds_total{group="other",protocol="other"} 0
mailsim_group_connection_seconds_total{group="pop3-office",protocol="pop3"} 2.5
# HELP mailsim_group_connections Connections the simulated devices hold open now, by user group.
# TYPE mailsim_group_connections gauge
mailsim_group_connections{group="other"} 0
mailsim_group_connections{group="pop3-office"} 1
# HELP mailsim_group_deliveries_total Messages the injector delivered to the group's mailboxes (one per recipient), by user group.
# TYPE mailsim_group_deliveries_total counter
mailsim_group_deliveries_total{group="other"} 1
mailsim_group_deliveries_total{group="pop3-office"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mailsim_group_commands_total",
		"mailsim_group_connection_seconds_total", "mailsim_group_connections", "mailsim_group_deliveries_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(&groupCostCollector{costs: func() []GroupCost { return nil }}); n != 0 {
		t.Errorf("no groups exported %d series", n)
	}
	problems, err := testutil.CollectAndLint(&groupCostCollector{costs: func() []GroupCost {
		return []GroupCost{{Group: "g", Protocols: map[string]GroupProtocolCost{"imap": {Commands: 1}}}}
	}})
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}
