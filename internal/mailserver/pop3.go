package mailserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/view"
)

// pop3Commands are the POP3 command names recorded as themselves.
var pop3Commands = canonicalNames(map[string]bool{
	"USER": true, "PASS": true, "APOP": true, "AUTH": true, "CAPA": true, "STAT": true, "LIST": true,
	"UIDL": true, "RETR": true, "TOP": true, "DELE": true, "RSET": true, "NOOP": true, "QUIT": true, "STLS": true,
})

// maxAuthFailures is how many failed logins a POP3 connection may make
// before the server closes it.
const maxAuthFailures = 5

var errLineTooLong = errors.New("line too long")

// servePOP3 serves POP3 on ln until ln is closed.
func (s *Server) servePOP3(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			s.log.Warn("pop3 accept", "err", err)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		go s.handlePOP3(c)
	}
}

// popMsg is one message of a POP3 maildrop.
type popMsg struct {
	msg       *message
	deleted   bool
	retrieved bool // RETR was sent: \Seen is set at QUIT
}

// pop3Session is one POP3 connection (RFC 1939, RFC 2449 CAPA, RFC 5034
// AUTH PLAIN, RFC 2595 STLS).
type pop3Session struct {
	srv  *Server
	conn net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer

	userName string // from USER
	user     *user  // set once authenticated (TRANSACTION state)
	inbox    *mailbox
	drop     []popMsg
	uidv     uint32
	failures int
	tls      bool
}

func (s *Server) handlePOP3(c net.Conn) {
	p := &pop3Session{srv: s, conn: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}
	_, p.tls = c.(*tls.Conn)
	defer func() {
		if p.user != nil {
			s.closeSession(p.user)
		}
		c.Close()
	}()
	if tc, ok := c.(*tls.Conn); ok {
		c.SetDeadline(time.Now().Add(s.opts.IdleTimeout))
		if err := tc.Handshake(); err != nil {
			s.log.Debug("pop3 tls handshake", "err", err)
			return
		}
	}
	if p.reply(true, "mailsim POP3 server ready") != nil {
		return
	}
	for {
		line, err := p.readLine()
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				p.reply(false, "line too long")
			}
			return
		}
		start := time.Now()
		name, arg, _ := strings.Cut(line, " ")
		cmd := normaliseCommand(name, pop3Commands)
		if s.limit.wait(s.ctx.Done(), nil) != nil { // the server is closing
			s.rec.Command(ProtoPOP3, cmd, OutcomeError, time.Since(start))
			return
		}
		outcome, quit, err := p.handle(cmd, arg)
		d := time.Since(start)
		s.rec.Command(ProtoPOP3, cmd, outcome, d)
		if p.user != nil {
			p.user.service.Add(int64(d))
		}
		if err != nil || quit {
			return
		}
	}
}

