package dovecottest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
)

// TestStopStopsOnlyItsInstance runs two instances at once and checks that
// they have their own ports and that stopping one leaves the other
// serving.
func TestStopStopsOnlyItsInstance(t *testing.T) {
	t.Parallel()
	a := Start(t, 1)
	b := Start(t, 1)
	if a.IMAP == b.IMAP || a.MetricsURL == b.MetricsURL || a.PID == b.PID {
		t.Fatalf("instances share ports or master: %+v %+v", a, b)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Dir, "run", "master.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file of the stopped instance: %v", err)
	}
	if _, err := a.CPU(); err == nil {
		t.Error("CPU of a stopped instance succeeded")
	}
	// Stop is idempotent.
	if err := a.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	c := imapclient.New(Dial(t, b.IMAP), nil)
	defer c.Close()
	if err := c.Login(b.Username(1), b.Password).Wait(); err != nil {
		t.Fatalf("the other instance stopped serving: %v", err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
}

// TestScriptRejectsBadInput checks the script's errors: clear messages and
// a non-zero exit status, and nothing started.
func TestScriptRejectsBadInput(t *testing.T) {
	t.Parallel()
	script := Available(t)
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no command", nil, nil, "usage"},
		{"unknown command", nil, []string{"restart", dir}, "usage"},
		{"start without dir", nil, []string{"start"}, "usage"},
		{"users not a number", nil, []string{"start", dir, "ten"}, "NUSERS must be a number"},
		{"bad port", []string{"IMAP_PORT=http"}, []string{"start", dir, "1"}, "bad port"},
		{"password with colon", []string{"MAILSIM_PASSWORD=a:b"}, []string{"start", dir, "1"}, "MAILSIM_PASSWORD"},
		{"cpu of nothing", nil, []string{"cpu", dir}, "no running instance"},
		{"env of nothing", nil, []string{"env", dir}, "no running instance"},
		{"stop missing dir", nil, []string{"stop", filepath.Join(dir, "missing")}, "no directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := append(portFreeEnv(), tc.env...)
			_, err := runScript(script, env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("dovecot.sh %v: error %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "master.pid")); !os.IsNotExist(err) {
		t.Errorf("a failed start left a pid file: %v", err)
	}
	// stop of a directory without an instance is not an error
	if out, err := runScript(script, nil, "stop", dir); err != nil || !strings.Contains(string(out), "no running instance") {
		t.Errorf("stop of an idle dir: %q, %v", out, err)
	}
}

// TestStartTwiceInOneDirFails checks that a second start in the same
// directory is refused while the first instance runs.
func TestStartTwiceInOneDirFails(t *testing.T) {
	t.Parallel()
	inst := Start(t, 1)
	_, err := runScript(inst.script, portFreeEnv(), "start", inst.Dir, "1")
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second start: %v, want \"already running\"", err)
	}
	if _, err := inst.CPU(); err != nil {
		t.Errorf("the first instance is gone: %v", err)
	}
}
