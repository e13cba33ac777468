package realclients

import (
	"strings"
	"testing"
)

// TestPythonClients runs testdata/pyclients.py, small scripted checks with
// Python's imaplib and poplib (LIST patterns and duplicates, modified
// UTF-7 names, keywords in FLAGS, SEARCH, UID MOVE, EXPUNGE; POP3 STAT,
// UIDL, TOP, RETR, DELE), and reports each failed check.
func TestPythonClients(t *testing.T) {
	python := need(t, "python3", "python3")
	forEachTarget(t, func(t *testing.T, tg target) {
		deliver(t, tg, "py@t")
		out, code := run(t, nil, python, "testdata/pyclients.py", tg.imap, tg.pop3, tg.user, tg.password)
		checks := 0
		for _, line := range strings.Split(out, "\n") {
			switch {
			case strings.HasPrefix(line, "ok "):
				checks++
			case strings.HasPrefix(line, "FAIL "):
				checks++
				t.Error(line)
			}
		}
		if code != 0 || checks == 0 {
			t.Errorf("pyclients.py exit %d after %d checks:\n%s", code, checks, out)
		}
	})
}
