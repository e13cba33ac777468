package clients

// InboxCursor is a point in a device's record of the messages that came
// into its INBOX (Device.NewInInbox). The zero value is the device's
// start.
type InboxCursor uint64

// inboxLog records the messages that came into a device's INBOX since the
// last NewInInbox, so that a person finds its new mail without looking at
// every message the device holds. K names a message in the device's
// records (IMAP: its UID in INBOX, POP3: its Message-ID's handle); NewInInbox keeps
// those still in INBOX when it is asked. An entry is kept only until the
// next NewInInbox, and a log nobody asks for is dropped once it is a
// quarter of the INBOX's size and at least inboxLogMin (a caller then
// gets the whole INBOX, once), so it costs at most a quarter of a key per
// message held (docs/performance.md, "A person's wake-up and an
// action's lookup"). The zero value is empty; the device's mutex guards
// it.
type inboxLog[K any] struct {
	keys []K
	base InboxCursor // the cursor of keys[0]
}

// inboxLogMin is the fewest entries a log keeps before it may be
// dropped.
const inboxLogMin = 64

// inboxLogKeep is the largest backing array an emptied log keeps for its
// next entries.
const inboxLogKeep = 1024

// add records that k came into the INBOX, which now holds held messages.
func (l *inboxLog[K]) add(k K, held int) {
	if len(l.keys) >= inboxLogMin && len(l.keys) >= held/4 {
		l.base += InboxCursor(len(l.keys))
		l.keys = l.keys[:0]
	}
	l.keys = append(l.keys, k)
}

// take calls fn for every key recorded since cursor c and forgets the
// log; it returns the cursor after the last entry, and ok false when c is
// not a cursor the log still knows (older than the entries kept, or
// beyond them): then fn was not called and the caller lists the whole
// INBOX.
func (l *inboxLog[K]) take(c InboxCursor, fn func(K)) (next InboxCursor, ok bool) {
	end := l.base + InboxCursor(len(l.keys))
	ok = c >= l.base && c <= end
	if ok {
		for _, k := range l.keys[c-l.base:] {
			fn(k)
		}
	}
	l.base = end
	l.keys = l.keys[:0]
	if cap(l.keys) > inboxLogKeep {
		l.keys = nil
	}
	return end, ok
}
