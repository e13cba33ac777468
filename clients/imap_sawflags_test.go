package clients

import (
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/view"
)

// TestSawFlags: the flags a server reports for the message whose content a
// fetch just brought (a follow-up without a UID, leanConn.fetched) are its
// whole set: flags it adds go into the view at once; a set without a flag
// the view holds (another session removed it) is left to a resync, which
// the session is poked for, since the view only adds flags here.
func TestSawFlags(t *testing.T) {
	for _, tt := range []struct {
		name  string
		flags []imap.Flag
		want  view.Flags
		poked bool
	}{
		{"a flag more", []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered}, view.Seen | view.Flagged | view.Answered, false},
		{"the same set", []imap.Flag{imap.FlagSeen, imap.FlagFlagged}, view.Seen | view.Flagged, false},
		{"a flag removed", []imap.Flag{imap.FlagSeen}, view.Seen | view.Flagged, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := &imapDevice{folders: map[string]*imapFolder{"INBOX": {name: "INBOX",
				msgs: map[imap.UID]imapMsg{4: {flags: view.Seen | view.Flagged}}}}}
			s := &imapSession{d: d, selected: "INBOX", updates: make(chan struct{}, 1)}
			s.sawFlags(4, tt.flags)
			got, _ := d.flagsAt("INBOX", 4)
			poked := len(s.updates) == 1
			if got != tt.want || poked != tt.poked {
				t.Errorf("view %v, poked %v; want %v, %v", got, poked, tt.want, tt.poked)
			}
		})
	}
}
