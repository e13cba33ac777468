package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

func TestParseFetchItems(t *testing.T) {
	hdr := func(fields ...string) *imap.FetchItemBodySection {
		return &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: fields, Peek: true}
	}
	tests := []struct {
		in   string
		want *imap.FetchOptions
	}{
		{"UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Subject Date Message-ID)]", &imap.FetchOptions{
			UID: true, RFC822Size: true, Flags: true,
			BodySection: []*imap.FetchItemBodySection{hdr("From", "To", "Subject", "Date", "Message-ID")},
		}},
		{"(uid flags internaldate envelope bodystructure)", &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, Envelope: true,
			BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		}},
		{"BODY.PEEK[]", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}},
		{"BODY[]<0.131072>", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Partial: &imap.SectionPartial{Offset: 0, Size: 131072}}}}},
		{"BODY.PEEK[TEXT]<0.2048> BODY.PEEK[1]", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{
			{Specifier: imap.PartSpecifierText, Peek: true, Partial: &imap.SectionPartial{Size: 2048}},
			{Part: []int{1}, Peek: true},
		}}},
		{"BODY[1.2.MIME] BODY", &imap.FetchOptions{
			BodyStructure: &imap.FetchItemBodyStructure{},
			BodySection:   []*imap.FetchItemBodySection{{Part: []int{1, 2}, Specifier: imap.PartSpecifierMIME}},
		}},
		{"FAST", &imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true}},
		{"BODY.PEEK[HEADER.FIELDS.NOT (Received)]", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{
			{Specifier: imap.PartSpecifierHeader, HeaderFieldsNot: []string{"Received"}, Peek: true},
		}}},
		{"INTERNALDATE UID FLAGS BODY.PEEK[HEADER.FIELDS (date message-id)] MODSEQ", &imap.FetchOptions{
			InternalDate: true, UID: true, Flags: true, ModSeq: true,
			BodySection: []*imap.FetchItemBodySection{hdr("date", "message-id")},
		}},
		{"RFC822 RFC822.HEADER rfc822.text", &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{
			{}, {Specifier: imap.PartSpecifierHeader, Peek: true}, {Specifier: imap.PartSpecifierText},
		}}},
		{"BINARY.PEEK[1]<0.1024> BINARY[] BINARY.SIZE[2.1]", &imap.FetchOptions{
			BinarySection: []*imap.FetchItemBinarySection{
				{Part: []int{1}, Peek: true, Partial: &imap.SectionPartial{Size: 1024}}, {},
			},
			BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2, 1}}},
		}},
	}
	for _, tt := range tests {
		got, err := parseFetchItems(tt.in)
		if err != nil {
			t.Errorf("parseFetchItems(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseFetchItems(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseFetchItemsErrors(t *testing.T) {
	for _, in := range []string{
		"", "UID BOGUS", "BODY.PEEK[HEADER.FIELDS]", "BODY.PEEK[HEADER.FIELDS ()]", "BODY[NOPE]",
		"BODY[]<1>", "BODY[]<0.0>", "BODY[MIME]", "BODY.PEEK[HEADER", "UID)", "BODY[0]",
		"X-GM-MSGID", "MODSEQ2", "BINARY[HEADER]", "BINARY.SIZE[1]<0.10>", "BINARY[1", "BINARY.PEEK[0]",
	} {
		if _, err := parseFetchItems(in); err == nil {
			t.Errorf("parseFetchItems(%q): no error", in)
		}
	}
}

func TestEnsureMessageID(t *testing.T) {
	tests := []struct {
		in, want string // want: the header fields or "" when nothing is added
		added    bool
	}{
		{"UID BODY.PEEK[HEADER.FIELDS (From Subject)]", "From Subject Message-ID", false},
		{"UID BODY.PEEK[HEADER.FIELDS (From message-id)]", "From message-id", false},
		{"UID FLAGS", "Message-ID", true},
		{"UID ENVELOPE", "", false},
		{"UID BODY.PEEK[]", "", false},
		{"UID BODY.PEEK[HEADER]", "", false},
		{"UID BODY.PEEK[]<0.100>", "Message-ID", true},
	}
	for _, tt := range tests {
		o, err := parseFetchItems(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		before := len(o.BodySection)
		ensureMessageID(o)
		if added := len(o.BodySection) > before; added != tt.added {
			t.Errorf("%q: added section %v, want %v", tt.in, added, tt.added)
		}
		var fields []string
		for _, s := range o.BodySection {
			fields = append(fields, s.HeaderFields...)
		}
		got := ""
		for i, f := range fields {
			if i > 0 {
				got += " "
			}
			got += f
		}
		if got != tt.want {
			t.Errorf("%q: header fields %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHeaderCapture(t *testing.T) {
	hdr := []byte("From: a@b\r\nmessage-id:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>\r\n")
	var hc headerCapture
	hc.limit = 1 << 10
	for _, b := range hdr {
		_, _ = hc.Write([]byte{b})
	}
	if string(hc.buf) != "From: a@b\r\nmessage-id:\r\n <x@y>\r\nSubject: s\r\n\r\n" {
		t.Errorf("captured %q", hc.buf)
	}
	if got := mailgen.MessageID(hc.buf); got != "<x@y>" {
		t.Errorf("Message-ID of the captured header: %q", got)
	}
}

func TestAdaptFetch(t *testing.T) {
	apple, err := parseFetchItems("UID FLAGS BODY.PEEK[HEADER.FIELDS (Message-ID)] MODSEQ BINARY.PEEK[1]<0.100> BINARY.SIZE[1]")
	if err != nil {
		t.Fatal(err)
	}
	orig := *apple
	tests := []struct {
		name      string
		caps      imap.CapSet
		same      bool // the options go out unchanged
		modSeq    bool
		binary    bool
		bodyParts int
	}{
		{"condstore and binary", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapCondStore: {}, imap.CapBinary: {}}, true, true, true, 1},
		{"qresync implies condstore; rev2 has binary", imap.CapSet{imap.CapIMAP4rev2: {}, imap.CapQResync: {}}, true, true, true, 1},
		{"rev2 without condstore", imap.CapSet{imap.CapIMAP4rev2: {}}, false, false, true, 1},
		{"plain rev1", imap.CapSet{imap.CapIMAP4rev1: {}}, false, false, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &imapSession{caps: tt.caps}
			got := s.adaptFetch(apple)
			if (got == apple) != tt.same {
				t.Errorf("returned the profile's options: %v, want %v", got == apple, tt.same)
			}
			if got.ModSeq != tt.modSeq || (len(got.BinarySection) > 0) != tt.binary || (len(got.BinarySectionSize) > 0) != tt.binary {
				t.Errorf("got %+v", got)
			}
			if len(got.BodySection) != tt.bodyParts {
				t.Errorf("%d body sections, want %d", len(got.BodySection), tt.bodyParts)
			}
			if !tt.binary {
				b := got.BodySection[len(got.BodySection)-1]
				if !b.Peek || !reflect.DeepEqual(b.Part, []int{1}) || b.Partial == nil || b.Partial.Size != 100 {
					t.Errorf("BINARY.PEEK[1]<0.100> became %+v", b)
				}
			}
			if again := s.adaptFetch(apple); again != got {
				t.Error("second call did not reuse the adapted options")
			}
			if !reflect.DeepEqual(*apple, orig) {
				t.Error("adaptFetch changed the profile's options")
			}
		})
	}
}

// TestIMAPFetchItemsOnServer runs a PC with Apple Mail's fetch items
// (MODSEQ) and a fetch_open made of RFC 3501 and RFC 3516 items against the
// embedded server, which has neither CONDSTORE nor BINARY: the device must
// adapt the items so that no command is refused.
func TestIMAPFetchItemsOnServer(t *testing.T) { forEachIMAPClient(t, testIMAPFetchItemsOnServer) }

func testIMAPFetchItemsOnServer(t *testing.T, env *imapEnv) {
	rec := &imapRecorder{}
	o := env.options(KindPC, rec, func(p *Profile) {
		p.Idle, p.Connections, p.FetchImmediate = false, 1, false
		p.PollInterval = time.Minute
		p.FetchNew = "INTERNALDATE UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (date subject from to cc message-id in-reply-to references)] MODSEQ"
		p.FetchOpen = "BODYSTRUCTURE BINARY.PEEK[1]<0.512> BINARY.SIZE[1] RFC822.HEADER"
	})
	d := startDevice(t, o)
	id := env.deliver(t, 3000)
	waitView(t, d, "new mail", hasAll(id))
	if _, err := d.Do(context.Background(), Action{Kind: ActRead, MessageID: id}); err != nil {
		t.Fatal(err)
	}
	if got := env.truth(t).Messages[id]; got.Flags != view.Seen {
		t.Errorf("server flags %v after read", got.Flags)
	}
	for _, n := range rec.names() {
		if strings.Contains(n, ":") {
			t.Errorf("command %s in %v", n, rec.names())
		}
	}
}

// TestHeaderCaptureReadFrom checks that ReadFrom (the path readFetched
// takes) captures what Write byte by byte captures, counts every byte of
// the literal and passes a read error on, whatever the reader's chunking.
func TestHeaderCaptureReadFrom(t *testing.T) {
	hdr := "From: a@b\r\nMessage-ID: <x@y>\r\n\r\n"
	big := "X-Big: " + strings.Repeat("h", 3*headerBufSize) + "\r\n"
	tests := []struct {
		name  string
		in    string
		all   bool
		limit int
	}{
		{"whole message", hdr + "body\r\n\r\nmore\r\n", false, maxHeaderCapture},
		{"header section", hdr, true, maxHeaderCapture},
		{"header section keeps blank lines", hdr + "tail", true, maxHeaderCapture},
		{"no blank line", "From: a@b\r\nSubject: s\r\n", false, maxHeaderCapture},
		{"header larger than the first buffer", big + hdr + strings.Repeat("b", 10000), false, maxHeaderCapture},
		{"limit", big + hdr + "body", false, 100},
		{"limit in a header section", big, true, headerBufSize + 5},
		{"empty", "", false, maxHeaderCapture},
		{"blank line across reads", strings.Repeat("a", headerBufSize-2) + "\r\n\r\nbody", false, maxHeaderCapture},
	}
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return struct{ io.Reader }{r} }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
	}
	for _, tt := range tests {
		want := headerCapture{limit: tt.limit, all: tt.all}
		for i := 0; i < len(tt.in); i++ {
			_, _ = want.Write([]byte{tt.in[i]})
		}
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				box := getHeaderBuf()
				got := headerCapture{limit: tt.limit, all: tt.all, buf: (*box)[:0]}
				n, err := got.ReadFrom(rd.wrap(strings.NewReader(tt.in)))
				if err != nil || n != int64(len(tt.in)) {
					t.Errorf("ReadFrom = %d, %v; want %d, nil", n, err, len(tt.in))
				}
				if !bytes.Equal(got.buf, want.buf) {
					t.Errorf("captured %q\nwant     %q", abbrev(got.buf), abbrev(want.buf))
				}
				putHeaderBuf(box, got.buf)
			})
		}
	}
	boom := errors.New("boom")
	hc := headerCapture{limit: maxHeaderCapture}
	n, err := hc.ReadFrom(io.MultiReader(strings.NewReader("From: a"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || n != 7 || string(hc.buf) != "From: a" {
		t.Errorf("failing reader: %d, %v, %q; want 7, boom, \"From: a\"", n, err, hc.buf)
	}
}

// abbrev shortens b for a failure message.
func abbrev(b []byte) string {
	if len(b) > 80 {
		return fmt.Sprintf("%s…(%d bytes)", b[:80], len(b))
	}
	return string(b)
}
