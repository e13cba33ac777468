// Package mailgen writes realistic RFC 5322 messages for mailsim: headers a
// mail client would write, a text body of plausible words, optionally a
// base64 attachment, all deterministic from a random source. It also parses
// the header fields mailsim needs back out of a message.
package mailgen

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultDomain is the Message-ID domain when Generator.Domain is empty.
const DefaultDomain = "example.com"

// MaxLineLength is the longest line (without CRLF) the generator writes.
const MaxLineLength = 78

// Header holds the header fields mailsim tracks. ID, InReplyTo and
// References keep their angle brackets.
type Header struct {
	ID, From, Subject, InReplyTo, References, Date string
	To                                             []string
}

// Message is a generated message: its header fields and the full raw
// message with CRLF line endings.
type Message struct {
	Header
	Raw []byte
}

// Generator writes messages. The zero value is ready to use.
type Generator struct {
	// Domain is the right-hand side of generated Message-IDs. Default
	// DefaultDomain.
	Domain string
}

func (g Generator) domain() string {
	if g.Domain == "" {
		return DefaultDomain
	}
	return g.Domain
}

// NewID returns a fresh Message-ID "<16hex.16hex@Domain>" with 128 random
// bits from rng.
func (g Generator) NewID(rng *rand.Rand) string {
	d := g.domain()
	var sb strings.Builder
	sb.Grow(len("<.@>") + 32 + len(d))
	var hex [16]byte
	sb.WriteByte('<')
	sb.Write(appendHex16(hex[:0], rng.Uint64()))
	sb.WriteByte('.')
	sb.Write(appendHex16(hex[:0], rng.Uint64()))
	sb.WriteByte('@')
	sb.WriteString(d)
	sb.WriteByte('>')
	return sb.String()
}

// New writes a new message from from to to of about size bytes (within
// ±10% once size exceeds the headers by a few hundred bytes), with a base64
// attachment when attachment is set, dated date.
func (g Generator) New(rng *rand.Rand, from string, to []string, size int64, attachment bool, date time.Time) Message {
	h := Header{
		ID:      g.NewID(rng),
		From:    from,
		To:      append([]string(nil), to...),
		Subject: subject(rng),
		Date:    formatDate(date),
	}
	return build(rng, h, size, attachment, "")
}

// Reply writes from's reply to orig: addressed to orig.From, subject
// "Re: ...", with In-Reply-To and References, quoting a line of the
// original.
func (g Generator) Reply(rng *rand.Rand, from string, orig Header, size int64, date time.Time) Message {
	h := Header{
		ID:         g.NewID(rng),
		From:       from,
		To:         []string{orig.From},
		Subject:    prefixed("Re: ", orig.Subject),
		InReplyTo:  orig.ID,
		References: joinRefs(orig.References, orig.ID),
		Date:       formatDate(date),
	}
	lead := fmt.Sprintf("On %s, %s wrote:\r\n> %s\r\n\r\n", orig.Date, orig.From, sentence(rng, 8))
	return build(rng, h, size, false, lead)
}

// Forward writes from's forward of orig to to: subject "Fwd: ...",
// References naming the original, the original's headers quoted inline.
func (g Generator) Forward(rng *rand.Rand, from string, to []string, orig Header, size int64, date time.Time) Message {
	h := Header{
		ID:         g.NewID(rng),
		From:       from,
		To:         append([]string(nil), to...),
		Subject:    prefixed("Fwd: ", orig.Subject),
		References: joinRefs(orig.References, orig.ID),
		Date:       formatDate(date),
	}
	lead := "-------- Forwarded Message --------\r\n" +
		clip("Subject: "+orig.Subject) + "\r\n" +
		clip("Date: "+orig.Date) + "\r\n" +
		clip("From: "+orig.From) + "\r\n\r\n"
	return build(rng, h, size, false, lead)
}

func clip(s string) string {
	if len(s) > MaxLineLength {
		return s[:MaxLineLength]
	}
	return s
}

