package clients

import (
	"reflect"
	"testing"
)

func TestDistinctRecipients(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, []string{}},
		{[]string{"a@x.org"}, []string{"a@x.org"}},
		{[]string{"a@x.org", "b@x.org", "a@x.org"}, []string{"a@x.org", "b@x.org"}},
		{[]string{"a@x.org", "a@X.ORG"}, []string{"a@x.org"}},            // domains in any case
		{[]string{"a@x.org", "A@x.org"}, []string{"a@x.org", "A@x.org"}}, // local parts exactly, as Dovecot
		{[]string{"a+f@x.org", "a@x.org", "a+f@x.org"}, []string{"a+f@x.org", "a@x.org"}},
	} {
		if got := DistinctRecipients(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DistinctRecipients(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
