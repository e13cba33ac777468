// Package faketest runs deliberately broken mail servers on loopback for
// fault tests: an IMAP server that greets and accepts any LOGIN, then
// answers every other command with garbage, a 1 MiB line, a line that never
// ends, responses that never end, NO, or nothing at all, or hangs up (after LOGIN, or at the next
// command), optionally after it took the command's literal (an APPEND's
// message: Options.TakeLiterals); and an LMTP server that answers 451 to every
// RCPT. They are fakes on purpose (the project's tests otherwise run real
// servers): no real server misbehaves on demand.
//
// Every server listens on 127.0.0.1:0, serves a bounded number of
// connections, each with a deadline, and is closed (listener, connections,
// goroutines) in the test's cleanup.
package faketest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// IMAPMode is how the fake IMAP server answers after LOGIN. It offers no
// AUTH= capability, so clients log in with LOGIN.
type IMAPMode int

const (
	// IMAPGarbage answers every command with lines that are not IMAP
	// (binary bytes, an unknown status, a tag that was never sent).
	IMAPGarbage IMAPMode = iota
	// IMAPHugeLine answers every command with one untagged line of
	// HugeLineSize bytes, then the tagged OK.
	IMAPHugeLine
	// IMAPEndlessLine answers the first command with a line that never
	// ends: bytes without CRLF until the client goes away, the connection's
	// deadline, or Options.EndlessLimit bytes (then it closes).
	IMAPEndlessLine
	// IMAPSilent never answers a command after LOGIN (LOGOUT excepted): it
	// reads and discards until the client goes away or the deadline.
	IMAPSilent
	// IMAPHangUp closes the connection right after its reply to LOGIN.
	IMAPHangUp
	// IMAPRefuse answers every command after LOGIN (LOGOUT excepted)
	// with NO [OVERQUOTA]; an APPEND gets it instead of the continuation
	// request for its message.
	IMAPRefuse
	// IMAPClose closes the connection at the first command after LOGIN
	// (LOGOUT excepted), once it has read it: its line, and with
	// Options.TakeLiterals its literals.
	IMAPClose
	// IMAPEndlessStream answers the first command after LOGIN with
	// untagged responses that never end, each well-formed and short:
	// Options.StreamLine again and again, until the client goes away,
	// the connection's deadline, or Options.EndlessLimit bytes (then it
	// closes). The command never completes.
	IMAPEndlessStream
	// IMAPInventedFetch answers SELECT and EXAMINE with a mailbox of
	// InventedExists messages, and any other command after LOGIN with
	// FETCH responses of messages it invents without end, "* k FETCH
	// (UID k FLAGS ())" for k = 1, 2, ..., until the client goes away,
	// the connection's deadline, or Options.EndlessLimit bytes (then it
	// closes). The command never completes.
	IMAPInventedFetch
)

// InventedExists is the message count IMAPInventedFetch's SELECT reports.
const InventedExists = 10

// String names the mode.
func (m IMAPMode) String() string {
	switch m {
	case IMAPGarbage:
		return "garbage"
	case IMAPHugeLine:
		return "huge-line"
	case IMAPEndlessLine:
		return "endless-line"
	case IMAPSilent:
		return "silent"
	case IMAPHangUp:
		return "hang-up"
	case IMAPRefuse:
		return "refuse"
	case IMAPClose:
		return "close"
	case IMAPEndlessStream:
		return "endless-stream"
	case IMAPInventedFetch:
		return "invented-fetch"
	}
	return fmt.Sprintf("IMAPMode(%d)", int(m))
}

// HugeLineSize is the length of IMAPHugeLine's line: 1 MiB.
const HugeLineSize = 1 << 20

// Defaults of Options.
const (
	DefaultMaxConns     = 1000
	DefaultConnTimeout  = 30 * time.Second
	DefaultEndlessLimit = 1 << 30
	DefaultStreamLine   = "* OK faketest streams on"
)

// maxCommandLine bounds a client's command line; longer ones close the
// connection.
const maxCommandLine = 64 << 10

