package view

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"testing"
	"unsafe"
)

func same(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }

func TestInterner(t *testing.T) {
	in := NewInterner()
	buf := []byte("xx<a@example.com>yy")
	// A string over buf's bytes, as a parser's slice of its buffer is.
	a := in.Intern(unsafe.String(&buf[2], 15))
	for _, tc := range []struct {
		name      string
		s         string
		want      string
		sharesA   bool
		wantCount int
	}{
		{"equal value, other bytes", "<a@example.com>", "<a@example.com>", true, 1},
		{"other value", "<b@example.com>", "<b@example.com>", false, 2},
		{"empty", "", "", false, 2},
		{"prefix of a value", "<a@example.co", "<a@example.co", false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := in.Intern(tc.s)
			if got != tc.want {
				t.Fatalf("Intern(%q) = %q", tc.s, got)
			}
			if same(got, a) != tc.sharesA {
				t.Fatalf("Intern(%q) shares the first value's bytes: %v, want %v", tc.s, same(got, a), tc.sharesA)
			}
			if n := in.Len(); n != tc.wantCount {
				t.Fatalf("Len = %d, want %d", n, tc.wantCount)
			}
		})
	}
	buf[5] = 'Z' // the interned value is a copy, not the caller's buffer
	if a != "<a@example.com>" {
		t.Fatalf("interned value changed with its source: %q", a)
	}
}

func TestInternerNil(t *testing.T) {
	var in *Interner
	s := string([]byte("<n@x>"))
	if got := in.Intern(s); !same(got, s) {
		t.Fatal("a nil Interner did not return its argument")
	}
	if in.Len() != 0 {
		t.Fatal("a nil Interner holds values")
	}
}

// TestInternerGrows interns more values than the first tables hold and
// checks that every value keeps its one string across the growths.
func TestInternerGrows(t *testing.T) {
	in := NewInterner()
	const n = 5000
	first := make([]string, n)
	for i := range first {
		first[i] = in.Intern(fmt.Sprintf("<%d@grow>", i))
	}
	for i := range first {
		got := in.Intern(fmt.Sprintf("<%d@grow>", i))
		if got != first[i] || !same(got, first[i]) {
			t.Fatalf("value %d: %q is not the string first interned", i, got)
		}
	}
	if in.Len() != n {
		t.Fatalf("Len = %d, want %d", in.Len(), n)
	}
}

// TestInternerConcurrent interns the same values from several goroutines:
// each value gets one string (run with -race).
func TestInternerConcurrent(t *testing.T) {
	in := NewInterner()
	const workers, n = 4, 500
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				got[w] = append(got[w], in.Intern(fmt.Sprintf("<%d@c>", (i+w*7)%n)))
			}
		}()
	}
	wg.Wait()
	byValue := map[string]string{}
	for _, g := range got {
		for _, s := range g {
			if c, ok := byValue[s]; ok && !same(c, s) {
				t.Fatalf("%q interned as two strings", s)
			}
			byValue[s] = s
		}
	}
	if in.Len() != n {
		t.Fatalf("Len = %d, want %d", in.Len(), n)
	}
}

// newTestInterner returns an Interner whose hash is hash: colliding
// hashes must still keep distinct values apart.
func newTestInterner(hash func(string) uint64) *Interner {
	in := NewInterner()
	if hash != nil {
		in.hash = hash
	}
	return in
}

