package clients

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/view"
)

// checkText encodes from, subject and refs with ids and checks that the
// encoding decodes to the same three fields, byte for byte.
func checkText(t *testing.T, ids *view.Interner, from, subject, refs string) []byte {
	t.Helper()
	b := encodeText(ids, from, subject, refs)
	if from == "" && subject == "" && refs == "" {
		if b != nil {
			t.Fatalf("empty fields encoded as %q", b)
		}
		return b
	}
	f, s, r, ok := decodeText(ids, string(b))
	if !ok || f != from || s != subject || r != refs {
		t.Fatalf("encode(%q, %q, %q) = %q, decoded as %q, %q, %q (%v)", from, subject, refs, b, f, s, r, ok)
	}
	return b
}

// TestLocalText round-trips header fields of every shape the encoding
// tells apart: words in the dictionary or not, references the interner
// holds or not, empty words, and a full dictionary; and checks what a
// mailgen subject costs.
func TestLocalText(t *testing.T) {
	ids := view.NewInterner()
	ids.Handle("<held@x>")
	for _, tc := range []struct{ name, from, subject, refs string }{
		{"mailgen new", "Carol Example <carol@example.net>", "Deploy the budget report v2.3", ""},
		{"reply", "bob@x", "Re: Deploy the budget", "<held@x> <other@y>"},
		{"nothing", "", "", ""},
		{"no from", "", "hi", "<held@x>"},
		{"only references", "", "", "<other@y>"},
		{"double space", "a@x", "two  spaces", "<held@x>  <other@y>"},
		{"leading and trailing spaces", "a@x", " lead trail ", " <held@x> "},
		{"one space", "a@x", " ", " "},
		{"long word", "a@x", strings.Repeat("w", 100) + " short", ""},
		{"non-ASCII and controls", "a@x", "Grüße \x00\xff tab\there", "<é@x>"},
	} {
		t.Run(tc.name, func(t *testing.T) { checkText(t, ids, tc.from, tc.subject, tc.refs) })
	}
	// A mailgen subject of five words: a byte each, one for the header,
	// one for From.
	if b := checkText(t, ids, "Carol Example <carol@example.net>", "Deploy the budget report v2.3", ""); len(b) != 7 {
		t.Errorf("mailgen subject encoded in %d bytes, want 7: %q", len(b), b)
	}
	// Once the dictionary is full, a subject with a new word is kept whole
	// and one of known words still coded.
	for i := 0; ; i++ {
		if _, ok := ids.Word(fmt.Sprintf("filler%d", i)); !ok {
			break
		}
	}
	checkText(t, ids, "a@x", "brand new words", "")
	if b := checkText(t, ids, "a@x", "Deploy the budget", ""); len(b) != 5 {
		t.Errorf("known words with a full dictionary: %q", b)
	}
}

// TestWordIndex writes and reads back every word index the dictionary
// can give: one byte below wordIndexShort, two from there.
func TestWordIndex(t *testing.T) {
	for i := range uint32(view.MaxWords) {
		b := appendWordIndex(nil, i)
		r := textReader{b: string(b), ok: true}
		if got := r.wordIndex(); !r.ok || got != i || r.b != "" || len(b) != 1+int(min(i/wordIndexShort, 1)) {
			t.Fatalf("index %d written as %x, read %d %v", i, b, got, r.ok)
		}
	}
}

// TestLocalTextMalformed decodes encodings cut short or corrupted: false,
// never a panic.
func TestLocalTextMalformed(t *testing.T) {
	ids := view.NewInterner()
	good := encodeText(ids, "bob@x", "hello world", "<a@x> <b@x>")
	for n := range len(good) {
		if _, _, _, ok := decodeText(ids, string(good[:n])); ok {
			t.Errorf("cut at %d of %d decoded", n, len(good))
		}
	}
	for _, b := range []string{"\x01\x06\x63", "\x01\x0e\x05", "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "\x05\x00", "\x00\x03\x00\x00", string(good) + "x"} {
		if _, _, _, ok := decodeText(ids, b); ok {
			t.Errorf("%q decoded", b)
		}
	}
}

