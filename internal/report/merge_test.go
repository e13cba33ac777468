package report

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/cost"
	"github.com/mailsim/mailsim/metrics"
)

// shardPart is one shard's share of a synthetic population.
type shardPart struct {
	users, converged, union, divergent int
	lags                               []time.Duration
	changes                            int
	imap                               LoginStat
	fetch                              CommandStat
	failed4xx                          int64
}

// randomParts deals a synthetic population into n shards with lags drawn
// from a long-tailed distribution, so percentiles differ between shards.
func randomParts(n int, seed uint64) []shardPart {
	rng := rand.New(rand.NewPCG(seed, 1))
	parts := make([]shardPart, n)
	for i := range parts {
		p := &parts[i]
		p.users = 3 + rng.IntN(10)
		p.converged = rng.IntN(p.users + 1)
		p.union = 50 + rng.IntN(200)
		p.divergent = rng.IntN(p.union / 4)
		for range 20 + rng.IntN(300) {
			s := math.Exp(rng.NormFloat64()*1.5+float64(i)) + 0.002
			p.lags = append(p.lags, time.Duration(s*float64(time.Second)))
		}
		slices.Sort(p.lags)
		p.changes = len(p.lags) + rng.IntN(5)
		p.imap = LoginStat{OK: uint64(10 + rng.IntN(50)), Failed: uint64(rng.IntN(3))}
		p.fetch = CommandStat{Count: uint64(100 + rng.IntN(1000)), Errors: uint64(rng.IntN(4)), Buckets: map[int]uint64{}, Max: 30}
		for range p.fetch.Count {
			p.fetch.Buckets[600+i*20+rng.IntN(100)]++ // metrics/loghist.go's buckets of about 0.1 to 10 ms
		}
		p.fetch.P50, p.fetch.P95, p.fetch.P99, _ = metrics.LatencyQuantiles(p.fetch.Buckets, p.fetch.Max)
		p.failed4xx = int64(rng.IntN(3))
	}
	return parts
}

// partsInput builds the report input of the given parts together, as shard
// "i/n" (or "1/1" for the whole population).
func partsInput(t *testing.T, shard string, start time.Time, parts []shardPart, exprs []string) Input {
	t.Helper()
	var users, conv, union, div, changes, attempted int
	var lags []time.Duration
	login := LoginStat{}
	fetch := CommandStat{Buckets: map[int]uint64{}}
	var failed int64
	for _, p := range parts {
		users += p.users
		conv += p.converged
		union += p.union
		div += p.divergent
		changes += p.changes
		lags = append(lags, p.lags...)
		login.OK += p.imap.OK
		login.Failed += p.imap.Failed
		fetch.Count += p.fetch.Count
		fetch.Errors += p.fetch.Errors
		addCounts(fetch.Buckets, p.fetch.Buckets)
		fetch.Max = math.Max(fetch.Max, p.fetch.Max)
		failed += p.failed4xx
		attempted += 100
	}
	slices.Sort(lags)
	fetch.P50, fetch.P95, fetch.P99, _ = metrics.LatencyQuantiles(fetch.Buckets, fetch.Max)
	kr := audit.KindResult{Changes: changes, Converged: len(lags), Lags: lags, LagsBounded: len(lags), Unconverged: map[audit.Reason]int{audit.ReasonNotSyncedYet: changes - len(lags)}}
	// Every unconverged user but one per part (when any) is unsynced
	// (audit.UserDivergence.Unsynced).
	unsynced := max(users-conv-len(parts), 0)
	d := audit.Divergence{Users: users, ConvergedUsers: conv, UnsyncedUsers: unsynced, Union: union, Divergent: div, ByDimension: audit.Dimensions{Presence: div}}
	in := Input{
		Scenario: "s", Seed: 9, Shard: shard, StartedAt: start, Wall: time.Minute, Simulated: time.Hour,
		Users: users, Devices: 2 * users,
		Audit: audit.Result{
			Users: users, Devices: 2 * users, Overall: d, ServerChecked: true,
			Groups:            map[string]audit.GroupResult{"g": {Divergence: d, Convergence: map[audit.ChangeKind]audit.KindResult{audit.Deliver: kr}, Delivered: changes}},
			Convergence:       map[audit.ChangeKind]audit.KindResult{audit.Deliver: kr},
			Delivered:         changes,
			DivergentByReason: map[audit.Reason]int{audit.ReasonNotSyncedYet: div},
		},
		Commands:        map[string]map[string]CommandStat{"imap": {"FETCH": fetch}},
		Logins:          map[string]LoginStat{"imap": login},
		Deliveries:      DeliveryCounts{Attempted: int64(attempted), Failed: map[string]int64{"4xx": failed}},
		DeviceProtocols: []string{"imap"},
	}
	// Each part's cost meters: figures proportional to its users, plus
	// storage per group.
	tot := cost.Totals{Group: "g", Protocols: map[string]cost.ProtocolTotals{}}
	st := StorageStat{Messages: map[string]int64{}, Bytes: map[string]int64{}}
	for _, p := range parts {
		sumTotals(&tot, cost.Totals{Group: "g", Deliveries: uint64(p.changes), PeakConnections: p.users,
			Protocols: map[string]cost.ProtocolTotals{"imap": {Commands: p.fetch.Count, BytesIn: int64(p.union) << 10,
				ConnectionSeconds: float64(p.users) * 1800, Logins: p.imap.OK + p.imap.Failed}}})
		st.Bytes["inbox"] += int64(p.union) << 12
		st.Messages["inbox"] += int64(p.union)
		st.StartBytes += int64(p.users) << 10
	}
	in.Cost = CostInput{Groups: []cost.Totals{tot}, Order: []string{"g"}, Users: map[string]int{"g": users},
		Storage: map[string]StorageStat{"g": st}, ServerSeconds: map[string]float64{"g": float64(users) / 10}}
	for _, e := range exprs {
		in.Thresholds = append(in.Thresholds, mustThreshold(t, e))
	}
	return in
}

