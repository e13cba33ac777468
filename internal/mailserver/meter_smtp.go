package mailserver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// smtpCommands are the SMTP/LMTP command names recorded as themselves.
var smtpCommands = canonicalNames(map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true, "HELP": true, "AUTH": true,
	"STARTTLS": true,
})

// smtpMeterListener wraps every accepted connection in an smtpMeter (with
// a tlsSwitch below it when the server has a TLS configuration) and hands
// it to go-smtp as an smtpConn. After STARTTLS the meter's next smtpConn
// comes from startTLSListener.
type smtpMeterListener struct {
	net.Listener
	srv   *Server
	proto string
	next  chan net.Conn // connections after STARTTLS, for startTLSListener
	done  chan struct{} // closed when go-smtp stops serving Listener
}

func (l *smtpMeterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	var sw *tlsSwitch
	if l.srv.opts.TLS != nil {
		sw = &tlsSwitch{}
		sw.init(c, l.srv.opts.TLS)
		c = sw
	}
	m := newSMTPMeter(c, l.srv.rec, l.proto)
	m.sw, m.writeTimeout, m.handoff = sw, l.srv.opts.IdleTimeout, l.handoff
	m.throttle(l.srv)
	return &smtpConn{smtpMeter: m}, nil
}

// handoff gives c to go-smtp through startTLSListener; false if it no
// longer serves.
func (l *smtpMeterListener) handoff(c net.Conn) bool {
	select {
	case l.next <- c:
		return true
	case <-l.done:
		return false
	}
}

// startTLSListener accepts the connections of an smtpMeterListener that
// the meter has taken to TLS, until go-smtp stops serving that listener.
type startTLSListener struct{ *smtpMeterListener }

