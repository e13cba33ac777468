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
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	// The send is queued before the device runs, so its owner serves it
	// before its first round (imapSlot.exec): before it has listed
	// anything. A buffered request channel lets the request wait there
	// before Run starts.
	dev := d.(*imapDevice)
	for _, sl := range dev.slots {
		sl.reqs = make(chan slotReq, 1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		res Result
		err error
	}
	sent := make(chan result, 1)
	go func() {
		res, err := d.Do(ctx, Action{Kind: ActSend, To: []string{srv.addr}, Size: 2000})
		sent <- result{res, err}
	}()
	for queued := false; !queued; {
		for _, sl := range dev.slots {
			queued = queued || len(sl.reqs) > 0
		}
		select {
		case r := <-sent:
			t.Fatalf("send ended before the device ran: %+v", r)
		case <-ctx.Done():
			t.Fatal("the send never reached the device's connection")
		case <-time.After(time.Millisecond):
		}
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{})
	go func() { defer close(ran); _ = d.Run(runCtx) }()
	defer func() { stop(); <-ran }()
	r := <-sent
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
