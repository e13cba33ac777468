package transport

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// OpenSMTP starts an SMTP client on conn, which was dialed to ep: an LMTP
// client when lmtp (LMTP never upgrades to TLS here); with ep.TLS
// starttls, it reads the greeting and says EHLO and STARTTLS, and the
// client then runs the TLS handshake with TLSConfig(base, ep.Addr) at its
// next command (go-smtp's STARTTLS: a certificate the configuration does
// not trust fails the caller's Hello, the handshake is bounded by conn's
// deadlines, and conn.TLS stays false); otherwise a client that reads the
// greeting with its first command. conn is a *Conn, or what
// ReadSMTPGreeting returned. The caller sets the client's timeouts, says
// hello, and passes errors through the Conn's Explain as it needs.
func OpenSMTP(conn net.Conn, ep Endpoint, lmtp bool, base *tls.Config) (*smtp.Client, error) {
	switch {
	case lmtp:
		return smtp.NewClientLMTP(conn), nil
	case ep.TLS == TLSStartTLS:
		return smtp.NewClientStartTLS(conn, TLSConfig(base, ep.Addr))
	}
	return smtp.NewClient(conn), nil
}

// The bounds of a greeting ReadSMTPGreeting reads: lines, and bytes a
// line.
const (
	maxGreetingLines = 100
	maxGreetingLine  = 4096
)

// ReadSMTPGreeting reads the server's greeting on conn under conn's
// timeout: a 220 reply of one line or more (at most 100 lines of 4 KiB).
// A reply with another code is an *smtp.SMTPError. go-smtp reads the
// greeting itself, with its client's first command: the net.Conn returned
// reads the bytes read here again, then conn, for OpenSMTP. So the wait
// for the greeting can be a step of its own (clients: CONNECT).
func ReadSMTPGreeting(conn *Conn) (net.Conn, error) {
	_ = conn.Extend(0)
	var seen bytes.Buffer
	br := bufio.NewReaderSize(io.TeeReader(conn, &seen), maxGreetingLine)
	for range maxGreetingLines {
		line, err := boundedLine(br)
		if err != nil {
			return nil, fmt.Errorf("smtp %s: greeting: %w", conn.addr, err)
		}
		text := strings.TrimRight(string(line), "\r\n")
		code, err := strconv.Atoi(text[:min(3, len(text))])
		if err != nil || len(text) < 3 || code < 100 || code > 599 || len(text) > 3 && text[3] != ' ' && text[3] != '-' {
			return nil, fmt.Errorf("smtp %s: greeting %q: malformed", conn.addr, clip(line))
		}
		if len(text) > 3 && text[3] == '-' {
			continue // more lines follow
		}
		if code != 220 {
			msg := ""
			if len(text) > 4 {
				msg = text[4:]
			}
			return nil, fmt.Errorf("smtp %s: greeting: %w", conn.addr, &smtp.SMTPError{Code: code, Message: ClipText(msg, maxErrText)})
		}
		return &replayConn{Conn: conn, r: io.MultiReader(&seen, conn)}, nil
	}
	return nil, fmt.Errorf("smtp %s: greeting: over %d lines: %w", conn.addr, maxGreetingLines, ErrReplyTooLarge)
}

// replayConn is a Conn whose reads return r: bytes read from the Conn
// before, then the Conn's.
type replayConn struct {
	*Conn
	r io.Reader
}

// Read implements net.Conn.
func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }
