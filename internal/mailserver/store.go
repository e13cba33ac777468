package mailserver

import (
	"bufio"
	"bytes"
	"errors"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"
	"github.com/mailsim/mailsim/internal/view"
)

// role is the kind of a mailbox, used for usage accounting.
type role uint8

const (
	roleOther role = iota
	roleInbox
	roleSent
	roleDrafts
	roleTrash
	roleJunk
	roleArchive
	numRoles
)

// String returns the role name used in FolderUsage and metric labels.
func (r role) String() string {
	switch r {
	case roleInbox:
		return "inbox"
	case roleSent:
		return "sent"
	case roleDrafts:
		return "drafts"
	case roleTrash:
		return "trash"
	case roleJunk:
		return "junk"
	case roleArchive:
		return "archive"
	default:
		return "other"
	}
}

// roleOf maps a special-use attribute to a role.
func roleOf(attr imap.MailboxAttr) role {
	switch attr {
	case imap.MailboxAttrSent:
		return roleSent
	case imap.MailboxAttrDrafts:
		return roleDrafts
	case imap.MailboxAttrTrash:
		return roleTrash
	case imap.MailboxAttrJunk:
		return roleJunk
	case imap.MailboxAttrArchive:
		return roleArchive
	default:
		return roleOther
	}
}

// defaultMailboxes are created for every user, in LIST order.
var defaultMailboxes = [...]struct {
	name string
	attr imap.MailboxAttr
}{
	{view.FolderInbox, ""},
	{view.FolderDrafts, imap.MailboxAttrDrafts},
	{view.FolderSent, imap.MailboxAttrSent},
	{view.FolderTrash, imap.MailboxAttrTrash},
	{view.FolderJunk, imap.MailboxAttrJunk},
	{"Archive", imap.MailboxAttrArchive},
}

// delim is the hierarchy delimiter of mailbox names.
const delim = '/'

// maxFlagsPerMessage bounds the flags and keywords one message can carry.
const maxFlagsPerMessage = 64

// message is one stored message. Everything but flags is immutable after
// append, so readers may use raw without holding the user lock.
type message struct {
	uid       imap.UID
	flags     []imap.Flag // canonical, sorted, no \Recent; guarded by user.mu
	date      time.Time
	raw       []byte // CRLF-normalised; shared by copies, never modified
	hdrLen    int    // length of the header block including the blank line
	messageID string // Message-ID header value, "" if none
}

func (m *message) size() int64 { return int64(len(m.raw)) }

// hasFlag reports whether m carries f (f canonical).
func (m *message) hasFlag(f imap.Flag) bool {
	for _, g := range m.flags {
		if g == f {
			return true
		}
	}
	return false
}

// mailbox is one folder of a user. Guarded by the owning user's mu.
type mailbox struct {
	name        string
	attr        imap.MailboxAttr // special-use attribute, "" for none
	role        role
	uidValidity uint32
	uidNext     imap.UID
	msgs        []*message // ascending UID
	bytes       int64
	subscribed  bool
	deleted     bool
	tracker     *imapserver.MailboxTracker
	// changed is closed and replaced on every change, waking IDLE sessions.
	changed chan struct{}
	// keywords are the keywords ever set in the mailbox, announced in
	// FLAGS and PERMANENTFLAGS (see imap_flags.go).
	keywords []imap.Flag
	// recentUID is the highest UID some read-write IMAP session took the
	// \Recent flag of (see imap_flags.go).
	recentUID imap.UID
}

// notifyLocked wakes the sessions idling on mb. The user lock must be held.
func (mb *mailbox) notifyLocked() {
	close(mb.changed)
	mb.changed = make(chan struct{})
}

// queueFlagsLocked announces new flags of the message at seq (1-based) to
// every session of mb but source. The user lock must be held.
func (mb *mailbox) queueFlagsLocked(seq uint32, m *message, source *imapserver.SessionTracker) {
	mb.tracker.QueueMessageFlags(seq, m.uid, m.flags, source)
	mb.notifyLocked()
}

