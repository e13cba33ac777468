package clients

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
)

// leanConn is imapConn over internal/leanimap: every command and its
// responses on the device's goroutine, no reader goroutine, no allocation
// per response (docs/performance.md, "Lean client").
type leanConn struct {
	c *leanimap.Client
	s *imapSession
	// num is the selected mailbox's message count (SELECT, EXISTS,
	// EXPUNGE); selected once a SELECT or EXAMINE succeeded.
	num      uint32
	selected bool
	out      bool // LOGOUT was sent
	// items is the last FETCH item list built (sent as bytes: no string
	// per FETCH).
	items []byte
	// idBuf holds the Message-ID of the FETCH response being given to
	// the callback (fetched.idBytes).
	idBuf []byte
	// sel and status are the data the last Select and Status returned,
	// reused by the next (imapConn: valid until then).
	sel    imap.SelectData
	status imap.StatusData
	// The FETCH in progress (Fetch, StoreAdd): where its responses go.
	// onFetch is made once per connection and reads them, so that a
	// command allocates no closure of its own.
	fetchFn       func(fetched)
	fetchProgress func()
	fetchKeep     bool
	// fetchContent: the FETCH asks for content (asksContent);
	// contentUID is the UID of its last response that carried content.
	fetchContent bool
	contentUID   imap.UID
	onFetch      func(*leanimap.Message) error
	// mu guards idling: Interrupt acts only while Wait runs, never on a
	// command that follows it.
	mu     sync.Mutex
	idling bool
}

// errUnsupportedSearch is the error of a search the lean client cannot
// express (the devices send none).
var errUnsupportedSearch = errors.New("imap: search criteria not supported by the lean client")

// newLeanConn reads the greeting on conn and returns the session's lean
// client.
func newLeanConn(conn net.Conn, s *imapSession, afterStartTLS bool) (*leanConn, error) {
	if afterStartTLS {
		conn = leanimap.AfterStartTLS(conn)
	}
	l := &leanConn{s: s, items: make([]byte, 0, 128)}
	l.onFetch = l.fetched
	c, err := leanimap.New(conn, leanimap.Options{
		Timeout:    s.d.o.timeout(),
		MaxLine:    s.d.o.MaxReplyLine,
		MaxLiteral: s.d.o.MaxLiteral,
		Handler:    l,
		Caps:       s.d.o.IMAPCaps,
	})
	if err != nil {
		if transport.NetOutcome(err) == transport.OutcomeTimeout {
			// leanimap's "greeting: ..." gives way to the step's wording.
			return nil, transport.GreetingError(s.conn, errors.Unwrap(err))
		}
		return nil, transport.NameServer(ProtocolIMAP, s.d.o.IMAP.Addr, s.conn.Explain(err))
	}
	l.c = c
	return l, nil
}

// Update implements leanimap.Handler: the selected mailbox changed.
func (l *leanConn) Update(u *leanimap.Update) {
	switch u.Kind {
	case leanimap.UpdateExists:
		l.num = u.Num
		l.s.poke()
	case leanimap.UpdateExpunge:
		if l.num > 0 {
			l.num--
		}
		l.s.poke()
	case leanimap.UpdateFetch:
		l.s.poke()
	}
}

// capSet turns the lean client's capability names (upper-cased by
// internal/leanimap) into go-imap's set, under go-imap's own names: its
// IMAP4rev1 and IMAP4rev2 constants are the two that are not upper case,
// and imap.CapSet.Has compares exactly, so "IMAP4REV2" must become
// imap.CapIMAP4rev2 for Has to see NAMESPACE, SPECIAL-USE, MOVE and
// UIDPLUS implied by it.
func capSet(names []string) imap.CapSet {
	set := make(imap.CapSet, len(names))
	for _, n := range names {
		c := imap.Cap(n)
		for _, mixed := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIMAP4rev2} {
			if strings.EqualFold(n, string(mixed)) {
				c = mixed
			}
		}
		set[c] = struct{}{}
	}
	return set
}

