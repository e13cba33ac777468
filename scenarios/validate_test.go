package scenarios

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// parsedMinimal returns the minimal scenario, decoded.
func parsedMinimal(t *testing.T) *Scenario {
	t.Helper()
	s, err := Parse("minimal", []byte(minimal), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestValidate: the checks Parse runs after decoding find the same
// problems in a scenario changed in Go, each at its key path.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Scenario)
		paths  []string // the FieldError paths, in order
	}{
		{"valid", func(*Scenario) {}, nil},
		{"version", func(s *Scenario) { s.Version = 2 }, []string{"version"}},
		{"duration and scale", func(s *Scenario) { s.Duration = 0; s.TimeScale = -1; s.Audit = 0 }, []string{"duration", "time_scale", "audit"}},
		{"stop grace", func(s *Scenario) { s.StopGrace = -time.Second }, []string{"stop_grace"}},
		{"stop grace 0: the default", func(s *Scenario) { s.StopGrace = 0 }, nil},
		{"settle", func(s *Scenario) { s.Settle = -time.Second; s.SettleUntil = "never" }, []string{"settle", "settle.until"}},
		{"server", func(s *Scenario) { s.Server.MaxCommandsPerSecond = -1 }, []string{"server.max_commands_per_second"}},
		{"server beside a target", func(s *Scenario) {
			s.Server.MaxCommandsPerSecond = 5
			s.Target = &Target{Domain: DefaultDomain, IMAP: &transport.Endpoint{Addr: "127.0.0.1:143"}, Delivery: &Delivery{Protocol: DeliverLMTP, Addr: "127.0.0.1:24"}}
		}, []string{"server"}},
		{"capacity", func(s *Scenario) {
			s.Capacity.StartUsers, s.Capacity.MaxUsers, s.Capacity.StepDuration = 20, 10, 0
			s.Capacity.Growth, s.Capacity.Resolution = 1, 1
		}, []string{"capacity.max_users", "capacity.step_duration", "capacity.growth", "capacity.resolution"}},
		{"capacity population", func(s *Scenario) { s.Capacity.StartUsers, s.Capacity.MaxUsers = 0, 1<<25 }, []string{"capacity.start_users", "capacity.max_users"}},
		{"target", func(s *Scenario) {
			s.Target = &Target{IMAP: &transport.Endpoint{Addr: "mail", TLS: "ssl"}, POP3: &transport.Endpoint{Addr: "mail:0"},
				Delivery: &Delivery{Protocol: "uucp", Addr: "mail:24"}, MetricsURL: "ftp://x", Domain: "a@b"}
		}, []string{"target.imap.addr", "target.imap.tls", "target.pop3.addr", "target.delivery.protocol", "target.metrics_url", "target.domain"}},
		{"target without servers the population needs", func(s *Scenario) {
			s.Target = &Target{Domain: DefaultDomain, POP3: &transport.Endpoint{Addr: "127.0.0.1:110"}}
		}, []string{"target.imap", "target.delivery"}},
		{"empty population", func(s *Scenario) { s.Users.Count = 0 }, []string{"users.count"}},
		{"pattern without {n}", func(s *Scenario) { s.Users.Username = "alice" }, []string{"users.username"}},
		{"pattern and file", func(s *Scenario) {
			s.Users.File, s.Users.Names, s.Users.Count = "users.txt", []Credential{{Username: "a"}}, 2
		}, []string{"users.username", "users.count"}},
		{"groups", func(s *Scenario) {
			s.Groups = []*Group{
				{Name: "g", Share: 0.5, Devices: []string{"pc-imap", "tablet", "pc-imap"}, Behavior: "b"},
				{Name: "g", Share: 0, Devices: nil, Behavior: "lazy"},
			}
		}, []string{"groups[0].devices[1]", "groups[0].devices[2]", "groups[1].share", "groups[1].devices", "groups[1].name",
			"groups[1].behavior", "groups"}},
		{"behavior", func(s *Scenario) {
			b := s.Behaviors["b"]
			b.Inbound.Size = Range{Min: 10, Max: 5}
			b.OnNewMail.Move, b.Send.Internal, b.ActionDelay = 0.5, 2, -time.Second
			b.Folders = nil
		}, []string{"behaviors.b.inbound.size", "behaviors.b.send.internal", "behaviors.b.action_delay", "behaviors.b.folders"}},
		{"folders", func(s *Scenario) { s.Behaviors["b"].Folders = []string{"Archive", "inbox", "Archive"} },
			[]string{"behaviors.b.folders[1]", "behaviors.b.folders[2]"}},
		{"device profile", func(s *Scenario) {
			p := clients.DefaultProfile("d", clients.KindPC, clients.IMAP)
			p.Connections, p.Idle, p.PollInterval, p.FetchNew = 0, false, 0, "UID X-FOO"
			w := clients.DefaultProfile("w", clients.KindWebmail, clients.IMAP)
			w.Refresh, w.PageSize = 0, 0
			s.Devices["d"], s.Devices["w"] = p, w
		}, []string{"devices.d.fetch_new", "devices.d.connections", "devices.d.poll_interval", "devices.w.refresh", "devices.w.page_size"}},
		{"thresholds", func(s *Scenario) {
			s.Thresholds = []Threshold{{Metric: "error_rate", Op: "<", Value: 0.01}, {Metric: "divergence_ratio", Labels: map[string]string{"group": "nope"}, Op: "<", Value: 0.01}}
			s.Capacity.QoS = s.Thresholds[1:]
		}, []string{"thresholds[1]", "capacity.qos[0]"}},
		{"thresholds as qos", func(s *Scenario) {
			s.Thresholds = []Threshold{{Metric: "divergence_ratio", Labels: map[string]string{"group": "nope"}, Op: "<", Value: 0.01}}
			s.Capacity.QoS = s.Thresholds
		}, []string{"thresholds[0]"}},
		{"hand", func(s *Scenario) { s.Hand = map[clients.Kind]float64{clients.KindPC: 0, clients.KindPhone: 0} }, []string{"hand"}},
		{"hand weights", func(s *Scenario) { s.Hand = map[clients.Kind]float64{clients.KindPC: 2, "tablet": 1} }, []string{"hand.pc", "hand"}},
		{"threshold metric and op", func(s *Scenario) {
			s.Thresholds = []Threshold{{Metric: "speed", Op: "<"}, {Metric: "lost_messages", Op: "=~", Labels: map[string]string{"group": "g"}}}
		}, []string{"thresholds[0]", "thresholds[1]", "thresholds[1]"}},
		{"nil", func(s *Scenario) {
			s.Groups = append(s.Groups, nil)
			s.Behaviors["x"], s.Devices["y"] = nil, nil
		}, []string{"groups[1]", "behaviors.x", "devices.y"}},
		{"names", func(s *Scenario) { s.Behaviors["a b"] = s.Behaviors["b"] }, []string{"behaviors.a b"}},
		{"no groups", func(s *Scenario) { s.Groups = nil }, []string{"groups"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := parsedMinimal(t)
			tt.change(s)
			var paths []string
			for _, err := range s.Validate() {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("%v: not a *FieldError", err)
				}
				paths = append(paths, fe.Path)
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("paths = %q, want %q (%v)", paths, tt.paths, s.Validate())
			}
		})
	}
}

