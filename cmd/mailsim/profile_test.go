package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readProfile returns the decompressed protobuf of a profile written by
// runtime/pprof, failing the test when the file is missing or not gzip.
func readProfile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("profile %s: %v", path, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("profile %s: %v", path, err)
	}
	return string(raw)
}

// TestProfileFlags checks --cpuprofile and --memprofile of run and capacity:
// the files are pprof profiles of the right kind (their string tables name
// the sample types), and an uncreatable file is a command-line error
// before anything runs. Not parallel: the CPU profile is per process.
func TestProfileFlags(t *testing.T) {
	dir := t.TempDir()
	path := writeScenario(t, tiny(3, "[]"))
	cpu, mem := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	res := mailsim("run", path, "--quiet", "--cpuprofile", cpu, "--memprofile", mem)
	if res.code != exitOK {
		t.Fatalf("run with profiles: %s", res)
	}
	if p := readProfile(t, cpu); !strings.Contains(p, "cpu") || !strings.Contains(p, "nanoseconds") {
		t.Errorf("--cpuprofile: not a CPU profile")
	}
	if p := readProfile(t, mem); !strings.Contains(p, "inuse_space") || !strings.Contains(p, "alloc_space") {
		t.Errorf("--memprofile: not a heap profile")
	}

	base, err := os.ReadFile("testdata/capacity-knee.yaml")
	if err != nil {
		t.Fatal(err)
	}
	impossible := writeScenario(t, strings.Replace(string(base), `qos: ["p95(imap.SELECT) < 250ms"`, `qos: ["error_rate > 50%"`, 1))
	capMem := filepath.Join(dir, "capacity-mem.pprof")
	res = mailsim("capacity", impossible, "--step-duration", "1s", "--quiet", "--memprofile", capMem)
	if res.code != exitThresholds {
		t.Fatalf("capacity with a heap profile: want exit %d, got %s", exitThresholds, res)
	}
	if p := readProfile(t, capMem); !strings.Contains(p, "inuse_space") {
		t.Errorf("capacity --memprofile: not a heap profile")
	}

	missing := filepath.Join(dir, "no-such-dir", "p.pprof")
	for _, args := range [][]string{
		{"run", path, "--quiet", "--cpuprofile", missing},
		{"run", path, "--quiet", "--memprofile", missing},
		{"capacity", impossible, "--quiet", "--cpuprofile", missing},
	} {
		res := mailsim(args...)
		flag := args[len(args)-2]
		if res.code != exitScenario || !strings.Contains(res.stderr, flag) || res.stdout != "" {
			t.Errorf("%v: want exit %d naming %s before the run, got %s", args, exitScenario, flag, res)
		}
	}
}