func (l *leanConn) Capability() (imap.CapSet, error) {
	caps, err := l.c.Capability()
	if err != nil {
		return nil, err
	}
	return capSet(caps), nil
}
func (l *leanConn) Login(user, pass string) error { return l.c.Login(user, pass) }
func (l *leanConn) AuthenticatePlain(user, pass string) error {
	return l.c.AuthenticatePlain(user, pass)
}
func (l *leanConn) Caps() imap.CapSet {
	if l.c.Caps() == nil {
		if _, err := l.c.Capability(); err != nil {
			return nil
		}
	}
	return capSet(l.c.Caps())
}
func (l *leanConn) ID() error               { return l.c.ID("mailsim", "1") }
func (l *leanConn) Enable(c imap.Cap) error { return l.c.Enable(string(c)) }
func (l *leanConn) Select(name string, readOnly bool) (*imap.SelectData, error) {
	l.selected = false
	if err := l.c.SelectTo(&l.sel, name, readOnly); err != nil {
		return nil, err
	}
	l.num, l.selected = l.sel.NumMessages, true
	return &l.sel, nil
}
func (l *leanConn) NumMessages() (uint32, bool) { return l.num, l.selected }

func (l *leanConn) Fetch(set imap.UIDSet, opts *imap.FetchOptions, keepHeader bool, fn func(fetched), progress func()) error {
	l.items = appendFetchItems(l.items[:0], opts)
	l.fetchFn, l.fetchProgress, l.fetchKeep, l.fetchContent = fn, progress, keepHeader, asksContent(opts)
	l.contentUID = 0
	defer l.endFetch()
	return l.c.UIDFetchBytes(set, l.items, l.onFetch)
}

func (l *leanConn) StoreAdd(set imap.UIDSet, flags []imap.Flag, fn func(fetched)) error {
	l.fetchFn, l.fetchProgress, l.fetchKeep, l.fetchContent = fn, nil, false, false
	defer l.endFetch()
	return l.c.UIDStore(set, imap.StoreFlagsAdd, false, flags, l.onFetch)
}

// fetched gives one FETCH response of the command in progress to its
// callbacks (onFetch). One without the content the FETCH asked for is
// about the flags: of the message whose content just came, the server's
// own word (Courier reports the \Seen a BODY[] fetch sets apart, see
// command.followUp in internal/leanimap), which the view takes
// (imapSession.sawFlags); of another, another session's change
// (fetched.content), given to the session as an update.
func (l *leanConn) fetched(m *leanimap.Message) error {
	switch f := leanFetched(m, l.fetchKeep, &l.idBuf); {
	case !l.fetchContent || f.content:
		if f.content {
			l.contentUID = f.uid
		}
		l.fetchFn(f)
	case f.hasFlags && f.uid != 0 && f.uid == l.contentUID:
		l.s.sawFlags(f.uid, f.flags)
	default:
		l.s.poke()
	}
	if cap(l.idBuf) > maxIDBuf {
		l.idBuf = nil
	}
	if l.fetchProgress != nil {
		l.fetchProgress()
	}
	return nil
}

// endFetch drops the callbacks of the command that ended.
func (l *leanConn) endFetch() { l.fetchFn, l.fetchProgress = nil, nil }

func (l *leanConn) Search(criteria *imap.SearchCriteria) ([]imap.UID, error) {
	q, err := searchString(criteria)
	if err != nil {
		return nil, err
	}
	return l.c.UIDSearch(nil, q)
}
func (l *leanConn) SortArrival() ([]imap.UID, error) { return l.c.UIDSort(nil, "ARRIVAL", "ALL") }
func (l *leanConn) Move(set imap.UIDSet, dest string) (imap.UIDSet, error) {
	err := l.c.UIDMove(set, dest)
	return l.c.Copied().Dest, err
}
func (l *leanConn) UIDExpunge(set imap.UIDSet) error { return l.c.UIDExpunge(set) }
func (l *leanConn) Expunge() error                   { return l.c.Expunge() }
func (l *leanConn) Append(folder string, flags []imap.Flag, raw []byte) (imap.UID, error) {
	d, err := l.c.Append(folder, flags, time.Time{}, raw)
	return d.UID, err
}
func (l *leanConn) List(ref, pattern string, specialUse bool) ([]*imap.ListData, error) {
	return LeanFolders{l.c}.List(ref, pattern, specialUse)
}
func (l *leanConn) Status(name string, opts *imap.StatusOptions) (*imap.StatusData, error) {
	if err := l.c.StatusTo(&l.status, name, *opts); err != nil {
		return nil, err
	}
	return &l.status, nil
}
func (l *leanConn) Create(name string) error                { return l.c.Create(name) }
func (l *leanConn) Namespace() (*imap.NamespaceData, error) { return l.c.Namespace() }
func (l *leanConn) Noop() error                             { return l.c.Noop() }
func (l *leanConn) Idle() (idler, error) {
	if err := l.c.Idle(); err != nil {
		return nil, err
	}
	return l, nil
}
func (l *leanConn) Logout(timeout time.Duration) error {
	l.out = true
	l.c.SetTimeout(timeout) // the client arms each command's deadline itself
	return l.c.Logout()
}
func (l *leanConn) LoggedOut() bool { return l.out || l.c.Err() != nil }
func (l *leanConn) Close() error    { return nil } // the session closes the connection
func (l *leanConn) Ended() bool     { return false }
func (l *leanConn) SaidBye() bool   { return l.c.Bye() }

