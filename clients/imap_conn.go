package clients

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/transport"
)

// imapConn is the IMAP client under a device's session (imapSession): the
// commands the devices send, one at a time, on the device's goroutine.
// Unilateral EXISTS, EXPUNGE and FETCH go to the session (imapSession.poke).
// Two implementations: go-imap's client (goimapConn) and the lean
// synchronous client (leanConn, internal/leanimap), chosen by
// Profile.IMAPClient. Failures classify with [transport.OutcomeOf]; a
// tagged NO or BAD is an *imap.Error.
type imapConn interface {
	// Capability asks for the capabilities.
	Capability() (imap.CapSet, error)
	// Login authenticates with LOGIN.
	Login(user, pass string) error
	// AuthenticatePlain authenticates with AUTHENTICATE PLAIN.
	AuthenticatePlain(user, pass string) error
	// Caps returns the capabilities known now, asking with CAPABILITY when
	// the login reply carried none (nil when that failed).
	Caps() imap.CapSet
	// ID sends ID with mailsim's name and version.
	ID() error
	// Enable enables one extension.
	Enable(c imap.Cap) error
	// Select selects (EXAMINE when readOnly) mailbox name. The data is
	// valid until the next Select (the lean client reuses it).
	Select(name string, readOnly bool) (*imap.SelectData, error)
	// NumMessages is the selected mailbox's message count as last
	// reported (SELECT, EXISTS, EXPUNGE); false when none is selected.
	NumMessages() (uint32, bool)
	// Fetch runs UID FETCH set with opts and calls fn for every message;
	// progress is called between messages (to renew deadlines). The
	// first error of reading a message is the command's error.
	Fetch(set imap.UIDSet, opts *imap.FetchOptions, keepHeader bool, fn func(fetched), progress func()) error
	// StoreAdd runs UID STORE set +FLAGS (flags) and calls fn for every
	// FETCH the server answers with.
	StoreAdd(set imap.UIDSet, flags []imap.Flag, fn func(fetched)) error
	// Search runs UID SEARCH criteria.
	Search(criteria *imap.SearchCriteria) ([]imap.UID, error)
	// SortArrival runs UID SORT (ARRIVAL) UTF-8 ALL.
	SortArrival() ([]imap.UID, error)
	// Move runs UID MOVE (UID COPY, STORE and EXPUNGE without MOVE) and
	// returns COPYUID's destination UIDs (nil when not sent).
	Move(set imap.UIDSet, dest string) (imap.UIDSet, error)
	// UIDExpunge runs UID EXPUNGE set.
	UIDExpunge(set imap.UIDSet) error
	// Expunge runs EXPUNGE.
	Expunge() error
	// Append appends raw to folder with flags and returns APPENDUID's UID
	// (0 when not sent).
	Append(folder string, flags []imap.Flag, raw []byte) (imap.UID, error)
	// List runs LIST ref pattern (RETURN (SPECIAL-USE) when specialUse).
	List(ref, pattern string, specialUse bool) ([]*imap.ListData, error)
	// Status runs STATUS name with the items of opts. The data is valid
	// until the next Status (the lean client reuses it).
	Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error)
	// Create runs CREATE name.
	Create(name string) error
	// Namespace runs NAMESPACE.
	Namespace() (*imap.NamespaceData, error)
	// Noop runs NOOP.
	Noop() error
	// Idle starts IDLE; the returned idler waits and ends it.
	Idle() (idler, error)
	// Logout runs LOGOUT, its reply awaited for at most timeout (the
	// caller sets the connection's deadlines to it too).
	Logout(timeout time.Duration) error
	// LoggedOut reports a connection the server or a LOGOUT ended.
	LoggedOut() bool
	// SaidBye reports whether the server said BYE on the connection (for
	// go-imap: the connection is in the logout state, which only a BYE
	// brings while no LOGOUT was sent).
	SaidBye() bool
	// Ended reports, without waiting, whether the client's own reader
	// saw the connection end: go-imap's reader goroutine, which reads
	// while the session is idle too. The lean client reads only within
	// a command: false.
	Ended() bool
	// Close closes the client (not the connection under it).
	Close() error
}

// idler is one IDLE command in progress.
type idler interface {
	// Wait blocks until the server reports a change (true: a token is
	// taken from updates, also one an earlier command left), ctx ends, max passes, or a request for sl
	// comes (false): go-imap's wait takes it into sl.held, the lean one
	// is interrupted by its requester (imapSlot.with) and leaves it to
	// imapSlot.takeKnocking.
	Wait(ctx context.Context, sl *imapSlot, updates <-chan struct{}, max time.Duration) (bool, error)
	// Done ends IDLE and reads its completion.
	Done() error
}

