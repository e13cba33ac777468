package mailserver

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// imapCaps are the capabilities the IMAP frontend announces.
var imapCaps = imap.CapSet{
	imap.CapIMAP4rev1:    {},
	imap.CapIMAP4rev2:    {},
	imap.CapNamespace:    {},
	imap.CapUIDPlus:      {},
	imap.CapESearch:      {},
	imap.CapMove:         {},
	imap.CapSpecialUse:   {},
	imap.CapListStatus:   {},
	imap.CapChildren:     {},
	imap.CapLiteralPlus:  {},
	imap.CapStatusSize:   {},
	imap.CapListExtended: {},
}

// imapOptions configures the IMAP library for s.
func (s *Server) imapOptions() *imapserver.Options {
	o := &imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{srv: s, conn: c}, nil, nil
		},
		Caps:         imapCaps,
		Logger:       slogPrintf{s.log, ProtoIMAP},
		InsecureAuth: true,
	}
	if s.opts.TLS != nil {
		// The guard answers STARTTLS (mutf7.go); the library only
		// announces it.
		o.TLSConfig = refusingTLS()
	}
	return o
}

// serveIMAP serves IMAP on ln until ln is closed.
func (s *Server) serveIMAP(ln net.Listener) {
	srv := imapserver.New(s.imapOptions())
	err := srv.Serve(&meterListener{Listener: ln, srv: s})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("imap serve", "err", err)
	}
}

// imapSession is one IMAP connection's state. The library calls its
// methods from the connection's goroutine (Idle from a second one while the
// first waits), so it needs no lock of its own; the store is guarded by the
// user's lock.
type imapSession struct {
	srv  *Server
	conn *imapserver.Conn

	user     *user
	mbox     *mailbox
	readOnly bool
	// searchRes is the result saved by SEARCH RETURN (SAVE), for "$".
	searchRes imap.UIDSet
	// recent holds the UIDs that are \Recent in this session, recentSeen
	// the highest UID it considered (see imap_flags.go).
	recent     imap.UIDSet
	recentSeen imap.UID

	// trackerMu guards tracker and idleBox: the library may leave an Idle
	// call running while it closes the session.
	trackerMu sync.Mutex
	tracker   *imapserver.SessionTracker
	idleBox   *mailbox
	idleUser  *user

	// updates is the writer of the latest poll, kept to announce new
	// messages before a UID command addresses them (see announceNew).
	updates *imapserver.UpdateWriter
}

var (
	_ imapserver.SessionIMAP4rev2   = (*imapSession)(nil)
	_ imapserver.SessionAppendLimit = (*imapSession)(nil)
)

func imapNo(code imap.ResponseCode, format string, args ...interface{}) *imap.Error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: fmt.Sprintf(format, args...)}
}

// storeError maps a store error to an IMAP response.
func storeError(err error) error {
	switch {
	case errors.Is(err, errNoSuchMailbox), errors.Is(err, errMailboxDeleted):
		return imapNo(imap.ResponseCodeNonExistent, "%v", err)
	case errors.Is(err, errMailboxExists):
		return imapNo(imap.ResponseCodeAlreadyExists, "%v", err)
	case errors.Is(err, errTooManyBoxes), errors.Is(err, errTooManyFlags):
		return imapNo(imap.ResponseCodeLimit, "%v", err)
	case errors.Is(err, errBadMailboxName):
		return imapNo(imap.ResponseCodeCannot, "%v", err)
	case errors.Is(err, errInboxNotAllowed):
		return imapNo(imap.ResponseCodeCannot, "%v", err)
	}
	return err
}

func (s *imapSession) Close() error {
	if s.user == nil {
		return nil
	}
	s.user.mu.Lock()
	s.unselectLocked()
	s.user.mu.Unlock()
	s.srv.closeSession(s.user)
	s.user = nil
	return nil
}

