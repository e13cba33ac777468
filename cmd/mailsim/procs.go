package main

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"strconv"

	"github.com/mailsim/mailsim/internal/harnessmon"
)

// procsFlag is --procs of "mailsim run" and "mailsim capacity": how many
// cores (GOMAXPROCS) the harness uses. "auto" sizes it to the harness's
// load (harnessmon.SizeProcs: one P while the harness keeps under half a
// core, more as it gets busier, up to the GOMAXPROCS the process started
// with); "all" leaves Go's default (the cores); a number fixes it
// (docs/performance.md, "Parallelism").
type procsFlag struct {
	v string
}

// --procs's values besides a number.
const (
	procsAuto = "auto"
	procsAll  = "all"
)

// register adds the flag to fs with its default, procsAuto or procsAll.
func (p *procsFlag) register(fs *flag.FlagSet, def string) {
	fs.StringVar(&p.v, "procs", def, "cores (GOMAXPROCS) the harness uses: auto (one while the harness keeps under half a core, more as it gets busier), all (the machine's) or a number")
}

// n returns the fixed number of --procs, 0 for auto and -1 for all.
func (p procsFlag) n() (int, error) {
	switch p.v {
	case procsAuto:
		return 0, nil
	case procsAll:
		return -1, nil
	}
	n, err := strconv.Atoi(p.v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--procs %q: want auto, all or a number of cores from 1", p.v)
	}
	return n, nil
}

// Validate reports a --procs that is not auto, all or a positive number.
func (p procsFlag) Validate() []error {
	if _, err := p.n(); err != nil {
		return []error{err}
	}
	return nil
}

// start applies --procs until stop is called (which puts back the
// GOMAXPROCS the process had) and returns the cores the harness may use,
// for harnessmon.Options.Cores. p must be valid.
func (p procsFlag) start() (cores int, stop func()) {
	found := runtime.GOMAXPROCS(0)
	n, _ := p.n()
	if n < 0 {
		return harnessmon.Cores(found), func() {}
	}
	if n > 0 {
		runtime.GOMAXPROCS(n)
		return harnessmon.Cores(n), func() { runtime.GOMAXPROCS(found) }
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		harnessmon.SizeProcs(ctx, found)
	}()
	return harnessmon.Cores(found), func() { cancel(); <-done }
}
