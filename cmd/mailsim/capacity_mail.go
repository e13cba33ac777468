package main

import (
	"context"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/internal/capacity"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/scenarios"
)

// capacityMail follows what the preflight of each population of a
// capacity search found in a real target's mailboxes (report.MailAtStart):
// the first population's finding is mail the search did not make; the
// later ones' is what the earlier steps left on the same server. A fresh
// step opens a population of its own; the live growth phase one for all
// its steps (capacity_live.go). The notes name a population by the step
// that opened it, as the progress lines number steps (populationOpen).
// The embedded server starts every step empty and is not looked at. Used
// from the search's goroutine only.
type capacityMail struct {
	// opened counts the populations whose target was opened; first is
	// the step that opened the first.
	opened int
	first  int64
	// before is the first population's finding, when it held mail.
	before *report.MailAtStart
	// found are the steps that opened the populations after the first
	// whose preflight found mail; most is the largest finding, in the
	// population mostAt.
	found  []int64
	most   *report.MailAtStart
	mostAt populationOpen
	// alerts are the [ALERT] texts the populations' preflights were
	// given at login (target.alert), distinct, in the order first given;
	// alertAt the steps that opened the populations given each.
	alerts  []string
	alertAt map[string][]int
}

// populationOpen is the step that opened a population's target: its
// number (the `step N` of the progress lines, from 1) and its users. The
// live growth phase's population is opened by the search's first step
// and grown by the later growth steps, so its finding is the note on
// mail before the search; a later population is a fresh step's.
type populationOpen struct {
	step  int64
	users int
}

// String names the population for the user: "step 5 (12 users)".
func (p populationOpen) String() string {
	return fmt.Sprintf("step %d (%d users)", p.step, p.users)
}

// openTarget opens the target of the population at (openTarget) and
// notes what its preflight found in the mailboxes.
func (sr *stepRunner) openTarget(ctx context.Context, plan *scenarios.Plan, reg prometheus.Registerer, at populationOpen) (*target, error) {
	tgt, err := openTarget(ctx, plan, reg, sr.log)
	if err != nil {
		return nil, err
	}
	sr.mail.saw(tgt.mailAtStart, at, sr.stderr)
	sr.mail.sawAlert(tgt.alert, at, sr.stderr)
	return tgt, nil
}

// sawAlert notes the [ALERT] text (target.alert; "" for none) of the
// population opened at, after saw counted it. A text is told on stderr
// the first time it is given, as report.AlertNote words it.
func (c *capacityMail) sawAlert(text string, at populationOpen, stderr io.Writer) {
	if text == "" {
		return
	}
	if c.alertAt == nil {
		c.alertAt = map[string][]int{}
	}
	if _, ok := c.alertAt[text]; !ok {
		c.alerts = append(c.alerts, text)
		fmt.Fprintf(stderr, "mailsim capacity: note: at %s, %s\n", at, report.AlertNote(text))
	}
	c.alertAt[text] = append(c.alertAt[text], int(at.step))
}

// saw notes the finding m (nil: not looked at) of the population opened
// at. Mail before the first population is warned of on stderr at once;
// the first later population that finds the earlier steps' mail is told
// once.
func (c *capacityMail) saw(m *report.MailAtStart, at populationOpen, stderr io.Writer) {
	c.opened++
	if c.opened == 1 {
		c.first = at.step
		if m.Found() {
			c.before = m
			fmt.Fprintf(stderr, "mailsim capacity: warning: %s\n", c.beforeNote())
		}
		return
	}
	if !m.Found() {
		return
	}
	c.found = append(c.found, at.step)
	if c.most == nil || m.Messages > c.most.Messages {
		c.most, c.mostAt = m, at
	}
	if len(c.found) == 1 {
		fmt.Fprintf(stderr, "mailsim capacity: note: %s runs on mailboxes holding the earlier steps' mail (%d messages in %d of the %d users looked at): see the report's notes\n",
			at, m.Messages, m.UsersWithMail, m.UsersChecked)
	}
}

