package clients

import (
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/view"
)

// Folder discovery, as real clients do it: the personal namespace prefix
// from NAMESPACE ("INBOX." on Cyrus and Courier, "" on Dovecot's and the
// embedded server's defaults), the special-use folders from LIST RETURN
// (SPECIAL-USE), and, for a role no folder is marked with, the names
// clients fall back to (internal/view/folders.go FolderNames), with or
// without the prefix. A folder the engine names ("Junk", "Archive", a
// scenario's folder) is the server's folder of that role, or the name
// under the prefix (folderFor).

// roleAttrs are the special-use attributes a device uses, with their role.
var roleAttrs = [...]struct {
	attr imap.MailboxAttr
	role string
}{
	{imap.MailboxAttrSent, view.RoleSent},
	{imap.MailboxAttrDrafts, view.RoleDrafts},
	{imap.MailboxAttrTrash, view.RoleTrash},
	{imap.MailboxAttrJunk, view.RoleJunk},
	{imap.MailboxAttrArchive, view.RoleArchive},
}

// ListRole returns the role of a LIST entry (internal/view/folders.go
// roles): by its special-use attribute, else by its name (INBOX,
// INBOX.Sent, Sent Items, ...); "" for other folders.
func ListRole(b *imap.ListData) string {
	for _, ra := range roleAttrs {
		if slices.Contains(b.Attrs, ra.attr) {
			return ra.role
		}
	}
	return view.FolderRole(b.Mailbox)
}

// specialFolders returns the folder of each special use in a LIST reply:
// the first folder marked with the attribute, else the first selectable
// folder listed under a fallback name of its role (in FolderNames order,
// under the namespace prefix first).
func specialFolders(boxes []*imap.ListData, prefix string) map[imap.MailboxAttr]string {
	special := make(map[imap.MailboxAttr]string)
	byName := make(map[string]string, len(boxes)) // lower-case name → name
	for _, b := range boxes {
		for _, a := range b.Attrs {
			switch a {
			case imap.MailboxAttrSent, imap.MailboxAttrTrash, imap.MailboxAttrDrafts, imap.MailboxAttrJunk, imap.MailboxAttrArchive:
				if special[a] == "" {
					special[a] = b.Mailbox
				}
			}
		}
		if selectable(b) {
			if k := strings.ToLower(b.Mailbox); byName[k] == "" {
				byName[k] = b.Mailbox
			}
		}
	}
	for _, ra := range roleAttrs {
		if special[ra.attr] != "" {
			continue
		}
	names:
		for _, n := range view.FolderNames(ra.role) {
			for _, cand := range []string{prefix + n, n} {
				if name := byName[strings.ToLower(cand)]; name != "" {
					special[ra.attr] = name
					break names
				}
			}
		}
	}
	return special
}

// folderFor returns the server mailbox for folder name as the engine or
// the scenario names it: INBOX, a folder listed under that very name, the
// special-use folder of the name's role, else the name under the personal
// namespace prefix (to be created there).
func folderFor(name string, listed func(string) bool, special map[imap.MailboxAttr]string, prefix string) string {
	if strings.EqualFold(name, view.FolderInbox) {
		return view.FolderInbox
	}
	if listed(name) {
		return name
	}
	if role := view.FolderRole(name); role != "" {
		for _, ra := range roleAttrs {
			if ra.role == role && special[ra.attr] != "" {
				return special[ra.attr]
			}
		}
	}
	if prefix != "" && !strings.HasPrefix(strings.ToLower(name), strings.ToLower(prefix)) {
		return prefix + name
	}
	return name
}

// ResolveFolder returns the server mailbox for folder name ("Junk",
// "Archive", INBOX, ...) from the reply to LIST "" "*" (RETURN
// (SPECIAL-USE) where supported) and the personal namespace prefix (""
// when the server has none or no NAMESPACE): what a device would use. The
// injector's imap-append delivery uses it (internal/engine/injector.go).
func ResolveFolder(boxes []*imap.ListData, prefix, name string) string {
	listed := make(map[string]bool, len(boxes))
	for _, b := range boxes {
		if selectable(b) {
			listed[b.Mailbox] = true
		}
	}
	return folderFor(name, func(n string) bool { return listed[n] }, specialFolders(boxes, prefix), prefix)
}

// FolderListed reports whether name is a selectable mailbox in a LIST
// reply: a folder ResolveFolder returned that is not listed has to be
// created before mail is stored in it (a server without a Junk folder,
// as Courier by default).
func FolderListed(boxes []*imap.ListData, name string) bool {
	for _, b := range boxes {
		if b.Mailbox == name && selectable(b) {
			return true
		}
	}
	return false
}

// CreateFolder runs CREATE name on c, where a folder that exists already
// (one another device created meanwhile) is fine: a NO [ALREADYEXISTS],
// or, from a server that sends no code (Courier: "NO Cannot create this
// folder."), a NO after which LIST shows the folder. run runs and
// records each command by name (CREATE, LIST).
func CreateFolder(c *imapclient.Client, name string, run func(cmd string, fn func() error) error) error {
	return createFolder(name, run, func() error { return c.Create(name, nil).Wait() },
		func() ([]*imap.ListData, error) { return c.List("", name, nil).Collect() })
}

// PersonalPrefix returns the prefix of the first personal namespace in a
// NAMESPACE reply ("" for none).
func PersonalPrefix(ns *imap.NamespaceData) string {
	if ns == nil || len(ns.Personal) == 0 {
		return ""
	}
	return ns.Personal[0].Prefix
}

// namespace learns the personal namespace prefix once per device, with
// NAMESPACE where the server supports it. A failed NAMESPACE leaves the
// prefix empty and is tried again at the next LIST.
func (d *imapDevice) namespace(s *imapSession) {
	d.mu.Lock()
	done := d.nsDone
	d.mu.Unlock()
	if done {
		return
	}
	prefix := ""
	if s.caps.Has(imap.CapNamespace) || s.caps.Has(imap.CapIMAP4rev2) {
		var ns *imap.NamespaceData
		if err := s.do("NAMESPACE", func() error {
			var err error
			ns, err = s.c.Namespace()
			return err
		}); err != nil {
			d.log.Debug("namespace", "err", err)
			return
		}
		prefix = PersonalPrefix(ns)
	}
	d.mu.Lock()
	d.prefix, d.nsDone = prefix, true
	d.mu.Unlock()
}

// folderFor returns the device's mailbox for folder name (see folderFor).
func (d *imapDevice) folderFor(name string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.folderForLocked(name)
}

func (d *imapDevice) folderForLocked(name string) string {
	return folderFor(name, func(n string) bool { _, ok := d.folders[n]; return ok }, d.special, d.prefix)
}

// selectable reports whether a LIST entry is a mailbox that holds messages.
func selectable(b *imap.ListData) bool {
	return !slices.Contains(b.Attrs, imap.MailboxAttrNoSelect) && !slices.Contains(b.Attrs, imap.MailboxAttrNonExistent)
}
