package dovecottest

import (
	"bufio"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
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
		{"unknown command", nil, []string{"reload", dir}, "usage"},
		{"restart of nothing", nil, []string{"restart", dir}, "start an instance"},
		{"freeze of nothing", nil, []string{"freeze", dir}, "no running instance"},
		{"thaw of nothing", nil, []string{"thaw", dir}, "no running instance"},
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

// TestRestartKeepsPortsUsersAndMail delivers a message to a user added to
// the passwd-file after start, restarts the instance, and finds the same
// listeners, a new master, the user and the message.
func TestRestartKeepsPortsUsersAndMail(t *testing.T) {
	t.Parallel()
	inst := Start(t, 1)
	passwd := filepath.Join(inst.Dir, "etc", "users")
	f, err := os.OpenFile(passwd, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("extra:{PLAIN}" + inst.Password + "\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	lc := smtp.NewClientLMTP(Dial(t, inst.LMTP))
	msg := "Message-ID: <restart@test>\r\nSubject: kept\r\n\r\nbody\r\n"
	if err := lc.SendMail("x@example.net", []string{"extra@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	lc.Close()

	before := *inst
	if err := inst.Restart(); err != nil {
		t.Fatal(err)
	}
	if inst.PID == before.PID {
		t.Errorf("master pid %d unchanged: not restarted", inst.PID)
	}
	if inst.IMAP != before.IMAP || inst.LMTP != before.LMTP {
		t.Errorf("listeners moved: %s %s -> %s %s", before.IMAP, before.LMTP, inst.IMAP, inst.LMTP)
	}
	c := imapclient.New(Dial(t, inst.IMAP), nil)
	defer c.Close()
	if err := c.Login("extra", inst.Password).Wait(); err != nil {
		t.Fatalf("user added before the restart: %v", err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 {
		t.Errorf("INBOX holds %d messages after the restart, want the 1 delivered before", sel.NumMessages)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Error(err)
	}
}

// TestFreezeThaw freezes an instance: a new connection gets no greeting
// while frozen, and gets it after thaw.
func TestFreezeThaw(t *testing.T) {
	t.Parallel()
	inst := Start(t, 1)
	thaw, err := inst.Freeze(t)
	if err != nil {
		t.Fatal(err)
	}
	c := Dial(t, inst.IMAP) // the kernel completes the handshake
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	var b [64]byte
	if n, err := c.Read(b[:]); n != 0 || !isTimeout(err) {
		t.Fatalf("frozen Dovecot answered: %q, %v", b[:n], err)
	}
	if err := thaw(); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(time.Now().Add(IOTimeout)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "* OK") {
		t.Fatalf("greeting after thaw: %q, %v", line, err)
	}
	if err := thaw(); err != nil {
		t.Errorf("second thaw: %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
