// Package dovecottest starts private Dovecot 2.3 instances for tests, with
// the project's scripts/dovecot.sh: own configuration, passwd-file users
// user1..userN and maildirs in a test's temporary directory, IMAP, POP3,
// LMTP and the OpenMetrics stats listener on free loopback ports.
//
// Tests are skipped with a clear message where Dovecot cannot run (not
// installed, or not root); under CI (CI set in the environment) a missing
// Dovecot fails the test instead, because .ci/run installs it.
package dovecottest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/scripttest"
)

// scriptTimeout bounds every call of the script; start waits at most ~10 s
// per listener and stop at most ~15 s plus kill.
const scriptTimeout = 90 * time.Second

// Instance is a running private Dovecot instance.
type Instance struct {
	// IMAP, POP3 and LMTP are the plain-text listeners' "127.0.0.1:port".
	IMAP, POP3, LMTP string
	// MetricsURL is the OpenMetrics endpoint, "http://127.0.0.1:port/metrics".
	MetricsURL string
	// Dir holds the instance's configuration, state, log (log/dovecot.log)
	// and maildirs.
	Dir string
	// Users is the number of users, named user1..userN.
	Users int
	// Password is every user's password ($MAILSIM_PASSWORD or "pass").
	Password string
	// PID is the master process id.
	PID int

	script string
}

// Username returns the name of user n (1-based): "user<n>".
func (i *Instance) Username(n int) string { return "user" + strconv.Itoa(n) }

// CPU returns the user+system CPU seconds the instance's processes have
// used so far, including exited children; take the difference of two
// readings. The resolution is one clock tick (usually 10 ms).
func (i *Instance) CPU() (float64, error) {
	out, err := runScript(i.script, nil, "cpu", i.Dir)
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(out))
	if len(fields) == 0 {
		return 0, fmt.Errorf("dovecot cpu %s: empty output", i.Dir)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return 0, fmt.Errorf("dovecot cpu %s: %w", i.Dir, err)
	}
	return v, nil
}

// Stop stops the instance (and only it, by its pid file). Start registers
// it with t.Cleanup; calling it earlier is allowed and it is idempotent.
func (i *Instance) Stop() error {
	_, err := runScript(i.script, nil, "stop", i.Dir)
	return err
}

// Restart stops the instance and starts it again in the same directory,
// on the same ports, with the same passwd-file and maildirs
// ("scripts/dovecot.sh restart"): mail delivered before stays. It updates
// PID; it must not run concurrently with reads of PID or with another
// Restart, Freeze or Thaw of the same instance.
func (i *Instance) Restart() error {
	out, err := runScript(i.script, portFreeEnv(), "restart", i.Dir)
	if err != nil {
		return err
	}
	n, err := parseEnv(out)
	if err != nil {
		return fmt.Errorf("dovecot restart %s: %w", i.Dir, err)
	}
	if n.IMAP != i.IMAP || n.POP3 != i.POP3 || n.LMTP != i.LMTP || n.MetricsURL != i.MetricsURL {
		return fmt.Errorf("dovecot restart %s: listeners moved from %s %s %s %s to %s %s %s %s", i.Dir,
			i.IMAP, i.POP3, i.LMTP, i.MetricsURL, n.IMAP, n.POP3, n.LMTP, n.MetricsURL)
	}
	i.PID = n.PID
	return nil
}

// Freeze stops the instance's master and every process it started with
// SIGSTOP ("scripts/dovecot.sh freeze"): connections stay open and nothing
// answers. It returns thaw, which resumes them with SIGCONT and may be
// called more than once; thaw is also registered with tb.Cleanup, so the
// instance is resumed (and then stopped by Start's cleanup) whatever the
// test does. Freeze may be called from any goroutine.
func (i *Instance) Freeze(tb testing.TB) (thaw func() error, err error) {
	// Registered first: a freeze that fails half-way is resumed too.
	thaw = func() error {
		_, err := runScript(i.script, nil, "thaw", i.Dir)
		return err
	}
	tb.Cleanup(func() {
		if _, err := os.Stat(filepath.Join(i.Dir, "run", "master.pid")); err != nil {
			return // stopped already: nothing to resume
		}
		if err := thaw(); err != nil {
			tb.Errorf("dovecottest: %v", err)
		}
	})
	if _, err := runScript(i.script, nil, "freeze", i.Dir); err != nil {
		return thaw, err
	}
	return thaw, nil
}

