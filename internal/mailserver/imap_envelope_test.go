package mailserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
)

func TestParseAddressList(t *testing.T) {
	a := func(name, mbox, host string) imap.Address { return imap.Address{Name: name, Mailbox: mbox, Host: host} }
	tests := []struct {
		in   string
		want []imap.Address
	}{
		{"user@domain", []imap.Address{a("", "user", "domain")}},
		{`"Real, Name" <u@d>, v@e`, []imap.Address{a("Real, Name", "u", "d"), a("", "v", "e")}},
		{"user@domain (Real Name)", []imap.Address{a("Real Name", "user", "domain")}},
		{"group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;", []imap.Address{
			a("", "group", ""), a("", "g1", "d1.org"), a("", "g2", "d2.org"), {},
			a("", "group2", ""), a("", "g3", "d3.org"), {}}},
		{"group:;, group2: (foo) ;", []imap.Address{a("", "group", ""), {}, a("", "group2", ""), {}}},
		{"<user-from (comment)@ (comment) domain.org>", []imap.Address{a("", "user-from", "domain.org")}},
		{"<@route:user@domain>", []imap.Address{a("", "user", "domain")}},
		{"=?utf-8?q?Gr=C3=BCn?=: x@y;", []imap.Address{a("", "Grün", ""), a("", "x", "y"), {}}},
		{"unterminated: x@y", []imap.Address{a("", "unterminated", ""), a("", "x", "y"), {}}},
		{"not an address", nil},
	}
	for _, tc := range tests {
		got := parseAddressList(tc.in)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("parseAddressList(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestIMAPEnvelopeSearchMove: ENVELOPE with groups, SEARCH FROM on the
// parsed address, MOVE into the selected mailbox itself.
func TestIMAPEnvelopeSearchMove(t *testing.T) {
	_, addrs := testServer(t, Options{})
	for _, from := range []string{"<user-from (comment)@ (comment) domain.org>", "Other <other@domain.org>"} {
		msg := "From: " + from + "\r\nTo: team: a@b.org;\r\nMessage-ID: <" + from[1:4] + "@t>\r\nSubject: s\r\n\r\nbody\r\n"
		lmtpSend(t, addrs.LMTP, msg, "alice@example.com")
	}
	r := rawIMAPLogin(t, addrs.IMAP)
	r.command("a", "SELECT INBOX")
	got, _ := r.command("b", "FETCH 1 ENVELOPE")
	if len(got) != 1 || !strings.Contains(got[0], `((NIL NIL "team" NIL) (NIL NIL "a" "b.org") (NIL NIL NIL NIL))`) {
		t.Errorf("ENVELOPE: %q", got)
	}
	got, _ = r.command("c", "SEARCH FROM user-from@domain.org")
	if len(got) != 1 || got[0] != "* SEARCH 1" {
		t.Errorf("SEARCH FROM: %q", got)
	}
	got, st := r.command("d", "MOVE 1 INBOX")
	want := []string{"* OK [COPYUID", "* 1 EXPUNGE", "* 2 EXISTS"}
	if !strings.HasPrefix(st, "d OK") || len(got) < len(want) {
		t.Fatalf("MOVE: %q %s", got, st)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("MOVE answer %d = %q, want %s...", i, got[i], w)
		}
	}
}

// FuzzParseAddressList: any header value parses without a panic, and the
// group markers it returns are balanced (each start has its end).
func FuzzParseAddressList(f *testing.F) {
	for _, s := range []string{"a@b", "g: a@b;", `"x\" y" <a@b>`, "(c (d) e) a@b", "<@r:a@b>", "g:", ";;", `"`, "(", "<", "g: h: a@b;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		open := 0
		for _, a := range parseAddressList(v) {
			switch {
			case a.IsGroupStart():
				open++
			case a.IsGroupEnd():
				open--
			}
			if open < 0 || open > 1 {
				t.Fatalf("unbalanced groups in %q: %v", v, parseAddressList(v))
			}
		}
		if open != 0 {
			t.Fatalf("unterminated group in %q: %v", v, parseAddressList(v))
		}
		simplifyAddress(v)
	})
}
