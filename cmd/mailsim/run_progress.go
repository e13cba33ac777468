package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/metrics"
)

// progress prints a live status line on a terminal.
type progress struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress starts the status line when w is a terminal and quiet is
// false; otherwise it prints one line per phase change.
func startProgress(ctx context.Context, eng *engine.Engine, client *metrics.Client, w io.Writer, quiet bool) *progress {
	ctx, cancel := context.WithCancel(ctx)
	p := &progress{cancel: cancel}
	if quiet {
		return p
	}
	tty := isTerminal(w)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastPhase engine.Phase
		var lastCmds uint64
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
			st := eng.Status()
			var cmds, errs, dropped uint64
			for _, pt := range client.Totals().Protocols {
				cmds += pt.Commands
				errs += pt.Errors
				dropped += pt.Dropped
			}
			now := time.Now()
			rate := float64(cmds-lastCmds) / now.Sub(last).Seconds()
			lastCmds, last = cmds, now
			div := eng.Auditor().State().Overall
			line := fmt.Sprintf("%-11s wall %s  sim %s  users %d/%d  devices %d  cmds/s %.0f  errors %d  dropped %d  delivered %d  sent %d  divergence %.3f",
				st.Phase, st.Wall.Round(time.Second), st.Simulated.Round(time.Minute), st.UsersStarted, st.Users, st.Devices,
				rate, errs, dropped, st.Delivered, st.Sent, div.Ratio())
			switch {
			case tty:
				fmt.Fprintf(w, "\r\033[K%s", line)
			case st.Phase != lastPhase:
				fmt.Fprintln(w, line)
			}
			lastPhase = st.Phase
		}
	}()
	return p
}

// stop ends the status line.
func (p *progress) stop() {
	p.cancel()
	p.wg.Wait()
}
