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
		}, "25c9a05762101402b3c18d61becf19dbcd1fa0e88304f8bd6254283548cc2050"},
		{"new medium", 2, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 6000, false, date)
		}, "a26195d7a6971c7986721aa04726d9c65e8d604926cb01fc5cd11bc1c3110ca1"},
		{"new large", 3, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 200_000, false, date.In(cet))
		}, "5c11a42129b684d55ea6bc654b3e282aed3a5c001849fdc708eb720b5653c6ab"},
		{"new tiny", 4, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 0, false, date)
		}, "94f6172e21e4cadb4b200420955f35ad1f5a0d3f84b6a81b5377ac6f64e518b6"},
		{"new attachment", 5, func(r *rand.Rand) Message {
			return g.New(r, "alice@mail.test", []string{"bob@mail.test"}, 30_000, true, date)
		}, "f106f806366917a243d72d464e318160de9df4481c8d152139f364ae7fd30d10"},
		{"new small attachment", 6, func(r *rand.Rand) Message {
			return d.New(r, "alice@example.com", []string{"bob@example.com"}, 100, true, date)
		}, "f79e06f0dff184807b0328e0b899652f43b8194cd2527ea90bfc002c22a296be"},
		{"new many recipients", 7, func(r *rand.Rand) Message { return g.New(r, "alice@mail.test", many, 3000, false, date) }, "d4adb1cc95630a0ca9381b5c5177f0722db10f108688cea9a8b5d52aa865b665"},
		{"new long address", 8, func(r *rand.Rand) Message { return g.New(r, "alice@mail.test", long, 3000, false, date) }, "af05f9cb542aab0f56f6c60521fa093d770c4752feb887e87ca392676f7f1361"},
		{"new no recipient", 9, func(r *rand.Rand) Message { return g.New(r, "alice@mail.test", nil, 3000, false, date) }, "d9fea0812e24e83d75c20aa0457b1b323e5c69ea28b18e8566859f3f21f3e651"},
		{"reply", 10, func(r *rand.Rand) Message { return g.Reply(r, "bob@mail.test", goldenOrig, 4096, date) }, "3147c8f3fbed84dd72670cd3d293620cd13770c0d2ce782aadbcfa2140eb8d81"},
		{"reply empty", 11, func(r *rand.Rand) Message { return g.Reply(r, "bob@mail.test", Header{}, 4096, date) }, "37488ad7041d6eddcfe09c7b2bb6ecfe10f61841029ca6df6901d02c3da170a2"},
		{"reply re", 12, func(r *rand.Rand) Message {
			h := goldenOrig
			h.Subject, h.References = "RE: x", ""
			return g.Reply(r, "bob@mail.test", h, 2000, date)
		}, "7cfd6a4971af5a274524fd470cf3f1d1cdcad765747cb263499cc803ab4885e5"},
		{"forward", 13, func(r *rand.Rand) Message { return g.Forward(r, "bob@mail.test", many[:2], goldenOrig, 8000, date) }, "e635cc21b36d243bf1326d7f4afed61cb645bea5b7f00fddf53f4380daa1bc17"},
		{"forward empty", 14, func(r *rand.Rand) Message { return g.Forward(r, "bob@mail.test", nil, Header{}, 700, date) }, "b537393fe5bd2286c9dc3e63adaf02eb0e91fa9efa93990335614ae0574bd879"},
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
		}, "0c79360abc1aa9b4eda4d06c252a46642a830a272b021eeca4c1b4da43537803"},
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
// The sums changed once on purpose, when the text came to be drawn a
// paragraph at a time from a corpus instead of a word at a time
// (appendText; docs/performance.md, "Mail from a corpus (2026-12-04)").
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

// countingSource counts the draws taken from a PCG.
type countingSource struct {
	*rand.PCG
	n int
}

func (s *countingSource) Uint64() uint64 { s.n++; return s.PCG.Uint64() }

