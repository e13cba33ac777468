package report

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary writes the end-of-run summary table: divergence and
// convergence per group, lost mail, the load and the thresholds.
func (r *Report) WriteSummary(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "scenario %s  seed %d  shard %s  started %s\n", r.Scenario, r.Seed, r.Shard, r.StartedAt.Format(time.RFC3339))
	fmt.Fprintf(ew, "%.1f s wall, %s simulated; %d users, %d devices; mail delivered %d, sent %d, lost %s\n",
		r.WallSeconds, fmtSeconds(r.SimulatedSeconds), r.Users, r.Devices, r.Messages.Delivered, r.Messages.Sent, r.lost())
	fmt.Fprintf(ew, "%s\n", r.deliveries())
	if s := r.Messages.Submissions; s != nil {
		fmt.Fprintf(ew, "submissions (devices' sends, replies, forwards; each try): %d started = %d sent + %d failed + %d unanswered%s + %d cut by the end of the run\n",
			s.Started, s.Sent, s.Failed, s.Unanswered, s.AtEndNote(), s.Cut)
	}
	if u := r.Messages.SubmissionUnknown; u != nil {
		fmt.Fprintf(ew, "submissions without a reply after the message data (per recipient): %d [on the server after all %d, not %d, unchecked %d]\n",
			u.Stored+u.NotStored+u.Unchecked, u.Stored, u.NotStored, u.Unchecked)
	}
	r.writeValidity(ew)
	r.writeHarness(ew)
	r.writeMailAtStart(ew)
	if st := r.Settle; st.Ended != "" {
		fmt.Fprintf(ew, "settle %.1f s of at most %.1f s (until %s): %s\n", st.WallSeconds, st.MaxSeconds, st.Until, st.describe())
	}
	if st := r.Settle; st.PeopleCut {
		fmt.Fprintf(ew, "the wait for the people's cut-short actions ran out after %.1f s: those unfinished were given up (actions dropped)\n", st.PeopleWaitSeconds)
	}

	fmt.Fprintln(ew, "\nDivergence")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\tusers\tmessages\tdivergent\tratio\tusers converged\tunsynced\tpresence\tfolder\tflags\tlost\t")
	for _, name := range sortedKeys(r.Groups) {
		g := r.Groups[name]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.1f%%\t%d\t%d\t%d\t%d\t%d\t\n", name, g.Users, g.Messages, g.DivergentMessages,
			g.Ratio, 100*g.UsersConvergedRatio, g.UnsyncedUsers, g.ByDimension.Presence, g.ByDimension.Folder, g.ByDimension.Flags, g.Lost)
	}
	f := r.Divergence.Final
	fmt.Fprintf(tw, "all\t%d\t%d\t%d\t%.3f\t%.1f%%\t%d\t%d\t%d\t%d\t%d\t\n", r.Users, f.Messages, f.DivergentMessages,
		f.Ratio, 100*f.UsersConvergedRatio, f.UnsyncedUsers, f.ByDimension.Presence, f.ByDimension.Folder, f.ByDimension.Flags, r.Messages.Lost)
	tw.Flush()
	if f.UnsyncedUsers > 0 {
		fmt.Fprintf(ew, "%d of %d users have a device that never completed a sync (unsynced): they are not counted converged, though it shows nothing to diverge\n", f.UnsyncedUsers, r.Users)
	}
	if f.DivergentMessages > 0 {
		var parts []string
		for _, reason := range sortedKeys(f.ByReason) {
			parts = append(parts, fmt.Sprintf("%s=%d", reason, f.ByReason[reason]))
		}
		fmt.Fprintf(ew, "divergent messages by reason: %s\n", strings.Join(parts, " "))
	}

	fmt.Fprintln(ew, "\nConvergence (lag in simulated time)")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "group\tchange\tchanges\tconverged\tp50\tp99\tunconverged by reason; lags that are bounds")
	for _, name := range sortedKeys(r.Groups) {
		writeConvergence(tw, name, r.Groups[name].Convergence)
	}
	writeConvergence(tw, "all", r.Convergence)
	tw.Flush()

	fmt.Fprintln(ew, "\nLoad (client commands; rates per wall second)")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "protocol\tcommand\tcount\t/s\terrors\tdropped\tp50 ms\tp95 ms\tp99 ms\t")
	for _, p := range sortedKeys(r.Commands) {
		for _, c := range sortedKeys(r.Commands[p]) {
			s := r.Commands[p][c]
			rate := 0.0
			if r.WallSeconds > 0 {
				rate = float64(s.Count) / r.WallSeconds
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%d\t%d\t%s\t%s\t%s\t\n", p, c, s.Count, rate, s.Errors, s.Dropped, fmtNum(s.P50ms), fmtNum(s.P95ms), fmtNum(s.P99ms))
		}
	}
	tw.Flush()
	if r.Load.Dropped == 0 && r.Load.LoginsDropped == 0 {
		fmt.Fprintf(ew, "commands %d, errors %d; logins %d, failed %d; error rate %s (failed commands and logins over both)\n",
			r.Load.Commands, r.Load.Errors, r.Load.LoginAttempts, r.Load.LoginFailures, fmtPercent(r.Load.ErrorRate))
	} else {
		fmt.Fprintf(ew, "commands %d, errors %d, dropped by the simulated network %d; logins %d, failed %d (%d dropped); error rate %s (failed commands and logins over both, the dropped left out)\n",
			r.Load.Commands, r.Load.Errors, r.Load.Dropped, r.Load.LoginAttempts, r.Load.LoginFailures, r.Load.LoginsDropped, fmtPercent(r.Load.ErrorRate))
	}
	fmt.Fprintf(ew, "%s\n", r.Actions.Summary())
	for _, p := range sortedKeys(r.Load.Bytes) {
		b := r.Load.Bytes[p]
		fmt.Fprintf(ew, "bytes %s: in %s, out %s\n", p, fmtBytes(float64(b.In)), fmtBytes(float64(b.Out)))
	}
	for _, p := range sortedKeys(r.Load.Logins) {
		l := r.Load.Logins[p]
		closed := ""
		if l.ClosedIdle > 0 {
			closed = fmt.Sprintf("; %d idle connections the server closed", l.ClosedIdle)
		}
		fmt.Fprintf(ew, "logins %s: %d ok, %d failed%s%s\n", p, l.OK, l.Failed, failedBy(l.FailedBy), closed)
	}
	fmt.Fprintf(ew, "peak connections %d; %s\n", r.Server.PeakConnections, r.Server.storageLine())
	r.writeCost(ew)
	if p := r.Server.PushLatency; p != nil {
		fmt.Fprintf(ew, "push latency (delivery to IDLE notification): p50 %s, p95 %s, max %s wall over %d; p50 %s simulated\n",
			fmtSeconds(p.P50S), fmtSeconds(p.P95S), fmtSeconds(p.MaxS), p.Samples, fmtSeconds(p.P50SimS))
	}
	for _, p := range sortedKeys(r.SyncRounds) {
		fmt.Fprintln(ew, r.SyncRounds[p].line(p))
	}
	if r.Server.POP3MarksSeen != nil {
		fmt.Fprintf(ew, "POP3 read marking: the server marks downloaded mail \\Seen: %v (%d of %d checked)\n", *r.Server.POP3MarksSeen, r.Server.POP3Seen, r.Server.POP3Checked)
	} else if r.Server.POP3Checked > 0 {
		fmt.Fprintf(ew, "POP3 read marking: mixed (%d of %d checked are \\Seen)\n", r.Server.POP3Seen, r.Server.POP3Checked)
	}
	if n := len(r.AuditorCommands); n > 0 {
		var c uint64
		for _, m := range r.AuditorCommands {
			for _, s := range m {
				c += s.Count
			}
		}
		fmt.Fprintf(ew, "auditor commands (not in the load above): %d\n", c)
	}

	if len(r.Thresholds) > 0 {
		fmt.Fprintln(ew, "\nThresholds")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, t := range r.Thresholds {
			status := "ok"
			switch {
			case t.Unreliable:
				status = "UNRELIABLE"
			case !t.OK:
				status = "FAIL"
			}
			note := ""
			if t.Note != "" {
				note = "(" + t.Note + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\tvalue %s\t%s\n", status, t.Expr, fmtNum(t.Value), note)
		}
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}

// deliveries describes the injector's deliveries in one line.
func (r *Report) deliveries() string {
	m := r.Messages
	if m.DeliveryAttempted == 0 && m.DeliveryAbandoned == 0 {
		return "deliveries: none by the injector"
	}
	out := fmt.Sprintf("deliveries (per recipient): %d attempted, %d delivered, %d failed", m.DeliveryAttempted,
		m.DeliveriesDone(), m.DeliveryFailed)
	if m.DeliveryFailed > 0 {
		var why []string
		for _, reason := range sortedKeys(m.DeliveryFailedByReason) {
			w := fmt.Sprintf("%s %d", reason, m.DeliveryFailedByReason[reason])
			if u := m.DeliveryUnknown; reason == "unknown" && u != nil {
				w += fmt.Sprintf(" [on the server after all %d, not %d, unchecked %d]", u.Stored, u.NotStored, u.Unchecked)
			}
			why = append(why, w)
		}
		out += " (" + strings.Join(why, ", ") + ")"
	}
	out += fmt.Sprintf(", %d retries, %d abandoned", m.DeliveryRetries, m.DeliveryAbandoned)
	if q := m.DeliveryQueue; q != nil {
		out += fmt.Sprintf("; waited for a connection (of %d): p50 %s, p99 %s, max %s", q.Connections,
			fmtSeconds(q.WaitP50S), fmtSeconds(q.WaitP99S), fmtSeconds(q.WaitMaxS))
		if q.Backlog > 0 {
			out += fmt.Sprintf("; %d queued at the end of the active phase, drained in %s", q.Backlog, fmtSeconds(q.DrainS))
			if q.DrainCut {
				out += " (cut)"
			}
		}
	}
	return out
}

// writeValidity says whether the run's measurements are valid, and why not.
func (r *Report) writeValidity(w io.Writer) {
	v := r.Validity
	switch {
	case v.OK:
		fmt.Fprintln(w, "validity: ok")
		return
	case v.Enabled:
		fmt.Fprintln(w, "validity: INVALID run, its measurements cannot be trusted (exit 1):")
	default:
		fmt.Fprintln(w, "validity: checks off (validity_checks: false); they would have found:")
	}
	for _, p := range v.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
}

// describe says how settle ended, in words.
func (st Settle) describe() string {
	switch st.Ended {
	case "synced":
		return "every device had synced since the changes it did not show"
	case "max":
		return fmt.Sprintf("ended at its maximum, %d changes still waiting for a device to sync", st.ChangesWaiting)
	case "timer":
		return "ended by its timer"
	case "aborted":
		return "aborted"
	case "none":
		return "no settle"
	}
	return st.Ended
}

func (r *Report) lost() string {
	if !r.Messages.ServerChecked {
		return "not checked"
	}
	if n := r.Messages.UsersUnchecked; n > 0 {
		return fmt.Sprintf("%d (%d of %d users not checked)", r.Messages.Lost, n, r.Users)
	}
	return fmt.Sprint(r.Messages.Lost)
}

func writeConvergence(w io.Writer, group string, kinds map[string]Convergence) {
	for _, k := range kindOrder(kinds) {
		c := kinds[k]
		var parts []string
		for _, reason := range sortedKeys(c.Unconverged) {
			if n := c.Unconverged[reason]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s=%d", reason, n))
			}
		}
		if c.LagsBounded > 0 {
			// Lags that are bounds, not exact to the device's sync
			// (docs/report.md, Lag): the percentiles include them.
			parts = append(parts, fmt.Sprintf("(%d of the lags bounds)", c.LagsBounded))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", group, k, c.Changes, c.Converged,
			fmtSecondsNum(c.P50s), fmtSecondsNum(c.P99s), strings.Join(parts, " "))
	}
}

// kindOrder lists the change kinds of m in the order of audit.Kinds, then
// any others sorted.
func kindOrder[V any](m map[string]V) []string {
	known := []string{"deliver", "read", "reply", "forward", "flag", "move", "delete", "send"}
	var out []string
	for _, k := range known {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range sortedKeys(m) {
		found := false
		for _, x := range known {
			found = found || x == k
		}
		if !found {
			out = append(out, k)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func fmtNum(n Num) string {
	if n.Missing() {
		return "-"
	}
	return fmt.Sprintf("%.3g", float64(n))
}

func fmtPercent(n Num) string {
	if n.Missing() {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*float64(n))
}

func fmtSecondsNum(n Num) string {
	if n.Missing() {
		return "-"
	}
	return fmtSeconds(float64(n))
}

// fmtSeconds formats seconds as a short duration ("42s", "15m0s").
func fmtSeconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func fmtBytes(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	div, exp := float64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTP"[exp])
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	if err != nil {
		e.err = fmt.Errorf("report: write summary: %w", err)
	}
	return n, err
}

// failedBy formats failed logins by outcome, " (auth 2, refused 1)", most
// first; "" when there are none.
func failedBy(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	keys := sortedKeys(m)
	sort.SliceStable(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// storageLine says what the server stores at the end, and whose it is.
func (s Server) storageLine() string {
	m, b, ok := s.Storage()
	switch {
	case !ok:
		return "server storage not known"
	case s.StorageSource == StorageUsers:
		return fmt.Sprintf("the simulated users' mailboxes store %d messages, %s", m, fmtBytes(float64(b)))
	}
	return fmt.Sprintf("server storage %d messages, %s", m, fmtBytes(float64(b)))
}
