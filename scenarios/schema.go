package scenarios

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The scenario schema is written as Go types: one struct per YAML mapping,
// with the keys in its yaml tags (a struct tagged ",inline" adds its keys
// to the mapping: the settings of one protocol), and one field type per
// kind of value below. A document is read in three steps:
//
//  1. decoder.check, the strict pass, walks the document's nodes along the
//     schema types (by reflection over their yaml tags) and reports, at
//     file:line:column with the key path, every unknown key (with the
//     valid keys), duplicate key or name, bad merge key and value of the
//     wrong shape (a mapping, a list), bounding alias expansion. It records
//     where each key path is written, and the first key path each value is
//     reached by.
//  2. yaml.v3's Node.Decode fills the schema structs, applying merge keys.
//     The setting types below implement yaml.Unmarshaler and keep their
//     value's node, so that each knows where it is written; block, either,
//     list and named decode their parts with yaml.v3 in turn.
//  3. each section (sections.go, parse.go, groups.go, ...) converts its
//     struct to the Scenario's types: a setting is read (${VAR}s expanded,
//     parsed) and a problem with it reported at its node under the key
//     path step 1 recorded for the node. Scenario.Validate's problems are
//     then reported where the document writes the setting
//     (decoder.validated).
//
// Why the strict pass rather than yaml.v3's KnownFields(true): that
// reports an unknown key as "line N: field x not found in type ...",
// without its column, key path or the valid keys, and stops a mapping at
// a duplicate key; an UnmarshalYAML method sees neither its key path nor
// the environment ${VAR}s are expanded with, which is why reading waits
// for step 3.

// value is one setting as written: the node of its value, kept by
// UnmarshalYAML, so that a problem with it is reported where it is. The
// zero value is a setting the document leaves out (or sets to null:
// yaml.v3 does not call UnmarshalYAML for null).
type value struct{ n *yaml.Node }

// UnmarshalYAML keeps the value's node; step 3 reads it.
func (v *value) UnmarshalYAML(n *yaml.Node) error {
	v.n = n
	return nil
}

// given reports whether the document sets the value.
func (v value) given() bool { return v.n != nil && !isNull(v.n) }

// text is a string setting.
type text struct{ value }

// read stores the string, after ${VAR} expansion, in *dst; false when the
// value is absent or bad (reported).
func (v text) read(d *decoder, dst *string) bool {
	if !v.given() {
		return false
	}
	s, ok := d.scalar(v.n, d.pathOf(v.n))
	if ok {
		*dst = s
	}
	return ok
}

// choice is a string setting that must be one of a few words.
type choice struct{ value }

func (v choice) read(d *decoder, dst *string, what string, allowed ...string) bool {
	var s string
	if !text(v).read(d, &s) {
		return false
	}
	if !slices.Contains(allowed, s) {
		d.errorAt(v.n, "unknown %s %q; want one of: %s", what, s, strings.Join(allowed, ", "))
		return false
	}
	*dst = s
	return true
}

// parsed reads the scalar v with parse into *dst; false when it is absent
// or bad (reported at the value).
func parsed[T any](d *decoder, v value, dst *T, parse func(string) (T, error)) bool {
	var s string
	if !(text{v}).read(d, &s) {
		return false
	}
	x, err := parse(s)
	if err != nil {
		d.errorAt(v.n, "%v", err)
		return false
	}
	*dst = x
	return true
}

// duration is a duration setting ("90s", "15m", "14d").
type duration struct{ value }

func (v duration) read(d *decoder, dst *time.Duration) bool {
	return parsed(d, v.value, dst, ParseDuration)
}

// flag is a boolean setting.
type flag struct{ value }

func (v flag) read(d *decoder, dst *bool) bool { return parsed(d, v.value, dst, parseBool) }

// whole is a whole-number setting within bounds.
type whole struct{ value }

func (v whole) read(d *decoder, dst *int, min, max int64) bool {
	var n int64
	if !v.read64(d, &n, min, max) {
		return false
	}
	*dst = int(n)
	return true
}

func (v whole) read64(d *decoder, dst *int64, min, max int64) bool {
	var n int64
	ok := parsed(d, v.value, &n, func(s string) (int64, error) {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bad whole number %q", s)
		}
		return n, nil
	})
	if !ok {
		return false
	}
	if n < min || n > max {
		d.errorAt(v.n, "%d out of range: want %d to %d", n, min, max)
		return false
	}
	*dst = n
	return true
}

// number is a finite decimal number setting.
type number struct{ value }

func (v number) read(d *decoder, dst *float64) bool {
	return parsed(d, v.value, dst, func(s string) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || f != f || f > 1e15 || f < -1e15 {
			return 0, fmt.Errorf("bad number %q", s)
		}
		return f, nil
	})
}

// percent is a percentage setting, 0% to 100%.
type percent struct{ value }

func (v percent) read(d *decoder, dst *float64) bool {
	var f float64
	if !parsed(d, v.value, &f, ParsePercent) {
		return false
	}
	if f < 0 || f > 1 {
		d.errorAt(v.n, "percentage %s out of range: want 0%% to 100%%", fmtPercent(f))
		return false
	}
	*dst = f
	return true
}

