package mailserver

import (
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
// of a connection, line by line, to the protocol's parser, stops after
// STARTTLS (the bytes are encrypted from then on), and when the connection
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
}

func (m *meter) Read(p []byte) (int, error) {
	n, err := m.Conn.Read(p)
	if n > 0 {
		m.sawClient(p[:n])
	}
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
	return m.Conn.Close()
}
