package report

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/mailsim/mailsim/internal/cost"
)

// secondsPerDay turns per-simulated-second rates into per-day ones.
const secondsPerDay = 86400

// StorageStat is what a group's users store on the server, by folder role
// ("inbox", "sent", ...), at the end of the run and at its start.
type StorageStat struct {
	// Messages and Bytes at the end, by folder role.
	Messages map[string]int64
	Bytes    map[string]int64
	// StartBytes is the total at the start of the run, for growth;
	// StartUnknown says it was not read (a real server), so growth is not
	// known.
	StartBytes   int64
	StartUnknown bool
	// UsersRead is the number of the group's users whose storage was read,
	// when not all were (their average stands for the group); 0: all.
	UsersRead int
}

// CostInput is what Build needs to compute each group's cost per user.
type CostInput struct {
	// Groups are the client-side figures of each group (the engine's
	// cost meters).
	Groups []cost.Totals
	// Order lists the groups in scenario order; the first is the
	// reference unless Reference names another.
	Order     []string
	Reference string
	// Users counts the users of each group in this run.
	Users map[string]int
	// Storage is the server's storage of each group's users; nil when the
	// server cannot tell, with the reason in StorageNote.
	Storage     map[string]StorageStat
	StorageNote string
	// ServerSeconds is the server's command service time spent on each
	// group's sessions, in seconds; nil when the server cannot attribute
	// its work to users, with the reason in ServerSecondsNote.
	ServerSeconds     map[string]float64
	ServerSecondsNote string
}

// ByteRate is bytes read (in) and written (out) by the clients, per user
// per simulated day.
type ByteRate struct {
	In  float64 `json:"in"`
	Out float64 `json:"out"`
}

// Cost is what one user of a group costs the server, on average, per
// simulated day of use (so independent of time_scale). docs/report.md
// ("Cost per user") says how each field is computed.
type Cost struct {
	Users int `json:"users"`
	// CommandsPerUserDay by client protocol, plus "deliveries" (messages
	// the injector put in the group's mailboxes) and "total".
	CommandsPerUserDay map[string]float64 `json:"commands_per_user_day"`
	// BytesPerUserDay by protocol, as the clients counted them.
	BytesPerUserDay map[string]ByteRate `json:"bytes_per_user_day"`
	// ConnectionSecondsPerUserDay is the time connections were held open,
	// by protocol and "total"; 86400 means one connection held all day.
	ConnectionSecondsPerUserDay map[string]float64 `json:"connection_seconds_per_user_day"`
	// PeakConnectionsPerUser is the group's peak of concurrently open
	// connections divided by its users.
	PeakConnectionsPerUser float64 `json:"peak_connections_per_user"`
	// LoginsPerUserDay by protocol (attempts, failed ones included).
	LoginsPerUserDay map[string]float64 `json:"logins_per_user_day"`
	// StoredBytesPerUser and StoredMessagesPerUser at the end of the run,
	// by folder role and "total"; null when the server's storage is not
	// known per user (see Notes).
	StoredBytesPerUser    map[string]float64 `json:"stored_bytes_per_user"`
	StoredMessagesPerUser map[string]float64 `json:"stored_messages_per_user"`
	// StoredBytesGrowthPerUserDay is (end − start) stored bytes per user
	// per simulated day; null when storage is not known.
	StoredBytesGrowthPerUserDay Num `json:"stored_bytes_growth_per_user_day"`
	// ServerSecondsPerUserDay is the server's command service time spent on
	// the group's sessions, per user per simulated day; null when the
	// server cannot attribute its work to users (see Notes).
	ServerSecondsPerUserDay Num `json:"server_seconds_per_user_day"`
	// Notes say why a figure is absent.
	Notes []string `json:"notes,omitempty"`
}

// CostSection is the report's "cost" section: every user together, and
// each group's headline figures against the reference group.
type CostSection struct {
	All *Cost `json:"all"`
	// Reference is the group the ratios compare with: the scenario's
	// first group with users.
	Reference string `json:"reference"`
	// Order lists the scenario's groups in its order (absent from reports
	// of earlier versions), for picking the reference again on a merge.
	Order []string `json:"order,omitempty"`
	// Ratios are, per group, each headline figure divided by the
	// reference group's (null where the reference's is 0 or unknown).
	Ratios map[string]map[string]Num `json:"ratios"`
}

// CostHeadlines are the figures compared between groups, in table order.
var CostHeadlines = []string{
	"commands_per_user_day", "bytes_per_user_day", "connection_seconds_per_user_day",
	"logins_per_user_day", "stored_bytes_per_user", "stored_bytes_growth_per_user_day", "server_seconds_per_user_day",
}