// size is a byte size setting ("100KiB").
type size struct{ value }

func (v size) read(d *decoder, dst *Size) bool { return parsed(d, v.value, dst, ParseSize) }

// bandwidth is a bandwidth setting ("10Mbit").
type bandwidth struct{ value }

func (v bandwidth) read(d *decoder, dst *int64) bool { return parsed(d, v.value, dst, ParseBandwidth) }

// words is a list of strings; a single string is a list of one. The
// strict pass records where its items are (decoder.check), so that
// Validate's problem with one is reported at it, under the list's path.
type words struct{ value }

// read returns the strings; an item that is not one is reported and left
// out, one whose ${VAR} cannot be expanded is reported and kept empty
// (so that the items keep the positions the strict pass recorded).
func (v words) read(d *decoder) []string {
	if !v.given() {
		return nil
	}
	path := d.pathOf(v.n)
	switch v.n.Kind {
	case yaml.ScalarNode:
		s, ok := d.scalar(v.n, path)
		if !ok {
			return nil
		}
		return []string{s}
	case yaml.SequenceNode:
	default:
		d.errorf(v.n, path, "value must be a list, not %s", kindName(v.n))
		d.setAside()
		return nil
	}
	var out []string
	for i, item := range v.n.Content {
		n := deref(item)
		if n == nil {
			continue
		}
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, fmt.Sprintf("%s[%d]", path, i), "want a single value, not %s", kindName(n))
			continue
		}
		s, _ := d.scalar(n, fmt.Sprintf("%s[%d]", path, i))
		out = append(out, s)
	}
	return out
}

// block is a setting written as a mapping: its node, and the mapping
// decoded by yaml.v3 into T (a schema struct). A value of another shape
// leaves T empty (the strict pass reported it).
type block[T any] struct {
	value
	doc T
}

// UnmarshalYAML keeps the node and decodes a mapping into the block's
// schema struct.
func (b *block[T]) UnmarshalYAML(n *yaml.Node) error {
	b.n = n
	if n.Kind != yaml.MappingNode {
		return nil
	}
	return n.Decode(&b.doc)
}

// mappingType returns T, for the strict pass to check the mapping by.
func (b *block[T]) mappingType() reflect.Type { return reflect.TypeOf(b.doc) }

// scalarForm reports whether the setting may be a single value: not a
// block.
func (b *block[T]) scalarForm() bool { return false }

// either is a setting written as a single value (its short form, read
// from its node) or as a mapping T: an endpoint "HOST:PORT" or {addr,
// tls}, settle: 30s or {max, until}, a size or a size range.
type either[T any] struct{ block[T] }

// scalarForm reports whether the setting may be a single value: an
// either may.
func (e *either[T]) scalarForm() bool { return true }

// mapping returns the mapping form, nil for the short form.
func (e *either[T]) mapping() *T {
	if e.n == nil || e.n.Kind != yaml.MappingNode {
		return nil
	}
	return &e.doc
}

// list is a list setting, each item decoded by yaml.v3 into T (in its
// place: an item that does not decode stays the zero T, so that items
// keep their index).
type list[T any] struct {
	value
	items []T
}

// UnmarshalYAML keeps the node and decodes the items of a sequence.
func (l *list[T]) UnmarshalYAML(n *yaml.Node) error {
	l.n = n
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	l.items = make([]T, len(n.Content))
	var errs typeErrors
	for i, item := range n.Content {
		errs.add(item.Decode(&l.items[i]))
	}
	return errs.err()
}

// itemType returns T, for the strict pass to check the items by.
func (l *list[T]) itemType() reflect.Type { return reflect.TypeOf(l.items).Elem() }

// named is a mapping of named items (behaviors, device profiles), each
// decoded by yaml.v3 into T, in document order. Keys the strict pass
// rejected (not a name, a duplicate, a merge key) are left out.
type named[T any] struct {
	value
	items []namedItem[T]
}

// namedItem is one item of a named mapping: its key node and its value.
type namedItem[T any] struct {
	key *yaml.Node
	doc T
}

// UnmarshalYAML keeps the node and decodes the items of a mapping.
func (m *named[T]) UnmarshalYAML(n *yaml.Node) error {
	m.n = n
	if n.Kind != yaml.MappingNode {
		return nil
	}
	seen := map[string]bool{}
	var errs typeErrors
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if !validItemKey(k) || seen[k.Value] {
			continue
		}
		seen[k.Value] = true
		m.items = append(m.items, namedItem[T]{key: k})
		errs.add(n.Content[i+1].Decode(&m.items[len(m.items)-1].doc))
	}
	return errs.err()
}

// namedType returns T, for the strict pass to check the items by.
func (m *named[T]) namedType() reflect.Type { return reflect.TypeOf(m.items).Elem().Field(1).Type }