// TestInternerCollisions interns values under hash functions that collide
// more and more (down to one hash for every value) and checks that no two
// values are merged: each keeps its own string and handle, and a value
// found again is the one first interned.
func TestInternerCollisions(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash func(string) uint64
	}{
		{"maphash", nil},
		{"one bit", func(s string) uint64 { return uint64(len(s) & 1) }},
		{"constant", func(string) uint64 { return 42 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := newTestInterner(tc.hash)
			const n = 600
			strs := make([]string, n)
			handles := make([]Handle, n)
			for i := range n {
				v := fmt.Sprintf("<%d@c>", i)
				strs[i] = in.Intern(v)
				handles[i] = in.Handle(v)
				if strs[i] != v {
					t.Fatalf("Intern(%q) = %q", v, strs[i])
				}
			}
			for i := range n {
				v := fmt.Sprintf("<%d@c>", i)
				h, ok := in.Lookup(v)
				if !ok || h != handles[i] || in.Value(h) != v || !same(in.Intern(v), strs[i]) {
					t.Fatalf("%q: handle %d %v (first %d), value %q", v, h, ok, handles[i], in.Value(h))
				}
			}
			if _, ok := in.Lookup("<absent@c>"); ok {
				t.Fatal("Lookup found a value never interned")
			}
			if in.Len() != n {
				t.Fatalf("Len = %d, want %d", in.Len(), n)
			}
		})
	}
}

// TestInternerArena checks values at the arena's edges: lengths around
// the one-byte length prefix, a value that does not fit the chunk's rest,
// values too long for the arena, and many chunks.
func TestInternerArena(t *testing.T) {
	in := NewInterner()
	var vals []string
	for _, n := range []int{1, 126, 127, 128, 129, firstChunk - 2, firstChunk, maxArenaValue, maxArenaValue + 1, 3 * chunkStride} {
		vals = append(vals, strings.Repeat(string(rune('a'+len(vals))), n))
	}
	for i := range 3000 { // about 20 chunks
		vals = append(vals, fmt.Sprintf("<%016x.%016x@example.com>", i, i*7))
	}
	got := make([]string, len(vals))
	for i, v := range vals {
		got[i] = in.Intern(v)
	}
	for i, v := range vals {
		if got[i] != v || !same(in.Intern(v), got[i]) {
			t.Fatalf("value %d (%d bytes) not kept whole", i, len(v))
		}
		h, ok := in.Lookup(v)
		if !ok || in.Value(h) != v {
			t.Fatalf("value %d (%d bytes): handle %d %v", i, len(v), h, ok)
		}
		if long := h&longBit != 0; long != (len(v) > maxArenaValue) {
			t.Errorf("value %d (%d bytes) long: %v", i, len(v), long)
		}
	}
	if len(in.chunks) < 10 {
		t.Fatalf("%d chunks: the test did not cross chunks", len(in.chunks))
	}
	for i, c := range in.chunks {
		if cap(c) > chunkStride {
			t.Errorf("chunk %d holds %d bytes, more than a handle can address", i, cap(c))
		}
	}
}

// FuzzInterner interns a sequence of values (the input split at '|') with
// a hash that keeps few bits, and compares with a Go map: the same value
// gets the same handle and string, different values different ones.
func FuzzInterner(f *testing.F) {
	f.Add("a|b|a|<x@y>|b|", uint8(1))
	f.Add("<1@x>|<2@x>|<1@x>|<3@x>", uint8(0))
	f.Add(strings.Repeat("v|", 50)+strings.Repeat("w", 5000), uint8(64))
	f.Fuzz(func(t *testing.T, input string, bits uint8) {
		mask := uint64(1)<<(bits%65) - 1
		if bits%65 == 64 {
			mask = ^uint64(0)
		}
		in := NewInterner()
		in.hash = func(s string) uint64 { return maphash.String(in.seed, s) & mask }
		want := map[string]Handle{}
		byHandle := map[Handle]string{}
		for _, v := range strings.Split(input, "|") {
			if v == "" {
				continue
			}
			h := in.Handle(v)
			if prev, ok := want[v]; ok && prev != h {
				t.Fatalf("%q: handle %d, first %d", v, h, prev)
			}
			if other, ok := byHandle[h]; ok && other != v {
				t.Fatalf("%q and %q share handle %d", v, other, h)
			}
			want[v], byHandle[h] = h, v
			if s := in.Intern(v); s != v {
				t.Fatalf("Intern(%q) = %q", v, s)
			}
		}
		if in.Len() != len(want) {
			t.Fatalf("Len = %d, want %d", in.Len(), len(want))
		}
		for v, h := range want {
			if in.Value(h) != v {
				t.Fatalf("Value(%d) = %q, want %q", h, in.Value(h), v)
			}
		}
	})
}