// headline returns one headline figure of c; NaN when unknown, and for
// a group without users (there is nothing to divide by: its zeros are no
// measurement).
func (c *Cost) headline(name string) Num {
	if c.Users <= 0 {
		return NaN()
	}
	switch name {
	case "commands_per_user_day":
		return Num(c.CommandsPerUserDay["total"])
	case "bytes_per_user_day":
		var sum float64
		for _, b := range c.BytesPerUserDay {
			sum += b.In + b.Out
		}
		return Num(sum)
	case "connection_seconds_per_user_day":
		return Num(c.ConnectionSecondsPerUserDay["total"])
	case "logins_per_user_day":
		var sum float64
		for _, n := range c.LoginsPerUserDay {
			sum += n
		}
		return Num(sum)
	case "stored_bytes_per_user":
		if c.StoredBytesPerUser == nil {
			return NaN()
		}
		return Num(c.StoredBytesPerUser["total"])
	case "stored_bytes_growth_per_user_day":
		return c.StoredBytesGrowthPerUserDay
	case "server_seconds_per_user_day":
		return c.ServerSecondsPerUserDay
	}
	return NaN()
}

// Headline returns the named headline figure (one of CostHeadlines) of c;
// NaN when unknown or c is nil.
func (c *Cost) Headline(name string) Num {
	if c == nil {
		return NaN()
	}
	return c.headline(name)
}

// costOf computes one cost from summed totals over users.
func costOf(t cost.Totals, users int, simSeconds float64, st *StorageStat, storageNote string, serverSec *float64, serverNote string) *Cost {
	c := &Cost{
		Users:                       users,
		CommandsPerUserDay:          map[string]float64{},
		BytesPerUserDay:             map[string]ByteRate{},
		ConnectionSecondsPerUserDay: map[string]float64{},
		LoginsPerUserDay:            map[string]float64{},
		StoredBytesGrowthPerUserDay: NaN(),
		ServerSecondsPerUserDay:     NaN(),
	}
	if users <= 0 || simSeconds <= 0 {
		c.Notes = append(c.Notes, "no users or no simulated time: nothing to divide by")
		return c
	}
	perUserDay := secondsPerDay / simSeconds / float64(users)
	var cmds, conn float64
	for p, pt := range t.Protocols {
		if pt.Commands > 0 {
			c.CommandsPerUserDay[p] = float64(pt.Commands) * perUserDay
			cmds += float64(pt.Commands)
		}
		if pt.BytesIn > 0 || pt.BytesOut > 0 {
			c.BytesPerUserDay[p] = ByteRate{In: float64(pt.BytesIn) * perUserDay, Out: float64(pt.BytesOut) * perUserDay}
		}
		if pt.ConnectionSeconds > 0 {
			c.ConnectionSecondsPerUserDay[p] = pt.ConnectionSeconds * perUserDay
			conn += pt.ConnectionSeconds
		}
		if pt.Logins > 0 {
			c.LoginsPerUserDay[p] = float64(pt.Logins) * perUserDay
		}
	}
	c.CommandsPerUserDay["deliveries"] = float64(t.Deliveries) * perUserDay
	c.CommandsPerUserDay["total"] = (cmds + float64(t.Deliveries)) * perUserDay
	c.ConnectionSecondsPerUserDay["total"] = conn * perUserDay
	c.PeakConnectionsPerUser = float64(t.PeakConnections) / float64(users)
	if st == nil {
		note := storageNote
		if note == "" {
			note = "the server's storage per user is not known"
		}
		c.Notes = append(c.Notes, note)
	} else {
		read := users
		if st.UsersRead > 0 && st.UsersRead < users {
			read = st.UsersRead
			c.Notes = append(c.Notes, fmt.Sprintf("storage read for %d of %d users: their average stands for the rest", read, users))
		}
		c.StoredBytesPerUser = map[string]float64{}
		c.StoredMessagesPerUser = map[string]float64{}
		var bytes, msgs int64
		for role, b := range st.Bytes {
			c.StoredBytesPerUser[role] = float64(b) / float64(read)
			bytes += b
		}
		for role, m := range st.Messages {
			c.StoredMessagesPerUser[role] = float64(m) / float64(read)
			msgs += m
		}
		c.StoredBytesPerUser["total"] = float64(bytes) / float64(read)
		c.StoredMessagesPerUser["total"] = float64(msgs) / float64(read)
		if st.StartUnknown {
			c.Notes = append(c.Notes, "storage at the start was not read (a real server): its growth is not known")
		} else {
			c.StoredBytesGrowthPerUserDay = Num(float64(bytes-st.StartBytes) * float64(users) / float64(read) * perUserDay)
		}
	}
	if serverSec == nil {
		note := serverNote
		if note == "" {
			note = "the server does not attribute its work to users"
		}
		c.Notes = append(c.Notes, note)
	} else {
		c.ServerSecondsPerUserDay = Num(*serverSec * perUserDay)
	}
	return c
}

