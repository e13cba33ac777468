package view

import (
	"reflect"
	"testing"
)

func TestParseFlag(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Flags
	}{
		{`\Seen`, Seen}, {`\seen`, Seen}, {`\Answered`, Answered}, {`\FLAGGED`, Flagged},
		{`$Forwarded`, Forwarded}, {`$forwarded`, Forwarded},
		{`\Deleted`, 0}, {`\Draft`, 0}, {`\Recent`, 0}, {`$Junk`, 0}, {``, 0},
	} {
		if got := ParseFlag(tt.in); got != tt.want {
			t.Errorf("ParseFlag(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFlagsStrings(t *testing.T) {
	f := Forwarded | Seen | Flagged
	if got, want := f.Strings(), []string{`\Seen`, `\Flagged`, `$Forwarded`}; !reflect.DeepEqual(got, want) {
		t.Errorf("Strings() = %v, want %v", got, want)
	}
	if got := f.String(); got != `(\Seen \Flagged $Forwarded)` {
		t.Errorf("String() = %q", got)
	}
	if !f.Has(Seen|Flagged) || f.Has(Answered) || !f.Has(0) {
		t.Error("Has is wrong")
	}
	if Flags(0).String() != "()" {
		t.Errorf("empty flags = %q", Flags(0).String())
	}
	for _, fl := range []Flags{Seen, Answered, Flagged, Forwarded} {
		if ParseFlag(fl.Strings()[0]) != fl {
			t.Errorf("%v does not round-trip", fl)
		}
	}
}

func TestSnapshotIDsSorted(t *testing.T) {
	s := Snapshot{Messages: map[string]Message{"<c@x>": {}, "<a@x>": {}, "<b@x>": {}}}
	if got, want := s.IDs(), []string{"<a@x>", "<b@x>", "<c@x>"}; !reflect.DeepEqual(got, want) {
		t.Errorf("IDs() = %v, want %v", got, want)
	}
	if len(Snapshot{}.IDs()) != 0 {
		t.Error("empty snapshot has IDs")
	}
}
