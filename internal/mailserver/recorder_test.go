package mailserver

import (
	"testing"
	"unsafe"
)

// TestNormaliseCommandCanonical: a known command comes back as the one
// stored string whatever its case, so every recording of it passes the same
// address (metrics' commandTable caches command indexes by address), and
// normalising allocates nothing.
func TestNormaliseCommandCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{"uid fetch", "UID FETCH"}, {"Uid Fetch", "UID FETCH"}, {"NOOP", "NOOP"}, {"xyzzy", "other"}, {"", "other"},
		{"a-very-long-command-name-indeed", "other"},
	}
	for _, tc := range tests {
		if got := normaliseCommand(tc.in, imapCommands); got != tc.want {
			t.Errorf("normaliseCommand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	a, b := normaliseCommand(string([]byte("noop")), imapCommands), normaliseCommand(string([]byte("Noop")), imapCommands)
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two spellings of NOOP came back as two strings, not the stored one")
	}
	in := string([]byte("fetch"))
	if n := testing.AllocsPerRun(100, func() { _ = normaliseCommand(in, imapCommands) }); n != 0 {
		t.Errorf("normaliseCommand allocates %v times", n)
	}
}
