package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mailsim/mailsim/clients"
)

// ChangeKinds are the kinds of change the auditor measures convergence for.
var ChangeKinds = []string{"deliver", "read", "reply", "forward", "flag", "move", "delete", "send"}

// thresholdMetrics are the metrics a threshold can test, with the labels
// each accepts and the kind of value it compares with.
var thresholdMetrics = map[string]struct {
	labels []string
	value  valueKind
}{
	"divergence_ratio":      {[]string{"group"}, ratioValue},
	"users_converged_ratio": {[]string{"group"}, ratioValue},
	"error_rate":            {[]string{"protocol"}, ratioValue},
	"lost_messages":         {nil, countValue},
	"login_failure_rate":    {[]string{"protocol"}, ratioValue},
	"delivery_failure_rate": {nil, ratioValue},
	"delivery_failed":       {[]string{"reason"}, countValue},
	// The devices' submissions that failed or got no reply, of those the
	// run's end did not cut (docs/report.md, Thresholds).
	"submission_failure_rate": {nil, ratioValue},
	"delivery_queue_p99":      {nil, durationValue},
	"convergence_p50":         {[]string{"change"}, durationValue},
	"convergence_p99":         {[]string{"change"}, durationValue},
	"p50":                     {nil, durationValue},
	"p95":                     {nil, durationValue},
	"p99":                     {nil, durationValue},
	// Cost per user (docs/report.md, Cost per user); without a group, over
	// every user.
	"commands_per_user_day":            {[]string{"group"}, numberValue},
	"logins_per_user_day":              {[]string{"group"}, numberValue},
	"peak_connections_per_user":        {[]string{"group"}, numberValue},
	"bytes_per_user_day":               {[]string{"group"}, sizeValue},
	"stored_bytes_per_user":            {[]string{"group"}, sizeValue},
	"stored_bytes_growth_per_user_day": {[]string{"group"}, sizeValue},
	"connection_seconds_per_user_day":  {[]string{"group"}, durationValue},
	"server_seconds_per_user_day":      {[]string{"group"}, durationValue},
}

type valueKind int

const (
	ratioValue    valueKind = iota // 0.01 or 1%
	countValue                     // a whole number >= 0
	durationValue                  // 500ms, 10m, or seconds
	sizeValue                      // 200MB, 5MiB, or bytes
	numberValue                    // a number >= 0
)

var thresholdProtocols = []string{clients.ProtocolIMAP, clients.ProtocolPOP3, clients.ProtocolSMTP, clients.ProtocolLMTP}

// DeliveryReasons are the reasons a delivery of the traffic injector
// fails, and abandoned for one the run ended before trying (the engine's
// Delivery* outcomes but ok; docs/report.md, Deliveries).
var DeliveryReasons = []string{"refused", "timeout", "tls", "auth", "4xx", "5xx", "no", "error", "unknown", "cancelled", "abandoned"}

var thresholdRE = regexp.MustCompile(`^\s*([a-z0-9_]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*(?:\{([^{}]*)\})?\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$`)

var commandRE = regexp.MustCompile(`^[A-Z][A-Z0-9 ]*[A-Z0-9]$|^[A-Z]$`)

// ParseThreshold parses a threshold expression such as
// "p99(imap.UID FETCH) < 500ms" or "divergence_ratio{group=office} < 1%".
// With a nil scenario, group labels are not checked.
func ParseThreshold(expr string, s *Scenario) (Threshold, error) {
	return parseThreshold(expr, s)
}

func parseThreshold(expr string, s *Scenario) (Threshold, error) {
	t := Threshold{Expr: expr}
	m := thresholdRE.FindStringSubmatch(expr)
	if m == nil {
		return t, fmt.Errorf("bad threshold %q: want METRIC{label=value} OP VALUE, e.g. \"error_rate < 1%%\" or \"p99(imap.FETCH) < 500ms\"", expr)
	}
	t.Metric, t.Op = m[1], m[4]
	spec, ok := thresholdMetrics[t.Metric]
	if !ok {
		return t, fmt.Errorf("unknown metric %q in threshold; known: %s", t.Metric, strings.Join(sortedKeys(thresholdMetrics), ", "))
	}
	isPercentile := t.Metric == "p50" || t.Metric == "p95" || t.Metric == "p99"
	switch {
	case isPercentile && m[2] == "":
		return t, fmt.Errorf("%s needs a command: %s(imap.FETCH), %s(imap.UID_FETCH) or %s(pop3.RETR)", t.Metric, t.Metric, t.Metric, t.Metric)
	case isPercentile:
		proto, cmd, ok := strings.Cut(m[2], ".")
		proto = strings.ToLower(strings.TrimSpace(proto))
		cmd = strings.Join(strings.Fields(strings.ToUpper(strings.ReplaceAll(cmd, "_", " "))), " ")
		if !ok || !slices.Contains(thresholdProtocols, proto) || !commandRE.MatchString(cmd) {
			return t, fmt.Errorf("bad command %q in %s(...): want PROTOCOL.COMMAND with protocol %s, like imap.FETCH or imap.UID_FETCH",
				m[2], t.Metric, strings.Join(thresholdProtocols, ", "))
		}
		t.Protocol, t.Command = proto, cmd
	case m[2] != "":
		return t, fmt.Errorf("%s takes no (...) argument; only p50, p95 and p99 do", t.Metric)
	}
	if m[3] != "" {
		labels, err := parseLabels(m[3], t.Metric, spec.labels, s)
		if err != nil {
			return t, err
		}
		t.Labels = labels
	}
	v, err := thresholdValue(m[5], spec.value)
	if err != nil {
		return t, fmt.Errorf("threshold %q: %v", expr, err)
	}
	t.Value = v
	return t, nil
}

