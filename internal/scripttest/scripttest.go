// Package scripttest runs the project's server scripts (scripts/*.sh) for
// the test helpers that start private servers (internal/cyrustest, internal/couriertest):
// with a deadline, an environment without the variables the caller
// chooses the values of, and their KEY=VALUE output parsed.
package scripttest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Timeout bounds every call of a script (an install downloads a few MB;
// a start waits at most ~10 s per listener, a stop ~15 s plus kill).
const Timeout = 5 * time.Minute

// Path returns the path of the project's scripts/<name>.
func Path(name string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("no caller information")
	}
	p := filepath.Join(filepath.Dir(file), "..", "..", "scripts", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("scripts/%s: %w", name, err)
	}
	return p, nil
}

// Run runs script with bash and a deadline, in the environment without
// the variables named in drop, plus extra ("KEY=VALUE"), and returns its
// stdout; the error carries its stderr.
func Run(script string, drop, extra []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	dropped := make(map[string]bool, len(drop))
	for _, k := range drop {
		dropped[k] = true
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !dropped[k] {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The servers do not inherit these pipes (the scripts redirect them
	// to their logs), but bound the wait for them anyway.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", filepath.Base(script), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// ParseEnv reads the KEY=VALUE lines of a script's start output; the keys
// in required must be present and non-empty.
func ParseEnv(b []byte, required ...string) (map[string]string, error) {
	kv := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %q: %w", b, err)
	}
	for _, k := range required {
		if kv[k] == "" {
			return nil, fmt.Errorf("missing %s in %q", k, b)
		}
	}
	return kv, nil
}

// Unpack makes sure the server script unpacks (cyrus.sh, courier.sh) is
// there: it runs the script's "install-check" and, when that fails, its
// "install", holding an exclusive lock on the file lock (flock) across
// both. Tests start several servers at once, in one process or in several
// (go test runs packages in parallel): with the lock one of them unpacks,
// the others wait for it and find the server there, and none starts a
// server from a half-unpacked prefix or while another install rewrites
// its binaries. UnpackLock names the lock of a script. The wait for the
// lock is bounded by Timeout plus the install's own Timeout.
func Unpack(script, lock string, drop []string) error {
	f, err := os.OpenFile(lock, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("%s install lock: %w", filepath.Base(script), err)
	}
	defer f.Close() // releases the lock
	deadline := time.Now().Add(2 * Timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("%s install lock %s: %w", filepath.Base(script), lock, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s install lock %s: still held by another install after %s", filepath.Base(script), lock, 2*Timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := Run(script, drop, nil, "install-check"); err == nil {
		return nil
	}
	_, err = Run(script, drop, nil, "install")
	return err
}

// UnpackLock returns the lock file Unpack holds for script: one per
// script name in the temporary directory, shared by every test process
// of the machine.
func UnpackLock(script string) string {
	return filepath.Join(os.TempDir(), "mailsim-"+filepath.Base(script)+".install.lock")
}

// Server is a server script of the project as a test helper runs it.
type Server struct {
	// Name prefixes the test's failures ("cyrustest").
	Name string
	// Script is the script's path (Path).
	Script string
	// Drop are the variables the script honours that the helper sets
	// itself: the caller's environment does not pass them (Run).
	Drop []string
}

// Start runs the script's "start DIR USERS" with the variables extra, in
// a new directory of the test that the server's processes, which run as
// another user, can traverse (it and the per-test root above it, 0700 by
// default, are made 0755), and its "stop DIR" when the test ends. It
// returns the KEY=VALUE lines of the start output, which must hold the
// keys of required, DIR and NUSERS, and NUSERS as a number. A failure
// fails the test.
func (s Server) Start(t testing.TB, extra []string, users int, required ...string) (map[string]string, int) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
	}
	out, err := Run(s.Script, s.Drop, extra, "start", dir, strconv.Itoa(users))
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	kv, err := ParseEnv(out, append(required, "DIR", "NUSERS")...)
	if err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	// Stop what started before anything else can fail.
	t.Cleanup(func() {
		LogTails(t, kv["DIR"])
		if _, err := Run(s.Script, s.Drop, nil, "stop", kv["DIR"]); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
	})
	n, err := strconv.Atoi(kv["NUSERS"])
	if err != nil {
		t.Fatalf("%s: NUSERS: %v in %q", s.Name, err, out)
	}
	return kv, n
}

// TailLines is how many of each log's last lines LogTails prints.
const TailLines = 40

// LogTails logs, when t has failed, the last TailLines lines of every
// DIR/log/*.log a server script wrote (scripts/dovecot.sh, cyrus.sh,
// courier.sh all log there), so that a failure in CI, whose temporary
// directories are gone afterwards, shows what the server said. Call it
// from the t.Cleanup that stops the server, before the stop.
func LogTails(t testing.TB, dir string) {
	t.Helper()
	if !t.Failed() || dir == "" {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "log", "*.log"))
	for _, name := range logs {
		b, err := readTail(name, tailBytes)
		if err != nil {
			t.Logf("%s: %v", name, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		lines = lines[max(len(lines)-TailLines, 0):]
		t.Logf("the last %d lines of %s:\n%s", len(lines), name, strings.Join(lines, "\n"))
	}
}

// tailBytes bounds what LogTails reads of a log: its last TailLines lines
// unless they are longer than that.
const tailBytes = 64 << 10

// readTail returns the last n bytes of the file name (all of a shorter
// one).
func readTail(name string, n int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	m, err := f.ReadAt(b, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b[:m], nil
}
