package faketest

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

const ioTimeout = 10 * time.Second

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(ioTimeout))
	t.Cleanup(func() { c.Close() })
	return c
}

// loginRaw greets and logs in over a raw connection.
func loginRaw(t *testing.T, c net.Conn) *bufio.Reader {
	t.Helper()
	r := bufio.NewReader(c)
	greet, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting %q, %v", greet, err)
	}
	if _, err := io.WriteString(c, "a1 LOGIN user1 pass\r\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a1 OK") {
		t.Fatalf("LOGIN answer %q, %v", l, err)
	}
	return r
}

// TestIMAPModes checks what each mode answers to a SELECT after LOGIN, on
// a raw connection, and that a real client logs in and out (the way
// mailsim's preflight does).
func TestIMAPModes(t *testing.T) {
	tests := []struct {
		mode  IMAPMode
		check func(t *testing.T, c net.Conn, r *bufio.Reader)
	}{
		{IMAPGarbage, func(t *testing.T, c net.Conn, r *bufio.Reader) {
			l, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, "\x00") {
				t.Errorf("first answer %q, %v: want binary garbage", l, err)
			}
		}},
		{IMAPHugeLine, func(t *testing.T, c net.Conn, r *bufio.Reader) {
			l, err := r.ReadString('\n')
			if err != nil || len(l) != len("* OK ")+HugeLineSize+2 {
				t.Errorf("first answer %d bytes, %v: want %d", len(l), err, len("* OK ")+HugeLineSize+2)
			}
			if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a2 OK") {
				t.Errorf("after the huge line %q, %v", l, err)
			}
		}},
		{IMAPEndlessLine, func(t *testing.T, c net.Conn, r *bufio.Reader) {
			// The limit is 1 MiB here: that many bytes, no newline, EOF.
			b, err := io.ReadAll(r)
			if err != nil || len(b) < 1<<20 || strings.Contains(string(b), "\n") {
				t.Errorf("endless line: %d bytes, newline %v, %v", len(b), strings.Contains(string(b), "\n"), err)
			}
		}},
		{IMAPEndlessStream, func(t *testing.T, c net.Conn, r *bufio.Reader) {
			// The limit is 1 MiB here: that many bytes of the default
			// response and nothing else, then EOF.
			b, err := io.ReadAll(r)
			lines := strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n")
			if err != nil || len(b) < 1<<20 || strings.Count(string(b), DefaultStreamLine+"\r\n") != len(lines) {
				t.Errorf("endless stream: %d bytes, %d lines, %v: want 1 MiB of %q", len(b), len(lines), err, DefaultStreamLine)
			}
		}},
		{IMAPSilent, func(t *testing.T, c net.Conn, r *bufio.Reader) {
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			l, err := r.ReadString('\n')
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Errorf("silent server answered %q, %v", l, err)
			}
			_ = c.SetDeadline(time.Now().Add(ioTimeout))
			if _, err := io.WriteString(c, "a3 LOGOUT\r\n"); err != nil {
				t.Fatal(err)
			}
			if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "* BYE") {
				t.Errorf("LOGOUT of a silent server: %q, %v", l, err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			t.Parallel()
			s := StartIMAP(t, tt.mode, Options{EndlessLimit: 1 << 20})
			c := dial(t, s.Addr)
			r := loginRaw(t, c)
			if _, err := io.WriteString(c, "a2 SELECT INBOX\r\n"); err != nil {
				t.Fatal(err)
			}
			tt.check(t, c, r)

			ic := imapclient.New(dial(t, s.Addr), nil)
			defer ic.Close()
			if err := ic.Login("user1", "pass").Wait(); err != nil {
				t.Fatalf("go-imap login: %v", err)
			}
			if err := ic.Logout().Wait(); err != nil {
				t.Errorf("go-imap logout: %v", err)
			}
			if s.Logins() != 2 || s.Faults() != 1 {
				t.Errorf("logins %d faults %d, want 2 and 1", s.Logins(), s.Faults())
			}
		})
	}
}

