package archtest

import (
	"fmt"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/mailsim/mailsim"

// allowed lists, for every package of the module, the module packages its
// production code (non-test files) may import directly. It is the table
// "may import" of docs/architecture.md; change both together.
var allowed = map[string][]string{
	"cmd/mailsim": {"*"},
	"scenarios":   {"clients", "internal/transport"},
	"clients": {
		"internal/transport", "internal/view", "internal/reftab",
		"internal/mailgen", "internal/simclock", "internal/backoff",
		"internal/leanimap",
	},
	"internal/transport": {},
	"internal/leanimap":  {"internal/transport"},
	"internal/engine": {
		"scenarios", "clients", "internal/transport", "internal/audit",
		"internal/cost", "internal/view", "internal/mailgen", "internal/simclock",
		"internal/backoff", "internal/serverstate", "internal/leanimap",
	},
	"internal/serverstate": {
		"clients", "internal/transport", "internal/audit", "internal/view",
		"internal/mailgen", "internal/backoff", "internal/leanimap",
	},
	"internal/audit":    {"internal/view"},
	"internal/cost":     {"clients", "internal/transport"},
	"internal/capacity": {},
	"internal/report": {
		"scenarios", "clients", "internal/transport", "internal/audit", "internal/capacity", "internal/cost", "internal/harnessmon", "metrics",
	},
	"metrics":                 {"clients", "internal/transport"},
	"internal/view":           {"internal/reftab"},
	"internal/reftab":         {},
	"internal/mailgen":        {},
	"internal/simclock":       {"internal/backoff"},
	"internal/backoff":        {},
	"internal/harnessmon":     {},
	"internal/mailserver":     {"internal/view"},
	"internal/mailservertest": {"internal/mailserver"},
	"internal/faultproxy":     {"internal/faketest"},
	"internal/faketest":       {},
	"internal/dovecottest":    {"internal/scripttest"},
	"internal/cyrustest":      {"internal/scripttest"},
	"internal/couriertest":    {"internal/scripttest"},
	"internal/scripttest":     {},
	"internal/realclients":    {},
	"internal/archtest":       {},
	"dashboards":              {},
	"deploy":                  {},
	"deploy/kubernetes":       {},
	"scripts/gofloor":         {},
}

// forbidden are import paths a package must not reach even indirectly,
// with the reason; they restate the rules of docs/architecture.md that
// matter most, so that a violation reads as a sentence.
var forbidden = []struct {
	from, to, why string
}{
	{"clients", "internal/engine", "devices must not know the engine that schedules them"},
	{"clients", "scenarios", "devices must not depend on the scenario language: a program builds them without YAML"},
	{"internal/transport", "clients", "transport is below the devices"},
	{"internal/audit", "clients", "the auditor is pure logic over views"},
	{"internal/report", "cmd/mailsim", "reports must not depend on the CLI"},
	{"internal/report", "internal/engine", "reports are built from results, not from the engine"},
	{"metrics", "internal/engine", "metrics are fed by the engine, not the reverse"},
	{"internal/serverstate", "internal/engine", "the preflight and the server-state reader work without an engine"},
	{"internal/serverstate", "scenarios", "the preflight and the server-state reader need endpoints and credentials, not a plan"},
	{"*", "internal/mailserver", "the harness talks to any server over TCP only"},
	{"*", "internal/dovecottest", "test helpers stay out of production code"},
	{"*", "internal/cyrustest", "test helpers stay out of production code"},
	{"*", "internal/couriertest", "test helpers stay out of production code"},
	{"*", "internal/faketest", "test helpers stay out of production code"},
	{"*", "internal/mailservertest", "test helpers stay out of production code"},
	{"*", "internal/faultproxy", "fault injection is for tests only"},
}

// exemptFromStar are the packages a "*" rule of forbidden does not cover:
// the CLI, the test helper that starts the embedded server for tests, and
// the fault proxy (a test helper itself: it holds a refused port with
// faketest.HoldPort).
var exemptFromStar = map[string]bool{"cmd/mailsim": true, "internal/mailservertest": true, "internal/faultproxy": true}

// graph maps a module package (relative to the module path) to the module
// packages its production code imports directly.
type graph map[string][]string

// violations returns every import of g that allowed or forbidden rejects,
// sorted, and the packages of g that allowed does not know.
func violations(g graph, allowed map[string][]string) []string {
	var out []string
	for pkg, imports := range g {
		may, known := allowed[pkg]
		if !known {
			out = append(out, fmt.Sprintf("%s: not in the table of allowed imports (internal/archtest, docs/architecture.md)", pkg))
			continue
		}
		if slices.Contains(may, "*") {
			continue
		}
		for _, imp := range imports {
			if !slices.Contains(may, imp) {
				out = append(out, fmt.Sprintf("%s imports %s: not allowed by docs/architecture.md", pkg, imp))
			}
		}
	}
	for _, rule := range forbidden {
		for pkg := range g {
			if rule.from == "*" && (exemptFromStar[pkg] || pkg == rule.to) {
				continue
			}
			if rule.from != "*" && rule.from != pkg {
				continue
			}
			if path := reach(g, pkg, rule.to); path != nil {
				out = append(out, fmt.Sprintf("%s reaches %s (%s): %s", pkg, rule.to, strings.Join(path, " -> "), rule.why))
			}
		}
	}
	sort.Strings(out)
	return out
}

// reach returns an import path from one package to another in g, or nil
// when there is none. The search visits each package once.
func reach(g graph, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, imp := range g[p] {
			if _, seen := prev[imp]; seen {
				continue
			}
			prev[imp] = p
			if imp == to {
				path := []string{to}
				for q := p; q != ""; q = prev[q] {
					path = append([]string{q}, path...)
				}
				return path
			}
			queue = append(queue, imp)
		}
	}
	return nil
}