// TestParseReportsValidateAt: Parse reports the problems Validate finds
// where the file writes the setting, or the mapping that lacks it, and
// not again under a value that did not decode.
func TestParseReportsValidateAt(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each "line:col: path: message"
	}{
		{"at the value", strings.Replace(minimal, "b: {}", "b: {folders: [Archive, INBOX]}", 1),
			[]string{`7:26: behaviors.b.folders: folder "INBOX": want a folder name other than INBOX`}},
		{"in the mapping that lacks it", minimal + "target: {pop3: 127.0.0.1:110}\n",
			[]string{"8:9: target.imap: missing: the scenario has IMAP devices", "8:9: target.delivery: missing: no way to deliver"}},
		{"at the key of a value of the wrong shape", minimal + "target: nothing\n",
			[]string{"8:1: target.imap: missing:", "8:1: target.delivery: missing:", "8:9: target: target must be a mapping"}},
		{"a list of the wrong shape", strings.Replace(minimal, "[pc-imap]", "{}", 1),
			[]string{"5:14: groups[0].devices: value must be a list", "5:14: groups[0].devices: empty group"}},
		{"a duplicate key: the first counts", minimal + "version: 3\n",
			[]string{`8:1: version: duplicate key "version" (first at line 1)`}},
		{"the short form of an endpoint", minimal + "target: {imap: 127.0.0.1, delivery: {protocol: lmtp, addr: \"h:1\"}}\n",
			[]string{`8:16: target.imap: bad address "127.0.0.1": want HOST:PORT`}},
		{"not again under a value that did not decode", strings.Replace(minimal, "count: 2", "count: two", 1),
			[]string{`2:16: users.count: bad whole number "two"`}},
		{"a duplicate group by the line of the first", "version: 1\nusers: {count: 2}\nbehaviors: {b: {}}\ngroups:\n" +
			"  - {name: g, share: 50%, devices: [pc-imap]}\n  - {name: g, share: 30%, devices: [pc-imap]}\n  - {name: g, share: 20%, devices: [pc-imap]}\n",
			[]string{`6:12: groups[1].name: duplicate group name "g" (first at line 5)`, `7:12: groups[2].name: duplicate group name "g" (first at line 5)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src), envOf(nil))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse = %v, want Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tt.want), es)
			}
			for i, e := range es {
				if got := strings.TrimPrefix(e.Error(), "s.yaml:"); !strings.HasPrefix(got, tt.want[i]) {
					t.Errorf("error %d = %q, want it to start with %q", i, got, tt.want[i])
				}
			}
		})
	}
}
