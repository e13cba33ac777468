package realclients

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// imaptestGroups is the number of test groups in imaptest's suite (the
// tests directory of dovecot/imaptest at the commit described in
// ../shared/tools/imaptest/README.md).
const imaptestGroups = 71

// intendedDifferences are the imaptest groups the embedded server fails
// through a limit of the IMAP library, with the reason; docs/compliance.md
// explains each (TestComplianceDocListsDifferences holds the two
// together). The embedded server must fail exactly these groups.
var intendedDifferences = map[string]string{
	"fetch-envelope": "go-imap's ENVELOPE address has no source-route field: an obs-route is written as NIL",
}

// imaptestDir returns the directory of the prebuilt imaptest and its
// tests: $MAILSIM_IMAPTEST, else ../shared/tools/imaptest beside the
// repository root (where CI puts it). It skips the test when there is none.
func imaptestDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MAILSIM_IMAPTEST")
	if dir == "" {
		root, err := filepath.Abs(".")
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				t.Fatal("no go.mod above the test's directory")
			}
			root = parent
		}
		dir = filepath.Join(root, "..", "shared", "tools", "imaptest")
	}
	for _, p := range []string{"imaptest", "tests"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Skipf("no imaptest here (%v): set MAILSIM_IMAPTEST to a directory holding the imaptest binary and its tests/ (docs/compliance.md)", err)
		}
	}
	return dir
}

var (
	imaptestSummary = regexp.MustCompile(`(?m)^(\d+) test groups: (\d+) failed, (\d+) skipped`)
	imaptestFailure = regexp.MustCompile(`(?m)^\*\*\* Test (\S+) command`)
)

// runImaptest runs imaptest's compliance suite against tg and returns the
// failing groups, sorted, and the whole output.
func runImaptest(t *testing.T, dir string, tg target) ([]string, string) {
	t.Helper()
	host, port := splitAddr(t, tg.imap)
	bin := filepath.Join(dir, "imaptest")
	out, code := runIn(t, dir, bin, "host="+host, "port="+port, "user="+tg.user, "pass="+tg.password, "test=tests")
	if strings.Contains(out, "error while loading shared libraries") {
		t.Skipf("imaptest cannot run here (it needs Dovecot's libdovecot, apt-get install dovecot-core):\n%s", out)
	}
	m := imaptestSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("imaptest exit %d without its summary line:\n%s", code, tail(out, 40))
	}
	groups, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	skipped, _ := strconv.Atoi(m[3])
	if groups != imaptestGroups || skipped != 0 {
		t.Errorf("imaptest ran %d groups with %d skipped, want %d and 0", groups, skipped, imaptestGroups)
	}
	set := map[string]bool{}
	for _, f := range imaptestFailure.FindAllStringSubmatch(out, -1) {
		set[f[1]] = true
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) != failed {
		t.Errorf("imaptest reports %d failed groups but names %d: %v", failed, len(names), names)
	}
	t.Logf("%s: %d/%d groups pass; failing: %v", tg.name, groups-failed, groups, names)
	return names, out
}

// TestImaptestCompliance runs dovecot/imaptest's scripted compliance
// suite against the embedded server, which must fail exactly the
// documented intended differences, and against Dovecot, the reference,
// which must pass every group; neither may answer SERVERBUG.
func TestImaptestCompliance(t *testing.T) {
	dir := imaptestDir(t)
	forEachTarget(t, func(t *testing.T, tg target) {
		failing, out := runImaptest(t, dir, tg)
		for _, g := range failing {
			if tg.name == "dovecot" {
				t.Errorf("the reference Dovecot fails group %s", g)
			} else if _, ok := intendedDifferences[g]; !ok {
				t.Errorf("group %s fails and is not a documented difference", g)
			}
		}
		if tg.name != "dovecot" {
			for g := range intendedDifferences {
				if !slices.Contains(failing, g) {
					t.Errorf("group %s passes now: remove it from intendedDifferences and docs/compliance.md", g)
				}
			}
		}
		if strings.Contains(out, "SERVERBUG") {
			t.Errorf("%s answered SERVERBUG to an imaptest input", tg.name)
		}
		if t.Failed() {
			t.Logf("imaptest output (end):\n%s", tail(out, 80))
		}
	})
}

// tail returns the last n lines of s, each cut to 300 bytes.
func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

// TestComplianceDocListsDifferences holds docs/compliance.md to
// intendedDifferences: its table of differences left names exactly those
// groups, and its score line (and docs/dovecot.md's) says how many groups
// pass.
func TestComplianceDocListsDifferences(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "compliance.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "### Differences left")
	if start < 0 {
		t.Fatal(`docs/compliance.md has no "### Differences left" section`)
	}
	section := text[start:]
	if end := strings.Index(section[1:], "\n#"); end >= 0 {
		section = section[:end+1]
	}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^\| ([a-z0-9-]+) \|`).FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	var want []string
	for g := range intendedDifferences {
		want = append(want, g)
	}
	sort.Strings(documented)
	sort.Strings(want)
	if !slices.Equal(documented, want) {
		t.Errorf("docs/compliance.md documents groups %v, the test allows %v", documented, want)
	}
	score := fmt.Sprintf("| embedded server, now | %d/%d ", imaptestGroups-len(want), imaptestGroups)
	if !strings.Contains(text, score) {
		t.Errorf("docs/compliance.md lacks the score line %q", score)
	}
	dovecot, err := os.ReadFile(filepath.Join("..", "..", "docs", "dovecot.md"))
	if err != nil {
		t.Fatal(err)
	}
	score = fmt.Sprintf("embedded server %d/%d", imaptestGroups-len(want), imaptestGroups)
	if !strings.Contains(strings.Join(strings.Fields(string(dovecot)), " "), score) {
		t.Errorf("docs/dovecot.md does not say %q", score)
	}
}
