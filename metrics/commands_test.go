package metrics

import (
	"fmt"
	"strings"
	"testing"
)

// TestCommandIndexCache checks the name cache of commandTable.commandIndex:
// it gives cmdIndex's answer for constants, for copies of them at other
// addresses, for names needing normalisation and for names built at run
// time, answers a constant from the cache on its second use, and never
// holds more than nameCacheSize entries a protocol.
func TestCommandIndexCache(t *testing.T) {
	tests := []struct {
		name    string
		p       int
		command string
		want    string
	}{
		{"constant", protoIMAP, "UID FETCH", "UID FETCH"},
		{"copy", protoIMAP, strings.Clone("UID FETCH"), "UID FETCH"},
		{"lower case", protoIMAP, "select", "SELECT"},
		{"alias", protoSMTP, "MAIL FROM", "MAIL"},
		{"other protocol's name", protoPOP3, "SELECT", Other},
		{"unknown", protoIMAP, "XYZZY", Other},
		{"empty", protoIMAP, "", Other},
		{"same bytes, other protocol", protoPOP3, "NOOP", "NOOP"},
	}
	tab := newCommandTable(newCommandVecs("client", "test"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				if got := commandNames[tt.p][tab.commandIndex(tt.p, tt.command)]; got != tt.want {
					t.Fatalf("commandIndex(%d, %q) = %q, want %q", tt.p, tt.command, got, tt.want)
				}
			}
		})
	}

	// A constant's second lookup is answered by its cache entry: plant a
	// wrong index in it and the lookup returns that.
	const name = "CAPABILITY"
	tab.commandIndex(protoIMAP, name)
	planted := false
	for i := range tab.names[protoIMAP] {
		if e := tab.names[protoIMAP][i].Load(); e != nil && e.name == name {
			tab.names[protoIMAP][i].Store(&cachedName{name: e.name, idx: 0})
			planted = true
		}
	}
	if !planted {
		t.Fatalf("no cache entry for %q", name)
	}
	if got := tab.commandIndex(protoIMAP, name); got != 0 {
		t.Errorf("commandIndex(%q) = %d after its entry was replaced, want the entry's 0", name, got)
	}

	// Every name of the allow-lists finds a slot of its own.
	all := newCommandTable(newCommandVecs("client", "test"))
	for p, names := range commandNames {
		for _, c := range names {
			all.commandIndex(p, c)
		}
		n := 0
		for i := range all.names[p] {
			if e := all.names[p][i].Load(); e != nil {
				n++
				if got := commandNames[p][e.idx]; got != e.name {
					t.Errorf("protocol %d: entry %q has the index of %q", p, e.name, got)
				}
			}
		}
		if n != len(names) {
			t.Errorf("protocol %d: %d of its %d names cached", p, n, len(names))
		}
	}

	// Names built at run time fill empty slots only.
	for i := range 4 * nameCacheSize {
		c := fmt.Sprintf("NOOP%d", i)
		if got := tab.commandIndex(protoLMTP, c); got != 0 {
			t.Fatalf("commandIndex(%q) = %d, want 0 (other)", c, got)
		}
		if got := commandNames[protoLMTP][tab.commandIndex(protoLMTP, strings.Clone("RCPT"))]; got != "RCPT" {
			t.Fatalf("RCPT after %d run-time names = %q", i, got)
		}
	}
	// The cache is full of run-time names now: constants still resolve,
	// by the map.
	for _, c := range []string{"RCPT", "DATA", "LHLO"} {
		if got := commandNames[protoLMTP][tab.commandIndex(protoLMTP, c)]; got != c {
			t.Errorf("%s after the cache filled = %q", c, got)
		}
	}
}

// BenchmarkCommandIndex is the lookup of a command's table index per
// recorded command (constants, as the callers pass them).
func BenchmarkCommandIndex(b *testing.B) {
	tab := newCommandTable(newCommandVecs("client", "test"))
	cmds := []string{"UID FETCH", "SELECT", "IDLE", "UID STORE", "NOOP", "LOGIN", "APPEND", "LOGOUT"}
	b.Run("map", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			cmdIndex(protoIMAP, cmds[i%len(cmds)])
		}
	})
	b.Run("cache", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			tab.commandIndex(protoIMAP, cmds[i%len(cmds)])
		}
	})
}
