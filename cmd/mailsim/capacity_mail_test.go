package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/report"
)

// TestCapacityMail: a search against a real target warns of mail before
// its first population at once, tells the first later population that
// finds the earlier steps' mail once, and notes both in the report; the
// embedded server (not looked at) and empty mailboxes give nothing.
func TestCapacityMail(t *testing.T) {
	empty := &report.MailAtStart{Protocol: "imap", UsersChecked: 2}
	held := func(n int64) *report.MailAtStart {
		return &report.MailAtStart{Protocol: "imap", UsersChecked: 2, UsersWithMail: 1, Messages: n,
			Users: []report.UserMailAtStart{{User: "user1", Messages: n, Folders: []report.FolderMailAtStart{{Name: "INBOX", Messages: n}}}}}
	}
	for _, tc := range []struct {
		name   string
		seen   []*report.MailAtStart
		stderr []string
		notes  []string
	}{
		{"embedded", []*report.MailAtStart{nil, nil, nil}, nil, nil},
		{"fresh target", []*report.MailAtStart{empty, held(3), held(9), held(5)},
			[]string{"mailsim capacity: note: population 2 of the search runs on mailboxes holding the earlier steps' mail (3 messages in 1 of the 2 users"},
			[]string{"3 of the 3 populations after the first", "the most: population 3, 9 messages", "Message-IDs of its own"}},
		{"reused target", []*report.MailAtStart{held(4), empty},
			[]string{"mailsim capacity: warning: before the search's first step, the users' mailboxes held mail before the run: user1: 4 messages (INBOX 4)"},
			[]string{"before the search's first step, the users' mailboxes held mail", "fresh server instance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c capacityMail
			var stderr bytes.Buffer
			for _, m := range tc.seen {
				c.saw(m, &stderr)
			}
			if lines := strings.Count(stderr.String(), "\n"); lines != len(tc.stderr) {
				t.Errorf("%d lines on stderr, want %d:\n%s", lines, len(tc.stderr), stderr.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
				}
			}
			notes := strings.Join(c.notes(), "\n")
			if (notes == "") != (len(tc.notes) == 0) {
				t.Errorf("notes %q", notes)
			}
			for _, s := range tc.notes {
				if !strings.Contains(notes, s) {
					t.Errorf("notes lack %q:\n%s", s, notes)
				}
			}
		})
	}
}
