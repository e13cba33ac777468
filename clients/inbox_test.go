package clients

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

func TestInboxLog(t *testing.T) {
	type step struct {
		add    []int // keys added (INBOX of held messages: 10)
		held   int
		since  InboxCursor
		want   []int
		wantOK bool
		next   InboxCursor
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"empty from the start", []step{{since: 0, wantOK: true, next: 0}}},
		{"from the start", []step{{add: []int{1, 2, 3}, held: 10, since: 0, want: []int{1, 2, 3}, wantOK: true, next: 3}}},
		{"only what came since", []step{
			{add: []int{1, 2}, held: 10, since: 0, want: []int{1, 2}, wantOK: true, next: 2},
			{add: []int{3}, held: 10, since: 2, want: []int{3}, wantOK: true, next: 3},
			{since: 3, wantOK: true, next: 3},
		}},
		{"a cursor the log forgot", []step{
			{add: []int{1, 2}, held: 10, since: 0, want: []int{1, 2}, wantOK: true, next: 2},
			{add: []int{3}, held: 10, since: 0, wantOK: false, next: 3},
		}},
		{"a cursor beyond the log", []step{{add: []int{1}, held: 10, since: 5, wantOK: false, next: 1}}},
		{"dropped when nobody asks", []step{
			// 64 entries (at least a quarter of an INBOX of 10): the
			// 65th drops the first 64.
			{add: seq(65), held: 10, since: 0, wantOK: false, next: 65},
			{add: []int{7}, held: 10, since: 65, want: []int{7}, wantOK: true, next: 66},
		}},
		{"kept while the INBOX is larger", []step{
			{add: seq(65), held: 400, since: 0, want: seq(65), wantOK: true, next: 65},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l inboxLog[int]
			for i, s := range tc.steps {
				for _, k := range s.add {
					l.add(k, s.held)
				}
				var got []int
				next, ok := l.take(s.since, func(k int) { got = append(got, k) })
				if ok != s.wantOK || next != s.next || !slices.Equal(got, s.want) {
					t.Fatalf("step %d: take(%d) = %v, %d, %v; want %v, %d, %v", i, s.since, got, next, ok, s.want, s.next, s.wantOK)
				}
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestNewInInbox runs every device kind against the embedded server: what
// NewInInbox returns from a cursor is exactly the messages that came into
// the INBOX the device shows since (a message that came and left is not
// among them), and from a cursor the device does not know, the whole
// INBOX; every call is checked against View.
func TestNewInInbox(t *testing.T) {
	for _, tc := range []struct {
		name string
		prof Profile
	}{
		{"pc-imap", Profile{Kind: KindPC, Protocol: IMAP, Connections: 1, PollInterval: time.Minute}},
		{"pc-imap-idle", Profile{Kind: KindPC, Protocol: IMAP, Connections: 2, Idle: true}},
		{"phone-imap", Profile{Kind: KindPhone, Protocol: IMAP, Connections: 1, Window: 100, PollInterval: time.Minute}},
		{"phone-imap-goimap", Profile{Kind: KindPhone, Protocol: IMAP, Connections: 1, Window: 100, PollInterval: time.Minute, IMAPClient: IMAPClientGoIMAP}},
		{"webmail", Profile{Kind: KindWebmail, Protocol: IMAP, Refresh: time.Minute}},
		{"pc-pop3", Profile{Kind: KindPC, Protocol: POP3, LeaveOnServer: true, PollInterval: time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mailserver.New(mailserver.Options{Domain: "example.com"})
			if err := srv.AddUser("alice", "secret"); err != nil {
				t.Fatal(err)
			}
			addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			env := newIMAPEnvNoServer()
			env.srv, env.addrs = srv, addrs
			p := tc.prof
			p.Name = tc.name
			d := startDevice(t, Options{
				ID: "alice/" + p.Name, Profile: &p,
				Username: "alice", Password: "secret", Address: "alice@example.com",
				IMAP:      transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSNone},
				POP3:      transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSNone},
				Clock:     simclock.New(600, time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)),
				Submitter: &lmtpSubmitter{addr: addrs.LMTP},
				Seed:      7,
				Timeout:   5 * time.Second,
				IDs:       view.NewInterner(),
			})
			ask := func(since InboxCursor, want ...string) InboxCursor {
				t.Helper()
				got, next := d.NewInInbox(since)
				slices.Sort(got)
				got = slices.Compact(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("NewInInbox(%d) = %v, want %v", since, got, want)
				}
				for id, m := range d.View().Messages {
					if m.Folder != view.FolderInbox && slices.Contains(got, id) {
						t.Fatalf("NewInInbox(%d) names %s, which the view shows in %s", since, id, m.Folder)
					}
				}
				return next
			}
			a, b := env.deliver(t, 2000), env.deliver(t, 2000)
			waitView(t, d, "a and b", hasAll(a, b))
			c1 := ask(0, a, b)
			c1 = ask(c1)
			x, y := env.deliver(t, 2000), env.deliver(t, 2000)
			waitView(t, d, "x and y", hasAll(x, y))
			if _, err := d.Do(context.Background(), Action{Kind: ActMove, MessageID: x, Folder: "Archive"}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: a}); err != nil {
				t.Fatal(err)
			}
			// x came and left, a only changed flags.
			c2 := ask(c1, y)
			ask(c2)
			// A cursor the device no longer keeps: the whole INBOX.
			c3 := ask(c1, a, b, y)
			// The move back is a message coming into INBOX again.
			if _, err := d.Do(context.Background(), Action{Kind: ActMove, MessageID: x, Folder: view.FolderInbox}); err != nil {
				t.Fatal(err)
			}
			waitView(t, d, "x in INBOX", func(v view.Snapshot) bool { return v.Messages[x].Folder == view.FolderInbox })
			ask(c3, x)
		})
	}
}
