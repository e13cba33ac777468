package mailgen

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// ErrNoHeader is returned by ParseHeader for input without any header
// field.
var ErrNoHeader = errors.New("mailgen: no header fields")

// ParseHeader reads the fields of Header from raw, a full message or just
// its header block (as an IMAP BODY[HEADER.FIELDS (...)] returns it). Field
// names match case-insensitively, folded lines are unfolded, CRLF and LF
// line endings are accepted. Missing fields are left empty.
func ParseHeader(raw []byte) (Header, error) {
	var h Header
	found := false
	var name, value string
	flush := func() {
		if name == "" {
			return
		}
		v := strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "message-id":
			h.ID = v
		case "from":
			h.From = v
		case "subject":
			h.Subject = v
		case "in-reply-to":
			h.InReplyTo = v
		case "references":
			h.References = strings.Join(strings.Fields(v), " ")
		case "date":
			h.Date = v
		case "to":
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					h.To = append(h.To, a)
				}
			}
		}
		name, value = "", ""
	}
	rest := raw
	for lineNo := 1; len(rest) > 0; lineNo++ {
		var line []byte
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // end of the header block
		}
		if line[0] == ' ' || line[0] == '\t' {
			if name == "" {
				return Header{}, fmt.Errorf("mailgen: line %d: continuation without a field", lineNo)
			}
			value += " " + strings.TrimSpace(string(line))
			continue
		}
		flush()
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			if lineNo == 1 && bytes.HasPrefix(line, []byte("From ")) {
				continue // mbox separator
			}
			return Header{}, fmt.Errorf("mailgen: line %d: not a header field: %.40q", lineNo, line)
		}
		name, value = string(bytes.TrimSpace(line[:i])), string(line[i+1:])
		found = true
	}
	flush()
	if !found {
		return Header{}, ErrNoHeader
	}
	return h, nil
}
