package mailserver

import (
	"bytes"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// fetchItem is what Fetch writes for one message, gathered under the lock.
type fetchItem struct {
	seq   uint32
	msg   *message
	flags []imap.Flag
	// setSeen: this FETCH set \Seen, so FLAGS must be sent even if not asked.
	setSeen bool
}

func (s *imapSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if err := s.announceNew(numSet); err != nil {
		return err
	}
	markSeen := false
	if !s.readOnly {
		for _, bs := range options.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range options.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	u := s.user
	u.mu.Lock()
	if err := s.selectedLocked(); err != nil {
		u.mu.Unlock()
		return err
	}
	hits, err := s.resolveLocked(numSet)
	if err != nil {
		u.mu.Unlock()
		return err
	}
	items := make([]fetchItem, len(hits))
	for i, h := range hits {
		it := fetchItem{seq: h.seq, msg: h.msg}
		if markSeen && !h.msg.hasFlag(imap.FlagSeen) {
			if nf, err := applyFlags(h.msg.flags, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}); err == nil {
				h.msg.flags = nf
				s.mbox.queueFlagsLocked(uint32(h.idx)+1, h.msg, s.tracker)
				it.setSeen = true
			}
		}
		if options.Flags || it.setSeen {
			// flag slices are replaced, never modified
			it.flags = s.withRecent(h.msg.uid, h.msg.flags)
		}
		items[i] = it
	}
	u.mu.Unlock()

	for _, it := range items {
		if err := writeFetch(w, it, options); err != nil {
			return err
		}
	}
	return nil
}

// writeFetch writes one FETCH response. It reads only immutable message
// fields, so it runs without the user lock. The response writer is closed
// on every path: go-imap holds the connection's encoder until then, and a
// writer left open after a failed write (a client gone mid-literal) would
// block the session's next reply, and Server.Close, for ever
// (TestFetchCutShortReleasesTheSession).
func writeFetch(w *imapserver.FetchWriter, it fetchItem, options *imap.FetchOptions) error {
	rw := w.CreateMessage(it.seq)
	if err := writeFetchItems(rw, it, options); err != nil {
		rw.Close()
		return err
	}
	return rw.Close()
}

// writeFetchItems writes the items of one FETCH response into rw, which
// the caller closes.
func writeFetchItems(rw *imapserver.FetchResponseWriter, it fetchItem, options *imap.FetchOptions) error {
	m := it.msg
	if options.UID {
		rw.WriteUID(m.uid)
	}
	if it.flags != nil || options.Flags {
		rw.WriteFlags(it.flags)
	}
	if options.InternalDate {
		rw.WriteInternalDate(m.date)
	}
	if options.RFC822Size {
		rw.WriteRFC822Size(m.size())
	}
	if options.Envelope {
		rw.WriteEnvelope(envelopeOf(m))
	}
	if options.BodyStructure != nil {
		rw.WriteBodyStructure(imapserver.ExtractBodyStructure(bytes.NewReader(m.raw)))
	}
	for _, bs := range options.BodySection {
		b := bodySection(m, bs)
		wc := rw.WriteBodySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			wc.Close()
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		b := imapserver.ExtractBinarySection(bytes.NewReader(m.raw), bs)
		wc := rw.WriteBinarySection(bs, int64(len(b)))
		if _, err := wc.Write(b); err != nil {
			wc.Close()
			return err
		}
		if err := wc.Close(); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		rw.WriteBinarySectionSize(bss, imapserver.ExtractBinarySectionSize(bytes.NewReader(m.raw), bss))
	}
	return nil
}

// bodySection returns the bytes of one BODY[...] item. The common whole
// message, header and text sections are sliced from the stored bytes; the
// rest go through the library's MIME walker.
func bodySection(m *message, bs *imap.FetchItemBodySection) []byte {
	if len(bs.Part) > 0 || len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0 {
		return imapserver.ExtractBodySection(bytes.NewReader(m.raw), bs)
	}
	var b []byte
	switch bs.Specifier {
	case imap.PartSpecifierNone:
		b = m.raw
	case imap.PartSpecifierHeader:
		b = m.raw[:m.hdrLen]
	case imap.PartSpecifierText:
		b = m.raw[m.hdrLen:]
	default:
		return imapserver.ExtractBodySection(bytes.NewReader(m.raw), bs)
	}
	if p := bs.Partial; p != nil {
		if p.Offset >= int64(len(b)) {
			return nil
		}
		end := p.Offset + p.Size
		if end > int64(len(b)) || end < p.Offset {
			end = int64(len(b))
		}
		b = b[p.Offset:end]
	}
	return b
}
