package mailserver

import (
	"net"
	"reflect"
	"sort"
	"testing"
)

// fakeConn is a net.Conn whose reads replay client bytes and whose writes
// are discarded, for driving a meter without a network.
type fakeConn struct{ net.Conn }

func (fakeConn) Close() error { return nil }

// meterCase drives a meter with alternating client and server chunks.
type meterCase struct {
	name   string
	chunks []chunk
	want   []string // "COMMAND outcome", sorted
}

type chunk struct {
	client bool
	data   string
}

// cl is a chunk the client sends, sv one the server writes.
func cl(d string) chunk { return chunk{true, d} }
func sv(d string) chunk { return chunk{false, d} }

// feedMeter feeds chunks through the meter's scanners the way Read and
// Write do, then closes it, and returns what was recorded.
func feedMeter(in, out func([]byte), closeFn func(), rec *countingRecorder, chunks []chunk) []string {
	for _, ch := range chunks {
		if ch.client {
			in([]byte(ch.data))
		} else {
			out([]byte(ch.data))
		}
	}
	closeFn()
	var got []string
	for k, n := range rec.commands {
		for i := 0; i < n; i++ {
			got = append(got, k[len("imap "):])
		}
	}
	sort.Strings(got)
	return got
}

func TestIMAPMeter(t *testing.T) {
	tests := []meterCase{
		{"simple", []chunk{cl("a1 NOOP\r\n"), sv("a1 OK done\r\n")}, []string{"NOOP ok"}},
		{"uid and case", []chunk{cl("a1 uid fetch 1:* (FLAGS)\r\n"), sv("* 1 FETCH (FLAGS ())\r\na1 OK\r\n")}, []string{"UID FETCH ok"}},
		{"unknown", []chunk{cl("a1 XYZZY\r\n"), sv("a1 BAD Unknown command\r\n")}, []string{"other bad"}},
		{"pipelined split", []chunk{cl("a1 NOOP\r\na2 SEL"), cl("ECT INBOX\r\n"), sv("a1 OK\r\n"), sv("a2 NO [NONEXISTENT] x\r\n")}, []string{"NOOP ok", "SELECT no"}},
		{"append literal", []chunk{cl("a1 APPEND INBOX {11}\r\n"), sv("+ Ready\r\n"), cl("a2 NOOP\r\nx\r\n"), cl("\r\n"), sv("a1 OK [APPENDUID 1 1] done\r\n")}, []string{"APPEND ok"}},
		{"non-sync literal", []chunk{cl("a1 LOGIN {5+}\r\nalice secret\r\n"), sv("a1 OK\r\n")}, []string{"LOGIN ok"}},
		{"refused literal", []chunk{cl("a1 APPEND INBOX {99999}\r\n"), sv("a1 NO [TOOBIG] x\r\n"), cl("a2 NOOP\r\n"), sv("a2 OK\r\n")}, []string{"APPEND no", "NOOP ok"}},
		{"idle", []chunk{cl("a1 IDLE\r\n"), sv("+ idling\r\n* 3 EXISTS\r\n"), cl("DONE\r\n"), sv("a1 OK IDLE done\r\n")}, []string{"IDLE ok"}},
		{"authenticate continuation", []chunk{cl("a1 AUTHENTICATE PLAIN\r\n"), sv("+ \r\n"), cl("AGFsaWNlAHNlY3JldA==\r\n"), sv("a1 OK\r\n")}, []string{"AUTHENTICATE ok"}},
		{"server literal looks like tag", []chunk{cl("a1 FETCH 1 BODY[]\r\n"), sv("* 1 FETCH (BODY[] {9}\r\na1 NO hi)\r\na1 OK done\r\n")}, []string{"FETCH ok"}},
		{"vanished", []chunk{cl("a1 IDLE\r\n"), sv("+ idling\r\n")}, []string{"IDLE error"}},
		// The guard below decrypts: the meter goes on after STARTTLS.
		{"starttls goes on", []chunk{cl("a1 STARTTLS\r\n"), sv("a1 OK Begin TLS\r\n"), cl("a2 NOOP\r\n"), sv("a2 OK\r\n")}, []string{"NOOP ok", "STARTTLS ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newCountingRecorder()
			m := newIMAPMeter(fakeConn{}, rec)
			got := feedMeter(m.sawClient, m.sawServer, func() { m.Close() }, rec, tc.chunks)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSMTPMeter(t *testing.T) {
	tests := []meterCase{
		{"greeting ignored", []chunk{sv("220 hi\r\n"), cl("EHLO x\r\n"), sv("250-hi\r\n250-PIPELINING\r\n250 CHUNKING\r\n")}, []string{"EHLO ok"}},
		{"pipelined", []chunk{cl("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<x@y>\r\nDATA\r\n"), sv("250 ok\r\n250 ok\r\n550 no such user\r\n354 go\r\n"),
			cl("Subject: x\r\n\r\nRCPT TO:<not a command>\r\n..\r\n.\r\n"), sv("250 queued\r\n")},
			[]string{"DATA ok", "MAIL ok", "RCPT no", "RCPT ok"}},
		{"auth continuation", []chunk{cl("AUTH PLAIN\r\n"), sv("334 \r\n"), cl("AGFsaWNlAHNlY3JldA==\r\n"), sv("235 ok\r\n")}, []string{"AUTH ok"}},
		{"syntax error", []chunk{cl("FOO\r\n"), sv("500 5.5.2 unknown\r\n")}, []string{"other bad"}},
		{"bdat chunk", []chunk{cl("BDAT 12 LAST\r\nQUIT\r\nNOOP\r\n"), sv("250 ok\r\n")}, []string{"BDAT ok"}},
		{"lmtp extra replies", []chunk{cl("DATA\r\n"), sv("354 go\r\n"), cl("x\r\n.\r\n"), sv("250 a ok\r\n550 b failed\r\n"), cl("QUIT\r\n"), sv("221 bye\r\n")}, []string{"DATA ok", "QUIT ok"}},
		{"vanished in data", []chunk{cl("DATA\r\n"), sv("354 go\r\n"), cl("half")}, []string{"DATA error"}},
		// The meter answers STARTTLS and decrypts below itself
		// (answerStartTLS): it goes on after STARTTLS.
		{"starttls goes on", []chunk{cl("STARTTLS\r\n"), sv("220 2.0.0 Ready to start TLS\r\n"), cl("EHLO x\r\n"), sv("250 hi\r\n")}, []string{"EHLO ok", "STARTTLS ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newCountingRecorder()
			m := newSMTPMeter(fakeConn{}, rec, "imap") // proto prefix trimmed by feedMeter
			got := feedMeter(m.sawClient, m.sawServer, func() { m.Close() }, rec, tc.chunks)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLMTPMeterPerRecipientReplies: LMTP answers the end of a message
// once per recipient, in go-smtp's shape "<recipient> text" after the
// codes; the replies after the first answer no command, so that commands
// pipelined after the message get their own. Before, they were taken for
// those commands' replies (RSET no, NOOP no).
func TestLMTPMeterPerRecipientReplies(t *testing.T) {
	tests := []meterCase{
		{"pipelined after data", []chunk{cl("MAIL FROM:<a@b>\r\nRCPT TO:<b@d>\r\nRCPT TO:<c@d>\r\nRCPT TO:<x@d>\r\nDATA\r\n"),
			sv("250 2.0.0 Roger\r\n250 2.0.0 I'll make sure <b@d> gets this\r\n250 2.0.0 ok\r\n550 5.1.1 no such user\r\n354 2.0.0 Go ahead. End your data with <CR><LF>.<CR><LF>\r\n"),
			cl("Subject: x\r\n\r\nx\r\n.\r\nRSET\r\nQUIT\r\n"),
			sv("250 2.0.0 <b@d> OK: queued\r\n452 4.2.2 <c@d> over quota\r\n250 2.0.0 Session reset\r\n221 2.0.0 Bye\r\n")},
			[]string{"DATA ok", "MAIL ok", "QUIT ok", "RCPT no", "RCPT ok", "RCPT ok", "RSET ok"}},
		{"bdat last", []chunk{cl("MAIL FROM:<a@b>\r\nRCPT TO:<b@d>\r\nRCPT TO:<c@d>\r\nBDAT 3 LAST\r\nxyzNOOP\r\n"),
			sv("250 2.0.0 ok\r\n250 2.0.0 ok\r\n250 2.0.0 ok\r\n250 2.0.0 <b@d> OK: queued\r\n452 4.2.2 <c@d> over quota\r\n250 2.0.0 noop\r\n")},
			[]string{"BDAT ok", "MAIL ok", "NOOP ok", "RCPT ok", "RCPT ok"}},
		{"bdat chunks then last", []chunk{cl("MAIL FROM:<a@b>\r\nRCPT TO:<b@d>\r\nRCPT TO:<c@d>\r\nBDAT 2\r\nxyBDAT 1 last\r\nzNOOP\r\n"),
			sv("250 2.0.0 ok\r\n250 2.0.0 ok\r\n250 2.0.0 ok\r\n250 2.0.0 Continue\r\n250 2.0.0 <b@d> OK\r\n452 4.2.2 <c@d> x\r\n250 2.0.0 noop\r\n")},
			[]string{"BDAT ok", "BDAT ok", "MAIL ok", "NOOP ok", "RCPT ok", "RCPT ok"}},
		{"refused bdat last is one reply", []chunk{cl("MAIL FROM:<a@b>\r\nRCPT TO:<b@d>\r\nRCPT TO:<c@d>\r\nBDAT x LAST\r\nNOOP\r\nQUIT\r\n"),
			sv("250 2.0.0 ok\r\n250 2.0.0 ok\r\n250 2.0.0 ok\r\n501 5.5.4 Malformed size argument\r\n250 2.0.0 noop\r\n221 2.0.0 Bye\r\n")},
			[]string{"BDAT bad", "MAIL ok", "NOOP ok", "QUIT ok", "RCPT ok", "RCPT ok"}},
		{"data refused before 354", []chunk{cl("MAIL FROM:<a@b>\r\nRCPT TO:<b@d>\r\nRCPT TO:<c@d>\r\nDATA\r\nNOOP\r\n"),
			sv("250 2.0.0 ok\r\n250 2.0.0 ok\r\n250 2.0.0 ok\r\n554 5.0.0 no\r\n250 2.0.0 noop\r\n")},
			[]string{"DATA no", "MAIL ok", "NOOP ok", "RCPT ok", "RCPT ok"}},
		{"multi-line per-recipient replies", []chunk{cl("DATA\r\n"), sv("354 2.0.0 go\r\n"), cl("x\r\n.\r\nNOOP\r\n"),
			sv("250-2.0.0 <b@d> line one\r\n250 2.0.0 line two\r\n452-4.2.2 <c@d> a\r\n452 4.2.2 b\r\n502 5.5.1 no noop\r\n")},
			[]string{"DATA ok", "NOOP bad"}},
		{"two messages in a row", []chunk{cl("DATA\r\n"), sv("354 2.0.0 go\r\n"), cl("x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<b@d>\r\nDATA\r\n"),
			sv("250 2.0.0 <b@d> OK\r\n250 2.0.0 <c@d> OK\r\n250 2.0.0 Roger\r\n250 2.0.0 ok\r\n354 2.0.0 go\r\n"),
			cl("y\r\n.\r\nQUIT\r\n"), sv("250 2.0.0 <b@d> OK\r\n221 2.0.0 Bye\r\n")},
			[]string{"DATA ok", "DATA ok", "MAIL ok", "QUIT ok", "RCPT ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := newCountingRecorder()
			m := newSMTPMeter(fakeConn{}, rec, ProtoLMTP) // "lmtp " trimmed as "imap " by feedMeter
			got := feedMeter(m.sawClient, m.sawServer, func() { m.Close() }, rec, tc.chunks)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRcptReply(t *testing.T) {
	for l, want := range map[string]bool{
		"250 2.0.0 <alice@example.com> OK: queued":    true,
		"452-4.2.2 <bob@example.com> over quota":      true,
		"250 <alice@example.com> no enhanced code":    true,
		"250 2.0.0 I'll make sure <alice> gets it":    false,
		"354 2.0.0 Go ahead. End your data with <CR>": false,
		"250 2.0.0":     false,
		"250":           false,
		"25":            false,
		"250x2.0.0 <":   false,
		"221 2.0.0 Bye": false,
	} {
		if got := rcptReply([]byte(l)); got != want {
			t.Errorf("rcptReply(%q) = %v, want %v", l, got, want)
		}
	}
}

func TestLineScannerLiteralSize(t *testing.T) {
	tests := []struct {
		line string
		want int64
	}{
		{"a1 APPEND INBOX {12}", 12},
		{"a1 APPEND INBOX {12+}", 12},
		{"* 1 FETCH (BINARY[] ~{7}", 7},
		{"a1 NOOP", -1},
		{"a1 X {}", -1},
		{"a1 X {1a}", -1},
		{"a1 X {99999999999999999999999}", -1},
		{"}", -1},
	}
	for _, tc := range tests {
		var ls lineScanner
		ls.add([]byte(tc.line))
		if got := ls.literalSize(); got != tc.want {
			t.Errorf("%q: literal %d, want %d", tc.line, got, tc.want)
		}
	}
}
