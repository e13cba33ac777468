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
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
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
