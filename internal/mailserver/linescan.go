package mailserver

import "bytes"

// lineScanner splits one direction of a protocol stream into lines for the
// command meters. It keeps only the first headMax bytes of each line and
// its last few bytes, so it uses constant memory whatever the input. With
// literals set it recognises an IMAP literal announced at the end of a line
// ("{12}", "{12+}", "~{12}") and skips that many bytes; the rest of the
// line after a literal is reported as a continuation.
type lineScanner struct {
	literals bool

	head    []byte
	tail    [24]byte
	tailLen int
	skip    int64
	cont    bool // the current line continues one that announced a literal
}

const headMax = 96

// feed scans p, calling onLine for every complete line with its first bytes
// (without CRLF) and whether it continues an earlier line.
func (ls *lineScanner) feed(p []byte, onLine func(head []byte, cont bool)) {
	for len(p) > 0 {
		if ls.skip > 0 {
			n := int64(len(p))
			if n > ls.skip {
				n = ls.skip
			}
			ls.skip -= n
			p = p[n:]
			continue
		}
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		ls.add(seg)
		if i < 0 {
			return
		}
		p = p[i+1:]
		head := bytes.TrimSuffix(ls.head, []byte("\r"))
		cont := ls.cont
		var lit int64 = -1
		if ls.literals {
			lit = ls.literalSize()
		}
		onLine(head, cont)
		ls.head = ls.head[:0]
		ls.tailLen = 0
		ls.cont = lit >= 0
		if lit > 0 {
			ls.skip = lit
		}
	}
}

// reset forgets any literal being skipped and the partial line.
func (ls *lineScanner) reset() {
	ls.head, ls.tailLen, ls.skip, ls.cont = ls.head[:0], 0, 0, false
}

func (ls *lineScanner) add(seg []byte) {
	if room := headMax - len(ls.head); room > 0 {
		if len(seg) < room {
			room = len(seg)
		}
		ls.head = append(ls.head, seg[:room]...)
	}
	if len(seg) >= len(ls.tail) {
		ls.tailLen = copy(ls.tail[:], seg[len(seg)-len(ls.tail):])
		return
	}
	keep := len(ls.tail) - len(seg)
	if ls.tailLen > keep {
		copy(ls.tail[:], ls.tail[ls.tailLen-keep:ls.tailLen])
		ls.tailLen = keep
	}
	ls.tailLen += copy(ls.tail[ls.tailLen:], seg)
}

// literalSize returns the size of a literal announced at the end of the
// current line, or -1.
func (ls *lineScanner) literalSize() int64 {
	t := bytes.TrimSuffix(ls.tail[:ls.tailLen], []byte("\r"))
	if len(t) < 3 || t[len(t)-1] != '}' {
		return -1
	}
	t = bytes.TrimSuffix(t[:len(t)-1], []byte("+"))
	open := bytes.LastIndexByte(t, '{')
	if open < 0 || open == len(t)-1 {
		return -1
	}
	var n int64
	for _, c := range t[open+1:] {
		if c < '0' || c > '9' || n > 1<<40 {
			return -1
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// fields splits a line head into at most n space-separated fields.
func fields(head []byte, n int) [][]byte {
	out := make([][]byte, 0, n)
	for len(out) < n-1 {
		i := bytes.IndexByte(head, ' ')
		if i < 0 {
			break
		}
		out = append(out, head[:i])
		head = head[i+1:]
	}
	return append(out, head)
}
