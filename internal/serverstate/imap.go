// Package serverstate is the harness's own look at the server, apart from
// the simulated devices: the preflight check that a real server answers and
// accepts the users before a run (Preflight), and the reading of each user's
// state on the server for the final audit (IMAPReader, ReadAll). It needs
// only endpoints, a TLS configuration, credentials and a recorder: no
// engine, no plan.
package serverstate

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
)

// IMAPReader reads a real server's state for the auditor over IMAP: one
// session per user, every mailbox of the user's own (NAMESPACE, when
// offered, tells the other users' and shared ones, which are left out:
// foreignNamespaces), EXAMINE (read-only, so it changes no flag) and a
// fetch of FLAGS and the Message-ID header. Its commands go to
// its own Recorder, apart from the load the devices put on the server.
type IMAPReader struct {
	// Endpoint is the IMAP server.
	Endpoint transport.Endpoint
	// TLS is the base TLS configuration; nil verifies against system roots.
	TLS *tls.Config
	// Password returns the password of a user.
	Password func(user string) string
	// Recorder receives the auditor's commands. Nil discards.
	Recorder clients.Recorder
	// Timeout bounds the whole read of one user. Default 60s.
	Timeout time.Duration
	// Storage, if set, receives what each user read stores, by folder
	// role (the cost per user of a real server, docs/report.md).
	Storage *UserStorage

	// caps keeps the capability lists the sessions read (the greeting's,
	// the LOGIN reply's), the same for every user: a list read again is
	// compared, not parsed (leanimap.CapCache).
	caps leanimap.CapCache
}

// truthFetch is the FETCH of every message of a mailbox: its flags, UID,
// size and Message-ID header field.
const truthFetch = "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (Message-ID)])"

// UserState implements audit.Truth. Its session runs on the lean client
// (internal/leanimap): every command and its responses on the caller's
// goroutine, each FETCH response parsed as it comes.
func (t *IMAPReader) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	rec := t.Recorder
	if rec == nil {
		rec = clients.DiscardRecorder{}
	}
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := t.Endpoint.Addr
	c, err := t.login(ctx, rec, timeout, user)
	if err != nil {
		return view.Snapshot{}, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	run := func(name string, f func() error) error {
		bound(c, deadline)
		start := time.Now()
		err := f()
		rec.Command(clients.CommandEvent{Protocol: clients.ProtocolIMAP, Command: name, Outcome: transport.OutcomeOf(err), Duration: time.Since(start)})
		return err
	}
	// A refused NAMESPACE leaves no prefix to tell (foreignNamespaces):
	// the user's state is every folder listed, as the devices see it; the
	// refusal is recorded with its command (auditor_commands).
	foreign, _, err := foreignNamespaces(offersNamespace(func(cp imap.Cap) bool { return c.Has(strings.ToUpper(string(cp))) }), c.Namespace, run)
	if err != nil {
		return view.Snapshot{}, fmt.Errorf("auditor imap %s: namespace: %w", addr, err)
	}
	var boxes []imap.ListData
	if err := run("LIST", func() (err error) { boxes, err = c.List("", "*", false); return err }); err != nil {
		return view.Snapshot{}, fmt.Errorf("auditor imap %s: list: %w", addr, err)
	}
	boxes = slices.DeleteFunc(boxes, func(box imap.ListData) bool { return foreign.Has(box.Mailbox) })
	// Every copy, so that of several copies of a Message-ID the one
	// view.Prefer picks is shown, as on the devices.
	type found struct {
		id    string
		c     view.Copy
		flags view.Flags
	}
	var copies []found
	usage := map[string]RoleUsage{}
	trash := ""
	for i := range boxes {
		if box := &boxes[i]; slices.Contains(box.Attrs, imap.MailboxAttrTrash) && (trash == "" || box.Mailbox < trash) {
			trash = box.Mailbox
		}
	}
	var sel imap.SelectData
	for i := range boxes {
		box := &boxes[i]
		if !clients.Selectable(box) {
			continue
		}
		if err := run("EXAMINE", func() error { return c.SelectTo(&sel, box.Mailbox, true) }); err != nil {
			return view.Snapshot{}, fmt.Errorf("auditor imap %s: examine %q: %w", addr, box.Mailbox, err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		role := folderRole(box)
		u := usage[role]
		err := run("FETCH", func() error {
			return c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, truthFetch, func(m *leanimap.Message) error {
				if m.Size < 0 && len(m.Sections) == 0 {
					// An update the server sent unasked (another
					// session's flag change), not the message's
					// response: its message counts once.
					return nil
				}
				var fl view.Flags
				deleted := false
				for _, f := range m.Flags {
					fl |= view.ParseFlag(string(f))
					deleted = deleted || strings.EqualFold(string(f), string(imap.FlagDeleted))
				}
				if deleted {
					return nil
				}
				u.Messages++
				u.Bytes += max(m.Size, 0)
				var id string
				for _, s := range m.Sections {
					id = mailgen.MessageID(s.Data)
				}
				if id != "" {
					copies = append(copies, found{id, view.Copy{Folder: box.Mailbox, UID: uint32(m.UID)}, fl})
				}
				return nil
			})
		})
		if err != nil {
			return view.Snapshot{}, fmt.Errorf("auditor imap %s: fetch %q: %w", addr, box.Mailbox, err)
		}
		if u != (RoleUsage{}) {
			usage[role] = u
		}
	}
	snap := view.Snapshot{Messages: view.Pick(trash, 0, func(add func(string, view.Copy, view.Flags)) {
		for _, f := range copies {
			add(f.id, f.c, f.flags)
		}
	})}
	_ = run("LOGOUT", c.Logout)
	if t.Storage != nil {
		t.Storage.set(user, usage)
	}
	return snap, nil
}

// bound makes c's next command end by deadline, the read's: its
// deadline is then the connection's, as when the whole read had one
// (a passed deadline fails the command at once, as a timeout). A zero
// deadline leaves the client's own timeout per command.
func bound(c *leanimap.Client, deadline time.Time) {
	if deadline.IsZero() {
		return // the client's own timeout (leanimap.Options.Timeout)
	}
	c.SetTimeout(max(time.Until(deadline), time.Nanosecond))
}

// folderRole names a mailbox's role for storage figures: inbox, sent,
// drafts, trash, junk, archive (by special-use attribute, else by the
// names clients fall back to: clients.ListRole) or other.
func folderRole(box *imap.ListData) string {
	if r := clients.ListRole(box); r != "" {
		return r
	}
	return "other"
}

// RoleUsage is what one folder role of a user holds.
type RoleUsage struct {
	Messages, Bytes int64
}

// UserStorage collects what each user stores on a real server, by folder
// role, as IMAPReader reads it at the end of a run. Safe for concurrent use;
// the zero value is ready.
type UserStorage struct {
	mu sync.Mutex
	m  map[string]map[string]RoleUsage
}

func (s *UserStorage) set(user string, u map[string]RoleUsage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[string]RoleUsage{}
	}
	s.m[user] = u
}