// TestTextDraws pins what the corpus saves: a message's text takes one
// draw a paragraph, not one a word (a 4 KiB message drew about 600
// numbers when every word was drawn).
func TestTextDraws(t *testing.T) {
	for _, size := range []int64{1024, 4096, 8192} {
		src := &countingSource{PCG: rand.NewPCG(1, 7)}
		m := Generator{}.New(rand.New(src), "a@example.com", []string{"b@example.com"}, size, false, date)
		// The header's: 2 for the Message-ID, up to 10 for the subject,
		// 1 for the User-Agent; then one a paragraph of at least 3
		// sentences of 5 words (at least 60 bytes).
		if most := 13 + int(size)/60 + 1; src.n > most {
			t.Errorf("%d bytes: %d draws, want at most %d", len(m.Raw), src.n, most)
		}
	}
}

// TestCorpus checks the corpus's paragraphs: 3 to 8 sentences, each
// ending in a full stop where ends says, lines no wider than textWidth and
// no line break at either end, every paragraph different, and some
// starting with "..." (which POP3 and SMTP must dot-stuff).
func TestCorpus(t *testing.T) {
	c := corpusText()
	seen := make(map[string]int, len(c))
	dots := 0
	for i, p := range c {
		if p.n < 3 || p.n > maxParagraph {
			t.Fatalf("paragraph %d: %d sentences", i, p.n)
		}
		last := uint16(0)
		for _, e := range p.ends[:p.n] {
			if e <= last || p.text[e-1] != '.' {
				t.Fatalf("paragraph %d: a sentence ends at %d (after %d): %q", i, e, last, p.text)
			}
			last = e
		}
		if int(last) != len(p.text) {
			t.Fatalf("paragraph %d: the last sentence ends at %d of %d", i, last, len(p.text))
		}
		for _, l := range strings.Split(string(p.text), "\r\n") {
			if l == "" || len(l) > textWidth || strings.ContainsAny(l, "\r\n") {
				t.Fatalf("paragraph %d: line %q", i, l)
			}
		}
		if j, ok := seen[string(p.text)]; ok {
			t.Errorf("paragraphs %d and %d are the same", j, i)
		}
		seen[string(p.text)] = i
		if strings.HasPrefix(string(p.text), "...") {
			dots++
		}
	}
	if dots == 0 {
		t.Error(`no paragraph starts with "..."`)
	}
}

// TestTextCut holds appendText to its rule for any size: paragraphs of
// the corpus one blank line apart, whole but for the last, which is cut
// after the first sentence that brings the text to n-2 bytes or more (or
// after its first sentence), and no paragraph after the size is reached.
func TestTextCut(t *testing.T) {
	c := corpusText()
	whole := make(map[string]bool, len(c))
	for _, p := range c {
		whole[string(p.text)] = true
	}
	for n := int64(-5); n < 3000; n += 7 {
		text := string(appendText(rng(uint64(n+5)), []byte("xyz"), n)[3:])
		paras := strings.Split(strings.TrimSuffix(text, "\r\n\r\n"), "\r\n\r\n")
		written := 0
		for i, p := range paras {
			if i > 0 && int64(written) >= n-2 {
				t.Fatalf("n %d: paragraph %d after %d bytes", n, i+1, written)
			}
			if i < len(paras)-1 && !whole[p] {
				t.Fatalf("n %d: paragraph %d is no whole paragraph of the corpus: %q", n, i+1, p)
			}
			written += len(p) + 4
		}
		if int64(written) < n-2 {
			t.Fatalf("n %d: %d bytes written", n, written)
		}
		last := paras[len(paras)-1]
		cut := false // last is a prefix of a corpus paragraph at a sentence's end, where the rule cuts
		for _, p := range c {
			for s, e := range p.ends[:p.n] {
				if int(e) == len(last) && string(p.text[:e]) == last {
					before := written - len(last) - 4
					reached := int64(before+int(e)) >= n-2
					prev := s == 0 || int64(before+int(p.ends[s-1])) < n-2
					cut = cut || (prev && (reached || s == int(p.n)-1))
				}
			}
		}
		if !cut {
			t.Fatalf("n %d: last paragraph %q is not cut by the rule (%d bytes before it)", n, last, written-len(last)-4)
		}
	}
}
