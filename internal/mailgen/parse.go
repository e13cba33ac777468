package mailgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/emersion/go-message/textproto"
)

// ErrNoHeader is returned by ParseHeader for input without any header
// field.
var ErrNoHeader = errors.New("mailgen: no header fields")

// ParseHeader reads the fields of Header from raw, a full message or just
// its header block (as an IMAP BODY[HEADER.FIELDS (...)] returns it), with
// go-message's textproto: field names match case-insensitively, folded
// lines are unfolded, CRLF and LF line endings are accepted, a leading mbox
// "From " line is skipped. Missing fields are left empty.
//
// To holds the addr-specs of the To field, parsed with net/mail (so a
// comma inside a quoted display name does not split an address); a To
// value net/mail cannot parse is kept whole as the only element.
func ParseHeader(raw []byte) (Header, error) {
	hdr, err := readHeader(raw)
	if err != nil {
		return Header{}, err
	}
	if hdr.Len() == 0 {
		return Header{}, ErrNoHeader
	}
	return Header{
		ID:         hdr.Get("Message-Id"),
		From:       hdr.Get("From"),
		Subject:    hdr.Get("Subject"),
		InReplyTo:  hdr.Get("In-Reply-To"),
		References: strings.Join(strings.Fields(hdr.Get("References")), " "),
		Date:       hdr.Get("Date"),
		To:         addrSpecs(hdr.Get("To")),
	}, nil
}

// MessageID returns the Message-ID of raw, a full message or its header
// block, angle brackets kept, or "" when it has none. It is lenient: the
// fields before a malformed line still count, so a message that is broken
// further down keeps its identity.
func MessageID(raw []byte) string {
	hdr, _ := readHeader(raw)
	return hdr.Get("Message-Id")
}

// readBuffer is the read buffer of readHeader: header lines are short, and a
// longer one is still read whole (textproto joins the pieces), so a small
// buffer saves allocating bufio's default 4 KiB for every message parsed.
const readBuffer = 512

// readHeader parses the header block at the start of raw. The header read
// up to a malformed line is returned with the error; reaching the end of
// raw without a blank line is not an error.
func readHeader(raw []byte) (textproto.Header, error) {
	if bytes.HasPrefix(raw, []byte("From ")) {
		// An mbox separator line, not a field.
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	hdr, err := textproto.ReadHeader(bufio.NewReaderSize(bytes.NewReader(raw), readBuffer))
	if err != nil && !errors.Is(err, io.EOF) {
		return hdr, fmt.Errorf("mailgen: header: %w", err)
	}
	return hdr, nil
}

// addrSpecs returns the addr-specs of an address-list field value, in
// order; a value net/mail cannot parse is returned whole (trimmed), an
// empty one as nil.
func addrSpecs(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	list, err := mail.ParseAddressList(v)
	if err != nil {
		return []string{v}
	}
	out := make([]string, 0, len(list))
	for _, a := range list {
		out = append(out, a.Address)
	}
	return out
}
