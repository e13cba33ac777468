package mailserver

import (
	"bufio"
	"bytes"
	"mime"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

// envelopeAddressFields are the address fields of ENVELOPE, which the
// library parses without RFC 5322 groups.
var envelopeAddressFields = [...]string{"From", "Sender", "Reply-To", "To", "Cc", "Bcc"}

// envelopeOf returns the ENVELOPE of m: the library's, with the address
// lists parsed here so that groups appear as RFC 3501 7.4.2 asks, a start
// marker (NIL NIL "name" NIL), the members and an end marker
// (NIL NIL NIL NIL).
func envelopeOf(m *message) *imap.Envelope {
	hdr, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(m.raw[:m.hdrLen])))
	env := imapserver.ExtractEnvelope(hdr)
	lists := [...]*[]imap.Address{&env.From, &env.Sender, &env.ReplyTo, &env.To, &env.Cc, &env.Bcc}
	for i, k := range envelopeAddressFields {
		*lists[i] = nil
		for _, v := range hdr.Values(k) {
			*lists[i] = append(*lists[i], parseAddressList(v)...)
		}
	}
	return env
}

// splitTopLevel calls f with each part of s between the separators seps
// that stand outside quoted strings, comments and angle brackets, and the
// separator that ended it (0 at the end of s).
func splitTopLevel(s string, seps string, f func(part string, sep byte)) {
	depth, quoted, angle, start := 0, false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"' && depth == 0:
			quoted = !quoted
		case quoted:
		case c == '\\' && depth > 0:
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case !angle && strings.IndexByte(seps, c) >= 0:
			f(s[start:i], c)
			start = i + 1
		}
	}
	f(s[start:], 0)
}

// parseAddressList parses one address-list header value into ENVELOPE
// addresses, groups included. Unparsable members are left out.
func parseAddressList(v string) []imap.Address {
	var out []imap.Address
	group := ""
	inGroup := false
	var pending strings.Builder
	flush := func(item string) {
		item = strings.TrimSpace(item)
		if item == "" {
			return
		}
		addrs, err := mail.ParseAddressList(item)
		if err != nil {
			// the parser refuses comments inside an address and the
			// obsolete source route; retry without them
			if addrs, err = mail.ParseAddressList(simplifyAddress(item)); err != nil {
				return
			}
		}
		for _, a := range addrs {
			mbox, host, ok := strings.Cut(a.Address, "@")
			if !ok {
				continue
			}
			out = append(out, imap.Address{Name: a.Name, Mailbox: mbox, Host: host})
		}
	}
	splitTopLevel(v, ",:;", func(part string, sep byte) {
		switch sep {
		case ':':
			if inGroup {
				pending.WriteString(part + ":")
				return
			}
			group, inGroup = groupName(pending.String()+part), true
			pending.Reset()
			if group == "" {
				// a nameless group has no start marker to give: its
				// members are listed alone
				inGroup = false
				return
			}
			out = append(out, imap.Address{Mailbox: group})
		case ';':
			flush(pending.String() + part)
			pending.Reset()
			if inGroup {
				out = append(out, imap.Address{})
				inGroup = false
			}
		default: // ',' or the end
			flush(pending.String() + part)
			pending.Reset()
		}
	})
	if inGroup { // an unterminated group
		out = append(out, imap.Address{})
	}
	return out
}

// groupName decodes the display name of a group (quotes, comments and
// RFC 2047 encoded words).
func groupName(phrase string) string {
	phrase = strings.Trim(strings.TrimSpace(stripComments(phrase)), `"`)
	if dec, err := new(mime.WordDecoder).DecodeHeader(phrase); err == nil {
		return dec
	}
	return phrase
}

// stripComments removes the (comments) outside quoted strings.
func stripComments(s string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quoted && c == '\\' && i+1 < len(s):
			b.WriteByte(c)
			i++
			c = s[i]
		case c == '"' && depth == 0:
			quoted = !quoted
		case !quoted && c == '(':
			depth++
			continue
		case !quoted && c == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// simplifyAddress removes what mail.ParseAddressList refuses in an
// address: comments, white space inside <...> and a source route
// ("<@route:user@host>", RFC 5322 obs-route, which ENVELOPE cannot carry
// here: the library writes the route field as NIL).
func simplifyAddress(item string) string {
	item = stripComments(item)
	lt := strings.IndexByte(item, '<')
	gt := strings.LastIndexByte(item, '>')
	if lt < 0 || gt < lt {
		return strings.Join(strings.Fields(item), "")
	}
	inner := strings.Join(strings.Fields(item[lt+1:gt]), "")
	if strings.HasPrefix(inner, "@") {
		if i := strings.IndexByte(inner, ':'); i >= 0 {
			inner = inner[i+1:]
		}
	}
	return item[:lt+1] + inner + item[gt:]
}
