package mailserver

import (
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/mailsim/mailsim/internal/view"
)

const multipartMsg = "From: a@example.net\r\nTo: alice@example.com\r\nSubject: parts\r\nMessage-ID: <mp@test>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
	"--XX\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n" +
	"--XX\r\nContent-Type: text/html\r\n\r\n<p>second</p>\r\n--XX--\r\n"

func TestIMAPFetchItems(t *testing.T) {
	_, addrs := testServer(t, Options{})
	lmtpSend(t, addrs.LMTP, multipartMsg, "alice@example.com")
	c := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	hdrEnd := strings.Index(multipartMsg, "\r\n\r\n") + 4
	tests := []struct {
		name    string
		section *imap.FetchItemBodySection
		want    string
	}{
		{"whole", &imap.FetchItemBodySection{Peek: true}, multipartMsg},
		{"partial", &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 6, Size: 13}}, multipartMsg[6:19]},
		{"partial past end", &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 100000, Size: 10}}, ""},
		{"header", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader}, multipartMsg[:hdrEnd]},
		{"text", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierText}, multipartMsg[hdrEnd:]},
		{"header fields", &imap.FetchItemBodySection{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "message-id"}},
			"Subject: parts\r\nMessage-ID: <mp@test>\r\n\r\n"},
		{"part 2", &imap.FetchItemBodySection{Peek: true, Part: []int{2}}, "<p>second</p>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{tc.section}}).Collect()
			if err != nil || len(msgs) != 1 {
				t.Fatalf("fetch: %v, %d messages", err, len(msgs))
			}
			if got := string(msgs[0].FindBodySection(tc.section)); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	mp, ok := msgs[0].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || len(mp.Children) != 2 || mp.Subtype != "mixed" {
		t.Errorf("BODYSTRUCTURE = %#v", msgs[0].BodyStructure)
	}
	// the message is \Recent in this session, its first (imap_flags.go)
	if len(msgs[0].Flags) != 1 || msgs[0].Flags[0] != flagRecent {
		t.Errorf("PEEK set flags %v", msgs[0].Flags)
	}
	// A non-peek fetch sets \Seen and reports it.
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierText}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs[0].Flags) != 2 || msgs[0].Flags[0] != imap.FlagSeen {
		t.Errorf("BODY[TEXT] flags %v, want \\Seen \\Recent", msgs[0].Flags)
	}
}

func TestIMAPSearchListStatus(t *testing.T) {
	_, addrs := testServer(t, Options{})
	for _, subj := range []string{"alpha", "beta", "gamma"} {
		lmtpSend(t, addrs.LMTP, testMessage("<"+subj+"@test>", subj), "alice@example.com")
	}
	c := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		criteria imap.SearchCriteria
		want     []imap.UID
	}{
		{"all", imap.SearchCriteria{}, []imap.UID{1, 2, 3}},
		{"unseen", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, []imap.UID{1, 3}},
		{"subject", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "GAM"}}}, []imap.UID{3}},
		{"body", imap.SearchCriteria{Body: []string{"hello beta"}}, []imap.UID{2}},
		{"uid range", imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 2, Stop: 0}}}}, []imap.UID{2, 3}},
		{"or", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {Text: []string{"alpha"}}}}}, []imap.UID{1, 2}},
		{"not", imap.SearchCriteria{Not: []imap.SearchCriteria{{Text: []string{"alpha"}}}}, []imap.UID{2, 3}},
		{"larger", imap.SearchCriteria{Larger: 100000}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := c.UIDSearch(&tc.criteria, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			got := data.AllUIDs()
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}

	if err := c.Create("Projects/2026", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true, NumUnseen: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string][]imap.MailboxAttr{}
	var inboxStatus *imap.StatusData
	for _, l := range list {
		attrs[l.Mailbox] = l.Attrs
		if l.Mailbox == "INBOX" {
			inboxStatus = l.Status
		}
	}
	for _, want := range []struct {
		name string
		attr imap.MailboxAttr
	}{{"Sent", imap.MailboxAttrSent}, {"Drafts", imap.MailboxAttrDrafts}, {"Trash", imap.MailboxAttrTrash}, {"Junk", imap.MailboxAttrJunk}, {"Archive", imap.MailboxAttrArchive}, {"Projects/2026", imap.MailboxAttrHasNoChildren}} {
		found := false
		for _, a := range attrs[want.name] {
			found = found || a == want.attr
		}
		if !found {
			t.Errorf("LIST %s attrs %v lack %s", want.name, attrs[want.name], want.attr)
		}
	}
	if inboxStatus == nil || inboxStatus.NumMessages == nil || *inboxStatus.NumMessages != 3 || *inboxStatus.NumUnseen != 2 {
		t.Errorf("LIST-STATUS INBOX = %+v", inboxStatus)
	}
	st, err := c.Status("INBOX", &imap.StatusOptions{UIDNext: true, Size: true}).Wait()
	if err != nil || st.UIDNext != 4 || st.Size == nil || *st.Size <= 0 {
		t.Errorf("STATUS = %+v, %v", st, err)
	}
}