// Wait implements idler: the wait runs on the device's goroutine; ctx's
// end and a request for the slot (imapSlot.with knocks, then interrupts)
// cut it short with the connection intact. A requester that knocked
// before idling was set is seen here; one that knocks later finds idling
// set and interrupts; the owner takes its request after DONE
// (imapSlot.takeKnocking).
//
// An update that came before the IDLE (an EXISTS in the response to an
// action's command, or to the sync's header fetch) left its token in
// updates, and the server does not send it again: Wait takes it and
// reports a change at once, as go-imap's wait does (goimapIdle.Wait), so
// the device syncs instead of idling past the new mail until the IDLE's
// restart.
func (l *leanConn) Wait(ctx context.Context, sl *imapSlot, updates <-chan struct{}, max time.Duration) (bool, error) {
	select {
	case <-updates:
		return true, nil
	default:
	}
	l.mu.Lock()
	l.idling = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.idling = false
		l.mu.Unlock()
	}()
	if sl.knocks() {
		return false, nil
	}
	stop := context.AfterFunc(ctx, l.interrupt)
	defer stop()
	changed, err := l.c.Wait(context.Background(), max)
	if changed {
		select { // the handler's token: taken, as go-imap's wait does
		case <-updates:
		default:
		}
	}
	return changed, err
}

// interrupt ends a Wait in progress; outside one it does nothing.
func (l *leanConn) interrupt() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idling {
		l.c.Interrupt()
	}
}

// Done implements idler.
func (l *leanConn) Done() error { return l.c.Done() }

// maxIDBuf bounds the Message-ID buffer a lean connection keeps
// (leanConn.idBuf).
const maxIDBuf = 1 << 10

// leanFetched is readFetched for a lean FETCH response. Its flags, and the
// Message-ID found in a header (idBytes, in *idBuf), are valid only during
// the callback the response is given to.
func leanFetched(m *leanimap.Message, keepHeader bool, idBuf *[]byte) fetched {
	f := fetched{seq: m.SeqNum, uid: m.UID, flags: m.Flags, hasFlags: m.HasFlags, size: max(m.Size, 0)}
	if e := m.Envelope; e != nil {
		f.content = true
		if id := strings.TrimSpace(e.MessageID); id != "" {
			if !strings.HasPrefix(id, "<") {
				id = "<" + id + ">"
			}
			f.id = id
		}
	}
	for i := range m.Sections {
		sec := &m.Sections[i]
		f.content = true
		if sec.Data == nil {
			continue
		}
		f.bodyBytes += int64(len(sec.Data))
		headerOnly := !sec.Binary && len(sec.Name) >= 6 && bytes.EqualFold(sec.Name[:6], []byte("HEADER"))
		whole := !sec.Binary && len(sec.Name) == 0 && sec.Origin <= 0
		if !headerOnly && !whole {
			continue
		}
		box := getHeaderBuf()
		hc := headerCapture{limit: maxHeaderCapture, all: headerOnly, buf: (*box)[:0]}
		_, _ = hc.Write(sec.Data)
		if f.id == "" && len(f.idBytes) == 0 {
			*idBuf = mailgen.AppendMessageID((*idBuf)[:0], hc.buf)
			f.idBytes = *idBuf
		}
		if keepHeader && f.header == nil && len(hc.buf) > 0 {
			f.header = bytes.Clone(hc.buf)
		}
		putHeaderBuf(box, hc.buf)
	}
	return f
}

