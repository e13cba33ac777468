package mailserver

import (
	"fmt"
	"math/rand"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/knadh/go-pop3"
)

// TestManySessionsOfOneUser runs hundreds of IMAP sessions of one user
// that store flags, fetch, copy and expunge while LMTP delivers and POP3
// deletes. Afterwards every session, after a NOOP, must count exactly the
// messages the server holds: no update was lost or applied twice.
func TestManySessionsOfOneUser(t *testing.T) {
	sessions := 200
	if testing.Short() {
		sessions = 50
	}
	rec := newCountingRecorder()
	s, addrs := testServer(t, Options{Recorder: rec})
	for i := 0; i < 20; i++ {
		lmtpSend(t, addrs.LMTP, testMessage(fmt.Sprintf("<pre%d@test>", i), "pre"), "alice@example.com")
	}

	clients := make([]*imapclient.Client, sessions)
	for i := range clients {
		clients[i] = imapLogin(t, addrs.IMAP, "alice", nil)
		if _, err := clients[i].Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		// go-imap's Wait returns before its reader records the selected
		// mailbox (imapclient's completeCommand signals the waiter first),
		// so Mailbox() can still be nil here. The reader handles replies in
		// order: once a NOOP's reply is in, the SELECT is recorded.
		if err := clients[i].Noop().Wait(); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	errs := make(chan error, sessions+2)
	for i, c := range clients {
		wg.Add(1)
		go func(i int, c *imapclient.Client) {
			defer wg.Done()
			r := rand.New(rand.NewSource(int64(i)))
			for op := 0; op < 8; op++ {
				n := c.Mailbox().NumMessages
				if n == 0 {
					if err := c.Noop().Wait(); err != nil {
						errs <- err
						return
					}
					continue
				}
				seq := imap.SeqSetNum(uint32(r.Intn(int(n))) + 1)
				var err error
				switch r.Intn(5) {
				case 0:
					err = c.Store(seq, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
				case 1:
					_, err = c.Fetch(seq, &imap.FetchOptions{Flags: true, UID: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
				case 2:
					_, err = c.Copy(seq, "Archive").Wait()
				case 3:
					if i%10 == 0 {
						if err = c.Store(seq, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err == nil {
							_, err = c.Expunge().Collect()
						}
					}
				default:
					err = c.Noop().Wait()
				}
				if err != nil {
					errs <- fmt.Errorf("session %d op %d: %w", i, op, err)
					return
				}
			}
		}(i, c)
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			if err := tryLMTP(addrs.LMTP, testMessage(fmt.Sprintf("<live%d@test>", i), "live"), "alice@example.com"); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if err := tryPOP3DeleLast(addrs.POP3, "alice"); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	u := s.store.user("alice")
	u.mu.Lock()
	want := uint32(len(u.mailboxes["INBOX"].msgs))
	u.mu.Unlock()
	for i, c := range clients {
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("final NOOP %d: %v", i, err)
		}
		if got := c.Mailbox().NumMessages; got != want {
			t.Errorf("session %d counts %d messages, server has %d", i, got, want)
		}
	}
	checkUsage(t, s)
	if open := rec.open("imap"); open != sessions {
		t.Errorf("recorder says %d IMAP connections open, want %d", open, sessions)
	}
}

// checkUsage verifies that the Usage counters match the stored messages.
func checkUsage(t testing.TB, s *Server) {
	t.Helper()
	var want [numRoles]FolderUsage
	for _, u := range s.store.sortedUsers() {
		u.mu.Lock()
		for _, mb := range u.mailboxes {
			var b int64
			for _, m := range mb.msgs {
				b += m.size()
			}
			if b != mb.bytes {
				t.Errorf("%s/%s: bytes counter %d, messages sum to %d", u.name, mb.name, mb.bytes, b)
			}
			want[mb.role].Messages += len(mb.msgs)
			want[mb.role].Bytes += b
		}
		u.mu.Unlock()
	}
	for i, got := range s.Usage() {
		if got.Messages != want[i].Messages || got.Bytes != want[i].Bytes {
			t.Errorf("usage %s = %+v, stored %+v", got.Role, got, want[i])
		}
	}
}

// tryLMTP delivers msg to rcpt, returning any error (for goroutines, which
// must not call t.Fatal).
func tryLMTP(addr, msg, rcpt string) error {
	conn, err := net.DialTimeout("tcp", addr, testDeadline)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(testDeadline))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.SendMail("sender@example.net", []string{rcpt}, strings.NewReader(msg)); err != nil {
		return fmt.Errorf("lmtp: %w", err)
	}
	return c.Quit()
}

// tryPOP3DeleLast logs in, deletes the last message and quits.
func tryPOP3DeleLast(addr, user string) error {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	p, err := pop3.New(pop3.Opt{Host: host, Port: port, Dialer: deadlineDialer{}}).NewConn()
	if err != nil {
		return fmt.Errorf("pop3 connect: %w", err)
	}
	if err := p.Auth(user, "secret"); err != nil {
		return fmt.Errorf("pop3 auth: %w", err)
	}
	if n, _, err := p.Stat(); err != nil {
		return fmt.Errorf("pop3 stat: %w", err)
	} else if n > 0 {
		if err := p.Dele(n); err != nil {
			return fmt.Errorf("pop3 dele: %w", err)
		}
	}
	if err := p.Quit(); err != nil {
		return fmt.Errorf("pop3 quit: %w", err)
	}
	return nil
}

// TestBusyUserDoesNotStallOthers holds one user's lock, as a long operation
// on that user would, and checks that another user's IMAP, POP3 and LMTP
// work still completes.
func TestBusyUserDoesNotStallOthers(t *testing.T) {
	s, addrs := testServer(t, Options{})
	alice := s.store.user("alice")
	alice.mu.Lock()
	defer alice.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		if err := tryLMTP(addrs.LMTP, testMessage("<busy@test>", "busy"), "bob@example.com"); err != nil {
			done <- err
			return
		}
		if err := tryPOP3DeleLast(addrs.POP3, "bob"); err != nil {
			done <- err
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testDeadline):
		t.Fatal("bob's sessions stalled while alice was locked")
	}
	c := imapLogin(t, addrs.IMAP, "bob", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}
