// Command gofloor measures the floor of a Go IMAP load generator built as
// mailsim is, one goroutine per connection: CONNS goroutines each log in,
// SELECT INBOX and send NOOPs one at a time, paced to RATE commands a
// second in all, sleeping after every BURST commands, and it prints the
// process's CPU (user+system, getrusage) per NOOP. No simulation, no
// parsing beyond the tagged reply, no metrics: what is left is the round
// trip, the goroutines' parking and waking, the timers and Go's scheduler
// and netpoller. docs/performance.md ("The Go floor") compares it with
// imaptest and mailsim at the same rate.
//
// Usage (a private Dovecot from scripts/dovecot.sh, users user1..userN):
//
//	go run ./scripts/gofloor -addr 127.0.0.1:PORT [-conns 20] [-rate 1600] [-burst 1] [-d 15s] [-pass pass] [-blocking]
//
// -blocking sends the NOOPs by blocking write(2) and read(2) on a
// blocking duplicate of each socket, a thread parked in the kernel per
// waiting connection instead of Go's netpoller (docs/performance.md, "The
// Go floor": it costs more).
//
// It talks to loopback IP addresses only. -rate 1e6 sends without sleeping
// (a closed loop: each connection as fast as the server answers).
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "", "the IMAP server, host:port on loopback (required)")
	conns := flag.Int("conns", 20, "connections, one goroutine each, as users user1..userN")
	rate := flag.Float64("rate", 1600, "NOOPs a second, all connections together")
	burst := flag.Int("burst", 1, "NOOPs sent back to back between two sleeps")
	dur := flag.Duration("d", 15*time.Second, "how long to send")
	pass := flag.String("pass", "pass", "every user's password")
	blocking := flag.Bool("blocking", false, "send the NOOPs by blocking read(2) and write(2), not through Go's netpoller")
	flag.Parse()
	if err := check(*addr, *conns, *rate, *burst, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "gofloor:", err)
		os.Exit(2)
	}
	var sent atomic.Int64
	var firstErr error
	var errOnce sync.Once
	// The connections log in and select first; the clock, the CPU reading
	// and the sending window start when all are ready, so that neither
	// the rate nor the CPU per NOOP counts the setup.
	setup, cancel := context.WithTimeout(context.Background(), *dur+time.Minute)
	defer cancel()
	var ready sync.WaitGroup
	ready.Add(*conns)
	begin := make(chan struct{})
	var send context.Context // set before begin closes
	// Each connection sends its share of the rate, a burst every gap.
	gap := time.Duration(float64(time.Second) * float64(*conns) * float64(*burst) / *rate)
	var wg sync.WaitGroup
	for i := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := session(setup, *addr, fmt.Sprintf("user%d", i+1), *pass, *burst, gap, *blocking, &sent, ready.Done, begin, &send); err != nil {
				errOnce.Do(func() { firstErr = err })
				cancel()
			}
		}()
	}
	ready.Wait()
	start, cpu0 := time.Now(), cpuTime()
	sendCtx, stopSending := context.WithTimeout(setup, *dur)
	defer stopSending()
	send = sendCtx
	close(begin)
	wg.Wait()
	used, wall := cpuTime()-cpu0, time.Since(start)
	if firstErr != nil {
		fmt.Fprintln(os.Stderr, "gofloor:", firstErr)
		os.Exit(1)
	}
	n := sent.Load()
	if n == 0 {
		fmt.Fprintln(os.Stderr, "gofloor: no NOOP was answered")
		os.Exit(1)
	}
	got := float64(n) / wall.Seconds()
	fmt.Printf("noops %d  rate %.0f/s  cpu %.2f s  µs/command %.1f  (GOMAXPROCS from the environment)\n",
		n, got, used.Seconds(), float64(used.Microseconds())/float64(n))
	if got < 0.9**rate {
		fmt.Printf("note: the rate reached is under 90 %% of -rate %.0f: the server (or the machine) did not keep up, and CPU per command at a lower rate is higher\n", *rate)
	}
}

// check refuses what gofloor does not do: anything but loopback, and
// settings out of range.
func check(addr string, conns int, rate float64, burst int, dur time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: only loopback IP addresses (127.0.0.1, ::1)", addr)
	}
	switch {
	case conns < 1 || conns > 10000:
		return errors.New("-conns: want 1 to 10000")
	case rate < 1 || rate > 1e6:
		return errors.New("-rate: want 1 to 1e6")
	case burst < 1 || burst > 1000:
		return errors.New("-burst: want 1 to 1000")
	case dur <= 0 || dur > time.Hour:
		return errors.New("-d: want above 0, at most an hour")
	}
	return nil
}

