package realclients

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestFetchmail: fetchmail over POP3, leaving mail on the server (keep)
// and not. With keep, every delivered message is retrieved once and
// UIDL-based tracking holds across runs; without, the retrieved messages
// are deleted and disappear from IMAP too.
func TestFetchmail(t *testing.T) {
	fetchmail := need(t, "fetchmail", "fetchmail")
	forEachTarget(t, func(t *testing.T, tg target) { testFetchmail(t, fetchmail, tg) })
}

// fetchmailRun is one fetchmail setup: its rc file, id file and the
// directory its MDA writes each retrieved message into.
type fetchmailRun struct {
	bin, home, rc, out string
}

func newFetchmail(t *testing.T, bin string, tg target, keep bool) *fetchmailRun {
	t.Helper()
	home := t.TempDir()
	f := &fetchmailRun{bin: bin, home: home, rc: filepath.Join(home, "fetchmailrc"), out: filepath.Join(home, "out")}
	if err := os.Mkdir(f.out, 0o700); err != nil {
		t.Fatal(err)
	}
	mda := filepath.Join(home, "mda.sh")
	if err := os.WriteFile(mda, []byte("#!/bin/sh\nexec cat > \"$(mktemp \""+f.out+"/m.XXXXXX\")\"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	host, port := splitAddr(t, tg.pop3)
	keepOpt := "nokeep"
	if keep {
		keepOpt = "keep"
	}
	rc := fmt.Sprintf(`set no bouncemail
set no syslog
poll %s with protocol POP3 port %s uidl timeout 20 auth password
  user "%s" there with password "%s" is "%s" here
  options %s no rewrite sslproto '' no sslcertck
  mda "%s"
`, host, port, tg.user, tg.password, tg.user, keepOpt, mda)
	if err := os.WriteFile(f.rc, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fetch runs fetchmail once and returns the Message-IDs it retrieved in
// this run.
func (f *fetchmailRun) fetch(t *testing.T) []string {
	t.Helper()
	before := map[string]bool{}
	entries, _ := os.ReadDir(f.out)
	for _, e := range entries {
		before[e.Name()] = true
	}
	env := []string{"HOME=" + f.home, "FETCHMAILHOME=" + f.home}
	out, code := run(t, env, f.bin, "-f", f.rc, "--idfile", filepath.Join(f.home, "fetchids"), "--pidfile", filepath.Join(f.home, "pid"), "-v")
	// 0: mail retrieved; 1: no mail
	if code != 0 && code != 1 {
		t.Fatalf("fetchmail exit %d:\n%s", code, out)
	}
	var ids []string
	entries, _ = os.ReadDir(f.out)
	for _, e := range entries {
		if !before[e.Name()] {
			ids = append(ids, messageID(t, filepath.Join(f.out, e.Name())))
		}
	}
	sort.Strings(ids)
	if (code == 1) != (len(ids) == 0) {
		t.Errorf("fetchmail exit %d but %d messages retrieved:\n%s", code, len(ids), out)
	}
	return ids
}

func testFetchmail(t *testing.T, bin string, tg target) {
	check := func(step string, got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: retrieved %q, want %q", step, got, want)
		}
	}
	deliver(t, tg, "a@t")
	deliver(t, tg, "b@t")
	keep := newFetchmail(t, bin, tg, true)
	check("keep, first run", keep.fetch(t), "<a@t>", "<b@t>")
	check("keep, second run", keep.fetch(t))
	deliver(t, tg, "c@t")
	check("keep, after a new delivery", keep.fetch(t), "<c@t>")

	c := imapLogin(t, tg)
	if st := mailboxState(t, c, "INBOX"); len(st) != 3 {
		t.Fatalf("with keep the server should still hold 3 messages, IMAP shows %q", st)
	}

	drain := newFetchmail(t, bin, tg, false)
	check("nokeep", drain.fetch(t), "<a@t>", "<b@t>", "<c@t>")
	if st := mailboxState(t, c, "INBOX"); len(st) != 0 {
		t.Errorf("after fetchmail without keep IMAP still shows %q", st)
	}
	check("nokeep, second run", drain.fetch(t))
	check("keep, after the drain", keep.fetch(t))
}
