package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/go-pop3"

	"github.com/mailsim/mailsim/scenarios"
)

// maxPOP3Message bounds one multi-line POP3 reply (a RETR of a huge
// message, or a misbehaving server that never sends the terminator).
const maxPOP3Message = 64 << 20

// pop3Wire is the net.Conn go-pop3 reads from. It hands the library at
// most one line per Read, so the library's 4 KiB buffer never holds bytes
// past the status line it asked for: multi-line replies are then read here,
// from br, with no line-length limit and with dot-stuffing undone. It also
// remembers whether the last line was -ERR, so a failure of the library
// (which returns plain errors) can be classified.
type pop3Wire struct {
	*Conn
	br *bufio.Reader
	// lastERR is true when the last complete line handed out began "-ERR".
	lastERR bool
	// partial is true while a line was handed out only in part.
	partial bool
	// lineStart is true when the next byte starts a line.
	lineStart bool
}

func newPOP3Wire(c *Conn) *pop3Wire {
	return &pop3Wire{Conn: c, br: bufio.NewReaderSize(c, 4096), lineStart: true}
}

// Read implements io.Reader, returning at most up to the next LF.
func (w *pop3Wire) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if w.br.Buffered() == 0 {
		if _, err := w.br.Peek(1); err != nil {
			return 0, err
		}
	}
	buf, _ := w.br.Peek(w.br.Buffered())
	n := len(buf)
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		n = i + 1
	}
	n = copy(p, buf[:n])
	if w.lineStart {
		w.lastERR = bytes.HasPrefix(p[:n], []byte("-ERR"))
	}
	w.lineStart = p[n-1] == '\n'
	w.partial = !w.lineStart
	_, _ = w.br.Discard(n)
	return n, nil
}

// pop3Session is one logged-in POP3 connection.
type pop3Session struct {
	conn *Conn
	wire *pop3Wire
	c    *pop3.Conn
	rec  Recorder
	addr string
	capa map[string]string // upper-case capability → its arguments
}

// errPOP3Garbage is a reply that is neither +OK nor -ERR, or cannot be
// parsed.
var errPOP3Garbage = errors.New("pop3: malformed reply")

// dialPOP3 connects to ep and reads the greeting.
func dialPOP3(ctx context.Context, o *Options, ep scenarios.Endpoint) (*pop3Session, error) {
	conn, err := dial(ctx, o, "pop3", ep)
	if err != nil {
		loginUnreached(ctx, o, "pop3")
		return nil, err
	}
	s := &pop3Session{conn: conn, wire: newPOP3Wire(conn), rec: o.recorder(), addr: ep.Addr}
	host, port, _ := net.SplitHostPort(ep.Addr)
	portN, _ := strconv.Atoi(port)
	cl := pop3.New(pop3.Opt{Host: host, Port: portN, DialTimeout: conn.Timeout(), Dialer: wireDialer{s.wire}})
	_ = conn.Extend(0)
	c, err := cl.NewConn() // reads the greeting
	if err == nil && s.wire.partial {
		err = fmt.Errorf("greeting: %w", errPOP3Garbage)
	}
	if err != nil {
		_ = conn.Close()
		loginUnreached(ctx, o, "pop3")
		return nil, fmt.Errorf("pop3 %s: greeting: %w", ep.Addr, s.classify("GREETING", err))
	}
	s.c = c
	return s, nil
}

// wireDialer hands go-pop3 the already open connection.
type wireDialer struct{ w *pop3Wire }

func (d wireDialer) Dial(network, address string) (net.Conn, error) { return d.w, nil }

// classify turns a go-pop3 error into a *POP3Error for a -ERR reply and
// leaves network errors and garbage as they are.
func (s *pop3Session) classify(cmd string, err error) error {
	if err == nil {
		return nil
	}
	if s.wire.lastERR && !s.wire.partial {
		text := strings.TrimPrefix(err.Error(), "unknown error (no info specified in response)")
		return &POP3Error{Command: cmd, Text: text}
	}
	return err
}

// cmd sends a single-line command and returns the text after +OK.
// Arguments are joined with spaces; name is what is recorded.
func (s *pop3Session) cmd(name string, line string) (string, error) {
	start := time.Now()
	_ = s.conn.Extend(0)
	err := s.c.Send(line)
	var b []byte
	if err == nil {
		b, err = s.c.ReadOne()
		if err == nil && s.wire.partial {
			err = errPOP3Garbage
		}
	}
	err = s.classify(name, err)
	record(s.rec, "pop3", name, start, err)
	if err != nil {
		return "", fmt.Errorf("pop3 %s: %s: %w", s.addr, name, err)
	}
	return string(b), nil
}

// multi sends a command with a multi-line reply and calls line for every
// line of the reply, dot-stuffing undone, without its CRLF. A line may be
// of any length; the whole reply is bounded by maxPOP3Message.
func (s *pop3Session) multi(name, cmdLine string, line func([]byte) error) error {
	start := time.Now()
	err := s.multiRaw(name, cmdLine, line)
	record(s.rec, "pop3", name, start, err)
	if err != nil {
		return fmt.Errorf("pop3 %s: %s: %w", s.addr, name, err)
	}
	return nil
}

