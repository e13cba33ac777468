package mailserver

import (
	"net"
	"strconv"
	"time"
)

// smtpCommands are the SMTP/LMTP command names recorded as themselves.
var smtpCommands = map[string]bool{
	"HELO": true, "EHLO": true, "LHLO": true, "MAIL": true, "RCPT": true, "DATA": true, "BDAT": true,
	"RSET": true, "NOOP": true, "QUIT": true, "VRFY": true, "EXPN": true, "HELP": true, "AUTH": true,
	"STARTTLS": true,
}

// smtpMeterListener wraps every accepted connection in an smtpMeter.
type smtpMeterListener struct {
	net.Listener
	srv   *Server
	proto string
}

func (l *smtpMeterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	m := newSMTPMeter(c, l.srv.rec, l.proto)
	m.throttle(l.srv)
	return m, nil
}

// smtpMeter records every SMTP or LMTP command with its outcome and
// duration by watching the connection, like imapMeter: commands queue up as
// they are read (PIPELINING) and each final reply completes the oldest.
// Intermediate replies keep the command open: 334 means one SASL line
// follows, 354 means message data follows up to the lone ".". LMTP's extra
// per-recipient replies after DATA find no open command and are ignored.
type smtpMeter struct {
	meter
	skipLines int  // SASL continuation lines due
	data      bool // reading message data
}

func newSMTPMeter(c net.Conn, rec Recorder, proto string) *smtpMeter {
	m := &smtpMeter{meter: meter{Conn: c, rec: rec, proto: proto}}
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
	if name == "BDAT" && len(f) >= 2 {
		if n, err := strconv.ParseInt(string(f[1]), 10, 64); err == nil && n > 0 {
			m.in.skip = n
		}
	}
	m.cmds++
	if len(m.pending) >= maxPending {
		return
	}
	m.pending = append(m.pending, pendingCmd{name: name, start: time.Now()})
}

func (m *smtpMeter) serverLine(head []byte, _ bool) {
	if len(head) < 3 || (len(head) > 3 && head[3] != ' ') {
		return // a continued multi-line reply, or not a reply
	}
	code, err := strconv.Atoi(string(head[:3]))
	if err != nil || len(m.pending) == 0 {
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
	pc := m.pending[0]
	m.pending = m.pending[1:]
	m.rec.Command(m.proto, pc.name, outcome, time.Since(pc.start))
	if pc.name == "STARTTLS" && outcome == OutcomeOK {
		m.tlsNext = true
	}
	if len(m.pending) == 0 {
		m.skipLines = 0
		if m.in.skip > 0 {
			m.in.reset()
		}
	}
}