// TestInternerRead reads many handles under one lock: the values Value
// gives, "" for NoHandle.
func TestInternerRead(t *testing.T) {
	in := NewInterner()
	hs := []Handle{in.Handle("<a@x>"), in.Handle(strings.Repeat("r", maxArenaValue+1)), NoHandle, in.Handle("")}
	var got []string
	in.Read(func(value func(Handle) string) {
		for _, h := range hs {
			got = append(got, value(h))
		}
	})
	want := []string{"<a@x>", strings.Repeat("r", maxArenaValue+1), "", ""}
	for i := range want {
		if got[i] != want[i] || in.Value(hs[i]) != want[i] {
			t.Errorf("handle %d: Read %q, Value %q, want %q", hs[i], got[i], in.Value(hs[i]), want[i])
		}
	}
	if in.Len() != 2 {
		t.Errorf("Len = %d, want 2 (\"\" is not stored)", in.Len())
	}
}

// TestInternerConcurrentHandles adds values and reads them back through
// every method from several goroutines while the arena grows chunk by
// chunk (run with -race): each value has one handle and reads back whole.
func TestInternerConcurrentHandles(t *testing.T) {
	in := NewInterner()
	const workers, n = 4, 2000
	handles := make([][]Handle, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				v := fmt.Sprintf("<%016x.%016x@example.com>", (i+w*13)%n, i%7)
				h := in.Handle(v)
				handles[w] = append(handles[w], h)
				if got := in.Value(h); got != v {
					t.Errorf("Value(Handle(%q)) = %q", v, got)
					return
				}
				if s := in.Intern(v); s != v {
					t.Errorf("Intern(%q) = %q", v, s)
					return
				}
				if i%100 == 0 {
					in.Read(func(value func(Handle) string) {
						for _, h := range handles[w] {
							_ = value(h)
						}
					})
				}
			}
		}()
	}
	wg.Wait()
	byHandle := map[Handle]string{}
	for _, hs := range handles {
		for _, h := range hs {
			v := in.Value(h)
			if h2, ok := in.Lookup(v); !ok || h2 != h {
				t.Fatalf("%q: handle %d, Lookup %d %v", v, h, h2, ok)
			}
			byHandle[h] = v
		}
	}
	if in.Len() != len(byHandle) {
		t.Fatalf("Len = %d, %d distinct handles", in.Len(), len(byHandle))
	}
}

// TestInternerPut checks that Put's values are copies of their own: read
// back unchanged, long ones too, never found by Lookup nor shared with an
// equal interned value, and that they leave the table alone.
func TestInternerPut(t *testing.T) {
	in := NewInterner()
	a := in.Handle("<a@x>")
	buf := []byte("<a@x>")
	p := in.Put(buf)
	buf[1] = 'Z'
	long := strings.Repeat("l", maxArenaValue+1)
	pl := in.Put([]byte(long))
	for _, tc := range []struct {
		name string
		h    Handle
		want string
	}{
		{"equal to an interned value", p, "<a@x>"},
		{"long", pl, long},
		{"empty", in.Put(nil), ""},
		{"the interned value", a, "<a@x>"},
	} {
		if got := in.Value(tc.h); got != tc.want {
			t.Errorf("%s: Value = %q, want %q", tc.name, got, tc.want)
		}
	}
	if p == a || in.Put([]byte("<a@x>")) == p {
		t.Error("a Put value shares a handle")
	}
	if h, ok := in.Lookup("<a@x>"); !ok || h != a {
		t.Errorf("Lookup found %d %v, want the interned %d", h, ok, a)
	}
	if _, ok := in.Lookup(long); ok || in.Len() != 1 {
		t.Errorf("Put values in the table: Len %d", in.Len())
	}
}

