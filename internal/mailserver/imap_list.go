package mailserver

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/mailsim/mailsim/internal/view"
)

// Subscriptions and LIST, as RFC 3501 (LIST, LSUB) and RFC 5258
// (LIST-EXTENDED) describe them: a subscription is a name, not a mailbox,
// so it outlives DELETE and may name a mailbox that does not exist; "%"
// also matches the levels of hierarchy above existing (or subscribed)
// names, which are then listed as \Noselect.

func (s *imapSession) Subscribe(name string) error {
	if err := invalidNameError(name); err != nil {
		return err
	}
	u := s.user
	u.mu.Lock()
	defer u.mu.Unlock()
	name = canonicalName(strings.TrimSuffix(name, string(delim)))
	if !validMailboxName(name) {
		return storeError(errBadMailboxName)
	}
	if mb := u.mailboxLocked(name); mb != nil {
		mb.subscribed = true
		return nil
	}
	if _, ok := u.subs[name]; !ok && len(u.subs) >= s.srv.store.maxBoxes {
		return storeError(errTooManyBoxes)
	}
	u.subs[name] = struct{}{}
	return nil
}

func (s *imapSession) Unsubscribe(name string) error {
	if err := invalidNameError(name); err != nil {
		return err
	}
	u := s.user
	u.mu.Lock()
	defer u.mu.Unlock()
	name = canonicalName(strings.TrimSuffix(name, string(delim)))
	if mb := u.mailboxLocked(name); mb != nil {
		mb.subscribed = false
	}
	delete(u.subs, name)
	return nil
}

// parentsOf calls f with every proper ancestor of name, nearest first.
func parentsOf(name string, f func(parent string)) {
	for i := strings.LastIndexByte(name, delim); i > 0; i = strings.LastIndexByte(name[:i], delim) {
		f(name[:i])
	}
}

// listMatcher matches mailbox names against the reference and patterns of
// one LIST command.
type listMatcher struct {
	ref      string
	patterns []string
}

// match reports whether name matches a pattern; onlyPercent restricts the
// test to patterns ending in "%", the ones that also return the levels of
// hierarchy above a name (RFC 3501 6.3.8).
func (m listMatcher) match(name string, onlyPercent bool) bool {
	for _, p := range m.patterns {
		if onlyPercent && !strings.HasSuffix(p, "%") {
			continue
		}
		if matchMailbox(name, m.ref, p) {
			return true
		}
		// INBOX is case-insensitive, in patterns too.
		if (name == view.FolderInbox || strings.HasPrefix(name, view.FolderInbox+string(delim))) && m.ref == "" &&
			len(p) >= 5 && strings.EqualFold(p[:5], view.FolderInbox) &&
			matchMailbox(name, "", view.FolderInbox+p[5:]) {
			return true
		}
	}
	return false
}

// matchMailbox reports whether name matches the LIST reference and
// pattern, as imapserver.MatchList does (a pattern starting with the
// delimiter ignores the reference, which is a literal prefix), but in
// O(len(name)·len(pattern)) time: the library's backtracking takes
// exponential time on patterns such as "*a*a*a*a*a*a*a*a*b", with the
// user's lock held.
func matchMailbox(name, ref, pattern string) bool {
	if strings.HasPrefix(pattern, string(delim)) {
		ref, pattern = "", pattern[1:]
	}
	if ref != "" {
		if !strings.HasSuffix(ref, string(delim)) {
			ref += string(delim)
		}
		rest, ok := strings.CutPrefix(name, ref)
		if !ok {
			return false
		}
		name = rest
	}
	return globMatch(name, pattern)
}

// globMatch reports whether name matches pattern, where "*" matches any
// run of characters and "%" any run without the hierarchy delimiter.
func globMatch(name, pattern string) bool {
	// Runs of wildcards collapse to one ("*" if the run holds one), and a
	// pattern with more literal bytes than name cannot match: this bounds
	// the work by the name's length whatever the pattern's.
	p := make([]byte, 0, len(pattern))
	literals := 0
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if (c == '*' || c == '%') && len(p) > 0 && (p[len(p)-1] == '*' || p[len(p)-1] == '%') {
			if c == '*' {
				p[len(p)-1] = '*'
			}
			continue
		}
		if c != '*' && c != '%' {
			literals++
			if literals > len(name) {
				return false
			}
		}
		p = append(p, c)
	}
	// cur[j]: p[:j] matches the part of name read so far.
	cur, next := make([]bool, len(p)+1), make([]bool, len(p)+1)
	cur[0] = true
	for j := 1; j <= len(p) && (p[j-1] == '*' || p[j-1] == '%'); j++ {
		cur[j] = true
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		next[0] = false
		for j := 1; j <= len(p); j++ {
			switch p[j-1] {
			case '*':
				next[j] = next[j-1] || cur[j]
			case '%':
				next[j] = next[j-1] || (cur[j] && c != delim)
			default:
				next[j] = cur[j-1] && p[j-1] == c
			}
		}
		cur, next = next, cur
	}
	return cur[len(p)]
}

