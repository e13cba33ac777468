package clients

import (
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestResolveFolder(t *testing.T) {
	box := func(name string, attrs ...imap.MailboxAttr) *imap.ListData {
		return &imap.ListData{Mailbox: name, Delim: '.', Attrs: attrs}
	}
	dovecot := []*imap.ListData{box("INBOX"), box("Sent", imap.MailboxAttrSent), box("Junk", imap.MailboxAttrJunk), box("Archive", imap.MailboxAttrArchive)}
	cyrus := []*imap.ListData{box("INBOX"), box("INBOX.Sent", imap.MailboxAttrSent), box("INBOX.Junk", imap.MailboxAttrJunk), box("INBOX.Archive", imap.MailboxAttrArchive)}
	courier := []*imap.ListData{box("INBOX", imap.MailboxAttrHasChildren), box("INBOX.Sent"), box("INBOX.Trash"), box("INBOX.Spam")}
	outlook := []*imap.ListData{box("INBOX"), box("Sent Items"), box("Deleted Items"), box("Junk E-mail"), box("Sent", imap.MailboxAttrNoSelect)}
	renamed := []*imap.ListData{box("INBOX"), box("Gesendet", imap.MailboxAttrSent), box("Sent")}
	for _, tc := range []struct {
		name   string
		boxes  []*imap.ListData
		prefix string
		folder string
		want   string
	}{
		{"default junk", dovecot, "", "Junk", "Junk"},
		{"default custom", dovecot, "", "Projects", "Projects"},
		{"default inbox", dovecot, "", "inbox", "INBOX"},
		{"cyrus junk", cyrus, "INBOX.", "Junk", "INBOX.Junk"},
		{"cyrus archive", cyrus, "INBOX.", "Archive", "INBOX.Archive"},
		{"cyrus custom", cyrus, "INBOX.", "Projects", "INBOX.Projects"},
		{"cyrus already prefixed", cyrus, "INBOX.", "INBOX.Projects", "INBOX.Projects"},
		{"courier sent without special-use", courier, "INBOX.", "Sent", "INBOX.Sent"},
		{"courier junk named Spam", courier, "INBOX.", "Junk", "INBOX.Spam"},
		{"courier archive to create", courier, "INBOX.", "Archive", "INBOX.Archive"},
		{"outlook names", outlook, "", "Sent", "Sent Items"},
		{"outlook trash", outlook, "", "Trash", "Deleted Items"},
		{"outlook junk", outlook, "", "Junk", "Junk E-mail"},
		{"a listed name wins", renamed, "", "Sent", "Sent"},
		{"special-use attribute", renamed, "", "Sent Items", "Gesendet"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResolveFolder(tc.boxes, tc.prefix, tc.folder); got != tc.want {
				t.Errorf("ResolveFolder(%q) = %q, want %q", tc.folder, got, tc.want)
			}
		})
	}
}

