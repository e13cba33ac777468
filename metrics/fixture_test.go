package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// fixture is a registry with every mailsim collector, fed with the events
// of a simulated population.
type fixture struct {
	reg     *prometheus.Registry
	client  *Client
	server  *Server
	harness *Harness
}

// newFixture returns a fixture whose collectors saw the traffic of users
// users with three devices each. Usernames and device IDs go into every
// place a careless implementation could turn them into labels.
func newFixture(t testing.TB, users int) *fixture {
	t.Helper()
	reg := NewRegistry()
	f := &fixture{reg: reg, client: NewClient(reg)}
	f.server = NewServerWithOptions(reg, ServerOptions{
		ExportDelivered: false,
		Usage: func() []FolderUsage {
			var u []FolderUsage
			for i := 0; i < users; i++ {
				u = append(u,
					FolderUsage{Role: "inbox", Messages: 10, Bytes: 10000},
					FolderUsage{Role: `\Sent`, Messages: 2, Bytes: 3000},
					FolderUsage{Role: fmt.Sprintf("user%d-folder", i), Messages: 1, Bytes: 100})
			}
			return u
		},
	})
	f.harness = NewHarness(reg, HarnessOptions{
		Scenario: "quickstart",
		Shard:    "0/1",
		Elapsed:  func() time.Duration { return 90 * time.Second },
		Devices: func() []DeviceCount {
			var d []DeviceCount
			for i := 0; i < users; i++ {
				d = append(d, DeviceCount{"pc-imap", "imap", 1}, DeviceCount{"phone-imap", "imap", 1}, DeviceCount{"pc-pop3", "pop3", 1})
			}
			return d
		},
		Users: func() map[string]int {
			return map[string]int{"pop3-office": users / 2, "imap-everywhere": users - users/2}
		},
		Divergence: func() Divergence {
			d := Divergence{
				ByDimension:      map[string]int{"presence": users, "flags": 2 * users},
				RatioByGroup:     map[string]float64{"pop3-office": 0.3, "imap-everywhere": 0.01},
				ConvergedByGroup: map[string]float64{"pop3-office": 0.1, "imap-everywhere": 0.9},
				Unconverged:      map[UnconvergedKey]int{},
				Lost:             0,
				LostCounted:      true,
			}
			for i := 0; i < users; i++ {
				d.Unconverged[UnconvergedKey{"read", "pop3-local-only"}]++
				d.Unconverged[UnconvergedKey{"deliver", "not-synced-yet"}]++
			}
			return d
		},
	})
	hl := NewHarnessLoad(reg)
	hl.Set(HarnessWindow{Saturated: true, CPURatio: 0.95, SchedP99: 12 * time.Millisecond})
	cp := NewCapacity(reg)
	cp.Finish(CapacityStep{Users: 2 * users, Result: "pass", QoS: []float64{0.2, 0}})
	cp.Start(3 * users)
	RegisterGroupCost(reg, func() []GroupCost {
		return []GroupCost{
			{Group: "pop3-office", Deliveries: uint64(users), Protocols: map[string]GroupProtocolCost{
				"pop3": {Commands: uint64(6 * users), BytesIn: 1000, BytesOut: 100, ConnectionSeconds: 30, Logins: uint64(users)},
			}},
			{Group: "imap-everywhere", Deliveries: uint64(users), OpenConnections: users, Protocols: map[string]GroupProtocolCost{
				"imap": {Commands: uint64(10 * users), BytesIn: 5000, BytesOut: 500, ConnectionSeconds: 600, Logins: uint64(2 * users)},
			}},
		}
	})
	for u := 0; u < users; u++ {
		for _, dev := range []struct{ profile, protocol string }{{"pc-imap", "imap"}, {"phone-imap", "imap"}, {"pc-pop3", "pop3"}} {
			id := fmt.Sprintf("user%d/%s", u, dev.profile)
			f.client.Connection(dev.protocol, +1)
			f.server.Connection(dev.protocol, +1)
			f.client.Login(dev.protocol, transport.OutcomeOK)
			cmds := []string{"SELECT", "UID FETCH", "IDLE", "UID STORE", "LOGOUT"}
			if dev.protocol == "pop3" {
				cmds = []string{"USER", "PASS", "STAT", "UIDL", "RETR", "QUIT"}
			}
			for i, c := range cmds {
				d := time.Duration(1+i) * time.Millisecond
				f.client.Command(clients.CommandEvent{Protocol: dev.protocol, Command: c, Outcome: transport.OutcomeOK, Duration: d})
				f.server.Command(dev.protocol, c, "ok", d/2)
			}
			// Arguments and IDs leaking into command names must not make series.
			f.client.Command(clients.CommandEvent{Protocol: dev.protocol, Command: "X-" + strings.ToUpper(id), Outcome: "weird " + transport.Outcome(id), Duration: time.Millisecond})
			f.server.Command(dev.protocol, "FETCH "+id, id, time.Millisecond)
			f.client.Bytes(dev.protocol, 1000, 100)
			f.client.Action(dev.profile, "read")
			f.client.Action(dev.profile, "do-"+id)
			f.client.ActionCut(dev.profile, "cut-"+id)
			f.client.Connection(dev.protocol, -1)
			f.server.Connection(dev.protocol, -1)
		}
		f.client.Command(clients.CommandEvent{Protocol: "lmtp", Command: "DATA", Outcome: transport.OutcomeOK, Duration: 2 * time.Millisecond})
		f.client.Command(clients.CommandEvent{Protocol: "smtp", Command: "MAIL FROM", Outcome: transport.OutcomeNo, Duration: time.Millisecond})
		f.client.Delivered("lmtp")
		f.client.DeliveryAttempt("lmtp", "ok")
		f.client.DeliveryAttempt("lmtp", "451 for user"+fmt.Sprint(u))
		f.client.DeliveryDone("lmtp", "ok")
		f.client.DeliveryDone("via-user"+fmt.Sprint(u), "4xx")
		f.client.DeliveryQueued("lmtp", time.Duration(u)*time.Millisecond)
		f.client.DeliveryQueued("via-user"+fmt.Sprint(u), time.Second)
		f.client.Sent("smtp")
		f.server.Delivered("lmtp")
		f.harness.ObserveConvergence("deliver", time.Duration(u%7)*time.Minute)
		f.harness.ObserveConvergence("change-of-"+fmt.Sprint(u), time.Hour)
	}
	return f
}

// seriesCount returns the number of mailsim_* series (histogram buckets
// included) g exposes.
func seriesCount(t testing.TB, g prometheus.Gatherer) int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	n := 0
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "mailsim_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			n++
			if h := m.GetHistogram(); h != nil {
				n += len(h.GetBucket()) + 2
			}
		}
	}
	return n
}
