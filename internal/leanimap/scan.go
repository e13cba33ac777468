package leanimap

import (
	"errors"
	"fmt"
)

// ErrProtocol is wrapped by the error of a response that is not IMAP: a
// bad token, a tag that was never sent, an unknown status.
var ErrProtocol = errors.New("imap protocol error")

// maxDepth bounds the nesting of parenthesized lists a response may have
// (BODYSTRUCTURE of a deeply nested message stays well below it).
const maxDepth = 32

// scanner reads the tokens of one response, held whole in b as it came on
// the wire: lines with their CRLF, each literal's bytes after its {N}CRLF.
// Errors are sticky: after the first, every method returns zero values.
// Returned slices alias b.
type scanner struct {
	b     []byte
	i     int
	err   error
	depth int
}

func (s *scanner) reset(b []byte) { *s = scanner{b: b} }

// fail records the first error.
func (s *scanner) fail(what string) {
	if s.err == nil {
		s.err = fmt.Errorf("%w: %s at byte %d", ErrProtocol, what, s.i)
	}
}

// peek returns the next byte, 0 at the end or after an error.
func (s *scanner) peek() byte {
	if s.err != nil || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// accept consumes c when it is next.
func (s *scanner) accept(c byte) bool {
	if s.peek() == c && s.err == nil && s.i < len(s.b) {
		s.i++
		return true
	}
	return false
}

// expect consumes c or fails.
func (s *scanner) expect(c byte) bool {
	if s.accept(c) {
		return true
	}
	s.fail("expected " + string(rune(c)))
	return false
}

// sp consumes one space or fails.
func (s *scanner) sp() bool { return s.expect(' ') }

// atEOL reports whether the line ends here (CRLF, LF or the end).
func (s *scanner) atEOL() bool {
	c := s.peek()
	return s.err != nil || s.i >= len(s.b) || c == '\r' || c == '\n'
}

// isAtomChar reports whether c may be part of an atom: '[' ends one so
// that "BODY[" splits, ']' only in an astring (it ends a response code);
// '\\', '%' and '*' are kept for flags (\Seen, \*) and list wildcards.
func isAtomChar(c byte, astring bool) bool {
	switch c {
	case '(', ')', '{', ' ', '"', '[':
		return false
	case ']':
		return astring
	}
	return c > 0x20 && c < 0x7f
}

// atom returns the next atom (at least one byte) or fails.
func (s *scanner) atom() []byte { return s.word(false) }

func (s *scanner) word(astring bool) []byte {
	if s.err != nil {
		return nil
	}
	j := s.i
	for j < len(s.b) && isAtomChar(s.b[j], astring) {
		j++
	}
	if j == s.i {
		s.fail("expected an atom")
		return nil
	}
	w := s.b[s.i:j]
	s.i = j
	return w
}

// number returns the next unsigned number (at most 2^63-1).
func (s *scanner) number() uint64 {
	if s.err != nil {
		return 0
	}
	j, n := s.i, uint64(0)
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		if n > (1<<63-1)/10 {
			s.fail("number too large")
			return 0
		}
		n = n*10 + uint64(s.b[j]-'0')
		j++
	}
	if j == s.i {
		s.fail("expected a number")
		return 0
	}
	s.i = j
	return n
}

// number32 returns the next number that fits 32 bits.
func (s *scanner) number32() uint32 {
	n := s.number()
	if n > 1<<32-1 {
		s.fail("number over 32 bits")
		return 0
	}
	return uint32(n)
}

// nstring returns a quoted string, a literal or NIL (isNil).
func (s *scanner) nstring() (b []byte, isNil bool) {
	switch s.peek() {
	case '"':
		return s.quoted(), false
	case '{', '~':
		return s.literal(), false
	}
	w := s.atom()
	if s.err == nil && !equalFold(w, "NIL") {
		s.fail("expected a string or NIL")
	}
	return nil, true
}

// astring returns an atom (']' allowed), a quoted string or a literal.
func (s *scanner) astring() []byte {
	switch s.peek() {
	case '"':
		return s.quoted()
	case '{', '~':
		return s.literal()
	}
	return s.word(true)
}

