package leanimap

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// dovecotCaps is Dovecot 2.3's capability list after login, as it sends it.
const dovecotCaps = "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE\r\n"

// TestCapName checks that capName upper-cases as bytes.ToUpper does, known
// names or not.
func TestCapName(t *testing.T) {
	for _, w := range []string{
		"IMAP4rev1", "imap4rev2", "Auth=Plain", "LITERAL+", "X-Unknown-Cap", "",
		"x-é-non-ascii", strings.Repeat("long", 20), "\xff\xfe", "SASL-IR",
	} {
		if got, want := capName([]byte(w)), string(bytes.ToUpper([]byte(w))); got != want {
			t.Errorf("capName(%q) = %q, want %q", w, got, want)
		}
	}
}

// TestParseCapsAllocs checks that a capability list of known names
// allocates nothing once the client's list has room.
func TestParseCapsAllocs(t *testing.T) {
	c := &Client{opts: Options{}.withDefaults()}
	c.caps = make([]string, 0, 64)
	resp := []byte(dovecotCaps)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.handle(resp); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per capability list, want 0", allocs)
	}
	if len(c.caps) != 38 || !c.Has("IMAP4REV1") || !c.Has("SPECIAL-USE") {
		t.Errorf("caps %v", c.caps)
	}
}

// BenchmarkParseCaps measures the parsing of Dovecot's capability list
// after login, on a fresh client as every new session is.
func BenchmarkParseCaps(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		c := &Client{opts: Options{}.withDefaults()}
		c.br = bufio.NewReaderSize(strings.NewReader(dovecotCaps), readBufSize)
		if _, err := c.next(); err != nil {
			b.Fatal(err)
		}
	}
}
