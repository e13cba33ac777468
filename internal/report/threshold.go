package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/scenarios"
)

// ThresholdResult is one evaluated threshold. Value is in the unit of the
// threshold's right-hand side (seconds, a fraction, a count); null when the
// run has no data for it, in which case OK is false and Note says why.
// Unreliable marks a time measured while the harness was saturated
// (docs/report.md, "The harness"): OK is then false too, whatever Value.
type ThresholdResult struct {
	Expr       string `json:"expr"`
	OK         bool   `json:"ok"`
	Value      Num    `json:"value"`
	Note       string `json:"note,omitempty"`
	Unreliable bool   `json:"unreliable,omitempty"`
}

// Failed returns the thresholds that did not hold.
func (r *Report) Failed() []ThresholdResult {
	var out []ThresholdResult
	for _, t := range r.Thresholds {
		if !t.OK {
			out = append(out, t)
		}
	}
	return out
}

// runScope is what a run's figures cover, in the notes of thresholds
// with no data (Input.ThresholdScope).
const runScope = "the run"

// evaluate evaluates ths on r; scope names what the figures cover in the
// notes on missing data ("no deliveries in SCOPE"): runScope when empty
// (Input.ThresholdScope).
func evaluate(r *Report, res audit.Result, ths []scenarios.Threshold, scope string) []ThresholdResult {
	if scope == "" {
		scope = runScope
	}
	out := make([]ThresholdResult, 0, len(ths))
	for _, th := range ths {
		v, note := value(r, res, th, scope)
		tr := ThresholdResult{Expr: th.Expr, Value: v, Note: note}
		if !v.Missing() {
			var err error
			tr.OK, err = compare(float64(v), th.Op, th.Value)
			if err != nil {
				tr.Note = err.Error()
			}
		}
		out = append(out, tr)
	}
	return out
}

func compare(v float64, op string, rhs float64) (bool, error) {
	switch op {
	case "<":
		return v < rhs, nil
	case "<=":
		return v <= rhs, nil
	case ">":
		return v > rhs, nil
	case ">=":
		return v >= rhs, nil
	case "==":
		return v == rhs, nil
	case "!=":
		return v != rhs, nil
	}
	return false, fmt.Errorf("unknown operator %q", op)
}