// Start starts a private instance with users user1..userN in t.TempDir()
// and stops it in t.Cleanup. It skips the test when Dovecot is not
// installed or the test does not run as root (outside CI), and fails it
// when the instance does not start.
func Start(t testing.TB, users int) *Instance {
	t.Helper()
	return StartWith(t, users, Options{})
}

// Options configure an instance beyond its users.
type Options struct {
	// IMAPProcessLimit caps the IMAP sessions served at once (Dovecot's
	// service imap process_limit); 0 keeps the script's default (4096).
	IMAPProcessLimit int
	// NamespacePrefix and NamespaceSeparator set the personal namespace
	// (scripts/dovecot.sh NAMESPACE_PREFIX, NAMESPACE_SEPARATOR): "INBOX."
	// and '.' are Cyrus's and Courier's dialect. Empty keeps the defaults
	// ("" and '/').
	NamespacePrefix    string
	NamespaceSeparator string
	// NoSpecialUse lists Drafts, Sent, Trash, Junk and Archive without
	// special-use attributes (scripts/dovecot.sh SPECIAL_USE=no).
	NoSpecialUse bool
	// POP3NoFlagUpdates makes a POP3 download leave the message unread
	// (scripts/dovecot.sh POP3_NO_FLAG_UPDATES=yes), as Cyrus does.
	POP3NoFlagUpdates bool
	// PublicNamespace adds a public namespace "Public/" (its separator
	// the personal one's) listed with every user's folders and writable
	// by every user (scripts/dovecot.sh PUBLIC_NAMESPACE=yes): shared
	// folders that are no user's own mail.
	PublicNamespace bool
}

// StartWith is Start with options.
func StartWith(t testing.TB, users int, o Options) *Instance {
	t.Helper()
	if users < 1 {
		t.Fatalf("dovecottest: users must be at least 1, got %d", users)
	}
	script := Available(t)
	dir := t.TempDir()
	// Dovecot's auth and mail processes run as unprivileged users and must
	// traverse dir: the per-test root above it is 0700 by default.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	env := portFreeEnv()
	if o.IMAPProcessLimit > 0 {
		env = append(env, "IMAP_PROCESS_LIMIT="+strconv.Itoa(o.IMAPProcessLimit))
	}
	if o.NamespacePrefix != "" {
		env = append(env, "NAMESPACE_PREFIX="+o.NamespacePrefix)
	}
	if o.NamespaceSeparator != "" {
		env = append(env, "NAMESPACE_SEPARATOR="+o.NamespaceSeparator)
	}
	if o.NoSpecialUse {
		env = append(env, "SPECIAL_USE=no")
	}
	if o.POP3NoFlagUpdates {
		env = append(env, "POP3_NO_FLAG_UPDATES=yes")
	}
	if o.PublicNamespace {
		env = append(env, "PUBLIC_NAMESPACE=yes")
	}
	out, err := runScript(script, env, "start", dir, strconv.Itoa(users))
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	inst, err := parseEnv(out)
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	inst.script = script
	t.Cleanup(func() {
		scripttest.LogTails(t, inst.Dir)
		if err := inst.Stop(); err != nil {
			t.Errorf("dovecottest: %v", err)
		}
	})
	return inst
}

// Available returns the path of scripts/dovecot.sh when a Dovecot instance
// can be started here; otherwise it skips the test (or, under CI, fails
// it) with the reason.
func Available(t testing.TB) string {
	t.Helper()
	stop := t.Skipf
	if os.Getenv("CI") != "" {
		stop = t.Fatalf
	}
	if _, err := exec.LookPath("dovecot"); err != nil {
		stop("dovecottest: dovecot is not installed (apt-get install dovecot-imapd dovecot-pop3d dovecot-lmtpd)")
	}
	if os.Geteuid() != 0 {
		stop("dovecottest: starting a private Dovecot needs root (it drops privileges to the dovecot, dovenull and vmail users)")
	}
	script, err := Script()
	if err != nil {
		t.Fatalf("dovecottest: %v", err)
	}
	return script
}

