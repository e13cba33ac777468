package mailserver

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2/imapserver"
)

// rawCommand sends one tagged command and returns its untagged lines and
// the tagged status line.
func (r *rawSession) command(tag, cmd string) (untagged []string, status string) {
	r.t.Helper()
	r.send(tag + " " + cmd + "\r\n")
	return r.reply(tag, cmd)
}

// reply reads the replies to the command cmd tagged tag.
func (r *rawSession) reply(tag, cmd string) (untagged []string, status string) {
	r.t.Helper()
	for {
		l, ok := r.line()
		if !ok {
			r.t.Fatalf("%q: connection closed", cmd)
		}
		if strings.HasPrefix(l, tag+" ") {
			return untagged, l
		}
		untagged = append(untagged, l)
	}
}

// rawIMAPLogin opens a raw IMAP session logged in as alice.
func rawIMAPLogin(t *testing.T, addr string) *rawSession {
	t.Helper()
	r := newRaw(t, addr)
	r.until("* OK")
	if _, st := r.command("l", "LOGIN alice secret"); !strings.HasPrefix(st, "l OK") {
		t.Fatalf("login: %s", st)
	}
	return r
}

func TestIMAPListSubscriptions(t *testing.T) {
	_, addrs := testServer(t, Options{})
	r := rawIMAPLogin(t, addrs.IMAP)
	for i, cmd := range []string{
		"CREATE t/a", "CREATE t/b/c", "CREATE t/d", "CREATE t/e/f",
		"SUBSCRIBE t/a", "SUBSCRIBE t/b/c", "SUBSCRIBE t/d", "SUBSCRIBE t/e/f", "UNSUBSCRIBE t/e/f",
		"SUBSCRIBE t/ghost", "DELETE t/d",
	} {
		if _, st := r.command(fmt.Sprint("s", i), cmd); !strings.Contains(st, " OK ") {
			t.Fatalf("%s: %s", cmd, st)
		}
	}
	tests := []struct {
		cmd  string
		want []string
	}{
		{`LIST "" ""`, []string{`* LIST (\Noselect) "/" ""`}},
		{`LIST "" "t/%"`, []string{
			`* LIST (\HasNoChildren) "/" "t/a"`,
			`* LIST (\Noselect \HasChildren) "/" "t/b"`,
			`* LIST (\Noselect \HasChildren) "/" "t/e"`,
		}},
		{`LIST "" "t/*"`, []string{
			`* LIST (\HasNoChildren) "/" "t/a"`,
			`* LIST (\HasNoChildren) "/" "t/b/c"`,
			`* LIST (\HasNoChildren) "/" "t/e/f"`,
		}},
		{`LIST "t/" "%"`, []string{
			`* LIST (\HasNoChildren) "/" "t/a"`,
			`* LIST (\Noselect \HasChildren) "/" "t/b"`,
			`* LIST (\Noselect \HasChildren) "/" "t/e"`,
		}},
		// the library asks for LSUB as for LIST (SUBSCRIBED), so LSUB
		// carries the LIST-EXTENDED attributes too
		{`LSUB "" "t/%"`, []string{
			`* LSUB (\HasNoChildren \Subscribed) "/" "t/a"`,
			`* LSUB (\Noselect \HasChildren) "/" "t/b"`,
			`* LSUB (\NonExistent \Subscribed) "/" "t/d"`,
			`* LSUB (\NonExistent \Subscribed) "/" "t/ghost"`,
		}},
		{`LIST (SUBSCRIBED) "" "t/*"`, []string{
			`* LIST (\HasNoChildren \Subscribed) "/" "t/a"`,
			`* LIST (\HasNoChildren \Subscribed) "/" "t/b/c"`,
			`* LIST (\NonExistent \Subscribed) "/" "t/d"`,
			`* LIST (\NonExistent \Subscribed) "/" "t/ghost"`,
		}},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" "t/b"`, []string{
			`* LIST (\Noselect \HasChildren) "/" "t/b" (CHILDINFO ("SUBSCRIBED"))`,
		}},
		{`LIST (SUBSCRIBED RECURSIVEMATCH) "" ("t/b" "t/b/c")`, []string{
			`* LIST (\HasNoChildren \Subscribed) "/" "t/b/c"`,
		}},
		{`LIST "" "inbox"`, []string{`* LIST (\HasNoChildren) "/" INBOX`}},
		{`LIST "" "*"`, []string{
			`* LIST (\HasNoChildren) "/" INBOX`,
			`* LIST (\HasNoChildren \Archive) "/" "Archive"`,
			`* LIST (\HasNoChildren \Drafts) "/" "Drafts"`,
			`* LIST (\HasNoChildren \Junk) "/" "Junk"`,
			`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
			`* LIST (\HasNoChildren \Trash) "/" "Trash"`,
			`* LIST (\HasNoChildren) "/" "t/a"`,
			`* LIST (\HasNoChildren) "/" "t/b/c"`,
			`* LIST (\HasNoChildren) "/" "t/e/f"`,
		}},
	}
	for i, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			got, st := r.command(fmt.Sprint("c", i), tc.cmd)
			if !strings.Contains(st, " OK ") {
				t.Fatalf("status %s", st)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
	// a subscription follows its name: re-creating t/d makes it a mailbox
	// that is subscribed again
	r.command("r1", "CREATE t/d")
	got, _ := r.command("r2", `LIST (SUBSCRIBED) "" "t/d"`)
	if len(got) != 1 || got[0] != `* LIST (\HasNoChildren \Subscribed) "/" "t/d"` {
		t.Errorf("after re-create: %q", got)
	}
}

// TestMatchMailbox checks the LIST matcher against the library's
// backtracking one on every small name and pattern, and on a pattern the
// library takes exponential time over (the test would not end with it).
func TestMatchMailbox(t *testing.T) {
	var names, patterns []string
	var gen func(prefix, alphabet string, n int, out *[]string)
	gen = func(prefix, alphabet string, n int, out *[]string) {
		*out = append(*out, prefix)
		if n == 0 {
			return
		}
		for _, c := range alphabet {
			gen(prefix+string(c), alphabet, n-1, out)
		}
	}
	gen("", "ab/", 4, &names)
	gen("", "a/*%", 4, &patterns)
	for _, ref := range []string{"", "a", "a/"} {
		for _, n := range names {
			for _, p := range patterns {
				if got, want := matchMailbox(n, ref, p), imapserver.MatchList(n, delim, ref, p); got != want {
					t.Fatalf("matchMailbox(%q, %q, %q) = %v, library says %v", n, ref, p, got, want)
				}
			}
		}
	}
	long := strings.Repeat("a", 255)
	for _, tc := range []struct {
		name, pattern string
		want          bool
	}{
		{long, strings.Repeat("*a", 30) + "b", false},
		{long, strings.Repeat("%a", 30) + "%", true},
		{long, strings.Repeat("a", 256), false},
		{"x/y", "x%", false},
		{"x/y", "x*", true},
	} {
		if got := matchMailbox(tc.name, "", tc.pattern); got != tc.want {
			t.Errorf("matchMailbox(%.20q..., %.20q...) = %v, want %v", tc.name, tc.pattern, got, tc.want)
		}
	}
}
