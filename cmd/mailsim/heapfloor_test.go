package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestHeapFloorFlag(t *testing.T) {
	tests := []struct {
		v    string
		ok   bool
		want uint64
	}{
		{"32MiB", true, 32 << 20},
		{"64mb", true, 64e6},
		{"0", true, 0},
		{"1048576", true, 1 << 20},
		{"-1MiB", false, 0},
		{"big", false, 0},
		{"", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.v, func(t *testing.T) {
			h := heapFloorFlag{v: tc.v}
			if errs := h.Validate(); (len(errs) == 0) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", errs, tc.ok)
			}
			if n, _ := h.bytes(); tc.ok && n != tc.want {
				t.Errorf("bytes() = %d, want %d", n, tc.want)
			}
		})
	}
}

// TestHeapFloorFlagStart checks that stopping --heap-floor puts back the
// GOGC the process had, and that 0 leaves it alone. Not parallel: GOGC is
// the test process's.
func TestHeapFloorFlagStart(t *testing.T) {
	found := debug.SetGCPercent(100)
	debug.SetGCPercent(found)
	for _, v := range []string{"0", "1GiB"} {
		heapFloorFlag{v: v}.start()()
		if got := debug.SetGCPercent(found); got != found {
			t.Errorf("--heap-floor %s: GOGC %d after, want %d", v, got, found)
		}
	}
}

// TestHeapFloorFlagRefused checks that a bad --heap-floor is a bad
// command line (exit 2, the flag named) for run and capacity, before
// anything runs.
func TestHeapFloorFlagRefused(t *testing.T) {
	for _, args := range [][]string{
		{"run", "quickstart", "--quiet", "--heap-floor", "lots"},
		{"capacity", "quickstart", "--quiet", "--heap-floor", "-5"},
	} {
		res := mailsim(args...)
		if res.code != exitScenario || !strings.Contains(res.stderr, "--heap-floor") || res.stdout != "" {
			t.Errorf("%v: want exit %d naming --heap-floor, got %s", args, exitScenario, res)
		}
	}
}
