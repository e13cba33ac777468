package mailserver

import (
	"bufio"
	"bytes"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
)

func (s *imapSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	u := s.user
	u.mu.Lock()
	if err := s.selectedLocked(); err != nil {
		u.mu.Unlock()
		return nil, err
	}
	msgs := s.mbox.msgs
	prevRes := s.searchRes
	var starSeq uint32
	var starUID imap.UID
	seqs := make([]uint32, len(msgs))
	for i := range msgs {
		seqs[i] = s.tracker.EncodeSeqNum(uint32(i) + 1)
		if seqs[i] != 0 {
			starSeq = seqs[i]
		}
	}
	if len(msgs) > 0 {
		starUID = msgs[len(msgs)-1].uid
	}
	type cand struct {
		seq   uint32
		msg   *message
		flags []imap.Flag
	}
	cands := make([]cand, 0, len(msgs))
	for i, m := range msgs {
		if seqs[i] != 0 {
			cands = append(cands, cand{seqs[i], m, s.withRecent(m.uid, m.flags)})
		}
	}
	u.mu.Unlock()

	data := &imap.SearchData{}
	var seqSet imap.SeqSet
	var uidSet imap.UIDSet
	for _, c := range cands {
		mc := matchCtx{seq: c.seq, msg: c.msg, flags: c.flags, starSeq: starSeq, starUID: starUID, searchRes: prevRes}
		if !mc.match(criteria) {
			continue
		}
		n := c.seq
		uidSet.AddNum(c.msg.uid)
		if kind == imapserver.NumKindUID {
			n = uint32(c.msg.uid)
		} else {
			seqSet.AddNum(c.seq)
		}
		if data.Min == 0 || n < data.Min {
			data.Min = n
		}
		if n > data.Max {
			data.Max = n
		}
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uidSet
	} else {
		data.All = seqSet
	}
	if options.ReturnSave {
		s.searchRes = uidSet
	}
	return data, nil
}

// matchCtx evaluates SEARCH criteria against one message, parsing its
// header lazily.
type matchCtx struct {
	seq     uint32
	msg     *message
	flags   []imap.Flag
	starSeq uint32
	starUID imap.UID
	// searchRes is the saved result "$" stands for.
	searchRes imap.UIDSet
	hdr       *mail.Header
}

func (mc *matchCtx) header() *mail.Header {
	if mc.hdr == nil {
		h, _ := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(mc.msg.raw[:mc.msg.hdrLen])))
		mc.hdr = &mail.Header{Header: gomessage.Header{Header: h}}
	}
	return mc.hdr
}

func (mc *matchCtx) hasFlag(f imap.Flag) bool {
	cf, ok := canonicalFlag(f)
	if !ok && f != "" {
		cf = flagRecent // the session flag, which canonicalFlag refuses
	}
	for _, g := range mc.flags {
		if strings.EqualFold(string(g), string(cf)) {
			return true
		}
	}
	return false
}

func (mc *matchCtx) match(c *imap.SearchCriteria) bool {
	for _, set := range c.SeqNum {
		if !inRanges(set, mc.seq, mc.starSeq) {
			return false
		}
	}
	for _, set := range c.UID {
		if imap.IsSearchRes(set) {
			set = mc.searchRes
		}
		if !inUIDRanges(set, mc.msg.uid, mc.starUID) {
			return false
		}
	}
	day := func(t time.Time) time.Time { y, m, d := t.Date(); return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	if !c.Since.IsZero() && day(mc.msg.date).Before(day(c.Since)) {
		return false
	}
	if !c.Before.IsZero() && !day(mc.msg.date).Before(day(c.Before)) {
		return false
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sent, err := mc.header().Date()
		if err != nil {
			return false
		}
		if !c.SentSince.IsZero() && day(sent).Before(day(c.SentSince)) {
			return false
		}
		if !c.SentBefore.IsZero() && !day(sent).Before(day(c.SentBefore)) {
			return false
		}
	}
	for _, hf := range c.Header {
		values := mc.header().Values(hf.Key)
		found := false
		for _, v := range values {
			if containsFold(v, hf.Value) || addressContains(hf.Key, v, hf.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, b := range c.Body {
		if !containsFold(string(mc.msg.raw[mc.msg.hdrLen:]), b) {
			return false
		}
	}
	for _, t := range c.Text {
		if !containsFold(string(mc.msg.raw), t) {
			return false
		}
	}
	for _, f := range c.Flag {
		if !mc.hasFlag(f) {
			return false
		}
	}
	for _, f := range c.NotFlag {
		if mc.hasFlag(f) {
			return false
		}
	}
	if c.Larger > 0 && mc.msg.size() <= c.Larger {
		return false
	}
	if c.Smaller > 0 && mc.msg.size() >= c.Smaller {
		return false
	}
	for i := range c.Not {
		if mc.match(&c.Not[i]) {
			return false
		}
	}
	for i := range c.Or {
		if !mc.match(&c.Or[i][0]) && !mc.match(&c.Or[i][1]) {
			return false
		}
	}
	return true
}

// containsFold reports whether substr is in s, ignoring ASCII case.
func containsFold(s, substr string) bool {
	if substr == "" {
		return true
	}
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}

// addressContains reports whether an address header value (From, To, ...)
// contains substr once parsed: comments and quoting gone, each address as
// "Name <mailbox@host>", as Dovecot searches addresses.
func addressContains(key, value, substr string) bool {
	isAddr := false
	for _, k := range envelopeAddressFields {
		isAddr = isAddr || strings.EqualFold(k, key)
	}
	if !isAddr {
		return false
	}
	for _, a := range parseAddressList(value) {
		if a.Host == "" {
			continue // group markers
		}
		if containsFold(a.Name+" <"+a.Mailbox+"@"+a.Host+">", substr) {
			return true
		}
	}
	return false
}