// Options bound a fake server. Zero values take the defaults.
type Options struct {
	// MaxConns is how many connections are served in all (default
	// DefaultMaxConns); later ones are closed at once.
	MaxConns int
	// ConnTimeout is the deadline of each connection from its accept
	// (default DefaultConnTimeout).
	ConnTimeout time.Duration
	// EndlessLimit bounds the bytes of one IMAPEndlessLine or
	// IMAPEndlessStream reply (default DefaultEndlessLimit).
	EndlessLimit int64
	// StreamLine is the response IMAPEndlessStream repeats, without its
	// CRLF (default DefaultStreamLine): "* SEARCH 1 2 3" makes a search
	// that never ends, "* LIST () \"/\" x" a LIST.
	StreamLine string
	// TakeLiterals makes the IMAP server take a command's literals before
	// it answers the command in its mode: for each literal the line
	// announces ({N}, or {N+} without the wait), a continuation request,
	// then its N bytes (at most MaxLiteral) and the line that follows, so
	// that a client's APPEND goes out whole and the mode then breaks its
	// reply. Without it, a command with a literal is answered at its
	// first line, before the client sends the literal.
	TakeLiterals bool
}

// MaxLiteral bounds one literal the IMAP server takes
// (Options.TakeLiterals); a longer one closes the connection.
const MaxLiteral = 64 << 20

// Validate returns every problem of o.
func (o Options) Validate() []error {
	var errs []error
	if o.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("faketest: MaxConns %d is negative", o.MaxConns))
	}
	if o.ConnTimeout < 0 {
		errs = append(errs, fmt.Errorf("faketest: ConnTimeout %v is negative", o.ConnTimeout))
	}
	if o.EndlessLimit < 0 {
		errs = append(errs, fmt.Errorf("faketest: EndlessLimit %d is negative", o.EndlessLimit))
	}
	if strings.ContainsAny(o.StreamLine, "\r\n") {
		errs = append(errs, fmt.Errorf("faketest: StreamLine %q holds a line end", o.StreamLine))
	}
	return errs
}

func (o Options) withDefaults() Options {
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.ConnTimeout == 0 {
		o.ConnTimeout = DefaultConnTimeout
	}
	if o.EndlessLimit == 0 {
		o.EndlessLimit = DefaultEndlessLimit
	}
	if o.StreamLine == "" {
		o.StreamLine = DefaultStreamLine
	}
	return o
}

// Server is a running fake server.
type Server struct {
	// Addr is "127.0.0.1:port".
	Addr string

	conns, logins, logouts, faults, ended atomic.Int64

	opts  Options
	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	live  map[net.Conn]struct{}
	close sync.Once
}

// Conns is the number of connections accepted so far (served or not).
func (s *Server) Conns() int64 { return s.conns.Load() }

// Logins is the number of LOGIN commands accepted (IMAP).
func (s *Server) Logins() int64 { return s.logins.Load() }

// Logouts is the number of LOGOUT commands received (IMAP).
func (s *Server) Logouts() int64 { return s.logouts.Load() }

// Ended is the number of served connections whose handler returned: the
// client closed it, the server's mode ended it, or its deadline passed.
func (s *Server) Ended() int64 { return s.ended.Load() }

// Faults is the number of broken answers given: IMAP commands answered in
// the server's mode (with Options.TakeLiterals, once their literals were
// read in full), LMTP RCPTs refused with 451.
func (s *Server) Faults() int64 { return s.faults.Load() }

// Close stops the server: listener, connections, goroutines. It is
// idempotent; the test's cleanup calls it.
func (s *Server) Close() {
	s.close.Do(func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.live {
			c.Close()
		}
		s.mu.Unlock()
	})
	s.wg.Wait()
}

// StartIMAP starts a fake IMAP server in mode, closed at the end of the
// test.
func StartIMAP(tb testing.TB, mode IMAPMode, opts Options) *Server {
	tb.Helper()
	return start(tb, opts, func(s *Server, c net.Conn) { s.imap(c, mode) })
}

// StartLMTP starts a fake LMTP server that answers 451 to every RCPT,
// closed at the end of the test.
func StartLMTP(tb testing.TB, opts Options) *Server {
	tb.Helper()
	return start(tb, opts, (*Server).lmtp)
}

