package leanimap

import (
	"bytes"
	"sync/atomic"
	"unicode/utf8"
)

// CapCache keeps the last capability lists a server sent, their bytes and
// their parsed names, for the clients of a run to share (Options.Caps): a
// session reads the same two lists (the greeting's, the LOGIN reply's) as
// every session before it, and the injector opens a session per APPEND,
// so a list read again is compared, not parsed, and allocates nothing
// (docs/performance.md, "The cost of a connection"). The zero value is
// ready; it is safe for concurrent use. The lists it hands out are shared
// and must not be modified (Client.Caps).
type CapCache struct {
	slots [capCacheSlots]atomic.Pointer[capEntry]
	next  atomic.Uint32 // the slot the next new list replaces
}

// capCacheSlots is how many lists a CapCache keeps: a server's lists
// before and after login, with room for a second server or a list that
// changed (the oldest is replaced).
const capCacheSlots = 4

// capEntry is one list: the bytes of the list as read (" NAME NAME ..."
// after CAPABILITY, up to the end of the line or the code), and its names.
type capEntry struct {
	raw  []byte
	caps []string
}

// lookup returns the entry whose list b starts with, when parsing b would
// read exactly that list: the byte after it (if any) ends the list, being
// neither a space nor part of an atom. A nil cache has none.
func (cc *CapCache) lookup(b []byte) *capEntry {
	if cc == nil {
		return nil
	}
	for i := range cc.slots {
		e := cc.slots[i].Load()
		if e == nil || !bytes.HasPrefix(b, e.raw) {
			continue
		}
		if n := len(e.raw); n < len(b) && (b[n] == ' ' || isAtomChar(b[n], false)) {
			continue
		}
		return e
	}
	return nil
}

// store keeps the list raw (copied) parsed as caps, replacing the oldest.
func (cc *CapCache) store(raw []byte, caps []string) {
	if cc == nil || len(raw) == 0 {
		return
	}
	e := &capEntry{raw: bytes.Clone(raw), caps: caps}
	i := (cc.next.Add(1) - 1) % capCacheSlots
	cc.slots[i].Store(e)
}

// knownCaps holds, under their upper-case names, the capabilities the
// servers mailsim meets announce (Dovecot before and after login, the
// embedded server, Cyrus, Courier): parseCaps returns these strings
// instead of allocating one per name on every capability list, which a
// session reads up to three times and the injector once per APPEND
// session (docs/performance.md, "The devices' user time"). Read only.
var knownCaps = func() map[string]string {
	m := make(map[string]string)
	for _, c := range []string{
		"IMAP4REV1", "IMAP4REV2", "SASL-IR", "LOGIN-REFERRALS", "ID", "ENABLE",
		"IDLE", "SORT", "SORT=DISPLAY", "THREAD=REFERENCES", "THREAD=REFS",
		"THREAD=ORDEREDSUBJECT", "MULTIAPPEND", "URL-PARTIAL", "CATENATE",
		"UNSELECT", "CHILDREN", "NAMESPACE", "UIDPLUS", "LIST-EXTENDED",
		"I18NLEVEL=1", "CONDSTORE", "QRESYNC", "ESEARCH", "ESORT", "SEARCHRES",
		"WITHIN", "CONTEXT=SEARCH", "CONTEXT=SORT", "LIST-STATUS", "BINARY", "MOVE",
		"SNIPPET=FUZZY", "PREVIEW=FUZZY", "PREVIEW", "STATUS=SIZE", "SAVEDATE",
		"LITERAL+", "LITERAL-", "NOTIFY", "SPECIAL-USE", "CREATE-SPECIAL-USE",
		"AUTH=PLAIN", "AUTH=LOGIN", "AUTH=CRAM-MD5", "AUTH=DIGEST-MD5",
		"AUTH=SCRAM-SHA-1", "AUTH=SCRAM-SHA-256", "AUTH=XOAUTH2",
		"AUTH=OAUTHBEARER", "AUTH=EXTERNAL", "AUTH=ANONYMOUS", "STARTTLS",
		"LOGINDISABLED", "UTF8=ACCEPT", "UTF8=ONLY", "QUOTA", "ACL",
		"RIGHTS=KXTE", "METADATA", "METADATA-SERVER", "ANNOTATEMORE",
		"X-NETSCAPE", "APPENDLIMIT", "COMPRESS=DEFLATE",
		"MAILBOX-REFERRALS", "OBJECTID", "UNAUTHENTICATE", "REPLACE", "X-REPLICATION",
		"XLIST", "URLAUTH", "URLAUTH=BINARY", "DIGEST=SHA1", "X-QUOTA=STORAGE",
		"X-QUOTA=MESSAGE", "X-QUOTA=X-ANNOTATION-STORAGE", "X-QUOTA=X-NUM-FOLDERS",
		"XAPPLEPUSHSERVICE", "LIST-MYRIGHTS", "PARTIAL",
	} {
		m[c] = c
	}
	return m
}()

// capName returns w upper-cased as bytes.ToUpper does: one of knownCaps'
// strings when it is one (no allocation), a new string otherwise.
func capName(w []byte) string {
	var buf [48]byte
	if len(w) > len(buf) {
		return string(bytes.ToUpper(w))
	}
	up := buf[:len(w)]
	for i, b := range w {
		switch {
		case b >= utf8.RuneSelf:
			return string(bytes.ToUpper(w))
		case 'a' <= b && b <= 'z':
			b -= 'a' - 'A'
		}
		up[i] = b
	}
	if s, ok := knownCaps[string(up)]; ok {
		return s
	}
	return string(up)
}
