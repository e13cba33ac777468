package main

import (
	"math"
	"sync"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/cost"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// sampler takes the report's timeline samples during a run.
type sampler struct {
	eng      *engine.Engine
	client   *metrics.Client
	tgt      *target
	timeline *report.Timeline
	// pending is execution.pending.
	pending func() map[string]uint64

	mu       sync.Mutex
	last     time.Time
	lastCmds map[string]uint64
	start    struct {
		messages int
		bytes    int64
		ok       bool
		// byGroup is each group's storage at the start; nil when the
		// server cannot tell per user.
		byGroup map[string]report.StorageStat
	}
}

func newSampler(eng *engine.Engine, client *metrics.Client, tgt *target, tl *report.Timeline, plan *scenarios.Plan) *sampler {
	s := &sampler{eng: eng, client: client, tgt: tgt, timeline: tl, last: time.Now(), lastCmds: map[string]uint64{}}
	s.start.messages, s.start.bytes, s.start.ok = tgt.usage()
	s.start.byGroup, _ = tgt.groupStorage(plan)
	return s
}

// sample adds one sample of the run's state to the timeline.
func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	dt := now.Sub(s.last).Seconds()
	s.last = now
	st := s.eng.Auditor().State()
	smp := report.Sample{
		At:                s.eng.Clock().WallElapsed(),
		Sim:               s.eng.Clock().Elapsed(),
		DivergenceByGroup: map[string]float64{},
		CommandsPerSec:    map[string]float64{},
		P99ByProtocol:     map[string]float64{},
	}
	for g, d := range st.Groups {
		smp.DivergenceByGroup[g] = d.Ratio()
	}
	for proto, pt := range s.client.Totals().Protocols {
		if dt > 0 {
			smp.CommandsPerSec[proto] = float64(pt.Commands-s.lastCmds[proto]) / dt
		}
		s.lastCmds[proto] = pt.Commands
		smp.Connections += int(pt.OpenConnections)
	}
	for proto, cmds := range s.client.Stats() {
		p99 := 0.0
		for _, c := range cmds {
			if c.Count > 0 && !math.IsNaN(c.P99) {
				p99 = math.Max(p99, c.P99)
			}
		}
		smp.P99ByProtocol[proto] = p99
	}
	if m, b, ok := s.tgt.usage(); ok {
		smp.StoredMessages, smp.StoredBytes = m, b
	} else {
		smp.NoStorage = true // a real server's store is read at the end only
	}
	s.timeline.Add(smp)
}

// deviceCounts converts the engine's running devices for the metrics.
func deviceCounts(eng *engine.Engine) []metrics.DeviceCount {
	var out []metrics.DeviceCount
	for _, c := range eng.DeviceCounts() {
		out = append(out, metrics.DeviceCount{Profile: c.Profile, Protocol: c.Protocol, N: c.N})
	}
	return out
}

// groupCosts converts the engine's cost meters for the metrics.
func groupCosts(in []cost.Totals) []metrics.GroupCost {
	out := make([]metrics.GroupCost, 0, len(in))
	for _, t := range in {
		g := metrics.GroupCost{Group: t.Group, Deliveries: t.Deliveries, OpenConnections: t.OpenConnections,
			Protocols: make(map[string]metrics.GroupProtocolCost, len(t.Protocols))}
		for p, pt := range t.Protocols {
			g.Protocols[p] = metrics.GroupProtocolCost{Commands: pt.Commands, BytesIn: pt.BytesIn, BytesOut: pt.BytesOut,
				ConnectionSeconds: pt.ConnectionSeconds, Logins: pt.Logins}
		}
		out = append(out, g)
	}
	return out
}

// divergenceGauges converts the auditor's live state for the metrics, and
// the final audit's lost mail once it counted it for every user (final nil:
// not run yet; a user whose server state it could not read leaves it out).
func divergenceGauges(st audit.State, final *audit.Result) metrics.Divergence {
	d := metrics.Divergence{
		ByDimension:      map[string]int{},
		RatioByGroup:     map[string]float64{},
		ConvergedByGroup: map[string]float64{},
		Unconverged:      map[metrics.UnconvergedKey]int{},
	}
	d.ByDimension["presence"] = st.Overall.ByDimension.Presence
	d.ByDimension["folder"] = st.Overall.ByDimension.Folder
	d.ByDimension["flags"] = st.Overall.ByDimension.Flags
	for g, gd := range st.Groups {
		d.RatioByGroup[g] = gd.Ratio()
		d.ConvergedByGroup[g] = gd.UsersConvergedRatio()
	}
	for kind, ks := range st.Changes {
		for reason, n := range ks.Unconverged {
			d.Unconverged[metrics.UnconvergedKey{Change: string(kind), Reason: string(reason)}] = n
		}
	}
	if final != nil && final.ServerChecked && final.UsersUnchecked == 0 {
		d.Lost, d.LostCounted = final.Lost, true
	}
	return d
}