func (s *imapSession) Login(username, password string) error {
	u, ok := s.srv.authenticate(username, password)
	if !ok {
		return imapserver.ErrAuthFailed
	}
	if !s.srv.openSession(u) {
		return imapNo(imap.ResponseCodeLimit, "Too many connections for this user")
	}
	s.user = u
	if m, ok := s.conn.NetConn().(*imapMeter); ok {
		m.setUser(u)
	}
	return nil
}

// AppendLimit implements imapserver.SessionAppendLimit.
func (s *imapSession) AppendLimit() uint32 { return uint32(s.srv.opts.MaxMessageSize) }

func (s *imapSession) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// unselectLocked leaves the selected mailbox. u.mu must be held.
func (s *imapSession) unselectLocked() {
	s.trackerMu.Lock()
	if s.tracker != nil {
		s.tracker.Close()
	}
	s.tracker, s.idleBox, s.idleUser = nil, nil, nil
	s.trackerMu.Unlock()
	s.mbox, s.readOnly, s.searchRes = nil, false, nil
	s.recent, s.recentSeen = nil, 0
}

func (s *imapSession) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if err := invalidNameError(name); err != nil {
		return nil, err
	}
	u := s.user
	u.mu.Lock()
	defer u.mu.Unlock()
	s.unselectLocked()
	mb := u.mailboxLocked(name)
	if mb == nil {
		return nil, imapNo(imap.ResponseCodeNonExistent, "No such mailbox")
	}
	s.mbox, s.readOnly = mb, options.ReadOnly
	s.trackerMu.Lock()
	s.tracker, s.idleBox, s.idleUser = mb.tracker.NewSession(), mb, u
	s.trackerMu.Unlock()
	s.claimRecentLocked(mb, s.tracker)
	data := &imap.SelectData{
		Flags:          mailboxFlagsLocked(mb),
		PermanentFlags: append(mailboxFlagsLocked(mb), imap.FlagWildcard),
		NumMessages:    uint32(len(mb.msgs)),
		NumRecent:      s.recentCountLocked(mb),
		UIDNext:        mb.uidNext,
		UIDValidity:    mb.uidValidity,
		List:           s.listDataLocked(u, mb, nil),
	}
	for i, m := range mb.msgs {
		if !m.hasFlag(imap.FlagSeen) {
			data.FirstUnseenSeqNum = uint32(i) + 1
			break
		}
	}
	return data, nil
}

func (s *imapSession) Unselect() error {
	s.user.mu.Lock()
	s.unselectLocked()
	s.user.mu.Unlock()
	return nil
}

func (s *imapSession) Create(name string, options *imap.CreateOptions) error {
	if err := invalidNameError(name); err != nil {
		return err
	}
	var attr imap.MailboxAttr
	if options != nil && len(options.SpecialUse) > 0 {
		attr = options.SpecialUse[0]
		if roleOf(attr) == roleOther {
			return imapNo(imap.ResponseCode("USEATTR"), "Unsupported special-use attribute")
		}
	}
	s.user.mu.Lock()
	defer s.user.mu.Unlock()
	_, err := s.srv.store.createLocked(s.user, name, attr)
	return storeError(err)
}

func (s *imapSession) Delete(name string) error {
	if err := invalidNameError(name); err != nil {
		return err
	}
	s.user.mu.Lock()
	defer s.user.mu.Unlock()
	return storeError(s.srv.store.deleteLocked(s.user, name))
}

func (s *imapSession) Rename(from, to string, _ *imap.RenameOptions) error {
	if err := invalidNameError(from, to); err != nil {
		return err
	}
	s.user.mu.Lock()
	defer s.user.mu.Unlock()
	return storeError(s.srv.store.renameLocked(s.user, from, to))
}