// goimapConn is imapConn over go-imap's client.
type goimapConn struct {
	c *imapclient.Client
	// conn is the connection under c, for Append's gathering (nil: none).
	conn *transport.Conn
	// wait bounds how long a FETCH cut in a literal waits for the
	// library's reader to end (abandonReply).
	wait time.Duration
	// s is the session, told of other sessions' changes that come as a
	// command's responses (fetched.content).
	s *imapSession
}

func (g goimapConn) Capability() (imap.CapSet, error) { return g.c.Capability().Wait() }
func (g goimapConn) Login(user, pass string) error    { return g.c.Login(user, pass).Wait() }
func (g goimapConn) AuthenticatePlain(user, pass string) error {
	return g.c.Authenticate(sasl.NewPlainClient("", user, pass))
}
func (g goimapConn) Caps() imap.CapSet { return g.c.Caps() }
func (g goimapConn) ID() error {
	_, err := g.c.ID(&imap.IDData{Name: "mailsim", Version: "1"}).Wait()
	return err
}
func (g goimapConn) Enable(c imap.Cap) error { _, err := g.c.Enable(c).Wait(); return err }
func (g goimapConn) Select(name string, readOnly bool) (*imap.SelectData, error) {
	return g.c.Select(name, &imap.SelectOptions{ReadOnly: readOnly}).Wait()
}
func (g goimapConn) NumMessages() (uint32, bool) {
	if mb := g.c.Mailbox(); mb != nil {
		return mb.NumMessages, true
	}
	return 0, false
}
func (g goimapConn) Fetch(set imap.UIDSet, opts *imap.FetchOptions, keepHeader bool, fn func(fetched), progress func()) error {
	cmd := g.c.Fetch(set, opts)
	content := asksContent(opts)
	n, exists := int64(0), g.exists()
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		if n++; n > leanimap.MaxFetchResponses(exists) && g.conn != nil {
			// The mailbox may have grown meanwhile (EXISTS); an EXPUNGE
			// meanwhile lowers no bound (the most it held since the
			// command began, as the lean client's).
			if exists = max(exists, g.exists()); n > leanimap.MaxFetchResponses(exists) {
				g.runaway(cmd, m)
				return fmt.Errorf("%w: %w: over %d FETCH responses in a mailbox of %d messages",
					errReplyAbandoned, transport.ErrReplyTooLarge, leanimap.MaxFetchResponses(exists), exists)
			}
		}
		f, err := readFetched(m, keepHeader)
		if err != nil {
			abandonReply(g.c, g.wait)
			return fmt.Errorf("%w: %w", errReplyAbandoned, err)
		}
		if content && !f.content {
			g.s.poke() // another session's flag change (fetched.content)
		} else {
			fn(f)
		}
		progress()
	}
	return cmd.Close()
}

// runaway ends a FETCH whose server sends more responses than it may (m
// the last one taken): the connection closes under go-imap's reader,
// which may be waiting to hand over the next response, so the responses
// it still parsed from its buffer are taken and dropped until it meets
// the closed connection, and then the client ends (abandonReply). Without
// the drain go-imap's Close waited for its reader for good.
func (g goimapConn) runaway(cmd *imapclient.FetchCommand, m *imapclient.FetchMessageData) {
	_ = g.conn.Close()
	for ; m != nil; m = cmd.Next() {
		drainFetch(m)
	}
	abandonReply(g.c, g.wait)
}

// exists is the selected mailbox's message count as known now, which
// bounds a FETCH's responses by the lean client's rule
// (leanimap.MaxFetchResponses); the bound holds where g has its
// connection (a device's session always), which runaway closes.
func (g goimapConn) exists() uint32 {
	n, _ := g.NumMessages()
	return n
}

// errReplyAbandoned marks a FETCH whose reply could not be read to its end
// (a literal cut short, see abandonReply): the connection is closed and
// the session broken.
var errReplyAbandoned = errors.New("fetch reply abandoned")

