package view

import "testing"

func TestFolderRole(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"INBOX", RoleInbox},
		{"inbox", RoleInbox},
		{"Sent", RoleSent},
		{"INBOX.Sent", RoleSent},
		{"INBOX/Sent Items", RoleSent},
		{"Sent Messages", RoleSent},
		{"INBOX.Junk", RoleJunk},
		{"Spam", RoleJunk},
		{"Deleted Items", RoleTrash},
		{"INBOX.Drafts", RoleDrafts},
		{"Archives", RoleArchive},
		{"Projects", ""},
		{"INBOX.Projects", ""},
		{"INBOXSent", ""},
		{"Sentinel", ""},
	} {
		if got := FolderRole(tc.name); got != tc.want {
			t.Errorf("FolderRole(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestSameFolder(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Junk", "INBOX.Junk", true},
		{"Sent", "Sent Items", true},
		{"INBOX.Sent", "Sent", true},
		{"INBOX", "inbox", true},
		{"Projects", "INBOX.Projects", true},
		{"Projects", "Projects", true},
		{"Junk", "Sent", false},
		{"Junk", "INBOX", false},
		{"INBOX", "INBOX.Junk", false},
		{"Projects", "Archive", false},
		{"Archive", "Projects", false},
		{"Projects", "Clients", false},
	} {
		if got := SameFolder(tc.a, tc.b); got != tc.want {
			t.Errorf("SameFolder(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := SameFolder(tc.b, tc.a); got != tc.want {
			t.Errorf("SameFolder(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestFolderNamesCopy(t *testing.T) {
	n := FolderNames(RoleSent)
	if len(n) == 0 || n[0] != "Sent" {
		t.Fatalf("FolderNames(sent) = %v", n)
	}
	n[0] = "x"
	if FolderNames(RoleSent)[0] != "Sent" {
		t.Fatal("FolderNames returns the package's slice")
	}
	if FolderNames(RoleInbox) != nil {
		t.Fatal("inbox has fallback names")
	}
}
