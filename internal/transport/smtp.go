package transport

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/emersion/go-smtp"
)

// OpenSMTP starts a go-smtp client on conn, dialed to ep, whose greeting
// ReadSMTPGreeting read (greeted is what it returned): an LMTP client when
// lmtp (LMTP never upgrades to TLS here); with ep.TLS starttls it first
// runs StartTLSSMTP with TLSConfig(base, ep.Addr), so the client speaks
// over TLS from its first command and conn.TLS is true. The client's
// CommandTimeout and SubmissionTimeout are conn's timeout, not go-smtp's
// defaults (5 and 12 minutes): every wait of the session has mailsim's
// deadline. Every reply the client reads is bounded (replyLimiter): at
// most maxReplyLines lines, each of go-smtp's 2000 bytes at most. The
// caller may change the timeouts, says hello, and passes errors through
// conn's Explain as it needs.
func OpenSMTP(conn *Conn, greeted net.Conn, ep Endpoint, lmtp bool, base *tls.Config) (*smtp.Client, error) {
	var c *smtp.Client
	switch {
	case lmtp:
		c = smtp.NewClientLMTP(&replyLimiter{Conn: greeted})
	case ep.TLS == TLSStartTLS:
		if err := StartTLSSMTP(conn, TLSConfig(base, ep.Addr)); err != nil {
			return nil, err
		}
		// go-smtp reads a greeting before its first command; the server
		// sent its own before STARTTLS.
		c = smtp.NewClient(&replyLimiter{Conn: &replayConn{Conn: conn, r: io.MultiReader(strings.NewReader("220 TLS established\r\n"), conn)}})
	default:
		c = smtp.NewClient(&replyLimiter{Conn: greeted})
	}
	c.CommandTimeout = conn.timeout
	c.SubmissionTimeout = conn.timeout
	return c, nil
}

// starttlsHello is the name the EHLO before STARTTLS gives (StartTLSSMTP):
// the session's own hello follows over TLS.
const starttlsHello = "localhost"

// StartTLSSMTP upgrades an SMTP session whose greeting ReadSMTPGreeting
// read: it says EHLO (as starttlsHello), sends STARTTLS once the server
// offers it and, once the server agreed (220), runs the TLS handshake with
// cfg (nil: TLSConfig(nil, addr)); each wait within conn's timeout. A
// server that does not offer STARTTLS or refuses it fails with an error
// wrapping ErrTLSRefused ([NetOutcome]: tls, as IMAP's and POP3's); a
// refused EHLO is the server's *smtp.SMTPError; a failed handshake wraps
// the TLS error. The EHLO's reply is not kept: RFC 3207 has the client
// say EHLO again over TLS.
func StartTLSSMTP(conn *Conn, cfg *tls.Config) error {
	// The server sends nothing after its STARTTLS reply until the client's
	// TLS hello, so a small buffer reads no further than that reply.
	br := bufio.NewReaderSize(conn, maxReplyLine)
	_ = conn.Extend(0)
	if _, err := conn.Write([]byte("EHLO " + starttlsHello + "\r\n")); err != nil {
		return atServer(conn.protocol, conn.addr, "EHLO: %w", err)
	}
	lines, err := readSMTPReply(br, conn, "EHLO", 250)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(lines[1:], func(l string) bool {
		ext, _, _ := strings.Cut(l, " ")
		return strings.EqualFold(ext, "STARTTLS")
	}) {
		return atServer(conn.protocol, conn.addr, "EHLO: STARTTLS not offered: %w", ErrTLSRefused)
	}
	_ = conn.Extend(0)
	if _, err := conn.Write([]byte("STARTTLS\r\n")); err != nil {
		return atServer(conn.protocol, conn.addr, "STARTTLS: %w", err)
	}
	if _, err := readSMTPReply(br, conn, "STARTTLS", 220); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			// A refusal, as IMAP's and POP3's: tls, not the server's no.
			return atServer(conn.protocol, conn.addr, "STARTTLS %d %s: %w", se.Code, se.Message, ErrTLSRefused)
		}
		return err
	}
	if br.Buffered() > 0 {
		// Plaintext after the reply would be taken for encrypted data
		// (the STARTTLS injection of CVE-2011-0411).
		return atServer(conn.protocol, conn.addr, "STARTTLS: data after the reply: %w", ErrTLSRefused)
	}
	if cfg == nil {
		cfg = TLSConfig(nil, conn.addr)
	}
	return conn.StartTLS(cfg)
}

