package serverstate

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// failingTruth is a server whose state can never be read.
type failingTruth struct{ calls atomic.Int64 }

func (f *failingTruth) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	f.calls.Add(1)
	return view.Snapshot{}, errors.New("connection refused")
}

// TestReadAllGivesUp pins that the final read of the server's state stops
// soon when the server is gone, instead of retrying every user.
func TestReadAllGivesUp(t *testing.T) {
	users := make([]string, 200)
	for i := range users {
		users[i] = fmt.Sprintf("user%d", i+1)
	}
	ft := &failingTruth{}
	got, err := ReadAll(context.Background(), ft, users)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err %v, want the server's failure", err)
	}
	if len(got) != 0 {
		t.Errorf("%d users read from a dead server", len(got))
	}
	// At most the workers' users in flight, each tried Attempts times.
	if n := ft.calls.Load(); n > int64((Workers+GiveUp)*Attempts) {
		t.Errorf("%d attempts for 200 users of a dead server; want it to give up early", n)
	}
}

// TestReadAllEmbedded reads every user's state of the embedded server over
// IMAP with an IMAPReader and ReadAll alone (no engine, no plan) and checks
// it against the server's own store, with what each user stores.
func TestReadAllEmbedded(t *testing.T) {
	srv := mailserver.New(mailserver.Options{})
	t.Cleanup(func() { srv.Close() })
	users := []string{"alice", "bob", "carol", "dave"}
	for _, u := range users {
		if err := srv.AddUser(u, "pw-"+u); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	// User i gets i messages in INBOX and one in Archive; dave none.
	for i, u := range users[:3] {
		for n := 0; n <= i; n++ {
			rcpt := u + "@example.com"
			if n == i {
				rcpt = u + "+Archive@example.com"
			}
			msg := fmt.Sprintf("Message-ID: <%s-%d@example.net>\r\nFrom: x@example.net\r\nTo: %s@example.com\r\nSubject: %d\r\n\r\nhello\r\n", u, n, u, n)
			c := smtp.NewClientLMTP(dialT(t, addrs.LMTP))
			if err := c.SendMail("x@example.net", []string{rcpt}, strings.NewReader(msg)); err != nil {
				t.Fatalf("deliver to %s: %v", rcpt, err)
			}
			c.Close()
		}
	}
	rec := &testRecorder{}
	storage := &UserStorage{}
	r := &IMAPReader{
		Endpoint: transport.Endpoint{Addr: addrs.IMAP},
		Password: func(u string) string { return "pw-" + u },
		Recorder: rec,
		Timeout:  20 * time.Second,
		Storage:  storage,
	}
	got, err := ReadAll(context.Background(), r, users)
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range users {
		want, err := srv.UserState(u)
		if err != nil {
			t.Fatal(err)
		}
		s, err := got.UserState(context.Background(), u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		wantN := i + 1 // i in INBOX, one in Archive
		if u == "dave" {
			wantN = 0
		}
		if len(s.Messages) != wantN || !reflect.DeepEqual(s.Messages, want.Messages) {
			t.Errorf("%s over IMAP %v\nin the store %v", u, s.Messages, want.Messages)
		}
		usage, ok := storage.User(u)
		if !ok {
			t.Errorf("%s: no storage read", u)
			continue
		}
		if wantN > 0 && (usage[view.RoleInbox].Messages != int64(i) || usage[view.RoleArchive].Messages != 1 || usage[view.RoleArchive].Bytes <= 0) {
			t.Errorf("%s stores %+v, want %d in inbox, 1 in archive", u, usage, i)
		}
	}
	if n := rec.count("imap LOGIN"); n != len(users) {
		t.Errorf("%d LOGINs recorded, want one per user (%d)", n, len(users))
	}
	if _, err := got.UserState(context.Background(), "nobody"); err == nil {
		t.Error("a user not read has a state")
	}
}

// TestBudget pins the documented formula (docs/report.md).
func TestBudget(t *testing.T) {
	for _, tt := range []struct {
		users int
		want  time.Duration
	}{
		{0, 65 * time.Second},
		{1, 67 * time.Second},
		{8, 67 * time.Second},
		{9, 69 * time.Second},
		{800, 265 * time.Second},
		{100000, 10 * time.Minute},
	} {
		if got := Budget(tt.users); got != tt.want {
			t.Errorf("Budget(%d) = %s, want %s", tt.users, got, tt.want)
		}
	}
}
