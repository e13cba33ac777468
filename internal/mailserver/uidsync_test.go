package mailserver

import (
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/view"
)

// TestUIDCommandsSeeMessagesAppendedElsewhere pins that a UID command may
// address a message another session appended since this one last heard from
// the server (a client learns the UID on one connection and acts on another,
// as Thunderbird does): the server announces it (EXISTS) and acts, as Dovecot
// does, instead of answering OK and doing nothing.
func TestUIDCommandsSeeMessagesAppendedElsewhere(t *testing.T) {
	s, addrs := testServer(t, Options{})
	actions := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := actions.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Any command after SELECT (a client's flag resync) lets the server
	// announce later mail.
	if err := actions.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	other := imapLogin(t, addrs.IMAP, "alice", nil)
	var uids []imap.UID
	for _, id := range []string{"<a@test>", "<b@test>"} {
		msg := testMessage(id, "hello")
		cmd := other.Append("INBOX", int64(len(msg)), nil)
		cmd.Write([]byte(msg))
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, data.UID)
	}

	// UID FETCH of a message the session was never told about.
	msgs, err := actions.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].UID != uids[0] {
		t.Fatalf("UID FETCH %d returned %+v, want the message", uids[0], msgs)
	}
	// UID STORE and UID MOVE of the second one.
	if err := actions.Store(imap.UIDSetNum(uids[1]), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := actions.Move(imap.UIDSetNum(uids[1]), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := s.UserState("alice")
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Messages["<b@test>"]; got.Folder != "Archive" || !got.Flags.Has(view.Flagged) {
		t.Errorf("after UID STORE +\\Flagged and UID MOVE: %+v", got)
	}
}