// commandStats converts the metrics' command figures for the report.
func commandStats(in map[string]map[string]metrics.CommandStats) map[string]map[string]report.CommandStat {
	out := map[string]map[string]report.CommandStat{}
	for proto, cmds := range in {
		m := map[string]report.CommandStat{}
		for name, c := range cmds {
			m[name] = report.CommandStat{Count: c.Count, Errors: c.Errors, Dropped: c.Dropped, ErrorsBy: c.ErrorsBy, P50: c.P50, P95: c.P95, P99: c.P99, Buckets: c.Buckets, Max: c.Max}
		}
		out[proto] = m
	}
	return out
}

// pendingOf returns what pending counts, nil when it is nil.
func pendingOf(pending func() map[string]uint64) map[string]uint64 {
	if pending == nil {
		return nil
	}
	return pending()
}

// buildInput gathers everything the report needs at the end of a run.
func (s *sampler) buildInput(plan *scenarios.Plan, res *engine.Result) report.Input {
	client, tgt, tl := s.client, s.tgt, s.timeline
	in := report.Input{
		Pending:          pendingOf(s.pending),
		Scenario:         plan.Scenario.Name,
		Seed:             plan.Seed,
		Shard:            plan.Shard.String(),
		StartedAt:        res.StartedAt,
		Wall:             res.Wall,
		Simulated:        res.Simulated,
		Users:            res.Users,
		Devices:          res.Devices,
		DevicesByProfile: map[string]int{},
		Delivered:        int(res.Delivered),
		Sent:             int(res.Sent),
		Submissions: report.Submissions{Sent: res.Submissions.Sent, Failed: res.Submissions.Failed,
			Unanswered: res.Submissions.Unanswered, UnansweredAtEnd: res.Submissions.UnansweredAtEnd, Cut: res.Submissions.Cut},
		Audit:      res.Audit,
		Commands:   commandStats(client.Stats()),
		Bytes:      map[string]report.ByteStat{},
		Logins:     map[string]report.LoginStat{},
		Thresholds: plan.Scenario.Thresholds,
		Timeline:   tl,
		Actions: report.Actions{Planned: res.ActionsPlanned, Done: res.Actions, Failed: res.ActionErrors, Dropped: res.ActionsDropped,
			Cut: res.ActionsCut, Pending: res.ActionsPending, Overdue: res.ActionsOverdue},
		Deliveries: report.DeliveryCounts{
			Attempted: res.Deliveries.Attempted, Delivered: res.Deliveries.Delivered, Failed: res.Deliveries.Failed,
			Retries: res.Deliveries.Retries, Abandoned: res.Deliveries.Abandoned,
			Queue: report.QueueInput(res.Deliveries.Queue),
		},
		ValidityChecksOff: plan.Scenario.ValidityChecksOff,
		Settle: report.Settle{
			Until: string(res.Settle.Until), MaxSeconds: res.Settle.Max.Seconds(), WallSeconds: res.Settle.Wall.Seconds(),
			Ended: string(res.Settle.Ended), ChangesWaiting: res.Settle.Waiting,
			PeopleWaitSeconds: res.Settle.PeopleWait.Seconds(), PeopleCut: res.Settle.PeopleCut,
		},
	}
	protos := map[clients.Protocol]bool{}
	for _, u := range plan.Users {
		for _, d := range u.Devices {
			in.DevicesByProfile[d.Profile.Name]++
			if !protos[d.Profile.Protocol] {
				protos[d.Profile.Protocol] = true
				in.DeviceProtocols = append(in.DeviceProtocols, string(d.Profile.Protocol))
			}
		}
	}
	if tgt.auditor != nil {
		in.AuditorCommands = commandStats(tgt.auditor.Stats())
	}
	peak := 0
	for proto, pt := range client.Totals().Protocols {
		in.Bytes[proto] = report.ByteStat{In: int64(pt.BytesIn), Out: int64(pt.BytesOut)}
		ls := loginStat(pt.Logins)
		ls.ClosedIdle = pt.ClosedIdle
		in.Logins[proto] = ls
		peak += int(pt.PeakConnections)
	}
	in.PeakConnections = peak
	if tgt.server != nil {
		in.PeakConnections = tgt.server.PeakConnections()
	}
	in.Cost = s.costInput(plan, res)
	if m, b, ok := tgt.usage(); ok {
		in.StoredMessages, in.StoredBytes = m, b
		in.StoredMessagesStart, in.StoredBytesStart = s.start.messages, s.start.bytes
	} else {
		// A real server: the simulated users' mailboxes as the final state
		// reader read them, when it read every user's; its store at the
		// start is not read.
		in.StorageStartUnknown = true
		m, b, ok := usersStorage(in.Cost, len(plan.Users))
		in.StoredMessages, in.StoredBytes, in.StorageUsers, in.StorageUnknown = m, b, true, !ok
	}
	in.MailAtStart = tgt.mailAtStart
	if tgt.alert != "" {
		in.Notes = append(in.Notes, report.AlertNote(tgt.alert))
	}
	in.Notes = append(in.Notes, networkWarnings(plan.Scenario)...)
	in.StateUnread = res.StateUnread
	if res.Interrupted {
		in.Notes = append(in.Notes, "the run was stopped early")
		in.StoppedEarly = true
	}
	if res.UsersStarted < res.Users {
		in.Notes = append(in.Notes, report.UsersNotStartedNote(res.UsersStarted, res.Users, res.Interrupted))
	}
	in.TimeScale = plan.Scenario.TimeScale
	in.Push = report.PushInput{Samples: res.Push.Samples, P50: res.Push.P50, P95: res.Push.P95, Max: res.Push.Max,
		Forgotten: res.Push.Forgotten, Horizon: res.Push.Horizon}
	for p, s := range res.SyncRounds {
		if in.SyncRounds == nil {
			in.SyncRounds = make(map[string]report.SyncRoundInput, len(res.SyncRounds))
		}
		in.SyncRounds[p] = report.SyncRoundInput{Rounds: s.Rounds, Failed: s.Failed, P50: s.P50, P99: s.P99, Max: s.Max}
	}
	return in
}

