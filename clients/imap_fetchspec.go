package clients

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// parseFetchItems parses a profile's fetch item list (fetch_new, fetch_open),
// written as in an IMAP FETCH command with or without the outer parentheses:
//
//	UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)]
//
// Supported items are those of RFC 3501 and RFC 9051 plus CONDSTORE's:
// UID, FLAGS, INTERNALDATE, RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, the
// macros ALL, FAST and FULL, BODY[...] / BODY.PEEK[...] with a section
// (empty, HEADER, TEXT, MIME, HEADER.FIELDS (..), HEADER.FIELDS.NOT (..),
// part numbers like 1.2) and an optional <offset.size> partial, RFC822,
// RFC822.HEADER and RFC822.TEXT (sent as their RFC 3501 equivalents
// BODY[], BODY.PEEK[HEADER] and BODY[TEXT]: the client library has no
// atoms for them), BINARY[part] / BINARY.PEEK[part] with a partial,
// BINARY.SIZE[part] (RFC 3516, IMAP4rev2) and MODSEQ (RFC 7162 CONDSTORE).
// Items that need a server capability are adapted per connection by
// adaptFetch. Matching is case-insensitive. Unknown items (X-GM-* and other
// vendor items among them) are an error.
func parseFetchItems(s string) (*imap.FetchOptions, error) {
	toks, err := splitFetchItems(s)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("fetch items %q: empty", s)
	}
	o := new(imap.FetchOptions)
	for _, tok := range toks {
		if err := addFetchItem(o, tok); err != nil {
			return nil, fmt.Errorf("fetch items %q: %w", s, err)
		}
	}
	return o, nil
}

// splitFetchItems splits the item list at spaces outside brackets and
// parentheses, dropping one pair of outer parentheses.
func splitFetchItems(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	var toks []string
	depth, start := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '[', '(', '<':
			depth++
		case ']', ')', '>':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("fetch items %q: unbalanced %q at %d", s, c, i)
			}
		case ' ', '\t':
			if depth == 0 {
				if start >= 0 {
					toks = append(toks, s[start:i])
					start = -1
				}
				continue
			}
		}
		if start < 0 {
			start = i
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("fetch items %q: unbalanced brackets", s)
	}
	if start >= 0 {
		toks = append(toks, s[start:])
	}
	return toks, nil
}

func addFetchItem(o *imap.FetchOptions, tok string) error {
	up := strings.ToUpper(tok)
	switch up {
	case "UID":
		o.UID = true
	case "FLAGS":
		o.Flags = true
	case "INTERNALDATE":
		o.InternalDate = true
	case "RFC822.SIZE":
		o.RFC822Size = true
	case "ENVELOPE":
		o.Envelope = true
	case "BODYSTRUCTURE":
		o.BodyStructure = &imap.FetchItemBodyStructure{Extended: true}
	case "BODY":
		o.BodyStructure = &imap.FetchItemBodyStructure{}
	case "FAST":
		o.Flags, o.InternalDate, o.RFC822Size = true, true, true
	case "ALL":
		o.Flags, o.InternalDate, o.RFC822Size, o.Envelope = true, true, true, true
	case "FULL":
		o.Flags, o.InternalDate, o.RFC822Size, o.Envelope = true, true, true, true
		o.BodyStructure = &imap.FetchItemBodyStructure{}
	case "MODSEQ":
		o.ModSeq = true
	case "RFC822":
		o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{})
	case "RFC822.HEADER":
		o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true})
	case "RFC822.TEXT":
		o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText})
	default:
		var rest string
		peek := false
		switch {
		case strings.HasPrefix(up, "BODY.PEEK["):
			peek, rest = true, tok[len("BODY.PEEK"):]
		case strings.HasPrefix(up, "BODY["):
			rest = tok[len("BODY"):]
		case strings.HasPrefix(up, "BINARY.SIZE["):
			part, partial, err := parseBinarySection(tok[len("BINARY.SIZE"):])
			if err != nil {
				return fmt.Errorf("item %q: %w", tok, err)
			}
			if partial != nil {
				return fmt.Errorf("item %q: BINARY.SIZE takes no partial", tok)
			}
			o.BinarySectionSize = append(o.BinarySectionSize, &imap.FetchItemBinarySectionSize{Part: part})
			return nil
		case strings.HasPrefix(up, "BINARY.PEEK["), strings.HasPrefix(up, "BINARY["):
			peek = strings.HasPrefix(up, "BINARY.PEEK[")
			part, partial, err := parseBinarySection(tok[strings.IndexByte(tok, '['):])
			if err != nil {
				return fmt.Errorf("item %q: %w", tok, err)
			}
			o.BinarySection = append(o.BinarySection, &imap.FetchItemBinarySection{Part: part, Partial: partial, Peek: peek})
			return nil
		default:
			return fmt.Errorf("unknown item %q", tok)
		}
		sec, err := parseSection(rest)
		if err != nil {
			return fmt.Errorf("item %q: %w", tok, err)
		}
		sec.Peek = peek
		o.BodySection = append(o.BodySection, sec)
	}
	return nil
}

