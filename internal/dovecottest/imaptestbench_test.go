package dovecottest

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	benchRow   = regexp.MustCompile(`(?m)^(imaptest|mailsim)\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s`)
	benchRatio = regexp.MustCompile(`(?m)^ratio mailsim/imaptest CPU per command: (\S+)$`)
)

// TestImaptestBenchScript runs scripts/imaptest-bench.sh tiny (2 clients,
// 3 s per tool) and checks only that it measured something: both tools sent
// commands and used CPU, and the ratio it prints is a finite positive
// number. The figures themselves are benchmarks (docs/performance.md), not
// test results. Skipped without Dovecot, or without imaptest
// (MAILSIM_IMAPTEST, or ../shared/tools/imaptest beside the repository).
func TestImaptestBenchScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds mailsim and runs two Dovecot instances")
	}
	script, err := Script()
	if err != nil {
		t.Fatal(err)
	}
	Available(t)
	bench := filepath.Join(filepath.Dir(script), "imaptest-bench.sh")
	out := t.TempDir()
	// Dovecot's unprivileged processes traverse the instances' directories.
	if err := os.Chmod(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bench, "2", "3")
	cmd.Dir = filepath.Dir(filepath.Dir(script))
	cmd.Env = append(os.Environ(), "SB_OUT="+out)
	// The script's children (Dovecot's stop included) end with it; a
	// timeout kills the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	b, err := cmd.CombinedOutput()
	text := string(b)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 3 {
		t.Skipf("imaptest-bench.sh skipped:\n%s", text)
	}
	if err != nil {
		t.Fatalf("imaptest-bench.sh: %v\n%s", err, text)
	}
	rows := benchRow.FindAllStringSubmatch(text, -1)
	if len(rows) != 2 {
		t.Fatalf("want a row for imaptest and one for mailsim, got %d:\n%s", len(rows), text)
	}
	for _, r := range rows {
		cmds, _ := strconv.Atoi(r[2])
		rate, _ := strconv.Atoi(r[3])
		cpu, _ := strconv.ParseFloat(r[4], 64)
		if cmds <= 0 || rate <= 0 || cpu <= 0 {
			t.Errorf("%s: %d commands, %d a second, %.2f s CPU; want all > 0", r[1], cmds, rate, cpu)
		}
	}
	m := benchRatio.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no ratio line:\n%s", text)
	}
	ratio, err := strconv.ParseFloat(m[1], 64)
	if err != nil || math.IsInf(ratio, 0) || math.IsNaN(ratio) || ratio <= 0 {
		t.Errorf("ratio %q: want a finite positive number (%v)", m[1], err)
	}
	if !strings.Contains(text, "logs, reports and instances: "+out) {
		t.Errorf("the script did not use SB_OUT=%s:\n%s", out, text)
	}
	t.Logf("\n%s", text)
}
