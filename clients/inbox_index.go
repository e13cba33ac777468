package clients

import (
	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/reftab"
	"github.com/mailsim/mailsim/internal/view"
)

// inboxIndex finds the UIDs of a Message-ID in a device's INBOX without
// looking at every message (imapDevice.locate: an action's message is in
// INBOX but for a retry). It is an open-addressing table of UIDs placed
// by the hash of their Message-ID's handle (4 bytes a slot, at most three quarters
// full and at least a quarter when rebuilt: 5–16 bytes per INBOX
// message), insert only: a slot whose UID no longer holds that
// Message-ID in INBOX (moved, expunged, a new UIDVALIDITY) is stale, and
// find checks every slot it visits against the folder's map, so a stale
// slot costs a probe and never a wrong answer. What the table must hold
// is every message in INBOX: the device adds each one that comes in
// (imapDevice.cameIntoInbox, where its INBOX records change), and the
// table is rebuilt from the folder's map when it fills up, which drops
// the stale slots. The zero value is empty; the device's mutex guards it.
type inboxIndex struct {
	slots []imap.UID // len 0 or a power of two; 0 is a free slot
	n     int        // slots used, stale ones included
	// zero is set while INBOX holds a message with UID 0 (never from a
	// server), which a slot cannot name: find then answers "unusable".
	zero bool
}

// inboxIndexMin is the fewest slots of a table.
const inboxIndexMin = 16

// add records that msgs, the INBOX's map, holds the message uid with
// Message-ID id (view.NoHandle is never looked up: not recorded).
func (x *inboxIndex) add(id view.Handle, uid imap.UID, msgs map[imap.UID]imapMsg) {
	switch {
	case id == view.NoHandle:
		return
	case uid == 0:
		x.zero = true
		return
	case 4*(x.n+1) > 3*len(x.slots):
		x.rebuild(msgs) // msgs holds uid already
		return
	}
	x.insert(id, uid)
}

func (x *inboxIndex) insert(id view.Handle, uid imap.UID) {
	mask := uint64(len(x.slots) - 1)
	i := reftab.Hash32(uint32(id)) & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = uid
	x.n++
}

// rebuild makes the table anew from msgs, at most half full.
func (x *inboxIndex) rebuild(msgs map[imap.UID]imapMsg) {
	size := inboxIndexMin
	for size < 2*len(msgs) {
		size *= 2
	}
	if len(x.slots) == size {
		clear(x.slots)
	} else {
		x.slots = make([]imap.UID, size)
	}
	x.n, x.zero = 0, false
	for uid, m := range msgs {
		switch {
		case m.id == view.NoHandle:
		case uid == 0:
			x.zero = true
		default:
			x.insert(m.id, uid)
		}
	}
}

// find returns the lowest UID at which msgs, the INBOX's map, holds
// Message-ID id, and whether there is one; usable is false when the
// table cannot tell (a UID 0 in INBOX): the caller looks at every
// message.
func (x *inboxIndex) find(id view.Handle, msgs map[imap.UID]imapMsg) (uid imap.UID, found, usable bool) {
	if x.zero {
		return 0, false, false
	}
	if len(x.slots) == 0 {
		return 0, false, true
	}
	mask := uint64(len(x.slots) - 1)
	for i := reftab.Hash32(uint32(id)) & mask; x.slots[i] != 0; i = (i + 1) & mask {
		if u := x.slots[i]; !found || u < uid {
			if m, held := msgs[u]; held && m.id == id {
				uid, found = u, true
			}
		}
	}
	return uid, found, true
}
