package mailgen

import (
	"bytes"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/mail"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var date = time.Date(2026, 3, 4, 9, 30, 0, 0, time.UTC)

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 7)) }

func checkLines(t *testing.T, raw []byte) {
	t.Helper()
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		t.Errorf("message does not end in CRLF")
	}
	for i, l := range bytes.Split(bytes.TrimSuffix(raw, []byte("\r\n")), []byte("\r\n")) {
		if bytes.ContainsAny(l, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, l)
		}
		if len(l) > MaxLineLength {
			t.Fatalf("line %d is %d > %d chars: %q", i+1, len(l), MaxLineLength, l)
		}
	}
}

func TestNew(t *testing.T) {
	idRE := regexp.MustCompile(`^<[0-9a-f]{16}\.[0-9a-f]{16}@mail\.test>$`)
	tests := []struct {
		name       string
		size       int64
		attachment bool
		to         []string
	}{
		{"small text", 1500, false, []string{"bob@mail.test"}},
		{"medium text", 20_000, false, []string{"bob@mail.test", "carol@mail.test"}},
		{"large attachment", 500_000, true, []string{"bob@mail.test"}},
		{"small attachment", 4000, true, []string{"bob@mail.test"}},
		{"many recipients", 3000, false, strings.Fields("a1@mail.test a2@mail.test a3@mail.test a4@mail.test a5@mail.test a6@mail.test a7@mail.test a8@mail.test")},
	}
	g := Generator{Domain: "mail.test"}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := g.New(rng(uint64(i)), "alice@mail.test", tc.to, tc.size, tc.attachment, date)
			checkLines(t, m.Raw)
			if got := int64(len(m.Raw)); got < tc.size*9/10 || got > tc.size*11/10 {
				t.Errorf("size %d, want %d ±10%%", got, tc.size)
			}
			if !idRE.MatchString(m.ID) {
				t.Errorf("Message-ID %q does not match %s", m.ID, idRE)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
			if err != nil {
				t.Fatalf("net/mail cannot read it: %v", err)
			}
			if got := msg.Header.Get("Message-Id"); got != m.ID {
				t.Errorf("Message-ID header %q, want %q", got, m.ID)
			}
			if msg.Header.Get("MIME-Version") != "1.0" || msg.Header.Get("Subject") == "" {
				t.Errorf("missing MIME-Version or Subject: %v", msg.Header)
			}
			if _, err := msg.Header.Date(); err != nil {
				t.Errorf("Date: %v", err)
			}
			addrs, err := msg.Header.AddressList("To")
			if err != nil || len(addrs) != len(tc.to) {
				t.Errorf("To = %v (%v), want %d addresses", addrs, err, len(tc.to))
			}
			mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.attachment != (mt == "multipart/mixed") {
				t.Fatalf("attachment %v but Content-Type %s", tc.attachment, mt)
			}
			if tc.attachment {
				mr := multipart.NewReader(msg.Body, params["boundary"])
				parts := 0
				for {
					p, err := mr.NextPart()
					if err != nil {
						break
					}
					parts++
					if parts == 2 && p.FileName() == "" {
						t.Errorf("second part is not an attachment")
					}
				}
				if parts != 2 {
					t.Errorf("%d parts, want 2", parts)
				}
			}
			h, err := ParseHeader(m.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if h.ID != m.ID || h.From != m.From || h.Subject != m.Subject || h.Date != m.Date || strings.Join(h.To, ",") != strings.Join(tc.to, ",") {
				t.Errorf("ParseHeader = %+v, want %+v", h, m.Header)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	g := Generator{}
	a := g.New(rng(42), "a@example.com", []string{"b@example.com"}, 8000, true, date)
	b := g.New(rng(42), "a@example.com", []string{"b@example.com"}, 8000, true, date)
	c := g.New(rng(43), "a@example.com", []string{"b@example.com"}, 8000, true, date)
	if !bytes.Equal(a.Raw, b.Raw) {
		t.Error("same seed gave different messages")
	}
	if a.ID == c.ID || bytes.Equal(a.Raw, c.Raw) {
		t.Error("different seeds gave the same message")
	}
	if !strings.HasSuffix(a.ID, "@example.com>") {
		t.Errorf("default domain not used: %s", a.ID)
	}
}

func TestReplyForward(t *testing.T) {
	g := Generator{Domain: "mail.test"}
	orig := g.New(rng(1), "alice@mail.test", []string{"bob@mail.test"}, 2000, false, date)
	re := g.Reply(rng(2), "bob@mail.test", orig.Header, 3000, date.Add(time.Hour))
	re2 := g.Reply(rng(3), "alice@mail.test", re.Header, 3000, date.Add(2*time.Hour))
	fwd := g.Forward(rng(4), "bob@mail.test", []string{"carol@mail.test"}, re2.Header, 3000, date.Add(3*time.Hour))
	tests := []struct {
		name                   string
		m                      Message
		to, subject, irt, refs string
	}{
		{"reply", re, "alice@mail.test", "Re: " + orig.Subject, orig.ID, orig.ID},
		{"reply to reply", re2, "bob@mail.test", "Re: " + orig.Subject, re.ID, orig.ID + " " + re.ID},
		{"forward", fwd, "carol@mail.test", "Fwd: Re: " + orig.Subject, "", orig.ID + " " + re.ID + " " + re2.ID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkLines(t, tc.m.Raw)
			h, err := ParseHeader(tc.m.Raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(h.To) != 1 || h.To[0] != tc.to {
				t.Errorf("To = %v, want %s", h.To, tc.to)
			}
			if h.Subject != tc.subject {
				t.Errorf("Subject = %q, want %q", h.Subject, tc.subject)
			}
			if h.InReplyTo != tc.irt {
				t.Errorf("In-Reply-To = %q, want %q", h.InReplyTo, tc.irt)
			}
			if h.References != tc.refs {
				t.Errorf("References = %q, want %q", h.References, tc.refs)
			}
		})
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Header
		wantErr bool
	}{
		{"header block LF", "Message-ID: <a@b>\nSubject: hi\n\n", Header{ID: "<a@b>", Subject: "hi"}, false},
		{"folded", "Subject: a long\r\n  subject\r\nREFERENCES: <1@x>\r\n\t<2@x>\r\n\r\nbody: not a header\r\n",
			Header{Subject: "a long subject", References: "<1@x> <2@x>"}, false},
		{"mbox separator", "From a@b Mon Jan  8 09:57:00 2024\nFrom: A <a@b>\nTo: x@y, z@w\n", Header{From: "A <a@b>", To: []string{"x@y", "z@w"}}, false},
		{"no blank line", "In-Reply-To: <p@q>", Header{InReplyTo: "<p@q>"}, false},
		{"comma in a quoted name", "To: \"Doe, Jane\" <jane@x.test>, bob@y.test,\r\n carol@z.test (c, d)\r\n\r\n",
			Header{To: []string{"jane@x.test", "bob@y.test", "carol@z.test"}}, false},
		{"unparsable To kept whole", "To: undisclosed-recipients:;, <x\r\n\r\n",
			Header{To: []string{"undisclosed-recipients:;, <x"}}, false},
		{"message-id folded, case", "message-ID:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>\r\n",
			Header{ID: "<x@y>", Subject: "s"}, false},
		{"bad line after fields", "Subject: s\r\nnot a field\r\n\r\n", Header{}, true},
		{"empty", "", Header{}, true},
		{"garbage", "this is not a header\r\n", Header{}, true},
		{"leading continuation", " x\r\nSubject: y\r\n", Header{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseHeader([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if strings.Join(h.To, "|") != strings.Join(tc.want.To, "|") {
				t.Errorf("To = %v, want %v", h.To, tc.want.To)
			}
			h.To, tc.want.To = nil, nil
			if !reflect.DeepEqual(h, tc.want) {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
		})
	}
}

func TestDotLines(t *testing.T) {
	// Over many messages some paragraphs start with "..." (which POP3 and
	// SMTP must dot-stuff); make sure the generator does produce them.
	g := Generator{}
	r := rng(9)
	for i := 0; i < 50; i++ {
		m := g.New(r, "a@example.com", []string{"b@example.com"}, 5000, false, date)
		if bytes.Contains(m.Raw, []byte("\r\n...")) {
			return
		}
	}
	t.Error("no line starting with '.' in 50 messages")
}

func BenchmarkNew(b *testing.B) {
	g := Generator{}
	r := rng(1)
	b.ReportAllocs()
	for b.Loop() {
		g.New(r, "a@example.com", []string{"b@example.com"}, 20_000, false, date)
	}
}

func TestMessageID(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"full message", "From: a@b\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", "<1@x>"},
		{"LF only", "Message-Id: <2@x>\nSubject: s\n\n", "<2@x>"},
		{"folded value", "Subject: s\r\nMessage-ID:\r\n\t<3@x>\r\n\r\n", "<3@x>"},
		{"only in the body", "Subject: s\r\n\r\nMessage-ID: <body@x>\r\n", ""},
		{"none", "Subject: s\r\n\r\n", ""},
		{"empty", "", ""},
		{"header block without blank line", "Message-ID: <4@x>", "<4@x>"},
		{"fields before a broken line count", "Message-ID: <5@x>\r\nbroken line\r\n\r\n", "<5@x>"},
		{"mbox separator", "From a@b Mon Jan  8 09:57:00 2024\nMessage-ID: <6@x>\n\n", "<6@x>"},
		{"similar field name", "Message-IDs: <no@x>\r\nX-Message-ID: <no@y>\r\n\r\n", ""},
		{"after a line longer than the read buffer", "Subject: " + strings.Repeat("x", 3*readBuffer) + "\r\nMessage-ID: <7@x>\r\n\r\n", "<7@x>"},
		{"longer than the read buffer", "Message-ID: <" + strings.Repeat("y", 2*readBuffer) + "@x>\r\n\r\n", "<" + strings.Repeat("y", 2*readBuffer) + "@x>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := MessageID([]byte(tc.in)); got != tc.want {
				t.Errorf("MessageID = %q, want %q", got, tc.want)
			}
			if got := AppendMessageID([]byte("x"), []byte(tc.in)); string(got) != "x"+tc.want {
				t.Errorf("AppendMessageID = %q, want %q", got, "x"+tc.want)
			}
		})
	}
}

// FuzzParseHeader checks that the parsers never panic and agree: the
// Message-ID ParseHeader finds is the one MessageID finds, and every To
// element is non-empty and trimmed.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		"Message-ID: <a@b>\r\nTo: \"x, y\" <x@y>, z@w\r\n\r\nbody",
		"From a@b Mon Jan  8 09:57:00 2024\nFrom: A <a@b>\n",
		" x\r\nSubject: y\r\n",
		"Subject: a\r\n b\r\nReferences: <1@x>\r\n\t<2@x>\r\n\r\n",
		"To: undisclosed-recipients:;\r\n",
		"",
	} {
		f.Add([]byte(s))
	}
	g := Generator{}
	f.Add(g.New(rng(1), "a@example.com", []string{"b@example.com", "c@example.com"}, 3000, true, date).Raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		id := MessageID(raw)
		h, err := ParseHeader(raw)
		if err != nil {
			return
		}
		if h.ID != id {
			t.Errorf("ParseHeader ID %q, MessageID %q", h.ID, id)
		}
		for _, a := range h.To {
			if a == "" || a != strings.TrimSpace(a) {
				t.Errorf("To element %q", a)
			}
		}
	})
}

