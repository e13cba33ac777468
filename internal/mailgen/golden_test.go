package mailgen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// goldenCase is one generated message whose exact bytes are pinned.
type goldenCase struct {
	name string
	seed uint64
	gen  func(r *rand.Rand) Message
	// sum is the SHA-256 of the message's header fields, its raw bytes
	// and the next draws of its random source after it (so that the
	// draws a message takes are pinned too: a person's schedule goes on
	// drawing from the same source).
	sum string
}

// goldenOrig is a header as a device parses it from a server: long,
// folded, with odd whitespace, for replies and forwards.
var goldenOrig = Header{
	ID:         "<0123456789abcdef.fedcba9876543210@mail.test>",
	From:       "Alice Martin with a rather long display name <alice.martin@partner.example.org>",
	Subject:    "Quarterly\tbudget  review:  figures for the next release, please confirm before the meeting on Monday morning",
	References: " <r1.aaaaaaaaaaaaaaaa@x.test>  <r2.bbbbbbbbbbbbbbbb@x.test> <r3.cccccccccccccccc@x.test> <r4.dddddddddddddddd@x.test> ",
	Date:       "Mon, 02 Mar 2026 08:15:00 +0100",
	To:         []string{"bob@mail.test"},
}

func goldenCases() []goldenCase {
	g := Generator{Domain: "mail.test"}
	var d Generator // the default domain
	many := strings.Fields("a1@mail.test a2@mail.test a3@mail.test a4@mail.test a5@mail.test a6@mail.test a7@mail.test a8@mail.test")
	long := []string{strings.Repeat("x", 90) + "@mail.test", "b@mail.test"}
	cet := time.FixedZone("CET", 3600)
	return []goldenCase{
		{"new small", 1, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 512, false, date)
		}, "12d105c4f85d3804827eb6bd2798c6d1cdea8e3b284c95323734a0198670f5e8"},
		{"new medium", 2, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 6000, false, date)
		}, "15bf2a9e403b63ce42cb2349f7a28cf47bdb9cbe23e3b047c2facdb1d8d86254"},
		{"new large", 3, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 200_000, false, date.In(cet))
		}, "d9717697a29687b46c1517e1b9a82aae9d89305b8f770de976ab4885e3f3f51a"},
		{"new tiny", 4, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 0, false, date)
		}, "7ce609ec4e6909f23400ceacbba931eb1852a0e9c5587835aabfdd134fd73b03"},
		{"new attachment", 5, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 30_000, true, date)
		}, "4f24431f6bce22dcfea9927199d7cd08c2d07bd50a8187fbff6de8755049cbc0"},
		{"new small attachment", 6, func(r *rand.Rand) Message {
			return d.New(r, "alice@example.com", []string{"bob@example.com"}, 100, true, date)
		}, "172a445cea997bd5ee21578f19f211ce79e07f28a2320b80ff05ea23e677b262"},
		{"new many recipients", 7, func(r *rand.Rand) Message { return g.New(r, "alice@mail.test", many, 3000, false, date) }, "5993d87d4abc83543f95817fab4beb260924204dc46c34cc68ae9aa0df4b5f85"},
		{"new long address", 8, func(r *rand.Rand) Message { return g.New(r, "alice@mail.test", long, 3000, false, date) }, "4373a6b7bb9e1b3470a1cf219ef6d0f67c75fcf8dcd27972188c02b4ed6af288"},
		{"new no recipient", 9, func(r *rand.Rand) Message { return g.New(r, "alice@mail.test", nil, 3000, false, date) }, "bbfa534b574432595fe7d234fc3bc524b119c2c414d5cc69efabc8caf2944322"},
		{"reply", 10, func(r *rand.Rand) Message { return g.Reply(r, "bob@mail.test", goldenOrig, 4096, date) }, "ff2ecbb1494687635392b353c584f70014773c91f3b61ba787f86ab336abaa43"},
		{"reply empty", 11, func(r *rand.Rand) Message { return g.Reply(r, "bob@mail.test", Header{}, 4096, date) }, "d6518123adb47bec078e80493154baddb99b9b4eb004cf75cd3fd3e7eecc95be"},
		{"reply re", 12, func(r *rand.Rand) Message {
			h := goldenOrig
			h.Subject, h.References = "RE: x", ""
			return g.Reply(r, "bob@mail.test", h, 2000, date)
		}, "dd726ac177c39a54b139085b475a3c134eb580d9a66c68cf9bcc3b4ce8536cf1"},
		{"forward", 13, func(r *rand.Rand) Message { return g.Forward(r, "bob@mail.test", many[:2], goldenOrig, 8000, date) }, "e1dd6066c80712fb399cf62de096d43a4d4d0d05112416bec9aa84d5f00a5e45"},
		{"forward empty", 14, func(r *rand.Rand) Message { return g.Forward(r, "bob@mail.test", nil, Header{}, 700, date) }, "9c1e43439be6e30518446e095fdb5db76a2c02d0c5e9661ff87387ef2b356990"},
		{"stream", 16, func(r *rand.Rand) Message {
			// Many messages from one source, as a person's inbound mail:
			// every size, with and without attachments, replies to them.
			var all []byte
			var m Message
			for i := range 300 {
				size := int64(r.IntN(20_000))
				if i%2 == 0 {
					m = g.New(r, "alice@mail.test", []string{"bob@mail.test"}, size, r.IntN(5) == 0, date.Add(time.Duration(i)*time.Minute))
				} else {
					m = g.Reply(r, "bob@mail.test", m.Header, size, date)
				}
				all = append(all, m.Raw...)
			}
			m.Raw = all
			return m
		}, "7679d794af0c9672f27000347312810e8caba1c8ad500d8c0bf5ece0603541fa"},
		{"id", 15, func(r *rand.Rand) Message { return Message{Header: Header{ID: g.NewID(r)}} }, "24fa1cdd23ce9df7d9fe13e259b9a438b02482a89e78cfbf38398ef70e74b61a"},
	}
}