// parseLabels parses "k=v, k2=v2" and checks names and values.
func parseLabels(text, metric string, allowed []string, s *Scenario) (map[string]string, error) {
	labels := map[string]string{}
	for _, part := range strings.Split(text, ",") {
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("bad label %q in %s{...}: want name=value", strings.TrimSpace(part), metric)
		}
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, fmt.Errorf("%s takes no labels", metric)
			}
			return nil, fmt.Errorf("unknown label %q for %s; valid: %s", k, metric, strings.Join(allowed, ", "))
		}
		if _, dup := labels[k]; dup {
			return nil, fmt.Errorf("label %q given twice", k)
		}
		switch k {
		case "group":
			if s != nil {
				if err := checkGroupLabel(s, metric, v); err != nil {
					return nil, err
				}
			}
		case "change":
			if !slices.Contains(ChangeKinds, v) {
				return nil, fmt.Errorf("unknown change kind %q; known: %s", v, strings.Join(ChangeKinds, ", "))
			}
		case "reason":
			if !slices.Contains(DeliveryReasons, v) {
				return nil, fmt.Errorf("unknown delivery failure reason %q; known: %s", v, strings.Join(DeliveryReasons, ", "))
			}
		case "protocol":
			if !slices.Contains(thresholdProtocols, v) {
				return nil, fmt.Errorf("unknown protocol %q; known: %s", v, strings.Join(thresholdProtocols, ", "))
			}
		}
		labels[k] = v
	}
	return labels, nil
}

// thresholdValue parses the right-hand side into base units.
func thresholdValue(text string, kind valueKind) (float64, error) {
	switch kind {
	case durationValue:
		if f, err := strconv.ParseFloat(text, 64); err == nil && f >= 0 && f < 1e12 {
			return f, nil // plain seconds
		}
		d, err := ParseDuration(text)
		if err != nil {
			return 0, err
		}
		return d.Seconds(), nil
	case ratioValue:
		var f float64
		var err error
		if strings.HasSuffix(text, "%") {
			f, err = ParsePercent(text)
		} else {
			f, err = strconv.ParseFloat(text, 64)
			if err != nil {
				err = fmt.Errorf("bad value %q: want a ratio like 0.01 or a percentage like 1%%", text)
			}
		}
		if err != nil {
			return 0, err
		}
		if f < 0 || f > 1 {
			return 0, fmt.Errorf("value %s out of range: a ratio is 0 to 1 (0%% to 100%%)", text)
		}
		return f, nil
	case sizeValue:
		n, err := ParseSize(text)
		if err != nil {
			return 0, err
		}
		return float64(n), nil
	case numberValue:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return 0, fmt.Errorf("bad value %q: want a number >= 0", text)
		}
		return f, nil
	default:
		n, err := strconv.ParseUint(text, 10, 53)
		if err != nil {
			return 0, fmt.Errorf("bad value %q: want a whole number of messages", text)
		}
		return float64(n), nil
	}
}

// checkGroupLabel checks that the group a threshold of metric names is
// one of the scenario's.
func checkGroupLabel(s *Scenario, metric, group string) error {
	if !hasGroup(s, group) {
		return fmt.Errorf("unknown group %q in %s{group=...}; groups: %s", group, metric, strings.Join(groupNames(s), ", "))
	}
	return nil
}

// validateThresholds checks the thresholds at path: known metrics,
// operators and labels (parseThreshold makes sure of them in a parsed
// one), and the groups they name the scenario's.
func (s *Scenario) validateThresholds(path string, ts []Threshold) []error {
	var ps problems
	for i, t := range ts {
		spec, known := thresholdMetrics[t.Metric]
		switch {
		case !known:
			ps.add(fmt.Sprintf("%s[%d]", path, i), "unknown metric %q in threshold; known: %s", t.Metric, strings.Join(sortedKeys(thresholdMetrics), ", "))
			continue
		case !slices.Contains([]string{"<", "<=", ">", ">=", "==", "!="}, t.Op):
			ps.add(fmt.Sprintf("%s[%d]", path, i), "unknown operator %q in threshold; want one of < <= > >= == !=", t.Op)
		}
		for k := range t.Labels {
			if !slices.Contains(spec.labels, k) {
				ps.add(fmt.Sprintf("%s[%d]", path, i), "unknown label %q for %s; valid: %s", k, t.Metric, strings.Join(spec.labels, ", "))
			}
		}
		if g, ok := t.Labels["group"]; ok {
			if err := checkGroupLabel(s, t.Metric, g); err != nil {
				ps.add(fmt.Sprintf("%s[%d]", path, i), "%w", err)
			}
		}
	}
	return ps
}

func hasGroup(s *Scenario, name string) bool {
	for _, g := range s.Groups {
		if g.Name == name {
			return true
		}
	}
	return false
}

func groupNames(s *Scenario) []string {
	var out []string
	for _, g := range s.Groups {
		out = append(out, g.Name)
	}
	return out
}
