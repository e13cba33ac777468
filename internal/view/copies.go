package view

// A Message-ID can be held more than once by one user: the same message in
// two folders (mail sent to oneself, a move made of COPY then EXPUNGE) or
// delivered twice into one. A view shows one copy per Message-ID, and every
// reader — the devices (clients/imap_device.go View, clients/imap_actions.go
// locate), the auditor's readers of the server (internal/serverstate/imap.go,
// internal/mailserver/server.go UserState) — picks the same one with Prefer,
// so they agree on the copy they show and act on. Never a map's order.

// Copy is one copy of a message where a reader found it.
type Copy struct {
	// Folder is the folder (mailbox) that holds the copy.
	Folder string
	// UID is the copy's IMAP UID in Folder, 0 when unknown.
	UID uint32
	// Stamps are, for a device's copy, the syncs that brought it and its
	// flags into the view (Message.Stamps); zero for a reader of the
	// server. Prefer does not look at them.
	Stamps Stamps
}

// DefaultTrash is the usual name of the trash folder (one of the names
// Prefer takes for trash when given none).
const DefaultTrash = "Trash"

// Prefer reports whether copy a rather than copy b is the one shown for a
// Message-ID held more than once: a copy outside trash (the folder named
// trash, the folder of the trash role when empty) first, then the copy in INBOX, then the
// folder whose name sorts first, then the lower UID. It is a strict order:
// Prefer(a, b) and Prefer(b, a) are both false only when a == b.
func Prefer(a, b Copy, trash string) bool {
	isTrash := func(f string) bool { return f == trash }
	if trash == "" {
		// No trash named: the folder of the trash role (DefaultTrash,
		// INBOX.Trash, Deleted Items, ...; see folders.go).
		isTrash = func(f string) bool { return FolderRole(f) == RoleTrash }
	}
	if ta, tb := isTrash(a.Folder), isTrash(b.Folder); ta != tb {
		return tb
	}
	if (a.Folder == FolderInbox) != (b.Folder == FolderInbox) {
		return a.Folder == FolderInbox
	}
	if a.Folder != b.Folder {
		return a.Folder < b.Folder
	}
	return a.UID < b.UID
}

// Pick builds the messages of a view from every copy a reader holds: copies
// must call add once for every copy, and call it the same way when called
// again. Each Message-ID gets the folder and flags of the copy Prefer picks
// among its copies, whatever the order copies are added in. copies is
// called a second time only when some Message-ID has several copies.
// size, when known, is the number of copies (the map is made that large
// at once), else 0.
func Pick(trash string, size int, copies func(add func(id string, c Copy, flags Flags))) map[string]Message {
	out := make(map[string]Message, size)
	var dups map[string]*Copy // the best copy so far of each Message-ID held more than once
	copies(func(id string, c Copy, f Flags) {
		if _, ok := out[id]; !ok {
			out[id] = Message{ID: id, Folder: c.Folder, Flags: f & Tracked, Stamps: c.Stamps}
			return
		}
		if dups == nil {
			dups = make(map[string]*Copy)
		}
		dups[id] = nil
	})
	if dups == nil {
		return out
	}
	copies(func(id string, c Copy, f Flags) {
		best, ok := dups[id]
		if !ok || best != nil && !Prefer(c, *best, trash) {
			return
		}
		dups[id] = &c
		out[id] = Message{ID: id, Folder: c.Folder, Flags: f & Tracked, Stamps: c.Stamps}
	})
	return out
}