func prefixed(p, subj string) string {
	if len(subj) >= len(p) && strings.EqualFold(subj[:len(p)], p) {
		return subj
	}
	return p + subj
}

func joinRefs(refs, id string) string {
	refs = strings.TrimSpace(refs)
	if id == "" {
		return refs
	}
	if refs == "" {
		return id
	}
	return refs + " " + id
}

// build writes the message: header, then a text body (with lead first) and
// an optional attachment, padded to about size bytes. Everything is
// appended to one buffer sized for the message (one allocation for the
// raw message in the common case).
func build(rng *rand.Rand, h Header, size int64, attachment bool, lead string) Message {
	b := make([]byte, 0, int(max(size, 512))+256)
	b = appendField(b, "Message-ID", h.ID)
	b = appendField(b, "Date", h.Date)
	b = appendField(b, "From", h.From)
	b = appendAddrs(b, "To", h.To)
	b = appendField(b, "Subject", h.Subject)
	if h.InReplyTo != "" {
		b = appendField(b, "In-Reply-To", h.InReplyTo)
	}
	if h.References != "" {
		b = appendField(b, "References", h.References)
	}
	b = appendField(b, "User-Agent", userAgents[rng.IntN(len(userAgents))])
	b = appendField(b, "MIME-Version", "1.0")

	if !attachment {
		b = appendField(b, "Content-Type", "text/plain; charset=utf-8")
		b = appendField(b, "Content-Transfer-Encoding", "7bit")
		b = append(b, "\r\n"...)
		b = append(b, lead...)
		b = appendText(rng, b, size-int64(len(b)))
		return Message{Header: h, Raw: b}
	}
	var bnd [18]byte // "=_" and 16 hex digits
	boundary := appendHex16(append(bnd[:0], "=_"...), rng.Uint64())
	b = append(b, `Content-Type: multipart/mixed; boundary="`...)
	b = append(b, boundary...)
	b = append(b, "\"\r\n"...)
	b = append(b, "\r\nThis is a multi-part message in MIME format.\r\n\r\n"...)
	b = append(append(append(b, "--"...), boundary...), "\r\n"...)
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"...)
	b = append(b, lead...)
	// A short note, the rest is the attachment.
	note := min(max((size-int64(len(b)))/5, 200), 2000)
	b = appendText(rng, b, note)
	name := attachmentNames[rng.IntN(len(attachmentNames))]
	b = append(append(append(b, "\r\n--"...), boundary...), "\r\n"...)
	b = append(append(append(append(append(b, "Content-Type: "...), name.typ...), "; name=\""...), name.file...), "\"\r\n"...)
	b = append(append(append(b, "Content-Disposition: attachment; filename=\""...), name.file...), "\"\r\n"...)
	b = append(b, "Content-Transfer-Encoding: base64\r\n\r\n"...)
	b = appendBase64(rng, b, size-int64(len(b))-int64(len(boundary))-8)
	b = append(append(append(b, "--"...), boundary...), "--\r\n"...)
	return Message{Header: h, Raw: b}
}

// appendHex16 appends v as 16 lower-case hex digits.
func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}

// appendField appends "Name: value" CRLF, folding value at spaces so no
// line exceeds MaxLineLength where that is possible: value's words
// (strings.Fields) one space apart, a word that would pass the limit on a
// new line after a space, unless it is the first.
func appendField(b []byte, name, value string) []byte {
	if len(name)+2+len(value) <= MaxLineLength && plainValue(value) {
		// One line, the words as they are: what the loop below writes
		// for such a value, without splitting it.
		b = append(append(b, name...), ':', ' ')
		return append(append(b, value...), "\r\n"...)
	}
	line := len(b) // where the current line starts
	b = append(append(b, name...), ':')
	first := true
	for w := range strings.FieldsSeq(value) {
		if !first && len(b)-line+1+len(w) > MaxLineLength {
			b = append(b, "\r\n"...)
			line = len(b)
		}
		b = append(append(b, ' '), w...)
		first = false
	}
	return append(b, "\r\n"...)
}