// user is one account with its mailboxes. mu guards everything below it;
// it is held only for in-memory work, never while writing to the network.
type user struct {
	name     string
	password string
	sessions atomic.Int32 // open authenticated sessions over all protocols
	// service is the time, in nanoseconds, the server spent answering the
	// user's IMAP and POP3 commands (see Server.UserServiceTime).
	service atomic.Int64

	mu        sync.Mutex
	mailboxes map[string]*mailbox
	// subs are the subscriptions to names with no mailbox (RFC 3501
	// 6.3.6: a subscription outlives DELETE); an existing mailbox keeps its
	// own in mailbox.subscribed.
	subs map[string]struct{}
}

// store is the state shared by every frontend.
type store struct {
	mu    sync.RWMutex
	users map[string]*user

	// now is the clock of UIDVALIDITY; lastValidity the value given to
	// the newest mailbox.
	now          func() time.Time
	lastValidity atomic.Uint32
	usage        [numRoles]struct{ messages, bytes atomic.Int64 }
	external     atomic.Int64
	maxBoxes     int
}

func newStore(maxMailboxes int, now func() time.Time) *store {
	if now == nil {
		now = time.Now
	}
	return &store{users: make(map[string]*user), maxBoxes: maxMailboxes, now: now}
}

// nextValidity returns the UIDVALIDITY of a new mailbox: the current Unix
// time, or one more than the previous value when that is not smaller, so
// values are unique within the store and grow across restarts.
func (s *store) nextValidity() uint32 {
	t := s.now().Unix()
	v := uint32(max(min(t, math.MaxUint32), 1))
	for {
		last := s.lastValidity.Load()
		next := max(v, last+1)
		if next == 0 { // wrapped past 2^32-1: UIDVALIDITY must be non-zero
			next = 1
		}
		if s.lastValidity.CompareAndSwap(last, next) {
			return next
		}
	}
}

var (
	errUserExists      = errors.New("user already exists")
	errNoSuchUser      = errors.New("no such user")
	errNoSuchMailbox   = errors.New("no such mailbox")
	errMailboxExists   = errors.New("mailbox already exists")
	errTooManyBoxes    = errors.New("too many mailboxes")
	errBadMailboxName  = errors.New("invalid mailbox name")
	errTooManyFlags    = errors.New("too many flags on one message")
	errMailboxDeleted  = errors.New("mailbox was deleted")
	errInboxNotAllowed = errors.New("operation not allowed on INBOX")
)

func (s *store) addUser(name, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	if _, ok := s.users[key]; ok {
		return errUserExists
	}
	u := &user{name: name, password: password, mailboxes: make(map[string]*mailbox), subs: make(map[string]struct{})}
	for _, d := range defaultMailboxes {
		mb := s.newMailbox(d.name, d.attr)
		mb.subscribed = true
		if d.name == view.FolderInbox {
			mb.role = roleInbox
		}
		u.mailboxes[d.name] = mb
	}
	s.users[key] = u
	return nil
}

// user returns the user called name (case-insensitive), or nil.
func (s *store) user(name string) *user {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.users[strings.ToLower(name)]
}

// sortedUsers returns every user in name order.
func (s *store) sortedUsers() []*user {
	s.mu.RLock()
	users := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	s.mu.RUnlock()
	sort.Slice(users, func(i, j int) bool { return users[i].name < users[j].name })
	return users
}

func (s *store) newMailbox(name string, attr imap.MailboxAttr) *mailbox {
	return &mailbox{
		name:        name,
		attr:        attr,
		role:        roleOf(attr),
		uidValidity: s.nextValidity(),
		uidNext:     1,
		tracker:     imapserver.NewMailboxTracker(0),
		changed:     make(chan struct{}),
	}
}

// canonicalName folds the INBOX name, which is case-insensitive in IMAP.
func canonicalName(name string) string {
	if strings.EqualFold(name, view.FolderInbox) {
		return view.FolderInbox
	}
	if len(name) > 6 && strings.EqualFold(name[:6], "INBOX/") {
		return view.FolderInbox + name[5:]
	}
	return name
}

// validMailboxName reports whether name may be created.
func validMailboxName(name string) bool {
	if name == "" || len(name) > 255 || strings.ContainsAny(name, "*%\r\n\x00") {
		return false
	}
	for _, part := range strings.Split(name, string(delim)) {
		if part == "" {
			return false
		}
	}
	return true
}

