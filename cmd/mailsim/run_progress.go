package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/metrics"
)

// progress prints a live status line on a terminal.
type progress struct {
	cancel context.CancelFunc
	// stopped is closed by stop: the run returned, print the last line.
	stopped chan struct{}
	// wall is the run's wall time stop was given (its report's
	// wall_seconds; 0: none), set before stopped is closed.
	wall time.Duration
	wg   sync.WaitGroup
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

// liveFigures are what the status line shows: the engine's snapshot, the
// clients' totals, the command rate since the last line and the latest
// periodic audit's divergence.
type liveFigures struct {
	st     engine.Status
	totals metrics.Totals
	rate   float64
	div    float64
}

// statusLine is the live status line of f, in the summary's words
// (internal/report/summary.go): the phase, the wall time, the users
// started (of the plan's, while they ramp up), the commands per second
// and their errors (dropped by the simulated network when any), the mail
// delivered and the injector's deliveries that failed (abandoned ones
// when the run's end left any), the mail sent and the devices'
// submissions that failed or got no reply (cut when the run's end cut
// any), the actions given up (the summary's actions line), and the divergence. What failures cost
// stays on it as 0 in a run without trouble (a 0 is a figure too). Not
// on it: lost mail, which needs the server's state the final audit reads,
// and the simulated time (the wall time times time_scale); docs/report.md,
// "The live status line". It fits 160 columns for a run of 10000 users
// with five-digit mail counts, four-digit command errors and three-digit
// failures of the rest while nothing was dropped, abandoned or cut
// (TestStatusLine); those, shown only when not 0, lengthen it (to about
// 200 columns with all three).
func statusLine(f liveFigures) string {
	st := f.st
	var errs, dropped uint64
	for _, pt := range f.totals.Protocols {
		errs += pt.Errors
		dropped += pt.Dropped
	}
	users := strconv.Itoa(st.UsersStarted)
	if st.UsersStarted < st.Users {
		users += "/" + strconv.Itoa(st.Users)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-11s wall %s  users %s  cmds/s %.0f errors %d", st.Phase, shortDuration(st.Wall), users, f.rate, errs)
	if dropped > 0 {
		fmt.Fprintf(&b, " dropped %d", dropped)
	}
	fmt.Fprintf(&b, "  delivered %d failed %d", st.Delivered, st.DeliveriesFailed)
	if st.DeliveriesAbandoned > 0 {
		fmt.Fprintf(&b, " abandoned %d", st.DeliveriesAbandoned)
	}
	s := st.Submissions
	fmt.Fprintf(&b, "  sent %d failed %d unanswered %d", st.Sent, s.Failed, s.Unanswered)
	if s.Cut > 0 {
		fmt.Fprintf(&b, " cut %d", s.Cut)
	}
	fmt.Fprintf(&b, "  given up %d  divergence %.3f", st.ActionsDropped, f.div)
	return b.String()
}

// shortDuration is d to the second, without a zero seconds field past a
// minute nor a zero minutes field then past an hour ("1h", "1h30m",
// "5m", "1m30s", "42s"); only a whole field goes, never a digit of one.
func shortDuration(d time.Duration) string {
	s := d.Round(time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// startProgress starts the status line when w is a terminal and quiet is
// false; otherwise it prints one line per phase change, and one more when
// stopped, with the run's figures as its summary gives them.
func startProgress(ctx context.Context, eng *engine.Engine, client *metrics.Client, w io.Writer, quiet bool) *progress {
	ctx, cancel := context.WithCancel(ctx)
	p := &progress{cancel: cancel, stopped: make(chan struct{})}
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
		// figures reads the run's figures now: the command rate since
		// the last line, or, final, over the whole run (the summary's).
		figures := func(final bool) liveFigures {
			f := liveFigures{st: eng.Status(), totals: client.Totals(), div: eng.Auditor().State().Overall.Ratio()}
			var cmds uint64
			for _, pt := range f.totals.Protocols {
				cmds += pt.Commands
			}
			now := time.Now()
			dt := now.Sub(last).Seconds()
			if final {
				// The run's wall, as the summary's: the engine's
				// clock runs on through the final audit's read.
				if p.wall > 0 {
					f.st.Wall = p.wall
				}
				lastCmds, dt = 0, f.st.Wall.Seconds()
			}
			if dt > 0 {
				f.rate = float64(cmds-lastCmds) / dt
			}
			lastCmds, last = cmds, now
			return f
		}
		for {
			select {
			case <-ctx.Done():
				// Aborted: the run's figures are not final yet.
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-p.stopped:
				// The last line: the figures the summary gives, read
				// once the run has returned.
				line := statusLine(figures(true))
				if tty {
					fmt.Fprintf(w, "\r\033[K%s\n", line)
				} else {
					fmt.Fprintln(w, line)
				}
				return
			case <-t.C:
			}
			f := figures(false)
			line := statusLine(f)
			switch {
			case tty:
				fmt.Fprintf(w, "\r\033[K%s", line)
			case f.st.Phase != lastPhase && f.st.Phase != engine.PhaseDone:
				// The done line is the last one, printed once with the
				// run's final figures when stopped.
				fmt.Fprintln(w, line)
			}
			lastPhase = f.st.Phase
		}
	}()
	return p
}

// stop ends the status line: it prints the last one, with the figures of
// the run that returned.
func (p *progress) stop(wall time.Duration) {
	p.wall = wall
	close(p.stopped)
	p.wg.Wait()
	p.cancel()
}
