// Package couriertest starts private Courier-IMAP 5.0 / courier-pop
// instances for tests, with the project's scripts/courier.sh: Courier
// unpacked from Debian packages into a private prefix (it conflicts with
// Dovecot's packages, so it is never installed), running in a private
// mount namespace with its authlib userdb, users user1..userN and their
// Maildirs in a test's temporary directory, IMAP and POP3 on free loopback
// ports. Courier has no LMTP: tests deliver by IMAP APPEND.
//
// Tests are skipped with a clear message where Courier cannot run: not
// root, no apt-get, the packages cannot be fetched and unpacked, or mount
// namespaces are not permitted. Under CI (CI set in the environment) they
// fail instead, because .ci/run unpacks Courier, unless .ci/run reported
// that it could not (MAILSIM_COURIER_UNAVAILABLE holds its reason).
package couriertest

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
	// NoFAM runs Courier without gamin's gam_server (file notification):
	// IDLE then polls the mailbox every IdlePoll seconds instead of
	// pushing changes at once, and every folder open waits about 1.2 s
	// for libgamin to give up (scripts/courier.sh IDLE_FAM=no).
	NoFAM bool
	// IdlePoll, when positive, is the interval in seconds at which a
	// polled IDLE checks the mailbox (IMAP_IDLE_TIMEOUT); the script's
	// default is Debian's 60.
	IdlePoll int
	// Folders are created in every user's Maildir (as INBOX.<name>), as
	// a previous client would have left them; none by default.
	Folders []string
	// ExtraUsers are users beside user1..userN (a scenario's
	// staff001, mobile1, ...), with the same password.
	ExtraUsers []string
}

// Instance is a running private Courier instance.
type Instance struct {
	// IMAP and POP3 are the listeners' "127.0.0.1:port".
	IMAP, POP3 string
	// Dir holds the instance's userdb, Maildirs, socket and logs.
	Dir string
	// Users is the number of users named user1..userN.
	Users int
	// Password is every user's password.
	Password string
}

// Username returns the name of user n (1-based): "user<n>".
func (i *Instance) Username(n int) string { return "user" + strconv.Itoa(n) }

// Start starts a private Courier with users user1..userN, stopped when
// the test ends. It skips the test where Courier cannot run (or, under
// CI, fails it) and fails it when the instance does not start.
func Start(t testing.TB, users int, o Options) *Instance {
	t.Helper()
	if users < 1 {
		t.Fatalf("couriertest: users must be at least 1, got %d", users)
	}
	for _, f := range o.Folders {
		if f == "" || strings.ContainsAny(f, ",./\\\n") {
			t.Fatalf("couriertest: folder name %q: want a name without ',', '.', '/', '\\'", f)
		}
	}
	unavailable := t.Skipf
	if os.Getenv("CI") != "" {
		if why := os.Getenv("MAILSIM_COURIER_UNAVAILABLE"); why != "" {
			t.Skipf("couriertest: .ci/run could not unpack Courier: %s", why)
		}
		unavailable = t.Fatalf
	}
	if os.Geteuid() != 0 {
		unavailable("couriertest: starting a private Courier needs root (its private mounts; the logins switch users)")
	}
	for _, tool := range []string{"apt-get", "unshare", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			unavailable("couriertest: scripts/courier.sh needs %s: %v", tool, err)
		}
	}
	script, err := script()
	if err != nil {
		t.Fatalf("couriertest: %v", err)
	}
	if err := scripttest.Unpack(script, scripttest.UnpackLock(script), scriptVars); err != nil {
		unavailable("couriertest: Courier cannot be unpacked here: %v", err)
	}
	if err := exec.Command("unshare", "--mount", "--propagation", "private", "true").Run(); err != nil {
		unavailable("couriertest: Courier runs in a private mount namespace, and unshare --mount is not permitted here: %v", err)
	}
	env := []string{"IDLE_FAM=yes", "FOLDERS=" + strings.Join(o.Folders, ","), "EXTRA_USERS=" + strings.Join(o.ExtraUsers, " ")}
	if o.NoFAM {
		env[0] = "IDLE_FAM=no"
	}
	if o.IdlePoll > 0 {
		env = append(env, "IDLE_POLL="+strconv.Itoa(o.IdlePoll))
	}
	kv, n := scripttest.Server{Name: "couriertest", Script: script, Drop: scriptVars}.Start(t, env, users,
		"IMAP_ADDR", "POP3_ADDR", "PASSWORD")
	return &Instance{IMAP: kv["IMAP_ADDR"], POP3: kv["POP3_ADDR"], Dir: kv["DIR"], Password: kv["PASSWORD"], Users: n}
}

// scriptVars are the variables scripts/courier.sh honours that Start
// sets itself (or leaves at the script's default): the caller's
// environment does not reach the script with them.
var scriptVars = []string{"IMAP_PORT", "POP3_PORT", "IDLE_POLL", "IDLE_FAM", "FOLDERS", "EXTRA_USERS", "MAIL_USER"}

// run runs scripts/courier.sh (internal/scripttest) with extra variables.
func run(script string, extra []string, args ...string) ([]byte, error) {
	return scripttest.Run(script, scriptVars, extra, args...)
}

// script returns the path of the project's scripts/courier.sh.
func script() (string, error) { return scripttest.Path("courier.sh") }
