package reftab

import (
	"hash/maphash"
	"testing"
)

// set is a Table over a slice of string keys (a ref is an index into
// keys), with the hash function given: the way the table's users hold it.
type set struct {
	t    Table
	keys []string
	live map[string]uint32 // the same set in a Go map: the reference
	hash func(string) uint64
}

func newSet(hash func(string) uint64) *set {
	return &set{live: map[string]uint32{}, hash: hash}
}

func (s *set) refHash(ref uint32) uint64 { return s.hash(s.keys[ref]) }

func (s *set) find(k string) (uint32, bool) {
	return s.t.Find(s.hash(k), func(ref uint32) bool { return s.keys[ref] == k })
}

// add adds k when absent and returns its reference.
func (s *set) add(k string) uint32 {
	if ref, ok := s.find(k); ok {
		return ref
	}
	ref := uint32(len(s.keys))
	s.keys = append(s.keys, k)
	s.t.Insert(s.hash(k), ref, s.refHash)
	s.live[k] = ref
	return ref
}

// remove deletes k when present.
func (s *set) remove(k string) {
	if ref, ok := s.find(k); ok {
		s.t.Delete(s.hash(k), ref, s.refHash)
		delete(s.live, k)
	}
}

// check compares the table with the map: every key the map holds is found
// with its reference, the count is the same, and removed keys are gone.
func (s *set) check(t *testing.T) {
	t.Helper()
	if s.t.Len() != len(s.live) {
		t.Fatalf("Len = %d, want %d", s.t.Len(), len(s.live))
	}
	for ref, k := range s.keys {
		got, ok := s.find(k)
		want, live := s.live[k]
		if ok != live || (ok && got != want) {
			t.Fatalf("key %q (ref %d): found %d %v, want %d %v", k, ref, got, ok, want, live)
		}
	}
}

var seed = maphash.MakeSeed()

// Hash functions from none colliding to all.
var hashes = []struct {
	name string
	hash func(string) uint64
}{
	{"maphash", func(s string) uint64 { return maphash.String(seed, s) }},
	{"two bits", func(s string) uint64 { return maphash.String(seed, s) & 3 }},
	{"constant", func(string) uint64 { return 7 }},
	{"high bits only", func(s string) uint64 { return maphash.String(seed, s) &^ (1<<32 - 1) }},
}

// TestTable adds, finds and removes keys under hash functions that collide
// more and more, growing the table, and compares it with a Go map after
// every step: colliding keys are never merged, and a removal keeps every
// other key of its probe run reachable.
func TestTable(t *testing.T) {
	for _, h := range hashes {
		t.Run(h.name, func(t *testing.T) {
			s := newSet(h.hash)
			for i := range 300 {
				k := string(rune('a'+i%26)) + string(rune('A'+i/26))
				if ref := s.add(k); ref != uint32(len(s.keys)-1) {
					t.Fatalf("add %q = %d, want a new reference", k, ref)
				}
				if ref := s.add(k); ref != uint32(len(s.keys)-1) {
					t.Fatalf("add %q again = %d, want the same reference", k, ref)
				}
			}
			s.check(t)
			for i, k := range s.keys {
				if i%3 != 1 {
					s.remove(k)
				}
			}
			s.check(t)
			s.remove("absent")
			for _, k := range s.keys[:50] {
				s.add(k) // again, under a new reference when it was removed
			}
			s.check(t)
		})
	}
}

// TestTableReplace moves a key's reference, as a swap-remove in the
// caller's slice does.
func TestTableReplace(t *testing.T) {
	for _, h := range hashes {
		t.Run(h.name, func(t *testing.T) {
			s := newSet(h.hash)
			for _, k := range []string{"a", "b", "c"} {
				s.add(k)
			}
			// "a" moves to a new index 3.
			s.keys = append(s.keys, "a")
			if !s.t.Replace(s.hash("a"), 0, 3) {
				t.Fatal("Replace did not find a's reference")
			}
			s.live["a"] = 3
			s.keys[0] = "gone"
			if s.t.Replace(s.hash("x"), 9, 10) {
				t.Fatal("Replace found a reference never held")
			}
			for _, k := range []string{"a", "b", "c"} {
				if ref, ok := s.find(k); !ok || ref != s.live[k] {
					t.Fatalf("%q: %d %v, want %d", k, ref, ok, s.live[k])
				}
			}
		})
	}
}

func TestTableEmpty(t *testing.T) {
	var tab Table
	if _, ok := tab.Find(1, func(uint32) bool { return true }); ok {
		t.Fatal("an empty table found a reference")
	}
	tab.Delete(1, 0, func(uint32) uint64 { return 1 })
	if tab.Replace(1, 0, 1) || tab.Len() != 0 {
		t.Fatal("an empty table changed")
	}
}

// FuzzTable runs a sequence of adds and removes, the bytes of the input
// choosing keys from a small space (so that they repeat) under a hash
// that keeps only a few bits (so that they collide), against a Go map.
func FuzzTable(f *testing.F) {
	f.Add([]byte{1, 2, 3, 0x81, 2, 3}, uint8(2))
	f.Add([]byte{5, 5, 5, 0x85, 0x85, 5}, uint8(0))
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0x80, 0x82, 0x84, 11, 12}, uint8(64))
	f.Fuzz(func(t *testing.T, ops []byte, bits uint8) {
		mask := uint64(1)<<(bits%65) - 1
		if bits%65 == 64 {
			mask = ^uint64(0)
		}
		s := newSet(func(k string) uint64 { return maphash.String(seed, k) & mask })
		for _, op := range ops {
			k := string(rune('a' + op&0x3f))
			if op&0x80 != 0 {
				s.remove(k)
			} else {
				s.add(k)
			}
		}
		s.check(t)
	})
}
