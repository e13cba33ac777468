package clients

import (
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
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

func TestHeaderValue(t *testing.T) {
	hdr := []byte("From: a@b\r\nmessage-id:\r\n <x@y>\r\nSubject: s\r\n\r\nMessage-ID: <body@z>\r\n")
	if got := headerValue(hdr, "Message-ID"); got != "<x@y>" {
		t.Errorf("folded Message-ID: %q", got)
	}
	if got := headerValue(hdr, "To"); got != "" {
		t.Errorf("missing field: %q", got)
	}
	var hc headerCapture
	hc.limit = 1 << 10
	for _, b := range hdr {
		_, _ = hc.Write([]byte{b})
	}
	if string(hc.buf) != "From: a@b\r\nmessage-id:\r\n <x@y>\r\nSubject: s\r\n\r\n" {
		t.Errorf("captured %q", hc.buf)
	}
}
