package couriertest

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// login logs in over IMAP and reports the error, bounded by deadlines.
func login(t *testing.T, addr, user, pass string) error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// descendants returns the pids of root and every process below it.
func descendants(t *testing.T, root int) []int {
	t.Helper()
	parent := map[int]int{}
	paths, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // exited meanwhile
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		f := strings.Fields(s[i+1:])
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if len(f) > 1 && f[0] != "Z" {
			parent[pid], _ = strconv.Atoi(f[1])
		}
	}
	out := []int{root}
	for grew := true; grew; {
		grew = false
		for pid, pp := range parent {
			if !slices.Contains(out, pid) && slices.Contains(out, pp) {
				out, grew = append(out, pid), true
			}
		}
	}
	return out
}

// alive reports whether pid exists and is no zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z"
}

// TestTwoInstances starts two instances at once: each sees only its own
// users although authlib's socket and userdb paths are compiled in (the
// private mount namespaces); stopping one ends exactly its processes
// (gam_server included) and leaves the other serving.
func TestTwoInstances(t *testing.T) {
	a := Start(t, 1, Options{ExtraUsers: []string{"alice"}})
	b := Start(t, 2, Options{})
	if err := login(t, a.IMAP, "alice", a.Password); err != nil {
		t.Errorf("alice on her instance: %v", err)
	}
	if err := login(t, b.IMAP, "alice", b.Password); err == nil {
		t.Error("alice logged in on the other instance: the userdb is shared")
	}
	if err := login(t, b.IMAP, b.Username(2), b.Password); err != nil {
		t.Errorf("%s: %v", b.Username(2), err)
	}
	if err := login(t, a.IMAP, a.Username(2), a.Password); err == nil {
		t.Errorf("%s logged in on an instance of 1 user", a.Username(2))
	}
	pidA, err := os.ReadFile(filepath.Join(a.Dir, "run", "master.pid"))
	if err != nil {
		t.Fatal(err)
	}
	root, err := strconv.Atoi(strings.TrimSpace(string(pidA)))
	if err != nil {
		t.Fatal(err)
	}
	procs := descendants(t, root)
	// supervisor, authdaemond (+3 workers), gam_server (under runuser),
	// two couriertcpd
	if len(procs) < 7 {
		t.Errorf("instance a has %d processes %v, want at least 7", len(procs), procs)
	}
	script, err := script()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run(script, nil, "stop", a.Dir); err != nil {
		t.Fatal(err)
	}
	for _, pid := range procs {
		if alive(pid) {
			t.Errorf("process %d of the stopped instance still runs", pid)
		}
	}
	if c, err := net.DialTimeout("tcp", a.IMAP, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after stop", a.IMAP)
	}
	if err := login(t, b.IMAP, b.Username(1), b.Password); err != nil {
		t.Errorf("the other instance after the stop: %v", err)
	}
}

// TestStartPortTaken: an instance asked for a port another process holds
// fails to start, with the reason, and leaves nothing running.
func TestStartPortTaken(t *testing.T) {
	Start(t, 1, Options{}) // skips where Courier cannot run; installs it
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	script, err := script()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, err = run(script, []string{"IMAP_PORT=" + port}, "start", dir, "1")
	if err == nil {
		_, _ = run(script, nil, "stop", dir)
		t.Fatalf("started with IMAP_PORT=%s held by the test", port)
	}
	if !strings.Contains(err.Error(), "did not serve on ports "+port) {
		t.Errorf("error %v, want the ports it could not serve on", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "run", "master.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && alive(pid) {
			t.Errorf("supervisor %d still runs after the failed start", pid)
			_, _ = run(script, nil, "stop", dir)
		}
	}
}
