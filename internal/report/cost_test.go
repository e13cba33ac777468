package report

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/cost"
)

// costInput is two groups over one simulated day (86400 s): pop3-office
// with 2 users, imap-everywhere with 4.
func costInput() CostInput {
	return CostInput{
		Groups: []cost.Totals{
			{Group: "imap-everywhere", Deliveries: 40, PeakConnections: 10, Protocols: map[string]cost.ProtocolTotals{
				"imap": {Commands: 4000, BytesIn: 4 << 20, BytesOut: 1 << 20, ConnectionSeconds: 4 * 2 * 86400, Logins: 40},
				"smtp": {Commands: 40, BytesOut: 4000, ConnectionSeconds: 40, Logins: 8},
			}},
			{Group: "pop3-office", Deliveries: 20, PeakConnections: 2, Protocols: map[string]cost.ProtocolTotals{
				"pop3": {Commands: 1000, BytesIn: 2 << 20, ConnectionSeconds: 2 * 8640, Logins: 200},
			}},
		},
		Order: []string{"pop3-office", "imap-everywhere"},
		Users: map[string]int{"pop3-office": 2, "imap-everywhere": 4},
		Storage: map[string]StorageStat{
			"pop3-office":     {Messages: map[string]int64{"inbox": 2}, Bytes: map[string]int64{"inbox": 20000}, StartBytes: 10000},
			"imap-everywhere": {Messages: map[string]int64{"inbox": 40, "sent": 8}, Bytes: map[string]int64{"inbox": 400000, "sent": 80000}},
		},
		ServerSecondsNote: "not measured here",
	}
}

