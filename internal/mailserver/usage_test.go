package mailserver

import (
	"testing"
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
