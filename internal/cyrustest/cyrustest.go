// Package cyrustest starts private Cyrus IMAP 3.6 instances for tests, with
// the project's scripts/cyrus.sh: Cyrus unpacked from Debian packages into
// a private prefix (it conflicts with Dovecot's packages, so it is never
// installed), its configuration, sasldb users user1..userN and spool in a
// test's temporary directory, IMAP, POP3 and LMTP on free loopback ports.
//
// Tests are skipped with a clear message where Cyrus cannot run: not root,
// or the packages cannot be fetched and unpacked (no apt-get, no network).
package cyrustest

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/scripttest"
)

// Options configure an instance beyond its users.
type Options struct {
	// AltNamespace puts the personal folders beside INBOX (Sent, Junk)
	// instead of under it (INBOX.Sent, Cyrus's default).
	AltNamespace bool
	// UnixHierarchySep makes the hierarchy separator "/" instead of "."
	// (Cyrus's unixhierarchysep: INBOX/Sent, or Sent/Sub beside INBOX).
	UnixHierarchySep bool
	// ExtraUsers are users created beside user1..userN, with the same
	// password (letters, digits, ".", "_", "-"), for scenarios with
	// another username pattern.
	ExtraUsers []string
	// Admin, when set, is an administrator of that name (Cyrus's admins),
	// with the users' password and no mailbox of their own: the one who
	// can create shared folders (Cyrus's shared namespace, beside INBOX).
	Admin string
	// IdlePoll, when positive, serves IDLE by checking the mailbox every
	// IdlePoll seconds instead of by idled's notifications: a server whose
	// push latency is its poll interval.
	IdlePoll int
}

// Instance is a running private Cyrus instance.
type Instance struct {
	// IMAP, POP3 and LMTP are the listeners' "127.0.0.1:port" (LMTP is
	// preauthorised).
	IMAP, POP3, LMTP string
	// Dir holds the instance's configuration, databases, spool and log.
	Dir string
	// Users is the number of users, named user1..userN.
	Users int
	// Password is every user's password.
	Password string
}

// Username returns the name of user n (1-based): "user<n>".
func (i *Instance) Username(n int) string { return "user" + strconv.Itoa(n) }

// Start starts a private Cyrus with users user1..userN, stopped when the
// test ends. It skips the test where Cyrus cannot run and fails it when
// the instance does not start.
func Start(t testing.TB, users int, o Options) *Instance {
	t.Helper()
	if users < 1 {
		t.Fatalf("cyrustest: users must be at least 1, got %d", users)
	}
	if os.Geteuid() != 0 {
		t.Skip("cyrustest: starting a private Cyrus needs root (its master drops privileges to the cyrus user)")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("cyrustest: Cyrus is unpacked from Debian packages, and apt-get is missing")
	}
	script, err := scripttest.Path("cyrus.sh")
	if err != nil {
		t.Fatalf("cyrustest: %v", err)
	}
	if err := scripttest.Unpack(script, scripttest.UnpackLock(script), scriptEnv); err != nil {
		t.Skipf("cyrustest: Cyrus cannot be unpacked here: %v", err)
	}
	env := []string{"ALTNAMESPACE=no"}
	if o.AltNamespace {
		env[0] = "ALTNAMESPACE=yes"
	}
	if o.UnixHierarchySep {
		env = append(env, "UNIXHIERARCHYSEP=yes")
	}
	if o.IdlePoll > 0 {
		env = append(env, "IDLE_POLL="+strconv.Itoa(o.IdlePoll))
	}
	if o.Admin != "" {
		env = append(env, "ADMIN="+o.Admin)
	}
	if len(o.ExtraUsers) > 0 {
		env = append(env, "EXTRA_USERS="+strings.Join(o.ExtraUsers, " "))
	}
	kv, n := scripttest.Server{Name: "cyrustest", Script: script, Drop: scriptEnv}.Start(t, env, users,
		"IMAP_ADDR", "POP3_ADDR", "LMTP_ADDR", "PASSWORD")
	return &Instance{IMAP: kv["IMAP_ADDR"], POP3: kv["POP3_ADDR"], LMTP: kv["LMTP_ADDR"], Dir: kv["DIR"], Password: kv["PASSWORD"], Users: n}
}

// scriptEnv are the variables cyrus.sh honours (ports, namespace, IDLE,
// users): a call sets them only through its extra environment.
var scriptEnv = []string{"IMAP_PORT", "POP3_PORT", "LMTP_PORT", "ALTNAMESPACE", "UNIXHIERARCHYSEP", "IDLE_POLL", "EXTRA_USERS", "ADMIN"}