// parseSection parses "[section]<offset.size>".
func parseSection(s string) (*imap.FetchItemBodySection, error) {
	spec, partial, err := cutSection(s)
	if err != nil {
		return nil, err
	}
	sec := &imap.FetchItemBodySection{Partial: partial}
	// Part numbers: "1.2.HEADER" or "1.2".
	sec.Part, spec, err = parsePart(spec)
	if err != nil {
		return nil, err
	}
	name, list, hasList := strings.Cut(spec, " ")
	switch strings.ToUpper(name) {
	case "":
	case "HEADER":
		sec.Specifier = imap.PartSpecifierHeader
	case "TEXT":
		sec.Specifier = imap.PartSpecifierText
	case "MIME":
		if len(sec.Part) == 0 {
			return nil, fmt.Errorf("MIME needs a part number")
		}
		sec.Specifier = imap.PartSpecifierMIME
	case "HEADER.FIELDS", "HEADER.FIELDS.NOT":
		fields, err := parseFieldList(list)
		if err != nil {
			return nil, err
		}
		sec.Specifier = imap.PartSpecifierHeader
		if strings.EqualFold(name, "HEADER.FIELDS") {
			sec.HeaderFields = fields
		} else {
			sec.HeaderFieldsNot = fields
		}
		return sec, nil
	default:
		return nil, fmt.Errorf("unknown section %q", name)
	}
	if hasList {
		return nil, fmt.Errorf("unexpected %q after section %q", list, name)
	}
	return sec, nil
}

// cutSection splits "[spec]<offset.size>" into spec and the partial.
func cutSection(s string) (string, *imap.SectionPartial, error) {
	end := strings.IndexByte(s, ']')
	if !strings.HasPrefix(s, "[") || end < 0 {
		return "", nil, fmt.Errorf("bad section %q", s)
	}
	spec, partial := s[1:end], s[end+1:]
	if partial == "" {
		return spec, nil, nil
	}
	if !strings.HasPrefix(partial, "<") || !strings.HasSuffix(partial, ">") {
		return "", nil, fmt.Errorf("bad partial %q", partial)
	}
	off, size, ok := strings.Cut(partial[1:len(partial)-1], ".")
	o, err1 := strconv.ParseInt(off, 10, 64)
	n, err2 := strconv.ParseInt(size, 10, 64)
	if !ok || err1 != nil || err2 != nil || o < 0 || n <= 0 {
		return "", nil, fmt.Errorf("bad partial %q", partial)
	}
	return spec, &imap.SectionPartial{Offset: o, Size: n}, nil
}

