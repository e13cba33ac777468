package scenarios

import (
	"errors"
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

// FieldError is a problem Validate finds with one setting of a Scenario.
type FieldError struct {
	// Path is the setting's key path as a scenario file spells it
	// ("groups[1].share", "capacity.max_users"); empty for the scenario
	// as a whole.
	Path string
	// Key is set when the problem is that the setting is given at all
	// (it excludes another, or the scenario cannot have it): Parse
	// points at its key instead of its value.
	Key bool
	Err error
}

// Error returns "path: problem", or the problem alone for the scenario
// as a whole.
func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Err.Error()
	}
	return e.Path + ": " + e.Err.Error()
}

// Unwrap returns the problem.
func (e *FieldError) Unwrap() error { return e.Err }

// problems collects the FieldErrors of a Validate pass.
type problems []error

// add records a problem with the setting at path.
func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, &FieldError{Path: path, Err: fmt.Errorf(format, args...)})
}

// addKey records a problem with the setting at path being given at all.
func (ps *problems) addKey(path, format string, args ...any) {
	*ps = append(*ps, &FieldError{Path: path, Key: true, Err: fmt.Errorf(format, args...)})
}

// prefixed returns errs with their paths under prefix.
func prefixed(prefix string, errs []error) []error {
	var ps problems
	ps.under(prefix, errs)
	return ps
}

// under adds the problems of a part of the scenario at prefix ("target",
// "groups[2]"), their paths prefixed.
func (ps *problems) under(prefix string, errs []error) {
	for _, err := range errs {
		var fe *FieldError
		if errors.As(err, &fe) {
			c := *fe
			c.Path = prefix
			if fe.Path != "" {
				c.Path = joinPath(prefix, fe.Path)
			}
			err = &c
		} else {
			err = &FieldError{Path: prefix, Err: err}
		}
		*ps = append(*ps, err)
	}
}

// DuplicateError is a name given twice where names must differ.
type DuplicateError struct {
	// What is named ("group name") and Name the name.
	What, Name string
	// First is the key path of the first use; Parse reports its line.
	First string
}

// Error returns "duplicate WHAT "NAME" (first at PATH)".
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate %s %q (first at %s)", e.What, e.Name, e.First)
}