// roundTrip writes r as JSON and reads it back, as "report merge" does.
func roundTrip(t *testing.T, r *Report) *Report {
	t.Helper()
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	out, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMergeEqualsWhole: the merge of n shard reports equals the report of
// the whole population built at once: counts and ratios exactly,
// convergence percentiles within LagHist's 1.1%, thresholds alike.
func TestMergeEqualsWhole(t *testing.T) {
	exprs := []string{"p95(imap.FETCH) < 2ms", "divergence_ratio < 10%", "users_converged_ratio{group=g} > 0.5", "convergence_p99{change=deliver} < 60s",
		"convergence_p50 < 5s", "error_rate < 1%", "delivery_failure_rate < 1%", "lost_messages == 0"}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{1, 2, 3, 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			parts := randomParts(n, uint64(n))
			whole := Build(partsInput(t, "1/1", start, parts, exprs))
			var shards []*Report
			for i := range parts {
				in := partsInput(t, fmt.Sprintf("%d/%d", i+1, n), start.Add(time.Duration(i)*time.Second), parts[i:i+1], exprs)
				shards = append(shards, roundTrip(t, Build(in)))
			}
			// The order of the files does not matter.
			slices.Reverse(shards)
			m, err := Merge(shards)
			if err != nil {
				t.Fatal(err)
			}
			m = roundTrip(t, m)
			ints := []struct {
				name      string
				got, want int
			}{
				{"users", m.Users, whole.Users},
				{"devices", m.Devices, whole.Devices},
				{"divergent", m.Divergence.Final.DivergentMessages, whole.Divergence.Final.DivergentMessages},
				{"union", m.Divergence.Final.Messages, whole.Divergence.Final.Messages},
				{"unsynced", m.Divergence.Final.UnsyncedUsers, whole.Divergence.Final.UnsyncedUsers},
				{"group unsynced", m.Groups["g"].UnsyncedUsers, whole.Groups["g"].UnsyncedUsers},
				{"presence", m.Divergence.Final.ByDimension.Presence, whole.Divergence.Final.ByDimension.Presence},
				{"by reason", m.Divergence.Final.ByReason["not-synced-yet"], whole.Divergence.Final.ByReason["not-synced-yet"]},
				{"changes", m.Convergence["deliver"].Changes, whole.Convergence["deliver"].Changes},
				{"converged", m.Convergence["deliver"].Converged, whole.Convergence["deliver"].Converged},
				{"group converged", m.Groups["g"].Convergence["deliver"].Converged, whole.Groups["g"].Convergence["deliver"].Converged},
				{"lags bounded", m.Convergence["deliver"].LagsBounded, whole.Convergence["deliver"].LagsBounded},
				{"delivered", m.Messages.Delivered, whole.Messages.Delivered},
				{"unconverged", m.Convergence["deliver"].Unconverged["not-synced-yet"], whole.Convergence["deliver"].Unconverged["not-synced-yet"]},
				{"fetch count", int(m.Commands["imap"]["FETCH"].Count), int(whole.Commands["imap"]["FETCH"].Count)},
				{"fetch errors", int(m.Commands["imap"]["FETCH"].Errors), int(whole.Commands["imap"]["FETCH"].Errors)},
				{"login attempts", int(m.Load.LoginAttempts), int(whole.Load.LoginAttempts)},
				{"delivery failed", int(m.Messages.DeliveryFailed), int(whole.Messages.DeliveryFailed)},
			}
			for _, c := range ints {
				if c.got != c.want {
					t.Errorf("%s: merged %d, whole %d", c.name, c.got, c.want)
				}
			}
			if !slices.Equal(m.Convergence["deliver"].Histogram, whole.Convergence["deliver"].Histogram) {
				t.Errorf("coarse histogram: merged %v, whole %v", m.Convergence["deliver"].Histogram, whole.Convergence["deliver"].Histogram)
			}
			floats := []struct {
				name      string
				got, want float64
			}{
				{"ratio", m.Divergence.Final.Ratio, whole.Divergence.Final.Ratio},
				{"users converged", m.Divergence.Final.UsersConvergedRatio, whole.Divergence.Final.UsersConvergedRatio},
				{"group ratio", m.Divergence.ByGroup["g"].Ratio, whole.Divergence.ByGroup["g"].Ratio},
				{"group users converged", m.Groups["g"].UsersConvergedRatio, whole.Groups["g"].UsersConvergedRatio},
				{"error rate", float64(m.Load.ErrorRate), float64(whole.Load.ErrorRate)},
				{"commands per user-day", m.Groups["g"].Cost.CommandsPerUserDay["total"], whole.Groups["g"].Cost.CommandsPerUserDay["total"]},
				{"imap bytes in per user-day", m.Cost.All.BytesPerUserDay["imap"].In, whole.Cost.All.BytesPerUserDay["imap"].In},
				{"connection seconds per user-day", m.Groups["g"].Cost.ConnectionSecondsPerUserDay["total"], whole.Groups["g"].Cost.ConnectionSecondsPerUserDay["total"]},
				{"stored bytes per user", m.Groups["g"].Cost.StoredBytesPerUser["total"], whole.Groups["g"].Cost.StoredBytesPerUser["total"]},
				{"storage growth per user-day", float64(m.Groups["g"].Cost.StoredBytesGrowthPerUserDay), float64(whole.Groups["g"].Cost.StoredBytesGrowthPerUserDay)},
				{"server seconds per user-day", float64(m.Groups["g"].Cost.ServerSecondsPerUserDay), float64(whole.Groups["g"].Cost.ServerSecondsPerUserDay)},
			}
			for _, c := range floats {
				if math.Abs(c.got-c.want) > 1e-9*math.Max(1, math.Abs(c.want)) || math.IsNaN(c.got) != math.IsNaN(c.want) {
					t.Errorf("%s: merged %v, whole %v", c.name, c.got, c.want)
				}
			}
			for _, q := range []struct {
				name      string
				got, want Num
			}{
				{"p50", m.Convergence["deliver"].P50s, whole.Convergence["deliver"].P50s},
				{"p95", m.Convergence["deliver"].P95s, whole.Convergence["deliver"].P95s},
				{"p99", m.Convergence["deliver"].P99s, whole.Convergence["deliver"].P99s},
				{"group p99", m.Groups["g"].Convergence["deliver"].P99s, whole.Groups["g"].Convergence["deliver"].P99s},
			} {
				if q.got.Missing() || math.Abs(float64(q.got/q.want)-1) > 0.011 {
					t.Errorf("%s: merged %v, whole %v: beyond 1.1%%", q.name, q.got, q.want)
				}
			}
			for _, q := range []struct {
				name      string
				got, want Num
			}{
				{"FETCH p50", m.Commands["imap"]["FETCH"].P50ms, whole.Commands["imap"]["FETCH"].P50ms},
				{"FETCH p95", m.Commands["imap"]["FETCH"].P95ms, whole.Commands["imap"]["FETCH"].P95ms},
				{"FETCH p99", m.Commands["imap"]["FETCH"].P99ms, whole.Commands["imap"]["FETCH"].P99ms},
			} {
				if q.got != q.want {
					t.Errorf("%s: merged %v ms, whole %v ms: the histograms merge exactly", q.name, q.got, q.want)
				}
			}
			if len(m.Thresholds) != len(whole.Thresholds) {
				t.Fatalf("%d thresholds, want %d", len(m.Thresholds), len(whole.Thresholds))
			}
			for i, th := range m.Thresholds {
				w := whole.Thresholds[i]
				if th.Expr != w.Expr || th.OK != w.OK {
					t.Errorf("threshold %q: merged ok=%v (%v), whole ok=%v (%v)", th.Expr, th.OK, th.Value, w.OK, w.Value)
				}
			}
			if m.Validity.OK != whole.Validity.OK {
				t.Errorf("validity: merged %+v, whole %+v", m.Validity, whole.Validity)
			}
			if m.Shard != "1/1" || m.Scenario != "s" || m.Seed != 9 {
				t.Errorf("merged identity %s %s %d", m.Shard, m.Scenario, m.Seed)
			}
			if want := float64(60 + n - 1); math.Abs(m.WallSeconds-want) > 1e-9 {
				t.Errorf("wall %v s, want %v: first start to last end", m.WallSeconds, want)
			}
		})
	}
}