// mailboxLocked returns the mailbox called name, or nil. u.mu must be held.
func (u *user) mailboxLocked(name string) *mailbox {
	return u.mailboxes[canonicalName(name)]
}

// createLocked creates a mailbox. u.mu must be held.
func (s *store) createLocked(u *user, name string, attr imap.MailboxAttr) (*mailbox, error) {
	name = canonicalName(strings.TrimSuffix(name, string(delim)))
	if !validMailboxName(name) {
		return nil, errBadMailboxName
	}
	if _, ok := u.mailboxes[name]; ok {
		return nil, errMailboxExists
	}
	if len(u.mailboxes) >= s.maxBoxes {
		return nil, errTooManyBoxes
	}
	mb := s.newMailbox(name, attr)
	u.mailboxes[name] = mb
	if _, ok := u.subs[name]; ok {
		delete(u.subs, name)
		mb.subscribed = true
	}
	return mb, nil
}

// deleteLocked removes a mailbox and its messages. u.mu must be held.
func (s *store) deleteLocked(u *user, name string) error {
	name = canonicalName(name)
	if name == view.FolderInbox {
		return errInboxNotAllowed
	}
	mb, ok := u.mailboxes[name]
	if !ok {
		return errNoSuchMailbox
	}
	s.account(mb.role, -int64(len(mb.msgs)), -mb.bytes)
	for len(mb.msgs) > 0 {
		mb.tracker.QueueExpunge(uint32(len(mb.msgs)))
		mb.msgs = mb.msgs[:len(mb.msgs)-1]
	}
	mb.bytes = 0
	mb.deleted = true
	mb.notifyLocked()
	delete(u.mailboxes, name)
	if mb.subscribed && len(u.subs) < s.maxBoxes {
		u.subs[name] = struct{}{}
	}
	return nil
}

// renameLocked renames a mailbox (not INBOX) and its children. u.mu must
// be held.
func (s *store) renameLocked(u *user, from, to string) error {
	from, to = canonicalName(from), canonicalName(strings.TrimSuffix(to, string(delim)))
	if from == view.FolderInbox {
		return errInboxNotAllowed
	}
	if _, ok := u.mailboxes[from]; !ok {
		return errNoSuchMailbox
	}
	if !validMailboxName(to) || to == view.FolderInbox || strings.HasPrefix(to, from+string(delim)) {
		return errBadMailboxName
	}
	renames := map[string]string{from: to}
	for n := range u.mailboxes {
		if rest, ok := strings.CutPrefix(n, from+string(delim)); ok {
			renames[n] = to + string(delim) + rest
		}
	}
	for _, newName := range renames {
		if _, ok := u.mailboxes[newName]; ok {
			return errMailboxExists
		}
	}
	for oldName, newName := range renames {
		mb := u.mailboxes[oldName]
		delete(u.mailboxes, oldName)
		mb.name = newName
		u.mailboxes[newName] = mb
	}
	return nil
}

func (s *store) account(r role, msgs, bytes int64) {
	s.usage[r].messages.Add(msgs)
	s.usage[r].bytes.Add(bytes)
}

// appendLocked stores msg in mb, assigning its UID, and announces it to the
// sessions that have mb selected. u.mu must be held.
func (s *store) appendLocked(mb *mailbox, msg *message) {
	msg.uid = mb.uidNext
	mb.uidNext++
	mb.msgs = append(mb.msgs, msg)
	mb.bytes += msg.size()
	s.account(mb.role, 1, msg.size())
	mb.tracker.QueueNumMessages(uint32(len(mb.msgs)))
	mb.notifyLocked()
}

// expungeLocked removes the messages for which drop returns true and
// announces each removal. It returns the UIDs removed. u.mu must be held.
func (s *store) expungeLocked(mb *mailbox, drop func(*message) bool) []imap.UID {
	var removed []imap.UID
	// Walk backwards so each announced sequence number is still valid for
	// the remaining messages.
	for i := len(mb.msgs) - 1; i >= 0; i-- {
		msg := mb.msgs[i]
		if !drop(msg) {
			continue
		}
		removed = append(removed, msg.uid)
		mb.msgs = append(mb.msgs[:i], mb.msgs[i+1:]...)
		mb.bytes -= msg.size()
		s.account(mb.role, -1, -msg.size())
		mb.tracker.QueueExpunge(uint32(i) + 1)
	}
	if len(removed) > 0 {
		mb.notifyLocked()
	}
	for i, j := 0, len(removed)-1; i < j; i, j = i+1, j-1 {
		removed[i], removed[j] = removed[j], removed[i]
	}
	return removed
}