func (l startTLSListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.next:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close does nothing: closing the smtpMeterListener's Listener ends
// Accept.
func (startTLSListener) Close() error { return nil }

// smtpConn is the connection one go-smtp session reads: its meter's until
// the meter has answered STARTTLS, when this smtpConn reads EOF (its
// session ends quietly, without closing the meter) and the meter goes on
// under a new smtpConn with a new go-smtp session, which knows nothing of
// the first, as RFC 3207 4.2 asks (go-smtp's own STARTTLS resets its
// session likewise). The new session's greeting is not sent: the client
// had it before STARTTLS. go-smtp, which takes the connection for plain
// text, announces STARTTLS after it too: smtpConn takes that line out of
// the EHLO reply on an encrypted connection. go-smtp writes every reply
// line with one Write (net/textproto's PrintfLine flushes each).
type smtpConn struct {
	*smtpMeter
	greeting bool        // the next Write is the greeting, not sent
	retired  atomic.Bool // the meter went on under another smtpConn
	// ended is closed when go-smtp closes this smtpConn once retired: its
	// session has ended (Logout). prev is the ended of the smtpConn
	// before, which Close waits for, so that closing the connection,
	// which Server.Close waits for, comes after both sessions ended; Read
	// waits for it too, so that the session before has logged out (and
	// given back its user's session, closeSession) before this one reads
	// a command, which could be AUTH (prevEnded is then set; only Read
	// touches it).
	ended     chan struct{}
	endedOnce sync.Once
	prev      <-chan struct{}
	prevEnded bool
}

// errStartedTLS is what the meter's Read returns once it has answered
// STARTTLS: the go-smtp session reading it ends (smtpConn.Read).
var errStartedTLS = errors.New("mailserver: STARTTLS answered")

func (c *smtpConn) Read(p []byte) (int, error) {
	if c.retired.Load() {
		return 0, io.EOF
	}
	if c.prev != nil && !c.prevEnded {
		<-c.prev // go-smtp closes the smtpConn before once it has read EOF
		c.prevEnded = true
	}
	n, err := c.smtpMeter.Read(p)
	if errors.Is(err, errStartedTLS) {
		c.ended = make(chan struct{})
		c.retired.Store(true)
		if !c.handoff(&smtpConn{smtpMeter: c.smtpMeter, greeting: true, prev: c.ended}) {
			c.smtpMeter.Close()
		}
		return 0, io.EOF
	}
	return n, err
}

// startTLSCap is the line by which go-smtp announces STARTTLS in its EHLO
// reply.
var startTLSCap = []byte("250-STARTTLS\r\n")

func (c *smtpConn) Write(p []byte) (int, error) {
	if c.retired.Load() {
		return 0, net.ErrClosed
	}
	if c.greeting {
		c.greeting = false
		return len(p), nil
	}
	if c.sw != nil && c.sw.secure.Load() && bytes.Equal(p, startTLSCap) {
		return len(p), nil
	}
	return c.smtpMeter.Write(p)
}

func (c *smtpConn) Close() error {
	if c.retired.Load() {
		c.endedOnce.Do(func() { close(c.ended) })
		return nil
	}
	if c.prev != nil {
		<-c.prev // go-smtp closes the smtpConn before once it has read EOF
	}
	return c.smtpMeter.Close()
}

func (c *smtpConn) SetDeadline(t time.Time) error {
	if c.retired.Load() {
		return nil
	}
	return c.smtpMeter.SetDeadline(t)
}

func (c *smtpConn) SetReadDeadline(t time.Time) error {
	if c.retired.Load() {
		return nil
	}
	return c.smtpMeter.SetReadDeadline(t)
}

func (c *smtpConn) SetWriteDeadline(t time.Time) error {
	if c.retired.Load() {
		return nil
	}
	return c.smtpMeter.SetWriteDeadline(t)
}

// smtpMeter records every SMTP or LMTP command with its outcome and
// duration by watching the connection, like imapMeter: commands queue up as
// they are read (PIPELINING) and each final reply completes the oldest.
// Intermediate replies keep the command open: 334 means one SASL line
// follows, 354 means message data follows up to the lone ".". LMTP
// answers the end of a message (DATA's ".", BDAT LAST) once per recipient
// it accepted (RFC 2033), and go-smtp writes each of those replies, and no
// other, as "<recipient> text" after the codes (its handleDataLMTP and
// handleBdat): the first of a run of such replies completes the DATA or
// BDAT, the rest answer no command, so that commands the client pipelined
// after the message get their own replies. The shape, not a count of
// recipients, decides, so the meter cannot fall out of step with go-smtp's
// own list of recipients (which MAIL, a refused LHLO or a refused BDAT
// leave as it is, and a refused chunk clears).
// Past maxPending open commands, the meter counts them (untracked) without
// recording them, so that the replies after are still matched in order and
// a 354 still starts the message data.
// With a TLS configuration it answers STARTTLS itself (answerStartTLS).
type smtpMeter struct {
	meter
	skipLines int  // SASL continuation lines due
	data      bool // reading message data
	// lmtp: the end of a message is answered once per recipient.
	// contd is set inside a multi-line reply, firstRcpt when its first
	// line is a per-recipient reply (rcptReply); lastRcpt when the last
	// final reply was one.
	lmtp                       bool
	contd, firstRcpt, lastRcpt bool
	// handoff gives go-smtp the smtpConn to read after STARTTLS; false if
	// the server is closing.
	handoff func(net.Conn) bool
}

func newSMTPMeter(c net.Conn, rec Recorder, proto string) *smtpMeter {
	m := &smtpMeter{meter: meter{Conn: c, rec: rec, proto: proto}, lmtp: proto == ProtoLMTP}
	m.lines = m
	return m
}

func (m *smtpMeter) clientLine(head []byte, _ bool) {
	if m.data {
		if string(head) == "." {
			m.data = false
		}
		return
	}
	if m.skipLines > 0 {
		m.skipLines--
		return
	}
	f := fields(head, 3)
	if len(f[0]) == 0 {
		return
	}
	name := normaliseCommand(string(f[0]), smtpCommands)
	m.startTLSLine = name == "STARTTLS"
	if name == "BDAT" && len(f) >= 2 {
		if n, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil && n > 0 {
			m.in.skip = n
		}
	}
	m.cmds++
	if len(m.pending) >= maxPending || m.untracked > 0 {
		m.untracked++ // replied to after pending's, so after it here too
		return
	}
	m.pending = append(m.pending, pendingCmd{name: name, start: time.Now()})
}

// open is the number of commands read and not yet answered.
func (m *smtpMeter) open() int { return len(m.pending) + m.untracked }

func (m *smtpMeter) serverLine(head []byte, _ bool) {
	perRcpt := false
	if m.lmtp {
		// A multi-line reply is a per-recipient one when its first
		// line is.
		if !m.contd {
			m.firstRcpt = rcptReply(head)
		}
		m.contd = len(head) > 3 && head[3] == '-'
		perRcpt = m.firstRcpt
	}
	if len(head) < 3 || (len(head) > 3 && head[3] != ' ') {
		return // a continued multi-line reply, or not a reply
	}
	code, err := strconv.Atoi(string(head[:3]))
	if err != nil {
		return
	}
	m.midCommand = code == 334 || code == 354
	if m.lmtp {
		extra := perRcpt && m.lastRcpt
		m.lastRcpt = perRcpt
		if extra {
			return // an LMTP per-recipient reply after the first
		}
	}
	if m.open() == 0 {
		return
	}
	var outcome string
	switch {
	case code == 334:
		m.skipLines = 1
		return
	case code == 354:
		m.data = true
		return
	case code < 400:
		outcome = OutcomeOK
	case code >= 500 && code <= 504:
		outcome = OutcomeBad
	default:
		outcome = OutcomeNo
	}
	if len(m.pending) == 0 {
		m.untracked-- // past maxPending: not recorded
	} else {
		pc := m.pending[0]
		m.pending = m.pending[1:]
		m.rec.Command(m.proto, pc.name, outcome, time.Since(pc.start))
	}
	if m.open() == 0 {
		m.skipLines = 0
		if m.in.skip > 0 {
			m.in.reset()
		}
	}
}

// rcptReply reports whether reply line l is one of go-smtp's LMTP
// per-recipient replies, "250 2.0.0 <alice@example.com> OK: queued": a
// code, a separator, an optional enhanced code, then "<".
func rcptReply(l []byte) bool {
	if len(l) < 5 || (l[3] != ' ' && l[3] != '-') {
		return false
	}
	rest := l[4:]
	if len(rest) > 0 && rest[0] >= '2' && rest[0] <= '5' && len(rest) > 1 && rest[1] == '.' {
		sp := bytes.IndexByte(rest, ' ')
		if sp < 0 {
			return false
		}
		rest = rest[sp+1:]
	}
	return len(rest) > 0 && rest[0] == '<'
}

// answerStartTLS answers the STARTTLS command line at the start of held
// (tlsAt 0) with go-smtp's own replies, once it has its token, but starts TLS below the meter: 220, then the
// meter reads and writes through TLS (its tlsSwitch) and returns
// errStartedTLS; 502 on an encrypted connection. It answers only when it
// can prove the line is a command: go-smtp has answered every command
// before (none is open, counting those past maxPending: go-smtp reads on
// only once it has answered the command it read, and the meter handed it
// nothing past the line's start), and go-smtp's last reply did not ask for
// message data or a SASL response (midCommand: 354, 334), which holds
// even if the meter's count went wrong; otherwise go-smtp reads the line
// as message data or a SASL response, and gets it. A STARTTLS line whose
// start was handed on before its end came (scanCommands sets no tlsAt)
// reaches go-smtp too, whose handshake then fails (refusingTLS): the
// client gets no TLS, and nothing passes unmetered. Bytes past the line are
// the start of the client's TLS handshake, never commands. The command is
// recorded as any other, from the reply the meter writes.
func (m *meter) answerStartTLS() error {
	if len(m.ends) > 0 && m.ends[0] == m.tlsEnd {
		if err := m.takeToken(); err != nil {
			return err
		}
	}
	m.mu.Lock()
	open := len(m.pending) + m.untracked
	ours := !m.midCommand && (open == 0 || open == 1 && (len(m.pending) == 0 || m.pending[0].name == "STARTTLS"))
	m.mu.Unlock()
	m.tlsAt = -1
	if !ours {
		m.scanCommands(m.held, m.tlsEnd)
		return nil
	}
	reply := "220 2.0.0 Ready to start TLS\r\n"
	secure := !m.sw.canStart()
	if secure {
		reply = "502 5.5.1 Already running in TLS\r\n"
	}
	m.Conn.SetWriteDeadline(time.Now().Add(m.writeTimeout))
	if _, err := m.Write([]byte(reply)); err != nil {
		m.held, m.ends, m.heldErr = nil, nil, nil
		return fmt.Errorf("%s STARTTLS: %w", m.proto, err)
	}
	if secure {
		m.consume(m.tlsEnd)
		m.scanCommands(m.held, 0)
		return nil
	}
	m.sw.start(m.held[m.tlsEnd:])
	m.held, m.ends, m.heldErr = m.held[:0], nil, nil
	return errStartedTLS
}
