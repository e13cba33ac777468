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
// of a connection, line by line, to the protocol's parser, stops when the
// parser sets tlsNext (SMTP's STARTTLS: the bytes are encrypted from then
// on; IMAP's meter reads above the guard, which decrypts), and when the connection
// closes records the commands still open as failed. The parsers run under
// mu.
type meter struct {
	net.Conn
	rec   Recorder
	proto string
	lines lineParser

	mu      sync.Mutex
	in, out lineScanner
	pending []pendingCmd
	tlsNext bool // STARTTLS answered: stop metering
	off     bool
	cmds    int // command lines the parser has seen (it counts them)

	// The command rate limit (see throttle); limit nil means none. Only
	// the reading goroutine touches held, ends and heldErr.
	limit     *limiter
	stop      <-chan struct{} // the server is closing
	closed    chan struct{}   // this connection closed
	closeOnce sync.Once
	held      []byte // bytes read but not yet handed to the server
	ends      []int  // offsets in held just past each command line
	heldErr   error  // the error of the read that filled held
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
	if m.limit == nil {
		n, err := m.Conn.Read(p)
		if n > 0 {
			m.sawClient(p[:n])
		}
		return n, err
	}
	if len(m.held) == 0 {
		n, err := m.Conn.Read(p)
		if n == 0 {
			return n, err
		}
		ends := m.scanCommands(p[:n])
		if len(ends) == 0 {
			return n, err
		}
		m.held = append(m.held[:0], p[:n]...)
		m.ends, m.heldErr = ends, err
	}
	return m.release(p)
}

// scanCommands feeds bytes the client sent to the parser, like sawClient,
// and returns the offset just past each command line among them. Parsing
// at once, as the bytes arrive, starts each command's clock then: the wait
// for its token counts in its duration.
func (m *meter) scanCommands(p []byte) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off {
		return nil
	}
	var ends []int
	for i := 0; i < len(p); {
		end := len(p)
		if j := bytes.IndexByte(p[i:], '\n'); j >= 0 {
			end = i + j + 1
		}
		before := m.cmds
		m.in.feed(p[i:end], m.lines.clientLine)
		if m.cmds > before {
			ends = append(ends, end)
		}
		i = end
	}
	return ends
}

// release hands the server the held bytes up to the end of the next command
// line, once that command has its token. The held bytes are at most one
// earlier Read's worth, so memory is bounded.
func (m *meter) release(p []byte) (int, error) {
	n := len(m.held)
	if len(m.ends) > 0 {
		n = m.ends[0]
	}
	if n > len(p) {
		n = len(p)
	}
	if len(m.ends) > 0 && n == m.ends[0] {
		if err := m.limit.wait(m.stop, m.closed); err != nil {
			m.held, m.ends, m.heldErr = nil, nil, nil // the session is over
			return 0, fmt.Errorf("%s command: %w", m.proto, err)
		}
		m.ends = m.ends[1:]
	}
	copy(p, m.held[:n])
	m.held = m.held[n:]
	for i := range m.ends {
		m.ends[i] -= n
	}
	if len(m.held) > 0 {
		return n, nil
	}
	err := m.heldErr
	m.held, m.ends, m.heldErr = m.held[:0], nil, nil
	return n, err
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
		if m.tlsNext {
			m.off = true
		}
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