// FuzzLocalText round-trips any three fields (the input split at '|')
// through the encoding, with an interner that holds some references and
// a dictionary of fill words already (so that indexes take two bytes, or
// the dictionary is full).
func FuzzLocalText(f *testing.F) {
	f.Add("Carol <c@x>|Deploy the budget v1.2|", "<r@x>", uint16(0))
	f.Add("|Re: hi  there |<r@x> <s@x>", "<s@x>", uint16(300))
	f.Add("a|  |  ", "", uint16(view.MaxWords-1))
	f.Fuzz(func(t *testing.T, fields, held string, fill uint16) {
		ids := view.NewInterner()
		for i := range int(fill) % (view.MaxWords + 1) {
			ids.Word(fmt.Sprintf("fill%d", i))
		}
		for _, h := range strings.Fields(held) {
			ids.Handle(h)
		}
		from, rest, _ := strings.Cut(fields, "|")
		subject, refs, _ := strings.Cut(rest, "|")
		checkText(t, ids, from, subject, refs)
		// And decoding arbitrary bytes never panics.
		decodeText(ids, fields)
	})
}

// TestUIDLKey packs UIDLs of every shape and reads them back: 16 hex
// digits of one case packed while the store has room for their suffix,
// any other UIDL kept whole, a key the same each time and different for
// different UIDLs, and a lookup (add false) that adds nothing.
func TestUIDLKey(t *testing.T) {
	s := newMailstore(nil)
	keys := map[uidlKey]string{}
	check := func(u string, packed bool) {
		t.Helper()
		k, ok := s.uidlKey(u, true)
		if !ok || s.uidlString(k) != u {
			t.Fatalf("%q: key %x %v reads back %q", u, k, ok, s.uidlString(k))
		}
		if kind := recState(k) & uidlKind; (kind == uidlUpper || kind == uidlLower) != packed {
			t.Fatalf("%q: kind %d, packed want %v", u, kind, packed)
		}
		if k2, ok := s.uidlKey(u, false); !ok || k2 != k {
			t.Fatalf("%q: lookup %x %v, want %x", u, k2, ok, k)
		}
		if other, ok := keys[k]; ok && other != u {
			t.Fatalf("%q and %q share key %x", u, other, k)
		}
		keys[k] = u
	}
	for _, tc := range []struct {
		u      string
		packed bool
	}{
		{"00000001692A8B3C", true},
		{"00000002692A8B3C", true},
		{"00000002692a8b3c", true}, // the same in lower case: another UIDL
		{"0000000000000000", true},
		{"FFFFFFFFFFFFFFFF", true},
		{"00000001692a8B3C", false}, // mixed case
		{"00000001692A8B3", false},
		{"00000001692A8B3C0", false},
		{"0000000G692A8B3C", false},
		{"1.1700000000", false},
		{"a", false},
	} {
		check(tc.u, tc.packed)
	}
	if _, ok := s.uidlKey("", true); ok {
		t.Error("the empty UIDL has a key")
	}
	if _, ok := s.uidlKey("00000001ABCDEF01", false); ok || len(s.suffixes) != 3 {
		t.Errorf("a lookup of a new suffix found it or added it: %d suffixes", len(s.suffixes))
	}
	for i := len(s.suffixes); i < maxSuffixes; i++ {
		check(fmt.Sprintf("%08X%08X", i, 0x10000+i), true)
	}
	// The suffixes are full: a new one is kept whole, each time; known
	// ones are still packed.
	check("0000000112345678", false)
	check("0000000112345678", false)
	check("00000009692A8B3C", true)
	if _, ok := s.uidlKey("0000000287654321", false); ok {
		t.Error("a lookup found a UIDL never added")
	}
}

// FuzzUIDLKey adds UIDLs (the input split at '|') and compares with a Go
// map: each reads back as itself, equal UIDLs share a key, different
// ones do not.
func FuzzUIDLKey(f *testing.F) {
	f.Add("00000001692A8B3C|00000001692a8b3c|x|00000001692A8B3C")
	f.Add("0000000000000001|0000000100000001|0000000200000002|0000000300000003|0000000400000004")
	f.Fuzz(func(t *testing.T, input string) {
		s := newMailstore(nil)
		keys := map[uidlKey]string{}
		byUIDL := map[string]uidlKey{}
		for _, u := range strings.Split(input, "|") {
			k, ok := s.uidlKey(u, true)
			if !ok {
				if u != "" {
					t.Fatalf("%q: no key", u)
				}
				continue
			}
			if got := s.uidlString(k); got != u {
				t.Fatalf("%q reads back as %q", u, got)
			}
			if other, ok := keys[k]; ok && other != u {
				t.Fatalf("%q and %q share key %x", u, other, k)
			}
			if prev, ok := byUIDL[u]; ok && prev != k {
				t.Fatalf("%q: key %x, first %x", u, k, prev)
			}
			keys[k], byUIDL[u] = u, k
		}
	})
}
