package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/dovecottest"
)

// The tests in this file run a shipped scenario against a Dovecot that
// speaks another server's dialect (scripts/dovecot.sh NAMESPACE_PREFIX,
// SPECIAL_USE): a personal namespace "INBOX." with separator "." (Cyrus's
// and Courier's default, where CREATE "Archive" is refused) and folders
// without special-use attributes (Courier), so devices and the injector
// must find INBOX.Sent, INBOX.Junk, ... by namespace and name, and the
// auditor must compare folders by role.

// dialectTarget writes a target naming inst's listeners with delivery by
// IMAP APPEND (the injector then files spam into the server's Junk folder
// itself) and no metrics endpoint.
func dialectTarget(t *testing.T, inst *dovecottest.Instance) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "target.yaml")
	y := fmt.Sprintf(`target:
  imap: {addr: %q, tls: none}
  pop3: {addr: %q, tls: none}
  delivery: {protocol: imap-append}
  metrics_url: ""
`, inst.IMAP, inst.POP3)
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// mailboxCounts logs in as each of inst's users and returns the number of
// messages per mailbox over all users, and the mailboxes listed.
func mailboxCounts(t *testing.T, inst *dovecottest.Instance) map[string]int {
	t.Helper()
	out := map[string]int{}
	for n := 1; n <= inst.Users; n++ {
		conn, err := net.DialTimeout("tcp", inst.IMAP, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		c := imapclient.New(conn, nil)
		if err := c.Login(inst.Username(n), inst.Password).Wait(); err != nil {
			c.Close()
			t.Fatal(err)
		}
		boxes, err := c.List("", "*", nil).Collect()
		if err != nil {
			c.Close()
			t.Fatal(err)
		}
		for _, b := range boxes {
			st, err := c.Status(b.Mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
			if err != nil {
				c.Close()
				t.Fatalf("STATUS %s: %v", b.Mailbox, err)
			}
			out[b.Mailbox] += int(*st.NumMessages)
		}
		_ = c.Logout().Wait()
		c.Close()
	}
	return out
}

// TestDialectNamespacePrefix runs quickstart against Dovecot with the
// "INBOX." namespace and no special-use attributes: sends, moves to
// Archive, deletes and spam land in INBOX.Sent, INBOX.Archive, INBOX.Trash
// and INBOX.Junk; no CREATE or APPEND fails; nothing is lost and the IMAP
// group has no change the server disagrees with.
func TestDialectNamespacePrefix(t *testing.T) {
	t.Parallel()
	dovecottest.Available(t)
	for _, tc := range []struct {
		name string
		o    dovecottest.Options
		lmtp bool
	}{
		{"prefix-no-special-use", dovecottest.Options{NamespacePrefix: "INBOX.", NamespaceSeparator: ".", NoSpecialUse: true}, false},
		{"prefix-special-use", dovecottest.Options{NamespacePrefix: "INBOX.", NamespaceSeparator: "."}, false},
		{"prefix-lmtp", dovecottest.Options{NamespacePrefix: "INBOX.", NamespaceSeparator: "."}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inst := startDovecotWith(t, "quickstart", 6, tc.o)
			js := filepath.Join(t.TempDir(), "r.json")
			target := dialectTarget(t, inst)
			if tc.lmtp {
				target = writeDovecotTarget(t, inst)
			}
			res := mailsim("run", "quickstart", "--target", target, "--quiet", "--report", js,
				"--duration", "8s", "--settle", "6s")
			if res.code != exitOK && res.code != exitThresholds {
				t.Fatalf("quickstart against Dovecot (%s): %s", tc.name, res)
			}
			rep := readReport(t, js)
			checkDovecotRun(t, rep)
			for _, e := range commandErrors(rep) {
				for _, c := range []string{"/CREATE", "/APPEND", "/MOVE", "/UID MOVE"} {
					if strings.Contains(e, c+":") {
						t.Errorf("failed commands: %s", e)
					}
				}
			}
			if n := unconvergedReasons(rep, "imap-everywhere")["server-disagrees"]; n > 0 {
				t.Errorf("imap-everywhere: %v changes unconverged for server-disagrees", n)
			}
			checkIMAPGroupClean(t, rep, "imap-everywhere")
			counts := mailboxCounts(t, inst)
			t.Logf("messages per mailbox: %v", counts)
			for name := range counts {
				if name != "INBOX" && !strings.HasPrefix(name, "INBOX.") {
					t.Errorf("mailbox %q outside the namespace prefix", name)
				}
			}
			for _, name := range []string{"INBOX.Sent", "INBOX.Junk"} {
				if counts[name] == 0 {
					t.Errorf("%s holds no message: %v", name, counts)
				}
			}
		})
	}
}

// TestServerBehaviourReport runs quickstart (a leave-on-server POP3 PC
// next to IMAP devices) against the embedded server and Dovecot, which mark
// mail downloaded over POP3 \Seen, and against a Dovecot that does not
// (pop3_no_flag_updates, as Cyrus): the report says which behaviour the
// server showed, from messages it actually checked. The push latency is
// measured (it has samples) and, both servers notifying IDLE at once, no
// note warns about it.
func TestServerBehaviourReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		dovecot *dovecottest.Options
		want    bool
	}{
		{"embedded", nil, true},
		{"dovecot", &dovecottest.Options{}, true},
		{"dovecot-no-flag-updates", &dovecottest.Options{POP3NoFlagUpdates: true}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			js := filepath.Join(t.TempDir(), "r.json")
			args := []string{"run", "quickstart", "--quiet", "--report", js, "--duration", "8s", "--settle", "6s"}
			if tc.dovecot != nil {
				inst := startDovecotWith(t, "quickstart", 6, *tc.dovecot)
				args = append(args, "--target", writeDovecotTarget(t, inst))
			}
			res := mailsim(args...)
			if res.code != exitOK && res.code != exitThresholds {
				t.Fatalf("quickstart (%s): %s", tc.name, res)
			}
			rep := readReport(t, js)
			checked, seen := num(t, rep, "server.pop3_checked"), num(t, rep, "server.pop3_seen")
			if checked == 0 {
				t.Fatalf("server.pop3_checked 0: no downloaded message was checked")
			}
			got, _ := field(rep, "server.pop3_marks_seen")
			if got != tc.want {
				t.Errorf("server.pop3_marks_seen = %v (%v of %v seen), want %v", got, seen, checked, tc.want)
			}
			if want := fmt.Sprintf("the server marks downloaded mail \\Seen: %v", tc.want); !strings.Contains(res.stdout, want) {
				t.Errorf("summary lacks %q:\n%s", want, res.stdout)
			}
			if n := num(t, rep, "server.push_latency.samples"); n == 0 {
				t.Errorf("server.push_latency.samples 0: no IDLE notification measured")
			}
			t.Logf("push latency p50 %vs", num(t, rep, "server.push_latency.p50_s"))
			if strings.Contains(res.stdout, "note: the server's push latency") {
				t.Errorf("summary warns of push latency:\n%s", res.stdout)
			}
		})
	}
}
