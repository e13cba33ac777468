package leanimap

import (
	"bufio"
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// Dovecot's responses (2.3, scripts/dovecot.sh) to the devices' per-poll
// commands, as sent.
const (
	dovecotList = "* LIST (\\UnMarked) \"/\" Foo\r\n* LIST (\\Drafts) \"/\" Drafts\r\n* LIST (\\Sent) \"/\" Sent\r\n" +
		"* LIST (\\Trash) \"/\" Trash\r\n* LIST (\\Junk) \"/\" Junk\r\n* LIST (\\Archive) \"/\" Archive\r\n" +
		"* LIST () \"/\" INBOX\r\nL1 OK List completed (0.001 + 0.000 secs).\r\n"
	dovecotStatus = "* STATUS Drafts (MESSAGES 0 UIDNEXT 1 UNSEEN 0)\r\nL1 OK Status completed (0.024 + 0.000 + 0.023 secs).\r\n"
	dovecotSelect = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n" +
		"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n" +
		"* 20 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1796248033] UIDs valid\r\n* OK [UIDNEXT 21] Predicted next UID\r\n" +
		"L1 OK [READ-WRITE] Select completed (0.002 + 0.000 + 0.001 secs).\r\n"
	dovecotFetchFlags = "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n* 2 FETCH (UID 2 FLAGS ())\r\n* 3 FETCH (UID 3 FLAGS (\\Seen \\Flagged))\r\n" +
		"L1 OK Fetch completed (0.001 + 0.000 secs).\r\n"
)

// replaying is a client without a connection whose reads replay wire, as
// a server sent it, once per command: reset starts it over for command L1.
type replaying struct {
	c    *Client
	wire *bytes.Reader
}

func newReplaying(wire string) *replaying {
	r := &replaying{c: &Client{opts: Options{}.withDefaults()}, wire: bytes.NewReader([]byte(wire))}
	r.c.br = bufio.NewReaderSize(r.wire, readBufSize)
	return r
}

func (r *replaying) reset() {
	r.wire.Seek(0, 0)
	r.c.br.Reset(r.wire)
	r.c.cmd = command{}
	r.c.tagb = append(r.c.tagb[:0], "L1"...)
}

// TestParseAllocs pins the allocations of parsing Dovecot's responses to
// the devices' commands, the client's alone: a LIST's entries and their
// attributes in one array each, and the names of the mailboxes; a STATUS's
// data and counts in one (its name is the one asked for; none with
// StatusTo); a SELECT's nothing when SelectTo reuses the data's flag
// lists; a FETCH's nothing (the client's message is reused).
func TestParseAllocs(t *testing.T) {
	var (
		list    []imap.ListData
		status  imap.StatusData
		sel     imap.SelectData
		fetches int
	)
	onFetch := func(*Message) error { fetches++; return nil }
	for _, tc := range []struct {
		name, wire string
		start      func(c *Client)
		check      func() bool
		max        float64
	}{
		{"LIST", dovecotList, func(c *Client) { list = nil; c.cmd.list = &list }, func() bool {
			return len(list) == 7 && list[1].Mailbox == "Drafts" && len(list[1].Attrs) == 1 &&
				list[1].Attrs[0] == imap.MailboxAttrDrafts && list[0].Attrs[0] == `\UnMarked` && list[6].Attrs == nil && list[6].Mailbox == "INBOX"
		}, 9},
		{"STATUS", dovecotStatus, func(c *Client) {
			// As StatusTo collects.
			status = imap.StatusData{}
			c.cmd.status, c.cmd.statusVals, c.cmd.statusName = &status, &c.statusVals, "Drafts"
		}, func() bool {
			return status.Mailbox == "Drafts" && status.UIDNext == 1 && status.NumMessages != nil &&
				*status.NumMessages == 0 && status.NumUnseen != nil && status.NumDeleted == nil
		}, 0},
		{"SELECT", dovecotSelect, func(c *Client) {
			// As SelectTo collects, the flag lists' arrays reused.
			sel = imap.SelectData{Flags: sel.Flags[:0], PermanentFlags: sel.PermanentFlags[:0]}
			c.cmd.sel = &sel
		}, func() bool {
			return sel.NumMessages == 20 && sel.UIDNext == 21 && len(sel.Flags) == 5 && len(sel.PermanentFlags) == 6
		}, 0},
		{"FETCH", dovecotFetchFlags, func(c *Client) { fetches = 0; c.cmd.fetch = onFetch }, func() bool { return fetches == 3 }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplaying(tc.wire)
			var err error
			run := func() {
				r.reset()
				tc.start(r.c)
				if e := r.c.wait(); e != nil {
					err = e
				}
			}
			run()
			allocs := testing.AllocsPerRun(50, run)
			if err != nil || !tc.check() {
				t.Fatalf("error %v, or the response was not read in full", err)
			}
			t.Logf("%.1f allocations", allocs)
			if allocs > tc.max {
				t.Errorf("%.1f allocations per response, want ≤ %v", allocs, tc.max)
			}
		})
	}
}

// TestMailboxNameAs checks that a STATUS response's name is the one asked
// for only when the server sent it as is.
func TestMailboxNameAs(t *testing.T) {
	for _, tc := range []struct {
		wire, known string
		utf8        bool
		want        string
	}{
		{"Drafts", "Drafts", false, "Drafts"},
		{"Drafts", "Sent", false, "Drafts"},
		{"&AOk-t&AOk-", "&AOk-t&AOk-", false, "été"}, // modified UTF-7: decoded
		{"&AOk-t&AOk-", "&AOk-t&AOk-", true, "&AOk-t&AOk-"},
		{"été", "été", true, "été"},
		{"x", "", false, "x"},
	} {
		c := &Client{utf8: tc.utf8}
		if got := c.mailboxNameAs([]byte(tc.wire), tc.known); got != tc.want {
			t.Errorf("mailboxNameAs(%q, %q) utf8=%v = %q, want %q", tc.wire, tc.known, tc.utf8, got, tc.want)
		}
	}
}