// TestIMAPHangUpAndRefuse: IMAPHangUp closes the connection after LOGIN;
// IMAPRefuse answers an APPEND with NO instead of the continuation request.
func TestIMAPHangUpAndRefuse(t *testing.T) {
	t.Parallel()
	s := StartIMAP(t, IMAPHangUp, Options{})
	r := loginRaw(t, dial(t, s.Addr))
	if l, err := r.ReadString('\n'); err != io.EOF {
		t.Errorf("after LOGIN: %q, %v; want EOF", l, err)
	}
	if s.Logins() != 1 || s.Faults() != 0 {
		t.Errorf("hang-up: logins %d faults %d, want 1 and 0", s.Logins(), s.Faults())
	}

	s = StartIMAP(t, IMAPRefuse, Options{})
	c := dial(t, s.Addr)
	r = loginRaw(t, c)
	if _, err := io.WriteString(c, "a2 APPEND INBOX {5}\r\n"); err != nil {
		t.Fatal(err)
	}
	if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, "a2 NO [OVERQUOTA]") {
		t.Errorf("APPEND answered %q, %v; want a2 NO [OVERQUOTA]", l, err)
	}
	if s.Logins() != 1 || s.Faults() != 1 {
		t.Errorf("refuse: logins %d faults %d, want 1 and 1", s.Logins(), s.Faults())
	}
}

// TestIMAPTakeLiterals: with Options.TakeLiterals the server requests an
// APPEND's literal ({N}; none for {N+}), reads it and the rest of the
// line, and only then answers in its mode (a fault counted): IMAPClose
// closes, IMAPSilent says nothing. Without it, IMAPClose closes at the
// command's first line, requesting nothing.
func TestIMAPTakeLiterals(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		mode IMAPMode
		take bool
		// send is the APPEND after LOGIN, wait whether the client waits
		// for the continuation request before its literal.
		send string
		wait bool
		// want is what the server says after the line: "+" then EOF or
		// nothing (silent), or EOF at once.
		want string
	}{
		{"close after the literal", IMAPClose, true, "a2 APPEND INBOX {5}", true, "+ EOF"},
		{"close after a LITERAL+ literal", IMAPClose, true, "a2 APPEND INBOX {5+}", false, "EOF"},
		{"silent after the literal", IMAPSilent, true, "a2 APPEND INBOX {5}", true, "+ silent"},
		{"close at the line", IMAPClose, false, "a2 APPEND INBOX {5}", true, "EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := StartIMAP(t, tt.mode, Options{TakeLiterals: tt.take})
			c := dial(t, s.Addr)
			r := loginRaw(t, c)
			var got []string
			if _, err := io.WriteString(c, tt.send+"\r\n"); err != nil {
				t.Fatal(err)
			}
			if tt.wait {
				l, err := r.ReadString('\n')
				if err == io.EOF {
					got = append(got, "EOF")
				} else if strings.HasPrefix(l, "+ ") {
					got = append(got, "+")
				} else {
					t.Fatalf("after the line: %q, %v", l, err)
				}
			}
			if len(got) == 0 || got[0] == "+" {
				// A write to a connection the server closed may succeed.
				_, _ = io.WriteString(c, "hello\r\n")
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				l, err := r.ReadString('\n')
				var ne net.Error
				switch {
				case err == io.EOF:
					got = append(got, "EOF")
				case errors.As(err, &ne) && ne.Timeout():
					got = append(got, "silent")
				default:
					t.Fatalf("after the literal: %q, %v", l, err)
				}
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("the server said %q, want %q", g, tt.want)
			}
			// The fault counts once the command was read, literal and all.
			for deadline := time.Now().Add(ioTimeout); s.Faults() == 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if s.Faults() != 1 {
				t.Errorf("faults %d, want 1", s.Faults())
			}
		})
	}
	if n, sync, ok := literalAtEnd("a APPEND x {12+}"); n != 12 || sync || !ok {
		t.Errorf("literalAtEnd {12+}: %d %v %v", n, sync, ok)
	}
	for _, l := range []string{"a NOOP", "a X {}", "a X {1x}", "a X {+}"} {
		if _, _, ok := literalAtEnd(l); ok {
			t.Errorf("literalAtEnd(%q) found a literal", l)
		}
	}
}

