package report

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"
)

// Rate is a byte rate per second, read (In) and written (Out) by clients.
type Rate struct {
	In  float64 `json:"in"`
	Out float64 `json:"out"`
}

// Projection is a run's load scaled to a target population. Rates are per
// second of real time: a run's simulated time is how the population lives,
// so the per-user rates are taken per simulated second (a run at
// time_scale 60 squeezes an hour of use into a minute of wall time) and
// multiplied by the target population. Connections and storage scale with
// the population alone.
type Projection struct {
	// FromUsers is the run's population, Users the target; Factor is
	// Users/FromUsers.
	FromUsers, Users int
	Factor           float64
	// SimulatedSeconds is the simulated time the run covered.
	SimulatedSeconds float64
	// Commands per second by protocol and command, and their sum by
	// protocol.
	Commands          map[string]map[string]float64
	CommandsPerSecond map[string]float64
	// LoginsPerSecond and BytesPerSecond by protocol.
	LoginsPerSecond map[string]float64
	BytesPerSecond  map[string]Rate
	// PeakConnections at the target population.
	PeakConnections float64
	// StoredMessages and StoredBytes at the end of a run of the same
	// length; StorageGrowth*PerDay the growth per (real) day. NaN when the
	// report does not know them (a real server's storage at the start is
	// never read, so its growth is not known).
	StoredMessages, StoredBytes                           float64
	StorageGrowthMessagesPerDay, StorageGrowthBytesPerDay float64
	// Notes explain figures that could not be projected.
	Notes []string
}

// Project scales the load of r to users. A report without users or
// simulated time yields a projection of zeros with a note.
func Project(r *Report, users int) Projection {
	p := Projection{
		FromUsers: r.Users, Users: users, SimulatedSeconds: r.SimulatedSeconds,
		Commands: map[string]map[string]float64{}, CommandsPerSecond: map[string]float64{},
		LoginsPerSecond: map[string]float64{}, BytesPerSecond: map[string]Rate{},
	}
	if r.Users <= 0 {
		p.Notes = append(p.Notes, "the report has no users: nothing to project")
		return p
	}
	p.Factor = float64(users) / float64(r.Users)
	p.PeakConnections = float64(r.Server.PeakConnections) * p.Factor
	p.StoredMessages, p.StoredBytes = math.NaN(), math.NaN()
	p.StorageGrowthMessagesPerDay, p.StorageGrowthBytesPerDay = math.NaN(), math.NaN()
	if m, b, ok := r.Server.Storage(); ok {
		p.StoredMessages, p.StoredBytes = float64(m)*p.Factor, float64(b)*p.Factor
	} else {
		p.Notes = append(p.Notes, "the report does not know the server's storage")
	}
	if r.SimulatedSeconds <= 0 {
		p.Notes = append(p.Notes, "the report covers no simulated time: rates cannot be projected")
		return p
	}
	perSec := p.Factor / r.SimulatedSeconds
	for proto, cmds := range r.Commands {
		m := map[string]float64{}
		total := 0.0
		for c, s := range cmds {
			m[c] = float64(s.Count) * perSec
			total += m[c]
		}
		p.Commands[proto] = m
		p.CommandsPerSecond[proto] = total
	}
	for proto, l := range r.Load.Logins {
		p.LoginsPerSecond[proto] = float64(l.OK+l.Failed) * perSec
	}
	for proto, b := range r.Load.Bytes {
		p.BytesPerSecond[proto] = Rate{In: float64(b.In) * perSec, Out: float64(b.Out) * perSec}
	}
	const day = 86400
	if m, b, ok := r.Server.StorageGrowth(); ok {
		p.StorageGrowthMessagesPerDay = float64(m) * perSec * day
		p.StorageGrowthBytesPerDay = float64(b) * perSec * day
	} else if _, _, known := r.Server.Storage(); known {
		p.Notes = append(p.Notes, "the server's storage at the start was not read (a real server): its growth is not known")
	}
	return p
}

// WriteProjection writes p as a table.
func (p Projection) WriteProjection(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "projection from %d to %d users (x%.4g), rates per real second from %s of simulated use\n",
		p.FromUsers, p.Users, p.Factor, fmtSeconds(p.SimulatedSeconds))
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tcommand\tper second\t")
	for _, proto := range sortedKeys(p.Commands) {
		for _, c := range sortedKeys(p.Commands[proto]) {
			fmt.Fprintf(tw, "%s\t%s\t%.4g\t\n", proto, c, p.Commands[proto][c])
		}
		fmt.Fprintf(tw, "%s\tall\t%.4g\t\n", proto, p.CommandsPerSecond[proto])
	}
	tw.Flush()
	for _, proto := range sortedKeys(p.LoginsPerSecond) {
		fmt.Fprintf(ew, "logins %s: %.4g/s\n", proto, p.LoginsPerSecond[proto])
	}
	for _, proto := range sortedKeys(p.BytesPerSecond) {
		b := p.BytesPerSecond[proto]
		fmt.Fprintf(ew, "bytes %s: in %s/s, out %s/s\n", proto, fmtBytes(b.In), fmtBytes(b.Out))
	}
	fmt.Fprintf(ew, "peak connections: %.0f\n", p.PeakConnections)
	if math.IsNaN(p.StoredBytes) {
		fmt.Fprintln(ew, "stored at the end of a run this long: not known")
	} else {
		fmt.Fprintf(ew, "stored at the end of a run this long: %.0f messages, %s\n", p.StoredMessages, fmtBytes(p.StoredBytes))
	}
	if math.IsNaN(p.StorageGrowthBytesPerDay) {
		fmt.Fprintln(ew, "storage growth per day: not known")
	} else {
		fmt.Fprintf(ew, "storage growth per day: %.0f messages, %s\n", p.StorageGrowthMessagesPerDay, fmtBytes(p.StorageGrowthBytesPerDay))
	}
	for _, n := range p.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}