// plainValue reports whether v is words of printable ASCII one space
// apart, which strings.Fields would split and appendField join back
// unchanged: not empty, no space first or last, no two spaces together, no
// other white space or byte outside ASCII.
func plainValue(v string) bool {
	if v == "" || v[0] == ' ' || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == ' ':
			if v[i+1] == ' ' { // v does not end in a space
				return false
			}
		case c < '!' || c > '~':
			return false
		}
	}
	return true
}

// appendAddrs appends an address list, one fold per address when long.
func appendAddrs(b []byte, name string, addrs []string) []byte {
	line := len(b)
	b = append(append(b, name...), ':')
	for i, a := range addrs {
		sep := 0
		if i < len(addrs)-1 {
			sep = 1
		}
		if len(b)-line+1+len(a)+sep > MaxLineLength && i > 0 {
			b = append(b, "\r\n"...)
			line = len(b)
		}
		b = append(append(b, ' '), a...)
		if sep > 0 {
			b = append(b, ',')
		}
	}
	return append(b, "\r\n"...)
}

// appendText appends paragraphs of plausible words, wrapped at 72 columns,
// until about n bytes are written (at least one line). Each paragraph is
// one of the corpus's (corpusText), picked by one draw of rng, and cut
// after the sentence that reaches the size: the paragraphs and the cut of
// the former writer, which drew every word of every message
// (docs/performance.md, "Mail from a corpus (2026-12-04)"), for a draw
// and a copy a paragraph.
func appendText(rng *rand.Rand, b []byte, n int64) []byte {
	c := corpusText()
	start := len(b)
	for first := true; first || int64(len(b)-start) < n-2; first = false {
		p := &c[rng.Uint64()>>(64-corpusBits)]
		// Its sentences, stopping early at the size: the first always.
		end := p.ends[0]
		for s := 1; s < int(p.n) && int64(len(b)-start)+int64(end) < n-2; s++ {
			end = p.ends[s]
		}
		b = append(b, p.text[:end]...)
		b = append(b, "\r\n\r\n"...)
	}
	return b
}

// corpusBits is log2 of the corpus's paragraphs: one draw's top bits pick
// one. 256 paragraphs of about 350 bytes (90 KB, written once per
// process, in well under a millisecond) give every message of a few
// paragraphs its own text.
const corpusBits = 8

// corpusSeed seeds the corpus's source: the corpus is the same in every
// run and every process, so a message depends only on its own source.
const corpusSeed = 0x6d61696c73696d // "mailsim"

// maxParagraph is the most sentences a paragraph has (3 to 8).
const maxParagraph = 8

// paragraph is one paragraph of the corpus: its text (no line break
// after it) and where each of its n sentences ends in it (after the full
// stop).
type paragraph struct {
	text []byte
	ends [maxParagraph]uint16
	n    uint8
}

// corpusText returns the corpus, written on the first call (read-only
// after it).
var corpusText = sync.OnceValue(func() *[1 << corpusBits]paragraph {
	rng := rand.New(rand.NewPCG(corpusSeed, corpusSeed))
	var c [1 << corpusBits]paragraph
	type span struct{ off, n int }
	var spans [len(c)]span
	b := make([]byte, 0, len(c)*400)
	for i := range c {
		off := len(b)
		var n int
		b, n = appendParagraph(rng, b, &c[i].ends)
		c[i].n = uint8(n)
		spans[i] = span{off, len(b) - off}
	}
	for i, s := range spans {
		c[i].text = b[s.off : s.off+s.n : s.off+s.n]
	}
	return &c
})

// appendParagraph appends a paragraph of 3 to 8 sentences (a leading
// "..." in one of 12: people trail off, and a line starting with "." needs
// dot-stuffing), wrapped at textWidth, with no line break after it. It
// records where each sentence ends, relative to the paragraph's start,
// in ends and returns their number.
func appendParagraph(rng *rand.Rand, b []byte, ends *[maxParagraph]uint16) ([]byte, int) {
	start := len(b)
	col := 0
	afterDots := false
	if rng.IntN(12) == 0 {
		b = append(b, "..."...)
		col, afterDots = 3, true
	}
	ns := 3 + rng.IntN(maxParagraph-2)
	for s := range ns {
		b, col = appendSentence(rng, b, 5+rng.IntN(12), col, afterDots)
		afterDots = false
		ends[s] = uint16(len(b) - start)
	}
	return b, ns
}