// sumTotals adds b into a.
func sumTotals(a *cost.Totals, b cost.Totals) {
	if a.Protocols == nil {
		a.Protocols = map[string]cost.ProtocolTotals{}
	}
	for p, pt := range b.Protocols {
		s := a.Protocols[p]
		s.Commands += pt.Commands
		s.Errors += pt.Errors
		s.BytesIn += pt.BytesIn
		s.BytesOut += pt.BytesOut
		s.ConnectionSeconds += pt.ConnectionSeconds
		s.Logins += pt.Logins
		s.LoginFails += pt.LoginFails
		a.Protocols[p] = s
	}
	a.Deliveries += b.Deliveries
	// Groups peak at different moments: the sum bounds the overall peak
	// from above.
	a.PeakConnections += b.PeakConnections
}

// buildCost fills each group's cost and the cost section; it does nothing
// when the input has no groups.
func buildCost(r *Report, in CostInput, simSeconds float64) {
	if len(in.Groups) == 0 {
		return
	}
	var all cost.Totals
	var allStorage *StorageStat
	if in.Storage != nil {
		allStorage = &StorageStat{Messages: map[string]int64{}, Bytes: map[string]int64{}}
	}
	var allServer *float64
	if in.ServerSeconds != nil {
		allServer = new(float64)
	}
	users := 0
	for _, t := range in.Groups {
		n := in.Users[t.Group]
		users += n
		sumTotals(&all, t)
		var st *StorageStat
		if in.Storage != nil {
			if s, ok := in.Storage[t.Group]; ok {
				st = &s
				for k, v := range s.Bytes {
					allStorage.Bytes[k] += v
				}
				for k, v := range s.Messages {
					allStorage.Messages[k] += v
				}
				allStorage.StartBytes += s.StartBytes
				allStorage.StartUnknown = allStorage.StartUnknown || s.StartUnknown
				if s.UsersRead > 0 {
					allStorage.UsersRead += s.UsersRead
				} else {
					allStorage.UsersRead += n
				}
			}
		}
		var ss *float64
		if in.ServerSeconds != nil {
			v := in.ServerSeconds[t.Group]
			ss = &v
			*allServer += v
		}
		c := costOf(t, n, simSeconds, st, in.StorageNote, ss, in.ServerSecondsNote)
		g := r.Groups[t.Group]
		g.Cost = c
		r.Groups[t.Group] = g
	}
	r.Cost = &CostSection{All: costOf(all, users, simSeconds, allStorage, in.StorageNote, allServer, in.ServerSecondsNote),
		Ratios: map[string]map[string]Num{}}
	order := in.Order
	if len(order) == 0 {
		for _, t := range in.Groups {
			order = append(order, t.Group)
		}
		sort.Strings(order)
	}
	r.Cost.Order = order
	r.Cost.Reference = costReference(r.Groups, in.Reference, order)
	r.Cost.Ratios = costRatios(r.Groups, r.Cost.Reference)
}

// costReference picks the group the others are compared with: want when
// given, else the first group of order with users (a group the plan gave
// no users has no cost to compare with), else the first of order.
func costReference(groups map[string]Group, want string, order []string) string {
	if want != "" {
		return want
	}
	for _, g := range order {
		if c := groups[g].Cost; c != nil && c.Users > 0 {
			return g
		}
	}
	if len(order) > 0 {
		return order[0]
	}
	return ""
}

// costRatios divides each group's headline figures by those of the
// reference group ref (NaN where either is unknown or the reference's is 0).
func costRatios(groups map[string]Group, ref string) map[string]map[string]Num {
	out := map[string]map[string]Num{}
	refCost := groups[ref].Cost
	for name, g := range groups {
		if g.Cost == nil {
			continue
		}
		ratios := map[string]Num{}
		for _, h := range CostHeadlines {
			num, den := g.Cost.headline(h), refCost.Headline(h)
			if !den.Missing() && !num.Missing() && den != 0 {
				ratios[h] = num / den
			} else {
				ratios[h] = NaN()
			}
		}
		out[name] = ratios
	}
	return out
}

