package scenarios

import (
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The scenario schema is written as Go types: one struct per YAML mapping,
// with the keys in its yaml tags (a struct tagged ",inline" adds its keys
// to the mapping: the settings of one protocol), and one field type per
// kind of value below. decoder.mapping fills such a struct from a node;
// each section then converts its struct to the Scenario's types, reporting
// every problem at the value's file:line:column with its key path.

// value is one scalar setting as written: its key and value nodes and its
// key path, so that a problem with it is reported where it is. The zero
// value is a setting the document leaves out (or sets to null).
type value struct{ e entry }

// setting is a field type of a schema struct that decoder.mapping fills
// with the entry of its key.
type setting interface{ set(entry) }

func (v *value) set(e entry) { v.e = e }

// given reports whether the document sets the value (decoder.fields drops
// null values).
func (v value) given() bool { return v.e.val != nil }

// text is a string setting.
type text struct{ value }

func (v text) read(d *decoder, dst *string) bool { return d.str(v.e, dst) }

// choice is a string setting that must be one of a few words.
type choice struct{ value }

func (v choice) read(d *decoder, dst *string, what string, allowed ...string) bool {
	return d.enum(v.e, dst, what, allowed...)
}

// duration is a duration setting ("90s", "15m", "14d").
type duration struct{ value }

func (v duration) read(d *decoder, dst *time.Duration) bool { return d.duration(v.e, dst) }

// flag is a boolean setting.
type flag struct{ value }

func (v flag) read(d *decoder, dst *bool) bool { return d.boolean(v.e, dst) }

// whole is a whole-number setting within bounds.
type whole struct{ value }

func (v whole) read(d *decoder, dst *int, min, max int64) bool { return d.intField(v.e, dst, min, max) }

func (v whole) read64(d *decoder, dst *int64, min, max int64) bool {
	return d.integer(v.e, dst, min, max)
}

// number is a decimal number setting.
type number struct{ value }

func (v number) read(d *decoder, dst *float64) bool { return d.number(v.e, dst) }

// percent is a percentage setting, 0% to 100%.
type percent struct{ value }

func (v percent) read(d *decoder, dst *float64) bool { return d.percent(v.e, dst) }

// size is a byte size setting ("100KiB").
type size struct{ value }

func (v size) read(d *decoder, dst *Size) bool { return d.size(v.e, dst) }

// words is a list of strings; a single string is a list of one.
type words struct{ value }

// read returns the strings with their nodes.
func (v words) read(d *decoder) ([]string, []*yaml.Node) { return d.strList(v.e) }

// raw is a setting its section decodes by hand: a value that is a scalar
// or a mapping (settle, an endpoint, a size range), a list or a mapping of
// named items.
type raw struct{ value }

// bandwidth is a bandwidth setting ("10Mbit").
type bandwidth struct{ value }

func (v bandwidth) read(d *decoder, dst *int64) bool { return parsed(d, v.e, dst, ParseBandwidth) }

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

// mapping decodes the mapping n at path into the schema struct dst points
// to: the keys are its fields' yaml tags, merge keys apply, an unknown or
// duplicate key is reported (decoder.fields). A nested schema struct is a
// nested mapping, named in messages by its field's "what" tag. It returns
// the entries by key.
func (d *decoder) mapping(n *yaml.Node, path, what string, dst any) map[string]entry {
	v := reflect.ValueOf(dst).Elem()
	keys := schemaKeys(v.Type())
	f := d.fields(n, path, what, keyNames(keys)...)
	for _, k := range keys {
		e, ok := f[k.name]
		if !ok {
			continue
		}
		fv := v.FieldByIndex(k.index)
		if p, ok := fv.Addr().Interface().(setting); ok {
			p.set(e)
		} else if fv.Kind() == reflect.Struct {
			// TestSchemaTypes checks that every field is one or the other.
			d.mapping(e.val, e.path, v.Type().FieldByIndex(k.index).Tag.Get("what"), fv.Addr().Interface())
		}
	}
	return f
}
