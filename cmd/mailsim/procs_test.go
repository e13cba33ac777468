package main

import (
	"runtime"
	"strings"
	"testing"
)

func TestProcsFlagValidate(t *testing.T) {
	tests := []struct {
		v    string
		ok   bool
		want int
	}{
		{"auto", true, 0},
		{"all", true, -1},
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
	for _, v := range []string{procsAuto, procsAll} {
		cores, stop = procsFlag{v: v}.start()
		stop()
		if got := runtime.GOMAXPROCS(0); got != found || cores != min(found, runtime.NumCPU()) {
			t.Errorf("%s: GOMAXPROCS %d after, cores %d; want %d, %d", v, got, cores, found, min(found, runtime.NumCPU()))
		}
	}
}

// TestProcsFlagRefused checks that a bad --procs is a bad command line
// (exit 2, the flag named) for run and capacity, before anything runs.
func TestProcsFlagRefused(t *testing.T) {
	for _, args := range [][]string{
		{"run", "quickstart", "--quiet", "--procs", "0"},
		{"capacity", "quickstart", "--quiet", "--procs", "many"},
	} {
		res := mailsim(args...)
		if res.code != exitScenario || !strings.Contains(res.stderr, "--procs") || res.stdout != "" {
			t.Errorf("%v: want exit %d naming --procs, got %s", args, exitScenario, res)
		}
	}
}
