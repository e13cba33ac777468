package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// profileFlags are --cpuprofile and --memprofile of "mailsim run" and
// "mailsim capacity": Go profiles of the harness itself, for
// "go tool pprof" (docs/performance.md).
type profileFlags struct {
	cpu, mem string
}

// register adds the flags to fs.
func (p *profileFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile of the harness to this file (go tool pprof)")
	fs.StringVar(&p.mem, "memprofile", "", "write a heap profile of the harness, taken when the command ends, to this file (go tool pprof)")
}

// profiling is a started set of profiles.
type profiling struct {
	cpu, mem *os.File
}

// start creates the profile files, so that a bad path fails before the
// run, and starts the CPU profile.
func (p profileFlags) start() (*profiling, error) {
	var pr profiling
	if p.mem != "" {
		fh, err := os.Create(p.mem)
		if err != nil {
			return nil, fmt.Errorf("--memprofile: %w", err)
		}
		pr.mem = fh
	}
	if p.cpu != "" {
		fh, err := os.Create(p.cpu)
		if err != nil {
			pr.closeMem()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(fh); err != nil {
			fh.Close()
			pr.closeMem()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		pr.cpu = fh
	}
	return &pr, nil
}

// closeMem closes the heap profile's file without writing it.
func (pr *profiling) closeMem() {
	if pr.mem != nil {
		pr.mem.Close()
		pr.mem = nil
	}
}

// stop ends the CPU profile and writes the heap profile (after a GC, so
// that it shows live data as of the end of the command).
func (pr *profiling) stop() error {
	var errs []error
	if pr.cpu != nil {
		pprof.StopCPUProfile()
		if err := pr.cpu.Close(); err != nil {
			errs = append(errs, fmt.Errorf("--cpuprofile: %w", err))
		}
	}
	if pr.mem != nil {
		runtime.GC()
		err := pprof.Lookup("heap").WriteTo(pr.mem, 0)
		if cerr := pr.mem.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--memprofile: %w", err))
		}
	}
	return errors.Join(errs...)
}

// finish stops the profiles and returns the command's exit code: code,
// or exitFailure instead of exitOK when a profile could not be written.
func (pr *profiling) finish(cmd string, stderr io.Writer, code int) int {
	if err := pr.stop(); err != nil {
		fmt.Fprintf(stderr, "mailsim %s: %v\n", cmd, err)
		if code == exitOK {
			code = exitFailure
		}
	}
	return code
}

// profiled runs body between starting and stopping the profiles named by
// p. A profile file that cannot be created is a bad command line
// (exitScenario); one that cannot be written turns a successful exit code
// into exitFailure.
func profiled(p profileFlags, cmd string, stderr io.Writer, body func() int) int {
	pr, err := p.start()
	if err != nil {
		fmt.Fprintf(stderr, "mailsim %s: %v\n", cmd, err)
		return exitScenario
	}
	return pr.finish(cmd, stderr, body())
}