// statusLocked computes STATUS data for mb. The user lock must be held.
func statusLocked(mb *mailbox, options *imap.StatusOptions) *imap.StatusData {
	data := &imap.StatusData{Mailbox: mb.name}
	if options.NumMessages {
		n := uint32(len(mb.msgs))
		data.NumMessages = &n
	}
	if options.UIDNext {
		data.UIDNext = mb.uidNext
	}
	if options.UIDValidity {
		data.UIDValidity = mb.uidValidity
	}
	if options.NumUnseen || options.NumDeleted {
		var unseen, deleted uint32
		for _, m := range mb.msgs {
			if !m.hasFlag(imap.FlagSeen) {
				unseen++
			}
			if m.hasFlag(imap.FlagDeleted) {
				deleted++
			}
		}
		if options.NumUnseen {
			data.NumUnseen = &unseen
		}
		if options.NumDeleted {
			data.NumDeleted = &deleted
		}
	}
	if options.NumRecent {
		var recent uint32
		for _, m := range mb.msgs {
			if m.uid > mb.recentUID {
				recent++
			}
		}
		data.NumRecent = &recent
	}
	if options.Size {
		size := mb.bytes
		data.Size = &size
	}
	return data
}

func (s *imapSession) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	if err := invalidNameError(name); err != nil {
		return nil, err
	}
	s.user.mu.Lock()
	defer s.user.mu.Unlock()
	mb := s.user.mailboxLocked(name)
	if mb == nil {
		return nil, imapNo(imap.ResponseCodeNonExistent, "No such mailbox")
	}
	return statusLocked(mb, options), nil
}

func (s *imapSession) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if err := invalidNameError(name); err != nil {
		return nil, err
	}
	limit := s.srv.opts.MaxMessageSize
	if r.Size() > limit {
		return nil, imapNo(imap.ResponseCodeTooBig, "Message too big")
	}
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, imapNo(imap.ResponseCodeTooBig, "Message too big")
	}
	date := options.Time
	if date.IsZero() {
		date = time.Now()
	}
	msg, err := newMessage(raw, options.Flags, date)
	if err != nil {
		return nil, storeError(err)
	}
	u := s.user
	u.mu.Lock()
	mb := u.mailboxLocked(name)
	if mb == nil {
		u.mu.Unlock()
		return nil, imapNo(imap.ResponseCodeTryCreate, "No such mailbox")
	}
	if _, err := noteKeywordsLocked(mb, msg.flags); err != nil {
		u.mu.Unlock()
		return nil, storeError(err)
	}
	s.srv.store.appendLocked(mb, msg)
	data := &imap.AppendData{UID: msg.uid, UIDValidity: mb.uidValidity}
	u.mu.Unlock()
	s.srv.rec.Delivered("imap-append")
	return data, nil
}

func (s *imapSession) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	s.updates = w
	s.trackerMu.Lock()
	t, mb, u := s.tracker, s.idleBox, s.idleUser
	s.trackerMu.Unlock()
	if t == nil {
		return nil
	}
	return s.pollTracker(u, mb, t, w, allowExpunge)
}

// announceNew sends the pending EXISTS (and flag) updates of the selected
// mailbox before a UID command runs, so that it can address messages
// another session appended since this one last heard — as Dovecot syncs the
// mailbox before every command. A client may know such UIDs from another
// connection (a PC with one connection for IDLE and one for actions). It
// stops at the first pending expunge, which FETCH and STORE must not send;
// messages behind it stay unannounced until the next poll, as before. The
// library hands out an UpdateWriter only when it polls after a command
// (not after SELECT), so a UID command right after SELECT cannot announce;
// clients resync flags after SELECT, which polls.
func (s *imapSession) announceNew(numSet imap.NumSet) error {
	if _, ok := numSet.(imap.UIDSet); !ok || s.updates == nil {
		return nil
	}
	s.trackerMu.Lock()
	t, mb, u := s.tracker, s.idleBox, s.idleUser
	s.trackerMu.Unlock()
	if t == nil {
		return nil
	}
	return s.pollTracker(u, mb, t, s.updates, false)
}

