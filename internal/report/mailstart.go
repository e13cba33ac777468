package report

import (
	"fmt"
	"io"
	"strings"
)

// Bounds of what MailAtStart's warning names; the JSON holds every user
// and folder looked at.
const (
	maxWarnUsers   = 5
	maxWarnFolders = 5
)

// MailAtStart is the report's "mail_at_start" section: what the preflight
// found in the users' mailboxes on a real server before the run
// (internal/serverstate's MailAtStart; docs/report.md, "Mail at the
// start"). Absent on the embedded server, which starts empty.
type MailAtStart struct {
	// Protocol is how the mailboxes were looked at: "imap" (the first
	// sampled user's folders, LIST then STATUS, and the other sampled
	// users' INBOX) or "pop3" (every sampled user's maildrop, STAT); ""
	// when they were not.
	Protocol string `json:"protocol"`
	// UsersChecked counts the users looked at; UsersWithMail those of them
	// whose mailboxes held mail, Messages how many messages in all.
	UsersChecked  int   `json:"users_checked"`
	UsersWithMail int   `json:"users_with_mail"`
	Messages      int64 `json:"messages"`
	// Users are the users looked at, in the order of the sample.
	Users []UserMailAtStart `json:"users"`
	// Incomplete says why the look stopped short (the server did not
	// answer it); the users after it were not looked at.
	Incomplete string `json:"incomplete,omitempty"`
	// Commands counts the commands the look sent, by name (LIST, STATUS;
	// STAT), which the report's command counts do not hold.
	Commands map[string]int `json:"commands,omitempty"`
}

// NewMailAtStart returns the section of a look over protocol at users (in
// the order of the sample): its totals (UsersChecked, UsersWithMail,
// Messages) are the users'. incomplete says why the look stopped short,
// commands counts what it sent (MailAtStart). A run's report
// (cmd/mailsim's mailAtStart) and a merged one (mergeMailAtStart) are made
// by it, so that their totals are worked out in one place.
func NewMailAtStart(protocol string, users []UserMailAtStart, incomplete string, commands map[string]int) *MailAtStart {
	m := &MailAtStart{Protocol: protocol, Users: users, Incomplete: incomplete, Commands: commands}
	if m.Users == nil {
		m.Users = []UserMailAtStart{}
	}
	for _, u := range users {
		m.UsersChecked++
		m.Messages += u.Messages
		if u.Messages > 0 {
			m.UsersWithMail++
		}
	}
	return m
}

// UserMailAtStart is one user's mailbox before the run.
type UserMailAtStart struct {
	User     string `json:"user"`
	Messages int64  `json:"messages"`
	// Folders are the folders counted, INBOX first (over POP3, the
	// maildrop as INBOX).
	Folders []FolderMailAtStart `json:"folders"`
	// FoldersListed is how many folders the server listed (0: only the
	// INBOX was looked at); more than len(Folders) when some were not
	// counted (not selectable, or past the 20 the preflight counts).
	FoldersListed int `json:"folders_listed,omitempty"`
	// NamespaceRefused says the server refused NAMESPACE, which it
	// offers: other users' and shared folders could not be told from the
	// user's own, and folders_listed and folders may count some.
	NamespaceRefused bool `json:"namespace_refused,omitempty"`
}

// FolderMailAtStart is one folder's message count.
type FolderMailAtStart struct {
	Name     string `json:"name"`
	Messages int64  `json:"messages"`
}

// Found reports whether any mailbox looked at held mail.
func (m *MailAtStart) Found() bool { return m != nil && m.Messages > 0 }

