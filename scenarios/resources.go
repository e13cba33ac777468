package scenarios

import (
	"fmt"
	"net/url"
	"strings"
)

// Resources says where a real server's CPU and memory are read
// (target.resources, docs/scenarios.md). Nil fields mean the defaults:
// the exporter at target.metrics_url and the standard series of a process
// or node exporter.
type Resources struct {
	// URL is the exporter to scrape; empty means target.metrics_url.
	URL string
	// CPUSeconds is the counter of the server's CPU seconds, summed over
	// the samples it selects; nil means process_cpu_seconds_total, else
	// node_cpu_seconds_total without the idle and iowait modes.
	CPUSeconds *Series
	// MemoryBytes is the gauge of the server's resident memory, summed
	// over the samples it selects; nil means process_resident_memory_bytes,
	// else node_memory_MemTotal_bytes − node_memory_MemAvailable_bytes.
	MemoryBytes *Series
}

// Series selects samples of one metric family by name and labels, as in
// PromQL: `name`, `name{label="value"}`, `name{label!="value",...}`.
type Series struct {
	Name     string
	Matchers []LabelMatcher
}

// LabelMatcher is one label condition of a [Series].
type LabelMatcher struct {
	Label, Value string
	// Not makes it label!="value".
	Not bool
}

// String writes s back in the form ParseSeries reads.
func (s Series) String() string {
	if len(s.Matchers) == 0 {
		return s.Name
	}
	parts := make([]string, len(s.Matchers))
	for i, m := range s.Matchers {
		op := "="
		if m.Not {
			op = "!="
		}
		parts[i] = fmt.Sprintf("%s%s%q", m.Label, op, m.Value)
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// maxSeriesMatchers bounds the label matchers of a series.
const maxSeriesMatchers = 8

// ParseSeries parses `name` or `name{label="value",label!="value"}`
// (values quoted with double quotes, no escapes).
func ParseSeries(s string) (Series, error) {
	s = strings.TrimSpace(s)
	name, rest, hasLabels := strings.Cut(s, "{")
	name = strings.TrimSpace(name)
	if !isMetricName(name) {
		return Series{}, fmt.Errorf("bad series %q: want a metric name, optionally with {label=\"value\",...}", s)
	}
	out := Series{Name: name}
	if !hasLabels {
		return out, nil
	}
	body, ok := strings.CutSuffix(strings.TrimSpace(rest), "}")
	if !ok {
		return Series{}, fmt.Errorf("bad series %q: no closing }", s)
	}
	for body = strings.TrimSpace(body); body != ""; {
		if len(out.Matchers) == maxSeriesMatchers {
			return Series{}, fmt.Errorf("bad series %q: more than %d label matchers", s, maxSeriesMatchers)
		}
		i := strings.IndexAny(body, "!=")
		if i < 0 {
			return Series{}, fmt.Errorf("bad series %q: want label=\"value\" or label!=\"value\"", s)
		}
		m := LabelMatcher{Label: strings.TrimSpace(body[:i])}
		body = body[i:]
		if strings.HasPrefix(body, "!=") {
			m.Not, body = true, body[2:]
		} else if strings.HasPrefix(body, "=") {
			body = body[1:]
		} else {
			return Series{}, fmt.Errorf("bad series %q: want = or != after %q", s, m.Label)
		}
		if !isMetricName(m.Label) || strings.Contains(m.Label, ":") {
			return Series{}, fmt.Errorf("bad series %q: bad label name %q", s, m.Label)
		}
		body = strings.TrimSpace(body)
		if !strings.HasPrefix(body, `"`) {
			return Series{}, fmt.Errorf("bad series %q: the value of %s must be in double quotes", s, m.Label)
		}
		end := strings.IndexByte(body[1:], '"')
		if end < 0 {
			return Series{}, fmt.Errorf("bad series %q: unterminated value of %s", s, m.Label)
		}
		m.Value, body = body[1:1+end], strings.TrimSpace(body[2+end:])
		out.Matchers = append(out.Matchers, m)
		if body != "" {
			if body[0] != ',' {
				return Series{}, fmt.Errorf("bad series %q: want , between label matchers", s)
			}
			body = strings.TrimSpace(body[1:])
		}
	}
	return out, nil
}

// isMetricName reports whether s is a Prometheus metric name
// ([a-zA-Z_:][a-zA-Z0-9_:]*).
func isMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return true
}

// resourcesDoc is target.resources.
type resourcesDoc struct {
	URL         text `yaml:"url"`
	CPUSeconds  text `yaml:"cpu_seconds"`
	MemoryBytes text `yaml:"memory_bytes"`
}

// resources converts target.resources.
func (d *decoder) resources(b *block[resourcesDoc]) *Resources {
	r := &Resources{}
	doc := &b.doc
	if doc.URL.read(d, &r.URL) && r.URL != "" {
		u, err := url.Parse(r.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errorAt(doc.URL.n, "bad URL %q: want http://host:port/metrics", r.URL)
		}
	}
	for _, s := range []struct {
		v   text
		dst **Series
	}{{doc.CPUSeconds, &r.CPUSeconds}, {doc.MemoryBytes, &r.MemoryBytes}} {
		var text string
		if !s.v.read(d, &text) {
			continue
		}
		ser, err := ParseSeries(text)
		if err != nil {
			d.errorAt(s.v.n, "%v", err)
			continue
		}
		*s.dst = &ser
	}
	return r
}