func TestIMAPMoveExpungeAcrossSessions(t *testing.T) {
	s, addrs := testServer(t, Options{})
	lmtpSend(t, addrs.LMTP, testMessage("<mv1@test>", "one"), "alice@example.com")
	lmtpSend(t, addrs.LMTP, testMessage("<mv2@test>", "two"), "alice@example.com")
	a := imapLogin(t, addrs.IMAP, "alice", nil)
	b := imapLogin(t, addrs.IMAP, "alice", &imapclient.UnilateralDataHandler{Expunge: func(uint32) {}})
	for _, c := range []*imapclient.Client{a, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	data, err := a.Move(imap.SeqSetNum(1), "Trash").Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.DestUIDs.String() != "1" || data.SourceUIDs.String() != "1" {
		t.Errorf("COPYUID = %+v", data)
	}
	// b still counts 2 until it polls; its sequence numbers stay valid.
	msgs, err := b.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{UID: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].UID != 2 {
		t.Fatalf("b fetch 2 before NOOP: %v %+v", err, msgs)
	}
	if err := b.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if n := b.Mailbox().NumMessages; n != 1 {
		t.Errorf("b counts %d after NOOP, want 1", n)
	}
	// COPY + \Deleted + UID EXPUNGE, the other way to move.
	if _, err := b.Copy(imap.SeqSetNum(1), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.UIDExpunge(imap.UIDSetNum(2)).Collect(); err != nil {
		t.Fatal(err)
	}
	st, _ := s.UserState("alice")
	if st.Messages["<mv1@test>"].Folder != "Trash" || st.Messages["<mv2@test>"].Folder != "Archive" || len(st.Messages) != 2 {
		t.Errorf("state = %+v", st.Messages)
	}
	checkUsage(t, s)
}

func TestPOP3RetrMarksSeenAtQuit(t *testing.T) {
	s, addrs := testServer(t, Options{})
	lmtpSend(t, addrs.LMTP, testMessage("<p1@test>", "one"), "alice@example.com")
	lmtpSend(t, addrs.LMTP, testMessage("<p2@test>", "two"), "alice@example.com")
	p := pop3Login(t, addrs.POP3, "alice")
	if _, err := p.RetrRaw(1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Top(2, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.UserState("alice"); st.Messages["<p1@test>"].Flags != 0 {
		t.Errorf("\\Seen set before QUIT")
	}
	if err := p.Quit(); err != nil {
		t.Fatal(err)
	}
	st, _ := s.UserState("alice")
	if st.Messages["<p1@test>"].Flags != view.Seen || st.Messages["<p2@test>"].Flags != 0 {
		t.Errorf("after QUIT: %+v (RETR marks seen, TOP does not)", st.Messages)
	}
}
