package report

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// Bounds of the example lists of a merged report, and of the missing
// shards an error names.
const (
	maxMissingNamed      = 10
	maxMergedLost        = audit.MaxLostListed
	maxMergedUnexplained = 20
)

// Merge combines the reports of every shard of one run ("mailsim run
// --shard i/n") into the report of the whole population: counts summed,
// ratios recomputed from the summed numerators and denominators,
// convergence percentiles recomputed from the merged lag histograms, the
// timelines aligned on the wall clock and the thresholds re-evaluated on
// the merged numbers. Figures that cannot be merged exactly (command
// latency percentiles, peaks) are bounds, and the report's notes say so
// (docs/distributed.md). It refuses reports of different scenarios, seeds
// or shard counts, duplicate shards and missing ones.
func Merge(shards []*Report) (*Report, error) {
	if err := checkShards(shards); err != nil {
		return nil, err
	}
	first := shards[0]
	start := first.StartedAt
	end := time.Time{}
	for _, s := range shards {
		if s.StartedAt.Before(start) {
			start = s.StartedAt
		}
		if e := s.StartedAt.Add(seconds(s.WallSeconds)); e.After(end) {
			end = e
		}
	}
	r := &Report{
		Scenario:         first.Scenario,
		Seed:             first.Seed,
		Shard:            "1/1",
		StartedAt:        start,
		WallSeconds:      end.Sub(start).Seconds(),
		DevicesByProfile: map[string]int{},
		Messages:         Messages{ServerChecked: true, DeliveryFailedByReason: map[string]int64{}},
		Commands:         CommandMap{},
		AuditorCommands:  CommandMap{},
		Divergence:       Divergence{Final: FinalDivergence{ByReason: map[string]int{}}, ByGroup: map[string]GroupDivergence{}},
		Convergence:      map[string]Convergence{},
		Groups:           map[string]Group{},
		Settle:           Settle{Until: first.Settle.Until},
	}
	r.Notes = append(r.Notes, fmt.Sprintf("merged from %d shard reports (mailsim report merge)", len(shards)))
	validityOn := true
	var protocols []string
	latencyMerged := false
	for _, s := range shards {
		r.StoppedEarly = r.StoppedEarly || s.StoppedEarly
		r.SimulatedSeconds = math.Max(r.SimulatedSeconds, s.SimulatedSeconds)
		r.Users += s.Users
		r.Devices += s.Devices
		addCounts(r.DevicesByProfile, s.DevicesByProfile)
		mergeMessages(&r.Messages, s.Messages)
		latencyMerged = mergeCommands(r.Commands, s.Commands) || latencyMerged
		mergeCommands(r.AuditorCommands, s.AuditorCommands)
		mergeFinal(&r.Divergence.Final, s.Divergence.Final, s.Users)
		for k, c := range s.Convergence {
			r.Convergence[k] = mergeConvergence(r.Convergence[k], c)
		}
		for name, g := range s.Groups {
			r.Groups[name] = mergeGroup(r.Groups[name], g)
		}
		mergeStorage(&r.Server, s.Server, s == first)
		r.Server.PeakConnections += s.Server.PeakConnections
		r.Actions.add(s.Actions)
		mergeSettle(&r.Settle, s.Settle)
		r.UnconvergedExamples = append(r.UnconvergedExamples, s.UnconvergedExamples...)
		r.UnexplainedExamples = append(r.UnexplainedExamples, s.UnexplainedExamples...)
		validityOn = validityOn && s.Validity.Enabled
		protocols = append(protocols, s.Validity.DeviceProtocols...)
		for _, n := range s.Notes {
			r.Notes = append(r.Notes, "shard "+s.Shard+": "+n)
		}
	}
	if r.UnconvergedExamples == nil {
		r.UnconvergedExamples = []UnconvergedExample{}
	}
	if r.UnexplainedExamples == nil {
		r.UnexplainedExamples = []UnexplainedExample{}
	}
	if len(r.UnexplainedExamples) > maxMergedUnexplained {
		r.UnexplainedExamples = r.UnexplainedExamples[:maxMergedUnexplained]
	}
	if len(r.Messages.LostIDs) > maxMergedLost {
		r.Messages.LostIDs = r.Messages.LostIDs[:maxMergedLost]
	}
	r.Commands = withProtocols(r.Commands)
	fin := &r.Divergence.Final
	fin.Ratio = ratioOf(fin.DivergentMessages, fin.Messages)
	fin.UsersConvergedRatio = convergedRatio(fin.ConvergedUsers, fin.Users)
	for name, g := range r.Groups {
		g.Ratio = ratioOf(g.DivergentMessages, g.Messages)
		g.UsersConvergedRatio = convergedRatio(g.ConvergedUsers, g.Users)
		r.Groups[name] = g
		r.Divergence.ByGroup[name] = GroupDivergence{Ratio: g.Ratio, UsersConvergedRatio: g.UsersConvergedRatio}
	}
	if n := olderSubmissions(shards); n > 0 && r.Messages.Submissions != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("messages.submissions leaves out %d of %d shards, whose reports (mailsim before 2026-12-04) sent mail but do not count submissions: its sent is short of messages.sent", n, len(shards)))
	}
	r.Load = mergeLoad(shards, r.Commands, r.WallSeconds)
	mergeCost(r, shards)
	var noTimeline int
	r.Timeline, noTimeline = mergeTimelines(shards, start)
	if noTimeline > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the timeline leaves out %d of %d shards, whose reports have no timeline", noTimeline, len(shards)))
	}
	if latencyMerged {
		r.Notes = append(r.Notes, "some command latency percentiles are the highest of the shards' (an upper bound): a shard report has no latency_histogram to merge")
	}
	if len(shards) > 1 {
		r.Notes = append(r.Notes, "server.peak_connections and peak_connections_per_user are the sum of the shards' peaks: an upper bound, as shards peak at different moments")
	}
	if n := r.Divergence.Final.ByReason[string(audit.ReasonUnexplained)]; n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d divergent messages are unexplained (no pending change, no known cause): see unexplained_examples", n))
	}
	r.Harness = mergeHarness(shards)
	r.MailAtStart = mergeMailAtStart(shards)
	var roundsBound bool
	r.SyncRounds, roundsBound = mergeSyncRounds(shards)
	if roundsBound {
		r.Notes = append(r.Notes, "sync_rounds: a profile's p50 and p99 are the highest of the shards' that ran it (an upper bound); its rounds and max are exact")
	}
	var pushBound bool
	r.Server.PushLatency, pushBound = mergePushLatency(shards)
	if pushBound {
		r.Notes = append(r.Notes, "server.push_latency: p50, p95 and p50_sim_s are the highest of the shards' (an upper bound); its samples and max are exact")
	}
	mergePOP3Marking(&r.Server, shards)
	ths, err := evaluateMerged(r, first.Thresholds)
	if err != nil {
		return nil, err
	}
	r.Thresholds = ths
	r.markUnreliable()
	r.Validity = checkValidity(r, validityOn, protocols)
	return r, nil
}

