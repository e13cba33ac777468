package scenarios

import (
	"strings"
	"testing"
	"time"
)

func loadShipped(t *testing.T, name string) *Scenario {
	t.Helper()
	s, err := Load(name, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// assignment returns each user's group name, in index order.
func assignment(p *Plan) []string {
	out := make([]string, len(p.Users))
	for i, u := range p.Users {
		out[i] = u.Group.Name
	}
	return out
}

func TestPlanDeterminism(t *testing.T) {
	s := loadShipped(t, "office-day")
	seed1, seed2 := int64(1), int64(2)
	a, err := NewPlan(s, PlanOptions{Seed: &seed1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewPlan(s, PlanOptions{Seed: &seed1})
	c, _ := NewPlan(s, PlanOptions{Seed: &seed2})
	if strings.Join(assignment(a), ",") != strings.Join(assignment(b), ",") {
		t.Error("same seed gave different assignments")
	}
	if strings.Join(assignment(a), ",") == strings.Join(assignment(c), ",") {
		t.Error("different seeds gave the same assignment")
	}
	if a.Users[0].Seed != b.Users[0].Seed || a.Users[0].Seed == c.Users[0].Seed || a.Users[0].Seed == a.Users[1].Seed {
		t.Error("user seeds are not derived from plan seed and index")
	}
	// Exact counts from the shares: 60 users, 60/25/15%.
	want := map[string]int{"desk": 36, "managers": 15, "pop3-holdouts": 9}
	for g, n := range want {
		if a.GroupTotals[g] != n || a.Rates.UsersByGroup[g] != n || c.GroupTotals[g] != n {
			t.Errorf("group %s: %d users, want %d", g, a.GroupTotals[g], n)
		}
	}
}

func TestGroupCountsLargestRemainder(t *testing.T) {
	groups := []*Group{{Share: 1.0 / 3}, {Share: 1.0 / 3}, {Share: 1.0 / 3}}
	tests := []struct {
		n    int
		want []int
	}{{10, []int{4, 3, 3}}, {2, []int{1, 1, 0}}, {1, []int{1, 0, 0}}, {9, []int{3, 3, 3}}}
	for _, tt := range tests {
		got := groupCounts(groups, tt.n)
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("groupCounts(thirds, %d) = %v, want %v", tt.n, got, tt.want)
				break
			}
		}
	}
	got := groupCounts([]*Group{{Share: .6}, {Share: .25}, {Share: .15}}, 7)
	if got[0]+got[1]+got[2] != 7 || got[0] != 4 || got[1] != 2 || got[2] != 1 {
		t.Errorf("groupCounts(60/25/15, 7) = %v", got)
	}
}

func TestShardUnionIsWhole(t *testing.T) {
	s := loadShipped(t, "pop3-vs-imap")
	whole, err := NewPlan(s, PlanOptions{Users: 103})
	if err != nil {
		t.Fatal(err)
	}
	if whole.Shard.String() != "1/1" || len(whole.Users) != 103 || whole.TotalUsers != 103 {
		t.Fatalf("whole plan: shard %s, %d users", whole.Shard, len(whole.Users))
	}
	for _, n := range []int{1, 2, 3, 4, 7} {
		seen := map[int]bool{}
		devices := 0
		for i := 1; i <= n; i++ {
			p, err := NewPlan(s, PlanOptions{Users: 103, Shard: Shard{i, n}})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range p.Users {
				w := whole.Users[u.Index-1]
				if seen[u.Index] {
					t.Errorf("n=%d: user %d in two shards", n, u.Index)
				}
				seen[u.Index] = true
				if (u.Index-1)%n+1 != i || !p.Shard.Contains(u.Index) {
					t.Errorf("n=%d: user %d in shard %d", n, u.Index, i)
				}
				if u.Username != w.Username || u.Group != w.Group || u.Seed != w.Seed || len(u.Devices) != len(w.Devices) {
					t.Errorf("n=%d: user %d differs from the unsharded plan", n, u.Index)
				}
				devices += len(u.Devices)
			}
		}
		if len(seen) != 103 {
			t.Errorf("n=%d: union has %d users, want 103", n, len(seen))
		}
		wholeDevices := 0
		for _, u := range whole.Users {
			wholeDevices += len(u.Devices)
		}
		if devices != wholeDevices {
			t.Errorf("n=%d: %d devices, want %d", n, devices, wholeDevices)
		}
	}
}

func TestParseShard(t *testing.T) {
	tests := []struct {
		in   string
		want Shard
		err  bool
	}{
		{"2/4", Shard{2, 4}, false}, {"1/1", Shard{1, 1}, false}, {" 3/3 ", Shard{3, 3}, false},
		{"0/4", Shard{}, true}, {"5/4", Shard{}, true}, {"1", Shard{}, true}, {"a/b", Shard{}, true}, {"1/0", Shard{}, true},
	}
	for _, tt := range tests {
		got, err := ParseShard(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseShard(%q) = %v, %v", tt.in, got, err)
		}
	}
	if (Shard{}).String() != "1/1" {
		t.Errorf("zero shard = %s", Shard{})
	}
}

func TestPlanOverridesAndErrors(t *testing.T) {
	s := loadShipped(t, "quickstart")
	seed := int64(42)
	p, err := NewPlan(s, PlanOptions{Users: 10, Seed: &seed, Duration: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalUsers != 10 || p.Seed != 42 || p.Duration != 5*time.Second || s.Users.Count != 6 {
		t.Errorf("overrides not applied: %d users, seed %d, %v", p.TotalUsers, p.Seed, p.Duration)
	}
	u := p.Users[9]
	if u.Index != 10 || u.Username != "user10" || u.Address != "user10@example.com" || u.Behavior == nil ||
		u.Devices[0].ID != "user10/"+u.Group.Devices[0] || u.Devices[0].Profile == nil {
		t.Errorf("user 10 = %+v", u)
	}
	for _, o := range []PlanOptions{{Users: -1}, {Users: MaxUsers + 1}, {Shard: Shard{3, 2}}, {Users: 2, Shard: Shard{1, 3}}, {Duration: -time.Second}} {
		if _, err := NewPlan(s, o); err == nil {
			t.Errorf("NewPlan(%+v) succeeded", o)
		}
	}
}

func TestPlanRates(t *testing.T) {
	src := `version: 1
time_scale: 60
users: {count: 4}
groups:
  - {name: a, share: 50%, devices: [pc-pop3, webmail]}
  - {name: b, share: 50%, devices: [pc-imap]}
behaviors:
  x: {inbound: {interval: 1m}, spam: {interval: 2m}, send: {interval: 4m}, on_new_mail: {read: 50%, delete: 50%, reply: 20%, forward: 5%}}
`
	s, err := Parse("r.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(s, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := p.Rates
	// 4 users × 1/min simulated × 60 = 4/s inbound; replies and
	// forwards 25% of it.
	if r.InboundPerSec != 4 || r.SpamPerSec != 2 || r.SendsPerSec != 1 || r.ActionsPerSec != 5 || r.RepliesPerSec != 1 {
		t.Errorf("rates = %+v", r)
	}
	// 2 POP3 PCs polling every 10m and 2 webmails every 60s, ×60.
	if want := 2*60/600.0 + 2*60/60.0; r.LoginsPerSec != want || r.Connections != 4 {
		t.Errorf("logins %v want %v, connections %d", r.LoginsPerSec, want, r.Connections)
	}
	if r.DevicesByProfile["pc-pop3"] != 2 || r.DevicesByProfile["pc-imap"] != 2 || r.DevicesByProfile["webmail"] != 2 {
		t.Errorf("devices = %v", r.DevicesByProfile)
	}
	var b strings.Builder
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1/1: 4 of 4 users", "1m wall = 1h simulated", "inbound mail", "4/s (240/min)", "replies and forwards", "pc-pop3"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Write output lacks %q:\n%s", want, b.String())
		}
	}
}

// TestPlanCountsTheConnectionsDevicesOpen: a profile asking for more
// connections than its device uses is planned (and written) with those the
// device opens.
func TestPlanCountsTheConnectionsDevicesOpen(t *testing.T) {
	src := minimal + "devices:\n  pc-imap: {connections: 5}\n  phone-imap: {connections: 3}\n"
	src = strings.Replace(src, "devices: [pc-imap]", "devices: [pc-imap, phone-imap]", 1)
	s, err := Parse("c.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(s, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * (2 + 1); p.Rates.Connections != want {
		t.Errorf("connections %d, want %d", p.Rates.Connections, want)
	}
	var b strings.Builder
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"2 conn (connections 5: a pc uses at most 2)", "1 conn (connections 3: a phone uses at most 1)"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("plan lacks %q:\n%s", w, b.String())
		}
	}
}
