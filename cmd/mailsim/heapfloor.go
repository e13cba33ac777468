package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/mailsim/mailsim/internal/harnessmon"
	"github.com/mailsim/mailsim/scenarios"
)

// heapFloorFlag is --heap-floor of "mailsim run" and "mailsim capacity":
// the GC heap goal the harness keeps while its live heap is under half of
// it (harnessmon.FloorHeap), so that a small population is not collected
// every few MiB it allocates; 0 leaves Go's own pacing (docs/performance.md,
// "A heap floor (2026-12-04)").
type heapFloorFlag struct {
	v string
}

// register adds the flag to fs with its default,
// harnessmon.DefaultHeapFloor.
func (h *heapFloorFlag) register(fs *flag.FlagSet) {
	fs.StringVar(&h.v, "heap-floor", fmt.Sprintf("%dMiB", harnessmon.DefaultHeapFloor>>20), "the GC heap goal the harness keeps while its live heap is under half of it (fewer collections for a small population; 0: Go's default pacing)")
}

// bytes returns the floor in bytes.
func (h heapFloorFlag) bytes() (uint64, error) {
	n, err := scenarios.ParseSize(h.v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("--heap-floor %q: want a size such as 32MiB, or 0", h.v)
	}
	return uint64(n), nil
}

// Validate reports a --heap-floor that is no size.
func (h heapFloorFlag) Validate() []error {
	if _, err := h.bytes(); err != nil {
		return []error{err}
	}
	return nil
}

// start applies --heap-floor until stop is called, which puts back the
// GOGC the process had. h must be valid.
func (h heapFloorFlag) start() (stop func()) {
	n, _ := h.bytes()
	if n == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		harnessmon.FloorHeap(ctx, n)
	}()
	return func() { cancel(); <-done }
}
