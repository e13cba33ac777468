package leanimap

import (
	"slices"
	"testing"
)

// TestCapCache parses capability lists through a shared CapCache: a list
// read again is the cached one, found without allocating; one that only
// starts like a cached list (a longer name, another name after it) is
// parsed, and every list parses as without a cache.
func TestCapCache(t *testing.T) {
	cc := &CapCache{}
	parse := func(line string, cache *CapCache) ([]string, int) {
		c := &Client{opts: Options{Caps: cache}}
		s := &scanner{}
		s.reset([]byte(line))
		c.parseCaps(s)
		if s.err != nil {
			t.Fatalf("%q: %v", line, s.err)
		}
		return c.caps, s.i
	}
	for _, tc := range []struct {
		line string
		hit  bool // found in the cache
	}{
		{" IMAP4rev1 IDLE LITERAL+ X-Odd]", false},
		{" IMAP4rev1 IDLE LITERAL+ X-Odd] rest", true},
		{" IMAP4rev1 IDLE LITERAL+ X-Odd\r\n", true},
		{" IMAP4rev1 IDLE LITERAL+ X-Odder]", false},
		{" IMAP4rev1 IDLE LITERAL+ X-Odd MOVE]", false},
		{" imap4rev1 IDLE LITERAL+ X-Odd]", false},
		{" IMAP4rev1 IDLE LITERAL+ X-Odd MOVE\r\n", true},
	} {
		want, wantEnd := parse(tc.line, nil)
		before := cc.lookup([]byte(tc.line)) != nil
		got, end := parse(tc.line, cc)
		if !slices.Equal(got, want) || end != wantEnd {
			t.Fatalf("%q: %q up to %d, want %q up to %d", tc.line, got, end, want, wantEnd)
		}
		if before != tc.hit {
			t.Fatalf("%q: cached %v, want %v", tc.line, before, tc.hit)
		}
		if tc.hit {
			if n := testing.AllocsPerRun(20, func() { parse(tc.line, cc) }); n > 1 { // the Client
				t.Fatalf("%q: %v allocations, want at most 1", tc.line, n)
			}
		}
	}
}