// textWidth is the column appendText wraps at.
const textWidth = 72

// appendSentence appends a sentence of nw words from column col (right
// after a paragraph's leading "..." when afterDots): each word drawn from
// rng, capitalised first unless it follows the dots, one space apart or
// on a new line when it would pass textWidth, a full stop last. It
// returns the column it ends at. It writes only the corpus (corpusText),
// once per process: a message's text is the corpus's paragraphs.
func appendSentence(rng *rand.Rand, b []byte, nw, col int, afterDots bool) ([]byte, int) {
	for i := 0; i < nw; i++ {
		w := words[rng.IntN(len(words))]
		if afterDots {
			b = append(b, w...)
			col += len(w)
			afterDots = false
			continue
		}
		stop := i == nw-1
		l := len(w)
		if stop {
			l++
		}
		switch {
		case col > 0 && col+1+l > textWidth:
			b = append(b, "\r\n"...)
			col = 0
		case col > 0:
			b = append(b, ' ')
			col++
		}
		if i == 0 {
			b = append(append(b, w[0]-'a'+'A'), w[1:]...)
		} else {
			b = append(b, w...)
		}
		if stop {
			b = append(b, '.')
		}
		col += l
	}
	return b, col
}

// appendBase64 appends about n bytes of base64 lines (76 characters) of
// random content.
func appendBase64(rng *rand.Rand, b []byte, n int64) []byte {
	const perLine = 57 // raw bytes per 76-character line
	var raw [perLine]byte
	for lines := max(n/78, 1); lines > 0; lines-- {
		for i := 0; i < perLine; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < perLine; j++ {
				raw[i+j] = byte(v >> (8 * j))
			}
		}
		b = base64.StdEncoding.AppendEncode(b, raw[:])
		b = append(b, "\r\n"...)
	}
	return b
}

func subject(rng *rand.Rand) string {
	var buf [128]byte
	b := appendWords(buf[:0], rng, 2+rng.IntN(5))
	if rng.IntN(4) == 0 {
		major := 1 + rng.IntN(5)
		b = append(b, " v"...)
		b = strconv.AppendInt(b, int64(major), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(rng.IntN(10)), 10)
	}
	return string(b)
}

// sentence returns n words, capitalised, ending in a full stop.
func sentence(rng *rand.Rand, n int) string {
	var buf [128]byte
	return string(append(appendWords(buf[:0], rng, n), '.'))
}

// appendWords appends n words one space apart, the first capitalised
// (every word is lower-case ASCII: TestWords).
func appendWords(b []byte, rng *rand.Rand, n int) []byte {
	for i := 0; i < n; i++ {
		w := words[rng.IntN(len(words))]
		if i == 0 {
			b = append(append(b, w[0]-'a'+'A'), w[1:]...)
			continue
		}
		b = append(append(b, ' '), w...)
	}
	return b
}

var words = strings.Fields(`the a to of and in for on with at from by is are be will can have please
thanks regards meeting agenda report budget invoice project release build deploy server network
storage backup schedule calendar deadline review approve agree discuss confirm update change fix
test notes numbers figures quarter month week today tomorrow morning afternoon evening office
team client customer owner travel flight hotel booking draft version folder inbox message mailbox
attachment details plan risk issue sync latency throughput remote next last our you we this that
not as up follow answer`)

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0",
	"Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.16.0",
	"Microsoft Outlook 16.0",
	"K-9 Mail for Android",
	"iPhone Mail (21C66)",
	"Roundcube Webmail/1.6.9",
}

var attachmentNames = []struct{ typ, file string }{
	{"application/pdf", "report.pdf"},
	{"image/jpeg", "IMG_2041.jpg"},
	{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "budget.xlsx"},
	{"application/zip", "logs.zip"},
}
