package main

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/capacity"
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

// TestCapacityMailStepNotes: each step of the report carries the notes on
// what the preflights found that concern the population it ran on (the
// same strings as the report's notes, before the search's own): a fresh
// step its own population's, every step of a live growth phase the
// population its first step opened. Before, they were only the report's,
// naming the steps in their text.
func TestCapacityMailStepNotes(t *testing.T) {
	const fam = "Filesystem notification initialization error"
	empty := &report.MailAtStart{Protocol: "imap", UsersChecked: 2}
	held := func(n int64) *report.MailAtStart {
		return &report.MailAtStart{Protocol: "imap", UsersChecked: 2, UsersWithMail: 1, Messages: n,
			Users: []report.UserMailAtStart{{User: "user1", Messages: n, Folders: []report.FolderMailAtStart{{Name: "INBOX", Messages: n}}}}}
	}
	type open struct {
		step  int64
		m     *report.MailAtStart
		alert string
	}
	for _, tc := range []struct {
		name  string
		live  int // the first live steps (the growth phase)
		steps int
		opens []open
		// search are notes the search gave the steps, by index.
		search map[int][]string
		// want are fragments of each step's notes, by index, in order.
		want map[int][]string
	}{
		{name: "fresh steps", steps: 4,
			opens: []open{{1, empty, ""}, {2, held(3), ""}, {3, held(9), ""}, {4, empty, ""}},
			want:  map[int][]string{1: {"2 of the 3 populations after the first"}, 2: {"2 of the 3 populations after the first"}}},
		{name: "mail before a live growth phase, then bisection", live: 4, steps: 6,
			opens:  []open{{1, held(2), ""}, {5, held(7), ""}, {6, empty, ""}},
			search: map[int][]string{4: {"the search's own"}},
			want: map[int][]string{0: {"before the search's first step"}, 1: {"before the search's first step"}, 2: {"before the search's first step"},
				3: {"before the search's first step"}, 4: {"1 of the 2 populations after the first", "the search's own"}}},
		{name: "alert to the live population and a fresh step", live: 4, steps: 6,
			opens: []open{{1, nil, fam}, {5, nil, ""}, {6, nil, fam}},
			want: map[int][]string{0: {report.AlertNote(fam)}, 1: {report.AlertNote(fam)}, 2: {report.AlertNote(fam)},
				3: {report.AlertNote(fam)}, 5: {report.AlertNote(fam)}}},
		{name: "embedded server", steps: 3, opens: []open{{1, nil, ""}, {2, nil, ""}, {3, nil, ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c capacityMail
			for _, o := range tc.opens {
				c.saw(o.m, populationOpen{step: o.step, users: 2}, io.Discard)
				c.sawAlert(o.alert, populationOpen{step: o.step, users: 2}, io.Discard)
			}
			var res capacity.Result
			for i := range tc.steps {
				res.Steps = append(res.Steps, capacity.Step{Users: i + 1, Live: i < tc.live, Notes: tc.search[i]})
			}
			c.annotate(&res)
			notes := append(c.notes(), "the search's own")
			for i, st := range res.Steps {
				want := tc.want[i]
				if len(st.Notes) != len(want) {
					t.Errorf("step %d: notes %q, want %d like %q", i, st.Notes, len(want), want)
					continue
				}
				for j, n := range st.Notes {
					if !strings.Contains(n, want[j]) || !slices.Contains(notes, n) {
						t.Errorf("step %d: note %q, want one like %q among the report's %q", i, n, want[j], notes)
					}
				}
			}
		})
	}
}
