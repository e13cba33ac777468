package clients

import (
	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// journalCap bounds the device's own edits a folder remembers for syncs
// running concurrently with actions.
const journalCap = 16

// imapEdit is one change a device's action made to a folder of its view:
// flags added to a message, a message gone (moved or expunged), or a
// message placed (moved or appended here). mailsim's actions only ever add
// flags, so replaying an addition over newer server data loses nothing.
type imapEdit struct {
	gen   uint64
	uid   imap.UID
	flags view.Flags // added flags (kind flags)
	gone  bool       // the message left the folder
	msg   *imapMsg   // the message placed here
}

// apply replays the edit on a folder's message map.
func (e imapEdit) apply(msgs map[imap.UID]imapMsg) {
	switch {
	case e.gone:
		delete(msgs, e.uid)
	case e.msg != nil:
		if _, ok := msgs[e.uid]; !ok {
			msgs[e.uid] = *e.msg
		}
	default:
		if m, ok := msgs[e.uid]; ok && m.flags|e.flags != m.flags {
			msgs[e.uid] = m.withFlags(e.flags)
		}
	}
}

// record notes an edit of the device's own in the folder's journal and
// advances its generation. d.mu must be held.
func (f *imapFolder) record(e imapEdit) {
	f.gen++
	e.gen = f.gen
	if len(f.journal) == journalCap {
		copy(f.journal, f.journal[1:])
		f.journal = f.journal[:journalCap-1]
	}
	f.journal = append(f.journal, e)
}