// checkShards refuses shard reports that are not every shard of one run.
func checkShards(shards []*Report) error {
	if len(shards) == 0 {
		return errors.New("merge: no shard reports")
	}
	first := shards[0]
	seen := map[int]bool{}
	count := 0
	var errs []error
	for i, s := range shards {
		sh, err := scenarios.ParseShard(s.Shard)
		if err != nil {
			errs = append(errs, fmt.Errorf("report %d: shard %q: %w", i+1, s.Shard, err))
			continue
		}
		switch {
		case s.Scenario != first.Scenario:
			errs = append(errs, fmt.Errorf("shard %s is of scenario %q, shard %s of %q", s.Shard, s.Scenario, first.Shard, first.Scenario))
		case s.Seed != first.Seed:
			errs = append(errs, fmt.Errorf("shard %s has seed %d, shard %s seed %d: different populations", s.Shard, s.Seed, first.Shard, first.Seed))
		case count != 0 && sh.Count != count:
			errs = append(errs, fmt.Errorf("shard %s is one of %d shards, the others of %d", s.Shard, sh.Count, count))
		case seen[sh.Index]:
			errs = append(errs, fmt.Errorf("shard %s given twice", s.Shard))
		case !slices.Equal(exprs(s.Thresholds), exprs(first.Thresholds)):
			errs = append(errs, fmt.Errorf("shard %s has other thresholds than shard %s", s.Shard, first.Shard))
		}
		if count == 0 {
			count = sh.Count
		}
		seen[sh.Index] = true
	}
	if len(errs) > 0 {
		return fmt.Errorf("merge: %w", errors.Join(errs...))
	}
	// Name the first maxMissingNamed missing shards: a report of shard
	// 1/10000000 alone would otherwise make an error of millions of names.
	var missing []string
	n := count - len(seen)
	for i := 1; i <= count && len(missing) < min(n, maxMissingNamed); i++ {
		if !seen[i] {
			missing = append(missing, fmt.Sprintf("%d/%d", i, count))
		}
	}
	if n > len(missing) {
		missing = append(missing, fmt.Sprintf("and %d more", n-len(missing)))
	}
	if len(missing) > 0 {
		return fmt.Errorf("merge: missing shard %s: the merged report would not cover the whole population", strings.Join(missing, ", "))
	}
	return nil
}

