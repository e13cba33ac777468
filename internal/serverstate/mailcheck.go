package serverstate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// preflightMaxFolders bounds the folders of the first user whose messages
// the preflight counts (INBOX and the first others the server lists);
// the rest are counted as listed only.
const preflightMaxFolders = 20

// maxIncompleteText bounds the error text MailAtStart.Incomplete quotes.
const maxIncompleteText = 200

// MailAtStart is what the preflight found in the users' mailboxes before
// a run: a server reused from an earlier run keeps that run's mail, and
// with the same seed the new run makes the same Message-IDs, so its
// deliveries and divergence would be counted against the earlier copies
// (docs/report.md, "Mail at the start"). The preflight looks at its
// sample of users (sampleUsers) in the sessions it opens anyway: over
// IMAP the first user's folders (NAMESPACE, LIST, then STATUS (MESSAGES)
// of INBOX and of up to preflightMaxFolders-1 others) and the other sampled users'
// INBOX (STATUS); over POP3, when there is no IMAP endpoint, every sampled
// user's maildrop (STAT). The look never fails the check: a server that
// does not answer it leaves it incomplete, and the users after it are not
// looked at.
type MailAtStart struct {
	// Protocol is how the mailboxes were looked at: clients.ProtocolIMAP
	// or clients.ProtocolPOP3; "" when not at all (no IMAP or POP3
	// endpoint, or no user logged in).
	Protocol string
	// Users are the users looked at, in the order of the sample.
	Users []UserMail
	// Incomplete says why the look stopped short ("user1: STATUS
	// \"Archive\": ..."); "" when every sampled user who logged in was
	// looked at.
	Incomplete string
	// Commands counts the commands the look sent, by name (NAMESPACE,
	// LIST and STATUS, or STAT), and over IMAP the LOGOUT that ends the
	// first user's session when the look left it usable (a session the
	// look broke is closed without): what a server's own IMAP command
	// counters see of the preflight beyond its logins (docs/dovecot.md,
	// "Counting rules").
	Commands map[string]int
	// Alert is the text of the first [ALERT] the server sent in the first
	// user's IMAP greeting or LOGIN reply (alertWatch), "" for none: what
	// the server tells its users, such as Courier's "Filesystem
	// notification initialization error" when it runs without file
	// notification (docs/servers.md). It is no mail, but the preflight
	// finds it in the same session.
	Alert string
}

// Messages returns the messages found over every user looked at.
func (m MailAtStart) Messages() int64 {
	var n int64
	for _, u := range m.Users {
		n += u.Messages()
	}
	return n
}

// UserMail is one user's mailbox as the preflight found it.
type UserMail struct {
	User string
	// Folders are the folders whose messages were counted, INBOX first,
	// then in the order the server listed them. Over POP3 the maildrop
	// is the one folder INBOX.
	Folders []FolderMail
	// Listed is how many folders the server listed (LIST), 0 when only
	// the INBOX was looked at; more than len(Folders) when some were not
	// counted (\Noselect, or past preflightMaxFolders).
	Listed int
	// NamespaceRefused says the server refused NAMESPACE (NO, BAD) though
	// it offers it: no other users' or shared folders could be told from
	// the user's own, so Listed and Folders may hold some (the devices,
	// to whom it refuses it too, take them for the user's as well).
	NamespaceRefused bool
}

// Messages returns the messages of u's counted folders.
func (u UserMail) Messages() int64 {
	var n int64
	for _, f := range u.Folders {
		n += f.Messages
	}
	return n
}

// FolderMail is the message count of one folder.
type FolderMail struct {
	Name     string
	Messages int64
}

// mailLook collects MailAtStart over the preflight's sessions.
type mailLook struct {
	found MailAtStart
}

// stopped reports whether the look ended early: the next users are not
// looked at.
func (l *mailLook) stopped() bool { return l.found.Incomplete != "" }

// sent counts one command of the look.
func (l *mailLook) sent(name string) {
	if l.found.Commands == nil {
		l.found.Commands = map[string]int{}
	}
	l.found.Commands[name]++
}

// stop ends the look with user's failed command.
func (l *mailLook) stop(user, command string, err error) {
	l.found.Incomplete = fmt.Sprintf("%s: %s: %s", user, command, transport.ClipText(err.Error(), maxIncompleteText))
}

// imap counts user's messages on c, logged in: with all, NAMESPACE (when
// offered), LIST and a STATUS of INBOX and of the next listed selectable
// folders of the user's own up to preflightMaxFolders; else a STATUS of INBOX only. The whole look of the
// user has one deadline, preflightTimeout; the LIST is read one mailbox at
// a time and only the names to count are kept, so a server listing
// without end costs a bounded memory and time. It reports whether the
// session is still usable: the look succeeded, or the server refused a
// command with NO or BAD.
func (l *mailLook) imap(conn *transport.Conn, c *imapclient.Client, user string, all bool) bool {
	if l.stopped() {
		return true
	}
	l.found.Protocol = clients.ProtocolIMAP
	_ = conn.Extend(preflightTimeout)
	u := UserMail{User: user}
	fail := func(command string, err error) bool {
		if len(u.Folders) > 0 {
			l.found.Users = append(l.found.Users, u)
		}
		l.stop(user, command, conn.Explain(err))
		// Only the server's tagged NO or BAD leaves the session where
		// it was; after garbage, a hang-up, an oversized reply or a
		// timeout the client is closed or out of step with the server.
		var ie *imap.Error
		return errors.As(err, &ie) && conn.Err() == nil
	}
	names := []string{view.FolderInbox}
	if all {
		ns := func() (*imap.NamespaceData, error) { return c.Namespace().Wait() }
		foreign, refused, err := foreignNamespaces(offersNamespace(c.Caps().Has), ns, func(command string, f func() error) error {
			l.sent(command)
			return f()
		})
		if err != nil {
			return fail("NAMESPACE", err)
		}
		u.NamespaceRefused = refused != nil
		l.sent("LIST")
		list := c.List("", "*", nil)
		for box := list.Next(); box != nil; box = list.Next() {
			if foreign.Has(box.Mailbox) {
				continue // another user's or a shared folder: not listed as the user's
			}
			u.Listed++
			if strings.EqualFold(box.Mailbox, view.FolderInbox) || len(names) >= preflightMaxFolders || !clients.Selectable(box) {
				continue
			}
			names = append(names, box.Mailbox)
		}
		if err := list.Close(); err != nil {
			return fail("LIST", err)
		}
	}
	for _, name := range names {
		l.sent("STATUS")
		st, err := c.Status(name, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return fail(fmt.Sprintf("STATUS %q", name), err)
		}
		var n int64
		if st.NumMessages != nil {
			n = int64(*st.NumMessages)
		}
		u.Folders = append(u.Folders, FolderMail{Name: name, Messages: n})
	}
	l.found.Users = append(l.found.Users, u)
	return true
}

// pop3 counts user's messages on p, logged in: STAT. It reports whether
// the session is still usable: the look succeeded, or the server refused
// it with -ERR.
func (l *mailLook) pop3(p *transport.POP3, user string) bool {
	if l.stopped() {
		return true
	}
	l.found.Protocol = clients.ProtocolPOP3
	l.sent("STAT")
	n, _, err := p.Stat()
	if err != nil {
		l.stop(user, "STAT", p.Conn().Explain(err))
		var pe *transport.POP3Error
		return errors.As(err, &pe) && p.Conn().Err() == nil
	}
	l.found.Users = append(l.found.Users, UserMail{User: user, Folders: []FolderMail{{Name: view.FolderInbox, Messages: int64(n)}}})
	return true
}