// parsePart parses the leading part numbers of a section spec ("1.2.MIME",
// "1.2") and returns them and the rest of the spec.
func parsePart(spec string) ([]int, string, error) {
	var part []int
	for spec != "" && spec[0] >= '0' && spec[0] <= '9' {
		num, rest, _ := strings.Cut(spec, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n <= 0 {
			return nil, "", fmt.Errorf("bad part number %q", num)
		}
		part = append(part, n)
		spec = rest
	}
	return part, spec, nil
}

// parseBinarySection parses the "[part]<offset.size>" of a BINARY item: a
// section-binary has part numbers only (RFC 3516).
func parseBinarySection(s string) ([]int, *imap.SectionPartial, error) {
	spec, partial, err := cutSection(s)
	if err != nil {
		return nil, nil, err
	}
	part, rest, err := parsePart(spec)
	if err != nil {
		return nil, nil, err
	}
	if rest != "" {
		return nil, nil, fmt.Errorf("binary section %q: want part numbers only", spec)
	}
	return part, partial, nil
}

func parseFieldList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "(") || !strings.HasSuffix(s, ")") {
		return nil, fmt.Errorf("header field list %q: want (field ...)", s)
	}
	fields := strings.Fields(s[1 : len(s)-1])
	if len(fields) == 0 {
		return nil, fmt.Errorf("header field list %q is empty", s)
	}
	return fields, nil
}

// ensureMessageID makes sure a fetch of new mail returns the Message-ID
// header, which identifies a message in the view: if no item returns it
// (ENVELOPE, BODY[], BODY[HEADER], or HEADER.FIELDS listing Message-ID), the
// field is added to the first HEADER.FIELDS section, or a
// BODY.PEEK[HEADER.FIELDS (Message-ID)] item is added. The profile's list is
// otherwise sent as written.
func ensureMessageID(o *imap.FetchOptions) {
	if o.Envelope {
		return
	}
	var fields *imap.FetchItemBodySection
	for _, sec := range o.BodySection {
		if len(sec.Part) != 0 || sec.Partial != nil {
			continue
		}
		switch {
		case sec.Specifier == imap.PartSpecifierNone:
			return
		case sec.Specifier == imap.PartSpecifierHeader && len(sec.HeaderFields) == 0 && !hasField(sec.HeaderFieldsNot, "Message-ID"):
			return
		case len(sec.HeaderFields) > 0:
			if hasField(sec.HeaderFields, "Message-ID") {
				return
			}
			if fields == nil {
				fields = sec
			}
		}
	}
	if fields != nil {
		fields.HeaderFields = append(fields.HeaderFields, "Message-ID")
		return
	}
	o.BodySection = append(o.BodySection, &imap.FetchItemBodySection{
		Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true,
	})
}

func hasField(fields []string, name string) bool {
	for _, f := range fields {
		if strings.EqualFold(f, name) {
			return true
		}
	}
	return false
}

// adaptFetch returns the fetch items o as this session's server can take
// them, the way a client checks CAPABILITY before it asks:
//   - MODSEQ is sent only when the server advertises CONDSTORE (or QRESYNC,
//     which implies it); without it the item is dropped silently, as Apple
//     Mail and Thunderbird do, since a server answers an unknown item BAD;
//   - BINARY[...] is sent only with BINARY or IMAP4rev2; without, it becomes
//     the BODY[...] of the same part (the client decodes itself), and
//     BINARY.SIZE[...] is dropped (RFC822.SIZE is what such a client shows).
//
// The result for a given o is computed once per session; o itself is never
// changed. Without a downgrade o is returned as is.
func (s *imapSession) adaptFetch(o *imap.FetchOptions) *imap.FetchOptions {
	dropModSeq := o.ModSeq && !s.caps.Has(imap.CapCondStore)
	binary := len(o.BinarySection)+len(o.BinarySectionSize) > 0 &&
		!s.caps.Has(imap.CapBinary) && !s.caps.Has(imap.CapIMAP4rev2)
	if !dropModSeq && !binary {
		return o
	}
	if a := s.adapted[o]; a != nil {
		return a
	}
	a := *o
	if dropModSeq {
		a.ModSeq = false
	}
	if binary {
		a.BodySection = append([]*imap.FetchItemBodySection(nil), o.BodySection...)
		for _, b := range o.BinarySection {
			a.BodySection = append(a.BodySection, &imap.FetchItemBodySection{Part: b.Part, Partial: b.Partial, Peek: b.Peek})
		}
		a.BinarySection, a.BinarySectionSize = nil, nil
	}
	if s.adapted == nil {
		s.adapted = make(map[*imap.FetchOptions]*imap.FetchOptions, 2)
	}
	s.adapted[o] = &a
	return &a
}
