package clients

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// pop3Session is one POP3 connection of a device: the conversation of
// transport.POP3 with every command recorded.
type pop3Session struct {
	*transport.POP3
	rec  Recorder
	addr string
	// w applies the stop's rule to the session's commands (StopGrace):
	// when the device stops, the command in flight has the stop's grace to
	// be answered, then the connection is closed under it.
	w *StopGrace
}

// dialPOP3 connects to ep and reads the greeting, recorded as one
// command, CONNECT. A failure counts as a login attempt with its cause.
// The session is watched from before its dial until close or quit
// (dialWatched, StopGrace): the dial and the greeting have the stop's
// grace, as every command.
func dialPOP3(ctx context.Context, o *Options, ep transport.Endpoint) (*pop3Session, error) {
	s := &pop3Session{rec: o.recorder(), addr: ep.Addr}
	conn, w, connect, err := dialWatched(ctx, s.rec, dialConfig(o, ProtocolPOP3, ep), o.StopGrace)
	s.w = w
	if err == nil {
		s.POP3, err = transport.OpenPOP3(conn, s)
		s.w.End(CommandConnect, connect, err)
	}
	if err != nil {
		s.w.Release()
		if conn != nil {
			_ = conn.Close()
		}
		s.w.CountLogin(err)
		return nil, err
	}
	return s, nil
}

// Started implements transport.POP3Observer: every command is tracked
// from before it is sent (CommandTracker).
func (s *pop3Session) Started(command string) time.Time { return s.w.Start(command) }

// Done implements transport.POP3Observer: every command is recorded by
// the stop's rule (StopGrace).
func (s *pop3Session) Done(command string, start time.Time, err error) { s.w.End(command, start, err) }

// cmd sends a single-line command and returns the text after +OK; name is
// what is recorded.
func (s *pop3Session) cmd(name string, line string) (string, error) { return s.Cmd(name, line) }

// multi sends a command with a multi-line reply and calls line for every
// line of the reply (see transport.POP3.Multi).
func (s *pop3Session) multi(name, cmdLine string, line func([]byte) error) error {
	return s.Multi(name, cmdLine, line)
}

// capabilities runs CAPA. A server without CAPA (-ERR) has none.
func (s *pop3Session) capabilities() error { return s.Capabilities() }

// startTLS runs STLS and the TLS handshake, then CAPA again.
func (s *pop3Session) startTLS(o *Options) error { return s.STLS(o.tlsConfig(s.addr)) }

// login authenticates with AUTH PLAIN when offered, USER/PASS otherwise,
// and reports the attempt as a Login (not one the device's stop cut).
func (s *pop3Session) login(user, pass string) error {
	err := s.Login(user, pass)
	s.w.CountLogin(err)
	return err
}

// list runs LIST (sizes) or UIDL (unique ids): a map from message number
// to the second field.
func (s *pop3Session) list(cmd string) (map[int]string, error) {
	out := make(map[int]string)
	err := s.multi(cmd, cmd, func(l []byte) error {
		f := strings.Fields(string(l))
		if len(f) < 2 {
			return fmt.Errorf("%w: %q", transport.ErrPOP3Garbage, l)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: %q", transport.ErrPOP3Garbage, l)
		}
		out[n] = f[1]
		return nil
	})
	return out, err
}

// retr downloads message n with dot-stuffing undone and CRLF line ends.
func (s *pop3Session) retr(n int) ([]byte, error) {
	var b bytes.Buffer
	err := s.multi("RETR", "RETR "+strconv.Itoa(n), func(l []byte) error {
		b.Write(l)
		b.WriteString("\r\n")
		return nil
	})
	return b.Bytes(), err
}

// top downloads the header and the first lines of message n.
func (s *pop3Session) top(n, lines int) ([]byte, error) {
	var b bytes.Buffer
	err := s.multi("TOP", fmt.Sprintf("TOP %d %d", n, lines), func(l []byte) error {
		b.Write(l)
		b.WriteString("\r\n")
		return nil
	})
	return b.Bytes(), err
}

// dele marks message n deleted (committed at QUIT).
func (s *pop3Session) dele(n int) error {
	_, err := s.cmd("DELE", "DELE "+strconv.Itoa(n))
	return err
}

// noop runs NOOP.
func (s *pop3Session) noop() error {
	_, err := s.cmd("NOOP", "NOOP")
	return err
}

// quit sends QUIT (which commits deletions), closes the connection and
// ends the watch.
func (s *pop3Session) quit(timeout time.Duration) error {
	defer s.w.Release()
	return s.Quit(timeout)
}

// close drops the connection without QUIT (pending deletions are lost)
// and ends the watch.
func (s *pop3Session) close() {
	s.w.Release()
	s.Close()
}
