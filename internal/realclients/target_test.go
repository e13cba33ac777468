package realclients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailserver"
)

// ioTimeout bounds every connection a test makes itself; runTimeout bounds
// one run of an external client.
const (
	ioTimeout  = 20 * time.Second
	runTimeout = 90 * time.Second
)

// target is a mail server under test: its plain-text listeners and a
// user's credentials.
type target struct {
	name             string
	imap, pop3, lmtp string
	user, password   string
	// domain is the part after @ in the user's address.
	domain string
}

// forEachTarget runs f as a subtest against each server: the embedded
// server (always) and Dovecot (skipped where it cannot run).
func forEachTarget(t *testing.T, f func(t *testing.T, tg target)) {
	for _, tt := range []struct {
		name  string
		start func(t *testing.T) target
	}{
		{"embedded", startEmbedded},
		{"dovecot", startDovecot},
	} {
		t.Run(tt.name, func(t *testing.T) { f(t, tt.start(t)) })
	}
}

// startEmbedded starts the embedded server as `mailsim serve` does (users
// user1..user2, one password, example.com) on loopback ports and stops it
// at cleanup.
func startEmbedded(t *testing.T) target {
	t.Helper()
	srv := mailserver.New(mailserver.Options{Domain: "example.com"})
	for i := 1; i <= 2; i++ {
		if err := srv.AddUser(fmt.Sprintf("user%d", i), "pass"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return target{name: "embedded", imap: addrs.IMAP, pop3: addrs.POP3, lmtp: addrs.LMTP,
		user: "user1", password: "pass", domain: "example.com"}
}

// startDovecot starts a private Dovecot with users user1..user2.
func startDovecot(t *testing.T) target {
	t.Helper()
	inst := dovecottest.Start(t, 2)
	return target{name: "dovecot", imap: inst.IMAP, pop3: inst.POP3, lmtp: inst.LMTP,
		user: inst.Username(1), password: inst.Password, domain: "example.com"}
}

// need returns the path of the program name, or skips the test (fails it
// under CI, where .ci/run installs it) with how to get it.
func need(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s is not installed (apt-get install %s)", name, pkg)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// run runs an external program with a bounded time and returns its
// combined output and exit code; a failure to start or a timeout fails the
// test.
func run(t *testing.T, env []string, name string, args ...string) (string, int) {
	t.Helper()
	return runCmd(t, "", env, name, args...)
}

// runIn is run in the directory dir.
func runIn(t *testing.T, dir string, name string, args ...string) (string, int) {
	t.Helper()
	return runCmd(t, dir, nil, name, args...)
}

func runCmd(t *testing.T, dir string, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v; output:\n%s", name, strings.Join(args, " "), runTimeout, out)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// deliver sends a small message with Message-ID <id> to the target's
// user over LMTP.
func deliver(t *testing.T, tg target, id string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", tg.lmtp, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(ioTimeout))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	msg := fmt.Sprintf("From: sender@example.net\r\nTo: %s@%s\r\nSubject: %s\r\nMessage-ID: <%s>\r\n"+
		"Date: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nHello %s.\r\n", tg.user, tg.domain, id, id, id)
	if err := c.SendMail("sender@example.net", []string{tg.user + "@" + tg.domain}, strings.NewReader(msg)); err != nil {
		t.Fatalf("lmtp deliver %s: %v", id, err)
	}
}

// imapLogin opens a second, independent IMAP session to check what a
// client did.
func imapLogin(t *testing.T, tg target) *imapclient.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", tg.imap, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(ioTimeout))
	c := imapclient.New(conn, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(tg.user, tg.password).Wait(); err != nil {
		t.Fatalf("imap login: %v", err)
	}
	return c
}

// mailboxState lists a mailbox as "<message-id> flags" lines, sorted:
// what a second session sees, independent of UIDs.
func mailboxState(t *testing.T, c *imapclient.Client, mailbox string) []string {
	t.Helper()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %s: %v", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	hdr := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, BodySection: []*imap.FetchItemBodySection{hdr}}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", mailbox, err)
	}
	var out []string
	for _, m := range msgs {
		id := strings.TrimSpace(string(m.FindBodySection(hdr)))
		id = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(id, "Message-ID:"), "Message-Id:"))
		var flags []string
		for _, f := range m.Flags {
			if f != `\Recent` {
				flags = append(flags, string(f))
			}
		}
		sort.Strings(flags)
		out = append(out, id+" "+strings.Join(flags, ","))
	}
	sort.Strings(out)
	return out
}

// splitAddr splits "host:port".
func splitAddr(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