// costLabels name the headline figures in the summary and the HTML report.
var costLabels = map[string]string{
	"commands_per_user_day":            "commands / user / day",
	"bytes_per_user_day":               "bytes / user / day",
	"connection_seconds_per_user_day":  "connection time / user / day",
	"logins_per_user_day":              "logins / user / day",
	"stored_bytes_per_user":            "stored / user",
	"stored_bytes_growth_per_user_day": "storage growth / user / day",
	"server_seconds_per_user_day":      "server time / user / day",
}

// costFormat formats one headline figure in its unit.
func costFormat(name string, v Num) string {
	if v.Missing() {
		return "-"
	}
	switch name {
	case "bytes_per_user_day", "stored_bytes_per_user", "stored_bytes_growth_per_user_day":
		return fmtBytes(float64(v))
	case "connection_seconds_per_user_day", "server_seconds_per_user_day":
		return fmtSeconds(float64(v))
	}
	return fmt.Sprintf("%.1f", float64(v))
}

// CostRow is one line of the cost comparison: a headline figure per group,
// formatted, with its ratio to the reference group.
type CostRow struct {
	Name, Label string
	// Cells are in the order of CostGroups.
	Cells []CostCell
}

// CostCell is one group's value of a CostRow.
type CostCell struct {
	Value, Ratio string
}

// CostGroups returns the groups of the cost comparison: the reference
// first, then the others by name; groups without a cost (a merged report's
// group no shard had users of) are left out.
func (r *Report) CostGroups() []string {
	if r.Cost == nil {
		return nil
	}
	var out []string
	if r.Groups[r.Cost.Reference].Cost != nil {
		out = append(out, r.Cost.Reference)
	}
	for _, g := range sortedKeys(r.Groups) {
		if g != r.Cost.Reference && r.Groups[g].Cost != nil {
			out = append(out, g)
		}
	}
	return out
}

// CostRows returns the cost comparison, one row per headline figure, plus a
// first row with each group's divergence ratio: the two halves of the
// trade-off side by side.
func (r *Report) CostRows() []CostRow {
	groups := r.CostGroups()
	if len(groups) == 0 {
		return nil
	}
	rows := []CostRow{{Name: "divergence_ratio", Label: "divergence ratio"}}
	for _, g := range groups {
		v := "-" // no users: no divergence measured
		if r.Groups[g].Users > 0 {
			v = fmt.Sprintf("%.3f", r.Groups[g].Ratio)
		}
		rows[0].Cells = append(rows[0].Cells, CostCell{Value: v})
	}
	for _, h := range CostHeadlines {
		row := CostRow{Name: h, Label: costLabels[h]}
		for _, g := range groups {
			cell := CostCell{Value: costFormat(h, r.Groups[g].Cost.Headline(h)), Ratio: "-"}
			if q, ok := r.Cost.Ratios[g][h]; ok && !q.Missing() {
				cell.Ratio = fmt.Sprintf("%.2f×", float64(q))
			}
			row.Cells = append(row.Cells, cell)
		}
		rows = append(rows, row)
	}
	return rows
}

// writeCost writes the cost comparison table of the summary.
func (r *Report) writeCost(w io.Writer) {
	groups := r.CostGroups()
	if len(groups) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCost per user (per simulated day; ratio to %s)\n", r.Cost.Reference)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "\t")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t\t", g)
	}
	fmt.Fprintln(tw)
	for _, row := range r.CostRows() {
		fmt.Fprintf(tw, "%s\t", row.Label)
		for _, c := range row.Cells {
			ratio := c.Ratio
			if row.Name == "divergence_ratio" {
				ratio = ""
			}
			fmt.Fprintf(tw, "%s\t%s\t", c.Value, ratio)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	seen := map[string]bool{}
	for _, g := range groups {
		for _, n := range r.Groups[g].Cost.Notes {
			if !seen[n] {
				seen[n] = true
				fmt.Fprintf(w, "note: %s\n", n)
			}
		}
	}
}

// costChart is the HTML bar chart of each group's headline figures relative
// to the reference group.
func (r *Report) costChart() string {
	groups := r.CostGroups()
	if len(groups) < 2 {
		return ""
	}
	var cats []string
	for _, h := range CostHeadlines {
		cats = append(cats, costLabels[h])
	}
	var ss []series
	for _, g := range groups {
		ys := make([]float64, len(CostHeadlines))
		for i, h := range CostHeadlines {
			if q := r.Cost.Ratios[g][h]; !q.Missing() {
				ys[i] = float64(q)
			}
		}
		ss = append(ss, series{name: g, ys: ys})
	}
	return barChart("Cost per user relative to "+r.Cost.Reference+" (1 = same)", "", cats, ss, ratioUnit)
}