// newMessage parses raw (normalising line endings to CRLF) into a message
// ready to append. flags may be nil.
func newMessage(raw []byte, flags []imap.Flag, date time.Time) (*message, error) {
	raw = normaliseCRLF(raw)
	msg := &message{raw: raw, date: date, hdrLen: headerLength(raw)}
	var err error
	if msg.flags, err = applyFlags(nil, imap.StoreFlagsSet, flags); err != nil {
		return nil, err
	}
	hdr, herr := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw[:msg.hdrLen])))
	if herr == nil {
		msg.messageID = strings.TrimSpace(hdr.Get("Message-Id"))
	}
	return msg, nil
}

// copyMessage returns a new unstored message with the content, date and
// flags of m. u.mu must be held.
func copyMessage(m *message) *message {
	return &message{
		flags:     append([]imap.Flag(nil), m.flags...),
		date:      m.date,
		raw:       m.raw,
		hdrLen:    m.hdrLen,
		messageID: m.messageID,
	}
}

// normaliseCRLF turns bare LF and bare CR into CRLF. It returns raw itself
// when nothing needs changing.
func normaliseCRLF(raw []byte) []byte {
	bad := false
	for i, c := range raw {
		if (c == '\n' && (i == 0 || raw[i-1] != '\r')) || (c == '\r' && (i+1 == len(raw) || raw[i+1] != '\n')) {
			bad = true
			break
		}
	}
	if !bad {
		return raw
	}
	out := make([]byte, 0, len(raw)+len(raw)/32+2)
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '\r':
			out = append(out, '\r', '\n')
			if i+1 < len(raw) && raw[i+1] == '\n' {
				i++
			}
		case '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// headerLength returns the length of the header block of a CRLF message,
// including the empty line that ends it (the whole message if none).
func headerLength(raw []byte) int {
	if bytes.HasPrefix(raw, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(raw)
}

// systemFlags are the flags whose case is canonicalised.
var systemFlags = [...]imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft,
	imap.FlagForwarded, imap.FlagJunk, imap.FlagNotJunk, imap.FlagPhishing, imap.FlagImportant}

// canonicalFlag folds the case of known flags; ok is false for \Recent and
// empty flags, which cannot be stored.
func canonicalFlag(f imap.Flag) (imap.Flag, bool) {
	if f == "" || strings.EqualFold(string(f), `\Recent`) {
		return "", false
	}
	for _, sf := range systemFlags {
		if strings.EqualFold(string(sf), string(f)) {
			return sf, true
		}
	}
	return f, true
}

// applyFlags returns the flag list that results from op on cur; cur is not
// modified. The result is sorted and free of duplicates.
func applyFlags(cur []imap.Flag, op imap.StoreFlagsOp, flags []imap.Flag) ([]imap.Flag, error) {
	set := make(map[imap.Flag]struct{}, len(cur)+len(flags))
	if op != imap.StoreFlagsSet {
		for _, f := range cur {
			set[f] = struct{}{}
		}
	}
	for _, f := range flags {
		cf, ok := canonicalFlag(f)
		if !ok {
			continue
		}
		if op == imap.StoreFlagsDel {
			for g := range set {
				if strings.EqualFold(string(g), string(cf)) {
					delete(set, g)
				}
			}
			continue
		}
		dup := false
		for g := range set {
			if strings.EqualFold(string(g), string(cf)) {
				dup = true
				break
			}
		}
		if !dup {
			set[cf] = struct{}{}
		}
	}
	if len(set) > maxFlagsPerMessage {
		return nil, errTooManyFlags
	}
	out := make([]imap.Flag, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// sameFlags reports whether two canonical sorted flag lists are equal.
func sameFlags(a, b []imap.Flag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
