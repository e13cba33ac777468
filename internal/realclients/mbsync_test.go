package realclients

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// TestMbsync: mbsync (isync) two-way sync of a mailbox with folders. Mail
// delivered over LMTP arrives in the local Maildir; a local flag change, a
// move to Archive and a delete are pushed back and seen by a second IMAP
// session; a flag that session sets and a new delivery come back; a
// further sync changes nothing on either side.
func TestMbsync(t *testing.T) {
	mbsync := need(t, "mbsync", "isync")
	forEachTarget(t, func(t *testing.T, tg target) { testMbsync(t, mbsync, tg) })
}

func testMbsync(t *testing.T, mbsync string, tg target) {
	dir := t.TempDir()
	mail := filepath.Join(dir, "mail")
	host, port := splitAddr(t, tg.imap)
	if err := os.Mkdir(mail, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "mbsyncrc")
	cfg := fmt.Sprintf(`IMAPAccount acc
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore remote
Account acc

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel ch
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
Sync All
`, host, port, tg.user, tg.password, mail, mail)
	if err := os.WriteFile(rc, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sync := func(step string) {
		t.Helper()
		out, code := run(t, nil, mbsync, "-c", rc, "-a")
		if code != 0 {
			t.Fatalf("mbsync (%s) exit %d:\n%s", step, code, out)
		}
	}

	for _, id := range []string{"keep@t", "archive@t", "delete@t"} {
		deliver(t, tg, id)
	}
	sync("first")
	local := maildirFiles(t, mail)
	for _, f := range []string{"Archive", "Drafts", "Junk", "Sent", "Trash"} {
		if _, err := os.Stat(filepath.Join(mail, f)); err != nil {
			t.Errorf("folder %s not created locally: %v", f, err)
		}
	}
	inbox := map[string]string{} // message id -> local path
	for _, p := range local {
		if strings.HasPrefix(p, "INBOX/") {
			inbox[messageID(t, filepath.Join(mail, p))] = p
		}
	}
	if len(inbox) != 3 || inbox["<keep@t>"] == "" || inbox["<archive@t>"] == "" || inbox["<delete@t>"] == "" {
		t.Fatalf("after the first sync the local INBOX holds %v, want the 3 delivered messages", inbox)
	}

	// local changes: flag one, move one to Archive, delete one
	keep := filepath.Join(mail, inbox["<keep@t>"])
	flagged := filepath.Join(mail, "INBOX", "cur", maildirBase(keep)+":2,F")
	if err := os.Rename(keep, flagged); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(mail, inbox["<archive@t>"]), filepath.Join(mail, "Archive", "new", "moved.local")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mail, inbox["<delete@t>"])); err != nil {
		t.Fatal(err)
	}
	sync("push")

	c := imapLogin(t, tg)
	want := map[string][]string{
		"INBOX":   {`<keep@t> \Flagged`},
		"Archive": {"<archive@t> "},
	}
	got := map[string][]string{}
	for box := range want {
		got[box] = mailboxState(t, c, box)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("server after the push: %q, want %q", got, want)
	}

	// server-side changes come back: a flag set by another IMAP session and
	// a new delivery
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	deliver(t, tg, "late@t")
	sync("pull")
	want["INBOX"] = []string{`<keep@t> \Flagged,\Seen`, "<late@t> "}
	localInbox := map[string]string{}
	for _, p := range maildirFiles(t, mail) {
		if strings.HasPrefix(p, "INBOX/") {
			localInbox[messageID(t, filepath.Join(mail, p))] = p
		}
	}
	if len(localInbox) != 2 || localInbox["<late@t>"] == "" || !strings.HasSuffix(localInbox["<keep@t>"], ":2,FS") {
		t.Fatalf("after the pull the local INBOX holds %v, want <keep@t> flagged and seen (:2,FS) and <late@t>", localInbox)
	}

	// a further sync is a no-op on both sides
	localBefore := maildirFiles(t, mail)
	sync("no-op")
	for box := range want {
		if s := mailboxState(t, c, box); !reflect.DeepEqual(s, want[box]) {
			t.Errorf("server %s changed by a no-op sync: %q, want %q", box, s, want[box])
		}
	}
	if after := maildirFiles(t, mail); !reflect.DeepEqual(after, localBefore) {
		t.Errorf("local Maildir changed by a no-op sync:\nbefore %q\nafter  %q", localBefore, after)
	}
}

// maildirFiles lists the message files under root ("Folder/cur/name"),
// sorted, without mbsync's state files.
func maildirFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		parts := strings.Split(rel, string(filepath.Separator))
		if !d.IsDir() && len(parts) >= 3 && (parts[len(parts)-2] == "cur" || parts[len(parts)-2] == "new") {
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// maildirBase returns a Maildir file name without its ":2,flags" info.
func maildirBase(p string) string {
	base := filepath.Base(p)
	if i := strings.Index(base, ":2,"); i >= 0 {
		base = base[:i]
	}
	return base
}

// messageID returns the Message-ID header value of the message file p.
func messageID(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Message-ID") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
