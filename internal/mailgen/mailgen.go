// Package mailgen writes realistic RFC 5322 messages for mailsim: headers a
// mail client would write, a text body of plausible words, optionally a
// base64 attachment, all deterministic from a random source. It also parses
// the header fields mailsim needs back out of a message.
package mailgen

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
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
	return fmt.Sprintf("<%016x.%016x@%s>", rng.Uint64(), rng.Uint64(), g.domain())
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
		Date:    date.Format(time.RFC1123Z),
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
		Date:       date.Format(time.RFC1123Z),
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
		Date:       date.Format(time.RFC1123Z),
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
// an optional attachment, padded to about size bytes.
func build(rng *rand.Rand, h Header, size int64, attachment bool, lead string) Message {
	var b bytes.Buffer
	b.Grow(int(max(size, 512)) + 256)
	writeField(&b, "Message-ID", h.ID)
	writeField(&b, "Date", h.Date)
	writeField(&b, "From", h.From)
	writeAddrs(&b, "To", h.To)
	writeField(&b, "Subject", h.Subject)
	if h.InReplyTo != "" {
		writeField(&b, "In-Reply-To", h.InReplyTo)
	}
	if h.References != "" {
		writeRefs(&b, h.References)
	}
	writeField(&b, "User-Agent", userAgents[rng.IntN(len(userAgents))])
	writeField(&b, "MIME-Version", "1.0")

	remaining := func() int64 { return size - int64(b.Len()) }
	if !attachment {
		writeField(&b, "Content-Type", "text/plain; charset=utf-8")
		writeField(&b, "Content-Transfer-Encoding", "7bit")
		b.WriteString("\r\n")
		b.WriteString(lead)
		writeText(rng, &b, remaining())
		return Message{Header: h, Raw: b.Bytes()}
	}
	boundary := fmt.Sprintf("=_%016x", rng.Uint64())
	writeField(&b, "Content-Type", `multipart/mixed; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a multi-part message in MIME format.\r\n\r\n")
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(lead)
	// A short note, the rest is the attachment.
	note := min(max(remaining()/5, 200), 2000)
	writeText(rng, &b, note)
	name := attachmentNames[rng.IntN(len(attachmentNames))]
	b.WriteString("\r\n--" + boundary + "\r\n")
	fmt.Fprintf(&b, "Content-Type: %s; name=\"%s\"\r\n", name.typ, name.file)
	fmt.Fprintf(&b, "Content-Disposition: attachment; filename=\"%s\"\r\n", name.file)
	b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
	writeBase64(rng, &b, remaining()-int64(len(boundary))-8)
	b.WriteString("--" + boundary + "--\r\n")
	return Message{Header: h, Raw: b.Bytes()}
}

// writeField writes "Name: value" CRLF, folding value at spaces so no line
// exceeds MaxLineLength where that is possible.
func writeField(b *bytes.Buffer, name, value string) {
	line, words := name+":", 0
	for _, w := range strings.Fields(value) {
		if len(line)+1+len(w) > MaxLineLength && words > 0 {
			b.WriteString(line + "\r\n")
			line = " " + w
			continue
		}
		line += " " + w
		words++
	}
	b.WriteString(line + "\r\n")
}

// writeAddrs writes an address list, one fold per address when long.
func writeAddrs(b *bytes.Buffer, name string, addrs []string) {
	line := name + ":"
	for i, a := range addrs {
		sep := ""
		if i < len(addrs)-1 {
			sep = ","
		}
		if len(line)+1+len(a)+len(sep) > MaxLineLength && i > 0 {
			b.WriteString(line + "\r\n")
			line = " " + a + sep
			continue
		}
		line += " " + a + sep
	}
	b.WriteString(line + "\r\n")
}

func writeRefs(b *bytes.Buffer, refs string) { writeField(b, "References", refs) }

// writeText writes paragraphs of plausible words, wrapped at 72 columns,
// until about n bytes are written (at least one line).
func writeText(rng *rand.Rand, b *bytes.Buffer, n int64) {
	const width = 72
	start := b.Len()
	for first := true; first || int64(b.Len()-start) < n-2; first = false {
		col := 0
		word := func(w string, capital bool, stop bool) {
			l := len(w)
			if stop {
				l++
			}
			switch {
			case col > 0 && col+1+l > width:
				b.WriteString("\r\n")
				col = 0
			case col > 0:
				b.WriteByte(' ')
				col++
			}
			if capital {
				b.WriteByte(w[0] - 'a' + 'A')
				b.WriteString(w[1:])
			} else {
				b.WriteString(w)
			}
			if stop {
				b.WriteByte('.')
			}
			col += l
		}
		afterDots := false
		if rng.IntN(12) == 0 {
			// People trail off; a line starting with "." needs dot-stuffing.
			b.WriteString("...")
			col, afterDots = 3, true
		}
		// A paragraph of 3 to 8 sentences, stopping early at the size.
		for s, ns := 0, 3+rng.IntN(6); s < ns && (s == 0 || int64(b.Len()-start) < n-2); s++ {
			nw := 5 + rng.IntN(12)
			for i := 0; i < nw; i++ {
				w := words[rng.IntN(len(words))]
				if afterDots {
					// Right after a leading "...": no space.
					b.WriteString(w)
					col += len(w)
					afterDots = false
					continue
				}
				word(w, i == 0, i == nw-1)
			}
		}
		b.WriteString("\r\n\r\n")
	}
}

// writeBase64 writes about n bytes of base64 lines (76 characters) of
// random content.
func writeBase64(rng *rand.Rand, b *bytes.Buffer, n int64) {
	const perLine = 57 // raw bytes per 76-character line
	raw := make([]byte, perLine)
	enc := make([]byte, base64.StdEncoding.EncodedLen(perLine))
	for lines := max(n/78, 1); lines > 0; lines-- {
		for i := 0; i < perLine; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8 && i+j < perLine; j++ {
				raw[i+j] = byte(v >> (8 * j))
			}
		}
		base64.StdEncoding.Encode(enc, raw)
		b.Write(enc)
		b.WriteString("\r\n")
	}
}

func subject(rng *rand.Rand) string {
	s := sentence(rng, 2+rng.IntN(5))
	s = strings.TrimSuffix(s, ".")
	if rng.IntN(4) == 0 {
		s += fmt.Sprintf(" v%d.%d", 1+rng.IntN(5), rng.IntN(10))
	}
	return s
}

// sentence returns n words, capitalised, ending in a full stop.
func sentence(rng *rand.Rand, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		w := words[rng.IntN(len(words))]
		if i == 0 {
			sb.WriteString(strings.ToUpper(w[:1]) + w[1:])
			continue
		}
		sb.WriteByte(' ')
		sb.WriteString(w)
	}
	sb.WriteByte('.')
	return sb.String()
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
