package scenarios

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// nodeBudget caps how many YAML nodes one Parse visits, so that alias
// chains ("billion laughs") cannot make it work without end.
const nodeBudget = 1_000_000

// maxAliasDepth caps alias-within-alias nesting (and breaks alias cycles).
const maxAliasDepth = 32

// decoder reads a yaml.Node tree into the schema structs (schema.go: the
// strict pass, then yaml.v3) and converts them to a Scenario, collecting
// every problem with its position instead of stopping at the first.
type decoder struct {
	source string
	env    func(string) (string, bool)
	errs   Errors
	budget int
	// exhausted is set once the node budget ran out; it is reported once.
	exhausted bool
	// badDevices are device profiles defined with errors already reported;
	// groups naming them get no second error.
	badDevices map[string]bool
	// keys, vals and maps record where each key path is written: its key
	// node, its value node, and (for a mapping) the resolved mapping, so
	// that a problem Validate finds is reported there (decoder.at).
	keys, vals, maps map[string]*yaml.Node
	// paths is the first key path the strict pass reached each value
	// node by: where step 3 reports a problem with the value.
	paths map[*yaml.Node]string
	// unsettled are key paths whose values the decoding could not settle
	// (a users.file it could not read, a device profile with errors):
	// Validate's problems at them are not reported.
	unsettled map[string]bool
	// aside are the errors that leave the value at their path to Validate:
	// a duplicate key (the first one counts), a mapping or list written as
	// something else (Validate reports what it then lacks).
	aside map[*Error]bool
	// merging are the mappings whose keys fields is collecting, the
	// outer ones merging the inner ones: a merge key that refers to one of
	// them would merge a mapping into itself.
	merging map[*yaml.Node]bool
	// items are the paths of list items ("groups[0].devices[1]") whose
	// problems are reported under the list's path, as decoding does.
	items map[string]bool
}

// record notes where the entries of a mapping are written.
func (d *decoder) record(out map[string]entry) {
	for _, e := range out {
		d.recordValue(e.path, e.key, e.val)
	}
}

// recordValue notes that path is written at key (nil for a list item)
// with the value val.
func (d *decoder) recordValue(path string, key, val *yaml.Node) {
	d.init()
	if key != nil {
		d.keys[path] = key
	}
	d.vals[path] = val
}

// init makes the decoder's maps.
func (d *decoder) init() {
	if d.keys == nil {
		d.keys, d.vals, d.maps = map[string]*yaml.Node{}, map[string]*yaml.Node{}, map[string]*yaml.Node{}
		d.items, d.paths = map[string]bool{}, map[*yaml.Node]string{}
	}
}

// note records path as the key path of the value node n unless it was
// reached by another path first (an alias, a merge key).
func (d *decoder) note(n *yaml.Node, path string) {
	d.init()
	if _, ok := d.paths[n]; !ok {
		d.paths[n] = path
	}
}

// pathOf returns the key path the value node n was first reached by.
func (d *decoder) pathOf(n *yaml.Node) string { return d.paths[n] }

// valueAt returns the value node written at path, aliases followed; nil
// when the document does not write it.
func (d *decoder) valueAt(path string) *yaml.Node { return deref(d.vals[path]) }

// recordMapping notes where the mapping at path is written.
func (d *decoder) recordMapping(path string, n *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	d.init()
	d.maps[path] = n
}

// at returns the node a problem Validate found is reported at: the
// setting's value (its key for a FieldError with Key), or, for a setting
// the document does not write, the mapping it belongs in.
func (d *decoder) at(fe *FieldError) *yaml.Node {
	if fe.Key && d.keys[fe.Path] != nil {
		return d.keys[fe.Path]
	}
	if n := d.vals[fe.Path]; n != nil {
		return n
	}
	for p := fe.Path; ; p = parentPath(p) {
		if n := d.maps[p]; n != nil {
			return n
		}
		if n := d.keys[p]; n != nil && p != fe.Path {
			return n // a mapping written as something else
		}
		if p == "" {
			return nil
		}
	}
}

// setAside marks the last error as one that leaves its value to Validate.
func (d *decoder) setAside() {
	if d.aside == nil {
		d.aside = map[*Error]bool{}
	}
	d.aside[d.errs[len(d.errs)-1]] = true
}

// unsettle notes that the value at path could not be settled.
func (d *decoder) unsettle(path string) {
	if d.unsettled == nil {
		d.unsettled = map[string]bool{}
	}
	d.unsettled[path] = true
}

// recordItem notes where an item of a words list is written; its
// problems are reported under the list's path.
func (d *decoder) recordItem(path string, n *yaml.Node) {
	d.init()
	d.vals[path] = n
	d.items[path] = true
}

