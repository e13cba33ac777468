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
// embedded server (not looked at) and empty mailboxes give nothing. The
// notes name a population by the step that opened it and its users, the
// numbers of the progress lines: a live growth phase opens one population
// for many steps, so the second population opened may be step 5 (it said
// "population 2").
func TestCapacityMail(t *testing.T) {
	empty := &report.MailAtStart{Protocol: "imap", UsersChecked: 2}
	held := func(n int64) *report.MailAtStart {
		return &report.MailAtStart{Protocol: "imap", UsersChecked: 2, UsersWithMail: 1, Messages: n,
			Users: []report.UserMailAtStart{{User: "user1", Messages: n, Folders: []report.FolderMailAtStart{{Name: "INBOX", Messages: n}}}}}
	}
	type seen struct {
		m  *report.MailAtStart
		at populationOpen
	}
	opened := func(step int64, users int, m *report.MailAtStart) seen {
		return seen{m, populationOpen{step: step, users: users}}
	}
	for _, tc := range []struct {
		name   string
		seen   []seen
		stderr []string
		notes  []string
	}{
		{"embedded", []seen{opened(1, 2, nil), opened(2, 4, nil), opened(3, 8, nil)}, nil, nil},
		{"fresh target", []seen{opened(1, 2, empty), opened(2, 4, held(3)), opened(3, 8, held(9)), opened(4, 6, held(5))},
			[]string{"mailsim capacity: note: step 2 (4 users) runs on mailboxes holding the earlier steps' mail (3 messages in 1 of the 2 users"},
			[]string{"3 of the 3 populations after the first", "the most: step 3 (8 users), 9 messages", "Message-IDs of its own"}},
		// A live growth phase of steps 1-4, then bisection's fresh steps.
		{"live growth, then bisection", []seen{opened(1, 5, empty), opened(5, 15, held(7)), opened(6, 12, held(4))},
			[]string{"mailsim capacity: note: step 5 (15 users) runs on mailboxes"},
			[]string{"2 of the 2 populations after the first", "the most: step 5 (15 users), 7 messages"}},
		{"reused target", []seen{opened(1, 2, held(4)), opened(2, 4, empty)},
			[]string{"mailsim capacity: warning: before the search's first step, the users' mailboxes held mail before the run: user1: 4 messages (INBOX 4)"},
			[]string{"before the search's first step, the users' mailboxes held mail", "fresh server instance"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c capacityMail
			var stderr bytes.Buffer
			for _, p := range tc.seen {
				c.saw(p.m, p.at, &stderr)
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

// TestCapacityMailAlert: a server's [ALERT] at the preflight's login is
// told on stderr the first time, and the capacity report notes each text
// once, with the run report's words and the steps that opened the
// populations given it.
func TestCapacityMailAlert(t *testing.T) {
	var c capacityMail
	var stderr bytes.Buffer
	const fam = "Filesystem notification initialization error"
	for _, o := range []struct {
		alert string
		at    populationOpen
	}{
		{fam, populationOpen{step: 1, users: 2}}, // the live population, steps 1-4
		{"", populationOpen{step: 5, users: 6}},
		{fam, populationOpen{step: 6, users: 5}},
	} {
		c.saw(nil, o.at, &stderr)
		c.sawAlert(o.alert, o.at, &stderr)
	}
	if want := "mailsim capacity: note: at step 1 (2 users), " + report.AlertNote(fam) + "\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	notes := c.notes()
	if len(notes) != 1 || !strings.HasPrefix(notes[0], report.AlertNote(fam)+" (") ||
		!strings.Contains(notes[0], "the populations opened at steps 1 and 6, 2 of the 3 the search opened") {
		t.Errorf("notes %q", notes)
	}
}