// Start starts a loopback server (127.0.0.1:0) that runs handle for every
// connection, each bounded by opts.ConnTimeout, for tests that need a
// server of their own (an echo, a scripted reply). The listener, every
// connection and every handler end with the test.
func Start(tb testing.TB, opts Options, handle func(net.Conn)) *Server {
	tb.Helper()
	return start(tb, opts, func(_ *Server, c net.Conn) { handle(c) })
}

func start(tb testing.TB, opts Options, handle func(*Server, net.Conn)) *Server {
	tb.Helper()
	if errs := opts.Validate(); len(errs) > 0 {
		tb.Fatal(errors.Join(errs...))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("faketest: %v", err)
	}
	s := &Server{Addr: ln.Addr().String(), opts: opts.withDefaults(), ln: ln, live: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if s.conns.Add(1) > int64(s.opts.MaxConns) {
				c.Close()
				continue
			}
			s.mu.Lock()
			s.live[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.live, c)
					s.mu.Unlock()
					c.Close()
					s.ended.Add(1)
				}()
				_ = c.SetDeadline(time.Now().Add(s.opts.ConnTimeout))
				handle(s, c)
			}()
		}
	}()
	tb.Cleanup(s.Close)
	return s
}

// readLine reads one CRLF-terminated line of at most maxCommandLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var line []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		line = append(line, chunk...)
		if len(line) > maxCommandLine {
			return "", errors.New("command line too long")
		}
		if !isPrefix {
			return string(line), nil
		}
	}
}

// garbage is what IMAPGarbage answers: a binary line, an unknown status,
// a response for a tag that was never sent.
var garbage = []byte("\x00\x01\x02\xff\xfe garbage \x7f\r\n* FROBNICATE (((\r\nzz99 OK [UNKNOWN-CODE not yours\r\n")

func (s *Server) imap(c net.Conn, mode IMAPMode) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	say := func(lines ...string) bool {
		for _, l := range lines {
			w.WriteString(l)
			w.WriteString("\r\n")
		}
		return w.Flush() == nil
	}
	if !say("* OK [CAPABILITY IMAP4rev1] faketest " + mode.String() + " ready") {
		return
	}
	loggedIn := false
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(line, " ")
		cmd, _, _ := strings.Cut(rest, " ")
		switch cmd = strings.ToUpper(cmd); {
		case cmd == "LOGOUT":
			s.logouts.Add(1)
			say("* BYE faketest", tag+" OK LOGOUT completed")
			return
		case cmd == "LOGIN":
			loggedIn = true
			s.logins.Add(1)
			if !say(tag+" OK [CAPABILITY IMAP4rev1] LOGIN completed") || mode == IMAPHangUp {
				return
			}
		case !loggedIn && cmd == "CAPABILITY":
			if !say("* CAPABILITY IMAP4rev1", tag+" OK CAPABILITY completed") {
				return
			}
		case !loggedIn:
			if !say(tag + " BAD log in first") {
				return
			}
		default:
			if s.opts.TakeLiterals && !takeLiterals(r, w, line) {
				return
			}
			s.faults.Add(1)
			if !s.misbehave(c, w, mode, tag, cmd) {
				return
			}
		}
	}
}

// maxLiterals bounds the literals of one command the IMAP server takes.
const maxLiterals = 16

// takeLiterals reads the literals the command line announces, each after
// a continuation request unless it is non-synchronizing ({N+}), and the
// line after each (Options.TakeLiterals); false ends the connection.
func takeLiterals(r *bufio.Reader, w *bufio.Writer, line string) bool {
	for range maxLiterals {
		n, sync, ok := literalAtEnd(line)
		if !ok {
			return true
		}
		if n > MaxLiteral {
			return false
		}
		if sync {
			w.WriteString("+ go ahead\r\n")
			if w.Flush() != nil {
				return false
			}
		}
		if _, err := io.CopyN(io.Discard, r, n); err != nil {
			return false
		}
		var err error
		if line, err = readLine(r); err != nil {
			return false
		}
	}
	return false
}