// readLine reads one CRLF- or LF-terminated line of at most MaxLineLength
// bytes, waiting at most IdleTimeout.
func (p *pop3Session) readLine() (string, error) {
	p.conn.SetReadDeadline(time.Now().Add(p.srv.opts.IdleTimeout))
	var line []byte
	for {
		chunk, err := p.br.ReadSlice('\n')
		if len(line)+len(chunk) > p.srv.opts.MaxLineLength {
			return "", errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimRight(string(line), "\r\n"), nil
	}
}

// reply writes a one-line +OK or -ERR response.
func (p *pop3Session) reply(ok bool, text string) error {
	status := "+OK"
	if !ok {
		status = "-ERR"
	}
	if text != "" {
		status += " " + text
	}
	p.bw.WriteString(status + "\r\n")
	return p.flush()
}

func (p *pop3Session) flush() error {
	p.extend()
	return p.bw.Flush()
}

// extend gives the writes from now on the idle timeout as their deadline.
func (p *pop3Session) extend() {
	p.conn.SetWriteDeadline(time.Now().Add(p.srv.opts.IdleTimeout))
}

// result turns a reply into the outcome recorded for the command.
func (p *pop3Session) result(ok bool, outcome, text string) (string, bool, error) {
	return outcome, false, p.reply(ok, text)
}

func (p *pop3Session) handle(cmd, arg string) (outcome string, quit bool, err error) {
	switch cmd {
	case "QUIT":
		return p.quit()
	case "CAPA":
		return OutcomeOK, false, p.capa()
	case "NOOP":
		if p.user == nil {
			return p.result(false, OutcomeBad, "not logged in")
		}
		return p.result(true, OutcomeOK, "")
	case "other":
		return p.result(false, OutcomeBad, "unknown command")
	}
	if p.user == nil {
		switch cmd {
		case "USER", "PASS", "AUTH", "STLS", "APOP":
		default:
			return p.result(false, OutcomeBad, "not logged in")
		}
	} else {
		switch cmd {
		case "USER", "PASS", "AUTH", "STLS", "APOP":
			return p.result(false, OutcomeBad, "already logged in")
		}
	}
	switch cmd {
	case "USER":
		if arg == "" {
			return p.result(false, OutcomeBad, "USER needs a name")
		}
		p.userName = arg
		return p.result(true, OutcomeOK, "send PASS")
	case "PASS":
		if p.userName == "" {
			return p.result(false, OutcomeBad, "USER first")
		}
		name := p.userName
		p.userName = ""
		return p.login(name, arg)
	case "AUTH":
		return p.auth(arg)
	case "APOP":
		return p.result(false, OutcomeNo, "APOP not supported")
	case "STLS":
		return p.stls()
	case "STAT":
		n, size := 0, int64(0)
		for _, m := range p.drop {
			if !m.deleted {
				n++
				size += m.msg.size()
			}
		}
		return p.result(true, OutcomeOK, fmt.Sprintf("%d %d", n, size))
	case "LIST", "UIDL":
		return p.list(cmd, arg)
	case "RETR", "TOP":
		return p.retr(cmd, arg)
	case "DELE":
		i, errText := p.msgArg(arg)
		if errText != "" {
			return p.result(false, OutcomeNo, errText)
		}
		p.drop[i].deleted = true
		return p.result(true, OutcomeOK, "message deleted")
	case "RSET":
		for i := range p.drop {
			p.drop[i].deleted = false
		}
		return p.result(true, OutcomeOK, fmt.Sprintf("maildrop has %d messages", len(p.drop)))
	}
	return p.result(false, OutcomeBad, "unknown command")
}

func (p *pop3Session) capa() error {
	p.bw.WriteString("+OK capability list follows\r\nUSER\r\nSASL PLAIN\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n")
	if p.srv.opts.TLS != nil && !p.tls && p.user == nil {
		p.bw.WriteString("STLS\r\n")
	}
	p.bw.WriteString("IMPLEMENTATION mailsim\r\n.\r\n")
	return p.flush()
}

func (p *pop3Session) stls() (string, bool, error) {
	if p.srv.opts.TLS == nil || p.tls {
		return p.result(false, OutcomeNo, "STLS not available")
	}
	if err := p.reply(true, "begin TLS negotiation"); err != nil {
		return OutcomeError, false, err
	}
	tc := tls.Server(p.conn, p.srv.opts.TLS)
	tc.SetDeadline(time.Now().Add(p.srv.opts.IdleTimeout))
	if err := tc.Handshake(); err != nil {
		return OutcomeError, false, fmt.Errorf("pop3 stls: %w", err)
	}
	p.conn, p.tls = tc, true
	p.br.Reset(tc)
	p.bw.Reset(tc)
	return OutcomeOK, false, nil
}

// login checks credentials and enters the TRANSACTION state, taking the
// INBOX as it is now as the maildrop.
func (p *pop3Session) login(name, password string) (string, bool, error) {
	u, ok := p.srv.authenticate(name, password)
	if !ok {
		p.failures++
		err := p.reply(false, "[AUTH] invalid user name or password")
		if p.failures >= maxAuthFailures {
			return OutcomeNo, true, err
		}
		return OutcomeNo, false, err
	}
	if !p.srv.openSession(u) {
		return p.result(false, OutcomeNo, "[IN-USE] too many connections for this user")
	}
	p.user = u
	u.mu.Lock()
	p.inbox = u.mailboxLocked(view.FolderInbox)
	p.uidv = p.inbox.uidValidity
	p.drop = make([]popMsg, len(p.inbox.msgs))
	for i, m := range p.inbox.msgs {
		p.drop[i] = popMsg{msg: m}
	}
	u.mu.Unlock()
	return p.result(true, OutcomeOK, fmt.Sprintf("logged in, %d messages", len(p.drop)))
}

// auth implements AUTH PLAIN with an initial response or a continuation,
// and AUTH without a mechanism (list the mechanisms).
func (p *pop3Session) auth(arg string) (string, bool, error) {
	mech, resp, hasResp := strings.Cut(arg, " ")
	if mech == "" {
		p.bw.WriteString("+OK\r\nPLAIN\r\n.\r\n")
		return OutcomeOK, false, p.flush()
	}
	if !strings.EqualFold(mech, "PLAIN") {
		return p.result(false, OutcomeNo, "unsupported mechanism")
	}
	if !hasResp {
		p.bw.WriteString("+ \r\n")
		if err := p.flush(); err != nil {
			return OutcomeError, false, err
		}
		line, err := p.readLine()
		if err != nil {
			return OutcomeError, false, err
		}
		resp = line
	}
	if resp == "*" {
		return p.result(false, OutcomeNo, "authentication cancelled")
	}
	if resp == "=" {
		resp = ""
	}
	raw, err := base64.StdEncoding.DecodeString(resp)
	if err != nil {
		return p.result(false, OutcomeBad, "invalid base64")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || (len(parts[0]) > 0 && !bytes.Equal(parts[0], parts[1])) {
		return p.login("", "")
	}
	return p.login(string(parts[1]), string(parts[2]))
}

// msgArg parses a message number argument of the TRANSACTION state.
func (p *pop3Session) msgArg(arg string) (int, string) {
	n, err := strconv.Atoi(strings.TrimSpace(arg))
	if err != nil || n < 1 || n > len(p.drop) {
		return 0, "no such message"
	}
	if p.drop[n-1].deleted {
		return 0, "message is deleted"
	}
	return n - 1, ""
}

func (p *pop3Session) list(cmd, arg string) (string, bool, error) {
	line := func(i int) string {
		if cmd == "UIDL" {
			return fmt.Sprintf("%d %08X%08X", i+1, uint32(p.drop[i].msg.uid), p.uidv)
		}
		return fmt.Sprintf("%d %d", i+1, p.drop[i].msg.size())
	}
	if strings.TrimSpace(arg) != "" {
		i, errText := p.msgArg(arg)
		if errText != "" {
			return p.result(false, OutcomeNo, errText)
		}
		return p.result(true, OutcomeOK, line(i))
	}
	p.bw.WriteString("+OK\r\n")
	for i := range p.drop {
		if !p.drop[i].deleted {
			p.bw.WriteString(line(i) + "\r\n")
		}
	}
	p.bw.WriteString(".\r\n")
	return OutcomeOK, false, p.flush()
}

func (p *pop3Session) retr(cmd, arg string) (string, bool, error) {
	numArg, linesArg, _ := strings.Cut(strings.TrimSpace(arg), " ")
	i, errText := p.msgArg(numArg)
	if errText != "" {
		return p.result(false, OutcomeNo, errText)
	}
	m := p.drop[i].msg
	body := m.raw
	if cmd == "TOP" {
		n, err := strconv.Atoi(strings.TrimSpace(linesArg))
		if err != nil || n < 0 {
			return p.result(false, OutcomeBad, "TOP needs a message number and a line count")
		}
		body = topLines(m, n)
		p.bw.WriteString("+OK\r\n")
	} else {
		p.drop[i].retrieved = true
		p.bw.WriteString(fmt.Sprintf("+OK %d octets\r\n", m.size()))
	}
	if err := writeDotStuffed(p.bw, body, p.extend); err != nil {
		return OutcomeError, false, err
	}
	return OutcomeOK, false, nil
}

// topLines returns the header of m and the first n lines of its body.
func topLines(m *message, n int) []byte {
	end := m.hdrLen
	for ; n > 0 && end < len(m.raw); n-- {
		i := bytes.IndexByte(m.raw[end:], '\n')
		if i < 0 {
			end = len(m.raw)
			break
		}
		end += i + 1
	}
	return m.raw[:end]
}

// writeDotStuffed writes b as a multi-line response body with
// net/textproto's DotWriter — a dot doubled at the start of each line, a
// bare LF made CRLF, a final CRLF if b lacks one, the ".\r\n" terminator
// — and flushes it. A body with nothing to change (a CRLF message without
// a line that starts with a dot, as the store keeps most) is written as it
// is: DotWriter copies byte by byte, about 15 times slower, and the
// server's command time (metrics, the report's server seconds) would show
// it. An empty body is no line at all (DotWriter would write one empty
// line). extend is called before every chunk of at most 1 MiB so that each
// write has a fresh deadline.
func writeDotStuffed(w *bufio.Writer, b []byte, extend func()) error {
	plain := !needsDotWriter(b)
	write := w.Write
	var dw io.WriteCloser
	if !plain {
		dw = textproto.NewWriter(w).DotWriter()
		write = dw.Write
	}
	for len(b) > 0 {
		n := min(len(b), 1<<20)
		extend()
		if _, err := write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	extend()
	if !plain {
		return dw.Close()
	}
	w.WriteString(".\r\n")
	return w.Flush()
}

// needsDotWriter reports whether writing b as a multi-line body changes
// it: a line starts with a dot, a line ends in a bare LF, or b does not
// end with CRLF.
func needsDotWriter(b []byte) bool {
	return len(b) > 0 && (b[0] == '.' || !bytes.HasSuffix(b, []byte("\r\n"))) ||
		bytes.Contains(b, []byte("\n.")) ||
		bytes.Count(b, []byte("\n")) != bytes.Count(b, []byte("\r\n"))
}

// quit ends the session; in the TRANSACTION state it first enters UPDATE:
// it expunges the messages marked deleted and, like Dovecot with its
// default pop3_no_flag_updates=no, sets \Seen on the retrieved ones. IMAP
// sessions see both.
func (p *pop3Session) quit() (string, bool, error) {
	if p.user == nil {
		return OutcomeOK, true, p.reply(true, "bye")
	}
	del := make(map[*message]bool)
	seen := make(map[*message]bool)
	for _, m := range p.drop {
		switch {
		case m.deleted:
			del[m.msg] = true
		case m.retrieved:
			seen[m.msg] = true
		}
	}
	removed := 0
	if len(del)+len(seen) > 0 {
		p.user.mu.Lock()
		if !p.inbox.deleted {
			if len(seen) > 0 {
				for i, m := range p.inbox.msgs {
					if seen[m] && !m.hasFlag(imap.FlagSeen) {
						if nf, err := applyFlags(m.flags, imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}); err == nil {
							m.flags = nf
							p.inbox.queueFlagsLocked(uint32(i)+1, m, nil)
						}
					}
				}
			}
			removed = len(p.srv.store.expungeLocked(p.inbox, func(m *message) bool { return del[m] }))
		}
		p.user.mu.Unlock()
	}
	return OutcomeOK, true, p.reply(true, fmt.Sprintf("bye, %d messages deleted", removed))
}