func exprs(ths []ThresholdResult) []string {
	out := make([]string, len(ths))
	for i, t := range ths {
		out[i] = t.Expr
	}
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func ratioOf(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// convergedRatio is audit.Divergence.UsersConvergedRatio: 1 without users.
func convergedRatio(converged, users int) float64 {
	if users == 0 {
		return 1
	}
	return float64(converged) / float64(users)
}

func addCounts[K comparable, V int | int64 | uint64](dst, src map[K]V) {
	for k, v := range src {
		dst[k] += v
	}
}

// addedCounts returns a new map of a's counts plus b's, nil when both are
// empty (neither is changed: a shard's map stays its own).
func addedCounts[K comparable, V int | int64 | uint64](a, b map[K]V) map[K]V {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[K]V, max(len(a), len(b)))
	addCounts(out, a)
	addCounts(out, b)
	return out
}

// olderSubmissions counts the shards that sent mail but whose reports
// have no messages.submissions (written before mailsim counted them): a
// merge's submissions leave them out.
func olderSubmissions(shards []*Report) int {
	n := 0
	for _, s := range shards {
		if s.Messages.Submissions == nil && s.Messages.Sent > 0 {
			n++
		}
	}
	return n
}

func mergeMessages(m *Messages, s Messages) {
	m.Delivered += s.Delivered
	m.Sent += s.Sent
	m.Lost += s.Lost
	m.LostIDs = append(m.LostIDs, s.LostIDs...)
	m.ServerChecked = m.ServerChecked && s.ServerChecked
	m.DeliveryAttempted += s.DeliveryAttempted
	m.DeliveryFailed += s.DeliveryFailed
	addCounts(m.DeliveryFailedByReason, s.DeliveryFailedByReason)
	addUnknown(&m.DeliveryUnknown, s.DeliveryUnknown)
	addUnknown(&m.SubmissionUnknown, s.SubmissionUnknown)
	if s.Submissions != nil {
		if m.Submissions == nil {
			m.Submissions = &Submissions{}
		}
		m.Submissions.add(*s.Submissions)
	}
	m.DeliveryRetries += s.DeliveryRetries
	m.DeliveryAbandoned += s.DeliveryAbandoned
	m.UsersUnchecked += s.UsersUnchecked
	m.DeliveryQueue = mergeQueue(m.DeliveryQueue, s.DeliveryQueue)
}

// mergeQueue merges two shards' delivery queues: samples, connections and
// backlogs add up; the waits and the drain are the highest of the shards'
// (an upper bound: each shard's injector has its own queue).
func mergeQueue(a, b *DeliveryQueue) *DeliveryQueue {
	if a == nil || b == nil {
		if a == nil && b != nil {
			c := *b
			return &c
		}
		return a
	}
	c := *a
	c.Connections += b.Connections
	c.Samples += b.Samples
	c.WaitP50S = math.Max(c.WaitP50S, b.WaitP50S)
	c.WaitP99S = math.Max(c.WaitP99S, b.WaitP99S)
	c.WaitMaxS = math.Max(c.WaitMaxS, b.WaitMaxS)
	c.WaitP99SimS = math.Max(c.WaitP99SimS, b.WaitP99SimS)
	c.Backlog += b.Backlog
	c.DrainS = math.Max(c.DrainS, b.DrainS)
	c.DrainCut = c.DrainCut || b.DrainCut
	return &c
}

// mergeSyncRounds combines the shards' sync rounds by device profile:
// rounds and failed rounds summed, max the highest; p50 and p99 (and p99_sim_s) the highest
// of the shards', which a shard's sample does not let merge exactly, so
// bound reports whether a profile ran in more than one shard. Nil when no
// shard has sync rounds.
func mergeSyncRounds(shards []*Report) (out map[string]SyncRound, bound bool) {
	for _, s := range shards {
		for p, sr := range s.SyncRounds {
			if out == nil {
				out = map[string]SyncRound{}
			}
			m, seen := out[p]
			if !seen {
				out[p] = sr
				continue
			}
			bound = true
			m.Rounds += sr.Rounds
			m.Failed += sr.Failed
			m.P50S, m.P99S = math.Max(m.P50S, sr.P50S), math.Max(m.P99S, sr.P99S)
			m.MaxS, m.P99SimS = math.Max(m.MaxS, sr.MaxS), math.Max(m.P99SimS, sr.P99SimS)
			out[p] = m
		}
	}
	return out, bound
}

// mergePushLatency combines the shards' push latencies: samples and
// forgotten deliveries summed, max the highest, the horizon the shortest
// of the shards' that forgot any; p50, p95 and p50_sim_s the highest of
// the shards', which a shard's sample does not let merge exactly, so
// bound reports whether more than one shard measured any. Nil when no
// shard did.
func mergePushLatency(shards []*Report) (out *PushLatency, bound bool) {
	for _, s := range shards {
		p := s.Server.PushLatency
		if p == nil {
			continue
		}
		if out == nil {
			c := *p
			out = &c
			continue
		}
		bound = true
		out.Samples += p.Samples
		out.P50S, out.P95S = math.Max(out.P50S, p.P50S), math.Max(out.P95S, p.P95S)
		out.MaxS, out.P50SimS = math.Max(out.MaxS, p.MaxS), math.Max(out.P50SimS, p.P50SimS)
		if p.ForgottenDeliveries > 0 && (out.ForgottenDeliveries == 0 || p.HorizonS < out.HorizonS) {
			out.HorizonS = p.HorizonS
		}
		out.ForgottenDeliveries += p.ForgottenDeliveries
	}
	return out, bound
}

// mergePOP3Marking sums the shards' POP3 read marking checks into r and
// decides again from the sums (audit.POP3Marking.MarksSeen).
func mergePOP3Marking(r *Server, shards []*Report) {
	var m audit.POP3Marking
	for _, s := range shards {
		m.Downloaded += s.Server.POP3Checked
		m.Seen += s.Server.POP3Seen
	}
	r.POP3Checked, r.POP3Seen, r.POP3MarksSeen = m.Downloaded, m.Seen, nil
	if marks, known := m.MarksSeen(); known {
		r.POP3MarksSeen = &marks
	}
}

// mergeCommands adds src into dst: counts summed, latency histograms
// summed and their percentiles recomputed. Where a side has no histogram
// (an older report), each percentile is the highest of the two; it
// reports whether that happened to a command both sides ran, so that a
// percentile is a bound rather than exact.
func mergeCommands(dst, src CommandMap) bool {
	bound := false
	for p, cmds := range src {
		if dst[p] == nil {
			dst[p] = map[string]Command{}
		}
		for name, c := range cmds {
			d, ok := dst[p][name]
			if !ok || d.Count == 0 {
				c.Count += d.Count
				c.Errors += d.Errors
				c.Dropped += d.Dropped
				c.ErrorsBy = addedCounts(d.ErrorsBy, c.ErrorsBy)
				if c.Latency != nil {
					c.Latency = &LatencyHist{Buckets: maps.Clone(c.Latency.Buckets), MaxMs: c.Latency.MaxMs}
				}
				dst[p][name] = c
				continue
			}
			d.Count += c.Count
			d.Errors += c.Errors
			d.Dropped += c.Dropped
			d.ErrorsBy = addedCounts(d.ErrorsBy, c.ErrorsBy)
			switch {
			case d.Latency != nil && c.Latency != nil:
				addCounts(d.Latency.Buckets, c.Latency.Buckets)
				d.Latency.MaxMs = maxNum(d.Latency.MaxMs, c.Latency.MaxMs)
				maxS := 0.0
				if !d.Latency.MaxMs.Missing() {
					maxS = float64(d.Latency.MaxMs) / 1000
				}
				if p50, p95, p99, ok := metrics.LatencyQuantiles(d.Latency.Buckets, maxS); ok {
					d.P50ms, d.P95ms, d.P99ms = Num(p50*1000), Num(p95*1000), Num(p99*1000)
					break
				}
				fallthrough
			default:
				bound = bound || (d.Count > c.Count && c.Count > 0)
				d.Latency = nil
				d.P50ms, d.P95ms, d.P99ms = maxNum(d.P50ms, c.P50ms), maxNum(d.P95ms, c.P95ms), maxNum(d.P99ms, c.P99ms)
			}
			dst[p][name] = d
		}
	}
	return bound
}

// maxNum is the larger of a and b, the other when one is missing.
func maxNum(a, b Num) Num {
	switch {
	case a.Missing():
		return b
	case b.Missing():
		return a
	}
	return max(a, b)
}

func addDims(a *Dimensions, b Dimensions) {
	a.Presence += b.Presence
	a.Folder += b.Folder
	a.Flags += b.Flags
}

// mergeFinal adds s into f; reports older than the users fields recover
// the converged users from the ratio (exact: a ratio of small integers).
func mergeFinal(f *FinalDivergence, s FinalDivergence, users int) {
	if s.Users == 0 && users > 0 {
		s.Users = users
		s.ConvergedUsers = int(math.Round(s.UsersConvergedRatio * float64(users)))
	}
	f.DivergentMessages += s.DivergentMessages
	f.Messages += s.Messages
	f.Users += s.Users
	f.ConvergedUsers += s.ConvergedUsers
	f.UnsyncedUsers += s.UnsyncedUsers
	addDims(&f.ByDimension, s.ByDimension)
	addCounts(f.ByReason, s.ByReason)
}

func mergeGroup(g, s Group) Group {
	if s.ConvergedUsers == 0 && s.UsersConvergedRatio > 0 {
		s.ConvergedUsers = int(math.Round(s.UsersConvergedRatio * float64(s.Users)))
	}
	g.Users += s.Users
	g.Messages += s.Messages
	g.DivergentMessages += s.DivergentMessages
	g.ConvergedUsers += s.ConvergedUsers
	g.UnsyncedUsers += s.UnsyncedUsers
	addDims(&g.ByDimension, s.ByDimension)
	g.Delivered += s.Delivered
	g.Sent += s.Sent
	g.Lost += s.Lost
	if g.Convergence == nil {
		g.Convergence = map[string]Convergence{}
	}
	for k, c := range s.Convergence {
		g.Convergence[k] = mergeConvergence(g.Convergence[k], c)
	}
	// Cost is merged by mergeCost, over every shard at once.
	g.Cost = nil
	return g
}

// mergeConvergence adds s into c and recomputes the percentiles from the
// merged lag histogram (within 1.1%, LagHist).
func mergeConvergence(c, s Convergence) Convergence {
	if c.Unconverged == nil {
		c.Unconverged = map[string]int{}
		c.LagHistogram = LagHist{}
	}
	c.Changes += s.Changes
	c.Converged += s.Converged
	c.LagsBounded += s.LagsBounded
	addCounts(c.Unconverged, s.Unconverged)
	if len(c.Histogram) < len(s.Histogram) {
		c.Histogram = append(c.Histogram, make([]int, len(s.Histogram)-len(c.Histogram))...)
	}
	for i, n := range s.Histogram {
		c.Histogram[i] += n
	}
	c.LagHistogram.Merge(s.LagHistogram)
	q := func(p float64) Num {
		// A report without lag_histogram (older mailsim) leaves the
		// percentiles unknown rather than wrong.
		if c.LagHistogram.Count() != c.Converged {
			return NaN()
		}
		v, ok := c.LagHistogram.Quantile(p)
		if !ok {
			return NaN()
		}
		return Num(v)
	}
	c.P50s, c.P95s, c.P99s = q(0.50), q(0.95), q(0.99)
	return c
}

// mergeSettle keeps the longest settle phase and the worst way it ended.
func mergeSettle(m *Settle, s Settle) {
	m.MaxSeconds = math.Max(m.MaxSeconds, s.MaxSeconds)
	m.WallSeconds = math.Max(m.WallSeconds, s.WallSeconds)
	m.ChangesWaiting += s.ChangesWaiting
	m.PeopleWaitSeconds = math.Max(m.PeopleWaitSeconds, s.PeopleWaitSeconds)
	m.PeopleCut = m.PeopleCut || s.PeopleCut
	rank := map[string]int{"": 0, "none": 1, "timer": 2, "synced": 2, "max": 3, "aborted": 4}
	if rank[s.Ended] > rank[m.Ended] || m.Ended == "" {
		m.Ended = s.Ended
	}
}

func mergeLoad(shards []*Report, cmds CommandMap, wall float64) Load {
	var bytes []map[string]ByteStat
	var logins []map[string]LoginStat
	for _, s := range shards {
		bytes = append(bytes, s.Load.Bytes)
		logins = append(logins, s.Load.Logins)
	}
	return sumLoad(cmds, wall, bytes, logins, nil)
}

// evaluateMerged re-evaluates the thresholds on the merged report;
// convergence percentiles come from the merged lag histograms.
func evaluateMerged(r *Report, shardResults []ThresholdResult) ([]ThresholdResult, error) {
	out := make([]ThresholdResult, 0, len(shardResults))
	for _, sr := range shardResults {
		th, err := scenarios.ParseThreshold(sr.Expr, nil)
		if err != nil {
			return nil, fmt.Errorf("merge: threshold %q: %w", sr.Expr, err)
		}
		var v Num
		var note string
		switch th.Metric {
		case "convergence_p50", "convergence_p99":
			v, note = mergedConvergenceValue(r, th)
		default:
			v, note = value(r, audit.Result{}, th, runScope)
		}
		tr := ThresholdResult{Expr: th.Expr, Value: v, Note: note}
		if !v.Missing() {
			tr.OK, err = compare(float64(v), th.Op, th.Value)
			if err != nil {
				tr.Note = err.Error()
			}
		}
		if c, ok := r.Commands[th.Protocol][th.Command]; tr.Note == "" && ok && c.Latency == nil &&
			(th.Metric == "p50" || th.Metric == "p95" || th.Metric == "p99") {
			tr.Note = "the highest of the shards' percentiles: an upper bound"
		}
		out = append(out, tr)
	}
	return out, nil
}

// mergedConvergenceValue is a convergence percentile threshold's value
// from the merged lag histograms, of one change kind or all.
func mergedConvergenceValue(r *Report, th scenarios.Threshold) (Num, string) {
	q := 0.5
	if th.Metric == "convergence_p99" {
		q = 0.99
	}
	h := LagHist{}
	k, one := th.Labels["change"]
	for kind, c := range r.Convergence {
		if !one || kind == k {
			if c.LagHistogram.Count() != c.Converged {
				return NaN(), fmt.Sprintf("a shard report has no lag_histogram for %s changes", kind)
			}
			h.Merge(c.LagHistogram)
		}
	}
	v, ok := h.Quantile(q)
	if !ok {
		if one {
			return NaN(), fmt.Sprintf("no %s change converged", k)
		}
		return NaN(), "no change converged"
	}
	return Num(v), ""
}

// mergeTimelines aligns the shards' timelines on the wall clock (each
// sample at its shard's start plus its offset) and, at every sample time,
// sums the shards' latest figures: rates, connections and storage add,
// p99 is the highest, and a group's divergence ratio is the mean of the
// shards' weighted by the group's users (an approximation: the exact ratio
// weighs by messages, which samples do not carry).
//
// A shard's figures count from its first sample to its end (its start
// plus its wall_seconds); past its end its rates and connections are zero
// (it sends nothing), its storage, p99 and divergence stay (its mail and
// its figures so far do). A moment at which a shard had started but not
// yet sampled (a shard samples after each periodic audit, not as it
// starts) has no merged sample: the sum would leave that shard's load
// out. partial counts the shards with no timeline at all (a report of an
// earlier version), whose load no sample holds.
func mergeTimelines(shards []*Report, start time.Time) (out []SampleJSON, partial int) {
	type point struct {
		at    float64
		shard int
		s     SampleJSON
	}
	var pts []point
	begin := make([]float64, len(shards)) // each shard's start on the merged clock
	end := make([]float64, len(shards))
	for i, s := range shards {
		off := s.StartedAt.Sub(start).Seconds()
		begin[i], end[i] = off, off+s.WallSeconds
		if len(s.Timeline) == 0 {
			partial++
		}
		for _, smp := range s.Timeline {
			pts = append(pts, point{at: off + smp.WallSeconds, shard: i, s: smp})
			// A sample's clock starts as the engine is made, a moment
			// before the run's: its last may come after start + wall.
			end[i] = max(end[i], off+smp.WallSeconds)
		}
	}
	sort.SliceStable(pts, func(a, b int) bool { return pts[a].at < pts[b].at })
	// One merged sample per distinct time, from every shard's sample at
	// that time; past DefaultMaxSamples times, every stride-th.
	times := 0
	for i := range pts {
		if i == 0 || pts[i].at != pts[i-1].at {
			times++
		}
	}
	stride := 1
	for times/stride > DefaultMaxSamples {
		stride *= 2
	}
	nth := -1 // the distinct time of pts[i]
	latest := make([]*SampleJSON, len(shards))
	// unsampled says whether a shard with a timeline was running at t
	// (at t or before) without a sample yet.
	unsampled := func(t float64) bool {
		for si, s := range shards {
			if latest[si] == nil && len(s.Timeline) > 0 && begin[si] <= t {
				return true
			}
		}
		return false
	}
	out = []SampleJSON{}
	for i, p := range pts {
		latest[p.shard] = &pts[i].s
		if i == 0 || p.at != pts[i-1].at {
			nth++
		}
		last := i == len(pts)-1
		if !last && pts[i+1].at == p.at {
			continue // another shard's sample at the same time comes next
		}
		if nth%stride != 0 && !last {
			continue
		}
		if unsampled(p.at) {
			continue
		}
		m := SampleJSON{WallSeconds: p.at, DivergenceByGroup: map[string]float64{}, CommandsPerSecond: map[string]float64{}, P99ByProtocol: map[string]float64{}}
		weights := map[string]float64{}
		firstTerm := true // storage: unknown in one shard, unknown in all
		for si, l := range latest {
			if l == nil {
				continue
			}
			m.SimulatedSeconds = math.Max(m.SimulatedSeconds, l.SimulatedSeconds)
			m.StoredMessages = addKnown(m.StoredMessages, l.StoredMessages, firstTerm)
			m.StoredBytes = addKnown(m.StoredBytes, l.StoredBytes, firstTerm)
			firstTerm = false
			for k, v := range l.P99ByProtocol {
				m.P99ByProtocol[k] = math.Max(m.P99ByProtocol[k], v)
			}
			for g, v := range l.DivergenceByGroup {
				w := float64(shards[si].Groups[g].Users)
				m.DivergenceByGroup[g] += v * w
				weights[g] += w
			}
			if p.at > end[si] {
				continue // ended: it sends nothing, holds no connection
			}
			m.Connections += l.Connections
			for k, v := range l.CommandsPerSecond {
				m.CommandsPerSecond[k] += v
			}
		}
		for g, w := range weights {
			if w > 0 {
				m.DivergenceByGroup[g] /= w
			}
		}
		out = append(out, m)
	}
	return out, partial
}

// mergeCost recomputes each group's cost per user and the cost section
// from the shards' costs: a per-user-day figure times users times
// simulated days is a shard's total, so the merged figure is the sum of
// the totals over the sum of user-days; per-user figures weigh by users.
// A figure unknown in one shard is unknown in the merge.
func mergeCost(r *Report, shards []*Report) {
	var all []*Cost
	var allSim []float64
	var order, refs []string
	for _, s := range shards {
		if s.Cost == nil {
			continue
		}
		if order == nil {
			order = s.Cost.Order
		}
		if s.Cost.All == nil || s.Cost.All.Users == 0 {
			continue
		}
		refs = append(refs, s.Cost.Reference)
		all = append(all, s.Cost.All)
		allSim = append(allSim, s.SimulatedSeconds)
	}
	if len(all) == 0 {
		return
	}
	for name := range r.Groups {
		var cs []*Cost
		var sims []float64
		for _, s := range shards {
			// A shard without users of the group has nothing to add.
			if c := s.Groups[name].Cost; c != nil && c.Users > 0 {
				cs = append(cs, c)
				sims = append(sims, s.SimulatedSeconds)
			}
		}
		if len(cs) > 0 {
			g := r.Groups[name]
			g.Cost = mergeCosts(cs, sims)
			r.Groups[name] = g
		}
	}
	// The reference again: a shard without users of the scenario's first
	// group compared with another, and a group may have had users in no
	// shard at all. Reports without the order (earlier versions) offer
	// the shards' references, then every group by name.
	pick := order
	if len(pick) == 0 {
		pick = append(refs, sortedKeys(r.Groups)...)
	}
	ref := costReference(r.Groups, "", pick)
	r.Cost = &CostSection{All: mergeCosts(all, allSim), Reference: ref, Order: order, Ratios: costRatios(r.Groups, ref)}
}

// mergeCosts merges the costs of one group (or of all users) of several
// shards, sims their simulated seconds.
func mergeCosts(cs []*Cost, sims []float64) *Cost {
	m := &Cost{CommandsPerUserDay: map[string]float64{}, BytesPerUserDay: map[string]ByteRate{},
		ConnectionSecondsPerUserDay: map[string]float64{}, LoginsPerUserDay: map[string]float64{}}
	var userDays, users float64
	for i, c := range cs {
		m.Users += c.Users
		userDays += float64(c.Users) * sims[i]
		users += float64(c.Users)
	}
	if userDays == 0 {
		m.StoredBytesGrowthPerUserDay, m.ServerSecondsPerUserDay = NaN(), NaN()
		m.Notes = []string{"no users or no simulated time: nothing to divide by"}
		return m
	}
	storage := true
	growth, server := Num(0), Num(0)
	for i, c := range cs {
		w := float64(c.Users) * sims[i] / userDays // share of the user-days
		u := float64(c.Users) / users              // share of the users
		for k, v := range c.CommandsPerUserDay {
			m.CommandsPerUserDay[k] += v * w
		}
		for k, v := range c.ConnectionSecondsPerUserDay {
			m.ConnectionSecondsPerUserDay[k] += v * w
		}
		for k, v := range c.LoginsPerUserDay {
			m.LoginsPerUserDay[k] += v * w
		}
		for k, v := range c.BytesPerUserDay {
			cur := m.BytesPerUserDay[k]
			m.BytesPerUserDay[k] = ByteRate{In: cur.In + v.In*w, Out: cur.Out + v.Out*w}
		}
		m.PeakConnectionsPerUser += c.PeakConnectionsPerUser * u
		growth += c.StoredBytesGrowthPerUserDay * Num(w)
		server += c.ServerSecondsPerUserDay * Num(w)
		if c.StoredBytesPerUser == nil {
			storage = false
		}
		for _, n := range c.Notes {
			if !slices.Contains(m.Notes, n) {
				m.Notes = append(m.Notes, n)
			}
		}
	}
	m.StoredBytesGrowthPerUserDay, m.ServerSecondsPerUserDay = growth, server
	if m.StoredBytesGrowthPerUserDay.Missing() {
		m.StoredBytesGrowthPerUserDay = NaN()
	}
	if m.ServerSecondsPerUserDay.Missing() {
		m.ServerSecondsPerUserDay = NaN()
	}
	if storage {
		m.StoredBytesPerUser, m.StoredMessagesPerUser = map[string]float64{}, map[string]float64{}
		for _, c := range cs {
			u := float64(c.Users) / users
			for k, v := range c.StoredBytesPerUser {
				m.StoredBytesPerUser[k] += v * u
			}
			for k, v := range c.StoredMessagesPerUser {
				m.StoredMessagesPerUser[k] += v * u
			}
		}
	}
	return m
}

// mergeStorage adds a shard's server storage into r's: a figure unknown
// in one shard is unknown in the merge, and the source is the shards'
// when they agree.
func mergeStorage(r *Server, s Server, first bool) {
	r.StoredMessages = addKnown(r.StoredMessages, s.StoredMessages, first)
	r.StoredBytes = addKnown(r.StoredBytes, s.StoredBytes, first)
	r.StoredMessagesStart = addKnown(r.StoredMessagesStart, s.StoredMessagesStart, first)
	r.StoredBytesStart = addKnown(r.StoredBytesStart, s.StoredBytesStart, first)
	switch {
	case first:
		r.StorageSource = s.StorageSource
	case r.StorageSource != s.StorageSource:
		// A whole store and users' mailboxes do not add up: not known.
		r.StorageSource = StorageUnknown
	}
	if r.StorageSource == StorageUnknown || r.StoredMessages == nil || r.StoredBytes == nil {
		r.StorageSource = StorageUnknown
		r.StoredMessages, r.StoredBytes = nil, nil
		r.StoredMessagesStart, r.StoredBytesStart = nil, nil
	}
}

// addKnown returns sum + v, or v itself for the first term; nil (not
// known) when either is nil.
func addKnown[T int | int64](sum, v *T, first bool) *T {
	if v == nil || (sum == nil && !first) {
		return nil
	}
	out := *v
	if !first {
		out += *sum
	}
	return &out
}