// listDataLocked describes mb for LIST. u.mu must be held.
func (s *imapSession) listDataLocked(u *user, mb *mailbox, options *imap.ListOptions) *imap.ListData {
	return listEntryLocked(u, mb.name, mb, hasChildrenLocked(u, mb.name), options)
}

// hasChildrenLocked reports whether an existing mailbox sits below name.
// u.mu must be held.
func hasChildrenLocked(u *user, name string) bool {
	prefix := name + string(delim)
	for n := range u.mailboxes {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}

// listEntryLocked builds the LIST data of name; mb is nil when no mailbox
// of that name exists. u.mu must be held.
func listEntryLocked(u *user, name string, mb *mailbox, hasChildren bool, options *imap.ListOptions) *imap.ListData {
	data := &imap.ListData{Delim: delim, Mailbox: name}
	subscribed := false
	if mb != nil {
		subscribed = mb.subscribed
	} else {
		_, subscribed = u.subs[name]
	}
	switch {
	case mb == nil && subscribed:
		// a subscription whose mailbox is gone (RFC 5258 3.4)
		data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
	case mb == nil:
		data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
	}
	if hasChildren {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
	} else if mb != nil {
		data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
	}
	if mb != nil && mb.attr != "" {
		data.Attrs = append(data.Attrs, mb.attr)
	}
	if options != nil && (options.ReturnSubscribed || options.SelectSubscribed) && subscribed {
		data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
	}
	if mb != nil && options != nil && options.ReturnStatus != nil {
		data.Status = statusLocked(mb, options.ReturnStatus)
	}
	return data
}

func (s *imapSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	// The library drops empty patterns: LIST "" "" arrives with none, and
	// asks for the hierarchy delimiter (RFC 3501 6.3.8).
	if len(patterns) == 0 || (len(patterns) == 1 && patterns[0] == "") {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim, Mailbox: ""})
	}
	out := s.listLocked(listMatcher{ref: ref, patterns: patterns}, options)
	for _, d := range out {
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

// listLocked computes the LIST (or LSUB) answer under the user lock, which
// it takes itself.
func (s *imapSession) listLocked(m listMatcher, options *imap.ListOptions) []*imap.ListData {
	u := s.user
	u.mu.Lock()
	defer u.mu.Unlock()

	// hasChildren: every level above an existing mailbox.
	hasChildren := make(map[string]bool)
	for n := range u.mailboxes {
		parentsOf(n, func(p string) { hasChildren[p] = true })
	}
	subscribed := func(n string) bool {
		if mb := u.mailboxes[n]; mb != nil {
			return mb.subscribed
		}
		_, ok := u.subs[n]
		return ok
	}
	// candidates: the names the selection criteria pick.
	var candidates []string
	if options.SelectSubscribed {
		for n, mb := range u.mailboxes {
			if mb.subscribed {
				candidates = append(candidates, n)
			}
		}
		for n := range u.subs {
			candidates = append(candidates, n)
		}
	} else {
		for n := range u.mailboxes {
			candidates = append(candidates, n)
		}
	}

	entries := make(map[string]*imap.ListData)
	for _, n := range candidates {
		mb := u.mailboxes[n]
		if options.SelectSpecialUse && (mb == nil || mb.attr == "") {
			continue
		}
		if m.match(n, false) {
			entries[n] = listEntryLocked(u, n, mb, hasChildren[n], options)
		}
	}
	if !options.SelectSpecialUse {
		for _, n := range candidates {
			parentsOf(n, func(p string) {
				if entries[p] != nil || !m.match(p, !options.SelectRecursiveMatch) {
					return
				}
				switch {
				case options.SelectRecursiveMatch:
					// RFC 5258 3.5: a parent that does not meet the
					// criteria itself is listed when a descendant does
					// but no pattern matches that descendant.
					if subscribed(p) || m.match(n, false) {
						return
					}
					d := listEntryLocked(u, p, u.mailboxes[p], hasChildren[p], nil)
					d.ChildInfo = &imap.ListDataChildInfo{Subscribed: true}
					entries[p] = d
				case !options.SelectSubscribed && u.mailboxes[p] != nil:
					// an existing mailbox is a candidate of its own
				default:
					entries[p] = &imap.ListData{Delim: delim, Mailbox: p,
						Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}}
				}
			})
		}
	}

	out := make([]*imap.ListData, 0, len(entries))
	for _, d := range entries {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Mailbox, out[j].Mailbox
		if (a == view.FolderInbox) != (b == view.FolderInbox) {
			return a == view.FolderInbox
		}
		return a < b
	})
	return out
}
