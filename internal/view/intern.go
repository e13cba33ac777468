package view

import (
	"hash/maphash"
	"strings"
	"sync"
)

// Interner hands out one string per distinct value, so that the Message-IDs
// a user's devices, person and audit keep share their bytes instead of
// each holding a copy (a Message-ID is about 50 bytes; a string header
// pointing to a shared one is 16). The engine makes one per user
// (internal/engine/user.go) and hands it to the user's devices through
// clients.Options.IDs.
//
// It keeps every value it was given for as long as it lives: it grows with
// the distinct Message-IDs its user saw in a run, which the auditor keeps
// too (internal/audit/auditor.go, user.messages). Its own cost is an
// open-addressing table of string headers, at most three quarters full:
// 21–43 bytes per value besides the value's bytes. The zero value is not
// usable; a nil *Interner interns nothing (Intern returns its argument).
// It is safe for concurrent use.
type Interner struct {
	seed maphash.Seed

	mu    sync.Mutex
	slots []string // len is 0 or a power of two; "" is a free slot
	n     int      // values held
}

// NewInterner returns an empty Interner.
func NewInterner() *Interner { return &Interner{seed: maphash.MakeSeed()} }

// internMinSlots is the table size of the first value interned.
const internMinSlots = 16

// Intern returns the Interner's string equal to s, adding a copy of s (a
// string of its own, never a slice of a larger buffer s may point into)
// when it has none. "" and a nil Interner return s.
func (in *Interner) Intern(s string) string {
	if in == nil || s == "" {
		return s
	}
	h := maphash.String(in.seed, s)
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.slots) == 0 {
		in.slots = make([]string, internMinSlots)
	}
	i := in.find(h, s)
	if in.slots[i] != "" {
		return in.slots[i]
	}
	s = strings.Clone(s)
	in.slots[i] = s
	in.n++
	if 4*in.n > 3*len(in.slots) {
		in.grow()
	}
	return s
}

// Len returns the number of distinct values held.
func (in *Interner) Len() int {
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.n
}

// find returns the slot holding s, or the free slot where s goes (linear
// probing from the slot of hash h). The table is never full, so it ends.
func (in *Interner) find(h uint64, s string) int {
	mask := uint64(len(in.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		if c := in.slots[i]; c == "" || c == s {
			return int(i)
		}
	}
}

// grow doubles the table.
func (in *Interner) grow() {
	old := in.slots
	in.slots = make([]string, 2*len(old))
	for _, s := range old {
		if s != "" {
			in.slots[in.find(maphash.String(in.seed, s), s)] = s
		}
	}
}