func (s *imapSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.trackerMu.Lock()
	t, mb, u := s.tracker, s.idleBox, s.idleUser
	s.trackerMu.Unlock()
	if t == nil {
		<-stop
		return nil
	}
	// Not SessionTracker.Idle: it misses updates queued between the
	// continuation response and its own registration. Taking the change
	// channel before each poll loses no wake-up.
	for {
		u.mu.Lock()
		changed := mb.changed
		u.mu.Unlock()
		if err := s.pollTracker(u, mb, t, w, true); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-stop:
			return nil
		}
	}
}

// selectedLocked checks that the selected mailbox still exists.
func (s *imapSession) selectedLocked() error {
	if s.mbox == nil || s.mbox.deleted {
		return imapNo(imap.ResponseCodeNonExistent, "Selected mailbox was deleted")
	}
	return nil
}

func (s *imapSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	u := s.user
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := s.selectedLocked(); err != nil {
		return err
	}
	if s.readOnly {
		// CLOSE (the library's writer without a connection) leaves a
		// read-only mailbox silently (RFC 3501 6.4.2); EXPUNGE fails.
		if *w == (imapserver.ExpungeWriter{}) {
			return nil
		}
		return imapNo(imap.ResponseCodeCannot, "Mailbox is read-only")
	}
	// The expunges reach this session, like every other, through its
	// tracker, which the library polls right after this command.
	s.srv.store.expungeLocked(s.mbox, func(m *message) bool {
		return m.hasFlag(imap.FlagDeleted) && (uids == nil || uids.Contains(m.uid))
	})
	return nil
}

// hit is one message a command addresses, with its sequence number as the
// client knows it.
type hit struct {
	seq uint32
	idx int
	msg *message
}

// resolveLocked returns the messages in numSet, in mailbox order, skipping
// those the client has not been told about yet. u.mu must be held.
func (s *imapSession) resolveLocked(numSet imap.NumSet) ([]hit, error) {
	if imap.IsSearchRes(numSet) {
		numSet = s.searchRes
	}
	msgs := s.mbox.msgs
	var out []hit
	switch set := numSet.(type) {
	case imap.SeqSet:
		var star uint32
		for i := len(msgs) - 1; i >= 0 && star == 0; i-- {
			star = s.tracker.EncodeSeqNum(uint32(i) + 1)
		}
		for i, m := range msgs {
			seq := s.tracker.EncodeSeqNum(uint32(i) + 1)
			if seq != 0 && inRanges(set, seq, star) {
				out = append(out, hit{seq, i, m})
			}
		}
	case imap.UIDSet:
		var star imap.UID
		if len(msgs) > 0 {
			star = msgs[len(msgs)-1].uid
		}
		for i, m := range msgs {
			if !inUIDRanges(set, m.uid, star) {
				continue
			}
			if seq := s.tracker.EncodeSeqNum(uint32(i) + 1); seq != 0 {
				out = append(out, hit{seq, i, m})
			}
		}
	default:
		return nil, fmt.Errorf("unknown number set %T", numSet)
	}
	return out, nil
}

func inRanges(set imap.SeqSet, n, star uint32) bool {
	for _, r := range set {
		if inRange(r.Start, r.Stop, n, star) {
			return true
		}
	}
	return false
}

func inUIDRanges(set imap.UIDSet, n, star imap.UID) bool {
	for _, r := range set {
		if inRange(r.Start, r.Stop, n, star) {
			return true
		}
	}
	return false
}

// inRange reports whether n is in the range a:b, where 0 stands for "*"
// (star, the highest number in use) and the bounds may come in any order.
func inRange[T ~uint32](a, b, n, star T) bool {
	if a == 0 {
		a = star
	}
	if b == 0 {
		b = star
	}
	if a > b {
		a, b = b, a
	}
	return a <= n && n <= b
}