// textprotoMessageID is MessageID's reference: the Message-ID field of
// the header go-message's textproto reads from raw (ParseHeader's reader).
func textprotoMessageID(raw []byte) string {
	hdr, _ := readHeader(raw)
	return hdr.Get("Message-Id")
}

// FuzzMessageID checks that MessageID's scan gives textproto's answer on
// every input, malformed ones included.
func FuzzMessageID(f *testing.F) {
	for _, s := range []string{
		"From: a@b\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n",
		"message-id:\r\n\t<a@b>\r\n \r\n  c \r\nSubject: x\r\n\r\n",
		"Message-ID: <a@b>\r",
		"Message-ID: <a@b>\r\r\n",
		"From x\n Message-ID: <a@b>\n",
		"X: y\r\n:empty name\r\nMessage-ID:<c@d>\n",
		"Bad Name: y\r\nMessage-ID: <e@f>\r\n",
		"Message-ID\r\n : <g@h>\r\n",
		"Message-ID: <1@x>\r\nMessage-ID: <2@x>\r\n",
		"Message-ID \t: <i@j>\n",
	} {
		f.Add([]byte(s))
	}
	f.Add(Generator{}.New(rng(1), "a@example.com", []string{"b@example.com"}, 3000, true, date).Raw)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := MessageID(raw), textprotoMessageID(raw); got != want {
			t.Errorf("MessageID(%q) = %q, textproto %q", raw, got, want)
		}
		if got, want := string(AppendMessageID(nil, raw)), MessageID(raw); got != want {
			t.Errorf("AppendMessageID(%q) = %q, MessageID %q", raw, got, want)
		}
	})
}

