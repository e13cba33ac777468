package metrics

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// TestRegistryMatchesCatalog checks that a registry with every collector
// exposes exactly the catalog's metrics (plus go_* and process_*), with the
// catalog's types and label names and a HELP text each.
func TestRegistryMatchesCatalog(t *testing.T) {
	f := newFixture(t, 3)
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]*dto.MetricFamily)
	for _, mf := range mfs {
		switch {
		case strings.HasPrefix(mf.GetName(), "mailsim_"):
			got[mf.GetName()] = mf
		case strings.HasPrefix(mf.GetName(), "go_"), strings.HasPrefix(mf.GetName(), "process_"):
		default:
			t.Errorf("unexpected metric %s outside the catalog", mf.GetName())
		}
	}
	types := map[Type]dto.MetricType{TypeCounter: dto.MetricType_COUNTER, TypeGauge: dto.MetricType_GAUGE, TypeHistogram: dto.MetricType_HISTOGRAM}
	for _, m := range Catalog() {
		mf, ok := got[m.Name]
		if !ok {
			t.Errorf("catalog metric %s not exposed", m.Name)
			continue
		}
		delete(got, m.Name)
		if mf.GetType() != types[m.Type] {
			t.Errorf("%s: type %v, want %s", m.Name, mf.GetType(), m.Type)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s: no HELP", m.Name)
		}
		for _, s := range mf.GetMetric() {
			var names []string
			for _, lp := range s.GetLabel() {
				names = append(names, lp.GetName())
			}
			want := slices.Clone(m.Labels)
			slices.Sort(want)
			if !slices.Equal(names, want) {
				t.Errorf("%s: labels %v, want %v", m.Name, names, want)
				break
			}
		}
	}
	for name := range got {
		t.Errorf("exposed metric %s is not in the catalog", name)
	}
}

// TestPromtoolCheckMetrics runs promtool's linter over the text exposition
// of a registry with every collector.
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not found: install the Debian package prometheus (apt-get install -y prometheus) to run this test")
	}
	f := newFixture(t, 3)
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestSeriesFlatWhenPopulationGrows checks label hygiene: ten times the
// users and devices must not add a single series.
func TestSeriesFlatWhenPopulationGrows(t *testing.T) {
	small := seriesCount(t, newFixture(t, 20).reg)
	large := seriesCount(t, newFixture(t, 200).reg)
	if small != large {
		t.Fatalf("mailsim_* series: %d with 20 users, %d with 200 users; labels are not bounded", small, large)
	}
	if small == 0 {
		t.Fatal("no mailsim_* series at all")
	}
}
