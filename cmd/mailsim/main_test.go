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
// loopback and wait on simulated time, not on the CPU: the whole test
// process used 0.3–0.4 of a core under -race while six to eight of them
// ran (docs/architecture.md, "Tests: what runs at once"); at one per core
// the package spent most of its ten minutes waiting. Three rather than
// four: more runs at once leave less slack to the runs that have little
// (a fault injected at a fixed time, an exporter scraped within a
// deadline), which failed at four per core on a machine loaded by other
// builds. The tests that measure the harness's or the server's CPU or
// latency (the capacity searches with the harness guard or 1–2 s steps),
// change GOMAXPROCS, count goroutines, profile the process or set
// environment variables do not call t.Parallel, so they still run alone;
// each in-process run's --procs auto sizes the process's GOMAXPROCS to the
// load of every run in it (internal/harnessmon/procs.go).
const parallelPerCore = 3

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
