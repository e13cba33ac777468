package view

import (
	"fmt"
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
