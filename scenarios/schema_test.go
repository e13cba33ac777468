package scenarios

import (
	"reflect"
	"strings"
	"testing"
)

// schemaTypes are the schema structs of the scenario language.
var schemaTypes = []any{deviceDoc{}, networkDoc{}, behaviorDoc{}, inboundDoc{}, sizeRangeDoc{}, sendDoc{}, onNewMailDoc{}, targetDoc{}, endpointDoc{}, deliveryDoc{}, usersDoc{}, scenarioDoc{}, settleDoc{}, serverDoc{}, handDoc{}, groupDoc{}, targetFileDoc{}, capacityDoc{}, resourcesDoc{}}

// TestSchemaTypes checks that every field of a schema struct is a setting
// (yaml.v3 calls its UnmarshalYAML) or a nested schema struct (yaml.v3
// fills it), that a mapping, a list or a named mapping names itself for
// messages, and that no key is defined twice.
func TestSchemaTypes(t *testing.T) {
	for _, s := range schemaTypes {
		typ := reflect.TypeOf(s)
		seen := map[string]bool{}
		for _, k := range schemaKeys(typ) {
			if seen[k.name] {
				t.Errorf("%s: key %q defined twice", typ.Name(), k.name)
			}
			seen[k.name] = true
			f := typ.FieldByIndex(k.index)
			pt := reflect.PointerTo(f.Type)
			switch {
			case pt.Implements(mappingSettingType), pt.Implements(listSettingType), pt.Implements(namedSettingType):
				if f.Tag.Get("what") == "" {
					t.Errorf("%s.%s: %s without a what tag", typ.Name(), f.Name, f.Type)
				}
			case pt.Implements(unmarshalerType):
			case f.Type.Kind() == reflect.Struct:
				if f.Tag.Get("what") == "" {
					t.Errorf("%s.%s: nested mapping without a what tag", typ.Name(), f.Name)
				}
			default:
				t.Errorf("%s.%s: %s is neither a setting nor a schema struct", typ.Name(), f.Name, f.Type)
			}
		}
	}
}

// TestSchemaKeysOfDevices: the keys of a device profile come from its
// struct tags, those of a protocol from its inline struct.
func TestSchemaKeysOfDevices(t *testing.T) {
	groups := map[string][]string{}
	for _, k := range schemaKeys(reflect.TypeOf(deviceDoc{})) {
		groups[k.group] = append(groups[k.group], k.name)
	}
	want := map[string]string{
		"":        "kind protocol poll_interval login_interval network",
		"IMAP":    "idle connections fetch_new fetch_open window fetch_immediate status_interval imap_client",
		"POP3":    "leave_on_server delete_after delete_when_deleted_locally",
		"Webmail": "refresh page_size",
	}
	for g, w := range want {
		if got := strings.Join(groups[g], " "); got != w {
			t.Errorf("group %q: keys %q, want %q", g, got, w)
		}
	}
	if len(groups) != len(want) {
		t.Errorf("groups %v, want %d", groups, len(want))
	}
}
