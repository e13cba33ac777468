package clients

import (
	"bytes"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailsim/mailsim/internal/mailgen"
)

// maxHeaderCapture bounds the header bytes kept from one fetched message.
const maxHeaderCapture = 64 << 10

// fetched is what the device keeps from one FETCH response. Bodies are
// read and discarded as they stream in; only the header block is kept
// (when asked), never the body.
type fetched struct {
	seq      uint32
	uid      imap.UID
	flags    []imap.Flag
	hasFlags bool
	size     int64
	// id is the Message-ID ("" if none was fetched or the message has none).
	id string
	// header is the raw header block when keepHeader was set.
	header []byte
	// bodyBytes counts the body section bytes received.
	bodyBytes int64
	// content is set when the response carried an ENVELOPE, BODY[...] or
	// BINARY[...] item. A response to a fetch that asked for one but lacks
	// it is an unsolicited flag update (UID FLAGS) the client library
	// routed to the command because it names a UID of the command's set;
	// the command's own response for that UID then went to the unilateral
	// handler.
	content bool
}

// readFetched consumes one message of a FETCH reply. Header sections are
// read into memory to find the Message-ID; other sections are discarded,
// except that the header part of a full-message section is captured when
// keepHeader is set.
func readFetched(m *imapclient.FetchMessageData, keepHeader bool) (fetched, error) {
	f := fetched{seq: m.SeqNum}
	var firstErr error
	for item := m.Next(); item != nil; item = m.Next() {
		switch it := item.(type) {
		case imapclient.FetchItemDataUID:
			f.uid = it.UID
		case imapclient.FetchItemDataFlags:
			f.flags, f.hasFlags = it.Flags, true
		case imapclient.FetchItemDataRFC822Size:
			f.size = it.Size
		case imapclient.FetchItemDataEnvelope:
			f.content = true
			if it.Envelope != nil && it.Envelope.MessageID != "" && f.id == "" {
				f.id = "<" + it.Envelope.MessageID + ">"
			}
		case imapclient.FetchItemDataBodySection:
			f.content = true
			if it.Literal == nil {
				continue
			}
			headerOnly := it.Section != nil && it.Section.Specifier == imap.PartSpecifierHeader && len(it.Section.Part) == 0
			whole := it.Section != nil && it.Section.Specifier == imap.PartSpecifierNone && len(it.Section.Part) == 0 &&
				(it.Section.Partial == nil || it.Section.Partial.Offset == 0)
			if !headerOnly && !whole {
				n, err := io.Copy(io.Discard, it.Literal)
				f.bodyBytes += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				continue
			}
			hc := headerCapture{limit: maxHeaderCapture, all: headerOnly}
			n, err := io.Copy(&hc, it.Literal)
			f.bodyBytes += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if f.id == "" {
				f.id = mailgen.MessageID(hc.buf)
			}
			if keepHeader && f.header == nil {
				f.header = hc.buf
			}
		case imapclient.FetchItemDataBinarySection:
			f.content = true
			if it.Literal == nil {
				continue
			}
			n, err := io.Copy(io.Discard, it.Literal)
			f.bodyBytes += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		default:
			// BODYSTRUCTURE, INTERNALDATE, MODSEQ, BINARY.SIZE, ...:
			// nothing to keep.
		}
	}
	return f, firstErr
}

// headerCapture keeps the leading header block of what is written to it
// (up to the blank line, at most limit bytes) and counts the rest.
type headerCapture struct {
	buf   []byte
	limit int
	all   bool // the whole input is a header section
	done  bool
}

func (h *headerCapture) Write(p []byte) (int, error) {
	if h.done {
		return len(p), nil
	}
	room := h.limit - len(h.buf)
	take := p
	if len(take) > room {
		take = take[:room]
	}
	start := len(h.buf) - 3
	if start < 0 {
		start = 0
	}
	h.buf = append(h.buf, take...)
	if !h.all {
		if i := bytes.Index(h.buf[start:], []byte("\r\n\r\n")); i >= 0 {
			h.buf = h.buf[:start+i+4]
			h.done = true
		}
	}
	if len(h.buf) >= h.limit {
		h.done = true
	}
	return len(p), nil
}
