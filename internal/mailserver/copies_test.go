package mailserver

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// countIn returns the number of messages in a mailbox of user, read over
// IMAP.
func countIn(t *testing.T, addr, user, mailbox string) uint32 {
	t.Helper()
	c := imapLogin(t, addr, user, nil)
	data, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %s of %s: %v", mailbox, user, err)
	}
	return data.NumMessages
}

// TestOneCopyPerRecipientPerTransaction: a transaction naming a recipient
// twice (in any case) stores one copy in its mailbox, as Dovecot does, over
// SMTP submission and over LMTP; every RCPT is still accepted, and a second
// transaction is a second delivery.
func TestOneCopyPerRecipientPerTransaction(t *testing.T) {
	rcpts := []string{
		"alice@example.com", "bob@example.com", "ALICE@example.com", "alice@example.com",
		"alice+Projects@example.com", "alice+Projects@example.com",
		"x@elsewhere.org", "X@Elsewhere.org",
	}
	for _, tc := range []struct {
		name string
		send func(t *testing.T, a Addrs, msg string) []error
	}{
		{"lmtp", func(t *testing.T, a Addrs, msg string) []error { return lmtpSend(t, a.LMTP, msg, rcpts...) }},
		{"smtp", func(t *testing.T, a Addrs, msg string) []error { return []error{smtpSend(t, a.SMTP, msg, rcpts...)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := newCountingRecorder()
			s, addrs := testServer(t, Options{Recorder: rec})
			for i, err := range tc.send(t, addrs, testMessage("<dup@test>", "dup")) {
				if err != nil {
					t.Errorf("recipient %d: %v", i, err)
				}
			}
			want := map[[2]string]uint32{{"alice", "INBOX"}: 1, {"alice", "Projects"}: 1, {"bob", "INBOX"}: 1}
			for k, n := range want {
				if got := countIn(t, addrs.IMAP, k[0], k[1]); got != n {
					t.Errorf("%s's %s holds %d messages, want %d", k[0], k[1], got, n)
				}
			}
			if got := s.External(); got != 1 {
				t.Errorf("External() = %d, want 1", got)
			}
			if got := rec.deliveries(tc.name); got != 3 {
				t.Errorf("recorded %d deliveries, want 3", got)
			}
			// A second transaction is a second delivery.
			tc.send(t, addrs, testMessage("<dup@test>", "dup"))
			if got := countIn(t, addrs.IMAP, "bob", "INBOX"); got != 2 {
				t.Errorf("after a second transaction bob's INBOX holds %d messages, want 2", got)
			}
		})
	}
}

// smtpSend submits msg as alice over SMTP to rcpts.
func smtpSend(t *testing.T, addr, msg string, rcpts ...string) error {
	t.Helper()
	c := smtp.NewClient(dial(t, addr))
	defer c.Close()
	if err := c.Hello("client"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice", "secret")); err != nil {
		t.Fatal(err)
	}
	err := c.SendMail("alice@example.com", rcpts, strings.NewReader(msg))
	_ = c.Quit()
	return err
}
