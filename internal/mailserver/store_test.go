package mailserver

import (
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestRenameMovesChildren(t *testing.T) {
	st := newStore(100, nil)
	if err := st.addUser("alice", "x"); err != nil {
		t.Fatal(err)
	}
	u := st.users["alice"]
	for _, n := range []string{"Work", "Work/2025", "Work/2025/Q1", "Workshop"} {
		if _, err := st.createLocked(u, n, ""); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		from, to string
		wantErr  bool
	}{
		{"Work", "Job", false},
		{"Job", "Job/Sub", true},  // into itself
		{"Job", "Workshop", true}, // exists
		{"INBOX", "Old", true},    // INBOX stays
		{"Nope", "Other", true},   // missing
		{"Job/2025", "Y2025", false},
	}
	for _, tc := range tests {
		if err := st.renameLocked(u, tc.from, tc.to); (err != nil) != tc.wantErr {
			t.Errorf("rename %s -> %s: %v, want error %v", tc.from, tc.to, err, tc.wantErr)
		}
	}
	for _, n := range []string{"Job", "Y2025", "Y2025/Q1", "Workshop"} {
		if u.mailboxes[n] == nil || u.mailboxes[n].name != n {
			t.Errorf("mailbox %s missing after renames", n)
		}
	}
	for _, n := range []string{"Work", "Work/2025", "Job/2025", "Job/2025/Q1"} {
		if u.mailboxes[n] != nil {
			t.Errorf("old name %s still present", n)
		}
	}
}

func TestApplyFlags(t *testing.T) {
	tests := []struct {
		name  string
		cur   []imap.Flag
		op    imap.StoreFlagsOp
		flags []imap.Flag
		want  []imap.Flag
	}{
		{"add canonicalises case", nil, imap.StoreFlagsAdd, []imap.Flag{`\SEEN`, "$forwarded"}, []imap.Flag{"$Forwarded", imap.FlagSeen}},
		{"add keeps existing", []imap.Flag{imap.FlagSeen}, imap.StoreFlagsAdd, []imap.Flag{imap.FlagFlagged}, []imap.Flag{imap.FlagFlagged, imap.FlagSeen}},
		{"del is case-insensitive", []imap.Flag{"Work", imap.FlagSeen}, imap.StoreFlagsDel, []imap.Flag{"work"}, []imap.Flag{imap.FlagSeen}},
		{"set replaces", []imap.Flag{imap.FlagSeen}, imap.StoreFlagsSet, []imap.Flag{imap.FlagDraft}, []imap.Flag{imap.FlagDraft}},
		{"recent is dropped", nil, imap.StoreFlagsAdd, []imap.Flag{`\Recent`, ""}, []imap.Flag{}},
		{"no duplicates", nil, imap.StoreFlagsAdd, []imap.Flag{"k", "K", "k"}, []imap.Flag{"k"}},
	}
	for _, tc := range tests {
		got, err := applyFlags(tc.cur, tc.op, tc.flags)
		if err != nil || !sameFlags(got, tc.want) {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	many := make([]imap.Flag, maxFlagsPerMessage+1)
	for i := range many {
		many[i] = imap.Flag("k" + string(rune('A'+i%26)) + string(rune('a'+i/26)))
	}
	if _, err := applyFlags(nil, imap.StoreFlagsAdd, many); err == nil {
		t.Error("more than maxFlagsPerMessage flags accepted")
	}
}

func TestNormaliseCRLF(t *testing.T) {
	tests := map[string]string{
		"a\r\nb\r\n": "a\r\nb\r\n",
		"a\nb\n":     "a\r\nb\r\n",
		"a\rb":       "a\r\nb",
		"\n\r\n\r":   "\r\n\r\n\r\n",
		"":           "",
	}
	for in, want := range tests {
		if got := string(normaliseCRLF([]byte(in))); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
}
