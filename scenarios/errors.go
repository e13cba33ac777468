package scenarios

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in a scenario, with its position in the source.
type Error struct {
	// Source is the file (or shipped scenario name) the problem is in.
	Source string
	// Line and Column are 1-based; 0 when the position is unknown.
	Line, Column int
	// Path is the key path of the offending value, e.g. "groups[1].share";
	// empty for problems of the whole document.
	Path string
	// Msg says what is wrong, and how to fix it where that is known.
	Msg string
}

// Error formats the problem as "file:line:col: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	fmt.Fprintf(&b, ":%d:%d: ", e.Line, e.Column)
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a scenario. Parse and Load return all of
// them at once, ordered by position.
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortByPosition orders the errors by line and column, keeping the order of
// discovery for errors at the same position.
func (es Errors) sortByPosition() {
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Column < es[j].Column
	})
}