// session logs in as user and selects INBOX within ctx, calls ready
// (once, also on failure), waits for begin and then sends NOOPs until
// *send ends, burst at a time, a burst every gap, counting each answered
// one in sent; by blocking system calls when blocking is set.
func session(ctx context.Context, addr, user, pass string, burst int, gap time.Duration, blocking bool, sent *atomic.Int64,
	ready func(), begin <-chan struct{}, send *context.Context) error {
	readyOnce := sync.OnceFunc(ready)
	defer readyOnce()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	tag := 0
	cmd := func(line string) error {
		tag++
		t := "a" + strconv.Itoa(tag)
		// Ten seconds a command, never past the run's end.
		dl := time.Now().Add(10 * time.Second)
		if end, ok := ctx.Deadline(); ok && end.Before(dl) {
			dl = end
		}
		c.SetDeadline(dl)
		w.WriteString(t + " " + line + "\r\n")
		if err := w.Flush(); err != nil {
			return err
		}
		for {
			l, err := r.ReadSlice('\n')
			if err != nil {
				return fmt.Errorf("%s: %s: %w", user, line, err)
			}
			if len(l) > len(t) && string(l[:len(t)]) == t && l[len(t)] == ' ' {
				if rest := string(l[len(t)+1:]); !strings.HasPrefix(rest, "OK") {
					return fmt.Errorf("%s: %s: %s", user, line, strings.TrimSpace(rest))
				}
				return nil
			}
		}
	}
	if _, err := r.ReadSlice('\n'); err != nil {
		return fmt.Errorf("%s: greeting: %w", user, err)
	}
	if err := cmd("LOGIN " + user + " " + pass); err != nil {
		return err
	}
	if err := cmd("SELECT INBOX"); err != nil {
		return err
	}
	readyOnce()
	select {
	case <-begin:
	case <-ctx.Done():
		return nil
	}
	ctx = *send // the sending window: cmd's deadlines end with it too
	stopSend := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stopSend()
	if blocking {
		bcmd, closeFD, err := blockingNOOP(c, user, &tag)
		if err != nil {
			return err
		}
		defer closeFD()
		cmd = bcmd
	}
	next := time.Now()
	for ctx.Err() == nil {
		for range burst {
			if ctx.Err() != nil {
				return nil
			}
			if err := cmd("NOOP"); err != nil {
				// The window's end cut it: the socket's deadline is the
				// window's, and may pass before ctx says so.
				if end, _ := ctx.Deadline(); ctx.Err() != nil || !time.Now().Before(end) {
					return nil
				}
				return err
			}
			sent.Add(1)
		}
		next = next.Add(gap)
		if wait := time.Until(next); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	return nil
}

// blockingNOOP returns a command function that writes a command and
// reads its reply by blocking system calls on a blocking duplicate of c's
// socket (the descriptor's O_NONBLOCK is shared with c's, which is not used
// for I/O afterwards), with a 2 s receive timeout (SO_RCVTIMEO) as the
// deadline, and the duplicate's close. A reply is taken as complete when a
// read ends a line and the bytes read hold the command's tag.
func blockingNOOP(c net.Conn, user string, tag *int) (func(string) error, func(), error) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, nil, errors.New("-blocking: not a TCP connection")
	}
	sc, err := tc.SyscallConn()
	if err != nil {
		return nil, nil, fmt.Errorf("-blocking: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := sc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return nil, nil, fmt.Errorf("-blocking: %w", err)
	}
	if derr != nil {
		return nil, nil, fmt.Errorf("-blocking: dup: %w", derr)
	}
	closeFD := func() { syscall.Close(fd) }
	tv := syscall.Timeval{Sec: 2}
	if err := syscall.SetNonblock(fd, false); err != nil {
		closeFD()
		return nil, nil, fmt.Errorf("-blocking: %w", err)
	}
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		closeFD()
		return nil, nil, fmt.Errorf("-blocking: SO_RCVTIMEO: %w", err)
	}
	buf := make([]byte, 4096)
	return func(line string) error {
		*tag++
		t := "a" + strconv.Itoa(*tag) + " "
		tb := []byte(t)
		out := []byte(t + line + "\r\n")
		for len(out) > 0 {
			n, err := syscall.Write(fd, out)
			if err == syscall.EINTR { // Go's preemption signal
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %s: %w", user, line, err)
			}
			out = out[n:]
		}
		have := 0
		for {
			n, err := syscall.Read(fd, buf[have:])
			switch {
			case err == syscall.EINTR:
				continue
			case err != nil:
				return fmt.Errorf("%s: %s: %w", user, line, err)
			case n == 0:
				return fmt.Errorf("%s: %s: the server closed the connection", user, line)
			}
			have += n
			got := buf[:have]
			if i := bytes.Index(got, tb); got[have-1] == '\n' && (i == 0 || i > 0 && got[i-1] == '\n') {
				if reply := got[i+len(tb):]; !bytes.HasPrefix(reply, []byte("OK")) {
					return fmt.Errorf("%s: %s: %s", user, line, bytes.TrimSpace(reply))
				}
				return nil
			}
			if have == len(buf) { // untagged lines only: drop them
				have = 0
			}
		}
	}, closeFD, nil
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
