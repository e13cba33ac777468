package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// mailFound is what a preflight over IMAP found in 5 users' mailboxes:
// user1 57 messages in three folders, user10 12 in INBOX.
func mailFound() *MailAtStart {
	return NewMailAtStart("imap", []UserMailAtStart{
		{User: "user1", Messages: 57, FoldersListed: 6, Folders: []FolderMailAtStart{{"INBOX", 40}, {"Sent", 0}, {"Archive", 10}, {"Trash", 7}}},
		{User: "user3", Folders: []FolderMailAtStart{{"INBOX", 0}}},
		{User: "user5", Folders: []FolderMailAtStart{{"INBOX", 0}}},
		{User: "user7", Folders: []FolderMailAtStart{{"INBOX", 0}}},
		{User: "user10", Messages: 12, Folders: []FolderMailAtStart{{"INBOX", 12}}},
	}, "", map[string]int{"LIST": 1, "STATUS": 8})
}

// emptyMailboxes are n users' empty INBOXes, as a look found them.
func emptyMailboxes(n int) []UserMailAtStart {
	out := make([]UserMailAtStart, n)
	for i := range out {
		out[i] = UserMailAtStart{User: fmt.Sprintf("user%d", i+1), Folders: []FolderMailAtStart{{"INBOX", 0}}}
	}
	return out
}

// TestMailAtStartSection: the JSON carries what the preflight found; the
// summary and the HTML warn when mail was there (which users and folders,
// why it matters, what to do), say the mailboxes were empty when not, and
// say nothing when they were not looked at (the embedded server).
func TestMailAtStartSection(t *testing.T) {
	empty := NewMailAtStart("pop3", emptyMailboxes(5), "", map[string]int{"STAT": 5})
	cut := NewMailAtStart("imap", nil, "user1: LIST: i/o timeout", nil)
	noNamespace := NewMailAtStart("imap", []UserMailAtStart{{User: "user1", FoldersListed: 7, NamespaceRefused: true, Folders: []FolderMailAtStart{{"INBOX", 0}}}}, "", nil)
	warning := "WARNING: the users' mailboxes held mail before the run: user1: 57 messages (INBOX 40, Archive 10, Trash 7), user10: 12 messages (INBOX 12); " +
		"2 of the 5 users looked at held mail (over IMAP: the first user's folders, the other sampled users' INBOX). " +
		"Mail an earlier run left on this server skews this run's figures: with the same seed mailsim makes the same Message-IDs"
	for _, tc := range []struct {
		name       string
		in         *MailAtStart
		summary    []string
		notSummary []string
		html       string
	}{
		{"found", mailFound(), []string{warning, "fresh server instance", "another --seed"}, []string{"mail at the start: none"},
			`<h2>Mail at the start</h2>` + "\n" + `<p class="fail">the users&#39; mailboxes held mail before the run: user1: 57 messages`},
		{"empty", empty, []string{"mail at the start: none in the 5 users' mailboxes looked at (over POP3: each sampled user's maildrop)"}, []string{"WARNING"},
			`<p class="ok">mail at the start: none in the 5 users&#39; mailboxes`},
		{"not answered", cut, []string{"mail at the start: not known (over IMAP: the first user's folders, the other sampled users' INBOX): user1: LIST: i/o timeout"}, []string{"WARNING"},
			`<p>mail at the start: not known (over IMAP`},
		{"namespace refused", noNamespace, []string{"mail at the start: none in the 1 users' mailboxes looked at (over IMAP: the first user's folders, the other sampled users' INBOX); " +
			"the server refused NAMESPACE (user1), so other users' and shared folders could not be told from the user's own and may be counted"}, []string{"WARNING"},
			`<p class="ok">mail at the start: none in the 1 users&#39; mailboxes`},
		{"embedded", nil, nil, []string{"WARNING", "mail at the start"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sampleInput(t)
			in.MailAtStart = tc.in
			r := roundTrip(t, Build(in))
			if (r.MailAtStart == nil) != (tc.in == nil) || tc.in != nil && (r.MailAtStart.Messages != tc.in.Messages ||
				len(r.MailAtStart.Users) != len(tc.in.Users) || r.MailAtStart.Incomplete != tc.in.Incomplete) {
				t.Fatalf("mail_at_start %+v, want %+v", r.MailAtStart, tc.in)
			}
			if !r.Validity.OK {
				t.Errorf("validity %+v: mail at the start is a warning, not a validity problem", r.Validity)
			}
			checkSummary(t, r, tc.summary, tc.notSummary)
			var html bytes.Buffer
			if err := r.WriteHTML(&html); err != nil {
				t.Fatal(err)
			}
			if tc.html != "" && !strings.Contains(html.String(), tc.html) {
				t.Errorf("HTML lacks %q", tc.html)
			}
			if tc.in == nil && strings.Contains(html.String(), "Mail at the start") {
				t.Error("HTML speaks of mail at the start on a server not looked at")
			}
		})
	}
}

// TestMailAtStartWarningBounds: the warning names at most 5 users and 5
// folders each, and says how many more there were.
func TestMailAtStartWarningBounds(t *testing.T) {
	m := &MailAtStart{Protocol: "imap", UsersChecked: 7}
	for i := range 7 {
		u := UserMailAtStart{User: "u" + string(rune('a'+i)), Messages: 7}
		for k := range 7 {
			u.Folders = append(u.Folders, FolderMailAtStart{Name: "F" + string(rune('a'+k)), Messages: 1})
		}
		m.Users = append(m.Users, u)
		m.UsersWithMail++
		m.Messages += 7
	}
	w := m.Warning()
	if !strings.Contains(w, "ua: 7 messages (Fa 1, Fb 1, Fc 1, Fd 1, Fe 1, …)") || !strings.Contains(w, "ue: 7 messages") ||
		strings.Contains(w, "uf:") || !strings.Contains(w, "and 2 more; 7 of the 7 users") {
		t.Errorf("warning %q", w)
	}
}

// TestMergeMailAtStart: each shard's preflight looked at its own users;
// the merged report adds them up and keeps every user looked at.
func TestMergeMailAtStart(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	parts := randomParts(3, 5)
	shard := func(i int, m *MailAtStart) *Report {
		in := partsInput(t, []string{"1/3", "2/3", "3/3"}[i], start, parts[i:i+1], nil)
		in.MailAtStart = m
		return roundTrip(t, Build(in))
	}
	empty := NewMailAtStart("imap", emptyMailboxes(5), "", map[string]int{"LIST": 1, "STATUS": 9})
	cut := NewMailAtStart("imap", nil, "user3: LIST: NO", nil)
	m, err := Merge([]*Report{shard(0, mailFound()), shard(1, empty), shard(2, cut)})
	if err != nil {
		t.Fatal(err)
	}
	got := m.MailAtStart
	if got == nil || got.UsersChecked != 10 || got.UsersWithMail != 2 || got.Messages != 69 || len(got.Users) != 10 ||
		got.Commands["STATUS"] != 17 || got.Incomplete != "shard 3/3: user3: LIST: NO" {
		t.Errorf("merged %+v", got)
	}
	m, err = Merge([]*Report{shard(0, nil), shard(1, nil), shard(2, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if m.MailAtStart != nil {
		t.Errorf("merged %+v of shards that did not look, want none", m.MailAtStart)
	}
}
