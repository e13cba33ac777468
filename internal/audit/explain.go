package audit

import (
	"sort"

	"github.com/mailsim/mailsim/internal/view"
)

// MaxUnexplainedListed bounds Result.Unexplained.
const MaxUnexplainedListed = 20

// UnexplainedMessage is a divergent message of the final audit that nothing
// explains, with what each device and the server show of it.
type UnexplainedMessage struct {
	User, MessageID string
	// Dimensions it diverges in: "presence", "folder", "flags".
	Dimensions []string
	// Shown maps each device ID to what it shows: the folder and flags,
	// e.g. `INBOX (\Seen)`, or "-" when it does not show the message.
	Shown map[string]string
	// Server is what the server's state shows, "-" when it does not have
	// the message, "" when the server was not read.
	Server string
}

// divergentMessage is one divergent Message-ID of a user.
type divergentMessage struct {
	id                     string
	presence, folder, flag bool
}

func (d divergentMessage) dimensions() []string {
	var out []string
	for _, x := range []struct {
		on   bool
		name string
	}{{d.presence, "presence"}, {d.folder, "folder"}, {d.flag, "flags"}} {
		if x.on {
			out = append(out, x.name)
		}
	}
	return out
}

// divergentMessages returns the divergent messages of views, sorted by
// Message-ID; they are the ones Compare counts in Divergent.
func divergentMessages(views []view.Snapshot) []divergentMessage {
	if len(views) < 2 {
		return nil
	}
	var out []divergentMessage
	walkUnion(views, func(id string, presence, folder, flags bool) {
		if presence || folder || flags {
			out = append(out, divergentMessage{id, presence, folder, flags})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// changelessReason says why message d diverges when no pending change is
// about it, from the views and the server's state (nil: not read, and then
// what only the server could tell is ReasonServerUnreadable): the first
// reason in Reasons over the devices that differ, or ReasonUnexplained when
// any of them differs for no known cause.
func changelessReason(u *user, devs []DeviceSpec, views []view.Snapshot, server *view.Snapshot, d divergentMessage) Reason {
	var sm view.Message
	onServer := false
	if server != nil {
		sm, onServer = server.Messages[d.id]
	}
	folder := sm.Folder // where the message belongs: the server's folder, else where a device shows it
	if !onServer {
		for _, v := range views {
			if m, ok := v.Messages[d.id]; ok {
				folder = m.Folder
				break
			}
		}
	}
	deleted := u.has(d.id, markDeleted)
	// stored: delivered or sent in the run. A message no change stored
	// that the server lacks was never on it: a POP3 device's own (the
	// draft of a send the run's end cut, clients/pop3_device.go).
	stored := u.has(d.id, markStored)
	var best Reason
	for i, v := range views {
		m, shown := v.Messages[d.id]
		var r Reason
		switch {
		case server != nil && !onServer:
			// Gone from the server: a POP3 device that shows it keeps its
			// own copy (an IMAP device shows the server's mailbox), or
			// made it there and never sent it; one that does not lost it
			// to the server, unless a person deleted it or the server
			// never had it.
			switch {
			case shown && devs[i].Protocol == "pop3" && !stored:
				r = ReasonPOP3LocalOnly
			case shown && devs[i].Protocol == "pop3":
				r = ReasonKeptLocally
			case shown:
				return ReasonUnexplained
			case deleted, !stored:
				continue
			default:
				r = ReasonDeletedFromServer
			}
		case !shown && onServer && devs[i].Protocol != "pop3" && u.draftUnsynced(d.id, v, folder):
			// A draft saved after the IMAP device's last sync (POP3 reads
			// only INBOX: it never shows Drafts, however recently it
			// synced).
			r = ReasonNotSyncedYet
		case !shown:
			r = missingReason(devs[i].Protocol, v, server, folder)
		case syncedSince(v, folder, m.Folder).IsZero() && (!view.SameFolder(m.Folder, sm.Folder) || m.Flags&view.Tracked != sm.Flags&view.Tracked || server == nil):
			r = ReasonNotSyncedYet // differs, and never completed a sync of the folders
		case server == nil:
			r = ReasonServerUnreadable // shown, and nothing says which device is right
		case !view.SameFolder(m.Folder, sm.Folder):
			if showsServerFolder(devs[i].Protocol, v, *server, sm.Folder) {
				return ReasonUnexplained
			}
			r = ReasonFolderNotSynced
		case m.Flags&view.Tracked != sm.Flags&view.Tracked:
			if devs[i].Protocol != "pop3" {
				return ReasonUnexplained // IMAP devices show the server's flags
			}
			r = ReasonFlagsNotSynced // POP3 keeps flags on the device
		default:
			continue // the device shows what the server has
		}
		if r == ReasonUnexplained {
			return r
		}
		if best == "" || reasonRank(r) < reasonRank(best) {
			best = r
		}
	}
	if best == "" {
		return ReasonUnexplained
	}
	return best
}

// draftUnsynced reports whether id is a draft one of u's devices left on
// the server (Change.Draft) that device view v, which does not show it in
// folder, has not synced since it was saved (syncedSince, as for a change
// into folder).
func (u *user) draftUnsynced(id string, v view.Snapshot, folder string) bool {
	saved, ok := u.drafts[id]
	if !ok {
		return false
	}
	s := syncedSince(v, folder, "")
	return s.IsZero() || s.Before(saved)
}

// missingReason says why device view v, of a device speaking protocol, does
// not show a message the server has in folder (server nil: not read). A
// device that never completed a sync of folder, nor listed its folders
// since (syncedSince), has not synced it yet; its other folders do not
// count.
func missingReason(protocol string, v view.Snapshot, server *view.Snapshot, folder string) Reason {
	switch {
	case syncedSince(v, folder, "").IsZero():
		return ReasonNotSyncedYet
	case outsideWindow(v, folder):
		return ReasonOutsideWindow
	case server == nil:
		return ReasonServerUnreadable
	case !showsServerFolder(protocol, v, *server, folder):
		return ReasonFolderNotSynced
	}
	return ReasonUnexplained
}

// describe formats what a view shows of a message, for examples.
func describe(v view.Snapshot, id string) string {
	m, ok := v.Messages[id]
	if !ok {
		return "-"
	}
	return m.Folder + " " + m.Flags.String()
}

// unexplained describes divergent message d of user for Result.Unexplained.
func unexplained(user string, devs []DeviceSpec, views []view.Snapshot, server *view.Snapshot, d divergentMessage) UnexplainedMessage {
	um := UnexplainedMessage{User: user, MessageID: d.id, Dimensions: d.dimensions(), Shown: make(map[string]string, len(devs))}
	for i, v := range views {
		um.Shown[devs[i].ID] = describe(v, d.id)
	}
	if server != nil {
		um.Server = describe(*server, d.id)
	}
	return um
}
