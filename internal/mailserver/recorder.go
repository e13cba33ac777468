package mailserver

import "time"

// Recorder receives the load the server handles. The metrics package
// implements it; a nil Recorder in Options discards everything.
//
// Methods are called from many goroutines at once and must not block.
// Labels are bounded: protocol is one of "imap", "pop3", "smtp", "lmtp";
// command is an upper-case command name from a fixed list per protocol (e.g.
// "UID FETCH", "RETR", "RCPT") or "other"; outcome is one of "ok", "no",
// "bad", "error".
type Recorder interface {
	// Command records one finished command and how long the server took
	// from reading it to answering it (for IMAP IDLE: the whole idle time).
	Command(protocol, command, outcome string, d time.Duration)
	// Connection records a connection opened (+1) or closed (-1).
	Connection(protocol string, delta int)
	// Delivered records one stored delivery; via is "lmtp", "smtp" or
	// "imap-append".
	Delivered(via string)
}

// Outcomes passed to Recorder.Command.
const (
	OutcomeOK    = "ok"    // the command succeeded
	OutcomeNo    = "no"    // the server refused it (IMAP NO, POP3 -ERR, SMTP 4xx/5xx other than syntax)
	OutcomeBad   = "bad"   // the command was malformed or unknown (IMAP BAD, SMTP 500-504)
	OutcomeError = "error" // the connection failed before the command was answered
)

// Protocol names passed to Recorder.
const (
	ProtoIMAP = "imap"
	ProtoPOP3 = "pop3"
	ProtoSMTP = "smtp"
	ProtoLMTP = "lmtp"
)

// nopRecorder discards everything.
type nopRecorder struct{}

func (nopRecorder) Command(string, string, string, time.Duration) {}
func (nopRecorder) Connection(string, int)                        {}
func (nopRecorder) Delivered(string)                              {}

// canonicalNames maps each name of names to itself, so that a lookup
// returns the one stored string: every recording of a command passes the
// same string, whose address metrics' commandTable caches the command's
// index by (metrics/commands.go, commandIndex), instead of a new string
// per command.
func canonicalNames(names map[string]bool) map[string]string {
	m := make(map[string]string, len(names))
	for n := range names {
		m[n] = n
	}
	return m
}

// normaliseCommand returns name upper-cased if it is in known (the stored
// string, canonicalNames), else "other". It allocates nothing.
func normaliseCommand(name string, known map[string]string) string {
	if len(name) > 24 {
		return "other"
	}
	var up [24]byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up[i] = c
	}
	if n, ok := known[string(up[:len(name)])]; ok {
		return n
	}
	return "other"
}