// value computes the left-hand side of a threshold, or NaN with a note
// that says what scope (evaluate) had no data.
func value(r *Report, res audit.Result, th scenarios.Threshold, scope string) (Num, string) {
	switch th.Metric {
	case "divergence_ratio", "users_converged_ratio":
		g, ok := th.Labels["group"]
		if !ok {
			if th.Metric == "divergence_ratio" {
				return Num(r.Divergence.Final.Ratio), ""
			}
			return Num(r.Divergence.Final.UsersConvergedRatio), ""
		}
		d, ok := r.Divergence.ByGroup[g]
		if !ok || r.Groups[g].Users == 0 {
			return NaN(), fmt.Sprintf("no users of group %q in %s", g, scope)
		}
		if th.Metric == "divergence_ratio" {
			return Num(d.Ratio), ""
		}
		return Num(d.UsersConvergedRatio), ""
	case "p50", "p95", "p99":
		c, ok := r.Commands[th.Protocol][th.Command]
		if !ok || c.Count == 0 {
			return NaN(), fmt.Sprintf("no %s %s commands in %s", th.Protocol, th.Command, scope)
		}
		v := map[string]Num{"p50": c.P50ms, "p95": c.P95ms, "p99": c.P99ms}[th.Metric]
		if v.Missing() {
			return NaN(), fmt.Sprintf("no latency recorded for %s %s", th.Protocol, th.Command)
		}
		return v / 1000, ""
	case "error_rate":
		// Commands and logins (connection attempts included) alike, as
		// the report's load.error_rate (serverCounts).
		e, n := serverCounts(r.Commands, r.Load.Logins, r.Load.Pending, th.Labels["protocol"])
		if n == 0 {
			return NaN(), "no client commands or logins in " + scope
		}
		return errorRate(e, n), ""
	case "login_failure_rate":
		var n, e uint64
		proto, one := th.Labels["protocol"]
		for p, l := range r.Load.Logins {
			if !one || p == proto {
				a, f := serverLogins(l)
				n += a
				e += f
			}
		}
		if n == 0 {
			if one {
				return NaN(), fmt.Sprintf("no %s logins in %s", proto, scope)
			}
			return NaN(), "no logins in " + scope
		}
		return errorRate(e, n), ""
	case "commands_per_user_day", "logins_per_user_day", "peak_connections_per_user", "bytes_per_user_day",
		"stored_bytes_per_user", "stored_bytes_growth_per_user_day", "connection_seconds_per_user_day",
		"server_seconds_per_user_day":
		return costValue(r, th, scope)
	case "delivery_failure_rate":
		missing, injected := r.Messages.notDelivered()
		if injected == 0 {
			return NaN(), "no deliveries in " + scope
		}
		return Num(float64(missing) / float64(injected)), ""
	case "submission_failure_rate":
		// Failed and unanswered over those started, less those the run's
		// end cut or came to while their device waited for the reply (no
		// failure of the server's shown yet).
		s := r.Messages.Submissions
		if s == nil || s.Started-s.Cut-s.UnansweredAtEnd <= 0 {
			return NaN(), "no submissions (but those the end of the run cut or left unanswered) in " + scope
		}
		failed, n := float64(s.Failed+s.Unanswered-s.UnansweredAtEnd), float64(s.Started-s.Cut-s.UnansweredAtEnd)
		v := failed / n
		if a := float64(s.UnansweredAtEnd); a > 0 {
			// Those the end came to are neither failures nor successes
			// yet: when they would decide the line, it is undecided
			// (a server that stopped answering near the end would pass
			// with them left out).
			worst := (failed + a) / (n + a)
			ok, err1 := compare(v, th.Op, th.Value)
			okWorst, err2 := compare(worst, th.Op, th.Value)
			if err1 == nil && err2 == nil && ok != okWorst {
				return NaN(), fmt.Sprintf("undecided: %d submissions still awaited their reply at the end of %s, which decide it (the rate is %.3g without them, %.3g with them failed)",
					s.UnansweredAtEnd, scope, v, worst)
			}
		}
		return Num(v), ""
	case "delivery_failed":
		reason, one := th.Labels["reason"]
		switch {
		case !one:
			return Num(r.Messages.DeliveryFailed), ""
		case reason == "abandoned":
			return Num(r.Messages.DeliveryAbandoned), ""
		}
		return Num(r.Messages.DeliveryFailedByReason[reason]), ""
	case "delivery_queue_p99":
		q := r.Messages.DeliveryQueue
		if q == nil || q.Samples == 0 {
			return NaN(), "no delivery was tried in " + scope
		}
		return Num(q.WaitP99S), ""
	case "lost_messages":
		if !r.Messages.ServerChecked {
			return NaN(), "the server's state was not read"
		}
		if n := r.Messages.UsersUnchecked; n > 0 {
			return NaN(), fmt.Sprintf("the server's state of %d users was not read", n)
		}
		return Num(r.Messages.Lost), ""
	case "convergence_p50", "convergence_p99":
		q := 0.5
		if th.Metric == "convergence_p99" {
			q = 0.99
		}
		var lags []time.Duration
		k, one := th.Labels["change"]
		for kind, kr := range res.Convergence {
			if !one || string(kind) == k {
				lags = append(lags, kr.Lags...)
			}
		}
		slices.Sort(lags)
		d, ok := audit.KindResult{Lags: lags}.Quantile(q)
		if !ok {
			if one {
				return NaN(), fmt.Sprintf("no %s change converged", k)
			}
			return NaN(), "no change converged"
		}
		return Num(d.Seconds()), ""
	}
	return NaN(), fmt.Sprintf("unknown metric %q", th.Metric)
}

// costValue is a cost-per-user threshold's value: the group's cost, or
// every user's without a group label; scope as value's.
func costValue(r *Report, th scenarios.Threshold, scope string) (Num, string) {
	if r.Cost == nil {
		return NaN(), "the run measured no cost per user"
	}
	c, what := r.Cost.All, "the run"
	if g, ok := th.Labels["group"]; ok {
		c, what = r.Groups[g].Cost, "group "+g
		if c == nil || c.Users <= 0 {
			return NaN(), fmt.Sprintf("no users of group %q in %s", g, scope)
		}
	}
	var v Num
	if th.Metric == "peak_connections_per_user" {
		v = NaN()
		if c.Users > 0 {
			v = Num(c.PeakConnectionsPerUser)
		}
	} else {
		v = c.Headline(th.Metric)
	}
	if v.Missing() {
		note := "not measured"
		if len(c.Notes) > 0 {
			note = strings.Join(c.Notes, "; ")
		}
		return NaN(), fmt.Sprintf("%s: %s for %s", th.Metric, note, what)
	}
	return v, ""
}