// validItemKey reports whether k names an item of a named mapping.
func validItemKey(k *yaml.Node) bool {
	return k != nil && k.Kind == yaml.ScalarNode && !isMergeKey(k) && checkName(k.Value) == nil
}

// typeErrors collects the yaml.TypeErrors of the parts a setting decodes.
type typeErrors []string

// add adds the problems of err; any other error cannot come from
// Node.Decode of a node the strict pass checked, and is kept as its text.
func (t *typeErrors) add(err error) {
	if err == nil {
		return
	}
	if te, ok := err.(*yaml.TypeError); ok {
		*t = append(*t, te.Errors...)
		return
	}
	*t = append(*t, err.Error())
}

// err returns the problems as one yaml.TypeError, which yaml.v3 adds to
// the decode's problems instead of stopping it.
func (t typeErrors) err() error {
	if len(t) == 0 {
		return nil
	}
	return &yaml.TypeError{Errors: t}
}

// The kinds of schema types the strict pass tells apart.
type (
	// mappingSetting is a block or an either.
	mappingSetting interface {
		mappingType() reflect.Type
		scalarForm() bool
	}
	// listSetting is a list.
	listSetting interface{ itemType() reflect.Type }
	// namedSetting is a named mapping.
	namedSetting interface{ namedType() reflect.Type }
)

var (
	mappingSettingType = reflect.TypeOf((*mappingSetting)(nil)).Elem()
	listSettingType    = reflect.TypeOf((*listSetting)(nil)).Elem()
	namedSettingType   = reflect.TypeOf((*namedSetting)(nil)).Elem()
	unmarshalerType    = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	wordsType          = reflect.TypeOf(words{})
)

// schemaKey is one key of a schema struct: where its field is.
type schemaKey struct {
	name  string
	index []int
	// group is the Go name of the inline struct the key belongs to, empty
	// for the struct's own keys.
	group string
}

// schemaKeys lists the keys of the schema struct type t in field order,
// the keys of inline structs included.
func schemaKeys(t reflect.Type) []schemaKey {
	var out []schemaKey
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			for _, k := range schemaKeys(f.Type) {
				k.index = append([]int{i}, k.index...)
				if k.group == "" {
					k.group = f.Name
				}
				out = append(out, k)
			}
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		out = append(out, schemaKey{name: name, index: []int{i}})
	}
	return out
}

// keyNames returns the names of keys.
func keyNames(keys []schemaKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}

// check is the strict pass over the value n at path, of schema type t:
// what names it in messages, item the items of a list or named mapping
// (the field's "what" and "item" tags). It records where path is
// written and reports what yaml.v3 would skip or stop at.
func (d *decoder) check(n *yaml.Node, path string, t reflect.Type, what, item string) {
	n = d.resolve(n, path)
	if n == nil || isNull(n) {
		return
	}
	d.note(n, path)
	pt := reflect.PointerTo(t)
	switch {
	case pt.Implements(mappingSettingType):
		m := reflect.New(t).Interface().(mappingSetting)
		if n.Kind == yaml.ScalarNode && m.scalarForm() {
			return
		}
		d.checkMapping(n, path, m.mappingType(), what)
	case pt.Implements(listSettingType):
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "%s must be a list, not %s", what, kindName(n))
			d.setAside()
			return
		}
		it := reflect.New(t).Interface().(listSetting).itemType()
		for i, v := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.recordValue(p, nil, v)
			d.check(v, p, it, item, "")
		}
	case pt.Implements(namedSettingType):
		it := reflect.New(t).Interface().(namedSetting).namedType()
		for _, e := range d.namedItems(n, path, what) {
			d.check(e.val, e.path, it, item, "")
		}
	case t == wordsType:
		d.checkWords(n, path)
	case pt.Implements(unmarshalerType):
		// A single value: step 3 reads it.
	case t.Kind() == reflect.Struct:
		d.checkMapping(n, path, t, what)
	}
}

// checkMapping checks the mapping n at path against the schema struct
// type t and the values of its keys against their fields' types.
func (d *decoder) checkMapping(n *yaml.Node, path string, t reflect.Type, what string) {
	keys := schemaKeys(t)
	f := d.fields(n, path, what, keyNames(keys)...)
	if n.Kind == yaml.MappingNode {
		d.recordMapping(path, n)
	}
	for _, k := range keys {
		e, ok := f[k.name]
		if !ok {
			continue
		}
		sf := t.FieldByIndex(k.index)
		d.check(e.val, e.path, sf.Type, sf.Tag.Get("what"), sf.Tag.Get("item"))
	}
}

// checkWords records the items of a words list (or its single value)
// under the list's path with their index among the single values, as
// words.read returns them.
func (d *decoder) checkWords(n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		d.recordItem(path+"[0]", n)
		return
	}
	if n.Kind != yaml.SequenceNode {
		return // words.read reports it
	}
	i := 0
	for _, item := range n.Content {
		if v := d.resolve(item, path); v != nil && v.Kind == yaml.ScalarNode {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.note(v, p)
			d.recordItem(p, v)
			i++
		}
	}
}