func TestCostPerUserDay(t *testing.T) {
	in := sampleInput(t)
	in.Simulated = 86400 * 1e9 // one simulated day
	in.Cost = costInput()
	r := Build(in)
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	imap, pop := r.Groups["imap-everywhere"].Cost, r.Groups["pop3-office"].Cost
	if imap == nil || pop == nil {
		t.Fatalf("groups without cost: %+v", r.Groups)
	}
	near("imap commands/user/day", imap.CommandsPerUserDay["imap"], 1000)
	near("imap deliveries/user/day", imap.CommandsPerUserDay["deliveries"], 10)
	near("imap total/user/day", imap.CommandsPerUserDay["total"], 1000+10+10)
	near("imap bytes in/user/day", imap.BytesPerUserDay["imap"].In, float64(1<<20))
	near("imap connection s/user/day", imap.ConnectionSecondsPerUserDay["imap"], 2*86400)
	near("imap connection total", imap.ConnectionSecondsPerUserDay["total"], 2*86400+10)
	near("imap peak/user", imap.PeakConnectionsPerUser, 2.5)
	near("imap logins/user/day", imap.LoginsPerUserDay["imap"], 10)
	near("imap stored/user", imap.StoredBytesPerUser["total"], 120000)
	near("imap sent/user", imap.StoredBytesPerUser["sent"], 20000)
	near("imap messages/user", imap.StoredMessagesPerUser["total"], 12)
	near("imap growth/user/day", float64(imap.StoredBytesGrowthPerUserDay), 120000)
	near("pop growth/user/day", float64(pop.StoredBytesGrowthPerUserDay), 5000)
	near("pop connection s/user/day", pop.ConnectionSecondsPerUserDay["total"], 8640)
	if !imap.ServerSecondsPerUserDay.Missing() || !slices.Contains(imap.Notes, "not measured here") {
		t.Errorf("server seconds %v notes %v, want null with the reason", imap.ServerSecondsPerUserDay, imap.Notes)
	}
	// The reference is the scenario's first group; ratios compare with it.
	if r.Cost == nil || r.Cost.Reference != "pop3-office" {
		t.Fatalf("cost section %+v", r.Cost)
	}
	near("ratio connection time", float64(r.Cost.Ratios["imap-everywhere"]["connection_seconds_per_user_day"]), (2*86400+10)/8640.0)
	near("ratio storage", float64(r.Cost.Ratios["imap-everywhere"]["stored_bytes_per_user"]), 12)
	near("self ratio", float64(r.Cost.Ratios["pop3-office"]["commands_per_user_day"]), 1)
	if q := r.Cost.Ratios["imap-everywhere"]["server_seconds_per_user_day"]; !q.Missing() {
		t.Errorf("ratio of unknown figures = %v, want null", q)
	}
	all := r.Cost.All
	near("all users", float64(all.Users), 6)
	near("all commands total", all.CommandsPerUserDay["total"], (4000+40+40+1000+20)/6.0)
	near("all stored/user", all.StoredBytesPerUser["total"], (20000+480000)/6.0)

	// JSON: nulls for unknown figures, the section present.
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"server_seconds_per_user_day":null`, `"reference":"pop3-office"`, `"cost":{"users":4`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
	back, err := ReadJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if back.Groups["imap-everywhere"].Cost.CommandsPerUserDay["imap"] != 1000 {
		t.Error("cost does not survive a JSON round trip")
	}

	// Summary and HTML show the comparison.
	var sum, html bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Cost per user", "ratio to pop3-office", "connection time / user / day", "20.00×", "note: not measured here"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if err := r.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Cost per user", "Cost per user relative to pop3-office"} {
		if !strings.Contains(html.String(), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestCostWithoutStorageOrGroups(t *testing.T) {
	in := sampleInput(t)
	in.Cost = costInput()
	in.Cost.Storage, in.Cost.StorageNote = nil, "no storage here"
	r := Build(in)
	c := r.Groups["pop3-office"].Cost
	if c.StoredBytesPerUser != nil || !c.StoredBytesGrowthPerUserDay.Missing() || !slices.Contains(c.Notes, "no storage here") {
		t.Errorf("cost without storage: %+v", c)
	}
	if q := r.Cost.Ratios["imap-everywhere"]["stored_bytes_per_user"]; !q.Missing() {
		t.Errorf("storage ratio %v, want null", q)
	}
	in.Cost = CostInput{}
	if r := Build(in); r.Cost != nil {
		t.Errorf("a run without groups has a cost section: %+v", r.Cost)
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    Mix
		wantErr string
	}{
		{"imap=70%, pop3=30%", Mix{"imap": 0.7, "pop3": 0.3}, ""},
		{"a=0.25,b=0.75", Mix{"a": 0.25, "b": 0.75}, ""},
		{"a=100%", Mix{"a": 1}, ""},
		{"a=60%,b=30%", nil, "add up to 90%"},
		{"a=60%,a=40%", nil, "named twice"},
		{"a", nil, "want group=share"},
		{"a=x", nil, "not a non-negative"},
		{"a=-10%,b=110%", nil, "not a non-negative"},
		{"", nil, "no group"},
	}
	for _, tc := range tests {
		got, err := ParseMix(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseMix(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("ParseMix(%q) = %v, %v", tc.in, got, err)
			continue
		}
		for k, v := range tc.want {
			if math.Abs(got[k]-v) > 1e-12 {
				t.Errorf("ParseMix(%q)[%s] = %v, want %v", tc.in, k, got[k], v)
			}
		}
	}
}

func TestProjectMix(t *testing.T) {
	in := sampleInput(t)
	in.Simulated = 86400 * 1e9
	in.Cost = costInput()
	r := Build(in)
	run := RunMix(r)
	if math.Abs(run["pop3-office"]-1.0/3) > 1e-12 || math.Abs(run["imap-everywhere"]-2.0/3) > 1e-12 {
		t.Errorf("run mix %v", run)
	}
	// 86400 users, all IMAP: each IMAP user makes 1020 commands a day.
	p, err := ProjectMix(r, 86400, Mix{"imap-everywhere": 1})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p.Total-1020) > 1e-9 || math.Abs(p.MeanConnections-(2*86400+10)) > 1e-6 ||
		math.Abs(p.PeakConnections-2.5*86400) > 1e-6 || math.Abs(float64(p.StoredBytes)-120000*86400) > 1e-3 {
		t.Errorf("projection %+v", p)
	}
	// Moving users from IMAP to POP3 lowers connections and storage.
	q, err := ProjectMix(r, 86400, Mix{"imap-everywhere": 0.5, "pop3-office": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !(q.MeanConnections < p.MeanConnections && q.StoredBytes < p.StoredBytes) {
		t.Errorf("half POP3: connections %v storage %v, all IMAP %v %v", q.MeanConnections, q.StoredBytes, p.MeanConnections, p.StoredBytes)
	}
	if _, err := ProjectMix(r, 10, Mix{"webmail": 1}); err == nil || !strings.Contains(err.Error(), "webmail") {
		t.Errorf("unknown group: %v", err)
	}
	var buf bytes.Buffer
	if err := q.WriteMixProjection(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pop3-office", "50.0%", "connections:", "growth per day"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("mix projection lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestCostThresholds: thresholds can name a group's cost per user, in the
// unit of their right-hand side.
func TestCostThresholds(t *testing.T) {
	in := sampleInput(t,
		"stored_bytes_per_user{group=imap-everywhere} < 200KB",
		"connection_seconds_per_user_day{group=pop3-office} < 1h",
		"server_seconds_per_user_day < 1s",
		"peak_connections_per_user{group=imap-everywhere} <= 2.5",
		"commands_per_user_day > 100",
		"bytes_per_user_day{group=webmail} < 1MB",
	)
	in.Simulated = 86400 * 1e9
	in.Cost = costInput()
	r := Build(in)
	want := []struct {
		ok    bool
		value float64 // NaN: missing
		note  string
	}{
		{true, 120000, ""},
		{false, 8640, ""},
		{false, math.NaN(), "not measured here"},
		{true, 2.5, ""},
		{true, (4000 + 40 + 40 + 1000 + 20) / 6.0, ""},
		{false, math.NaN(), `no users of group "webmail"`},
	}
	for i, w := range want {
		got := r.Thresholds[len(r.Thresholds)-len(want)+i]
		if got.OK != w.ok || (math.IsNaN(w.value) != got.Value.Missing()) ||
			(!math.IsNaN(w.value) && math.Abs(float64(got.Value)-w.value) > 1e-6) || !strings.Contains(got.Note, w.note) {
			t.Errorf("%s = %+v, want ok %v value %v note %q", got.Expr, got, w.ok, w.value, w.note)
		}
	}
	in.Cost = CostInput{}
	in.Thresholds = in.Thresholds[len(in.Thresholds)-1:]
	if r := Build(in); r.Thresholds[0].OK || !strings.Contains(r.Thresholds[0].Note, "no cost per user") {
		t.Errorf("without costs: %+v", r.Thresholds[0])
	}
}

// TestCostGroupWithoutUsers: a group the plan gave no users has no cost to
// show (its zeros are no measurement): its figures and thresholds are
// unknown, the reference is the scenario's first group with users, and a
// merge of shards none of which had its users neither panics nor compares
// with it.
func TestCostGroupWithoutUsers(t *testing.T) {
	exprs := []string{
		"commands_per_user_day{group=tiny} < 5",
		"peak_connections_per_user{group=tiny} <= 1",
		"stored_bytes_per_user{group=tiny} < 1MB",
		"commands_per_user_day{group=pop3-office} > 1",
	}
	build := func(shard string) *Report {
		in := sampleInput(t, exprs...)
		in.Shard = shard
		in.Simulated = 86400 * 1e9
		in.Cost = costInput()
		in.Cost.Groups = append([]cost.Totals{{Group: "tiny"}}, in.Cost.Groups...)
		in.Cost.Order = append([]string{"tiny"}, in.Cost.Order...)
		in.Cost.Users["tiny"] = 0
		in.Cost.Storage["tiny"] = StorageStat{}
		return Build(in)
	}
	r := build("1/1")
	if r.Cost.Reference != "pop3-office" {
		t.Errorf("reference %q, want the first group with users", r.Cost.Reference)
	}
	tiny := r.Groups["tiny"].Cost
	for _, h := range CostHeadlines {
		if v := tiny.Headline(h); !v.Missing() {
			t.Errorf("%s of a group without users = %v, want unknown", h, v)
		}
		if q := r.Cost.Ratios["tiny"][h]; !q.Missing() {
			t.Errorf("ratio %s of a group without users = %v, want null", h, q)
		}
	}
	// mailsim plan: the run's mix leaves the group out; a mix that gives it
	// users is refused, one that gives it none is the others' projection.
	if _, ok := RunMix(r)["tiny"]; ok {
		t.Errorf("run mix %v has a group without users", RunMix(r))
	}
	if _, err := ProjectMix(r, 100, Mix{"tiny": 0.5, "pop3-office": 0.5}); err == nil || !strings.Contains(err.Error(), "no cost for group tiny") {
		t.Errorf("a mix with users of a group without cost: %v", err)
	}
	zero, err := ProjectMix(r, 100, Mix{"tiny": 0, "pop3-office": 1})
	only, err2 := ProjectMix(r, 100, Mix{"pop3-office": 1})
	if err != nil || err2 != nil || zero.Total != only.Total || zero.StoredBytes != only.StoredBytes || len(zero.Notes) != len(only.Notes) {
		t.Errorf("a 0%% share changed the projection: %+v (%v) against %+v (%v)", zero, err, only, err2)
	}
	th := r.Thresholds[len(r.Thresholds)-len(exprs):]
	for i, got := range th[:3] {
		if got.OK || !got.Value.Missing() || !strings.Contains(got.Note, `no users of group "tiny"`) {
			t.Errorf("threshold %d %s = %+v, want unknown: no users", i, got.Expr, got)
		}
	}
	if !th[3].OK {
		t.Errorf("%s = %+v", th[3].Expr, th[3])
	}
	var sum bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.String(), "ratio to pop3-office") || strings.Contains(sum.String(), " 0.00×") {
		t.Errorf("summary compares with or to a group without users:\n%s", sum.String())
	}

	var shards []*Report
	for _, s := range []string{"1/2", "2/2"} {
		b, err := json.Marshal(build(s))
		if err != nil {
			t.Fatal(err)
		}
		sh, err := ReadJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		shards = append(shards, sh)
	}
	// A report of an earlier version has no order: the shards' references
	// stand in.
	shards[1].Cost.Order = nil
	m, err := Merge(shards)
	if err != nil {
		t.Fatal(err)
	}
	if m.Cost.Reference != "pop3-office" {
		t.Errorf("merged reference %q, want pop3-office", m.Cost.Reference)
	}
	sum.Reset()
	if err := m.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	var html bytes.Buffer
	if err := m.WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.String(), "ratio to pop3-office") {
		t.Errorf("merged summary:\n%s", sum.String())
	}
	for _, order := range [][]string{nil, {"tiny", "imap-everywhere", "pop3-office"}} {
		for _, s := range shards {
			s.Cost.Order = order
		}
		if m, err := Merge(shards); err != nil || m.Cost.Reference != map[bool]string{true: "pop3-office", false: "imap-everywhere"}[order == nil] {
			t.Errorf("order %v: merged reference %q (%v)", order, m.Cost.Reference, err)
		}
	}
}

// TestProjectMixStorageWithoutGrowth: on a real server the storage at the
// end is read and its growth is not known; the mix projection keeps the
// one and says the other is unknown.
func TestProjectMixStorageWithoutGrowth(t *testing.T) {
	in := sampleInput(t)
	in.Simulated = 86400 * 1e9
	in.Cost = costInput()
	for g, st := range in.Cost.Storage {
		st.StartUnknown = true
		in.Cost.Storage[g] = st
	}
	r := Build(in)
	p, err := ProjectMix(r, 86400, Mix{"imap-everywhere": 0.5, "pop3-office": 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if want := (120000 + 10000) * 43200.0; math.Abs(float64(p.StoredBytes)-want) > 1e-3 || !p.StorageGrowthBytesPerDay.Missing() {
		t.Errorf("stored %v growth %v, want %v and unknown", p.StoredBytes, p.StorageGrowthBytesPerDay, want)
	}
	var buf bytes.Buffer
	if err := p.WriteMixProjection(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "growth per day: not known") || strings.Contains(buf.String(), "storage: not known") {
		t.Errorf("mix projection:\n%s", buf.String())
	}
}
