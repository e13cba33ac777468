package main

import (
	"runtime"
	"testing"
)

func TestProcsFlagValidate(t *testing.T) {
	tests := []struct {
		v    string
		ok   bool
		want int
	}{
		{"auto", true, 0},
		{"1", true, 1},
		{"3", true, 3},
		{"0", false, 0},
		{"-2", false, 0},
		{"two", false, 0},
		{"", false, 0},
	}
	for _, tc := range tests {
		t.Run(tc.v, func(t *testing.T) {
			p := procsFlag{v: tc.v}
			if errs := p.Validate(); (len(errs) == 0) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", errs, tc.ok)
			}
			if n, _ := p.n(); tc.ok && n != tc.want {
				t.Errorf("n() = %d, want %d", n, tc.want)
			}
		})
	}
}

// TestProcsFlagStart checks that a fixed --procs sets GOMAXPROCS while
// the command runs and puts back the process's value after it. Not
// parallel: GOMAXPROCS is the test process's.
func TestProcsFlagStart(t *testing.T) {
	found := runtime.GOMAXPROCS(0)
	cores, stop := procsFlag{v: "1"}.start()
	if got := runtime.GOMAXPROCS(0); got != 1 || cores != 1 {
		t.Errorf("--procs 1: GOMAXPROCS %d, cores %d; want 1, 1", got, cores)
	}
	stop()
	if got := runtime.GOMAXPROCS(0); got != found {
		t.Errorf("after the command GOMAXPROCS is %d, want %d", got, found)
	}
	cores, stop = procsFlag{v: procsAuto}.start()
	stop()
	if got := runtime.GOMAXPROCS(0); got != found || cores != min(found, runtime.NumCPU()) {
		t.Errorf("auto: GOMAXPROCS %d after, cores %d; want %d, %d", got, cores, found, min(found, runtime.NumCPU()))
	}
}
