package report

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Mix is a population mix: the share of each group, summing to 1.
type Mix map[string]float64

// ParseMix reads "group=share,..." where a share is a percentage ("30%") or
// a fraction ("0.3"). Shares must add up to 100% (within 0.1%).
func ParseMix(s string) (Mix, error) {
	m := Mix{}
	var sum float64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" || val == "" {
			return nil, fmt.Errorf("mix %q: want group=share, e.g. imap=70%%", part)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("mix: group %s named twice", name)
		}
		pct := strings.HasSuffix(val, "%")
		f, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
		if err != nil || f < 0 {
			return nil, fmt.Errorf("mix %q: share %q is not a non-negative number or percentage", part, val)
		}
		if pct {
			f /= 100
		}
		m[name] = f
		sum += f
	}
	if len(m) == 0 {
		return nil, errors.New("mix: no group given")
	}
	if sum < 0.999 || sum > 1.001 {
		return nil, fmt.Errorf("mix: shares add up to %.4g%%, want 100%%", 100*sum)
	}
	return m, nil
}

// RunMix returns the population mix of the run that wrote r: each group's
// share of the users whose cost the report holds.
func RunMix(r *Report) Mix {
	m := Mix{}
	total := 0
	for _, g := range r.Groups {
		if g.Cost != nil {
			total += g.Cost.Users
		}
	}
	if total == 0 {
		return m
	}
	for name, g := range r.Groups {
		// A group without users in the run has no share of it (and no
		// cost to project).
		if g.Cost != nil && g.Cost.Users > 0 {
			m[name] = float64(g.Cost.Users) / float64(total)
		}
	}
	return m
}

// MixProjection is what a population with a given group mix asks of the
// server, built from each group's cost per user (docs/report.md, "Cost per
// user"). Rates are per real second of a population living in real time.
type MixProjection struct {
	Users int
	Mix   Mix
	// UsersByGroup is Users split by Mix (fractional).
	UsersByGroup map[string]float64
	// CommandsPerSecond by protocol plus "deliveries", and Total.
	CommandsPerSecond map[string]float64
	Total             float64
	LoginsPerSecond   map[string]float64
	BytesPerSecond    map[string]Rate
	// MeanConnections is the average number of open connections;
	// PeakConnections the sum of each group's peak per user (an upper
	// bound: groups peak at different moments).
	MeanConnections, PeakConnections float64
	// StoredBytes at the end of a run as long as the measured one, and its
	// growth per day; each NaN when the report does not know it per user
	// for some group of the mix (a real server's growth is never known).
	StoredBytes, StorageGrowthBytesPerDay Num
	Notes                                 []string
}

// ProjectMix projects the per-group costs of r to users with mix. Every
// group of mix must have a cost in r.
func ProjectMix(r *Report, users int, mix Mix) (MixProjection, error) {
	p := MixProjection{Users: users, Mix: mix, UsersByGroup: map[string]float64{},
		CommandsPerSecond: map[string]float64{}, LoginsPerSecond: map[string]float64{}, BytesPerSecond: map[string]Rate{},
		StoredBytes: 0, StorageGrowthBytesPerDay: 0}
	var missing []string
	for g, share := range mix {
		// A group the run gave no users has no measured cost: projecting
		// users onto it would count them as costing nothing.
		if gr, ok := r.Groups[g]; !ok || gr.Cost == nil || gr.Cost.Users <= 0 && share > 0 {
			missing = append(missing, g)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return p, fmt.Errorf("the report has no cost for group %s: not in the run, or no users of it (groups with costs: %s)",
			strings.Join(missing, ", "), strings.Join(costGroupNames(r), ", "))
	}
	for _, g := range sortedKeys(mix) {
		n := float64(users) * mix[g]
		p.UsersByGroup[g] = n
		c := r.Groups[g].Cost
		if n == 0 {
			continue // no users of it: nothing to add, nor to say
		}
		perSec := n / secondsPerDay
		for proto, v := range c.CommandsPerUserDay {
			if proto == "total" {
				p.Total += v * perSec
				continue
			}
			p.CommandsPerSecond[proto] += v * perSec
		}
		for proto, v := range c.LoginsPerUserDay {
			p.LoginsPerSecond[proto] += v * perSec
		}
		for proto, b := range c.BytesPerUserDay {
			cur := p.BytesPerSecond[proto]
			p.BytesPerSecond[proto] = Rate{In: cur.In + b.In*perSec, Out: cur.Out + b.Out*perSec}
		}
		p.MeanConnections += c.ConnectionSecondsPerUserDay["total"] * perSec
		p.PeakConnections += c.PeakConnectionsPerUser * n
		// Storage and its growth apart: a real server's storage is read at
		// the end, its growth is not known. Unknown (NaN) in one group is
		// unknown in the sum.
		if c.StoredBytesPerUser == nil {
			p.StoredBytes = NaN()
		} else {
			p.StoredBytes += Num(c.StoredBytesPerUser["total"] * n)
		}
		p.StorageGrowthBytesPerDay += c.StoredBytesGrowthPerUserDay * Num(n)
		for _, note := range c.Notes {
			if !slices.Contains(p.Notes, note) {
				p.Notes = append(p.Notes, note)
			}
		}
	}
	return p, nil
}

// costGroupNames lists the groups of r that have a cost measured over
// users, sorted.
func costGroupNames(r *Report) []string {
	var out []string
	for _, g := range sortedKeys(r.Groups) {
		if c := r.Groups[g].Cost; c != nil && c.Users > 0 {
			out = append(out, g)
		}
	}
	return out
}

// WriteMixProjection writes p as a table.
func (p MixProjection) WriteMixProjection(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "projection by group cost to %d users, rates per real second:\n", p.Users)
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tshare\tusers\t")
	for _, g := range sortedKeys(p.Mix) {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.0f\t\n", g, 100*p.Mix[g], p.UsersByGroup[g])
	}
	tw.Flush()
	for _, proto := range sortedKeys(p.CommandsPerSecond) {
		fmt.Fprintf(ew, "commands %s: %.4g/s\n", proto, p.CommandsPerSecond[proto])
	}
	fmt.Fprintf(ew, "commands total (deliveries included): %.4g/s\n", p.Total)
	for _, proto := range sortedKeys(p.LoginsPerSecond) {
		fmt.Fprintf(ew, "logins %s: %.4g/s\n", proto, p.LoginsPerSecond[proto])
	}
	for _, proto := range sortedKeys(p.BytesPerSecond) {
		b := p.BytesPerSecond[proto]
		fmt.Fprintf(ew, "bytes %s: in %s/s, out %s/s\n", proto, fmtBytes(b.In), fmtBytes(b.Out))
	}
	fmt.Fprintf(ew, "connections: %.0f open on average, at most %.0f at the groups' peaks\n", p.MeanConnections, p.PeakConnections)
	switch {
	case p.StoredBytes.Missing():
		fmt.Fprintln(ew, "storage: not known per user")
	case p.StorageGrowthBytesPerDay.Missing():
		fmt.Fprintf(ew, "stored at the end of a run this long: %s; growth per day: not known\n", fmtBytes(float64(p.StoredBytes)))
	default:
		fmt.Fprintf(ew, "stored at the end of a run this long: %s; growth per day: %s\n",
			fmtBytes(float64(p.StoredBytes)), fmtBytes(float64(p.StorageGrowthBytesPerDay)))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}
