package mailgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// ErrNoHeader is returned by ParseHeader for input without any header
// field.
var ErrNoHeader = errors.New("mailgen: no header fields")

// ParseHeader reads the fields of Header from raw, a full message or just
// its header block (as an IMAP BODY[HEADER.FIELDS (...)] returns it), with
// go-message's textproto: field names match case-insensitively, folded
// lines are unfolded, CRLF and LF line endings are accepted, a leading mbox
// "From " line is skipped. Missing fields are left empty.
//
// To holds the addr-specs of the To field, parsed with net/mail (so a
// comma inside a quoted display name does not split an address); a To
// value net/mail cannot parse is kept whole as the only element.
func ParseHeader(raw []byte) (Header, error) {
	hdr, err := readHeader(raw)
	if err != nil {
		return Header{}, err
	}
	if hdr.Len() == 0 {
		return Header{}, ErrNoHeader
	}
	return Header{
		ID:         hdr.Get("Message-Id"),
		From:       hdr.Get("From"),
		Subject:    hdr.Get("Subject"),
		InReplyTo:  hdr.Get("In-Reply-To"),
		References: strings.Join(strings.Fields(hdr.Get("References")), " "),
		Date:       hdr.Get("Date"),
		To:         addrSpecs(hdr.Get("To")),
	}, nil
}

// MessageID returns the Message-ID of raw, a full message or its header
// block, angle brackets kept, or "" when it has none. It is lenient: the
// fields before a malformed line still count, so a message that is broken
// further down keeps its identity.
//
// It gives ParseHeader's answer (go-message's textproto: the first
// Message-ID field, its name matched case-insensitively, folded lines
// unfolded, CRLF or LF) without building the header: it scans raw in place
// and allocates only the returned string, since every fetched header block
// goes through it (FuzzMessageID holds it to textproto's answer).
func MessageID(raw []byte) string {
	first, rest, ok := messageIDField(raw)
	if !ok {
		return ""
	}
	return unfoldValue(first, rest)
}

// AppendMessageID appends to dst what MessageID returns for raw, and
// returns the extended buffer: a caller that looks the value up by its
// bytes (view.Interner.HandleBytes) needs no string of it.
func AppendMessageID(dst, raw []byte) []byte {
	first, rest, ok := messageIDField(raw)
	if !ok {
		return dst
	}
	first = trimWSP(first)
	dst = append(dst, first...)
	n := len(first) // what unfoldValue's builder holds
	for r := rest; len(r) > 0; {
		var l []byte
		l, r = cutLine(r)
		if l = trimWSP(l); len(l) > 0 {
			if n > 0 {
				dst = append(dst, ' ')
				n++
			}
			dst = append(dst, l...)
			n += len(l)
		}
	}
	return dst
}

// messageIDField finds the first Message-ID field of the header block at
// the start of raw as textproto.ReadHeader reads it: first is the value's
// part on the field's first line (after the colon), rest the continuation
// lines that follow it, still with their line ends. ok is false when the
// header ends, or turns malformed (a line without a colon, a field name
// with a byte outside 33–126, a first line starting with white space),
// before such a field.
func messageIDField(raw []byte) (first, rest []byte, ok bool) {
	if bytes.HasPrefix(raw, []byte("From ")) {
		// An mbox separator line, not a field.
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	if len(raw) > 0 && isWSP(raw[0]) {
		return nil, nil, false
	}
	for len(raw) > 0 {
		line, next := cutLine(raw)
		if len(line) == 0 {
			return nil, nil, false // the blank line ending the header
		}
		// The field's continuation lines: every following line that starts
		// with white space.
		end := next
		for len(end) > 0 && isWSP(end[0]) {
			_, end = cutLine(end)
		}
		// A field name must end on the first line: one continued onto the
		// next would hold its CR or LF, which textproto rejects.
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return nil, nil, false
		}
		key := trimWSP(line[:colon])
		for _, c := range key {
			if c < 33 || c > 126 {
				return nil, nil, false
			}
		}
		if isMessageIDKey(key) {
			return line[colon+1:], next[:len(next)-len(end)], true
		}
		raw = end
	}
	return nil, nil, false
}

// cutLine splits raw after its first line as bufio.Reader.ReadLine reads
// it: line without its "\n" or "\r\n", or all of raw when it has no "\n".
func cutLine(raw []byte) (line, rest []byte) {
	i := bytes.IndexByte(raw, '\n')
	if i < 0 {
		return raw, nil
	}
	line = raw[:i]
	if i > 0 && line[i-1] == '\r' {
		line = line[:i-1]
	}
	return line, raw[i+1:]
}

// unfoldValue joins a field's value as textproto does: every line (first,
// then each line of rest) trimmed of spaces and tabs, the empty ones left
// out, the others joined by one space. It allocates only the result.
func unfoldValue(first, rest []byte) string {
	first = trimWSP(first)
	if len(rest) == 0 {
		return string(first)
	}
	n := len(first)
	for r := rest; len(r) > 0; {
		var l []byte
		l, r = cutLine(r)
		n += len(trimWSP(l)) + 1
	}
	var b strings.Builder
	b.Grow(n)
	b.Write(first)
	for r := rest; len(r) > 0; {
		var l []byte
		l, r = cutLine(r)
		if l = trimWSP(l); len(l) > 0 {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.Write(l)
		}
	}
	return b.String()
}

// isMessageIDKey reports whether key is "Message-ID" in any case (ASCII
// only: textproto canonicalizes names made of token bytes, and no other
// name can equal "Message-Id").
func isMessageIDKey(key []byte) bool {
	const want = "message-id"
	if len(key) != len(want) {
		return false
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// isWSP reports whether c is a space or a tab, the white space that folds
// a header line and that textproto trims.
func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// trimWSP returns b without leading and trailing spaces and tabs.
func trimWSP(b []byte) []byte {
	for len(b) > 0 && isWSP(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWSP(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// readBuffer is the read buffer of readHeader: header lines are short, and a
// longer one is still read whole (textproto joins the pieces), so a small
// buffer saves allocating bufio's default 4 KiB for every message parsed.
const readBuffer = 512

// readHeader parses the header block at the start of raw. The header read
// up to a malformed line is returned with the error; reaching the end of
// raw without a blank line is not an error.
func readHeader(raw []byte) (textproto.Header, error) {
	if bytes.HasPrefix(raw, []byte("From ")) {
		// An mbox separator line, not a field.
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	hdr, err := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(raw), readBuffer))
	if err != nil && !errors.Is(err, io.EOF) {
		return hdr, fmt.Errorf("mailgen: header: %w", err)
	}
	return hdr, nil
}

// addrSpecs returns the addr-specs of an address-list field value, in
// order; a value net/mail cannot parse is returned whole (trimmed), an
// empty one as nil.
func addrSpecs(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return []string{v}
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}