func TestFolderListed(t *testing.T) {
	boxes := []*imap.ListData{
		{Mailbox: "INBOX"}, {Mailbox: "INBOX.Sent"}, {Mailbox: "Trash", Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}},
		{Mailbox: "Gone", Attrs: []imap.MailboxAttr{imap.MailboxAttrNonExistent}},
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"INBOX", true}, {"INBOX.Sent", true}, {"INBOX.Junk", false}, {"Sent", false},
		{"inbox.sent", false}, {"Trash", false}, {"Gone", false},
	} {
		if got := FolderListed(boxes, tc.name); got != tc.want {
			t.Errorf("FolderListed(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestSpecialFoldersFallback(t *testing.T) {
	boxes := []*imap.ListData{
		{Mailbox: "INBOX"}, {Mailbox: "Sent Messages"}, {Mailbox: "INBOX.Sent"}, {Mailbox: "Trash", Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}},
		{Mailbox: "INBOX.Drafts", Attrs: []imap.MailboxAttr{imap.MailboxAttrDrafts}},
	}
	got := specialFolders(boxes, "INBOX.")
	want := map[imap.MailboxAttr]string{imap.MailboxAttrSent: "INBOX.Sent", imap.MailboxAttrDrafts: "INBOX.Drafts"}
	if len(got) != len(want) {
		t.Fatalf("specialFolders = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("specialFolders[%s] = %q, want %q", k, got[k], v)
		}
	}
}

func TestListRole(t *testing.T) {
	for _, tc := range []struct {
		b    imap.ListData
		want string
	}{
		{imap.ListData{Mailbox: "INBOX"}, "inbox"},
		{imap.ListData{Mailbox: "Gesendet", Attrs: []imap.MailboxAttr{imap.MailboxAttrSent}}, "sent"},
		{imap.ListData{Mailbox: "INBOX.Spam"}, "junk"},
		{imap.ListData{Mailbox: "Sent Items"}, "sent"},
		{imap.ListData{Mailbox: "INBOX.Projects"}, ""},
	} {
		if got := ListRole(&tc.b); got != tc.want {
			t.Errorf("ListRole(%q %v) = %q, want %q", tc.b.Mailbox, tc.b.Attrs, got, tc.want)
		}
	}
}

// TestForeignFolders: the devices, the preflight's look and the
// auditor's reader leave out the folders of other users' and shared
// namespaces (a Dovecot public namespace, Cyrus's other users and shared
// folders), never the personal one's. A foreign prefix covers its folders
// and its own node (the prefix without its delimiter, which LIST shows),
// not a name that only starts like the node; a foreign namespace with the
// empty prefix (Cyrus's shared folders in its INBOX. namespace) makes
// every folder outside INBOX and the personal prefix foreign, and nothing
// when the personal prefix is empty too. Before, Cyrus's shared "News"
// was the user's.
func TestForeignFolders(t *testing.T) {
	personal := func(p string) []imap.NamespaceDescriptor { return []imap.NamespaceDescriptor{{Prefix: p, Delim: '.'}} }
	for _, tt := range []struct {
		name string
		ns   *imap.NamespaceData
		want map[string]bool // mailbox: foreign
	}{
		{"none", nil, map[string]bool{"INBOX": false, "Public/News": false, "News": false}},
		{"personal only", &imap.NamespaceData{Personal: personal("INBOX.")}, map[string]bool{"INBOX.Sent": false, "News": false}},
		{"dovecot public", &imap.NamespaceData{Personal: personal(""), Shared: []imap.NamespaceDescriptor{{Prefix: "Public/", Delim: '/'}}},
			map[string]bool{"Public/News": true, "Public": true, "Publicity": false, "INBOX": false, "Sent": false}},
		{"other users", &imap.NamespaceData{Personal: personal(""), Other: personal("user.")},
			map[string]bool{"user.bob.Sent": true, "user": true, "users": false, "Sent": false}},
		{"cyrus", &imap.NamespaceData{Personal: personal("INBOX."), Other: personal("user."), Shared: personal("")},
			map[string]bool{"INBOX": false, "inbox": false, "INBOX.Sent": false, "INBOX.Junk.old": false,
				"user.bob.Sent": true, "user": true, "News": true, "News.Today": true, "INBOXES": true}},
		{"empty personal and shared", &imap.NamespaceData{Personal: personal(""), Shared: personal("")},
			map[string]bool{"INBOX": false, "News": false, "Sent": false}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := ForeignFolders(tt.ns)
			for mailbox, want := range tt.want {
				if got := f.Has(mailbox); got != want {
					t.Errorf("Has(%q) = %v, want %v", mailbox, got, want)
				}
			}
		})
	}
	if (Foreign{prefixes: []string{"."}}).Has("") {
		t.Error("a one-character prefix made the empty name foreign")
	}
}

// listedFolders is a FolderClient that answers NAMESPACE and LIST with
// fixed replies: FindFolder's pure unit.
type listedFolders struct {
	ns    *imap.NamespaceData
	nsErr error // NAMESPACE's refusal, when set
	boxes []*imap.ListData
}

func (f listedFolders) Namespace() (*imap.NamespaceData, error) {
	if f.nsErr != nil {
		return nil, f.nsErr
	}
	return f.ns, nil
}

