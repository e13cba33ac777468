package transport

import (
	"errors"
	"strings"
	"testing"
)

// TestIMAPLimiter feeds reply streams, split into chunks of every size,
// and checks where the bounds hold and where they fail. A SEARCH, SORT or
// ESEARCH response may pass the line bound, up to the data line's (a big
// mailbox's UID SEARCH ALL; before, "reply line over 64 bytes" here).
func TestIMAPLimiter(t *testing.T) {
	const maxLine, maxData, maxLiteral = 64, 200, 100
	nums := func(n int) string { return strings.Repeat(" 1", n) }
	tests := []struct {
		name   string
		stream string
		ok     bool
	}{
		{"short lines", "* OK hello\r\nA1 OK done\r\n", true},
		{"line at the bound", strings.Repeat("x", maxLine-2) + "\r\n", true},
		{"line over the bound", strings.Repeat("x", maxLine-1) + "\r\n", false},
		{"endless line", strings.Repeat("x", 10*maxLine), false},
		{"literal excluded from the line", "* 1 FETCH (BODY[] {100}\r\n" + strings.Repeat("y", 100) + ")\r\n", true},
		{"line after a literal bounded again", "* 1 FETCH (BODY[] {10}\r\n" + strings.Repeat("y", 10) + strings.Repeat("z", maxLine) + "\r\n", false},
		{"literal over the bound", "* 1 FETCH (BODY[] {101}\r\n", false},
		{"literal8 over the bound", "* 1 FETCH (BINARY[] ~{101}\r\n", false},
		{"literal size overflow", "* 1 FETCH (BODY[] {99999999999999999999999}\r\n", false},
		{"LITERAL+ syntax", "* LIST () \"/\" {5+}\r\nINBOX\r\n", true},
		{"brace text is no literal", "* OK {not a literal}\r\n" + strings.Repeat("x", 40) + "\r\n", true},
		{"literal lines look like lines", "* 1 FETCH (BODY[] {80}\r\n" + strings.Repeat("\r\n{99999}", 10) + ")\r\n", true},
		{"search line over the line bound", "* SEARCH" + nums(90) + "\r\n", true},
		{"sort line over the line bound", "* sort" + nums(90) + "\r\n", true},
		{"esearch line over the line bound", "* ESEARCH (TAG \"A1\") UID ALL 1:3" + strings.Repeat(",5", 70) + "\r\n", true},
		{"search line at the data bound", "* SEARCH" + nums(95) + "\r\n", true},
		{"search line over the data bound", "* SEARCH" + nums(96) + "\r\n", false},
		{"endless search line", "* SEARCH" + nums(1000), false},
		{"no data line", "* SEARCHING" + nums(90) + "\r\n", false},
		{"tagged line", "A1 SEARCH" + nums(90) + "\r\n", false},
		{"the line after a data line", "* SEARCH" + nums(90) + "\r\n* OK" + nums(40) + "\r\n", false},
		{"a data line after a literal", "* 1 FETCH (BODY[] {10}\r\n" + strings.Repeat("y", 10) + ")\r\n* SORT" + nums(90) + "\r\n", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunk := range []int{1, 3, 7, 64, len(tc.stream)} {
				l := &imapLimiter{maxLine: maxLine, maxData: maxData, maxLiteral: maxLiteral}
				var err error
				for p := tc.stream; len(p) > 0 && err == nil; {
					n := min(chunk, len(p))
					err = l.scan([]byte(p[:n]))
					p = p[n:]
				}
				if tc.ok && err != nil {
					t.Errorf("chunk %d: %v", chunk, err)
				}
				if !tc.ok && !errors.Is(err, ErrReplyTooLarge) {
					t.Errorf("chunk %d: err %v, want ErrReplyTooLarge", chunk, err)
				}
			}
		})
	}
}

func TestLiteralAtEnd(t *testing.T) {
	tests := []struct {
		line string
		n    int64
		ok   bool
	}{
		{"* 1 FETCH (BODY[] {12}\r\n", 12, true},
		{"* 1 FETCH (BODY[] {12}\n", 12, true},
		{"* 1 FETCH (BINARY[] ~{0}\r\n", 0, true},
		{"A1 APPEND {3+}\r\n", 3, true},
		{"* OK {}\r\n", 0, false},
		{"* OK {1a}\r\n", 0, false},
		{"* OK done\r\n", 0, false},
		{"}\r\n", 0, false},
		{"{99999999999999999999}\r\n", -1, true},
	}
	for _, tc := range tests {
		n, ok := literalAtEnd([]byte(tc.line))
		if n != tc.n || ok != tc.ok {
			t.Errorf("literalAtEnd(%q) = %d, %v; want %d, %v", tc.line, n, ok, tc.n, tc.ok)
		}
	}
}