// Script returns the path of the project's scripts/dovecot.sh:
// $MAILSIM_DOVECOT_SCRIPT when set, else found from this package's source
// directory or by walking up from the working directory to go.mod.
func Script() (string, error) {
	if p := os.Getenv("MAILSIM_DOVECOT_SCRIPT"); p != "" {
		return p, nil
	}
	var roots []string
	if _, file, _, ok := runtime.Caller(0); ok {
		roots = append(roots, filepath.Join(filepath.Dir(file), "..", ".."))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				roots = append(roots, d)
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, r := range roots {
		p := filepath.Join(r, "scripts", "dovecot.sh")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("scripts/dovecot.sh not found (set MAILSIM_DOVECOT_SCRIPT)")
}

// FromEnvFile returns the instance described by a KEY=VALUE file written by
// "scripts/dovecot.sh start" (DIR/env), such as the one .ci/run starts and
// names in $MAILSIM_DOVECOT_ENV. The caller does not own it: Stop must not
// be called, and other tests may use the same users.
func FromEnvFile(path string) (*Instance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dovecot env: %w", err)
	}
	inst, err := parseEnv(b)
	if err != nil {
		return nil, fmt.Errorf("dovecot env %s: %w", path, err)
	}
	script, err := Script()
	if err != nil {
		return nil, err
	}
	inst.script = script
	return inst, nil
}

// portFreeEnv returns the environment without the port variables the
// script honours, so that every instance picks its own free ports.
func portFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "IMAP_PORT", "POP3_PORT", "LMTP_PORT", "METRICS_PORT", "IMAP_PROCESS_LIMIT",
			"NAMESPACE_PREFIX", "NAMESPACE_SEPARATOR", "SPECIAL_USE", "POP3_NO_FLAG_UPDATES", "PUBLIC_NAMESPACE":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// runScript runs the script with a deadline and returns its stdout; the
// error carries its stderr.
func runScript(script string, env []string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	cmd.Env = env
	cmd.Stdin = nil
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// The daemon does not inherit these pipes (the script redirects it to
	// its log), but bound the wait for them anyway.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dovecot.sh %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// parseEnv reads the KEY=VALUE lines of the script's start output.
func parseEnv(b []byte) (*Instance, error) {
	kv := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			kv[k] = v
		}
	}
	inst := &Instance{
		IMAP:       kv["IMAP_ADDR"],
		POP3:       kv["POP3_ADDR"],
		LMTP:       kv["LMTP_ADDR"],
		MetricsURL: kv["METRICS_URL"],
		Dir:        kv["DIR"],
		Password:   kv["PASSWORD"],
	}
	var err error
	if inst.Users, err = strconv.Atoi(kv["NUSERS"]); err != nil {
		return nil, fmt.Errorf("NUSERS: %w", err)
	}
	if inst.PID, err = strconv.Atoi(kv["PID"]); err != nil {
		return nil, fmt.Errorf("PID: %w", err)
	}
	for k, v := range map[string]string{"IMAP_ADDR": inst.IMAP, "POP3_ADDR": inst.POP3,
		"LMTP_ADDR": inst.LMTP, "METRICS_URL": inst.MetricsURL, "DIR": inst.Dir, "PASSWORD": inst.Password} {
		if v == "" {
			return nil, fmt.Errorf("missing %s in %q", k, b)
		}
	}
	return inst, nil
}

// IOTimeout bounds the whole life of a connection made by Dial.
const IOTimeout = 20 * time.Second

// Dial connects a test to addr (an instance's listener) with IOTimeout as
// the deadline of the whole connection, failing the test if it cannot.
func Dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, IOTimeout)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	if err := c.SetDeadline(time.Now().Add(IOTimeout)); err != nil {
		c.Close()
		tb.Fatal(err)
	}
	return c
}

// FillInbox puts n messages into user's INBOX, msg(i) the i-th's raw
// text, written straight into the maildir's new/ (far faster than APPEND
// or LMTP: 20,000 messages in a few seconds), owned, as the folders it
// makes, by the owner of the instance's mail directory, as Dovecot's own
// files are. Dovecot takes them in at the next SELECT, STATUS or POP3
// login, in the order of i.
func (i *Instance) FillInbox(tb testing.TB, user string, n int, msg func(i int) []byte) {
	tb.Helper()
	root := filepath.Join(i.Dir, "mail")
	fi, err := os.Stat(root)
	if err != nil {
		tb.Fatal(err)
	}
	uid, gid := -1, -1
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	maildir := filepath.Join(root, user, "Maildir")
	for _, d := range []string{filepath.Join(root, user), maildir, filepath.Join(maildir, "cur"), filepath.Join(maildir, "tmp"), filepath.Join(maildir, "new")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			tb.Fatal(err)
		}
		if err := os.Lchown(d, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	for k := range n {
		// Maildir names: seconds, then a part unique to the delivery.
		name := filepath.Join(maildir, "new", fmt.Sprintf("%d.M%dP1.dovecottest", 1736150400+k, k))
		if err := os.WriteFile(name, msg(k), 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := os.Lchown(name, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
}
