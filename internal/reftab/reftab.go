// Package reftab is an open-addressing hash table of uint32 references
// whose keys live elsewhere (in an arena, a slice of records): 4 bytes a
// slot, at most three quarters full, where a Go map keyed by the value
// itself would hold the key's bytes or header in every slot. A table grows
// by about a quarter, not by doubling (its size need not be a power of two:
// a hash picks its home slot by its high bits, Lemire's multiply-shift),
// so it stays 60–75% full: 5.3–6.7 bytes a reference, where doubling left
// a table between three eighths and three quarters full (5.3–10.7). The caller
// hashes keys and compares them; the table only places references, so two
// keys with the same hash are told apart by the caller's equality and
// never merged. It is what view.Interner (internal/view/intern.go) and a
// POP3 device's local store (clients/local.go) index their records with.
//
// A Table is not safe for concurrent use; its owner locks it.
package reftab

import "math/bits"

// minSlots is the size of a table's first allocation.
const minSlots = 8

// Max is the largest reference a Table holds (a slot stores ref+1; 0 is a
// free slot).
const Max = 1<<32 - 2

// Table is a hash set of references. The zero value is an empty table.
type Table struct {
	slots []uint32 // ref+1, 0 is free; never full
	n     int
}

// Len returns the number of references held.
func (t *Table) Len() int { return t.n }

// Find returns the reference held whose key hashes to h and for which eq
// is true, and true; or 0 and false. eq is called only on references whose
// key may hash to h.
func (t *Table) Find(h uint64, eq func(ref uint32) bool) (uint32, bool) {
	if t.n == 0 {
		return 0, false
	}
	for i := t.home(h); ; i = t.next(i) {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if eq(s - 1) {
			return s - 1, true
		}
	}
}

// home returns the first slot of h's probe run: h's high bits scaled to
// the table's size (h*len >> 64), so any size works.
func (t *Table) home(h uint64) uint64 {
	hi, _ := bits.Mul64(h, uint64(len(t.slots)))
	return hi
}

// next returns the slot after i, wrapping around.
func (t *Table) next(i uint64) uint64 {
	if i++; i == uint64(len(t.slots)) {
		return 0
	}
	return i
}

// dist returns how many slots from i forward j is, wrapping around.
func (t *Table) dist(i, j uint64) uint64 {
	if j >= i {
		return j - i
	}
	return j + uint64(len(t.slots)) - i
}

// Insert adds ref, whose key hashes to h and is not in the table yet
// (Find first). hash returns the hash of the key of any reference already
// held; Insert calls it when the table grows. ref must be at most Max.
func (t *Table) Insert(h uint64, ref uint32, hash func(ref uint32) uint64) {
	if 4*(t.n+1) > 3*len(t.slots) {
		t.grow(hash)
	}
	t.slots[t.free(h)] = ref + 1
	t.n++
}

// Delete removes ref, whose key hashes to h; it does nothing when ref is
// not held. hash is as for Insert: the references after ref in its probe
// run move back (backward-shift deletion, no tombstones).
func (t *Table) Delete(h uint64, ref uint32, hash func(ref uint32) uint64) {
	i, ok := t.slot(h, ref)
	if !ok {
		return
	}
	for j := t.next(i); t.slots[j] != 0; j = t.next(j) {
		home := t.home(hash(t.slots[j] - 1))
		// The entry at j may fill the hole at i unless its home slot lies
		// cyclically in (i, j].
		if t.dist(home, j) >= t.dist(i, j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.n--
}

// Replace makes the slot holding old, whose key hashes to h, hold ref
// instead (the same key's record moved: a swap-remove in the caller's
// slice). It reports whether old was held.
func (t *Table) Replace(h uint64, old, ref uint32) bool {
	i, ok := t.slot(h, old)
	if ok {
		t.slots[i] = ref + 1
	}
	return ok
}

// slot returns the index of the slot holding ref, whose key hashes to h.
func (t *Table) slot(h uint64, ref uint32) (uint64, bool) {
	if t.n == 0 {
		return 0, false
	}
	for i := t.home(h); ; i = t.next(i) {
		switch t.slots[i] {
		case 0:
			return 0, false
		case ref + 1:
			return i, true
		}
	}
}

// free returns the first free slot of h's probe run. The table is never
// full (at most three quarters), so it ends.
func (t *Table) free(h uint64) uint64 {
	i := t.home(h)
	for t.slots[i] != 0 {
		i = t.next(i)
	}
	return i
}

// grow makes the table about a quarter larger (or makes its first one),
// so that it is 60% full after (n+1)*5/3 slots, rounded up to the
// allocation's size class, whose bytes would be lost otherwise.
func (t *Table) grow(hash func(ref uint32) uint64) {
	old := t.slots
	size := max(minSlots, (t.n+1)*5/3, len(old)+1)
	t.slots = append([]uint32(nil), make([]uint32, size)...)
	t.slots = t.slots[:cap(t.slots)]
	for _, s := range old {
		if s != 0 {
			t.slots[t.free(hash(s-1))] = s
		}
	}
}

// Hash32 returns a hash of x with every bit mixed (two multiply-xorshift
// rounds), for tables keyed by small integers, such as
// view.Handle, whose bits unmixed would crowd a few probe runs.
func Hash32(x uint32) uint64 {
	h := uint64(x)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