// TestInternerWords fills the dictionary past MaxWords and compares with
// a Go map: a word keeps its index, indexes are dense from 0, a new word
// is refused once the dictionary is full and known words still found.
func TestInternerWords(t *testing.T) {
	for _, h := range []struct {
		name string
		hash func(string) uint64
	}{{"maphash", nil}, {"constant", func(string) uint64 { return 3 }}} {
		t.Run(h.name, func(t *testing.T) {
			in := NewInterner()
			if h.hash != nil {
				in.hash = h.hash
			}
			n := MaxWords + 10
			if h.hash != nil {
				n = 300 // a constant hash makes every probe run the whole table
			}
			want := map[string]uint32{}
			for i := range n {
				for _, w := range []string{fmt.Sprintf("w%d", i), fmt.Sprintf("w%d", i/2)} {
					got, ok := in.Word(w)
					idx, known := want[w]
					switch {
					case known && (!ok || got != idx):
						t.Fatalf("%q: %d %v, want %d", w, got, ok, idx)
					case !known && ok != (len(want) < MaxWords):
						t.Fatalf("%q: added %v with %d words", w, ok, len(want))
					case !known && ok && got != uint32(len(want)):
						t.Fatalf("%q: index %d, want %d", w, got, len(want))
					case !known && ok:
						want[w] = got
					}
				}
			}
			for w, i := range want {
				if got, ok := in.WordAt(i); !ok || got != w {
					t.Fatalf("WordAt(%d) = %q %v, want %q", i, got, ok, w)
				}
			}
			if _, ok := in.WordAt(uint32(len(want))); ok {
				t.Fatal("WordAt past the dictionary")
			}
			for _, w := range []string{"", strings.Repeat("x", maxWordLen+1)} {
				if _, ok := in.Word(w); ok {
					t.Fatalf("Word(%q) taken", w)
				}
			}
			if in.Len() != 0 {
				t.Fatalf("words in the table of values: Len %d", in.Len())
			}
		})
	}
}

// TestInternerCheck checks handles from corrupted data: every stored
// value's handle and NoHandle are found, handles past the arena, the long
// values or a chunk's end are not, and none panics.
func TestInternerCheck(t *testing.T) {
	in := NewInterner()
	vals := map[Handle]string{NoHandle: ""}
	for i := range 300 {
		v := fmt.Sprintf("<%d@example.com>", i)
		vals[in.Handle(v)] = v
	}
	long := strings.Repeat("l", maxArenaValue+1)
	vals[in.Handle(long)] = long
	for h, v := range vals {
		if got, ok := in.Check(h); !ok || got != v {
			t.Fatalf("Check(%x) = %q %v, want %q", h, got, ok, v)
		}
	}
	last := len(in.chunks) - 1
	for _, h := range []Handle{
		Handle(len(in.chunks) << chunkBits),
		Handle(last<<chunkBits | len(in.chunks[last])),
		Handle(longBit | 1),
		longBit - 1,
	} {
		if got, ok := in.Check(h); ok {
			t.Errorf("Check(%x) = %q, true", h, got)
		}
	}
	for h := range Handle(1 << (chunkBits + 1)) { // every place of two chunks
		in.Check(h)
	}
}

// TestHandleBytes checks that HandleBytes gives Handle's handle, copies a
// new value (the caller's buffer is reused) and allocates nothing for a
// value held.
func TestHandleBytes(t *testing.T) {
	in := NewInterner()
	a := in.Handle("<a@x>")
	buf := []byte("<a@x>")
	if got := in.HandleBytes(buf); got != a {
		t.Errorf("HandleBytes of a value held = %v, Handle %v", got, a)
	}
	if got := in.HandleBytes(nil); got != NoHandle {
		t.Errorf("HandleBytes(nil) = %v, want NoHandle", got)
	}
	b := in.HandleBytes(append(buf[:0], "<b@x>"...))
	copy(buf, "<zzzz")
	if got := in.Value(b); got != "<b@x>" {
		t.Errorf("a new value reads back %q after its buffer changed", got)
	}
	if h := in.Handle("<b@x>"); h != b {
		t.Errorf("Handle %v, HandleBytes %v", h, b)
	}
	key := []byte("<a@x>")
	if n := testing.AllocsPerRun(100, func() { in.HandleBytes(key) }); n != 0 {
		t.Errorf("%v allocations per HandleBytes of a value held", n)
	}
}