// quoted returns the contents of a quoted string, unescaped in place.
func (s *scanner) quoted() []byte {
	if !s.expect('"') {
		return nil
	}
	start, w := s.i, s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch c {
		case '"':
			s.i++
			return s.b[start:w]
		case '\\':
			if s.i+1 >= len(s.b) {
				s.fail("unterminated quoted string")
				return nil
			}
			s.i++
			c = s.b[s.i]
		case '\r', '\n':
			s.fail("line end in a quoted string")
			return nil
		}
		s.b[w] = c
		w++
		s.i++
	}
	s.fail("unterminated quoted string")
	return nil
}

// literal returns the bytes of {N}CRLF<N bytes> (or ~{N}, {N+}).
func (s *scanner) literal() []byte {
	s.accept('~')
	if !s.expect('{') {
		return nil
	}
	n := s.number()
	s.accept('+')
	if !s.expect('}') {
		return nil
	}
	s.accept('\r')
	if !s.expect('\n') {
		return nil
	}
	if n > uint64(len(s.b)-s.i) {
		s.fail("literal longer than the response")
		return nil
	}
	b := s.b[s.i : s.i+int(n)]
	s.i += int(n)
	return b
}

// list calls item for each element of a parenthesized list, positioned on
// the element; item must consume it. NIL is taken as an empty list.
// Elements are separated by a space, except that a parenthesized element
// may follow another without one: RFC 3501's multipart BODYSTRUCTURE
// (body-type-mpart = 1*body SP media-subtype) and its address lists
// ("(" 1*address ")") are written that way by Courier, Dovecot and
// go-imap's server alike.
func (s *scanner) list(item func()) {
	if s.peek() != '(' {
		if w := s.atom(); s.err == nil && !equalFold(w, "NIL") {
			s.fail("expected a list")
		}
		return
	}
	s.i++
	if s.depth++; s.depth > maxDepth {
		s.fail("lists nested too deep")
		return
	}
	defer func() { s.depth-- }()
	for first := true; s.err == nil; first = false {
		if s.accept(')') {
			return
		}
		if !first && !(s.b[s.i-1] == ')' && s.peek() == '(') && !s.sp() {
			return
		}
		if s.i >= len(s.b) {
			s.fail("unterminated list")
			return
		}
		at := s.i
		item()
		if s.i == at && s.err == nil {
			s.fail("empty list element")
		}
	}
}

// skip consumes one value of any kind: a list, a string, NIL, a number or
// an atom with an optional [section]<partial> (as in BODY[]).
func (s *scanner) skip() {
	switch s.peek() {
	case '(':
		s.list(s.skip)
	case '"':
		s.quoted()
	case '{', '~':
		s.literal()
	default:
		s.word(false)
		if s.peek() == '[' {
			s.section()
			s.partial()
		}
	}
}

// section returns the text between '[' and ']' (parentheses inside, as
// in HEADER.FIELDS (MESSAGE-ID), are kept).
func (s *scanner) section() []byte {
	if !s.expect('[') {
		return nil
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ']':
			sec := s.b[start:s.i]
			s.i++
			return sec
		case '\r', '\n':
			s.fail("unterminated section")
			return nil
		}
		s.i++
	}
	s.fail("unterminated section")
	return nil
}

// partial consumes an optional <origin> and returns it (-1 if absent).
func (s *scanner) partial() int64 {
	if !s.accept('<') {
		return -1
	}
	n := s.number()
	s.expect('>')
	return int64(n)
}

// text returns the rest of the line.
func (s *scanner) text() []byte {
	if s.err != nil {
		return nil
	}
	start := s.i
	for s.i < len(s.b) && s.b[s.i] != '\r' && s.b[s.i] != '\n' {
		s.i++
	}
	return s.b[start:s.i]
}

// equalFold compares ASCII case-insensitively without allocating.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'a' <= x && x <= 'z' {
			x -= 'a' - 'A'
		}
		if 'a' <= y && y <= 'z' {
			y -= 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