// beforeNote says what the first population found.
func (c *capacityMail) beforeNote() string {
	return "before the search's first step, " + c.before.Warning()
}

// notes are the capacity report's notes on what the preflights found: the
// server's [ALERT]s at login (the run report's note, with the steps that
// opened the populations given it), mail before the search, and the
// earlier steps' mail later steps ran on.
func (c *capacityMail) notes() []string {
	var out []string
	for _, n := range c.populationNotes() {
		out = append(out, n.text)
	}
	return out
}

// populationNote is a note of capacityMail.notes with the populations it
// concerns, by the numbers of the steps that opened them.
type populationNote struct {
	text   string
	openAt []int64
}

// populationNotes are the notes of notes, in order, each with the
// populations it concerns.
func (c *capacityMail) populationNotes() []populationNote {
	var out []populationNote
	for _, text := range c.alerts {
		steps := c.alertAt[text]
		where := "the population opened at step " + capacity.FormatList(steps)
		if len(steps) > 1 {
			where = "the populations opened at steps " + capacity.FormatList(steps)
		}
		share := fmt.Sprintf("%d of the %d the search opened", len(steps), c.opened)
		switch {
		case c.opened == 1:
			share = "the only one the search opened"
		case len(steps) == c.opened:
			share = "every one the search opened"
		}
		on := "it"
		if len(steps) > 1 {
			on = "them"
		}
		n := populationNote{text: fmt.Sprintf("%s (said at the preflight's login to %s, %s: the steps on %s ran against that server)",
			report.AlertNote(text), where, share, on)}
		for _, s := range steps {
			n.openAt = append(n.openAt, int64(s))
		}
		out = append(out, n)
	}
	if c.before != nil {
		out = append(out, populationNote{text: c.beforeNote(), openAt: []int64{c.first}})
	}
	if len(c.found) > 0 {
		left := "which earlier steps left there"
		if c.before != nil {
			left = "which earlier steps left there beside the mail found before the search"
		}
		out = append(out, populationNote{openAt: c.found, text: fmt.Sprintf("%d of the %d populations after the first (each a fresh step on the same server; the live growth phase's steps share the first) found mail in the users' mailboxes, "+
			"%s (the most: %s, %d messages in %d of the %d users looked at); "+
			"each of those steps delivered Message-IDs of its own (a seed derived from the scenario's), so its lost mail counts its own mail, "+
			"but its devices synced the earlier mail too, which its divergence and convergence count, and they synced fuller mailboxes than a fresh server's; "+
			"QoS lines on those figures are only as good as an emptied server between steps (docs/capacity.md, One step)",
			len(c.found), c.opened-1, left, c.mostAt, c.most.Messages, c.most.UsersWithMail, c.most.UsersChecked)})
	}
	return out
}

// annotate puts the notes on the mail of a population (populationNotes)
// first among the notes of each step in res that ran on that
// population: a fresh step's own (step i+1 of the progress
// lines is res.Steps[i]: a step cut or ended by an error ends the
// search), and for every step of the live growth phase the one its first
// step opened.
func (c *capacityMail) annotate(res *capacity.Result) {
	notes := c.populationNotes()
	if len(notes) == 0 {
		return
	}
	byOpener := map[int64][]int{} // the steps, by index, of each population
	live := int64(0)
	for i, st := range res.Steps {
		opener := int64(i + 1)
		if st.Live {
			if live == 0 {
				live = opener
			}
			opener = live
		}
		byOpener[opener] = append(byOpener[opener], i)
	}
	mail := map[int][]string{}
	for _, n := range notes {
		for _, at := range n.openAt {
			for _, i := range byOpener[at] {
				mail[i] = append(mail[i], n.text)
			}
		}
	}
	// Before the search's own, as in the report's notes.
	for i, ns := range mail {
		res.Steps[i].Notes = append(ns, res.Steps[i].Notes...)
	}
}
