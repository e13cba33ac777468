package leanimap

import (
	"bytes"
	"unicode/utf8"
)

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
