package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
)

// The tests in this file run the mailsim binary and interrupt it, as a user
// pressing ^C does: the first SIGINT stops the people, settles briefly and
// writes every report; a second one aborts.

// exitLimit bounds how long an interrupted run may take to exit before the
// test kills it and fails.
const exitLimit = 60 * time.Second

// buildTimeout bounds the one "go build" of the mailsim binary.
const buildTimeout = 10 * time.Minute

// mailsimBinary is the mailsim binary the tests that run it as a process
// share: built once per test process, on first use, into a temporary
// directory TestMain removes (removeMailsimBinary). Every test runs it
// with its own arguments and working directory; nothing in the binary's
// directory changes after the build.
var mailsimBinary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// buildMailsim returns the path of the mailsim binary, building it on the
// first call in the process.
func buildMailsim(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the mailsim binary")
	}
	b := &mailsimBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "mailsim-test-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "mailsim")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", b.path, ".").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// removeMailsimBinary removes the directory of the binary buildMailsim
// built, if it did.
func removeMailsimBinary() {
	if mailsimBinary.dir != "" {
		os.RemoveAll(mailsimBinary.dir)
	}
}

// runningMailsim is a mailsim process whose stderr is read line by line.
type runningMailsim struct {
	cmd    *exec.Cmd
	stdout bytes.Buffer
	mu     sync.Mutex
	stderr []string
	phase  chan string // the first word of each progress line
	done   chan error  // Wait's result
	start  time.Time
	// exited is set, by the test's goroutine, once done was received.
	exited bool
}