func (s *imapSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	if err := s.announceNew(numSet); err != nil {
		return err
	}
	u := s.user
	u.mu.Lock()
	if err := s.selectedLocked(); err != nil {
		u.mu.Unlock()
		return err
	}
	if s.readOnly {
		u.mu.Unlock()
		return imapNo(imap.ResponseCodeCannot, "Mailbox is read-only")
	}
	hits, err := s.resolveLocked(numSet)
	if err != nil {
		u.mu.Unlock()
		return err
	}
	newKeywords := false
	if flags.Op != imap.StoreFlagsDel && len(hits) > 0 {
		if newKeywords, err = noteKeywordsLocked(s.mbox, flags.Flags); err != nil {
			u.mu.Unlock()
			return storeError(err)
		}
	}
	type result struct {
		seq   uint32
		uid   imap.UID
		flags []imap.Flag
	}
	results := make([]result, 0, len(hits))
	for _, h := range hits {
		nf, err := applyFlags(h.msg.flags, flags.Op, flags.Flags)
		if err != nil {
			u.mu.Unlock()
			return storeError(err)
		}
		if !sameFlags(nf, h.msg.flags) {
			h.msg.flags = nf
			s.mbox.queueFlagsLocked(uint32(h.idx)+1, h.msg, s.tracker)
		}
		results = append(results, result{h.seq, h.msg.uid, s.withRecent(h.msg.uid, h.msg.flags)})
	}
	u.mu.Unlock()
	// The new FLAGS must reach this session before the FETCH showing them.
	if newKeywords && s.updates != nil {
		if err := s.announceNew(imap.UIDSet{}); err != nil {
			return err
		}
	}
	if flags.Silent {
		return nil
	}
	for _, r := range results {
		rw := w.CreateMessage(r.seq)
		rw.WriteUID(r.uid)
		rw.WriteFlags(r.flags)
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// copyLocked copies the messages of numSet to dest and, for MOVE, expunges
// them from the selected mailbox first, so that a move into the selected
// mailbox itself announces the EXPUNGE before the new EXISTS. u.mu must be
// held.
func (s *imapSession) copyLocked(numSet imap.NumSet, dest string, move bool) (*imap.CopyData, error) {
	if err := s.selectedLocked(); err != nil {
		return nil, err
	}
	to := s.user.mailboxLocked(dest)
	if to == nil {
		return nil, imapNo(imap.ResponseCodeTryCreate, "No such mailbox")
	}
	hits, err := s.resolveLocked(numSet)
	if err != nil {
		return nil, err
	}
	if len(hits) == 0 {
		return nil, nil
	}
	for _, h := range hits {
		if _, err := noteKeywordsLocked(to, h.msg.flags); err != nil {
			return nil, storeError(err)
		}
	}
	if move {
		moved := make(map[*message]bool, len(hits))
		for _, h := range hits {
			moved[h.msg] = true
		}
		s.srv.store.expungeLocked(s.mbox, func(m *message) bool { return moved[m] })
	}
	data := &imap.CopyData{UIDValidity: to.uidValidity}
	for _, h := range hits {
		c := copyMessage(h.msg)
		s.srv.store.appendLocked(to, c)
		data.SourceUIDs.AddNum(h.msg.uid)
		data.DestUIDs.AddNum(c.uid)
	}
	return data, nil
}

func (s *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := invalidNameError(dest); err != nil {
		return nil, err
	}
	if err := s.announceNew(numSet); err != nil {
		return nil, err
	}
	s.user.mu.Lock()
	defer s.user.mu.Unlock()
	return s.copyLocked(numSet, dest, false)
}

func (s *imapSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := invalidNameError(dest); err != nil {
		return err
	}
	if err := s.announceNew(numSet); err != nil {
		return err
	}
	u := s.user
	u.mu.Lock()
	if s.readOnly {
		u.mu.Unlock()
		return imapNo(imap.ResponseCodeCannot, "Mailbox is read-only")
	}
	data, err := s.copyLocked(numSet, dest, true)
	u.mu.Unlock()
	if err != nil {
		return err
	}
	// The EXPUNGE responses follow from the tracker when the library polls
	// after this command.
	if data == nil {
		return nil
	}
	return w.WriteCopyData(data)
}
