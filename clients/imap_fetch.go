package clients

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/view"
)

// maxHeaderCapture bounds the header bytes kept from one fetched message.
const maxHeaderCapture = 64 << 10

// fetched is what the device keeps from one FETCH response. Bodies are
// read and discarded as they stream in; only the header block is kept
// (when asked), never the body.
type fetched struct {
	seq uint32
	uid imap.UID
	// flags are valid during the callback the response is given to (the
	// lean client reuses them for the next response).
	flags    []imap.Flag
	hasFlags bool
	size     int64
	// id is the Message-ID ("" if none was fetched or the message has
	// none, or it is in idBytes).
	id string
	// idBytes is the Message-ID the lean client found in a header, valid
	// only during the callback (id is "" then): looked up by its bytes
	// (handle), no string is made of it.
	idBytes []byte
	// header is the raw header block when keepHeader was set.
	header []byte
	// bodyBytes counts the body section bytes received.
	bodyBytes int64
	// content is set when the response carried an ENVELOPE, BODY[...] or
	// BINARY[...] item. A response to a fetch that asked for one
	// (asksContent) but lacks it is another session's flag change (UID
	// FLAGS) that the client routed to the command because it names a UID
	// of the command's set: the conns give it to the session as an update
	// (imapSession.poke) instead of to the command's callback, so that it
	// is not lost (go-imap's client then gives the command's own response
	// for that UID to its unilateral handler).
	content bool
}

// asksContent reports whether a fetch asks for an item that sets
// fetched.content.
func asksContent(opts *imap.FetchOptions) bool {
	return opts.Envelope || len(opts.BodySection) > 0 || len(opts.BinarySection) > 0
}

// readFetched consumes one message of a FETCH reply. Header sections are
// read into memory to find the Message-ID; other sections are discarded,
// except that the header part of a full-message section is captured when
// keepHeader is set. A literal that fails to read (the connection broke or
// timed out in its middle, or ended before the literal's size) ends the
// message with the error: reading on
// would make the library discard the literal's rest from the connection's
// buffer while its reader goroutine, released by the error, decodes from
// the same buffer (a data race).
func readFetched(m *imapclient.FetchMessageData, keepHeader bool) (fetched, error) {
	f := fetched{seq: m.SeqNum}
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
				if err := literalCut(it.Literal, n, err); err != nil {
					return f, err
				}
				continue
			}
			box := getHeaderBuf()
			hc := headerCapture{limit: maxHeaderCapture, all: headerOnly, buf: (*box)[:0]}
			n, err := hc.ReadFrom(it.Literal)
			f.bodyBytes += n
			if err := literalCut(it.Literal, n, err); err != nil {
				putHeaderBuf(box, hc.buf)
				return f, err
			}
			if f.id == "" {
				f.id = mailgen.MessageID(hc.buf)
			}
			if keepHeader && f.header == nil && len(hc.buf) > 0 {
				f.header = bytes.Clone(hc.buf)
			}
			putHeaderBuf(box, hc.buf)
		case imapclient.FetchItemDataBinarySection:
			f.content = true
			if it.Literal == nil {
				continue
			}
			n, err := io.Copy(io.Discard, it.Literal)
			f.bodyBytes += n
			if err := literalCut(it.Literal, n, err); err != nil {
				return f, err
			}
		default:
			// BODYSTRUCTURE, INTERNALDATE, MODSEQ, BINARY.SIZE, ...:
			// nothing to keep.
		}
	}
	return f, nil
}

// abandonReply ends c after readFetched failed in a literal: the
// library's reader goroutine, released by the failed read, goes on
// decoding from the connection's buffer, and whatever touches the reply
// again (FetchMessageData.Next, FetchCommand.Next or Close discard the
// literal's rest from that buffer) would race with it. The connection is
// lost anyway: close it and wait (at most wait) for the reader to end; the
// session is then broken.
func abandonReply(c *imapclient.Client, wait time.Duration) {
	_ = c.Close()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.Closed():
	case <-t.C:
	}
}

// literalCut returns the error of reading n bytes of lit: err, or
// io.ErrUnexpectedEOF when the connection ended before the literal's size
// (a reader reports that as a plain EOF).
func literalCut(lit imap.LiteralReader, n int64, err error) error {
	if err != nil {
		return err
	}
	if n < lit.Size() {
		return fmt.Errorf("literal ended after %d of %d bytes: %w", n, lit.Size(), io.ErrUnexpectedEOF)
	}
	return nil
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
	start := max(len(h.buf)-3, 0)
	h.buf = append(h.buf, take...)
	h.scan(start)
	return len(p), nil
}

// ReadFrom reads r to its end: the header block straight into h.buf, the
// rest through io.Discard (which pools its buffer). io.Copy into a writer
// without ReadFrom allocates a 32 KiB buffer per call, which was 68 % of the
// bytes a busy run allocated (issue 14; BenchmarkIMAPCommandClient/headers20).
func (h *headerCapture) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for !h.done {
		if len(h.buf) == cap(h.buf) {
			h.buf = slices.Grow(h.buf, min(max(cap(h.buf), headerBufSize), h.limit-len(h.buf)))
		}
		end := min(cap(h.buf), h.limit)
		start := max(len(h.buf)-3, 0)
		m, err := r.Read(h.buf[len(h.buf):end])
		n += int64(m)
		h.buf = h.buf[:len(h.buf)+m]
		h.scan(start)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
	rest, err := io.Copy(io.Discard, r)
	return n + rest, err
}

// scan ends the capture at the blank line that ends the header block, if
// it is in h.buf after start (unless the whole input is a header section),
// or when the limit is reached.
func (h *headerCapture) scan(start int) {
	if !h.all {
		if i := bytes.Index(h.buf[start:], []byte("\r\n\r\n")); i >= 0 {
			h.buf = h.buf[:start+i+4]
			h.done = true
		}
	}
	if len(h.buf) >= h.limit {
		h.done = true
	}
}

// headerBufSize is the first size of a header capture's buffer: most
// header blocks fit.
const headerBufSize = 4 << 10

// headerBufs recycles the buffers of header captures, boxed (*[]byte) so
// that a Put does not allocate.
var headerBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledHeaderBuf is the largest buffer headerBufs keeps; a capture that
// grew past it (a huge header block) leaves its buffer to the GC.
const maxPooledHeaderBuf = 4 * headerBufSize

// getHeaderBuf takes a box from headerBufs; its slice may be nil.
func getHeaderBuf() *[]byte { return headerBufs.Get().(*[]byte) }

// putHeaderBuf returns box to headerBufs holding buf, which the caller no
// longer uses.
func putHeaderBuf(box *[]byte, buf []byte) {
	if cap(buf) > maxPooledHeaderBuf {
		buf = nil
	}
	*box = buf[:0]
	headerBufs.Put(box)
}

// hasID reports whether the response carried a Message-ID.
func (f *fetched) hasID() bool { return f.id != "" || len(f.idBytes) > 0 }

// handle returns the handle of the response's Message-ID in in (NoHandle
// for none).
func (f *fetched) handle(in *view.Interner) view.Handle {
	if len(f.idBytes) > 0 {
		return in.HandleBytes(f.idBytes)
	}
	return in.Handle(f.id)
}
