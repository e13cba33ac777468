package serverstate

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestIMAPReaderMatchesStore reads a mailbox over IMAP as the auditor does on
// a real server and checks it against the embedded server's own store.
func TestIMAPReaderMatchesStore(t *testing.T) {
	srv, addrs, _ := mailservertest.StartServer(t, mailservertest.User{Name: "alice", Password: "pw"})
	// Message 0 is held four times: twice in INBOX (the second copy
	// flagged below), in Archive and in Trash. Both readers show the copy
	// view.Prefer picks: the first in INBOX.
	for _, d := range []struct {
		i    int
		rcpt string
	}{
		{0, "alice@example.com"}, {1, "alice+Archive@example.com"}, {2, "alice+Junk@example.com"},
		{0, "alice+Trash@example.com"}, {0, "alice@example.com"}, {0, "alice+Archive@example.com"},
	} {
		i, rcpt := d.i, d.rcpt
		lmtpSend(t, addrs.LMTP, rcpt, i)
	}
	ic := imapclient.New(dialT(t, addrs.IMAP), nil)
	defer ic.Close()
	if err := ic.Login("alice", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := ic.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	rec := &testRecorder{}
	tr := &IMAPReader{
		Endpoint: transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSNone},
		Password: func(string) string { return "pw" },
		Recorder: rec,
	}
	got, err := tr.UserState(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	want, err := srv.UserState("alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 3 || !reflect.DeepEqual(got.Messages, want.Messages) {
		t.Errorf("over IMAP %v\nin the store %v", got.Messages, want.Messages)
	}
	if m := got.Messages["<m0@example.net>"]; m.Folder != "INBOX" || m.Flags != 0 {
		t.Errorf("message 0 read as %+v, want the first copy in INBOX, unflagged", m)
	}
	if rec.count("imap EXAMINE") == 0 || rec.count("imap FETCH") == 0 {
		t.Errorf("auditor commands not recorded: %v", rec.cmds)
	}
	tr.Password = func(string) string { return "wrong" }
	if _, err := tr.UserState(context.Background(), "alice"); err == nil {
		t.Error("a refused login gave no error")
	}
}

// dialT connects to addr with a deadline on the whole connection.
func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c
}

// lmtpSend delivers message i ("<mI@example.net>") to rcpt over LMTP at
// addr; the embedded server files "user+Folder@..." in Folder.
func lmtpSend(t *testing.T, addr, rcpt string, i int) {
	t.Helper()
	msg := fmt.Sprintf("Message-ID: <m%d@example.net>\r\nFrom: bob@example.net\r\nTo: %s\r\nSubject: %d\r\n\r\nhello\r\n", i, rcpt, i)
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.SendMail("bob@example.net", []string{rcpt}, strings.NewReader(msg)); err != nil {
		t.Fatalf("deliver to %s: %v", rcpt, err)
	}
}