func (g goimapConn) StoreAdd(set imap.UIDSet, flags []imap.Flag, fn func(fetched)) error {
	cmd := g.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: flags}, nil)
	for m := cmd.Next(); m != nil; m = cmd.Next() {
		got, _ := readFetched(m, false)
		fn(got)
	}
	return cmd.Close()
}
func (g goimapConn) Search(criteria *imap.SearchCriteria) ([]imap.UID, error) {
	res, err := g.c.UIDSearch(criteria, nil).Wait()
	if err != nil {
		return nil, err
	}
	return res.AllUIDs(), nil
}
func (g goimapConn) SortArrival() ([]imap.UID, error) {
	nums, err := g.c.UIDSort(&imapclient.SortOptions{
		SearchCriteria: &imap.SearchCriteria{},
		SortCriteria:   []imapclient.SortCriterion{{Key: imapclient.SortKeyArrival}},
	}).Wait()
	uids := make([]imap.UID, 0, len(nums))
	for _, n := range nums {
		uids = append(uids, imap.UID(n))
	}
	return uids, err
}
func (g goimapConn) Move(set imap.UIDSet, dest string) (imap.UIDSet, error) {
	md, err := g.c.Move(set, dest).Wait()
	if md != nil {
		if u, ok := md.DestUIDs.(imap.UIDSet); ok {
			return u, err
		}
	}
	return nil, err
}
func (g goimapConn) UIDExpunge(set imap.UIDSet) error { return g.c.UIDExpunge(set).Close() }
func (g goimapConn) Expunge() error                   { return g.c.Expunge().Close() }
func (g goimapConn) Append(folder string, flags []imap.Flag, raw []byte) (imap.UID, error) {
	cmd := g.c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags})
	if err := g.literal(cmd, raw); err != nil {
		return 0, err
	}
	data, err := cmd.Wait()
	if data != nil {
		return data.UID, err
	}
	return 0, err
}

// literal writes raw as cmd's literal and ends the command. go-imap
// writes it through its 4 KiB buffer, in pieces: on a network with
// latency they leave in one write (transport.Conn.Gather), as a real TCP
// stream carries them, held back the latency once, not once a piece;
// with the command line when go-imap sends the literal without waiting
// for the continuation request (LITERAL+ or LITERAL-, 4 KiB at most: it
// waits before a larger one), as the lean client writes the command
// line and its literal (internal/leanimap/commands.go, literal).
func (g goimapConn) literal(cmd *imapclient.AppendCommand, raw []byte) error {
	if g.conn != nil {
		g.conn.Gather()
	}
	_, err := cmd.Write(raw)
	if cerr := cmd.Close(); err == nil {
		err = cerr
	}
	if g.conn != nil {
		// go-imap's own write deadline ended with cmd.Close: Flush
		// gives the one write of the gathered literal the connection's.
		if ferr := g.conn.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (g goimapConn) List(ref, pattern string, specialUse bool) ([]*imap.ListData, error) {
	var opts *imap.ListOptions
	if specialUse {
		opts = &imap.ListOptions{ReturnSpecialUse: true}
	}
	return g.c.List(ref, pattern, opts).Collect()
}
func (g goimapConn) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	return g.c.Status(name, opts).Wait()
}
func (g goimapConn) Create(name string) error                { return g.c.Create(name, nil).Wait() }
func (g goimapConn) Namespace() (*imap.NamespaceData, error) { return g.c.Namespace().Wait() }
func (g goimapConn) Noop() error                             { return g.c.Noop().Wait() }
func (g goimapConn) Idle() (idler, error) {
	cmd, err := g.c.Idle()
	if err != nil {
		return nil, err
	}
	return goimapIdle{cmd: cmd, closed: g.c.Closed()}, nil
}
func (g goimapConn) Logout(time.Duration) error { return g.c.Logout().Wait() } // bounded by the connection's deadlines
func (g goimapConn) LoggedOut() bool            { return g.c.State() == imap.ConnStateLogout }
func (g goimapConn) Close() error               { return g.c.Close() }
func (g goimapConn) SaidBye() bool              { return g.c.State() == imap.ConnStateLogout }
func (g goimapConn) Ended() bool {
	select {
	case <-g.c.Closed():
		return true
	default:
		return false
	}
}

// goimapIdle is go-imap's IDLE: the library's reader goroutine delivers the
// updates (to the session's updates channel), the device waits on them.
type goimapIdle struct {
	cmd    *imapclient.IdleCommand
	closed <-chan struct{}
}

func (i goimapIdle) Wait(ctx context.Context, sl *imapSlot, updates <-chan struct{}, max time.Duration) (bool, error) {
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case r := <-sl.reqs:
		sl.received()
		sl.held = &r // served after DONE, then IDLE resumes (imapSlot.exec)
	case <-updates:
		return true, nil
	case <-t.C:
	case <-i.closed:
	}
	return false, nil
}

func (i goimapIdle) Done() error {
	if err := i.cmd.Close(); err != nil {
		return err
	}
	return i.cmd.Wait()
}
