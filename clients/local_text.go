package clients

import (
	"encoding/binary"
	"strings"

	"github.com/mailsim/mailsim/internal/view"
)

// A POP3 store keeps, per message, the header fields a reply or forward
// needs (From, Subject, References: mailgen.Reply and mailgen.Forward) in
// one value of the user's interner (view.Interner.Put), encoded so that
// what other messages share is not repeated (docs/performance.md, "Memory
// per message held"):
//
//	from     uvarint: the From field's handle in the interner + 1, 0 for none
//	subject  uvarint (n<<1|1)<<1|r, then the indexes of the n words
//	         (split at single spaces) in the interner's dictionary
//	         (view.Interner.Word), each a byte below 240 or two bytes
//	         (appendWordIndex); or uvarint len<<2|r, then the
//	         subject's bytes, when a word is empty (two spaces in a row, a
//	         space at either end) or the dictionary has no room for it;
//	         r is 1 when References follows, 0 when it is empty
//	refs     as subject with r 0, the words being the references (split at
//	         single spaces), each the uvarint of its handle + 1 when the
//	         interner holds it (a Message-ID of the user's), or 0, uvarint
//	         len, its bytes
//
// A subject of mailgen's (two to six words of a vocabulary of about 120,
// some capitalised, some a version: 236 words in BenchmarkDeviceViewMemory)
// takes a byte a word; a reply's References, four bytes or so a Message-ID the
// user has. decodeText gives every field back byte for byte
// (FuzzLocalText).

// encodeText returns the encoding of from, subject and refs, adding to ids
// what the encoding refers to (from, the subject's words); nil when all
// three are empty.
func encodeText(ids *view.Interner, from, subject, refs string) []byte {
	if from == "" && subject == "" && refs == "" {
		return nil
	}
	b := make([]byte, 0, 16)
	if from == "" {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(ids.Handle(from))+1)
	}
	hasRefs := uint64(0)
	if refs != "" {
		hasRefs = 1
	}
	b = appendWords(b, subject, hasRefs, func(b []byte, w string) ([]byte, bool) {
		i, ok := ids.Word(w)
		return appendWordIndex(b, i), ok
	})
	if refs == "" {
		return b
	}
	return appendWords(b, refs, 0, func(b []byte, r string) ([]byte, bool) {
		if h, ok := ids.Lookup(r); ok {
			return binary.AppendUvarint(b, uint64(h)+1), true
		}
		b = append(b, 0)
		b = binary.AppendUvarint(b, uint64(len(r)))
		return append(b, r...), true
	})
}

// wordIndexShort is the number of word indexes written in one byte; the
// others take two, the first byte at least wordIndexShort: up to
// wordIndexShort + (256-wordIndexShort)*256 = 4336 indexes, more than
// view.MaxWords. A uvarint would write only 128 in one byte.
const wordIndexShort = 240

// appendWordIndex appends word index i (below view.MaxWords).
func appendWordIndex(b []byte, i uint32) []byte {
	if i < wordIndexShort {
		return append(b, byte(i))
	}
	i -= wordIndexShort
	return append(b, byte(wordIndexShort+i>>8), byte(i))
}

// appendWords appends field s as its words, each written by word, or as
// its bytes when s is "", has an empty word, or word refuses one; flag is
// the header's last bit.
func appendWords(b []byte, s string, flag uint64, word func(b []byte, w string) ([]byte, bool)) []byte {
	if s != "" {
		n := strings.Count(s, " ") + 1
		coded := binary.AppendUvarint(b, (uint64(n)<<1|1)<<1|flag)
		ok := true
		for w := range strings.SplitSeq(s, " ") {
			if w == "" {
				ok = false
				break
			}
			if coded, ok = word(coded, w); !ok {
				break
			}
		}
		if ok {
			return coded
		}
		b = b[:len(b):len(b)] // coded shares b's array: keep it apart
	}
	b = binary.AppendUvarint(b, uint64(len(s))<<2|flag)
	return append(b, s...)
}

// decodeText returns the fields encodeText encoded in b, and false when b
// is not such an encoding (or names words or values ids lacks).
func decodeText(ids *view.Interner, b string) (from, subject, refs string, ok bool) {
	r := textReader{b: b, ok: true}
	if h := r.uvarint(); h > 0 && r.ok {
		from = r.value(ids, h)
	}
	subject, hasRefs := r.words(func() string {
		w, ok := ids.WordAt(r.wordIndex())
		if !ok {
			r.ok, r.b = false, ""
		}
		return w
	})
	if !hasRefs {
		return from, subject, "", r.ok && r.b == ""
	}
	refs, more := r.words(func() string {
		h := r.uvarint()
		if h == 0 {
			return r.bytes(r.uvarint())
		}
		return r.value(ids, h)
	})
	return from, subject, refs, r.ok && r.b == "" && !more
}

// textReader reads an encoding of encodeText; ok turns false at the first
// malformed part, after which it reads zeros.
type textReader struct {
	b  string
	ok bool
}

func (r *textReader) uvarint() uint64 {
	if !r.ok {
		return 0
	}
	var x uint64
	for i := 0; i < len(r.b) && i < binary.MaxVarintLen64; i++ {
		c := r.b[i]
		x |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.b = r.b[i+1:]
			return x
		}
	}
	r.ok, r.b = false, "" // empty, or no end within ten bytes
	return 0
}

// wordIndex reads an index appendWordIndex wrote.
func (r *textReader) wordIndex() uint32 {
	if !r.ok || r.b == "" {
		r.ok, r.b = false, ""
		return 0
	}
	c := uint32(r.b[0])
	if c < wordIndexShort {
		r.b = r.b[1:]
		return c
	}
	if len(r.b) < 2 {
		r.ok, r.b = false, ""
		return 0
	}
	i := wordIndexShort + ((c-wordIndexShort)<<8 | uint32(r.b[1]))
	r.b = r.b[2:]
	return i
}

// value returns the value of handle h-1 in ids (h read from the
// encoding), checked.
func (r *textReader) value(ids *view.Interner, h uint64) string {
	if h > 1<<32-1 {
		r.ok, r.b = false, ""
		return ""
	}
	v, ok := ids.Check(view.Handle(h - 1))
	if !ok {
		r.ok, r.b = false, ""
	}
	return v
}

func (r *textReader) bytes(n uint64) string {
	if !r.ok || n > uint64(len(r.b)) {
		r.ok, r.b = false, ""
		return ""
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

// words reads a field appendWords wrote, each word by word, and its
// header's flag.
func (r *textReader) words(word func() string) (string, bool) {
	x := r.uvarint()
	flag := x&1 != 0
	if x&2 == 0 {
		return r.bytes(x >> 2), flag
	}
	n := x >> 2
	if n > uint64(len(r.b)) { // each word takes a byte at least
		r.ok, r.b = false, ""
		return "", false
	}
	var sb strings.Builder
	for i := range n {
		if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(word())
	}
	return sb.String(), flag
}