// parentPath returns the path of the mapping or list path is in.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// validated adds the problems Validate found in the decoded scenario
// (every one a *FieldError), at the nodes where the document writes
// them, except under a key path the decoding already reported a problem
// at, or at a single value it reported a problem with (under the key path
// it first reached the value by): a value that did not decode keeps its
// default, and the problem with the value is the one to fix.
func (d *decoder) validated(errs []error) {
	reported := map[string]bool{}
	reportedAt := map[[2]int]bool{}
	for _, e := range d.errs {
		if !d.aside[e] {
			reported[e.Path] = true
			reportedAt[[2]int{e.Line, e.Column}] = true
		}
	}
	for _, err := range errs {
		fe := &FieldError{Err: err}
		errors.As(err, &fe)
		if reported[""] || d.unsettled[fe.Path] || coveredBy(fe.Path, reported) {
			continue
		}
		if v := d.valueAt(fe.Path); v != nil && v.Kind == yaml.ScalarNode && reportedAt[[2]int{v.Line, v.Column}] {
			continue
		}
		n := d.at(fe)
		path := fe.Path
		if d.items[path] {
			path = parentPath(path)
		}
		var dup *DuplicateError
		if errors.As(fe.Err, &dup) {
			if first := d.vals[dup.First]; first != nil {
				d.errorf(n, path, "duplicate %s %q (first at line %d)", dup.What, dup.Name, first.Line)
				continue
			}
		}
		d.errorf(n, path, "%v", fe.Err)
	}
}

// coveredBy reports whether path or a path it is under is in reported.
func coveredBy(path string, reported map[string]bool) bool {
	for p := path; p != ""; p = parentPath(p) {
		if reported[p] {
			return true
		}
	}
	return false
}

// errorf records a problem at node n.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	e := &Error{Source: d.source, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.errs = append(d.errs, e)
}

// errorAt records a problem with the value n, under the key path the
// strict pass first reached it by.
func (d *decoder) errorAt(n *yaml.Node, format string, args ...any) {
	d.errorf(n, d.pathOf(n), format, args...)
}

// resolve follows aliases and charges the node budget. It returns nil when
// the budget ran out or the alias nesting is too deep.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > maxAliasDepth || n.Alias == nil {
			d.errorf(n, path, "alias nested too deeply or refers to itself")
			return nil
		}
		n = n.Alias
	}
	if d.budget <= 0 {
		if !d.exhausted {
			d.exhausted = true
			d.errorf(n, path, "document too complex (more than %d values after alias expansion)", nodeBudget)
		}
		return nil
	}
	d.budget--
	return n
}

// isNull reports whether n is absent or an explicit null ("key:" or "~").
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// entry is one key: value of a mapping.
type entry struct {
	key, val *yaml.Node
	path     string
}

// fields checks that n is a mapping whose keys are all in valid, and returns
// its entries by key. Merge keys ("<<: *anchor") are applied, keys written
// in the mapping itself winning; a merge key of the wrong shape is
// reported and removed from the mapping, for yaml.v3 stops at one. what
// names the mapping in messages.
func (d *decoder) fields(n *yaml.Node, path, what string, valid ...string) map[string]entry {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return map[string]entry{}
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "%s must be a mapping (key: value), not %s", what, kindName(n))
		d.setAside()
		return map[string]entry{}
	}
	if d.merging == nil {
		d.merging = map[*yaml.Node]bool{}
	}
	d.merging[n] = true
	defer delete(d.merging, n)
	out := map[string]entry{}
	merged := map[string]entry{}
	written := map[rawKey]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if first, dup := written[rawKeyOf(n.Content[i])]; dup {
			// yaml.v3 refuses a mapping with a key written twice: the
			// first one counts.
			d.duplicateKey(n.Content[i], path, what, valid, first)
			n.Content = append(n.Content[:i], n.Content[i+2:]...)
			i -= 2
			continue
		}
		written[rawKeyOf(n.Content[i])] = n.Content[i].Line
		if isMergeKey(n.Content[i]) {
			if !d.merge(n.Content[i+1], path, what, valid, merged, 0) {
				n.Content = append(n.Content[:i], n.Content[i+2:]...)
				i -= 2
			}
			continue
		}
		k, v := d.resolve(n.Content[i], path), n.Content[i+1]
		if k == nil {
			return out
		}
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, path, "keys must be plain words, not %s", kindName(k))
			continue
		}
		p := joinPath(path, k.Value)
		if _, dup := out[k.Value]; dup {
			d.errorf(k, p, "duplicate key %q (first at line %d)", k.Value, out[k.Value].key.Line)
			d.setAside()
			continue
		}
		if !slices.Contains(valid, k.Value) {
			d.unknownKey(k, path, what, valid)
			continue
		}
		out[k.Value] = entry{key: k, val: v, path: p}
	}
	for k, e := range merged {
		if _, ok := out[k]; !ok {
			out[k] = e
		}
	}
	d.record(out)
	// "key:" with no value is the same as leaving the key out.
	for k, e := range out {
		if isNull(deref(e.val)) {
			delete(out, k)
		}
	}
	return out
}