func TestIMAPBeforeLoginAndLimits(t *testing.T) {
	t.Parallel()
	s := StartIMAP(t, IMAPGarbage, Options{MaxConns: 1})
	c := dial(t, s.Addr)
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "a1 CAPABILITY\r\na2 SELECT INBOX\r\n")
	for _, want := range []string{"* CAPABILITY", "a1 OK", "a2 BAD"} {
		if l, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(l, want) {
			t.Errorf("got %q, %v, want %s", l, err, want)
		}
	}
	// a command line beyond the bound ends the connection
	io.WriteString(c, strings.Repeat("z", maxCommandLine+10)+"\r\n")
	if b, err := io.ReadAll(r); err != nil || len(b) != 0 {
		t.Errorf("after an overlong line: %q, %v; want EOF", b, err)
	}
	// the second connection is over MaxConns: closed at once
	over := dial(t, s.Addr)
	if b, err := io.ReadAll(over); err != nil || len(b) != 0 {
		t.Errorf("connection over MaxConns got %q, %v", b, err)
	}
	if s.Conns() != 2 || s.Faults() != 0 {
		t.Errorf("conns %d faults %d", s.Conns(), s.Faults())
	}
	if errs := (Options{MaxConns: -1, ConnTimeout: -1, EndlessLimit: -1}).Validate(); len(errs) != 3 {
		t.Errorf("Validate: %v, want 3 errors", errs)
	}
}

// TestLMTP451 delivers with a real LMTP client: every recipient is refused
// with 451.
func TestLMTP451(t *testing.T) {
	t.Parallel()
	s := StartLMTP(t, Options{})
	lc := smtp.NewClientLMTP(dial(t, s.Addr))
	defer lc.Close()
	err := lc.SendMail("x@example.net", []string{"user1@example.com", "user2@example.com"},
		strings.NewReader("Subject: x\r\n\r\nbody\r\n"))
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("SendMail: %v, want a 451", err)
	}
	if err := lc.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	if s.Faults() != 1 {
		// go-smtp stops at the first refused recipient
		t.Errorf("RCPTs refused %d, want 1", s.Faults())
	}
}

// TestCloseEndsConnections closes a server with a silent connection open.
func TestCloseEndsConnections(t *testing.T) {
	t.Parallel()
	s := StartIMAP(t, IMAPSilent, Options{})
	c := dial(t, s.Addr)
	r := loginRaw(t, c)
	io.WriteString(c, "a2 NOOP\r\n")
	s.Close()
	if _, err := r.ReadString('\n'); err == nil {
		t.Error("connection still answering after Close")
	}
}

// TestRepeat: Repeat writes whole units up to its limit (passing it by
// less than a chunk), stops at a failed write with its error, and refuses
// an empty unit.
func TestRepeat(t *testing.T) {
	var b strings.Builder
	if err := Repeat(&b, []byte("250-x\r\n"), 100<<10); err != nil || b.Len() < 100<<10 || b.Len() > 140<<10 ||
		strings.Count(b.String(), "250-x\r\n")*7 != b.Len() {
		t.Errorf("Repeat wrote %d bytes, %v: want at least 100 KiB of whole units", b.Len(), err)
	}
	broken := errors.New("broken")
	if err := Repeat(failWriter{broken}, []byte("x"), 1<<20); err != broken {
		t.Errorf("Repeat on a failing writer: %v, want its error", err)
	}
	if err := Repeat(io.Discard, nil, 1); err == nil {
		t.Error("Repeat of nothing: no error")
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }
