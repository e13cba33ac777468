package clients_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/metrics"
)

// TestRecordedCommandNamesAreLabels: every command name the devices and
// the injector pass as a literal to the functions that record or track a
// command is a label of its own in metrics' allow-list (metrics/labels.go)
// for some protocol, not "other": the webmail's UID SORT was "other" until
// this test.
func TestRecordedCommandNamesAreLabels(t *testing.T) {
	recorders := []string{"do", "record", "recordTracked", "EndCommand", "StartCommand", "trackStart", "trackAbandon", "ended", "end"}
	name := regexp.MustCompile(`^[A-Z]+( [A-Z]+)?$`)
	protocols := []string{"imap", "pop3", "smtp", "lmtp"}
	var files []string
	for _, dir := range []string{".", "../internal/engine"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	seen := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var fn string
			switch e := call.Fun.(type) {
			case *ast.Ident:
				fn = e.Name
			case *ast.SelectorExpr:
				fn = e.Sel.Name
			}
			if !slices.Contains(recorders, fn) {
				return true
			}
			for _, arg := range call.Args {
				lit, ok := arg.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil || !name.MatchString(s) {
					continue
				}
				seen[s] = true
				if !slices.ContainsFunc(protocols, func(p string) bool { return metrics.NormalizeCommand(p, s) == s }) {
					t.Errorf("%s: %s(…%q…) is recorded as %q: add it to metrics' allow-list", fset.Position(lit.Pos()), fn, s, metrics.Other)
				}
			}
			return true
		})
	}
	if !seen["UID FETCH"] || !seen["UID SORT"] {
		t.Fatalf("the scan found %d names and missed UID FETCH or UID SORT: it checks nothing", len(seen))
	}
}