// moduleGraph reads the import graph of the module's production code
// from the source tree, with go/build (the default build context).
func moduleGraph(t *testing.T) graph {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	g := graph{}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			if _, none := err.(*build.NoGoError); none {
				return nil
			}
			return fmt.Errorf("%s: %w", path, err)
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		var own []string
		for _, imp := range pkg.Imports {
			if after, ok := strings.CutPrefix(imp, module+"/"); ok {
				own = append(own, after)
			}
		}
		g[rel] = own
		return nil
	})
	if err != nil {
		t.Fatalf("reading the module's packages: %v", err)
	}
	return g
}

// TestImportDirections fails when a package of the module imports another
// against docs/architecture.md.
func TestImportDirections(t *testing.T) {
	g := moduleGraph(t)
	for _, want := range []string{"clients", "internal/engine", "scenarios", "cmd/mailsim"} {
		if _, ok := g[want]; !ok {
			t.Fatalf("package %s not found: the graph reader is broken (read %d packages)", want, len(g))
		}
	}
	if !slices.Contains(g["internal/engine"], "clients") {
		t.Fatalf("internal/engine does not import clients in the graph read: the graph reader is broken")
	}
	for _, v := range violations(g, allowed) {
		t.Error(v)
	}
}

// TestAllowedTableIsTight fails when the table allows an import no package
// makes any more, so that the table and docs/architecture.md keep saying
// what the code does and not what it once did.
func TestAllowedTableIsTight(t *testing.T) {
	g := moduleGraph(t)
	for pkg, may := range allowed {
		imports, ok := g[pkg]
		if !ok {
			t.Errorf("%s: in the table but not in the module", pkg)
			continue
		}
		for _, m := range may {
			if m != "*" && !slices.Contains(imports, m) {
				t.Errorf("%s may import %s but does not: drop it from the table and docs/architecture.md", pkg, m)
			}
		}
	}
}

// TestViolations checks that the checker itself reports what it must.
func TestViolations(t *testing.T) {
	table := map[string][]string{
		"cmd/mailsim":         {"*"},
		"scenarios":           {"clients", "internal/transport"},
		"clients":             {"internal/transport"},
		"internal/transport":  {},
		"internal/engine":     {"clients", "scenarios"},
		"internal/report":     {"scenarios"},
		"internal/mailserver": {},
	}
	tests := []struct {
		name string
		g    graph
		want []string
	}{
		{
			name: "clean",
			g: graph{
				"cmd/mailsim":        {"internal/engine", "internal/mailserver"},
				"internal/engine":    {"clients"},
				"scenarios":          {"clients"},
				"clients":            {"internal/transport"},
				"internal/transport": nil,
			},
		},
		{
			name: "clients imports engine",
			g: graph{
				"clients":         {"internal/engine"},
				"internal/engine": nil,
			},
			want: []string{
				"clients imports internal/engine: not allowed by docs/architecture.md",
				"clients reaches internal/engine (clients -> internal/engine): devices must not know the engine that schedules them",
			},
		},
		{
			name: "clients reaches scenarios indirectly",
			g: graph{
				"clients":            {"internal/transport"},
				"internal/transport": {"scenarios"},
				"scenarios":          nil,
			},
			want: []string{
				"clients reaches scenarios (clients -> internal/transport -> scenarios): devices must not depend on the scenario language: a program builds them without YAML",
				"internal/transport imports scenarios: not allowed by docs/architecture.md",
			},
		},
		{
			name: "report imports cmd",
			g:    graph{"internal/report": {"cmd/mailsim"}, "cmd/mailsim": nil},
			want: []string{
				"internal/report imports cmd/mailsim: not allowed by docs/architecture.md",
				"internal/report reaches cmd/mailsim (internal/report -> cmd/mailsim): reports must not depend on the CLI",
			},
		},
		{
			name: "production code reaches the embedded server",
			g:    graph{"internal/engine": {"clients"}, "clients": {"internal/mailserver"}, "internal/mailserver": nil},
			want: []string{
				"clients imports internal/mailserver: not allowed by docs/architecture.md",
				"clients reaches internal/mailserver (clients -> internal/mailserver): the harness talks to any server over TCP only",
				"internal/engine reaches internal/mailserver (internal/engine -> clients -> internal/mailserver): the harness talks to any server over TCP only",
			},
		},
		{
			name: "unknown package",
			g:    graph{"internal/newthing": nil},
			want: []string{"internal/newthing: not in the table of allowed imports (internal/archtest, docs/architecture.md)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := violations(tt.g, table)
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}