// appendFetchItems appends o as a FETCH item list, as go-imap's client
// writes it (UID first).
func appendFetchItems(b []byte, o *imap.FetchOptions) []byte {
	b = append(b, "(UID"...)
	if bs := o.BodyStructure; bs != nil {
		if bs.Extended {
			b = append(b, " BODYSTRUCTURE"...)
		} else {
			b = append(b, " BODY"...)
		}
	}
	for _, it := range []struct {
		on   bool
		name string
	}{{o.Envelope, " ENVELOPE"}, {o.Flags, " FLAGS"}, {o.InternalDate, " INTERNALDATE"}, {o.RFC822Size, " RFC822.SIZE"}, {o.ModSeq, " MODSEQ"}} {
		if it.on {
			b = append(b, it.name...)
		}
	}
	for _, s := range o.BodySection {
		b = append(b, " BODY"...)
		if s.Peek {
			b = append(b, ".PEEK"...)
		}
		b = appendPart(append(b, '['), s.Part)
		if s.Specifier != imap.PartSpecifierNone {
			if len(s.Part) > 0 {
				b = append(b, '.')
			}
			b = append(b, s.Specifier...)
			fields := s.HeaderFields
			if len(fields) > 0 {
				b = append(b, ".FIELDS"...)
			} else if fields = s.HeaderFieldsNot; len(fields) > 0 {
				b = append(b, ".FIELDS.NOT"...)
			}
			if len(fields) > 0 {
				b = append(b, " ("...)
				for i, f := range fields {
					if i > 0 {
						b = append(b, ' ')
					}
					b = append(b, f...)
				}
				b = append(b, ')')
			}
		}
		b = appendPartial(append(b, ']'), s.Partial)
	}
	for _, s := range o.BinarySection {
		b = append(b, " BINARY"...)
		if s.Peek {
			b = append(b, ".PEEK"...)
		}
		b = appendPartial(append(appendPart(append(b, '['), s.Part), ']'), s.Partial)
	}
	for _, s := range o.BinarySectionSize {
		b = append(appendPart(append(b, " BINARY.SIZE["...), s.Part), ']')
	}
	return append(b, ')')
}

func appendPart(b []byte, part []int) []byte {
	for i, n := range part {
		if i > 0 {
			b = append(b, '.')
		}
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return b
}

func appendPartial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	b = strconv.AppendInt(append(b, '<'), p.Offset, 10)
	return append(strconv.AppendInt(append(b, '.'), p.Size, 10), '>')
}

// searchString writes the search criteria the devices use (sequence sets,
// NOT flags, HEADER fields; none is ALL) as UID SEARCH's arguments.
func searchString(c *imap.SearchCriteria) (string, error) {
	if len(c.UID) > 0 || len(c.Flag) > 0 || len(c.Body) > 0 || len(c.Text) > 0 || len(c.Not) > 0 || len(c.Or) > 0 ||
		!c.Since.IsZero() || !c.Before.IsZero() || !c.SentSince.IsZero() || !c.SentBefore.IsZero() || c.Larger > 0 || c.Smaller > 0 {
		return "", errUnsupportedSearch
	}
	var parts []string
	for _, s := range c.SeqNum {
		parts = append(parts, s.String())
	}
	for _, f := range c.NotFlag {
		parts = append(parts, "NOT "+flagKey(f))
	}
	for _, h := range c.Header {
		parts = append(parts, "HEADER "+imapQuote(h.Key)+" "+imapQuote(h.Value))
	}
	if len(parts) == 0 {
		return "ALL", nil
	}
	return strings.Join(parts, " "), nil
}

// flagKey is the search key of a system flag (DELETED for \Deleted),
// KEYWORD k for a keyword.
func flagKey(f imap.Flag) string {
	if s := string(f); strings.HasPrefix(s, `\`) {
		return strings.ToUpper(s[1:])
	}
	return "KEYWORD " + string(f)
}

// imapQuote writes s as an IMAP quoted string.
func imapQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