// readSMTPReply reads the reply to cmd (or the greeting) from br, of at
// most maxReplyLines lines of br's size, and returns its lines' texts
// (code and separator cut off). A reply with a code other than want is
// an *smtp.SMTPError, its lines' texts joined; a line that is no reply
// fails it.
func readSMTPReply(br *bufio.Reader, conn *Conn, cmd string, want int) ([]string, error) {
	var lines []string
	for range maxReplyLines {
		line, err := boundedLine(br)
		if err != nil {
			return nil, atServer(conn.protocol, conn.addr, "%s: %w", cmd, err)
		}
		text := strings.TrimRight(string(line), "\r\n")
		code, ok := replyCode(text)
		if !ok {
			return nil, atServer(conn.protocol, conn.addr, "%s %q: malformed", cmd, clip(line))
		}
		lines = append(lines, text[min(4, len(text)):])
		if len(text) > 3 && text[3] == '-' {
			continue // more lines follow
		}
		if code != want {
			se := &smtp.SMTPError{Code: code, Message: ClipText(strings.Join(lines, " "), maxErrText)}
			return nil, atServer(conn.protocol, conn.addr, "%s: %w", cmd, se)
		}
		return lines, nil
	}
	return nil, atServer(conn.protocol, conn.addr, "%s: over %d lines: %w", cmd, maxReplyLines, ErrReplyTooLarge)
}

// replyCode returns the code of an SMTP reply line (CRLF cut off): three
// digits from 100 to 599, then the end, a space or a hyphen.
func replyCode(text string) (int, bool) {
	code, err := strconv.Atoi(text[:min(3, len(text))])
	if err != nil || len(text) < 3 || code < 100 || code > 599 || len(text) > 3 && text[3] != ' ' && text[3] != '-' {
		return 0, false
	}
	return code, true
}

// The bounds of an SMTP reply read here (readSMTPReply: the greeting,
// and the replies StartTLSSMTP waits for): lines, and bytes a line.
const (
	maxReplyLines = 100
	maxReplyLine  = 4096
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
	br := bufio.NewReaderSize(io.TeeReader(conn, &seen), maxReplyLine)
	if _, err := readSMTPReply(br, conn, "greeting", 220); err != nil {
		if se := (*smtp.SMTPError)(nil); errors.As(err, &se) {
			if se.Code >= 400 {
				// A 4xx or 5xx refuses the session.
				return nil, GreetingRefused(err)
			}
			// Another code in the greeting's place is no reply of the
			// server's to anything: garbage (error), not a refusal.
			return nil, atServer(conn.protocol, conn.addr, "greeting: unexpected reply %d %q", se.Code, clip([]byte(se.Message)))
		}
		if NetOutcome(err) == OutcomeTimeout {
			// readSMTPReply's error names the server and the step
			// (ServerError{Err: "greeting: CAUSE"}): keep its cause.
			cause := err
			if se := (*ServerError)(nil); errors.As(err, &se) {
				cause = se.Err
				if u := errors.Unwrap(cause); u != nil {
					cause = u
				}
			}
			return nil, GreetingError(conn, cause)
		}
		return nil, err
	}
	return &replayConn{Conn: conn, r: io.MultiReader(&seen, conn)}, nil
}

// replyLimiter bounds the replies go-smtp reads on a connection: go-smtp
// cuts a line at 2000 bytes, but reads the lines of a multi-line reply
// (NNN-text) with no bound on their number, keeping every one, so a
// server that never ends its reply made the client hold all it sent until
// the command's deadline (hundreds of MiB a second on loopback). Past
// maxReplyLines lines of one reply the read fails with an error wrapping
// ErrReplyTooLarge ([NetOutcome]: error), and so does every later read.
type replyLimiter struct {
	net.Conn
	lines int   // the lines of the current reply read to their LF
	col   int   // the bytes of the current line so far (up to 4)
	more  bool  // the current line is a continuation line (NNN-)
	err   error // sticky, once the bound was passed
}

// Read implements net.Conn.
func (l *replyLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.Conn.Read(p)
	for _, b := range p[:n] {
		switch {
		case b == '\n':
			if !l.more {
				l.lines = -1 // the reply's last line: the next line starts a reply
			}
			l.lines++
			if l.lines >= maxReplyLines {
				l.err = fmt.Errorf("smtp: reply over %d lines: %w", maxReplyLines, ErrReplyTooLarge)
				return 0, l.err
			}
			l.col, l.more = 0, false
		case l.col < 4:
			l.more = l.col == 3 && b == '-'
			l.col++
		}
	}
	return n, err
}

// replayConn is a Conn whose reads return r: bytes read from the Conn
// before, then the Conn's.
type replayConn struct {
	*Conn
	r io.Reader
}

// Read implements net.Conn.
func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }
