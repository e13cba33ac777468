package clients

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/view"
)

// Folder discovery, as real clients do it: the personal namespace prefix
// from NAMESPACE ("INBOX." on Cyrus and Courier, "" on Dovecot's and the
// embedded server's defaults), the special-use folders from LIST RETURN
// (SPECIAL-USE), and, for a role no folder is marked with, the names
// clients fall back to (internal/view/folders.go FolderNames), with or
// without the prefix. A folder the engine names ("Junk", "Archive", a
// scenario's folder) is the server's folder of that role, or the name
// under the prefix (folderFor). Folders of other users' and shared
// namespaces (ForeignFolders) are no user's mail: a device leaves them
// out of its folder set, as the auditor's server state does.

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
	return specialFoldersOr(boxes, prefix, nil)
}

// specialFoldersOr is specialFolders returning old when it holds exactly
// the result (a device's LIST finds the same folders each time: no map).
// The names are matched in lower case as strings.ToLower makes it, found
// by iterating the reply (a handful of folders) instead of a map of it.
func specialFoldersOr(boxes []*imap.ListData, prefix string, old map[imap.MailboxAttr]string) map[imap.MailboxAttr]string {
	var found [len(roleAttrs)]string
	for _, b := range boxes {
		for _, a := range b.Attrs {
			for i, ra := range roleAttrs {
				if a == ra.attr && found[i] == "" {
					found[i] = b.Mailbox
				}
			}
		}
	}
	for i, ra := range roleAttrs {
		if found[i] != "" {
			continue
		}
	names:
		for _, n := range view.FolderNames(ra.role) {
			for _, cand := range [2]string{prefix + n, n} {
				if name := listedLower(boxes, cand); name != "" {
					found[i] = name
					break names
				}
			}
		}
	}
	n := 0
	same := old != nil
	for i, ra := range roleAttrs {
		if found[i] != "" {
			n++
			same = same && old[ra.attr] == found[i]
		}
	}
	if same && len(old) == n {
		return old
	}
	special := make(map[imap.MailboxAttr]string, n)
	for i, ra := range roleAttrs {
		if found[i] != "" {
			special[ra.attr] = found[i]
		}
	}
	return special
}

// listedLower returns the first selectable folder of boxes whose name in
// lower case is name's, "" when none is.
func listedLower(boxes []*imap.ListData, name string) string {
	for _, b := range boxes {
		if Selectable(b) && equalLower(b.Mailbox, name) {
			return b.Mailbox
		}
	}
	return ""
}

// equalLower reports whether strings.ToLower(a) == strings.ToLower(b),
// without allocating when both are ASCII.
func equalLower(a, b string) bool {
	ascii := true
	for i := 0; i < len(a) && ascii; i++ {
		ascii = a[i] < utf8.RuneSelf
	}
	for i := 0; i < len(b) && ascii; i++ {
		ascii = b[i] < utf8.RuneSelf
	}
	if !ascii {
		//lint:ignore SA6005 the comparison this stands for is strings.ToLower's, which EqualFold's case folding is not (the Kelvin sign folds to "k", lowers to itself)
		return strings.ToLower(a) == strings.ToLower(b)
	}
	return strings.EqualFold(a, b) // on ASCII, ToLower's comparison
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
		if Selectable(b) {
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
		if b.Mailbox == name && Selectable(b) {
			return true
		}
	}
	return false
}

// FolderClient is what folder discovery and creation (FindFolder,
// CreateFolder) need of an IMAP client. The devices' connections, over
// go-imap's client (imap_conn.go) or the lean one (imap_lean.go), and the
// injector's lean imap-append sessions (LeanFolders) implement it.
type FolderClient interface {
	// Namespace runs NAMESPACE.
	Namespace() (*imap.NamespaceData, error)
	// List runs LIST ref pattern, with RETURN (SPECIAL-USE) when
	// specialUse.
	List(ref, pattern string, specialUse bool) ([]*imap.ListData, error)
	// Create runs CREATE name.
	Create(name string) error
}

// RunFunc runs fn, the command cmd ("CREATE", "LIST"), and records it; it
// returns fn's error.
type RunFunc func(cmd string, fn func() error) error

// CreateFolder runs CREATE name on c, where a folder that exists already
// (one another device created meanwhile) is fine: a NO [ALREADYEXISTS],
// or, from a server that sends no code (Courier: "NO Cannot create this
// folder."), a NO after which LIST shows the folder. run runs and
// records each command by name (CREATE, LIST).
func CreateFolder(c FolderClient, name string, run RunFunc) error {
	err := run("CREATE", func() error { return c.Create(name) })
	if err == nil || isAlreadyExists(err) {
		return nil
	}
	var ie *imap.Error
	if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
		return err
	}
	var boxes []*imap.ListData
	if lerr := run("LIST", func() error {
		var lerr error
		boxes, lerr = c.List("", name, false)
		return lerr
	}); lerr == nil && FolderListed(boxes, name) {
		return nil
	}
	return err
}

// FindFolder returns the mailbox for folder (the engine's name: "INBOX",
// "Junk", a scenario's folder) on c, as a device finds it: INBOX as is,
// with no command; otherwise the server's folder of that role from
// NAMESPACE (when caps has NAMESPACE or IMAP4rev2) and LIST "" "*" RETURN
// (SPECIAL-USE) (when caps has SPECIAL-USE or IMAP4rev2), by
// ResolveFolder, so a server whose Junk is INBOX.Junk, or unmarked "Spam",
// gets it there; the folders of other users' and shared namespaces
// (ForeignFolders) are left out, as the devices leave them out. listed is
// false when the server does not list that mailbox: it must be created
// first (CreateFolder). run runs and records each command. The injector's imap-append delivery uses it
// (internal/engine/injector.go).
func FindFolder(c FolderClient, caps imap.CapSet, folder string, run RunFunc) (name string, listed bool, err error) {
	if strings.EqualFold(folder, view.FolderInbox) {
		return view.FolderInbox, true, nil
	}
	prefix := ""
	var foreign Foreign
	if caps.Has(imap.CapNamespace) || caps.Has(imap.CapIMAP4rev2) {
		var ns *imap.NamespaceData
		err := run("NAMESPACE", func() error {
			var err error
			ns, err = c.Namespace()
			return err
		})
		// A server that offers NAMESPACE and refuses it (NO, BAD) tells
		// no namespaces: go on without, as the devices and the readers
		// do (internal/serverstate/namespace.go); the refusal is
		// recorded as the command's outcome.
		var ie *imap.Error
		switch {
		case errors.As(err, &ie):
		case err != nil:
			return "", false, err
		default:
			prefix, foreign = PersonalPrefix(ns), ForeignFolders(ns)
		}
	}
	specialUse := caps.Has(imap.CapSpecialUse) || caps.Has(imap.CapIMAP4rev2)
	var boxes []*imap.ListData
	if err := run("LIST", func() error {
		var err error
		boxes, err = c.List("", "*", specialUse)
		return err
	}); err != nil {
		return "", false, err
	}
	// Another user's or a shared folder is never the user's, whatever
	// its name or special use, as for the devices (imapDevice.list).
	boxes = slices.DeleteFunc(boxes, func(b *imap.ListData) bool { return foreign.Has(b.Mailbox) })
	name = ResolveFolder(boxes, prefix, folder)
	return name, FolderListed(boxes, name), nil
}

// LeanFolders is the lean client as a FolderClient (the injector's
// imap-append sessions; the devices' leanConn lists through it).
type LeanFolders struct{ C *leanimap.Client }

// Namespace implements FolderClient.
func (f LeanFolders) Namespace() (*imap.NamespaceData, error) { return f.C.Namespace() }

// Create implements FolderClient.
func (f LeanFolders) Create(name string) error { return f.C.Create(name) }

// List implements FolderClient.
func (f LeanFolders) List(ref, pattern string, specialUse bool) ([]*imap.ListData, error) {
	boxes, err := f.C.List(ref, pattern, specialUse)
	if err != nil {
		return nil, err
	}
	out := make([]*imap.ListData, len(boxes))
	for i := range boxes {
		out[i] = &boxes[i]
	}
	return out, nil
}

// Caps returns the capabilities the client knows, nil when it knows none
// (after a LOGIN whose reply carried none: ask with Capability).
func (f LeanFolders) Caps() imap.CapSet {
	if f.C.Caps() == nil {
		return nil
	}
	return capSet(f.C.Caps())
}

// PersonalPrefix returns the prefix of the first personal namespace in a
// NAMESPACE reply ("" for none).
func PersonalPrefix(ns *imap.NamespaceData) string {
	if ns == nil || len(ns.Personal) == 0 {
		return ""
	}
	return ns.Personal[0].Prefix
}

// Foreign tells the folders of a server's other users' and shared
// namespaces from the user's own (ForeignFolders makes it from the
// NAMESPACE reply). Their folders are not the user's mail (a Dovecot
// public namespace listed with the user's folders, Cyrus's other users'
// and shared folders): the devices, the injector's imap-append
// (FindFolder), the preflight's look and the auditor's reader
// (internal/serverstate) leave them out. The zero value tells none.
type Foreign struct {
	// prefixes are the non-empty prefixes of the foreign namespaces.
	prefixes []string
	// own is set when a foreign namespace has the empty prefix and the
	// personal one has not (Cyrus's shared folders in its INBOX.
	// namespace: NAMESPACE (("INBOX." ".")) (("user." ".")) (("" ".")),
	// an administrator's "News" listed beside INBOX): no prefix tells
	// those, so every mailbox but INBOX and those under own (the personal
	// prefix) is foreign.
	own string
}

// ForeignFolders returns what tells ns's other users' and shared
// namespaces' folders from the user's own (Foreign). A foreign namespace
// with the empty prefix tells nothing when the personal prefix is empty
// too: no name tells them apart then.
func ForeignFolders(ns *imap.NamespaceData) Foreign {
	if ns == nil {
		return Foreign{}
	}
	var f Foreign
	empty := false
	for _, d := range append(slices.Clone(ns.Other), ns.Shared...) {
		if d.Prefix != "" {
			f.prefixes = append(f.prefixes, d.Prefix)
		} else {
			empty = true
		}
	}
	if empty {
		f.own = PersonalPrefix(ns)
	}
	return f
}

// Has reports whether mailbox is foreign: under one of the foreign
// prefixes or one's own node, the prefix without its trailing delimiter
// ("Public" of "Public/", which LIST shows too); or, when a foreign
// namespace has the empty prefix, neither INBOX nor under the personal
// prefix (nor its node).
func (f Foreign) Has(mailbox string) bool {
	if slices.ContainsFunc(f.prefixes, func(p string) bool { return underPrefix(mailbox, p) }) {
		return true
	}
	return f.own != "" && !strings.EqualFold(mailbox, view.FolderInbox) && !underPrefix(mailbox, f.own)
}

// underPrefix reports whether mailbox is under the namespace prefix p or
// is its node, p without its trailing delimiter.
func underPrefix(mailbox, p string) bool {
	return strings.HasPrefix(mailbox, p) || len(p) > 1 && mailbox == p[:len(p)-1]
}

// namespace learns the personal namespace prefix and the foreign
// namespaces (ForeignFolders) once per device, with NAMESPACE
// where the server supports it. A failed NAMESPACE leaves them empty and
// is tried again at the next LIST.
func (d *imapDevice) namespace(s *imapSession) {
	d.mu.Lock()
	done := d.nsDone
	d.mu.Unlock()
	if done {
		return
	}
	prefix := ""
	var foreign Foreign
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
		prefix, foreign = PersonalPrefix(ns), ForeignFolders(ns)
	}
	d.mu.Lock()
	d.prefix, d.foreign, d.nsDone = prefix, foreign, true
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

// Selectable reports whether a LIST entry is a mailbox that holds messages
// (neither \Noselect nor \NonExistent).
func Selectable(b *imap.ListData) bool {
	return !slices.Contains(b.Attrs, imap.MailboxAttrNoSelect) && !slices.Contains(b.Attrs, imap.MailboxAttrNonExistent)
}
