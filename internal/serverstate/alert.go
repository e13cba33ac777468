package serverstate

import (
	"bytes"
	"strings"
	"sync"

	"github.com/mailsim/mailsim/internal/transport"
)

// maxAlertLine bounds the reply line alertWatch holds: a longer line is
// skipped to its end.
const maxAlertLine = 4 << 10

// alertWatch is the io.Writer the preflight's first IMAP session copies
// its bytes to (imapclient.Options.DebugWriter) until its LOGIN is
// answered: it keeps the text of the first [ALERT] response code of the
// greeting or the LOGIN reply, a text a server means people to read (RFC
// 9051, 7.1; Courier without file notification says so there), which
// go-imap's client drops. It holds one line of at most maxAlertLine
// bytes; the session's later bytes, and the client's own, are passed over.
type alertWatch struct {
	mu   sync.Mutex
	line []byte
	long bool // the line is over maxAlertLine: skipped to its end
	done bool
	text string
}

// Write implements io.Writer; it never fails.
func (a *alertWatch) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := len(p)
	for !a.done && len(p) > 0 {
		chunk, rest, eol := bytes.Cut(p, []byte{'\n'})
		if !a.long && len(a.line)+len(chunk) > maxAlertLine {
			a.long, a.line = true, a.line[:0]
		}
		if !a.long {
			a.line = append(a.line, chunk...)
		}
		if !eol {
			break
		}
		if !a.long && a.text == "" {
			a.text = alertText(string(a.line))
		}
		a.line, a.long, p = a.line[:0], false, rest
	}
	return n, nil
}

// stop ends the watch and returns the alert's text, "" for none.
func (a *alertWatch) stop() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.done, a.line = true, nil
	return a.text
}

// alertText returns the text after the [ALERT] code of a status response
// line ("* OK [ALERT] text", tagged or untagged, OK, NO, BAD, BYE or
// PREAUTH), clipped to maxIncompleteText bytes; "" for any other line.
func alertText(line string) string {
	f := strings.SplitN(strings.TrimRight(line, "\r"), " ", 3)
	if len(f) < 3 {
		return ""
	}
	switch strings.ToUpper(f[1]) {
	case "OK", "NO", "BAD", "BYE", "PREAUTH":
	default:
		return ""
	}
	const code = "[ALERT]"
	if len(f[2]) < len(code) || !strings.EqualFold(f[2][:len(code)], code) {
		return ""
	}
	text := strings.TrimSpace(f[2][len(code):])
	if text == "" {
		text = "(no text)"
	}
	return transport.ClipText(text, maxIncompleteText)
}