// TestMergeThresholdFlips: a threshold that holds in every shard can break
// in the merge (and the other way round): it is evaluated on the merged
// numbers, not and-ed over the shards.
func TestMergeThresholdFlips(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parts := []shardPart{
		{users: 4, union: 100, divergent: 0, lags: []time.Duration{time.Second}, changes: 1, imap: LoginStat{OK: 1}},
		{users: 4, union: 100, divergent: 30, lags: []time.Duration{time.Second}, changes: 1, imap: LoginStat{OK: 1}},
	}
	exprs := []string{"divergence_ratio < 20%"}
	var shards []*Report
	for i := range parts {
		shards = append(shards, Build(partsInput(t, fmt.Sprintf("%d/2", i+1), start, parts[i:i+1], exprs)))
	}
	if shards[0].Thresholds[0].OK == shards[1].Thresholds[0].OK {
		t.Fatal("test setup: the shards should disagree")
	}
	m, err := Merge(shards)
	if err != nil {
		t.Fatal(err)
	}
	if th := m.Thresholds[0]; !th.OK || float64(th.Value) != 0.15 {
		t.Errorf("merged %+v, want ok with 30/200 = 0.15", th)
	}
}

// TestMergeRefuses: reports that are not every shard of one run are
// refused, saying why.
func TestMergeRefuses(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parts := randomParts(3, 1)
	shard := func(i, n int, tweak func(*Input)) *Report {
		in := partsInput(t, fmt.Sprintf("%d/%d", i, n), start, parts[i-1:i], []string{"lost_messages == 0"})
		if tweak != nil {
			tweak(&in)
		}
		return Build(in)
	}
	tests := []struct {
		name   string
		shards []*Report
		want   string
	}{
		{"none", nil, "no shard reports"},
		{"missing", []*Report{shard(1, 3, nil), shard(3, 3, nil)}, "missing shard 2/3"},
		{"two missing", []*Report{shard(2, 3, nil)}, "missing shard 1/3, 3/3"},
		{"duplicate", []*Report{shard(1, 2, nil), shard(1, 2, nil), shard(2, 2, nil)}, "shard 1/2 given twice"},
		{"other scenario", []*Report{shard(1, 2, nil), shard(2, 2, func(in *Input) { in.Scenario = "other" })}, `scenario "other"`},
		{"other seed", []*Report{shard(1, 2, nil), shard(2, 2, func(in *Input) { in.Seed = 10 })}, "seed 10"},
		{"other count", []*Report{shard(1, 2, nil), shard(2, 3, nil)}, "one of 3 shards"},
		{"other thresholds", []*Report{shard(1, 2, nil), shard(2, 2, func(in *Input) { in.Thresholds = nil })}, "other thresholds"},
		{"bad shard", []*Report{shard(1, 1, func(in *Input) { in.Shard = "x" })}, `shard "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Merge(tt.shards)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Merge: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestLagHistQuantile: the histogram's percentiles are within 1.1% of
// the exact nearest-rank ones, on a lag range from milliseconds to hours.
func TestLagHistQuantile(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var lags []time.Duration
	h := LagHist{}
	for range 5000 {
		d := time.Duration(math.Exp(rng.Float64()*22) * float64(time.Millisecond))
		lags = append(lags, d)
		h.Add(d)
	}
	slices.Sort(lags)
	for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want, _ := audit.KindResult{Lags: lags}.Quantile(q)
		got, ok := h.Quantile(q)
		if !ok || math.Abs(got/want.Seconds()-1) > 0.011 {
			t.Errorf("q%v: %v s, exact %v", q, got, want)
		}
	}
	if _, ok := (LagHist{}).Quantile(0.5); ok {
		t.Error("empty histogram has a quantile")
	}
	if h.Add(0); h[0] != 1 {
		t.Errorf("a zero lag is not in bucket 0: %v", h[0])
	}
}

// TestMergeLatencyWithoutHistogram: a shard report without latency
// histograms (an older mailsim) still merges; its command percentiles are
// then the shards' highest, and the report and the threshold say they are
// an upper bound.
func TestMergeLatencyWithoutHistogram(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parts := randomParts(2, 5)
	exprs := []string{"p99(imap.FETCH) < 1s"}
	a := Build(partsInput(t, "1/2", start, parts[:1], exprs))
	b := Build(partsInput(t, "2/2", start, parts[1:], exprs))
	c := b.Commands["imap"]["FETCH"]
	c.Latency = nil
	b.Commands["imap"]["FETCH"] = c
	m, err := Merge([]*Report{a, b})
	if err != nil {
		t.Fatal(err)
	}
	got := m.Commands["imap"]["FETCH"]
	if want := max(a.Commands["imap"]["FETCH"].P99ms, c.P99ms); got.P99ms != want || got.Latency != nil {
		t.Errorf("p99 %v ms (histogram %v), want the highest of the shards' %v ms and no histogram", got.P99ms, got.Latency, want)
	}
	if !slices.ContainsFunc(m.Notes, func(n string) bool { return strings.Contains(n, "upper bound") }) {
		t.Errorf("no note says the latency percentiles are bounds: %q", m.Notes)
	}
	if th := m.Thresholds[0]; !strings.Contains(th.Note, "upper bound") {
		t.Errorf("threshold %+v does not say its value is a bound", th)
	}
}

// TestMergeSyncRounds: the merged report keeps the shards' sync rounds
// (it had none): rounds and failed rounds summed and max exact, p50 and p99 the highest of
// the shards' that ran the profile, which a note calls an upper bound; a
// profile of one shard keeps its figures, and no note is needed then.
func TestMergeSyncRounds(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parts := randomParts(2, 5)
	a := Build(partsInput(t, "1/2", start, parts[:1], nil))
	b := Build(partsInput(t, "2/2", start, parts[1:], nil))
	a.SyncRounds = map[string]SyncRound{
		"webmail": {Rounds: 10, Failed: 1, P50S: 0.1, P99S: 0.5, MaxS: 0.9, P99SimS: 30},
		"pc-pop3": {Rounds: 4, P50S: 0.2, P99S: 0.3, MaxS: 0.3, P99SimS: 18},
	}
	b.SyncRounds = map[string]SyncRound{"webmail": {Rounds: 6, Failed: 2, P50S: 0.2, P99S: 0.4, MaxS: 1.5, P99SimS: 24}}
	for _, tt := range []struct {
		name      string
		shards    []*Report
		want      map[string]SyncRound
		wantBound bool
	}{
		{"two shards", []*Report{a, b}, map[string]SyncRound{
			"webmail": {Rounds: 16, Failed: 3, P50S: 0.2, P99S: 0.5, MaxS: 1.5, P99SimS: 30},
			"pc-pop3": {Rounds: 4, P50S: 0.2, P99S: 0.3, MaxS: 0.3, P99SimS: 18},
		}, true},
		{"one shard has rounds", []*Report{a, withoutRounds(b)}, a.SyncRounds, false},
		{"none", []*Report{withoutRounds(a), withoutRounds(b)}, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Merge(tt.shards)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.SyncRounds, tt.want) {
				t.Errorf("sync rounds %+v, want %+v", m.SyncRounds, tt.want)
			}
			noted := slices.ContainsFunc(m.Notes, func(n string) bool { return strings.HasPrefix(n, "sync_rounds:") })
			if noted != tt.wantBound {
				t.Errorf("bound note %v, want %v: %q", noted, tt.wantBound, m.Notes)
			}
		})
	}
}

// TestMergeServerMeasures: the merged report keeps the shards' push
// latency and POP3 read marking (it had neither): push samples and
// forgotten deliveries summed, max exact, the horizon the shortest, the
// quantiles the highest with a note; POP3 checks summed and decided again
// from the sums, so two shards each under the 90% rule's bar can mark
// seen together or stay mixed.
func TestMergeServerMeasures(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	parts := randomParts(2, 5)
	a := Build(partsInput(t, "1/2", start, parts[:1], nil))
	b := Build(partsInput(t, "2/2", start, parts[1:], nil))
	with := func(r *Report, push *PushLatency, checked, seen int) *Report {
		c := *r
		c.Server.PushLatency, c.Server.POP3Checked, c.Server.POP3Seen = push, checked, seen
		return &c
	}
	pa := &PushLatency{Samples: 10, P50S: 0.1, P95S: 0.5, MaxS: 0.9, P50SimS: 6}
	pb := &PushLatency{Samples: 6, P50S: 0.2, P95S: 0.4, MaxS: 1.5, P50SimS: 12, ForgottenDeliveries: 3, HorizonS: 40}
	yes, no := true, false
	for _, tt := range []struct {
		name      string
		shards    []*Report
		want      *PushLatency
		wantBound bool
		marks     *bool
		checked   int
	}{
		{"two shards", []*Report{with(a, pa, 10, 10), with(b, pb, 10, 8)},
			&PushLatency{Samples: 16, P50S: 0.2, P95S: 0.5, MaxS: 1.5, P50SimS: 12, ForgottenDeliveries: 3, HorizonS: 40}, true, &yes, 20},
		{"one shard pushes", []*Report{with(a, nil, 10, 0), with(b, pb, 10, 1)}, pb, false, &no, 20},
		{"mixed", []*Report{with(a, nil, 10, 5), with(b, nil, 0, 0)}, nil, false, nil, 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Merge(tt.shards)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m.Server.PushLatency, tt.want) {
				t.Errorf("push latency %+v, want %+v", m.Server.PushLatency, tt.want)
			}
			noted := slices.ContainsFunc(m.Notes, func(n string) bool { return strings.HasPrefix(n, "server.push_latency:") })
			if noted != tt.wantBound {
				t.Errorf("bound note %v, want %v: %q", noted, tt.wantBound, m.Notes)
			}
			if !reflect.DeepEqual(m.Server.POP3MarksSeen, tt.marks) || m.Server.POP3Checked != tt.checked {
				t.Errorf("POP3 marking %v over %d checked, want %v over %d", m.Server.POP3MarksSeen, m.Server.POP3Checked, tt.marks, tt.checked)
			}
		})
	}
}

// withoutRounds returns a copy of r without sync rounds.
func withoutRounds(r *Report) *Report {
	c := *r
	c.SyncRounds = nil
	return &c
}

// TestMergeTimelines: the shards' samples land on one wall clock (a shard
// that started later is shifted), and each merged sample sums the shards'
// latest rates and connections and weighs divergence by users.
func TestMergeTimelines(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shard := func(offset time.Duration, users int, rate, div float64) *Report {
		r := &Report{StartedAt: start.Add(offset), WallSeconds: 30, Groups: map[string]Group{"g": {Users: users}}}
		for i := range 3 {
			r.Timeline = append(r.Timeline, SampleJSON{WallSeconds: float64(10 * i), SimulatedSeconds: float64(600 * i),
				CommandsPerSecond: map[string]float64{"imap": rate}, DivergenceByGroup: map[string]float64{"g": div},
				P99ByProtocol: map[string]float64{"imap": rate / 1000}, Connections: users})
		}
		return r
	}
	a, b := shard(0, 1, 10, 0.0), shard(5*time.Second, 3, 20, 0.4)
	tl, partial := mergeTimelines([]*Report{a, b}, start)
	if partial != 0 {
		t.Errorf("%d shards without a timeline, want 0", partial)
	}
	if len(tl) != 6 {
		t.Fatalf("%d samples, want 6", len(tl))
	}
	wantAt := []float64{0, 5, 10, 15, 20, 25}
	for i, s := range tl {
		if s.WallSeconds != wantAt[i] {
			t.Errorf("sample %d at %v s, want %v", i, s.WallSeconds, wantAt[i])
		}
	}
	first, last := tl[0], tl[5]
	if first.CommandsPerSecond["imap"] != 10 || first.Connections != 1 {
		t.Errorf("first sample %+v: only shard a had started", first)
	}
	if last.CommandsPerSecond["imap"] != 30 || last.Connections != 4 || last.P99ByProtocol["imap"] != 0.02 {
		t.Errorf("last sample %+v: want rates and connections summed, p99 the highest", last)
	}
	if d := last.DivergenceByGroup["g"]; math.Abs(d-0.3) > 1e-12 {
		t.Errorf("divergence %v, want (1×0 + 3×0.4)/4 = 0.3", d)
	}
}

// TestMergeTimelinesSpans: a shard counts from its first sample to its
// end. While a shard runs without a sample yet (its first comes after its
// first periodic audit) there is no merged sample, since the sum would
// leave its load out; past a shard's end its rates and connections are
// zero and its storage and divergence stay; a shard without a timeline is
// counted as such.
func TestMergeTimelinesSpans(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := func(n int) *int { return &n }
	shard := func(offset time.Duration, wall float64, at ...float64) *Report {
		r := &Report{StartedAt: start.Add(offset), WallSeconds: wall, Groups: map[string]Group{"g": {Users: 1}}}
		for _, w := range at {
			r.Timeline = append(r.Timeline, SampleJSON{WallSeconds: w, CommandsPerSecond: map[string]float64{"imap": 10},
				DivergenceByGroup: map[string]float64{"g": 0.5}, StoredMessages: stored(7), Connections: 2})
		}
		return r
	}
	type want struct {
		at          float64
		rate        float64
		connections int
		stored      int
		divergence  float64
	}
	for _, tt := range []struct {
		name    string
		shards  []*Report
		partial int
		want    []want
	}{
		{
			// b starts at 2 s and samples first at 12 s: a's samples at 5
			// and 10 s would leave b's load out.
			name:   "a shard not sampled yet",
			shards: []*Report{shard(0, 30, 5, 10, 15), shard(2*time.Second, 30, 10, 20)},
			want:   []want{{12, 20, 4, 14, 0.5}, {15, 20, 4, 14, 0.5}, {22, 20, 4, 14, 0.5}},
		},
		{
			// a ends at 12 s: from then on it adds no rate and no
			// connection, but its mail and its divergence stay.
			name:   "a shard ended",
			shards: []*Report{shard(0, 12, 0, 10), shard(0, 30, 0, 10, 20)},
			want:   []want{{0, 20, 4, 14, 0.5}, {10, 20, 4, 14, 0.5}, {20, 10, 2, 14, 0.5}},
		},
		{
			// A sample's clock starts a moment before the run's: a last
			// sample just past start + wall_seconds is the shard's own.
			name:   "a last sample past the run's wall time",
			shards: []*Report{shard(0, 20, 0, 20.001), shard(0, 30, 0, 30)},
			want:   []want{{0, 20, 4, 14, 0.5}, {20.001, 20, 4, 14, 0.5}, {30, 10, 2, 14, 0.5}},
		},
		{
			name:    "a shard without a timeline",
			shards:  []*Report{shard(0, 30, 0, 10), shard(0, 30)},
			partial: 1,
			want:    []want{{0, 10, 2, 7, 0.5}, {10, 10, 2, 7, 0.5}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tl, partial := mergeTimelines(tt.shards, start)
			if partial != tt.partial {
				t.Errorf("%d shards without a timeline, want %d", partial, tt.partial)
			}
			var got []want
			for _, s := range tl {
				got = append(got, want{s.WallSeconds, s.CommandsPerSecond["imap"], s.Connections, *s.StoredMessages, s.DivergenceByGroup["g"]})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("merged samples\n%v\nwant\n%v", got, tt.want)
			}
		})
	}
}

// TestMergeTimelinesTies: shards sampling at the same moments give one
// merged sample per moment, from every shard's sample of that moment,
// also when the merge keeps only every stride-th moment.
func TestMergeTimelinesTies(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []int{3, DefaultMaxSamples} {
		var shards []*Report
		for range 2 {
			r := &Report{StartedAt: start, WallSeconds: float64(n), Groups: map[string]Group{}}
			for i := range n {
				r.Timeline = append(r.Timeline, SampleJSON{WallSeconds: float64(i), CommandsPerSecond: map[string]float64{"imap": float64(i)}})
			}
			shards = append(shards, r)
		}
		tl, _ := mergeTimelines(shards, start)
		if len(tl) == 0 || len(tl) > DefaultMaxSamples || tl[len(tl)-1].WallSeconds != float64(n-1) {
			t.Fatalf("%d moments: %d merged samples, last at %v", n, len(tl), tl[len(tl)-1].WallSeconds)
		}
		for i, m := range tl {
			if i > 0 && m.WallSeconds <= tl[i-1].WallSeconds {
				t.Errorf("%d moments: sample %d at %v after %v: times repeat", n, i, m.WallSeconds, tl[i-1].WallSeconds)
			}
			if want := 2 * m.WallSeconds; m.CommandsPerSecond["imap"] != want {
				t.Errorf("%d moments: at %v %v commands/s, want %v: both shards' samples of that moment", n, m.WallSeconds, m.CommandsPerSecond["imap"], want)
				break
			}
		}
	}
}

// TestMergeMissingBounded: the error about missing shards names a few and
// counts the rest, whatever the shard count a report claims.
func TestMergeMissingBounded(t *testing.T) {
	r, err := ReadJSON(strings.NewReader(`{"scenario":"s","shard":"3/10000000","users":1}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge([]*Report{r})
	if err == nil || !strings.Contains(err.Error(), "missing shard 1/10000000, 2/10000000, 4/10000000") ||
		!strings.Contains(err.Error(), "11/10000000, and 9999989 more:") || len(err.Error()) > 500 {
		t.Errorf("error %.600v", err)
	}
}
