package scenarios

import (
	"errors"
	"fmt"
	"github.com/mailsim/mailsim/clients"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Shard is one slice of the population when a run is split over several
// processes. User i (1-based) belongs to shard ((i-1) mod Count)+1, so a
// user's devices always stay together. {1,1} is the whole population.
type Shard struct{ Index, Count int }

// String returns "i/n".
func (s Shard) String() string {
	s = s.norm()
	return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count)
}

// Contains reports whether the user of 1-based index i is in the shard.
func (s Shard) Contains(i int) bool {
	s = s.norm()
	return (i-1)%s.Count+1 == s.Index
}

// norm maps the zero Shard to 1/1.
func (s Shard) norm() Shard {
	if s.Count == 0 && s.Index == 0 {
		return Shard{1, 1}
	}
	return s
}

// ParseShard parses "i/n" with 1 <= i <= n.
func ParseShard(s string) (Shard, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("bad shard %q: want i/n, like 2/4", s)
	}
	sh := Shard{Index: i, Count: n}
	if err := sh.check(); err != nil {
		return Shard{}, err
	}
	return sh, nil
}

func (s Shard) check() error {
	if s.Count < 1 || s.Index < 1 || s.Index > s.Count || s.Count > MaxUsers {
		return fmt.Errorf("bad shard %d/%d: want 1 <= i <= n", s.Index, s.Count)
	}
	return nil
}

// PlanOptions override a scenario's settings for one run.
type PlanOptions struct {
	// Users replaces users.count; 0 keeps the scenario's.
	Users int
	// Seed replaces the scenario's seed when not nil.
	Seed *int64
	// Duration replaces the scenario's duration; 0 keeps it.
	Duration time.Duration
	// Shard selects the part of the population this process runs; the
	// zero value is 1/1, everyone.
	Shard Shard
}

// Plan is the resolved population of one run (or one shard of it): who the
// users are, their group, behavior and devices, and the load to expect. It
// is immutable once built.
type Plan struct {
	Scenario *Scenario
	Seed     int64
	// Duration is the wall-clock length of the active phase.
	Duration time.Duration
	Shard    Shard
	// TotalUsers is the size of the whole population, all shards.
	TotalUsers int
	// GroupTotals is the number of users of each group in the whole
	// population.
	GroupTotals map[string]int
	// Users are this shard's users, by index.
	Users []*User
	// Rates is the load this shard is expected to generate.
	Rates Rates
}

// User is one simulated person.
type User struct {
	// Index is the 1-based position in the whole population.
	Index int
	Credential
	// Address is the user's mail address, user@domain (the username as is
	// when it already has an @).
	Address  string
	Group    *Group
	Behavior *Behavior
	// Devices in the order of the group's device list.
	Devices []*Device
	// Seed drives this user's random choices; it depends only on the plan
	// seed and Index, so a user acts the same in any shard layout.
	Seed int64
}

// Device is one simulated device of a user.
type Device struct {
	// ID is "username/profile", e.g. "user1/pc-imap".
	ID      string
	Profile *clients.Profile
}

// Rates is the expected steady-state load of a shard in wall-clock terms
// (simulated rates × time_scale). See docs/scenarios.md for how each is
// estimated.
type Rates struct {
	// InboundPerSec and SpamPerSec are deliveries per second.
	InboundPerSec, SpamPerSec float64
	// SendsPerSec are new messages written per second (replies and
	// forwards are counted in ActionsPerSec).
	SendsPerSec float64
	// ActionsPerSec are actions on new mail (read, reply, ...) per second.
	ActionsPerSec float64
	// RepliesPerSec are the replies and forwards per second, part of
	// ActionsPerSec: with SendsPerSec, the messages devices submit.
	RepliesPerSec float64
	// LoginsPerSec are logins per second after the start (POP3 polls,
	// webmail refreshes, reconnects).
	LoginsPerSec float64
	// Connections is the number of long-lived IMAP connections.
	Connections int
	// UsersByGroup and DevicesByProfile count this shard's users and
	// devices.
	UsersByGroup     map[string]int
	DevicesByProfile map[string]int
}

