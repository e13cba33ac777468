package dashboards

import (
	"regexp"
	"strings"
)

// promqlKeywords are words of PromQL that are not metric names.
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
}

var (
	reString      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	reMatchers    = regexp.MustCompile(`\{[^{}]*\}`)
	reRange       = regexp.MustCompile(`\[[^\[\]]*\]`)
	reGrouping    = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	reVariable    = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*`)
	reIdent       = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	reLabelValues = regexp.MustCompile(`^\s*label_values\(\s*(?:([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{[^}]*\})?\s*,\s*)?[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$`)
)

// metricNames returns the metric names a PromQL expression (with Grafana
// variables) refers to: identifiers that are not functions, keywords, label
// names, durations or variables.
func metricNames(expr string) []string {
	if m := reLabelValues.FindStringSubmatch(expr); m != nil {
		if m[1] == "" {
			return nil
		}
		return []string{m[1]}
	}
	s := reString.ReplaceAllString(expr, `""`)
	s = reVariable.ReplaceAllString(s, " ")
	s = reMatchers.ReplaceAllString(s, " ")
	s = reRange.ReplaceAllString(s, " ")
	s = reGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range reIdent.FindAllStringIndex(s, -1) {
		word := s[loc[0]:loc[1]]
		if loc[0] > 0 {
			if c := s[loc[0]-1]; c >= '0' && c <= '9' || c == '.' {
				continue // a number's exponent or a duration unit
			}
		}
		if promqlKeywords[strings.ToLower(word)] {
			continue
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue // a function call
		}
		names = append(names, word)
	}
	return names
}
