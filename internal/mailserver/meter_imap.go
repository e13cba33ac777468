package mailserver

import (
	"bytes"
	"net"
	"strings"
	"time"
)

// imapCommands are the command names recorded as themselves; every other
// name is recorded as "other".
var imapCommands = canonicalNames(map[string]bool{
	"CAPABILITY": true, "NOOP": true, "LOGOUT": true, "STARTTLS": true, "AUTHENTICATE": true, "LOGIN": true,
	"UNAUTHENTICATE": true, "ENABLE": true, "SELECT": true, "EXAMINE": true, "CREATE": true, "DELETE": true,
	"RENAME": true, "SUBSCRIBE": true, "UNSUBSCRIBE": true, "LIST": true, "LSUB": true, "NAMESPACE": true,
	"STATUS": true, "APPEND": true, "IDLE": true, "CHECK": true, "CLOSE": true, "UNSELECT": true,
	"EXPUNGE": true, "SEARCH": true, "FETCH": true, "STORE": true, "COPY": true, "MOVE": true, "ID": true,
	"UID FETCH": true, "UID STORE": true, "UID SEARCH": true, "UID COPY": true, "UID MOVE": true,
	"UID EXPUNGE": true,
})

// maxPending bounds the pipelined commands a meter remembers.
const maxPending = 32

type pendingCmd struct {
	tag   string
	name  string
	start time.Time
}

// meterListener wraps every accepted connection in a mutf7Guard and an
// imapMeter.
type meterListener struct {
	net.Listener
	srv  *Server
	bufs guardBufs // lent to the connections' mutf7Guards
}

func (l *meterListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	m := newIMAPMeter(newMUTF7Guard(c, &l.bufs, l.srv.rec, l.srv.opts.TLS), l.srv.rec)
	m.throttle(l.srv)
	return m, nil
}

// imapMeter records every IMAP command with its outcome and duration by
// watching the bytes of the connection: a command starts when its line is
// read and ends when its tagged response is written. The IMAP library has
// no per-command hook; watching the wire also counts the commands it
// answers by itself (CAPABILITY, NOOP, LOGOUT, syntax errors). It reads
// above the mutf7Guard, which answers STARTTLS and decrypts below itself, so
// the meter sees the commands sent over TLS too (and never STARTTLS itself
// when the server has TLS: the guard records it).
type imapMeter struct {
	meter
	skipLines int // client lines that answer a continuation (IDLE's DONE, SASL)
	// user is the account logged in on the connection, whose service time
	// every later command adds to (IDLE aside: it waits, it does not
	// work). Guarded by mu.
	user *user
}

// setUser attributes the connection's commands from now on to u.
func (m *imapMeter) setUser(u *user) {
	m.mu.Lock()
	m.user = u
	m.mu.Unlock()
}

func newIMAPMeter(c net.Conn, rec Recorder) *imapMeter {
	m := &imapMeter{meter: meter{Conn: c, rec: rec, proto: ProtoIMAP, in: lineScanner{literals: true}, out: lineScanner{literals: true}}}
	m.lines = m
	return m
}

func (m *imapMeter) clientLine(head []byte, cont bool) {
	if cont {
		return
	}
	if m.skipLines > 0 {
		m.skipLines--
		return
	}
	f := fields(head, 4)
	if len(f) < 2 || len(f[0]) == 0 || len(f[1]) == 0 {
		return
	}
	name := strings.ToUpper(string(f[1]))
	if name == "UID" && len(f) >= 3 {
		name = "UID " + strings.ToUpper(string(f[2]))
	}
	name = normaliseCommand(name, imapCommands)
	switch name {
	case "IDLE":
		m.skipLines = 1
	case "AUTHENTICATE":
		if len(f) < 4 { // no initial response: one continuation line follows
			m.skipLines = 1
		}
	}
	m.cmds++
	if len(m.pending) >= maxPending {
		return
	}
	m.pending = append(m.pending, pendingCmd{tag: string(f[0]), name: name, start: time.Now()})
}

func (m *imapMeter) serverLine(head []byte, cont bool) {
	if cont || len(head) < 2 || head[0] == '*' || head[0] == '+' {
		return
	}
	f := fields(head, 3)
	if len(f) < 2 {
		return
	}
	var outcome string
	switch {
	case bytes.EqualFold(f[1], []byte("OK")):
		outcome = OutcomeOK
	case bytes.EqualFold(f[1], []byte("NO")):
		outcome = OutcomeNo
	case bytes.EqualFold(f[1], []byte("BAD")):
		outcome = OutcomeBad
	default:
		return
	}
	for i, pc := range m.pending {
		if pc.tag != string(f[0]) {
			continue
		}
		d := time.Since(pc.start)
		m.rec.Command(ProtoIMAP, pc.name, outcome, d)
		if m.user != nil && pc.name != "IDLE" {
			m.user.service.Add(int64(d))
		}
		m.pending = append(m.pending[:i], m.pending[i+1:]...)
		if len(m.pending) == 0 && m.in.skip > 0 {
			// A refused synchronising literal is never sent: stop skipping.
			m.in.reset()
		}
		if pc.name == "IDLE" || pc.name == "AUTHENTICATE" {
			m.skipLines = 0 // answered: no continuation line is still due
		}
		return
	}
}
