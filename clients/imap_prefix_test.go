package clients

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/view"
)

// TestIMAPSendBeforeFirstList: a person may send mail before the device
// has listed the server's folders (at the start of a run, on a loaded
// machine, before the device's first sync). On a server whose folders live
// under the personal namespace prefix "INBOX." (Cyrus's default, here
// Dovecot configured alike, without special-use), the draft and the sent
// copy still go to INBOX.Drafts and INBOX.Sent: the device learns the
// folders first instead of guessing "Drafts" (an APPEND the server
// refuses, then a CREATE it refuses too).
func TestIMAPSendBeforeFirstList(t *testing.T) {
	inst := dovecottest.StartWith(t, 1, dovecottest.Options{NamespacePrefix: "INBOX.", NamespaceSeparator: ".", NoSpecialUse: true})
	srv := storeServer{imap: inst.IMAP, lmtp: inst.LMTP, user: inst.Username(1), pass: inst.Password, addr: inst.Username(1) + "@example.com"}
	env := newIMAPEnvNoServer()
	rec := &imapRecorder{}
	o := srv.phone(env, rec)
	o.Submitter = &lmtpSubmitter{addr: inst.LMTP}
	dev, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	d := dev.(*imapDevice)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type sent struct {
		res Result
		err error
	}
	done := make(chan sent, 1)
	go func() {
		res, err := d.Do(ctx, Action{Kind: ActSend, To: []string{srv.addr}, Size: 2000})
		done <- sent{res, err}
	}()
	// The send waits for the connection's owner before Run started: the
	// owner serves it before its first round, so before any LIST.
	for deadline := time.Now().Add(10 * time.Second); !d.slots[0].knocks(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the send never asked for the connection")
		}
	}
	stop := runUntilStop(t, d)
	defer stop()
	r := <-done
	res, err := r.res, r.err
	if err != nil {
		t.Fatalf("send: %v; commands %v", err, rec.names())
	}
	if res.Folder != "INBOX.Sent" || res.Flags != view.Seen {
		t.Errorf("send: %+v, want the copy in INBOX.Sent, \\Seen", res)
	}
	for _, n := range rec.names() {
		if strings.Contains(n, ":") || n == "CREATE" {
			t.Errorf("command %s (a failed one, or a CREATE of a folder the server has): %v", n, rec.names())
		}
	}
}