// goldenSum is the SHA-256 of what goldenCase.sum covers; next is the
// random source's next draw after m.
func goldenSum(m Message, next uint64) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %q %q %q %q\n", m.ID, m.From, m.Subject, m.InReplyTo, m.References, m.Date, m.To)
	h.Write(m.Raw)
	fmt.Fprintf(h, "\n%d", next)
	return hex.EncodeToString(h.Sum(nil))
}

// TestGolden pins the exact bytes of generated messages, their header
// fields and the random draws they take: the same seed must give the same
// messages (and the same run) whatever the generator's implementation.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := rng(tc.seed)
			m := tc.gen(r)
			got := goldenSum(m, r.Uint64())
			if got != tc.sum {
				t.Errorf("sum %s, want %s\n%s", got, tc.sum, m.Raw)
			}
		})
	}
}

// TestWords checks what the generator assumes of its word list: every word
// is lower-case ASCII letters (it capitalises a word by its first byte).
func TestWords(t *testing.T) {
	for _, w := range words {
		if w == "" || strings.TrimLeft(w, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Errorf("word %q: want lower-case ASCII letters", w)
		}
	}
}

// refField is the generator's former header writer (string concatenation
// over strings.Fields), the reference appendField must match.
func refField(name, value string) string {
	var b strings.Builder
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
	return b.String()
}

// refAddrs is the former address list writer, appendAddrs' reference.
func refAddrs(name string, addrs []string) string {
	var b strings.Builder
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
	return b.String()
}

// FuzzAppendField holds appendField and appendAddrs to their references
// for any value (any whitespace, Unicode spaces, long words) and prefix.
func FuzzAppendField(f *testing.F) {
	f.Add("Subject", goldenOrig.Subject, "x")
	f.Add("References", goldenOrig.References, "")
	f.Add("To", "a@b c@d  "+strings.Repeat("e", 80)+" \u00a0f\u2003g\u0085h", "prefix")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, name, value, prefix string) {
		got := appendField([]byte(prefix), name, value)
		if want := prefix + refField(name, value); string(got) != want {
			t.Errorf("appendField(%q, %q) = %q, want %q", name, value, got[len(prefix):], want[len(prefix):])
		}
		addrs := strings.Split(value, ",")
		got = appendAddrs([]byte(prefix), name, addrs)
		if want := prefix + refAddrs(name, addrs); string(got) != want {
			t.Errorf("appendAddrs(%q, %q) = %q, want %q", name, addrs, got[len(prefix):], want[len(prefix):])
		}
	})
}

// TestPadded checks appendSentence's word tables: at most wordTableSize
// words, each shorter than wordPad, zero-padded in padded, the same with a
// capital first in capitalised, its length in wordLen.
func TestPadded(t *testing.T) {
	if len(words) > wordTableSize {
		t.Fatalf("%d words, the tables hold %d", len(words), wordTableSize)
	}
	for i, w := range words {
		if len(w) >= wordPad || string(padded[i][:len(w)]) != w || strings.Trim(string(padded[i][len(w):]), "\x00") != "" {
			t.Errorf("word %q: padded %q", w, padded[i])
		}
		if c := strings.ToUpper(w[:1]) + w[1:]; string(capitalised[i][:len(w)]) != c || string(capitalised[i][len(w):]) != string(padded[i][len(w):]) {
			t.Errorf("word %q: capitalised %q", w, capitalised[i])
		}
		if int(wordLen[i]) != len(w) {
			t.Errorf("word %q: length %d", w, wordLen[i])
		}
	}
}

// TestSentencePaths holds appendSentence, which writes into the buffer's
// spare room, to appendSentenceSlow, which appends: the same bytes, the
// same column and the same draws, from every column and after the dots.
func TestSentencePaths(t *testing.T) {
	cases := rand.New(rand.NewPCG(99, 1))
	for seed := range uint64(3000) {
		nw := 5 + cases.IntN(12)
		col := cases.IntN(textWidth + 1)
		dots := cases.IntN(4) == 0
		fast, slow := rng(seed), rng(seed)
		b, fcol := appendSentence(fast, make([]byte, 3, 3+nw*maxWordOut), nw, col, dots)
		want, scol := appendSentenceSlow(slow, make([]byte, 3), nw, col, dots)
		if string(b) != string(want) || fcol != scol {
			t.Fatalf("seed %d, %d words from column %d (dots %v): %q ending at %d, want %q ending at %d", seed, nw, col, dots, b, fcol, want, scol)
		}
		if f, s := fast.Uint64(), slow.Uint64(); f != s {
			t.Fatalf("seed %d: next draw %d, want %d", seed, f, s)
		}
	}
}
