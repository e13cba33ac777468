package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
)

// parallelPerCore is how many tests of this package run at once per core
// when the command line does not set -parallel (go test's default is one
// per core). Most tests here run scenarios against private servers on
// loopback and wait on simulated time, not on the CPU: a shortened run
// keeps the test process at 0.1–0.3 of a core under -race for 10–60 s of
// wall time (docs/testing.md has the measurement). At one test per core
// the package spent about ten minutes mostly waiting. The tests that
// measure the harness's or the server's CPU, change GOMAXPROCS, count
// goroutines or set environment variables do not call t.Parallel, so they
// still run alone; the run's --procs auto sizes GOMAXPROCS to the load of
// every run in the process (internal/harnessmon/procs.go).
const parallelPerCore = 4

// TestMain runs the package's tests with parallelPerCore tests per core
// unless -parallel is given, and removes the mailsim binary the process
// tests share (buildMailsim) at the end.
func TestMain(m *testing.M) {
	flag.Parse()
	if err := defaultParallel(flag.CommandLine, parallelPerCore*runtime.GOMAXPROCS(0)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	code := m.Run()
	removeMailsimBinary()
	os.Exit(code)
}

// defaultParallel sets fs's test.parallel (the testing package's
// -parallel) to n unless fs's command line set it.
func defaultParallel(fs *flag.FlagSet, n int) error {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "test.parallel" {
			set = true
		}
	})
	if set {
		return nil
	}
	if err := fs.Set("test.parallel", strconv.Itoa(n)); err != nil {
		return fmt.Errorf("setting -test.parallel: %w", err)
	}
	return nil
}

// TestDefaultParallel: without -parallel on the command line the
// package's tests run n at a time; an explicit -parallel is kept.
func TestDefaultParallel(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want int
	}{
		{"default", nil, 8},
		{"explicit", []string{"-test.parallel", "3"}, 3},
		{"explicit default", []string{"-test.parallel=2"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			p := fs.Int("test.parallel", 2, "")
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if err := defaultParallel(fs, 8); err != nil {
				t.Fatal(err)
			}
			if *p != tt.want {
				t.Errorf("parallel %d, want %d", *p, tt.want)
			}
		})
	}
}
