package scripttest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEnv(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		required []string
		want     map[string]string
		err      string
	}{
		{"values", "A=1\nB=x=y\nnoise\nC=\n", []string{"A", "B"}, map[string]string{"A": "1", "B": "x=y", "C": ""}, ""},
		{"missing", "A=1\n", []string{"A", "B"}, nil, "missing B"},
		{"empty", "A=1\nB=\n", []string{"B"}, nil, "missing B"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseEnv([]byte(tc.in), tc.required...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestRun runs a script with a dropped and an added variable, and one that
// fails: its stderr is in the error.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.sh")
	if err := os.WriteFile(ok, []byte("echo \"A=${MAILSIM_SCRIPTTEST_A:-unset} B=$MAILSIM_SCRIPTTEST_B ARG=$1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILSIM_SCRIPTTEST_A", "inherited")
	out, err := Run(ok, []string{"MAILSIM_SCRIPTTEST_A"}, []string{"MAILSIM_SCRIPTTEST_B=added"}, "start")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "A=unset B=added ARG=start"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	bad := filepath.Join(dir, "bad.sh")
	if err := os.WriteFile(bad, []byte("echo broken >&2; exit 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(bad, nil, nil, "stop"); err == nil || !strings.Contains(err.Error(), "broken") || !strings.Contains(err.Error(), "bad.sh stop") {
		t.Errorf("err %v, want the script, its arguments and its stderr", err)
	}
	if _, err := Path("no-such-script.sh"); err == nil {
		t.Error("Path of a missing script: no error")
	}
	if p, err := Path("courier.sh"); err != nil || filepath.Base(p) != "courier.sh" {
		t.Errorf("Path(courier.sh) = %q, %v", p, err)
	}
}

// TestServerStart starts a script's server in a directory others can
// traverse, returns its output and user count, and stops it (with the
// directory the script named) when the test ends.
func TestServerStart(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls")
	script := filepath.Join(t.TempDir(), "srv.sh")
	body := `case "$1" in
start) echo "$1 $2 $3 $MAILSIM_SCRIPTTEST_X" >>"` + log + `"; echo "IMAP_ADDR=127.0.0.1:1"; echo "DIR=$2"; echo "NUSERS=$3";;
stop) echo "$1 $2" >>"` + log + `";;
esac
`
	if err := os.WriteFile(script, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var dir string
	t.Run("started", func(t *testing.T) {
		kv, n := Server{Name: "srvtest", Script: script}.Start(t, []string{"MAILSIM_SCRIPTTEST_X=x"}, 3, "IMAP_ADDR")
		dir = kv["DIR"]
		if kv["IMAP_ADDR"] != "127.0.0.1:1" || n != 3 || dir == "" {
			t.Fatalf("Start = %v, %d", kv, n)
		}
		for _, d := range []string{filepath.Dir(dir), dir} {
			fi, err := os.Stat(d)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o755 {
				t.Errorf("%s: mode %v, want 0755", d, fi.Mode().Perm())
			}
		}
		if b, _ := os.ReadFile(log); string(b) != "start "+dir+" 3 x\n" {
			t.Errorf("calls %q before the test ended", b)
		}
	})
	if b, _ := os.ReadFile(log); string(b) != "start "+dir+" 3 x\nstop "+dir+"\n" {
		t.Errorf("calls %q, want start then stop", b)
	}
}

// TestUnpackOnce runs Unpack from several goroutines at once with a script
// whose install takes a while and whose install-check fails until it is
// done: the lock lets exactly one install run, and every caller returns
// after it, finding the server unpacked.
func TestUnpackOnce(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "server.sh")
	y := `set -e
case $1 in
install-check) [ -e "$MAILSIM_SCRIPTTEST_DIR/unpacked" ] ;;
install)
	echo install >>"$MAILSIM_SCRIPTTEST_DIR/installs"
	sleep 0.3
	touch "$MAILSIM_SCRIPTTEST_DIR/unpacked" ;;
esac
`
	if err := os.WriteFile(script, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MAILSIM_SCRIPTTEST_DIR", dir)
	lock := filepath.Join(dir, "install.lock")
	const n = 4
	errs := make(chan error, n)
	for range n {
		go func() { errs <- Unpack(script, lock, nil) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "installs"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(b), "install"); got != 1 {
		t.Errorf("%d installs ran, want 1", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "unpacked")); err != nil {
		t.Errorf("not unpacked: %v", err)
	}
}

// TestUnpackFails: an install that fails is Unpack's error, with the
// script's stderr.
func TestUnpackFails(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "server.sh")
	if err := os.WriteFile(script, []byte("echo \"no packages for $1\" >&2; exit 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Unpack(script, filepath.Join(dir, "install.lock"), nil)
	if err == nil || !strings.Contains(err.Error(), "no packages for install") {
		t.Errorf("err %v, want the install's stderr", err)
	}
}

// TestUnpackLock: one lock file per script name, in the temporary
// directory.
func TestUnpackLock(t *testing.T) {
	a, b := UnpackLock("/x/scripts/cyrus.sh"), UnpackLock("/y/scripts/courier.sh")
	if a == b || filepath.Dir(a) != os.TempDir() || !strings.Contains(a, "cyrus.sh") {
		t.Errorf("locks %q and %q", a, b)
	}
	if UnpackLock("/other/cyrus.sh") != a {
		t.Error("the lock depends on the script's directory: two checkouts would unpack into one prefix at once")
	}
}

// recordTB is a testing.TB that says it failed (or not) and keeps what is
// logged.
type recordTB struct {
	testing.TB
	failed bool
	logs   []string
}

func (r *recordTB) Helper()      {}
func (r *recordTB) Failed() bool { return r.failed }
func (r *recordTB) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func TestLogTails(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "log"), 0o755); err != nil {
		t.Fatal(err)
	}
	var long strings.Builder
	for i := 1; i <= TailLines+5; i++ {
		fmt.Fprintf(&long, "line %d\n", i)
	}
	// d.log is longer than LogTails reads (tailBytes): its last lines
	// still come, and only they.
	var huge strings.Builder
	for i := 1; huge.Len() <= 2*tailBytes; i++ {
		fmt.Fprintf(&huge, "entry %06d of a long log\n", i)
	}
	hugeText := huge.String()
	lastHuge := hugeText[strings.LastIndex(strings.TrimSuffix(hugeText, "\n"), "\n")+1 : len(hugeText)-1]
	for name, text := range map[string]string{"a.log": long.String(), "b.log": "one line\n", "c.txt": "not a log\n", "d.log": hugeText} {
		if err := os.WriteFile(filepath.Join(dir, "log", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		failed bool
		dir    string
		want   []string // substrings, one log line each, in order
	}{
		{"passed", false, dir, nil},
		{"no dir", true, "", nil},
		{"failed", true, dir, []string{
			"the last 40 lines of " + filepath.Join(dir, "log", "a.log") + ":\nline 6\n",
			"the last 1 lines of " + filepath.Join(dir, "log", "b.log") + ":\none line",
			"the last 40 lines of " + filepath.Join(dir, "log", "d.log") + ":\n",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recordTB{TB: t, failed: tc.failed}
			LogTails(r, tc.dir)
			if len(r.logs) != len(tc.want) {
				t.Fatalf("logged %q, want %d logs", r.logs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(r.logs[i], w) {
					t.Errorf("log %d = %q, want it to hold %q", i, r.logs[i], w)
				}
			}
			if len(r.logs) > 0 && (strings.Contains(r.logs[0], "line 5\n") || !strings.HasSuffix(r.logs[0], "line 45")) {
				t.Errorf("a.log's tail is not its last %d lines: %q", TailLines, r.logs[0])
			}
			if len(r.logs) > 2 && (!strings.HasSuffix(r.logs[2], lastHuge) || len(r.logs[2]) > 4096) {
				t.Errorf("d.log's tail is not its last %d lines: %.200q", TailLines, r.logs[2])
			}
		})
	}
}