// literalAtEnd parses the literal announcement that ends line, {N} or
// {N+}: its size, and whether the client waits for a continuation
// request.
func literalAtEnd(line string) (n int64, sync, ok bool) {
	if !strings.HasSuffix(line, "}") {
		return 0, false, false
	}
	open := strings.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false, false
	}
	digits := line[open+1 : len(line)-1]
	sync = !strings.HasSuffix(digits, "+")
	digits = strings.TrimSuffix(digits, "+")
	if digits == "" || len(digits) > 18 {
		return 0, false, false
	}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, false, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, sync, true
}

// misbehave answers one command after LOGIN (cmd, upper-cased) in mode;
// false ends the connection.
func (s *Server) misbehave(c net.Conn, w *bufio.Writer, mode IMAPMode, tag, cmd string) bool {
	switch mode {
	case IMAPGarbage:
		w.Write(garbage)
		return w.Flush() == nil
	case IMAPHugeLine:
		w.WriteString("* OK ")
		w.Write(bytes.Repeat([]byte{'x'}, HugeLineSize))
		w.WriteString("\r\n" + tag + " OK done\r\n")
		return w.Flush() == nil
	case IMAPEndlessLine:
		w.WriteString("* OK ")
		if w.Flush() != nil {
			return false
		}
		_ = Repeat(c, []byte{'y'}, s.opts.EndlessLimit)
		return false
	case IMAPEndlessStream:
		if w.Flush() != nil {
			return false
		}
		_ = Repeat(c, []byte(s.opts.StreamLine+"\r\n"), s.opts.EndlessLimit)
		return false
	case IMAPInventedFetch:
		if cmd == "SELECT" || cmd == "EXAMINE" {
			fmt.Fprintf(w, "* %d EXISTS\r\n* OK [UIDVALIDITY 1] ok\r\n%s OK [READ-WRITE] done\r\n", InventedExists, tag)
			return w.Flush() == nil
		}
		for k, sent := 1, int64(0); sent < s.opts.EndlessLimit; k++ {
			n, err := fmt.Fprintf(w, "* %d FETCH (UID %d FLAGS ())\r\n", k, k)
			if err != nil {
				return false
			}
			sent += int64(n)
		}
		_ = w.Flush()
		return false
	case IMAPRefuse:
		w.WriteString(tag + " NO [OVERQUOTA] faketest refuses\r\n")
		return w.Flush() == nil
	case IMAPClose:
		return false
	default: // IMAPSilent: the read loop discards what comes next
		return true
	}
}

// Repeat writes unit to w again and again, in chunks of about 32 KiB,
// until limit bytes went out (the last chunk may pass it by less than one)
// or a write fails, whose error it returns: a reply that never ends, for
// fakes of any protocol (an SMTP reply of endless "250-" lines, a POP3
// listing without its dot).
func Repeat(w io.Writer, unit []byte, limit int64) error {
	if len(unit) == 0 {
		return errors.New("faketest: Repeat of nothing")
	}
	chunk := bytes.Repeat(unit, max(1, (32<<10)/len(unit)))
	for sent := int64(0); sent < limit; sent += int64(len(chunk)) {
		if _, err := w.Write(chunk); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) lmtp(c net.Conn) {
	r := bufio.NewReader(c)
	say := func(l string) bool {
		_, err := io.WriteString(c, l+"\r\n")
		return err == nil
	}
	if !say("220 faketest LMTP ready") {
		return
	}
	for {
		line, err := readLine(r)
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.ToUpper(line), " ")
		var ok bool
		switch verb {
		case "LHLO", "EHLO", "HELO":
			ok = say("250-faketest\r\n250 8BITMIME")
		case "MAIL":
			ok = say("250 2.1.0 OK")
		case "RCPT":
			s.faults.Add(1)
			ok = say("451 4.3.0 faketest: temporary failure, try again later")
		case "DATA":
			ok = say("503 5.5.1 no valid recipients")
		case "RSET", "NOOP":
			ok = say("250 2.0.0 OK")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			ok = say("502 5.5.2 command not implemented")
		}
		if !ok {
			return
		}
	}
}