// isMergeKey reports whether the key node k is a merge key ("<<"), by
// the rule yaml.v3 applies it by.
func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" &&
		(k.Tag == "" || k.Tag == "!" || k.Tag == "!!merge" || k.Tag == "tag:yaml.org,2002:merge")
}

// rawKey is a key as written, as yaml.v3 compares keys for duplicates.
type rawKey struct {
	kind  yaml.Kind
	value string
}

func rawKeyOf(k *yaml.Node) rawKey { return rawKey{k.Kind, k.Value} }

// duplicateKey reports the key k of the mapping at path, written a second
// time (first on line first): a duplicate of a valid key, or an unknown
// key.
func (d *decoder) duplicateKey(k *yaml.Node, path, what string, valid []string, first int) {
	r := d.resolve(k, path)
	switch {
	case r == nil:
	case r.Kind != yaml.ScalarNode:
		d.errorf(r, path, "keys must be plain words, not %s", kindName(r))
	case isMergeKey(k) || slices.Contains(valid, r.Value):
		d.errorf(r, joinPath(path, r.Value), "duplicate key %q (first at line %d)", r.Value, first)
		d.setAside()
	default:
		d.unknownKey(r, path, what, valid)
	}
}

// unknownKey reports the key k of the mapping at path, not one of valid.
func (d *decoder) unknownKey(k *yaml.Node, path, what string, valid []string) {
	d.errorf(k, joinPath(path, k.Value), "unknown key %q in %s; valid keys: %s", k.Value, what, strings.Join(sorted(valid), ", "))
}

// deref follows aliases without charging the budget; nil on a cycle.
func deref(n *yaml.Node) *yaml.Node {
	for depth := 0; n != nil && n.Kind == yaml.AliasNode; depth++ {
		if depth > maxAliasDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

// merge applies a "<<" merge value (a mapping or a list of mappings) into
// into, without overwriting keys already there; false when v is of
// another shape (reported).
func (d *decoder) merge(v *yaml.Node, path, what string, valid []string, into map[string]entry, depth int) bool {
	v = d.resolve(v, path)
	if v == nil {
		return false
	}
	switch {
	case v.Kind == yaml.SequenceNode && depth == 0:
		ok := true
		for _, item := range v.Content {
			ok = d.merge(item, path, what, valid, into, 1) && ok
		}
		return ok
	case v.Kind == yaml.MappingNode && (d.merging[v] || len(d.merging) > maxAliasDepth):
		d.errorf(v, path, "<< merges a mapping into itself, or merge keys nested more than %d deep", maxAliasDepth)
		return false
	case v.Kind == yaml.MappingNode:
		for k, e := range d.fields(v, path, what, valid...) {
			if _, ok := into[k]; !ok {
				into[k] = e
			}
		}
		return true
	default:
		d.errorf(v, path, "<< must merge a mapping or a list of mappings, not %s", kindName(v))
		return false
	}
}

// namedItems checks the keys of a mapping of named items (behaviors,
// devices) and returns them in document order, with their value nodes.
func (d *decoder) namedItems(n *yaml.Node, path, what string) []entry {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "%s must be a mapping of name: settings, not %s", what, kindName(n))
		return nil
	}
	d.recordMapping(path, n)
	var out []entry
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i], path)
		if k == nil {
			return out
		}
		if k.Kind != yaml.ScalarNode || isMergeKey(k) {
			d.errorf(k, path, "%s names must be plain words", what)
			continue
		}
		p := joinPath(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.errorf(k, p, "duplicate name %q (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		if err := checkName(k.Value); err != nil {
			d.errorf(k, p, "%v", err)
			continue
		}
		e := entry{key: k, val: n.Content[i+1], path: p}
		d.recordValue(p, k, e.val)
		out = append(out, e)
	}
	return out
}

// scalar returns the text of the value n (aliases followed) after ${VAR}
// expansion; ok is false (with the error recorded at path) when n is not
// a single value or expansion fails.
func (d *decoder) scalar(n *yaml.Node, path string) (s string, ok bool) {
	n = deref(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a single value, not %s", kindName(n))
		return "", false
	}
	v, err := expandEnv(n.Value, d.env)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	return v, true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "this"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}

func fmtPercent(f float64) string {
	return strconv.FormatFloat(f*100, 'g', 6, 64) + "%"
}

// checkName checks the name of a group, behavior or device profile: it
// appears in IDs, report keys and metric labels.
func checkName(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("name %q must be 1 to 64 characters", s)
	}
	for _, c := range s {
		if c == '-' || c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			continue
		}
		return fmt.Errorf("name %q may only use letters, digits, '-', '_' and '.'", s)
	}
	return nil
}