func (f listedFolders) List(string, string, bool) ([]*imap.ListData, error) { return f.boxes, nil }

func (f listedFolders) Create(string) error { return nil }

// TestFindFolderLeavesOutForeign: the injector's imap-append finds the
// user's own folder, never another user's or a shared one, whatever its
// special use: with no Junk of the user's own, a shared Public/Spam
// marked \Junk or another user's Archive is no destination, the user's
// folder is to be created (listed false). It took the foreign folder
// before (Public/Spam listed, Other Users/bob/Archive listed).
func TestFindFolderLeavesOutForeign(t *testing.T) {
	box := func(name string, attrs ...imap.MailboxAttr) *imap.ListData {
		return &imap.ListData{Mailbox: name, Delim: '/', Attrs: attrs}
	}
	ns := &imap.NamespaceData{
		Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: '/'}},
		Other:    []imap.NamespaceDescriptor{{Prefix: "Other Users/", Delim: '/'}},
		Shared:   []imap.NamespaceDescriptor{{Prefix: "Public/", Delim: '/'}},
	}
	caps := imap.CapSet{imap.CapNamespace: {}, imap.CapSpecialUse: {}}
	for _, tc := range []struct {
		name, folder string
		boxes        []*imap.ListData
		want         string
		wantListed   bool
	}{
		{"shared junk", "Junk", []*imap.ListData{box("INBOX"), box("Public", imap.MailboxAttrNonExistent), box("Public/Spam", imap.MailboxAttrJunk)}, "Junk", false},
		{"other user's archive", "Archive", []*imap.ListData{box("INBOX"), box("Other Users/bob/Archive", imap.MailboxAttrArchive)}, "Archive", false},
		{"own junk", "Junk", []*imap.ListData{box("INBOX"), box("Public/Spam", imap.MailboxAttrJunk), box("Spam", imap.MailboxAttrJunk)}, "Spam", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []string
			run := func(cmd string, fn func() error) error { ran = append(ran, cmd); return fn() }
			name, listed, err := FindFolder(listedFolders{ns: ns, boxes: tc.boxes}, caps, tc.folder, run)
			if err != nil || name != tc.want || listed != tc.wantListed {
				t.Errorf("FindFolder(%s) = %q, %v, %v; want %q, %v", tc.folder, name, listed, err, tc.want, tc.wantListed)
			}
			if strings.Join(ran, " ") != "NAMESPACE LIST" {
				t.Errorf("commands %v, want NAMESPACE LIST", ran)
			}
		})
	}
}

// TestFindFolderNamespaceRefused: a server that offers NAMESPACE and
// refuses it (NO, BAD) still gets its spam in the user's Junk: FindFolder
// goes on without namespaces, as the devices and the readers do. A
// NAMESPACE that failed below the protocol fails the lookup. Before, a
// refusal failed every imap-append delivery to a folder other than INBOX.
func TestFindFolderNamespaceRefused(t *testing.T) {
	boxes := []*imap.ListData{{Mailbox: "INBOX", Delim: '/'}, {Mailbox: "Spam", Delim: '/', Attrs: []imap.MailboxAttr{imap.MailboxAttrJunk}}}
	caps := imap.CapSet{imap.CapNamespace: {}, imap.CapSpecialUse: {}}
	run := func(_ string, fn func() error) error { return fn() }
	for _, tc := range []struct {
		name    string
		nsErr   error
		want    string
		wantErr bool
	}{
		{"NO", &imap.Error{Type: imap.StatusResponseTypeNo, Text: "unavailable"}, "Spam", false},
		{"BAD", &imap.Error{Type: imap.StatusResponseTypeBad, Text: "unknown command"}, "Spam", false},
		{"connection lost", io.ErrUnexpectedEOF, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, _, err := FindFolder(listedFolders{nsErr: tc.nsErr, boxes: boxes}, caps, "Junk", run)
			if (err != nil) != tc.wantErr || name != tc.want {
				t.Errorf("FindFolder(Junk) = %q, %v; want %q, error %v", name, err, tc.want, tc.wantErr)
			}
		})
	}
}
