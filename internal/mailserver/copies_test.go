package mailserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/dovecottest"
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
// twice stores one copy in its mailbox, as Dovecot does, over SMTP
// submission and over LMTP; every RCPT is still accepted, and a second
// transaction is a second delivery.
func TestOneCopyPerRecipientPerTransaction(t *testing.T) {
	rcpts := []string{
		"alice@example.com", "bob@example.com", "alice@EXAMPLE.com", "alice@example.com",
		"alice+Projects@example.com", "alice+Projects@example.com",
		"x@elsewhere.org", "x@Elsewhere.ORG",
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

// TestDuplicateRecipientsAsDovecot delivers over LMTP to the same user
// named several ways in one transaction and counts the copies stored, on
// the embedded server and on Dovecot (skipped when it cannot run here): the
// counts are Dovecot's (2.3.19 with scripts/dovecot.sh), which compares the
// local part exactly and the domain in any case.
func TestDuplicateRecipientsAsDovecot(t *testing.T) {
	cases := []struct {
		name    string
		rcpts   []string
		mailbox string
		want    uint32
	}{
		{"the same address twice", []string{"user1@example.com", "user1@example.com"}, "INBOX", 1},
		{"the domain in another case", []string{"user1@example.com", "user1@EXAMPLE.com"}, "INBOX", 1},
		{"the local part in another case", []string{"user1@example.com", "USER1@example.com"}, "INBOX", 2},
		{"a detail twice", []string{"user1+Archive@example.com", "user1+Archive@example.com"}, "Archive", 1},
		{"another user between", []string{"user1@example.com", "user2@example.com", "user1@example.com"}, "INBOX", 1},
	}
	type server struct{ lmtp, imap, password string }
	for _, srv := range []struct {
		name  string
		start func(t *testing.T) server
	}{
		{"embedded", func(t *testing.T) server {
			s := New(Options{})
			t.Cleanup(func() { s.Close() })
			for _, u := range []string{"user1", "user2"} {
				if err := s.AddUser(u, "secret"); err != nil {
					t.Fatal(err)
				}
			}
			a, err := s.Listen(ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			return server{a.LMTP, a.IMAP, "secret"}
		}},
		{"dovecot", func(t *testing.T) server {
			inst := dovecottest.Start(t, 2)
			return server{inst.LMTP, inst.IMAP, inst.Password}
		}},
	} {
		t.Run(srv.name, func(t *testing.T) {
			s := srv.start(t)
			c := imapclient.New(dial(t, s.imap), nil)
			defer c.Close()
			if err := c.Login("user1", s.password).Wait(); err != nil {
				t.Fatal(err)
			}
			count := func(mailbox string) uint32 {
				st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true}).Wait()
				if err != nil {
					t.Fatalf("status %s: %v", mailbox, err)
				}
				return *st.NumMessages
			}
			for i, tc := range cases {
				before := count(tc.mailbox)
				for j, err := range lmtpSend(t, s.lmtp, testMessage(fmt.Sprintf("<dup%d@test>", i), tc.name), tc.rcpts...) {
					if err != nil {
						t.Errorf("%s: recipient %d: %v", tc.name, j, err)
					}
				}
				if got := count(tc.mailbox) - before; got != tc.want {
					t.Errorf("%s: %d copies in %s, want %d", tc.name, got, tc.mailbox, tc.want)
				}
			}
		})
	}
}