// TestMessageIDAllocs checks that MessageID allocates only its result: one
// allocation when the field is there, folded or not, none when it is not.
func TestMessageIDAllocs(t *testing.T) {
	full := Generator{}.New(rng(1), "a@example.com", []string{"b@example.com"}, 20000, true, date).Raw
	tests := []struct {
		name string
		raw  []byte
		want float64
	}{
		{"generated message", full, 1},
		{"folded", []byte("Subject: s\r\nMessage-ID:\r\n\t<3@x>\r\n \r\n\r\n"), 1},
		{"none", []byte("Subject: s\r\nFrom: a@b\r\n\r\nMessage-ID: <b@x>\r\n"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if MessageID(tc.raw) != textprotoMessageID(tc.raw) {
				t.Fatalf("MessageID disagrees with textproto")
			}
			if got := testing.AllocsPerRun(100, func() { MessageID(tc.raw) }); got != tc.want {
				t.Errorf("%v allocations per MessageID, want %v", got, tc.want)
			}
		})
	}
}

func BenchmarkMessageID(b *testing.B) {
	m := Generator{}.New(rng(1), "a@example.com", []string{"b@example.com"}, 20000, true, date)
	b.ReportAllocs()
	for b.Loop() {
		if MessageID(m.Raw) == "" {
			b.Fatal("no Message-ID")
		}
	}
}

func BenchmarkParseHeader(b *testing.B) {
	m := Generator{}.New(rng(1), "a@example.com", []string{"b@example.com"}, 20000, true, date)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHeader(m.Raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewInbound is the side-by-side scenario's inbound mail
// (scripts/loadbench/imaptest-side.yaml: 1–8 KiB, no attachment): one
// message of 4 KiB per op.
func BenchmarkNewInbound(b *testing.B) {
	g := Generator{Domain: "example.com"}
	r := rng(1)
	to := []string{"user1@example.com"}
	b.ReportAllocs()
	for b.Loop() {
		g.New(r, "alice.martin@example.net", to, 4096, false, date)
	}
}
