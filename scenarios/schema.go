package scenarios

import (
	"fmt"
	"reflect"
	"strconv"
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
//
// Why not yaml.v3's own Decode into these structs: with KnownFields(true)
// an unknown key is reported as "line N: field x not found in type ...",
// without its column, key path or the valid keys; a duplicate key stops
// the whole decode; and an UnmarshalYAML method sees the value's node but
// neither its key (where "idle is an IMAP setting" is reported) nor the
// environment ${VAR}s are expanded with. decoder.fields keeps those, and
// applies merge keys and bounds alias expansion as yaml.v3 would.

// value is one scalar setting as written: its key and value nodes and its
// key path, so that a problem with it is reported where it is. The zero
// value is a setting the document leaves out (or sets to null).
type value struct{ e entry }

// setting is a field type of a schema struct that decoder.mapping fills
// with the entry of its key.
type setting interface{ set(entry) }

func (v *value) set(e entry) { v.e = e }

// given reports whether the document sets the value.
func (v value) given() bool { return v.e.val != nil && !isNull(v.e.val) }

// text is a string setting.
type text struct{ value }

// read stores the string, after ${VAR} expansion, in *dst; false when the
// value is absent or bad (reported).
func (v text) read(d *decoder, dst *string) bool {
	if !v.given() {
		return false
	}
	s, _, ok := d.scalar(v.e.val, v.e.path)
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
	if !contains(allowed, s) {
		d.errorf(v.e.val, v.e.path, "unknown %s %q; want one of: %s", what, s, strings.Join(allowed, ", "))
		return false
	}
	*dst = s
	return true
}

// parsed reads the scalar e with parse into *dst; false when it is absent
// or bad (reported at the value).
func parsed[T any](d *decoder, e entry, dst *T, parse func(string) (T, error)) bool {
	if !(value{e}).given() {
		return false
	}
	s, n, ok := d.scalar(e.val, e.path)
	if !ok {
		return false
	}
	v, err := parse(s)
	if err != nil {
		d.errorf(n, e.path, "%v", err)
		return false
	}
	*dst = v
	return true
}

// duration is a duration setting ("90s", "15m", "14d").
type duration struct{ value }

func (v duration) read(d *decoder, dst *time.Duration) bool {
	return parsed(d, v.e, dst, ParseDuration)
}

// flag is a boolean setting.
type flag struct{ value }

func (v flag) read(d *decoder, dst *bool) bool { return parsed(d, v.e, dst, parseBool) }

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
	ok := parsed(d, v.e, &n, func(s string) (int64, error) {
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
		d.errorf(v.e.val, v.e.path, "%d out of range: want %d to %d", n, min, max)
		return false
	}
	*dst = n
	return true
}

// number is a finite decimal number setting.
type number struct{ value }

func (v number) read(d *decoder, dst *float64) bool {
	return parsed(d, v.e, dst, func(s string) (float64, error) {
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
	if !parsed(d, v.e, &f, ParsePercent) {
		return false
	}
	if f < 0 || f > 1 {
		d.errorf(v.e.val, v.e.path, "percentage %s out of range: want 0%% to 100%%", fmtPercent(f))
		return false
	}
	*dst = f
	return true
}

// size is a byte size setting ("100KiB").
type size struct{ value }

func (v size) read(d *decoder, dst *Size) bool { return parsed(d, v.e, dst, ParseSize) }

// bandwidth is a bandwidth setting ("10Mbit").
type bandwidth struct{ value }

func (v bandwidth) read(d *decoder, dst *int64) bool { return parsed(d, v.e, dst, ParseBandwidth) }

// words is a list of strings; a single string is a list of one.
type words struct{ value }

// read returns the strings with their nodes.
func (v words) read(d *decoder) ([]string, []*yaml.Node) {
	n := d.resolve(v.e.val, v.e.path)
	if n == nil || isNull(n) {
		return nil, nil
	}
	if n.Kind == yaml.ScalarNode {
		s, _, ok := d.scalar(n, v.e.path)
		if !ok {
			return nil, nil
		}
		d.recordItem(v.e.path+"[0]", n)
		return []string{s}, []*yaml.Node{n}
	}
	var out []string
	var nodes []*yaml.Node
	for i, item := range d.seq(n, v.e.path, "value") {
		s, in, ok := d.scalar(item, fmt.Sprintf("%s[%d]", v.e.path, i))
		if ok {
			d.recordItem(fmt.Sprintf("%s[%d]", v.e.path, len(out)), in)
			out = append(out, s)
			nodes = append(nodes, in)
		}
	}
	return out, nodes
}

// raw is a setting its section decodes by hand: a value that is a scalar
// or a mapping (settle, an endpoint, a size range), a list or a mapping of
// named items.
type raw struct{ value }

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
	d.recordMapping(path, deref(n))
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