// startMailsim starts bin with args, stderr piped (not a terminal, so
// progress prints one line per phase change).
func startMailsim(t *testing.T, bin string, args ...string) *runningMailsim {
	t.Helper()
	r := &runningMailsim{phase: make(chan string, 16), done: make(chan error, 1)}
	r.cmd = exec.Command(bin, args...)
	r.cmd.Dir = t.TempDir()
	r.cmd.Stdout = &r.stdout
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.start = time.Now()
	var read sync.WaitGroup
	read.Add(1)
	go func() {
		defer read.Done()
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			r.mu.Lock()
			r.stderr = append(r.stderr, line)
			r.mu.Unlock()
			if f := strings.Fields(line); len(f) > 0 {
				select {
				case r.phase <- f[0]:
				default:
				}
			}
		}
	}()
	go func() {
		read.Wait() // Wait closes the pipe: read it to the end first
		r.done <- r.cmd.Wait()
	}()
	t.Cleanup(func() {
		if !r.exited {
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

func (r *runningMailsim) stderrText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.stderr, "\n")
}

// waitStderr waits until mailsim's stderr holds text, failing the test
// after limit (a liveness bound).
func (r *runningMailsim) waitStderr(t *testing.T, text string, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); !strings.Contains(r.stderrText(), text); {
		if time.Now().After(deadline) {
			t.Fatalf("stderr never said %q within %s:\n%s", text, limit, r.stderrText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPhase waits for a progress line starting with phase.
func (r *runningMailsim) waitPhase(t *testing.T, phase string) {
	t.Helper()
	timeout := time.NewTimer(exitLimit)
	defer timeout.Stop()
	for {
		select {
		case p := <-r.phase:
			if p == phase {
				return
			}
		case err := <-r.done:
			r.exited = true
			t.Fatalf("mailsim exited (%v) before the %q phase:\n%s", err, phase, r.stderrText())
		case <-timeout.C:
			t.Fatalf("no %q progress line within %s:\n%s", phase, exitLimit, r.stderrText())
		}
	}
}

// wait waits for the process to exit by itself, killing it after
// exitLimit, and returns its exit code and how long it ran.
func (r *runningMailsim) wait(t *testing.T) (int, time.Duration) {
	t.Helper()
	return r.waitWithin(t, exitLimit)
}

// waitWithin is wait with another limit.
func (r *runningMailsim) waitWithin(t *testing.T, limit time.Duration) (int, time.Duration) {
	t.Helper()
	timeout := time.NewTimer(limit)
	defer timeout.Stop()
	select {
	case err := <-r.done:
		r.exited = true
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("wait: %v", err)
		}
		if code := r.cmd.ProcessState.ExitCode(); code < 0 {
			t.Fatalf("mailsim was killed by a signal (%v):\n%s", r.cmd.ProcessState, r.stderrText())
		}
		return r.cmd.ProcessState.ExitCode(), time.Since(r.start)
	case <-timeout.C:
		_ = r.cmd.Process.Kill()
		<-r.done
		r.exited = true
		t.Fatalf("mailsim did not exit within %s of the interrupt:\n%s", limit, r.stderrText())
	}
	return 0, 0
}

// TestSignalStopsAndReports interrupts a 10-minute run once it is active:
// mailsim stops by itself, exits 1 (a threshold broke over what ran) or 4
// (they held over what ran, which is not a pass: never 0) and writes a
// JSON report that parses.
func TestSignalStopsAndReports(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	js := filepath.Join(t.TempDir(), "r.json")
	r := startMailsim(t, bin, "run", "quickstart", "--duration", "10m", "--settle", "2s", "--report", js, "--quiet=false")
	r.waitPhase(t, "active")
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, _ := r.wait(t)
	if code != exitFailure && code != exitThresholds {
		t.Errorf("exit %d after SIGINT, want %d or %d:\n%s", code, exitFailure, exitThresholds, r.stderrText())
	}
	stderr := r.stderrText()
	if !strings.Contains(stderr, "stopping") {
		t.Errorf("stderr does not say it is stopping:\n%s", stderr)
	}
	if strings.Contains(stderr, "aborting") {
		t.Errorf("one SIGINT aborted the run:\n%s", stderr)
	}
	rep := readReport(t, js)
	if v, _ := field(rep, "scenario"); v != "quickstart" {
		t.Errorf("report scenario %v", v)
	}
	if n := num(t, rep, "users"); n != 6 {
		t.Errorf("report users %v, want 6", n)
	}
	if !strings.Contains(r.stdout.String(), "Thresholds") {
		t.Errorf("no summary on stdout:\n%s", r.stdout.String())
	}
}

// TestSignalTwiceAborts interrupts a 10-minute run in its active phase,
// then makes its graceful end long: the IMAP server stops answering, so
// the final audit would wait on it for its read budget (67 s for 6 users;
// the settle after a stop is 3 s at most, too short to interrupt
// reliably). Once the final audit waits on the stalled server, the run
// still going, a second SIGINT aborts it: mailsim exits by itself, long
// before the budget would run out, with the report written, every user
// unchecked, and a failing exit status: 1 when the report's thresholds or
// validity checks fail on what ran, else 4 (the final audit's read was
// cut), never 0 (README, "Exit codes"; run.go).
func TestSignalTwiceAborts(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	target, addrs, proxy := stallableTarget(t, 6)
	js := filepath.Join(filepath.Dir(target), "r.json")
	r := startMailsim(t, bin, "run", "quickstart", "--target", target, "--duration", "10m", "--settle", "30s", "--report", js, "--quiet=false")
	r.waitPhase(t, "active")
	proxy.stall.Store(true)
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(t, "final")
	if stderr := r.stderrText(); !strings.Contains(stderr, "stopping") || strings.Contains(stderr, "aborting") {
		t.Fatalf("the first SIGINT did not start the graceful end:\n%s", stderr)
	}
	// Bounded wait until the final read is stuck on the stalled server:
	// the graceful end now lasts the read budget.
	deadline := time.Now().Add(exitLimit)
	for proxy.stalled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if proxy.stalled.Load() == 0 {
		t.Fatalf("the final audit did not reach the stalled server %s:\n%s", addrs.IMAP, r.stderrText())
	}
	select {
	case err := <-r.done:
		r.exited = true
		t.Fatalf("mailsim exited (%v) before the second SIGINT:\n%s", err, r.stderrText())
	default:
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Not a timing assertion on the abort itself: 30 s only proves it did
	// not wait out the budget.
	code, _ := r.waitWithin(t, 30*time.Second)
	if code != exitThresholds && code != exitFailure {
		t.Errorf("exit %d after the second SIGINT, want %d or %d:\n%s", code, exitThresholds, exitFailure, r.stderrText())
	}
	if stderr := r.stderrText(); !strings.Contains(stderr, "context canceled") {
		t.Errorf("the final audit's read was not cut by the abort:\n%s", stderr)
	}
	if stderr := r.stderrText(); !strings.Contains(stderr, "aborting") {
		t.Errorf("stderr does not say it is aborting:\n%s", stderr)
	}
	rep := readReport(t, js)
	if n := num(t, rep, "messages.users_unchecked"); n != 6 {
		t.Errorf("messages.users_unchecked %v, want 6 (no user's state was read)", n)
	}
	// The report says why the state was not read, not stderr alone.
	notes, _ := field(rep, "notes")
	if !strings.Contains(fmt.Sprint(notes), "the read was aborted by a second ^C or SIGTERM") {
		t.Errorf("the report's notes do not say the final read was aborted: %v", notes)
	}
}

// stallableTarget starts the embedded server with users user1…userN
// (password "pass") and a stallingProxy in front of its IMAP frontend, and
// writes a target file naming the proxy for IMAP and the server for POP3
// and LMTP. It returns the file's path, the server's addresses and the
// proxy.
func stallableTarget(t *testing.T, users int) (string, mailserver.Addrs, *stallingProxy) {
	t.Helper()
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	for i := 1; i <= users; i++ {
		if err := srv.AddUser(fmt.Sprintf("user%d", i), "pass"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	proxy := startStallingProxy(t, addrs.IMAP)
	target := filepath.Join(t.TempDir(), "target.yaml")
	y := fmt.Sprintf("target:\n  imap: %q\n  pop3: %q\n  delivery: {protocol: lmtp, addr: %q}\n", proxy.ln.Addr().String(), addrs.POP3, addrs.LMTP)
	if err := os.WriteFile(target, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return target, addrs, proxy
}

// stallingProxy forwards TCP connections to a backend until stall is set;
// from then on it accepts new connections and never answers them (a server
// that stops answering). Every connection ends with the test.
type stallingProxy struct {
	ln      net.Listener
	backend string
	stall   atomic.Bool
	stalled atomic.Int64 // connections held without an answer
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func startStallingProxy(t *testing.T, backend string) *stallingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallingProxy{ln: ln, backend: backend}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *stallingProxy) track(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
}

func (p *stallingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		// Bounded even if the cleanup never runs.
		_ = c.SetDeadline(time.Now().Add(2 * exitLimit))
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			if p.stall.Load() {
				p.stalled.Add(1)
				_, _ = io.Copy(io.Discard, c)
				return
			}
			b, err := net.DialTimeout("tcp", p.backend, 5*time.Second)
			if err != nil {
				return
			}
			p.track(b)
			defer b.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
			<-done
			c.Close()
			b.Close()
			<-done
		}()
	}
}

// TestSignalTwiceAbortsFinalAudit: the server stops answering as the run
// settles, so the final read of its state stalls; a second SIGINT in the
// final audit makes mailsim exit at once (well before the read's budget,
// over a minute for quickstart's 6 users), with a report whose users are
// unchecked.
func TestSignalTwiceAbortsFinalAudit(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	target, _, proxy := stallableTarget(t, 6)
	js := filepath.Join(filepath.Dir(target), "r.json")
	r := startMailsim(t, bin, "run", "quickstart", "--target", target, "--duration", "3s", "--settle", "3s", "--report", js, "--quiet=false")
	r.waitPhase(t, "settle")
	proxy.stall.Store(true)
	r.waitPhase(t, "final")
	// Bounded wait until the final read is stuck on the stalled server.
	deadline := time.Now().Add(exitLimit)
	for proxy.stalled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// The second SIGINT goes once mailsim said it took the first: two
	// sent 50 ms apart (before 2026-12-05) are one when the process has
	// not taken the first meanwhile, a pending signal not being queued
	// twice, and the run then waited out its read budget.
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	r.waitStderr(t, "press ^C again", exitLimit)
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Not a timing assertion on the abort itself: 30 s only proves it did
	// not wait out the budget (67 s for 6 users).
	r.waitWithin(t, 30*time.Second)
	if stderr := r.stderrText(); !strings.Contains(stderr, "aborting") {
		t.Errorf("stderr does not say it is aborting:\n%s", stderr)
	}
	rep := readReport(t, js)
	if n := num(t, rep, "messages.users_unchecked"); n != 6 {
		t.Errorf("messages.users_unchecked %v, want 6 (no user's state was read)", n)
	}
	// The report says why the state was not read, not stderr alone.
	notes, _ := field(rep, "notes")
	if !strings.Contains(fmt.Sprint(notes), "the read was aborted by a second ^C or SIGTERM") {
		t.Errorf("the report's notes do not say the final read was aborted: %v", notes)
	}
}

// TestSignalAbortsTargetCheck: a SIGINT while mailsim still checks a target
// that does not answer aborts the check (before the run exists there is
// nothing to stop gracefully).
func TestSignalAbortsTargetCheck(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	proxy := startStallingProxy(t, "127.0.0.1:1")
	proxy.stall.Store(true)
	addr := proxy.ln.Addr().String()
	target := filepath.Join(t.TempDir(), "target.yaml")
	y := fmt.Sprintf("target:\n  imap: %q\n  pop3: %q\n  delivery: {protocol: lmtp, addr: %q}\n", addr, addr, addr)
	if err := os.WriteFile(target, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startMailsim(t, bin, "run", "quickstart", "--target", target, "--quiet")
	// Bounded wait until the check is stuck on the stalled server.
	deadline := time.Now().Add(exitLimit)
	for proxy.stalled.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	code, _ := r.wait(t)
	if stderr := r.stderrText(); !strings.Contains(stderr, "aborting") {
		t.Errorf("stderr does not say it is aborting:\n%s", stderr)
	}
	if code == exitOK {
		t.Errorf("exit %d after an aborted target check", code)
	}
}

// TestSignalEndsLinger: one SIGINT while mailsim lingers (--linger, the
// run over) ends the linger and says so, with the run's exit code; it does
// not try to stop the finished run.
func TestSignalEndsLinger(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	r := startMailsim(t, bin, "run", "quickstart", "--duration", "2s", "--settle", "1s",
		"--metrics-addr", "127.0.0.1:0", "--linger", "10m", "--quiet")
	checkSignalEndsLinger(t, r, exitLimit, "people stop acting")
}

// checkSignalEndsLinger waits (up to within) for r to linger, interrupts
// it once and checks that the linger ends, with the run's or search's exit
// code, and that stderr lacks stopping, the message of a stop: the
// finished run or search is not stopped again.
func checkSignalEndsLinger(t *testing.T, r *runningMailsim, within time.Duration, stopping string) {
	t.Helper()
	r.waitStderr(t, "serving the final metrics", within)
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// A generous limit, far below the linger's 10 minutes.
	code, _ := r.waitWithin(t, time.Minute)
	if code != exitOK && code != exitThresholds {
		t.Errorf("exit %d after one SIGINT during the linger, want %d or %d:\n%s", code, exitOK, exitThresholds, r.stderrText())
	}
	stderr := r.stderrText()
	if !strings.Contains(stderr, "ending --linger") {
		t.Errorf("stderr does not say the linger ends:\n%s", stderr)
	}
	if strings.Contains(stderr, stopping) {
		t.Errorf("the SIGINT during the linger tried to stop what had finished:\n%s", stderr)
	}
}

// TestSignalAbortsPush: a SIGINT while mailsim pushes the final metrics to
// a Pushgateway that does not answer gives the push up at once (it waited
// for its 30 s timeout, and a second SIGINT was not read); the report was
// written before and stays, and the failed push makes the exit 1.
func TestSignalAbortsPush(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	// A Pushgateway that takes the connection and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	})
	r := startMailsim(t, bin, "run", "quickstart", "--duration", "2s", "--settle", "1s",
		"--pushgateway", "http://"+ln.Addr().String(), "--report", "r.json", "--quiet")
	select {
	case c := <-accepted:
		accepted <- c // closed at cleanup
	case err := <-r.done:
		r.exited = true
		t.Fatalf("mailsim exited (%v) without pushing:\n%s", err, r.stderrText())
	case <-time.After(exitLimit):
		t.Fatalf("mailsim never pushed within %s:\n%s", exitLimit, r.stderrText())
	}
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// A liveness bound, below the push's own 30 s timeout.
	code, _ := r.waitWithin(t, pushTimeout*2/3)
	if code != exitFailure {
		t.Errorf("exit %d after a SIGINT during the push, want %d (the push failed):\n%s", code, exitFailure, r.stderrText())
	}
	stderr := r.stderrText()
	for _, want := range []string{"aborting: the run is over", "--pushgateway"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(r.cmd.Dir, "r.json")); err != nil {
		t.Errorf("the report written before the push is gone: %v", err)
	}
}

// TestSignalEndsCapacityLinger: as TestSignalEndsLinger, for mailsim
// capacity: one SIGINT while it lingers after the search ends the linger
// and says so, with the search's exit code; it does not try to stop the
// finished search.
func TestSignalEndsCapacityLinger(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	scen, err := filepath.Abs("testdata/capacity-knee.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := startMailsim(t, bin, "capacity", scen, "--start-users", "1", "--max-users", "1", "--step-duration", "1s",
		"--metrics-addr", "127.0.0.1:0", "--linger", "10m", "--quiet", "--harness-max-sched", "2s")
	checkSignalEndsLinger(t, r, 3*exitLimit, "the running step is cut")
}

// TestSignalDuringRampUp interrupts a run whose users start over 10
// minutes once it is active: the report says how many of its users had
// started and that the others, which never ran, are the unsynced ones
// (the report said "6 users" and "5 of 6 users have a device that never
// completed a sync", as if the server had kept them from syncing).
func TestSignalDuringRampUp(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	b, err := os.ReadFile(filepath.Join("..", "..", "scenarios", "quickstart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "ramp_up: 2s", "ramp_up: 10m", 1)
	if y == string(b) {
		t.Fatal("quickstart.yaml has no ramp_up: 2s to change")
	}
	dir := t.TempDir()
	sc, js := filepath.Join(dir, "ramp.yaml"), filepath.Join(dir, "r.json")
	if err := os.WriteFile(sc, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startMailsim(t, bin, "run", sc, "--duration", "10m", "--settle", "1s", "--report", js, "--quiet=false")
	r.waitPhase(t, "active")
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code, _ := r.wait(t); code != exitFailure && code != exitThresholds {
		t.Errorf("exit %d after SIGINT, want %d or %d:\n%s", code, exitFailure, exitThresholds, r.stderrText())
	}
	rep := readReport(t, js)
	if n := num(t, rep, "users"); n != 6 {
		t.Errorf("report users %v, want 6", n)
	}
	notes, _ := field(rep, "notes")
	// User 1 starts at once, user 2 100 s later: one (or none, when the
	// signal came first) of the 6 had started.
	started := -1
	list, _ := notes.([]any)
	for _, n := range list {
		var k int
		if _, err := fmt.Sscanf(fmt.Sprint(n), "the run was stopped during its ramp-up: %d of 6 users had started", &k); err == nil {
			started = k
			break
		}
	}
	if started < 0 || started > 1 {
		t.Fatalf("no note that at most 1 of the 6 users had started: %v", notes)
	}
	if n := num(t, rep, "divergence.final.users_unsynced"); int(n) < 6-started {
		t.Errorf("users_unsynced %v, want at least the %d users never started", n, 6-started)
	}
}
