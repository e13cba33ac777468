package mailserver

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
	"github.com/knadh/go-pop3"
)

// testDeadline bounds every network exchange of a test.
const testDeadline = 20 * time.Second

// countingRecorder is a Recorder that keeps counts for assertions.
type countingRecorder struct {
	mu        sync.Mutex
	commands  map[string]int // "proto command outcome"
	conns     map[string]int
	delivered map[string]int
}

func newCountingRecorder() *countingRecorder {
	return &countingRecorder{commands: map[string]int{}, conns: map[string]int{}, delivered: map[string]int{}}
}

func (r *countingRecorder) Command(protocol, command, outcome string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commands[protocol+" "+command+" "+outcome]++
}

func (r *countingRecorder) Connection(protocol string, delta int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[protocol] += delta
}

func (r *countingRecorder) Delivered(via string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delivered[via]++
}

func (r *countingRecorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.commands[key]
}

func (r *countingRecorder) open(proto string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns[proto]
}

func (r *countingRecorder) deliveries(via string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.delivered[via]
}

// testServer starts a server on loopback with users alice and bob
// (password "secret") and every frontend on, and closes it at cleanup.
func testServer(t testing.TB, opts Options) (*Server, Addrs) {
	t.Helper()
	s := New(opts)
	for _, u := range []string{"alice", "bob"} {
		if err := s.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := s.Listen(ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s, addrs
}

// dial connects to addr with a deadline on the whole connection.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testDeadline)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.SetDeadline(time.Now().Add(testDeadline))
	return c
}

// imapLogin returns a logged-in IMAP client; handler may be nil.
func imapLogin(t testing.TB, addr, user string, handler *imapclient.UnilateralDataHandler) *imapclient.Client {
	t.Helper()
	opts := &imapclient.Options{UnilateralDataHandler: handler}
	if os.Getenv("IMAPDEBUG") != "" {
		opts.DebugWriter = os.Stderr
	}
	c := imapclient.New(dial(t, addr), opts)
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, "secret").Wait(); err != nil {
		t.Fatalf("imap login %s: %v", user, err)
	}
	return c
}

// deadlineDialer gives go-pop3 connections a deadline.
type deadlineDialer struct{}

func (deadlineDialer) Dial(network, addr string) (net.Conn, error) {
	c, err := net.DialTimeout(network, addr, testDeadline)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(testDeadline))
	return c, nil
}

// pop3Login returns a logged-in POP3 connection.
func pop3Login(t testing.TB, addr, user string) *pop3.Conn {
	t.Helper()
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	c, err := pop3.New(pop3.Opt{Host: host, Port: port, Dialer: deadlineDialer{}}).NewConn()
	if err != nil {
		t.Fatalf("pop3 connect: %v", err)
	}
	// The cleanup also keeps c reachable: a connection the test drops
	// would be closed by the garbage collector (the fd's finalizer),
	// releasing its session under the test (TestConnectionLimit).
	t.Cleanup(func() { _ = c.Quit() })
	if err := c.Auth(user, "secret"); err != nil {
		t.Fatalf("pop3 auth %s: %v", user, err)
	}
	return c
}

// testMessage returns a small RFC 5322 message with the given Message-ID.
func testMessage(id, subject string) string {
	return fmt.Sprintf("From: sender@example.net\r\nTo: alice@example.com\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n\r\nHello %s.\r\n.leading dot line\r\n", subject, id, subject)
}

// lmtpSend delivers msg over LMTP to rcpts and returns each recipient's
// error (nil if accepted and stored).
func lmtpSend(t testing.TB, addr string, msg string, rcpts ...string) []error {
	t.Helper()
	c := smtp.NewClientLMTP(dial(t, addr))
	defer c.Close()
	if err := c.Hello("test.local"); err != nil {
		t.Fatalf("lhlo: %v", err)
	}
	if err := c.Mail("sender@example.net", nil); err != nil {
		t.Fatalf("mail: %v", err)
	}
	errs := make([]error, len(rcpts))
	var accepted []int
	for i, r := range rcpts {
		if errs[i] = c.Rcpt(r, nil); errs[i] == nil {
			accepted = append(accepted, i)
		}
	}
	if len(accepted) == 0 {
		return errs
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("data: %v", err)
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		t.Fatalf("data write: %v", err)
	}
	_, err = w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	if errors.As(err, &lerr) {
		for _, i := range accepted {
			if e, ok := lerr[rcpts[i]]; ok {
				errs[i] = e
			}
		}
	} else if err != nil {
		t.Fatalf("data close: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("quit: %v", err)
	}
	return errs
}

// rawSession is a line-level client for bad-input tests.
type rawSession struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func newRaw(t testing.TB, addr string) *rawSession {
	c := dial(t, addr)
	t.Cleanup(func() { c.Close() })
	return &rawSession{t: t, c: c, br: bufio.NewReaderSize(c, 1<<16)}
}

func (r *rawSession) send(s string) {
	r.t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

// line reads one response line, without CRLF; "" and false at EOF.
func (r *rawSession) line() (string, bool) {
	l, err := r.br.ReadString('\n')
	if err != nil && l == "" {
		return "", false
	}
	return strings.TrimRight(l, "\r\n"), true
}

// until reads lines until one starts with prefix and returns it.
func (r *rawSession) until(prefix string) string {
	r.t.Helper()
	for {
		l, ok := r.line()
		if !ok {
			r.t.Fatalf("connection closed while waiting for %q", prefix)
		}
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// rawStartTLS returns a raw session on the IMAP server at addr after a
// successful STARTTLS, trusting cfg's certificate.
func rawStartTLS(t testing.TB, addr string, cfg *tls.Config) *rawSession {
	t.Helper()
	r := newRaw(t, addr)
	r.until("* OK")
	r.send("s STARTTLS\r\n")
	if st := r.until("s "); !strings.HasPrefix(st, "s OK ") {
		t.Fatalf("starttls: %s", st)
	}
	return r.handshake(cfg)
}

// rawStartTLSLogin is rawStartTLS logged in as alice.
func rawStartTLSLogin(t testing.TB, addr string, cfg *tls.Config) *rawSession {
	t.Helper()
	r := rawStartTLS(t, addr, cfg)
	r.send("l LOGIN alice secret\r\n")
	if st := r.until("l "); !strings.HasPrefix(st, "l OK ") {
		t.Fatalf("login: %s", st)
	}
	return r
}
