package mailserver

import (
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Mailbox flags and the \Recent flag, per session.
//
// Keywords: a client may only be shown a keyword that the mailbox's FLAGS
// response has announced (RFC 3501 7.2.6), so every keyword set in a
// mailbox joins its keyword list, announced in SELECT's FLAGS and
// PERMANENTFLAGS and, when it grows, in an untagged FLAGS response to every
// session that has the mailbox selected (before the FETCH that shows it).
//
// \Recent (RFC 3501 2.3.2): a message is recent in exactly one session, the
// first read-write one to see it (SELECT, or a poll announcing new mail);
// EXAMINE sessions see such messages as recent without taking the flag
// away. IMAP4rev2 dropped \Recent; IMAP4rev1 clients and imaptest still ask.

// maxKeywordsPerMailbox bounds the keyword list of one mailbox.
const maxKeywordsPerMailbox = 256

// flagRecent is the session flag \Recent, never stored.
const flagRecent imap.Flag = `\Recent`

// mailboxFlagsLocked returns the FLAGS of mb: the system flags and its
// keywords. u.mu must be held.
func mailboxFlagsLocked(mb *mailbox) []imap.Flag {
	flags := []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, imap.FlagForwarded}
	return append(flags, mb.keywords...)
}

// isKeyword reports whether f is a keyword rather than a system flag.
func isKeyword(f imap.Flag) bool { return !strings.HasPrefix(string(f), `\`) }

// noteKeywordsLocked adds the keywords among flags that mb does not list
// yet and, if any, announces the new FLAGS to the sessions of mb. It fails
// when the list would grow past its bound. u.mu must be held.
func noteKeywordsLocked(mb *mailbox, flags []imap.Flag) (bool, error) {
	var added []imap.Flag
	for _, f := range flags {
		if !isKeyword(f) {
			continue
		}
		known := false
		for _, k := range mb.keywords {
			if strings.EqualFold(string(k), string(f)) {
				known = true
				break
			}
		}
		for _, k := range added {
			known = known || strings.EqualFold(string(k), string(f))
		}
		if !known {
			added = append(added, f)
		}
	}
	if len(added) == 0 {
		return false, nil
	}
	if len(mb.keywords)+len(added) > maxKeywordsPerMailbox {
		return false, errTooManyFlags
	}
	mb.keywords = append(mb.keywords, added...)
	mb.tracker.QueueMailboxFlags(mailboxFlagsLocked(mb))
	return true, nil
}

// withRecent returns flags with \Recent added when the session holds it
// for uid; flags is not modified. u.mu must be held.
func (s *imapSession) withRecent(uid imap.UID, flags []imap.Flag) []imap.Flag {
	if !s.recent.Contains(uid) {
		return flags
	}
	out := make([]imap.Flag, 0, len(flags)+1)
	return append(append(out, flags...), flagRecent)
}

// claimRecentLocked gives this session \Recent on the messages of mb it
// knows about (through t) and that no read-write session has seen yet. It
// reports whether any was added. u.mu must be held.
func (s *imapSession) claimRecentLocked(mb *mailbox, t *imapserver.SessionTracker) bool {
	var last imap.UID
	for i := len(mb.msgs) - 1; i >= 0; i-- {
		if t.EncodeSeqNum(uint32(i)+1) != 0 {
			last = mb.msgs[i].uid
			break
		}
	}
	from := max(mb.recentUID, s.recentSeen) + 1
	if last < from {
		return false
	}
	s.recent.AddRange(from, last)
	s.recentSeen = last
	if !s.readOnly {
		mb.recentUID = last
	}
	return true
}

// recentCountLocked counts the messages of mb recent in this session.
// u.mu must be held.
func (s *imapSession) recentCountLocked(mb *mailbox) uint32 {
	var n uint32
	for _, m := range mb.msgs {
		if s.recent.Contains(m.uid) {
			n++
		}
	}
	return n
}

// pollTracker writes the pending updates of t and, when new messages became
// recent in this session, the RECENT count after them.
func (s *imapSession) pollTracker(u *user, mb *mailbox, t *imapserver.SessionTracker, w *imapserver.UpdateWriter, allowExpunge bool) error {
	if err := t.Poll(w, allowExpunge); err != nil {
		return err
	}
	u.mu.Lock()
	// An IDLE poll may run after the session closed or left mb: a closed
	// tracker must not be asked for sequence numbers (it panics).
	s.trackerMu.Lock()
	current := s.tracker == t
	s.trackerMu.Unlock()
	claimed := current && s.claimRecentLocked(mb, t)
	n := s.recentCountLocked(mb)
	u.mu.Unlock()
	if !claimed {
		return nil
	}
	return w.WriteNumRecent(n)
}
