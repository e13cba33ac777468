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
// cores (GOMAXPROCS) the harness uses. "auto", the default, sizes it to
// the harness's load (harnessmon.SizeProcs: one P while the harness keeps
// under half a core, more as it gets busier, up to the GOMAXPROCS the
// process started with); a number fixes it (docs/performance.md,
// "Parallelism").
type procsFlag struct {
	v string
}

// procsAuto is --procs's value for sizing to the load.
const procsAuto = "auto"

// register adds the flag to fs.
func (p *procsFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&p.v, "procs", procsAuto, "cores (GOMAXPROCS) the harness uses: auto (one while the harness keeps under half a core, more as it gets busier, up to the machine's) or a number")
}

// n returns the fixed number of --procs, 0 for auto.
func (p procsFlag) n() (int, error) {
	if p.v == procsAuto {
		return 0, nil
	}
	n, err := strconv.Atoi(p.v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--procs %q: want auto or a number of cores from 1", p.v)
	}
	return n, nil
}

// Validate reports a --procs that is neither auto nor a positive number.
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