// loginStat is the report's form of a protocol's logins by outcome
// (metrics.ProtocolTotals.Logins).
func loginStat(logins map[string]uint64) report.LoginStat {
	ls := report.LoginStat{}
	for outcome, n := range logins {
		if outcome == "ok" {
			ls.OK += n
		} else if n > 0 {
			ls.Failed += n
			if ls.FailedBy == nil {
				ls.FailedBy = map[string]uint64{}
			}
			ls.FailedBy[outcome] += n
		}
	}
	return ls
}

// costInput gathers each group's cost figures: the engine's meters and the
// server's storage per group.
func (s *sampler) costInput(plan *scenarios.Plan, res *engine.Result) report.CostInput {
	ci := report.CostInput{Groups: res.Costs, Users: map[string]int{}}
	ci.ServerSeconds, ci.ServerSecondsNote = s.tgt.groupServiceSeconds(plan)
	for _, u := range plan.Users {
		if u.Group != nil {
			ci.Users[u.Group.Name]++
		}
	}
	for _, g := range plan.Scenario.Groups {
		ci.Order = append(ci.Order, g.Name)
	}
	end, note := s.tgt.groupStorage(plan)
	ci.StorageNote = note
	if end != nil {
		for g, st := range end {
			if st.StartUnknown || s.start.byGroup == nil {
				st.StartUnknown = true
			} else {
				st.StartBytes = 0
				for _, b := range s.start.byGroup[g].Bytes {
					st.StartBytes += b
				}
			}
			end[g] = st
		}
		ci.Storage = end
	}
	return ci
}

// usersStorage sums the storage the final state reader read for every
// group: ok when it read every one of the plan's users users (a group
// none of whose users was read has no entry; one partly read says how
// many were).
func usersStorage(ci report.CostInput, users int) (messages int, bytes int64, ok bool) {
	if ci.Storage == nil {
		return 0, 0, false
	}
	counted := 0
	for g, n := range ci.Users {
		counted += n
		st, read := ci.Storage[g]
		if n == 0 {
			continue
		}
		if !read || st.UsersRead > 0 {
			return 0, 0, false
		}
		for _, m := range st.Messages {
			messages += int(m)
		}
		for _, b := range st.Bytes {
			bytes += b
		}
	}
	return messages, bytes, counted == users
}
