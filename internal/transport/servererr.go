package transport

import (
	"errors"
	"fmt"
	"strings"
)

// ServerError is an error that names the server it happened at: its text
// is "PROTO ADDR: ERR" (e.g. "smtp 127.0.0.1:25: greeting: no greeting
// within 10s"). transport's dial, greeting, setup, handshake and reply
// limit errors are ServerErrors, so that a caller that names the server
// in its own errors can tell (NamesServer) and not name it twice.
// errors.Is and errors.As see through it.
type ServerError struct {
	Protocol string
	Addr     string
	Err      error
}

// Error implements error.
func (e *ServerError) Error() string { return e.Protocol + " " + e.Addr + ": " + e.Err.Error() }

// Unwrap returns the error the server's name was put before.
func (e *ServerError) Unwrap() error { return e.Err }

// NamesServer reports whether err's text begins with the server's name
// because err is, or wraps at its start, a ServerError. A ServerError
// attached as a cause (Conn.Explain puts it after the error, in
// parentheses) does not count: the text does not begin with it.
func NamesServer(err error) bool {
	var se *ServerError
	return errors.As(err, &se) && strings.HasPrefix(err.Error(), se.Protocol+" "+se.Addr+": ")
}

// atServer returns a ServerError for protocol and addr whose error is
// fmt.Errorf(format, args...).
func atServer(protocol, addr, format string, args ...any) error {
	return &ServerError{Protocol: protocol, Addr: addr, Err: fmt.Errorf(format, args...)}
}

// NameServer returns err with the server named before it ("PROTO ADDR:
// ERR", a ServerError), or err itself when it names the server already
// (NamesServer) or is nil.
func NameServer(protocol, addr string, err error) error {
	if err == nil || NamesServer(err) {
		return err
	}
	return &ServerError{Protocol: protocol, Addr: addr, Err: err}
}

// ErrGreetingRefused is wrapped by the error of a session whose server
// refused it in its greeting: IMAP "* BYE" or "* NO", POP3 -ERR, an SMTP
// or LMTP 4xx or 5xx. [OutcomeOf] and [LoginOutcome] classify it as no:
// the server answered and would not serve, and a login it cut never sent
// its credentials (not auth).
var ErrGreetingRefused = errors.New("server refused the session")

// refusedGreeting is the error of a greeting that refused the session:
// err's text, errors.Is and errors.As see both err and
// ErrGreetingRefused.
type refusedGreeting struct{ err error }

func (e refusedGreeting) Error() string   { return e.err.Error() }
func (e refusedGreeting) Unwrap() []error { return []error{ErrGreetingRefused, e.err} }

// GreetingRefused returns err, the server's refusal in its greeting (a
// protocol client's error for it), wrapping ErrGreetingRefused too; its
// text is err's. Clients that read greetings of their own
// (internal/leanimap) mark a refusal with it.
func GreetingRefused(err error) error { return refusedGreeting{err} }
