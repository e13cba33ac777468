package dashboards

import (
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/metrics"
)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	file   string
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Schema int    `json:"schemaVersion"`
	Inputs []struct {
		Name, Type, PluginID string
	} `json:"__inputs"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Definition string          `json:"definition"`
	Query      json.RawMessage `json:"query"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

type panel struct {
	Title      string `json:"title"`
	Type       string `json:"type"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// loadDashboards parses every dashboard shipped in FS.
func loadDashboards(t testing.TB) []dashboard {
	t.Helper()
	files, err := fs.Glob(FS, "*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	var ds []dashboard
	for _, f := range files {
		b, err := fs.ReadFile(FS, f)
		if err != nil {
			t.Fatal(err)
		}
		d := dashboard{file: f}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ds = append(ds, d)
	}
	return ds
}

// allPanels returns the panels of d, rows' nested panels included.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// catalogNames maps every series name of the catalog to its metric.
func catalogNames() map[string]string {
	m := make(map[string]string)
	for _, c := range metrics.Catalog() {
		for _, n := range c.SeriesNames() {
			m[n] = c.Name
		}
	}
	return m
}

func TestMetricNamesTokenizer(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (protocol) (rate(mailsim_client_commands_total{protocol=~"$protocol"}[$__rate_interval]))`, []string{"mailsim_client_commands_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="y or z"}[5m])))`, []string{"a_bucket"}},
		{`(x and on(instance, job) y{a="b"}) / scalar(sum(z)) * 1e3 * $population`, []string{"x", "y", "z"}},
		{`sum(foo) or on() vector(0)`, []string{"foo"}},
		{`label_values(mailsim_run_info{scenario=~"$scenario"}, shard)`, []string{"mailsim_run_info"}},
		{`label_values(scenario)`, nil},
		{`deriv(b[5m]) * 3600 offset 1h`, []string{"b"}},
	}
	for _, tt := range tests {
		if got := metricNames(tt.expr); !slices.Equal(got, tt.want) {
			t.Errorf("metricNames(%q) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestDashboardsUseCatalog checks that every metric name in every panel
// query and template variable is in the catalog (or a standard go_ or
// process_ metric), and that every catalog metric has a panel.
func TestDashboardsUseCatalog(t *testing.T) {
	catalog := catalogNames()
	used := make(map[string]bool)
	for _, d := range loadDashboards(t) {
		for _, p := range allPanels(d.Panels) {
			for _, tg := range p.Targets {
				names := metricNames(tg.Expr)
				if len(names) == 0 {
					t.Errorf("%s: panel %q: query %q names no metric", d.file, p.Title, tg.Expr)
				}
				for _, n := range names {
					if base, ok := catalog[n]; ok {
						used[base] = true
					} else if !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
						t.Errorf("%s: panel %q uses %q, which is not in the metric catalog", d.file, p.Title, n)
					}
				}
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			for _, n := range metricNames(v.Definition) {
				if _, ok := catalog[n]; !ok {
					t.Errorf("%s: variable %s uses %q, which is not in the metric catalog", d.file, v.Name, n)
				}
			}
		}
	}
	for _, m := range metrics.Catalog() {
		if !used[m.Name] {
			t.Errorf("catalog metric %s appears in no dashboard panel", m.Name)
		}
	}
}

// TestDashboardsStructure checks what Grafana import and provisioning rely
// on: the DS_PROMETHEUS input, datasource references, the template
// variables, unique uids, and a current schema.
func TestDashboardsStructure(t *testing.T) {
	uids := make(map[string]string)
	for _, d := range loadDashboards(t) {
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid %q title %q, want both set", d.file, d.UID, d.Title)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s and %s share uid %q", d.file, other, d.UID)
		}
		uids[d.UID] = d.file
		if d.Schema < 39 {
			t.Errorf("%s: schemaVersion %d, want a current one (≥ 39)", d.file, d.Schema)
		}
		if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
			t.Errorf("%s: __inputs = %+v, want one DS_PROMETHEUS prometheus input", d.file, d.Inputs)
		}
		vars := make(map[string]bool)
		for _, v := range d.Templating.List {
			vars[v.Name] = true
		}
		for _, want := range []string{"DS_PROMETHEUS", "scenario", "shard", "group", "protocol", "device"} {
			if !vars[want] {
				t.Errorf("%s: no template variable %q", d.file, want)
			}
		}
		panels := 0
		for _, p := range allPanels(d.Panels) {
			if p.Type == "row" {
				continue
			}
			panels++
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("%s: panel %q datasource is not ${DS_PROMETHEUS}", d.file, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", d.file, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || tg.Datasource.UID != "${DS_PROMETHEUS}" {
					t.Errorf("%s: panel %q: a query's datasource is not ${DS_PROMETHEUS}", d.file, p.Title)
				}
				if !strings.Contains(tg.Expr, `mailsim_run_info{scenario=~"$scenario", shard=~"$shard"}`) {
					t.Errorf("%s: panel %q: query does not filter by scenario and shard: %s", d.file, p.Title, tg.Expr)
				}
			}
		}
		if panels == 0 {
			t.Errorf("%s: no panels", d.file)
		}
	}
	for _, want := range []string{"mailsim-overview", "mailsim-divergence", "mailsim-server", "mailsim-capacity"} {
		if _, ok := uids[want]; !ok {
			t.Errorf("no dashboard with uid %s", want)
		}
	}
}

func TestProvisioningFiles(t *testing.T) {
	for _, f := range []string{"provisioning/datasources/mailsim.yaml", "provisioning/dashboards/mailsim.yaml"} {
		b, err := fs.ReadFile(FS, f)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !strings.Contains(string(b), "apiVersion: 1") {
			t.Errorf("%s: no apiVersion: 1", f)
		}
	}
}

func TestSubstitute(t *testing.T) {
	vals := map[string]string{"__rate_interval": "30s", "population": "1000"}
	tests := []struct{ in, want string }{
		{`rate(x{a=~"$protocol"}[$__rate_interval]) * $population`, `rate(x{a=~".*"}[30s]) * 1000`},
		{`y{a=~"${group}"}`, `y{a=~".*"}`},
		{`y{a=~"${group:regex}"}`, `y{a=~".*"}`},
	}
	for _, tt := range tests {
		if got := substitute(tt.in, vals); got != tt.want {
			t.Errorf("substitute(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
