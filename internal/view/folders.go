package view

import "strings"

// Folder names shared by the devices, the injector and the auditor.
// FolderInbox is the one mailbox name IMAP fixes (matched
// case-insensitively by servers); the others are the names a device uses
// when the server marks no special-use folder (RFC 6154), and the local
// folders of POP3 devices.
const (
	FolderInbox  = "INBOX"
	FolderSent   = "Sent"
	FolderDrafts = "Drafts"
	FolderTrash  = DefaultTrash
	FolderJunk   = "Junk"
)

// Folders are named by the server: "Sent" on the embedded server and the
// project's Dovecot, "INBOX.Sent" on a server whose personal namespace has
// the prefix "INBOX." (Cyrus, Courier), "Sent Items" or "Sent Messages"
// where a client created it. The engine names a folder by what it is for
// ("Junk", "Sent", "Archive"); the devices act on the server's folder of
// that role (clients/imap_device.go folderFor) and the auditor compares
// folders by role (SameFolder), so INBOX.Junk is the Junk folder.

// Folder roles: the special uses of RFC 6154 a simulated person meets, and
// the inbox.
const (
	RoleInbox   = "inbox"
	RoleSent    = "sent"
	RoleDrafts  = "drafts"
	RoleTrash   = "trash"
	RoleJunk    = "junk"
	RoleArchive = "archive"
)

// roleNames are the names real clients fall back to, per role, most common
// first, when the server marks no folder with the special-use attribute.
var roleNames = [...]struct {
	role  string
	names []string
}{
	{RoleSent, []string{"Sent", "Sent Items", "Sent Messages", "Sent Mail"}},
	{RoleDrafts, []string{"Drafts", "Draft"}},
	{RoleTrash, []string{"Trash", "Deleted Items", "Deleted Messages"}},
	{RoleJunk, []string{"Junk", "Spam", "Junk E-mail", "Junk Email", "Bulk Mail"}},
	{RoleArchive, []string{"Archive", "Archives"}},
}

// FolderNames returns the names a folder of role is known by, in the order
// real clients try them; nil for the inbox and unknown roles.
func FolderNames(role string) []string {
	for _, r := range roleNames {
		if r.role == role {
			return append([]string(nil), r.names...)
		}
	}
	return nil
}

// BaseName returns name without a personal namespace prefix "INBOX." or
// "INBOX/" (any case): "INBOX.Sent" is "Sent". INBOX itself is "INBOX".
func BaseName(name string) string {
	if len(name) > 6 && strings.EqualFold(name[:5], FolderInbox) && (name[5] == '.' || name[5] == '/') {
		return name[6:]
	}
	if strings.EqualFold(name, FolderInbox) {
		return FolderInbox
	}
	return name
}

// FolderRole returns the role of the folder called name, judged by its name
// without the namespace prefix (BaseName): RoleInbox for INBOX, RoleSent
// for "Sent", "INBOX.Sent" or "Sent Items", ...; "" for other folders.
func FolderRole(name string) string {
	base := BaseName(name)
	if base == FolderInbox {
		return RoleInbox
	}
	for _, r := range roleNames {
		for _, n := range r.names {
			if strings.EqualFold(base, n) {
				return r.role
			}
		}
	}
	return ""
}

// SameFolder reports whether folder names a and b are the same folder to a
// person: equal names, names of the same role ("Junk" and "INBOX.Junk",
// "Sent" and "Sent Items"), or the same name under and outside the personal
// namespace prefix ("Projects" and "INBOX.Projects").
func SameFolder(a, b string) bool {
	if a == b {
		return true
	}
	if ra := FolderRole(a); ra != "" {
		return ra == FolderRole(b)
	}
	return FolderRole(b) == "" && BaseName(a) == BaseName(b)
}
