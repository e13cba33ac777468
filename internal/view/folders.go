package view

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
