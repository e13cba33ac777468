package clients

import (
	"fmt"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// SyncCycle returns the longest simulated time between two complete syncs
// of a device of profile p (after which its view's Synced, and for a
// webmail its Listed, have passed any earlier moment), and why, naming the
// profile setting that decides it:
//
//   - POP3: every poll (poll_interval);
//   - IMAP phone: every poll, one sync of every folder (poll_interval);
//   - IMAP PC: INBOX at once with IDLE, else every poll; the other folders
//     are checked every status_interval but a folder whose STATUS did not
//     change is synced only every third check (pcSync in imap_pc.go): the
//     longer of the poll and three status intervals;
//   - webmail: INBOX every page load (refresh), each other folder once in
//     as many page loads as there are, one in turn (webmail.go): refresh ×
//     the folders other than INBOX — at least Sent, Drafts, Trash, Junk and
//     Archive, and filed, the folders the people file mail into; and the
//     folder list (LIST), read at the first page load a session
//     (webmailListEvery, 10 simulated minutes) after the last, which a
//     move into a folder created since waits for (the webmail does not
//     know the folder before: view.Snapshot.Listed): the longer of the
//     two.
//
// Zero settings take the same defaults as the devices themselves.
func SyncCycle(p *Profile, filed []string) (time.Duration, string) {
	poll := p.pollEvery()
	switch {
	case p.Protocol == POP3, p.Kind == KindPhone:
		return poll, "poll_interval " + poll.String()
	case p.Kind == KindWebmail:
		refresh := p.refreshEvery()
		others := otherFolders(filed)
		folders := time.Duration(others) * refresh
		if list := listEvery(refresh); list > folders {
			return list, fmt.Sprintf("refresh %s × %d: the folder list is read again at the first page load %s after the last", refresh, list/refresh, webmailListEvery)
		}
		return folders, fmt.Sprintf("refresh %s × %d folders other than INBOX, one a page load", refresh, others)
	}
	status := p.statusEvery()
	if p.Idle || poll <= 3*status {
		return 3 * status, fmt.Sprintf("status_interval %s × 3: unchanged folders are synced every third check", status)
	}
	return poll, "poll_interval " + poll.String()
}

// otherFolders counts the folders other than INBOX a server lists at the
// least: the special-use folders the devices use, Archive (the embedded
// server and the project's Dovecot, Cyrus and Courier scripts make it),
// and filed, a folder of a role counted once (view.FolderRole).
func otherFolders(filed []string) int {
	seen := map[string]bool{}
	for _, f := range append([]string{view.FolderSent, view.FolderDrafts, view.FolderTrash, view.FolderJunk, "Archive"}, filed...) {
		key := view.FolderRole(f)
		if key == "" {
			key = "name:" + view.BaseName(f)
		}
		if key != view.RoleInbox {
			seen[key] = true
		}
	}
	return len(seen)
}

// listEvery is the simulated time between a webmail's folder lists
// (webmail.go): the first page load, one every refresh, at least
// webmailListEvery after the last list.
func listEvery(refresh time.Duration) time.Duration {
	if refresh <= 0 {
		return webmailListEvery
	}
	n := (webmailListEvery + refresh - 1) / refresh
	return n * refresh
}
