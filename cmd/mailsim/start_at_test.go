package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSignalAbortsStartWait: a SIGINT while mailsim waits for --start-at
// aborts the wait: it exits at once, before the run, with no report.
func TestSignalAbortsStartWait(t *testing.T) {
	t.Parallel()
	bin := buildMailsim(t)
	js := filepath.Join(t.TempDir(), "r.json")
	at := time.Now().Add(10 * time.Minute).Format(time.RFC3339)
	r := startMailsim(t, bin, "run", "quickstart", "--start-at", at, "--report", js, "--quiet")
	r.waitPhase(t, "waiting")
	if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// Not a timing assertion: the limit only proves it did not wait for
	// the start ten minutes away.
	code, _ := r.waitWithin(t, exitLimit)
	if code != exitFailure || !strings.Contains(r.stderrText(), "aborted while waiting for --start-at") {
		t.Errorf("exit %d, want %d saying the wait was aborted:\n%s", code, exitFailure, r.stderrText())
	}
	if _, err := os.Stat(js); err == nil {
		t.Error("a report was written for a run that never started")
	}
}
