package mailserver

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"time"
)

// lineParser is one protocol's reading of a metered connection: the
// client's lines (commands) and the server's (replies). head is the start of
// a line (bounded); cont is true for a line's continuation past the bound.
type lineParser interface {
	clientLine(head []byte, cont bool)
	serverLine(head []byte, cont bool)
}

// meter is what imapMeter and smtpMeter share: it feeds the bytes each way
// of a connection, line by line, to the protocol's parser, and when the
// connection closes records the commands still open as failed. The parsers
// run under mu. The IMAP meter reads above the guard, which answers
// STARTTLS and decrypts below it (mutf7.go); the SMTP meter answers
// STARTTLS itself and reads through its tlsSwitch (sw, see
// answerStartTLS): both go on metering, and limiting, the commands sent
// over TLS.
type meter struct {
	net.Conn
	rec   Recorder
	proto string
	lines lineParser

	mu      sync.Mutex
	in, out lineScanner
	pending []pendingCmd
	off     bool
	cmds    int // command lines the parser has seen (it counts them)
	// untracked counts the commands read while maxPending were open
	// (SMTP's parser): not recorded, but their replies are awaited after
	// pending's, in order, so that no reply is matched to the wrong
	// command.
	untracked int
	// midCommand is set by the SMTP parser while the server's last reply
	// line asked for more of the command (354: message data; 334: a SASL
	// response): the client's next line is not a command.
	midCommand bool
	// startTLSLine is set by the parser when the line it was just fed is
	// a STARTTLS command.
	startTLSLine bool

	// sw, if not nil, is Conn, and the meter answers STARTTLS itself and
	// starts TLS on it (smtpMeter with a TLS configuration).
	sw           *tlsSwitch
	writeTimeout time.Duration // for answerStartTLS's reply

	// The command rate limit (see throttle); limit nil means none. Only
	// the reading goroutine touches held, ends, heldErr, tlsAt and tlsEnd.
	limit     *limiter
	stop      <-chan struct{} // the server is closing
	closed    chan struct{}   // this connection closed
	closeOnce sync.Once
	held      []byte // bytes read but not yet handed to the server
	ends      []int  // offsets in held just past each command line (with a limit)
	heldErr   error  // the error of the read that filled held
	// tlsAt and tlsEnd are the offsets in held of a STARTTLS command
	// line, which the meter may answer itself, and just past it; tlsAt is
	// -1 when there is none. held[tlsEnd:] is not parsed yet.
	tlsAt, tlsEnd int
}

// throttle makes every command line read on m wait for a token of the
// server's command rate limit, if it has one, before the server sees the
// line's end. Closing the server or m ends the wait.
func (m *meter) throttle(s *Server) {
	if s.limit != nil {
		m.limit, m.stop, m.closed = s.limit, s.ctx.Done(), make(chan struct{})
	}
}

func (m *meter) Read(p []byte) (int, error) {
	if m.limit == nil && m.sw == nil {
		n, err := m.Conn.Read(p)
		if n > 0 {
			m.sawClient(p[:n])
		}
		return n, err
	}
	for {
		if len(m.held) == 0 {
			n, err := m.Conn.Read(p)
			if n == 0 {
				return n, err
			}
			m.ends, m.tlsAt = m.ends[:0], -1
			m.scanCommands(p[:n], 0)
			if m.tlsAt < 0 && len(m.ends) == 0 {
				return n, err
			}
			m.held = append(m.held[:0], p[:n]...)
			m.heldErr = err
		}
		if m.tlsAt != 0 {
			return m.release(p)
		}
		if err := m.answerStartTLS(); err != nil {
			return 0, err
		}
		if len(m.held) == 0 && m.heldErr != nil {
			err := m.heldErr
			m.heldErr = nil
			return 0, err
		}
	}
}

// scanCommands feeds buf[from:], bytes the client sent, to the parser,
// like sawClient. With a limit it appends to ends the offset just past
// each command line among them: parsing at once, as the bytes arrive,
// starts each command's clock then, and the wait for its token counts in
// its duration. With sw it stops past a STARTTLS command line that starts
// in buf, setting tlsAt and tlsEnd: the bytes after it are either the TLS
// handshake or, if the server takes the line for message data, parsed when
// that is known (answerStartTLS).
func (m *meter) scanCommands(buf []byte, from int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off {
		return
	}
	for i := from; i < len(buf); {
		end := len(buf)
		if j := bytes.IndexByte(buf[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		lineAt := -1 // where the line fed now starts in buf, if it does
		switch {
		case m.in.skip > 0:
			lineAt = i + int(min(m.in.skip, int64(end-i)))
		case len(m.in.head) == 0 && m.in.tailLen == 0:
			lineAt = i
		}
		before := m.cmds
		m.in.feed(buf[i:end], m.lines.clientLine)
		if m.cmds > before && m.limit != nil {
			m.ends = append(m.ends, end)
		}
		i = end
		if m.startTLSLine {
			m.startTLSLine = false
			if m.sw != nil && lineAt >= 0 {
				m.tlsAt, m.tlsEnd = lineAt, end
				return
			}
		}
	}
}

// release hands the server the held bytes up to the end of the next command
// line, once that command has its token, or up to a STARTTLS line. The held
// bytes are at most one earlier Read's worth, so memory is bounded.
func (m *meter) release(p []byte) (int, error) {
	n := len(m.held)
	if len(m.ends) > 0 {
		n = m.ends[0]
	}
	if m.tlsAt > 0 {
		n = min(n, m.tlsAt)
	}
	n = min(n, len(p))
	if len(m.ends) > 0 && n == m.ends[0] {
		if err := m.takeToken(); err != nil {
			return 0, err
		}
	}
	copy(p, m.held[:n])
	m.consume(n)
	if len(m.held) > 0 {
		return n, nil
	}
	err := m.heldErr
	m.held, m.ends, m.heldErr = m.held[:0], nil, nil
	return n, err
}

// takeToken waits for the token of the command line ending at ends[0].
func (m *meter) takeToken() error {
	if err := m.limit.wait(m.stop, m.closed); err != nil {
		m.held, m.ends, m.heldErr = nil, nil, nil // the session is over
		return fmt.Errorf("%s command: %w", m.proto, err)
	}
	m.ends = m.ends[1:]
	return nil
}

// consume drops the first n held bytes.
func (m *meter) consume(n int) {
	m.held = m.held[n:]
	for i := range m.ends {
		m.ends[i] -= n
	}
	if m.tlsAt >= 0 {
		m.tlsAt -= n
		m.tlsEnd -= n
	}
}

func (m *meter) Write(p []byte) (int, error) {
	m.sawServer(p)
	return m.Conn.Write(p)
}

// sawClient feeds bytes the client sent to the parser.
func (m *meter) sawClient(p []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.off {
		m.in.feed(p, m.lines.clientLine)
	}
}

// sawServer feeds bytes the server sends to the parser.
func (m *meter) sawServer(p []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.off {
		m.out.feed(p, m.lines.serverLine)
	}
}

func (m *meter) Close() error {
	m.mu.Lock()
	for _, pc := range m.pending {
		m.rec.Command(m.proto, pc.name, OutcomeError, time.Since(pc.start))
	}
	m.pending = nil
	m.off = true
	m.mu.Unlock()
	if m.closed != nil {
		m.closeOnce.Do(func() { close(m.closed) })
	}
	return m.Conn.Close()
}