// Warning says which users and folders held how many messages, why it
// matters and what to do; "" when none held mail.
func (m *MailAtStart) Warning() string {
	if !m.Found() {
		return ""
	}
	var held []string
	for _, u := range m.Users {
		if u.Messages == 0 {
			continue
		}
		if len(held) == maxWarnUsers {
			held = append(held, fmt.Sprintf("and %d more", m.UsersWithMail-maxWarnUsers))
			break
		}
		var fs []string
		for _, f := range u.Folders {
			if f.Messages == 0 {
				continue
			}
			if len(fs) == maxWarnFolders {
				fs = append(fs, "…")
				break
			}
			fs = append(fs, fmt.Sprintf("%s %d", f.Name, f.Messages))
		}
		noun := "messages"
		if u.Messages == 1 {
			noun = "message"
		}
		held = append(held, fmt.Sprintf("%s: %d %s (%s)", u.User, u.Messages, noun, strings.Join(fs, ", ")))
	}
	msg := fmt.Sprintf("the users' mailboxes held mail before the run: %s; %d of the %d users looked at held mail (%s)",
		strings.Join(held, ", "), m.UsersWithMail, m.UsersChecked, m.scope())
	if m.Incomplete != "" {
		msg += "; the look stopped short: " + m.Incomplete
	}
	return msg + m.namespaceNote() + ". " + MailAtStartAdvice
}

// namespaceNote says which users' NAMESPACE the server refused, so that
// their folders may include other users' and shared ones; "" when none.
func (m *MailAtStart) namespaceNote() string {
	var refused []string
	for _, u := range m.Users {
		if u.NamespaceRefused {
			refused = append(refused, u.User)
		}
	}
	if len(refused) == 0 {
		return ""
	}
	return "; the server refused NAMESPACE (" + strings.Join(refused, ", ") +
		"), so other users' and shared folders could not be told from the user's own and may be counted"
}

// MailAtStartAdvice says why mail found before a run matters and what to
// do about it.
const MailAtStartAdvice = "Mail an earlier run left on this server skews this run's figures: with the same seed mailsim makes the same Message-IDs, " +
	"so its deliveries, divergence, convergence and lost mail are counted against the earlier copies (moved, deleted, flagged), " +
	"and any mail there adds to what the devices sync and to the storage figures. " +
	"Run against a fresh server instance or empty these users' mailboxes first; another --seed avoids the same Message-IDs, not the extra mail"

// scope says how the mailboxes were looked at.
func (m *MailAtStart) scope() string {
	switch m.Protocol {
	case "imap":
		return "over IMAP: the first user's folders, the other sampled users' INBOX"
	case "pop3":
		return "over POP3: each sampled user's maildrop"
	}
	return "not looked at"
}

// Line says what the mailboxes held at the start in one line: the
// warning when they held mail, else what was looked at and found empty.
func (m *MailAtStart) Line() string {
	if m.Found() {
		return m.Warning()
	}
	if m.UsersChecked == 0 {
		out := "mail at the start: not known (" + m.scope() + ")"
		if m.Incomplete != "" {
			out += ": " + m.Incomplete
		}
		return out
	}
	out := fmt.Sprintf("mail at the start: none in the %d users' mailboxes looked at (%s)", m.UsersChecked, m.scope())
	if m.Incomplete != "" {
		out += "; the look stopped short: " + m.Incomplete
	}
	return out + m.namespaceNote()
}

// writeMailAtStart writes the summary's line on the mailboxes at the
// start; nothing when they were not looked at (the embedded server).
func (r *Report) writeMailAtStart(w io.Writer) {
	switch m := r.MailAtStart; {
	case m.Found():
		fmt.Fprintf(w, "WARNING: %s\n", m.Line())
	case m != nil:
		fmt.Fprintln(w, m.Line())
	}
}

// mergeMailAtStart combines the shards' looks: each shard's preflight
// looked at its own users' sample. Nil when no shard looked.
func mergeMailAtStart(shards []*Report) *MailAtStart {
	looked := false
	var protocol string
	var users []UserMailAtStart
	var incomplete []string
	var commands map[string]int
	for _, s := range shards {
		m := s.MailAtStart
		if m == nil {
			continue
		}
		if !looked {
			looked, protocol = true, m.Protocol
		}
		users = append(users, m.Users...)
		if m.Incomplete != "" {
			incomplete = append(incomplete, "shard "+s.Shard+": "+m.Incomplete)
		}
		for name, n := range m.Commands {
			if commands == nil {
				commands = map[string]int{}
			}
			commands[name] += n
		}
	}
	if !looked {
		return nil
	}
	return NewMailAtStart(protocol, users, strings.Join(incomplete, "; "), commands)
}
