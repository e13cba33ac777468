package mailserver

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestUIDValidityFromClock: a mailbox's UIDVALIDITY is the Unix time of its
// creation, one more than the previous mailbox's when the clock has not
// moved on, and never 0.
func TestUIDValidityFromClock(t *testing.T) {
	for _, tc := range []struct {
		name  string
		clock []int64 // Unix seconds returned by successive calls
		want  []uint32
	}{
		{"time-based", []int64{1_700_000_000, 1_700_000_050}, []uint32{1_700_000_000, 1_700_000_050}},
		{"same second", []int64{1_700_000_000, 1_700_000_000, 1_700_000_000}, []uint32{1_700_000_000, 1_700_000_001, 1_700_000_002}},
		{"clock going back", []int64{1_700_000_000, 1_600_000_000}, []uint32{1_700_000_000, 1_700_000_001}},
		{"before 1970", []int64{-5, -5}, []uint32{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			st := newStore(100, func() time.Time {
				now := time.Unix(tc.clock[min(i, len(tc.clock)-1)], 0)
				i++
				return now
			})
			for j, w := range tc.want {
				if got := st.newMailbox("box", "").uidValidity; got != w {
					t.Errorf("mailbox %d: UIDVALIDITY %d, want %d", j, got, w)
				}
			}
		})
	}
}

// TestUIDValidityNotReusedAfterRestart: a server started again later (a
// new store, as `mailsim serve` after a restart) gives INBOX another
// UIDVALIDITY, so a POP3 client that kept the UIDLs of the first run does
// not take new mail for mail it already has (issue 11, item 7).
func TestUIDValidityNotReusedAfterRestart(t *testing.T) {
	start := time.Now()
	type run struct {
		validity uint32
		uidl     string
	}
	var runs []run
	for i, at := range []time.Time{start, start.Add(time.Minute)} {
		s, addrs := testServer(t, Options{UIDValidityNow: func() time.Time { return at }})
		lmtpSend(t, addrs.LMTP, testMessage("<restart-"+string(rune('a'+i))+"@test>", "restart"), "alice@example.com")
		c := imapLogin(t, addrs.IMAP, "alice", nil)
		data, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		p := pop3Login(t, addrs.POP3, "alice")
		ids, err := p.Uidl(0)
		if err != nil || len(ids) != 1 {
			t.Fatalf("run %d: UIDL = %v, %v", i, ids, err)
		}
		_ = p.Quit()
		runs = append(runs, run{data.UIDValidity, ids[0].UID})
		if lo := uint32(at.Unix()); data.UIDValidity < lo || data.UIDValidity > lo+100 {
			t.Errorf("run %d: INBOX UIDVALIDITY %d, want the creation time %d (+ a few mailboxes)", i, data.UIDValidity, lo)
		}
		s.Close()
	}
	if runs[0].validity == runs[1].validity {
		t.Errorf("INBOX UIDVALIDITY %d in both runs", runs[0].validity)
	}
	if runs[0].uidl == runs[1].uidl {
		t.Errorf("POP3 UIDL %q names different messages in the two runs", runs[0].uidl)
	}
}
