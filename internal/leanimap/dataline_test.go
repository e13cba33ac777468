package leanimap

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
)

// dataLineServer answers LOGIN and NOOP, and every other command with reply (the
// command's tag appended after it as "TAG OK done") — or, when endless,
// with reply and then spaces and digits that never end the line.
func dataLineServer(reply string, endless bool) func(net.Conn) {
	return func(c net.Conn) {
		r := bufio.NewReader(c)
		_, _ = io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 SORT] ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(line, " ")
			if strings.HasPrefix(rest, "LOGIN") || strings.HasPrefix(rest, "NOOP") {
				_, _ = io.WriteString(c, tag+" OK done\r\n")
				continue
			}
			if endless {
				_, _ = io.WriteString(c, reply)
				_ = faketest.Repeat(c, []byte(" 123456"), 64<<20)
				return
			}
			_, _ = io.WriteString(c, reply+tag+" OK done\r\n")
		}
	}
}

// TestBigMailboxDataLine: the SEARCH or SORT response of a big mailbox is
// one line longer than Options.MaxLine (30,000 UIDs: 188,894 bytes, over
// the default 64 KiB), and the client collects it whole, up to
// Options.MaxKept; before, such a mailbox failed UID SEARCH and UID SORT
// with "response line over 65536 bytes", an error counted against the
// server. Past MaxKept a data line that never ends fails the command
// with ErrReplyTooLarge, and so does a long line of any other response,
// or a SEARCH response no command collects (a FETCH in progress).
func TestBigMailboxDataLine(t *testing.T) {
	const n = 30000
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(" ")
		b.WriteString(strconv.Itoa(i))
	}
	uids := b.String()
	search := func(c *Client) ([]imap.UID, error) { return c.UIDSearch(nil, "ALL") }
	sort := func(c *Client) ([]imap.UID, error) { return c.UIDSort(nil, "ARRIVAL", "ALL") }
	fetch := func(c *Client) ([]imap.UID, error) {
		return nil, c.UIDFetch(imapAll, "(UID FLAGS)", func(*Message) error { return nil })
	}
	for _, tc := range []struct {
		name    string
		reply   string
		endless bool
		maxKept int64
		run     func(*Client) ([]imap.UID, error)
		want    int // UIDs; -1: ErrReplyTooLarge
	}{
		{"search", "* SEARCH" + uids + "\r\n", false, 0, search, n},
		{"sort", "* SORT" + uids + "\r\n", false, 0, sort, n},
		{"lower case, trailing space", "* search" + uids + " \r\n", false, 0, search, n},
		{"over MaxKept", "* SEARCH" + uids + "\r\n", false, 100 << 10, search, -1},
		{"endless search line", "* SEARCH 1", true, 1 << 20, search, -1},
		{"endless sort line", "* SORT 1", true, 1 << 20, sort, -1},
		{"long line of another response", "* OK" + uids + "\r\n", false, 0, search, -1},
		{"search line no command collects", "* SEARCH" + uids + "\r\n", false, 0, fetch, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := faketest.Start(t, faketest.Options{}, dataLineServer(tc.reply, tc.endless))
			c := dial(t, srv.Addr, Options{Timeout: 10 * time.Second, MaxKept: tc.maxKept})
			must(t, c.Login("alice", "secret"))
			got, err := tc.run(c)
			if tc.want < 0 {
				if !errors.Is(err, transport.ErrReplyTooLarge) {
					t.Fatalf("error %.200v, want ErrReplyTooLarge", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %.200v", err)
			}
			if len(got) != tc.want || got[0] != 1 || got[len(got)-1] != n {
				t.Fatalf("%d UIDs, want %d", len(got), tc.want)
			}
			if err := c.Noop(); err != nil {
				t.Fatalf("next command: %v", err)
			}
		})
	}
}

// TestFetchBoundAfterExpunge: a FETCH's bound on its responses
// (MaxFetchResponses) is of the most messages the mailbox held since the
// command began: another session's EXPUNGEs during a legitimate UID FETCH
// 1:* of a big mailbox lower EXISTS, not what the command may answer.
// Before 2026-12-05 the bound followed EXISTS down, and the fetch below
// (3,000 messages, 2,000 expunged meanwhile, 4,000 responses) failed with
// "over 3024 FETCH responses" (review C).
func TestFetchBoundAfterExpunge(t *testing.T) {
	var b strings.Builder
	b.WriteString("* 3000 EXISTS\r\n")
	for range 2000 {
		b.WriteString("* 1 EXPUNGE\r\n")
	}
	for i := 1; i <= 4000; i++ {
		n := strconv.Itoa(min(i, 1000))
		b.WriteString("* " + n + " FETCH (UID " + strconv.Itoa(i) + " FLAGS ())\r\n")
	}
	srv := faketest.Start(t, faketest.Options{}, dataLineServer(b.String(), false))
	c := dial(t, srv.Addr, Options{Timeout: 10 * time.Second})
	must(t, c.Login("alice", "secret"))
	got := 0
	if err := c.UIDFetch(imapAll, "(UID FLAGS)", func(*Message) error { got++; return nil }); err != nil {
		t.Fatalf("UID FETCH: %v", err)
	}
	if got != 4000 {
		t.Errorf("%d messages, want 4000", got)
	}
}