// NewPlan assigns the scenario's users to groups and devices. Users are
// assigned deterministically from the seed: exact counts per group from the
// shares (largest-remainder rounding), then a seeded shuffle.
func NewPlan(s *Scenario, opts PlanOptions) (*Plan, error) {
	if s == nil {
		return nil, errors.New("plan: no scenario")
	}
	shard := opts.Shard.norm()
	if err := shard.check(); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	p := &Plan{Scenario: s, Seed: s.Seed, Duration: s.Duration, Shard: shard, TotalUsers: s.Users.Count}
	if opts.Seed != nil {
		p.Seed = *opts.Seed
	}
	if opts.Duration < 0 {
		return nil, fmt.Errorf("plan: negative duration %s", opts.Duration)
	}
	if opts.Duration > 0 {
		p.Duration = opts.Duration
	}
	if opts.Users < 0 || opts.Users > MaxUsers {
		return nil, fmt.Errorf("plan: %d users: want 1 to %d", opts.Users, MaxUsers)
	}
	if opts.Users > 0 {
		p.TotalUsers = opts.Users
	}
	if s.Users.File != "" && p.TotalUsers > len(s.Users.Names) {
		return nil, fmt.Errorf("plan: %d users wanted but %s lists only %d", p.TotalUsers, s.Users.File, len(s.Users.Names))
	}
	if len(s.Groups) == 0 || p.TotalUsers < 1 {
		return nil, errors.New("plan: empty population")
	}
	if shard.Count > p.TotalUsers {
		return nil, fmt.Errorf("plan: shard %s is empty: only %d users", shard, p.TotalUsers)
	}
	counts := groupCounts(s.Groups, p.TotalUsers)
	p.GroupTotals = map[string]int{}
	for i, g := range s.Groups {
		p.GroupTotals[g.Name] += counts[i]
	}
	assign := make([]uint16, 0, p.TotalUsers)
	for gi, c := range counts {
		for range c {
			assign = append(assign, uint16(gi))
		}
	}
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 0x6d61696c73696d))
	rng.Shuffle(len(assign), func(i, j int) { assign[i], assign[j] = assign[j], assign[i] })

	domain := DefaultDomain
	if s.Target != nil && s.Target.Domain != "" {
		domain = s.Target.Domain
	}
	for i := shard.Index; i <= p.TotalUsers; i += shard.Count {
		g := s.Groups[assign[i-1]]
		u := &User{Index: i, Group: g, Behavior: s.Behaviors[g.Behavior], Seed: DeriveSeed(p.Seed, int64(i))}
		u.Credential = s.Users.credential(i)
		u.Address = u.Username
		if !strings.Contains(u.Username, "@") {
			u.Address = u.Username + "@" + domain
		}
		for _, name := range g.Devices {
			u.Devices = append(u.Devices, &Device{ID: u.Username + "/" + name, Profile: s.Devices[name]})
		}
		p.Users = append(p.Users, u)
	}
	p.Rates = estimateRates(s, p.Users)
	return p, nil
}

// credential returns the login of the user of 1-based index i.
func (u *Users) credential(i int) Credential {
	if u.File != "" {
		c := u.Names[i-1]
		if c.Password == "" {
			c.Password = u.Password
		}
		return c
	}
	return Credential{Username: FormatUsername(u.Username, u.Start+i-1), Password: u.Password}
}

// groupCounts splits n users over the groups by share, with
// largest-remainder rounding (ties go to the earlier group).
func groupCounts(groups []*Group, n int) []int {
	total := 0.0
	for _, g := range groups {
		total += g.Share
	}
	counts := make([]int, len(groups))
	rem := make([]float64, len(groups))
	left := n
	for i, g := range groups {
		q := g.Share / total * float64(n)
		counts[i] = int(math.Floor(q))
		rem[i] = q - float64(counts[i])
		left -= counts[i]
	}
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for k := 0; left > 0; k = (k + 1) % len(order) {
		counts[order[k]]++
		left--
	}
	return counts
}

// DeriveSeed mixes a seed with a salt (splitmix64's finalizer), so that
// related streams of random numbers do not correlate: a user's seed from
// the plan's and the user's index, a device's from the user's, a capacity
// step's from the scenario's and the step's number.
func DeriveSeed(seed, salt int64) int64 {
	z := uint64(seed) + uint64(salt)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int64(z ^ (z >> 31))
}

// perSec returns the wall-clock rate of something that happens every
// interval of simulated time.
func perSec(interval time.Duration, scale float64) float64 {
	if interval <= 0 {
		return 0
	}
	return scale / interval.Seconds()
}

// estimateRates sums the expected steady-state load of users.
func estimateRates(s *Scenario, users []*User) Rates {
	r := Rates{UsersByGroup: map[string]int{}, DevicesByProfile: map[string]int{}}
	scale := s.TimeScale
	for _, u := range users {
		r.UsersByGroup[u.Group.Name]++
		if b := u.Behavior; b != nil {
			in := perSec(b.Inbound.Interval, scale)
			r.InboundPerSec += in
			r.SpamPerSec += perSec(b.Spam.Interval, scale)
			r.SendsPerSec += perSec(b.Send.Interval, scale)
			o := b.OnNewMail
			r.ActionsPerSec += in * (o.Read + o.Reply + o.Forward + o.Flag + o.Move + o.Delete + o.MoveFilter)
			r.RepliesPerSec += in * (o.Reply + o.Forward)
		}
		for _, d := range u.Devices {
			p := d.Profile
			if p == nil {
				continue
			}
			r.DevicesByProfile[p.Name]++
			switch {
			case p.Protocol == clients.POP3:
				r.LoginsPerSec += perSec(p.PollInterval, scale)
			case p.Kind == clients.KindWebmail:
				r.LoginsPerSec += perSec(p.Refresh, scale)
			default:
				conns := p.LongLivedConnections()
				r.Connections += conns
				switch {
				case p.LoginInterval > 0:
					r.LoginsPerSec += float64(conns) * perSec(p.LoginInterval, scale)
				case p.Kind == clients.KindPhone && !p.Idle:
					r.LoginsPerSec += perSec(p.PollInterval, scale)
				case p.Network.DisconnectEvery > 0:
					r.LoginsPerSec += float64(conns) * perSec(p.Network.DisconnectEvery, scale)
				}
			}
		}
	}
	return r
}
