package mailserver

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestUserUsage(t *testing.T) {
	s, addrs := testServer(t, Options{Domain: "example.com"})
	m1 := testMessage("<u1@x>", "one")
	m2 := testMessage("<u2@x>", "two")
	for _, errs := range [][]error{
		lmtpSend(t, addrs.LMTP, m1, "alice@example.com"),
		lmtpSend(t, addrs.LMTP, m2, "alice@example.com", "bob@example.com"),
		lmtpSend(t, addrs.LMTP, m1, "alice+Archive@example.com"),
	} {
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	byRole := func(user string) map[string]FolderUsage {
		t.Helper()
		u, ok := s.UserUsage(user)
		if !ok {
			t.Fatalf("UserUsage(%s): unknown", user)
		}
		if len(u) != int(numRoles) {
			t.Errorf("%d roles, want %d", len(u), numRoles)
		}
		m := map[string]FolderUsage{}
		for _, f := range u {
			m[f.Role] = f
		}
		return m
	}
	alice, bob := byRole("ALICE"), byRole("bob")
	tests := []struct {
		name      string
		got       FolderUsage
		msgs      int
		wantBytes int64
	}{
		{"alice inbox", alice["inbox"], 2, -1},
		{"alice archive", alice["archive"], 1, -1},
		{"alice sent", alice["sent"], 0, 0},
		{"bob inbox", bob["inbox"], 1, -1},
	}
	for _, tc := range tests {
		if tc.got.Messages != tc.msgs {
			t.Errorf("%s: %d messages, want %d", tc.name, tc.got.Messages, tc.msgs)
		}
		if tc.wantBytes >= 0 && tc.got.Bytes != tc.wantBytes || tc.wantBytes < 0 && tc.got.Bytes <= 0 {
			t.Errorf("%s: %d bytes", tc.name, tc.got.Bytes)
		}
	}
	if alice["archive"].Bytes < int64(len(m1)) {
		t.Errorf("archive bytes %d, the message alone is %d", alice["archive"].Bytes, len(m1))
	}
	// The per-user figures add up to the server's totals.
	var total FolderUsage
	for _, f := range s.Usage() {
		total.Messages += f.Messages
		total.Bytes += f.Bytes
	}
	var sum FolderUsage
	for _, m := range []map[string]FolderUsage{alice, bob} {
		for _, f := range m {
			sum.Messages += f.Messages
			sum.Bytes += f.Bytes
		}
	}
	if sum != total {
		t.Errorf("users sum to %+v, server totals %+v", sum, total)
	}
	if _, ok := s.UserUsage("nobody"); ok {
		t.Error("unknown user reported")
	}
}

func TestUserServiceTime(t *testing.T) {
	s, addrs := testServer(t, Options{Domain: "example.com"})
	if errs := lmtpSend(t, addrs.LMTP, testMessage("<s1@x>", "one"), "alice@example.com", "bob@example.com"); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	service := func(user string) time.Duration {
		t.Helper()
		d, ok := s.UserServiceTime(user)
		if !ok {
			t.Fatalf("UserServiceTime(%s): unknown", user)
		}
		return d
	}
	// Deliveries are not attributed to users.
	if d := service("alice"); d != 0 {
		t.Errorf("alice before any session: %v", d)
	}
	c := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop().Wait(); err != nil { // NOOP's reply means FETCH's was metered
		t.Fatal(err)
	}
	imapTime := service("alice")
	if imapTime <= 0 {
		t.Errorf("alice after SELECT and FETCH: %v", imapTime)
	}
	p := pop3Login(t, addrs.POP3, "bob")
	if _, _, err := p.Stat(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Retr(1); err != nil {
		t.Fatal(err)
	}
	if d := service("bob"); d <= 0 {
		t.Errorf("bob after STAT and RETR: %v", d)
	}
	if d := service("alice"); d < imapTime {
		t.Errorf("alice's time went down: %v < %v", d, imapTime)
	}
	if _, ok := s.UserServiceTime("nobody"); ok {
		t.Error("unknown user reported")
	}
}