func (s *pop3Session) multiRaw(name, cmdLine string, line func([]byte) error) error {
	_ = s.conn.Extend(0)
	if err := s.c.Send(cmdLine); err != nil {
		return err
	}
	if _, err := s.c.ReadOne(); err != nil {
		return s.classify(name, err)
	}
	if s.wire.partial {
		return errPOP3Garbage
	}
	var (
		total   int
		long    []byte // a line longer than the reader's buffer, assembled
		cbErr   error
		lastExt = time.Now()
	)
	for {
		if time.Since(lastExt) > time.Second {
			// A long download: keep the deadline ahead of it.
			_ = s.conn.Extend(0)
			lastExt = time.Now()
		}
		frag, err := s.wire.br.ReadSlice('\n')
		total += len(frag)
		if total > maxPOP3Message {
			return fmt.Errorf("%w: reply over %d bytes", errPOP3Garbage, maxPOP3Message)
		}
		if err == bufio.ErrBufferFull {
			long = append(long, frag...)
			continue
		}
		if err != nil {
			return err
		}
		l := frag
		if long != nil {
			long = append(long, frag...)
			l = long
		}
		l = bytes.TrimSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("\r"))
		if len(l) > 0 && l[0] == '.' {
			if len(l) == 1 {
				return cbErr
			}
			l = l[1:] // undo dot-stuffing
		}
		if cbErr == nil {
			cbErr = line(l)
		}
		long = nil
	}
}

// capabilities runs CAPA. A server without CAPA (-ERR) has none.
func (s *pop3Session) capabilities() error {
	capa := make(map[string]string)
	err := s.multi("CAPA", "CAPA", func(l []byte) error {
		name, args, _ := strings.Cut(string(l), " ")
		capa[strings.ToUpper(name)] = args
		return nil
	})
	var pe *POP3Error
	if err != nil && !errors.As(err, &pe) {
		return err
	}
	s.capa = capa
	return nil
}

// hasSASL reports whether CAPA lists SASL mechanism mech.
func (s *pop3Session) hasSASL(mech string) bool {
	for _, m := range strings.Fields(s.capa["SASL"]) {
		if strings.EqualFold(m, mech) {
			return true
		}
	}
	return false
}

// startTLS runs STLS and the TLS handshake, then CAPA again.
func (s *pop3Session) startTLS(o *Options) error {
	if _, ok := s.capa["STLS"]; !ok {
		return fmt.Errorf("pop3 %s: server does not offer STLS", s.addr)
	}
	if _, err := s.cmd("STLS", "STLS"); err != nil {
		return err
	}
	if err := s.conn.StartTLS(o.tlsConfig(s.addr)); err != nil {
		return err
	}
	return s.capabilities()
}

// login authenticates with AUTH PLAIN when offered, USER/PASS otherwise,
// and reports the attempt as a Login.
func (s *pop3Session) login(user, pass string) error {
	var err error
	if s.hasSASL("PLAIN") {
		ir := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
		_, err = s.cmd("AUTH", "AUTH PLAIN "+ir)
	} else {
		if _, err = s.cmd("USER", "USER "+user); err == nil {
			_, err = s.cmd("PASS", "PASS "+pass)
		}
	}
	s.rec.Login("pop3", outcomeOf(err))
	return err
}

// stat runs STAT and returns the message count and total size.
func (s *pop3Session) stat() (int, int64, error) {
	r, err := s.cmd("STAT", "STAT")
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(r)
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("pop3 %s: STAT %q: %w", s.addr, r, errPOP3Garbage)
	}
	n, err1 := strconv.Atoi(f[0])
	size, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || n < 0 {
		return 0, 0, fmt.Errorf("pop3 %s: STAT %q: %w", s.addr, r, errPOP3Garbage)
	}
	return n, size, nil
}

// list runs LIST (sizes) or UIDL (unique ids): a map from message number
// to the second field.
func (s *pop3Session) list(cmd string) (map[int]string, error) {
	out := make(map[int]string)
	err := s.multi(cmd, cmd, func(l []byte) error {
		f := strings.Fields(string(l))
		if len(f) < 2 {
			return fmt.Errorf("%w: %q", errPOP3Garbage, l)
		}
		n, err := strconv.Atoi(f[0])
		if err != nil || n <= 0 {
			return fmt.Errorf("%w: %q", errPOP3Garbage, l)
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

// quit sends QUIT (which commits deletions) and closes the connection.
func (s *pop3Session) quit(timeout time.Duration) error {
	if timeout > 0 {
		_ = s.conn.Extend(timeout)
	}
	start := time.Now()
	err := s.c.Send("QUIT")
	if err == nil {
		_, err = s.c.ReadOne()
	}
	err = s.classify("QUIT", err)
	record(s.rec, "pop3", "QUIT", start, err)
	_ = s.conn.Close()
	if err != nil {
		return fmt.Errorf("pop3 %s: QUIT: %w", s.addr, err)
	}
	return nil
}

// close drops the connection without QUIT: pending deletions are lost.
func (s *pop3Session) close() { _ = s.conn.Close() }