// User returns what user stores by folder role; ok is false for a user
// whose state was not read.
func (s *UserStorage) User(user string) (usage map[string]RoleUsage, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[user]
	return u, ok
}

// login dials the server (TLS as the endpoint says, replies bounded),
// logs user in and returns the client, which closes the connection. The
// attempt is recorded as one login with the outcome of its cause, and as
// a LOGIN command when the server was reached. Each command ends by ctx's
// deadline (bound); when ctx is cancelled before, the connection is
// closed. When the LOGIN reply carried no capabilities, they are asked
// for (CAPABILITY, not recorded, as go-imap's client asked by itself).
func (t *IMAPReader) login(ctx context.Context, rec clients.Recorder, timeout time.Duration, user string) (*leanimap.Client, error) {
	addr := t.Endpoint.Addr
	fail := func(what string, err error) (*leanimap.Client, error) {
		rec.Login(clients.ProtocolIMAP, transport.LoginOutcome(err))
		if transport.NamesServer(err) {
			// The session setup's errors name the server and the step
			// already (transport.SetupIMAP): "imap ADDR: greeting: ...".
			return nil, fmt.Errorf("auditor %w", err)
		}
		return nil, fmt.Errorf("auditor imap %s: %s: %w", addr, what, err)
	}
	conn, c, err := leanimap.Dial(ctx, transport.Config{Protocol: clients.ProtocolIMAP, Endpoint: t.Endpoint, Meter: rec, Timeout: timeout, TLS: t.TLS}, leanimap.Options{Timeout: timeout, Caps: &t.caps})
	if err != nil {
		if transport.Step(err) == transport.StepConnect {
			return fail("dial", err)
		}
		return fail("greeting", err)
	}
	// The deadline ends each command by itself, as a timeout; a cancel
	// (the final audit given up or aborted) closes the connection under
	// the command in progress.
	stop := context.AfterFunc(ctx, func() {
		if ctx.Err() == context.Canceled {
			_ = conn.Close()
		}
	})
	deadline, _ := ctx.Deadline()
	bound(c, deadline)
	start := time.Now()
	err = conn.Explain(c.Login(user, t.Password(user)))
	rec.Command(clients.CommandEvent{Protocol: clients.ProtocolIMAP, Command: "LOGIN", Outcome: transport.OutcomeOf(err), Duration: time.Since(start)})
	if err != nil {
		stop()
		_ = c.Close()
		return fail("login "+user, err)
	}
	rec.Login(clients.ProtocolIMAP, transport.OutcomeOK)
	if c.Caps() == nil {
		bound(c, deadline)
		_, _ = c.Capability() // a failure fails the next command
	}
	return c, nil
}
