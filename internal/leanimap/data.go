package leanimap

import (
	"bytes"
	"time"

	"github.com/emersion/go-imap/v2"
)

// UpdateKind is the kind of an unsolicited update.
type UpdateKind uint8

// The unsolicited updates a Handler receives.
const (
	// UpdateExists is "* N EXISTS": the mailbox holds Num messages.
	UpdateExists UpdateKind = iota + 1
	// UpdateExpunge is "* N EXPUNGE": message Num is gone, the numbers
	// above it shift down.
	UpdateExpunge
	// UpdateFetch is a FETCH the command did not ask for (a flag change
	// by another session, or a STORE without a callback): Message.
	UpdateFetch
	// UpdateFlags is "* FLAGS (...)": the mailbox's flags.
	UpdateFlags
	// UpdateBye is "* BYE text": the server closes the connection.
	UpdateBye
)

// Update is one unsolicited response. It and everything it points to are
// valid only during Handler.Update.
type Update struct {
	Kind UpdateKind
	// Num is the count of EXISTS, the sequence number of EXPUNGE and
	// FETCH.
	Num uint32
	// Message is the FETCH's data.
	Message *Message
	// Flags are FLAGS' flags.
	Flags []imap.Flag
	// Text is BYE's text.
	Text []byte
}

// Handler receives the unsolicited updates of every command, IDLE
// included, on the client's (the caller's) goroutine.
type Handler interface {
	Update(u *Update)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(u *Update)

// Update implements Handler.
func (f HandlerFunc) Update(u *Update) { f(u) }

// Message is one FETCH response. The client reuses it for the next
// response: keep nothing of it past the callback (copy Flags, Sections'
// Data and Envelope's fields as needed).
type Message struct {
	// SeqNum is the message's sequence number.
	SeqNum uint32
	// UID is the message's UID, 0 when not sent.
	UID imap.UID
	// Flags are the message's flags when HasFlags.
	Flags    []imap.Flag
	HasFlags bool
	// Size is RFC822.SIZE, -1 when not sent.
	Size int64
	// InternalDate is INTERNALDATE, zero when not sent.
	InternalDate time.Time
	// Envelope is ENVELOPE (the fields mailsim reads), nil when not sent.
	Envelope *Envelope
	// Sections are the BODY[...] and BINARY[...] items in the order sent.
	Sections []Section
	// BodyStructure is the BODYSTRUCTURE (or BODY) item as sent, unparsed.
	BodyStructure []byte
}

// Section is one BODY[section]<origin> item of a FETCH response.
type Section struct {
	// Name is the section between the brackets as the server wrote it,
	// e.g. "" or "HEADER.FIELDS (MESSAGE-ID)".
	Name []byte
	// Binary is set for BINARY[...].
	Binary bool
	// Origin is the partial's origin, -1 without one.
	Origin int64
	// Data is the section's bytes, nil for NIL.
	Data []byte
}

// Envelope holds the ENVELOPE fields mailsim reads (addresses are
// skipped). Strings are copies.
type Envelope struct {
	Date      string
	Subject   string
	InReplyTo string
	MessageID string
}

// Section returns the first section whose name equals name (ASCII case
// ignored), or nil.
func (m *Message) Section(name string) *Section {
	for i := range m.Sections {
		if equalFold(m.Sections[i].Name, name) {
			return &m.Sections[i]
		}
	}
	return nil
}

// internalDateLayout is INTERNALDATE's date-time (RFC 3501).
const internalDateLayout = "_2-Jan-2006 15:04:05 -0700"

// parseFetch parses "(item value ...)" into c.msg.
func (c *Client) parseFetch(s *scanner, seq uint32) {
	m := &c.msg
	m.SeqNum, m.UID, m.HasFlags, m.Size = seq, 0, false, -1
	m.Flags, m.Sections = m.Flags[:0], m.Sections[:0]
	m.InternalDate, m.Envelope, m.BodyStructure = time.Time{}, nil, nil
	if s.peek() != '(' {
		s.fail("expected a FETCH list")
		return
	}
	s.i++
	for first := true; s.err == nil; first = false {
		if s.accept(')') {
			return
		}
		if !first {
			s.sp()
		}
		name := s.atom()
		if s.err != nil {
			return
		}
		switch {
		case equalFold(name, "UID"):
			s.sp()
			m.UID = imap.UID(s.number32())
		case equalFold(name, "FLAGS"):
			s.sp()
			m.HasFlags = true
			c.flagList(s, &m.Flags)
		case equalFold(name, "RFC822.SIZE"):
			s.sp()
			m.Size = int64(s.number())
		case equalFold(name, "INTERNALDATE"):
			s.sp()
			if b, isNil := s.nstring(); !isNil && s.err == nil {
				t, err := time.Parse(internalDateLayout, string(b))
				if err != nil {
					s.fail("bad INTERNALDATE")
				}
				m.InternalDate = t
			}
		case equalFold(name, "ENVELOPE"):
			s.sp()
			c.parseEnvelope(s)
		case (equalFold(name, "BODY") || equalFold(name, "BINARY")) && s.peek() == '[':
			sec := Section{Binary: equalFold(name, "BINARY")}
			sec.Name = s.section()
			sec.Origin = s.partial()
			s.sp()
			sec.Data, _ = s.nstring()
			m.Sections = append(m.Sections, sec)
		case equalFold(name, "BODYSTRUCTURE"), equalFold(name, "BODY"):
			s.sp()
			start := s.i
			s.skip()
			if s.err == nil {
				m.BodyStructure = s.b[start:s.i]
			}
		default: // MODSEQ, BINARY.SIZE[1], X-GM-*, ...: one value
			if s.peek() == '[' {
				s.section()
				s.partial()
			}
			s.sp()
			s.skip()
		}
	}
}

// parseEnvelope reads an ENVELOPE into c.env.
func (c *Client) parseEnvelope(s *scanner) {
	if !s.expect('(') {
		return
	}
	c.env = Envelope{}
	str := func(dst *string) {
		if b, isNil := s.nstring(); !isNil && s.err == nil {
			*dst = string(b)
		}
	}
	str(&c.env.Date)
	s.sp()
	str(&c.env.Subject)
	for range 6 { // from, sender, reply-to, to, cc, bcc
		s.sp()
		s.skip()
	}
	s.sp()
	str(&c.env.InReplyTo)
	s.sp()
	str(&c.env.MessageID)
	if s.expect(')') {
		c.msg.Envelope = &c.env
	}
}

// flagList reads "(flag ...)" into *dst (nil: read and dropped).
func (c *Client) flagList(s *scanner, dst *[]imap.Flag) {
	if dst != nil {
		*dst = (*dst)[:0]
	}
	// Read into the client's scratch list, then copy: a list the caller
	// keeps (SELECT's FLAGS and PERMANENTFLAGS, in a new SelectData) is
	// one allocation of its size instead of one per growth.
	c.flagScratch = c.flagScratch[:0]
	s.list(func() {
		if w := s.atom(); dst != nil && s.err == nil {
			c.flagScratch = append(c.flagScratch, flagOf(w))
		}
	})
	if dst != nil && len(c.flagScratch) > 0 {
		*dst = append(*dst, c.flagScratch...)
	}
}

// mailboxAttrOf returns the LIST attribute w without allocating for RFC
// 3501's, RFC 5258's and RFC 6154's, and Dovecot's \UnMarked (kept as
// sent); one of those in another case (attributes are case-insensitive:
// `\NoSelect`) is returned in the spelling above, which the callers
// compare with (clients.Selectable, clients.ListRole), as go-imap's client
// does.
func mailboxAttrOf(w []byte) imap.MailboxAttr {
	switch string(w) {
	case `\HasNoChildren`:
		return imap.MailboxAttrHasNoChildren
	case `\HasChildren`:
		return imap.MailboxAttrHasChildren
	case `\Noselect`:
		return imap.MailboxAttrNoSelect
	case `\Noinferiors`:
		return imap.MailboxAttrNoInferiors
	case `\NonExistent`:
		return imap.MailboxAttrNonExistent
	case `\Marked`:
		return imap.MailboxAttrMarked
	case `\Unmarked`:
		return imap.MailboxAttrUnmarked
	case `\UnMarked`: // Dovecot's spelling, kept as sent
		return `\UnMarked`
	case `\Subscribed`:
		return imap.MailboxAttrSubscribed
	case `\Remote`:
		return imap.MailboxAttrRemote
	case `\All`:
		return imap.MailboxAttrAll
	case `\Archive`:
		return imap.MailboxAttrArchive
	case `\Drafts`:
		return imap.MailboxAttrDrafts
	case `\Flagged`:
		return imap.MailboxAttrFlagged
	case `\Junk`:
		return imap.MailboxAttrJunk
	case `\Sent`:
		return imap.MailboxAttrSent
	case `\Trash`:
		return imap.MailboxAttrTrash
	case `\Important`:
		return imap.MailboxAttrImportant
	}
	if len(w) > 1 && w[0] == '\\' {
		for _, a := range knownMailboxAttrs {
			if bytes.EqualFold(w, []byte(a)) {
				return a
			}
		}
	}
	return imap.MailboxAttr(w)
}

// knownMailboxAttrs are the attributes mailboxAttrOf spells as the
// standards do when a server sends them in another case.
var knownMailboxAttrs = [...]imap.MailboxAttr{
	imap.MailboxAttrHasNoChildren, imap.MailboxAttrHasChildren, imap.MailboxAttrNoSelect,
	imap.MailboxAttrNoInferiors, imap.MailboxAttrNonExistent, imap.MailboxAttrMarked,
	imap.MailboxAttrUnmarked, imap.MailboxAttrSubscribed, imap.MailboxAttrRemote,
	imap.MailboxAttrAll, imap.MailboxAttrArchive, imap.MailboxAttrDrafts, imap.MailboxAttrFlagged,
	imap.MailboxAttrJunk, imap.MailboxAttrSent, imap.MailboxAttrTrash, imap.MailboxAttrImportant,
}

// flagOf returns the flag w without allocating for the common ones.
func flagOf(w []byte) imap.Flag {
	switch string(w) {
	case `\Seen`:
		return imap.FlagSeen
	case `\Answered`:
		return imap.FlagAnswered
	case `\Flagged`:
		return imap.FlagFlagged
	case `\Deleted`:
		return imap.FlagDeleted
	case `\Draft`:
		return imap.FlagDraft
	case `\Recent`:
		return `\Recent`
	case `\*`:
		return imap.FlagWildcard
	case `$Forwarded`:
		return imap.FlagForwarded
	case `$Junk`:
		return imap.FlagJunk
	case `$NotJunk`:
		return imap.FlagNotJunk
	case `$MDNSent`:
		return imap.FlagMDNSent
	}
	return imap.Flag(w)
}

// listRoom is the room made for a LIST's entries and their attributes on
// the first one: a personal folder set's fits, one allocation each.
const listRoom = 16

// parseList reads "(attrs) delim name ..." into the command's list. The
// attributes of the command's entries share one array (command.attrs):
// each entry's is a slice of it without room to grow into the next's.
func (c *Client) parseList(s *scanner) {
	var d imap.ListData
	from := len(c.cmd.attrs)
	s.list(func() {
		if w := s.atom(); s.err == nil {
			if c.cmd.attrs == nil {
				c.cmd.attrs = make([]imap.MailboxAttr, 0, listRoom)
			}
			c.cmd.attrs = append(c.cmd.attrs, mailboxAttrOf(w))
		}
	})
	if to := len(c.cmd.attrs); to > from {
		d.Attrs = c.cmd.attrs[from:to:to]
	}
	s.sp()
	if b, isNil := s.nstring(); !isNil && len(b) == 1 {
		d.Delim = rune(b[0])
	}
	s.sp()
	d.Mailbox = c.mailboxName(s.astring())
	if s.err == nil {
		if *c.cmd.list == nil {
			*c.cmd.list = make([]imap.ListData, 0, listRoom)
		}
		*c.cmd.list = append(*c.cmd.list, d)
	}
}

// parseStatus reads "name (item n ...)" into the command's status.
func (c *Client) parseStatus(s *scanner) {
	d := c.cmd.status
	d.Mailbox = c.mailboxNameAs(s.astring(), c.cmd.statusName)
	s.sp()
	var name []byte
	vals := c.cmd.statusVals
	s.list(func() {
		if name == nil {
			name = s.atom()
			return
		}
		n := s.number()
		v := uint32(min(n, 1<<32-1))
		// The counts pointed to share one allocation per response, the
		// data's (Status) or the client's (StatusTo).
		if vals == nil {
			vals = new([3]uint32)
		}
		switch {
		case equalFold(name, "MESSAGES"):
			vals[0] = v
			d.NumMessages = &vals[0]
		case equalFold(name, "UIDNEXT"):
			d.UIDNext = imap.UID(v)
		case equalFold(name, "UIDVALIDITY"):
			d.UIDValidity = v
		case equalFold(name, "UNSEEN"):
			vals[1] = v
			d.NumUnseen = &vals[1]
		case equalFold(name, "DELETED"):
			vals[2] = v
			d.NumDeleted = &vals[2]
		case equalFold(name, "SIZE"):
			size := int64(n)
			d.Size = &size
		case equalFold(name, "HIGHESTMODSEQ"):
			d.HighestModSeq = n
		}
		name = nil
	})
}

// parseNamespace reads the three namespace lists.
func (c *Client) parseNamespace(s *scanner) {
	for i, dst := range []*[]imap.NamespaceDescriptor{&c.cmd.ns.Personal, &c.cmd.ns.Other, &c.cmd.ns.Shared} {
		if i > 0 {
			s.sp()
		}
		if s.peek() != '(' {
			if w := s.atom(); s.err == nil && !equalFold(w, "NIL") {
				s.fail("expected a namespace list")
			}
			continue
		}
		s.i++
		// The descriptors follow each other without a space (RFC 2342:
		// 1*("(" string SP delim ... ")"), as Courier sends two shared
		// namespaces); one between them is tolerated.
		for s.err == nil && !s.accept(')') {
			s.accept(' ')
			if !s.expect('(') {
				break
			}
			var d imap.NamespaceDescriptor
			d.Prefix = string(s.astring())
			s.sp()
			if b, isNil := s.nstring(); !isNil && len(b) == 1 {
				d.Delim = rune(b[0])
			}
			for s.err == nil && s.accept(' ') { // extensions
				s.skip()
			}
			s.expect(')')
			if s.err == nil {
				*dst = append(*dst, d)
			}
		}
	}
}
