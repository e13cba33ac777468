package mailserver

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// fuzzBound is how long one fuzz input may take before it counts as a hang.
const fuzzBound = 5 * time.Second

// fuzzServer returns a server with users alice and bob, small limits and
// short timeouts, for feeding arbitrary bytes to its sessions.
func fuzzServer(t testing.TB) *Server { return fuzzServerWith(t, Options{}) }

// fuzzServerWith is fuzzServer with opts' TLS configuration and command
// rate limit.
func fuzzServerWith(t testing.TB, opts Options) *Server {
	s := New(Options{MaxLineLength: 512, MaxMessageSize: 4096, MaxRecipients: 5, IdleTimeout: time.Second,
		TLS: opts.TLS, MaxCommandsPerSecond: opts.MaxCommandsPerSecond})
	for _, u := range []string{"alice", "bob"} {
		if err := s.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// refill keeps a few messages (one with dot lines, one without a final
// CRLF) in alice's INBOX so that POP3 inputs have something to work on.
func refill(s *Server) {
	u := s.store.user("alice")
	u.mu.Lock()
	n := len(u.mailboxes["INBOX"].msgs)
	u.mu.Unlock()
	for ; n < 3; n++ {
		raw := testMessage("<fuzz@test>", "fuzz")
		if n == 1 {
			raw = "Subject: no final newline\r\n\r\n.\r\n..\r\nend"
		}
		msg, _ := newMessage([]byte(raw), nil, time.Now())
		s.deliver(u, "INBOX", msg)
	}
}

// exchange writes input to client and closes it, draining the server's
// output meanwhile. It fails the test if the server stops reading without
// closing the connection (a hang).
func exchange(t *testing.T, client net.Conn, input []byte) {
	client.SetDeadline(time.Now().Add(fuzzBound))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(io.Discard, client)
	}()
	_, err := client.Write(input)
	client.Close()
	wg.Wait()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server stopped reading for %v", fuzzBound)
	}
}

func checkReleased(t *testing.T, s *Server) {
	t.Helper()
	for _, u := range []string{"alice", "bob"} {
		if n := s.store.user(u).sessions.Load(); n != 0 {
			t.Fatalf("%s has %d sessions after the connection ended", u, n)
		}
	}
	checkUsage(t, s)
}

var pop3Seeds = []string{
	"USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 0\r\nDELE 1\r\nRSET\r\nDELE 2\r\nQUIT\r\n",
	"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nLIST 1\r\nUIDL 3\r\nRETR 2\r\nQUIT\r\n",
	"AUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nTOP 1 5\r\nNOOP\r\n",
	"CAPA\r\nAUTH\r\nSTLS\r\nAPOP alice 0123\r\nUSER\r\nPASS\r\n",
	"USER alice\nPASS secret\nDELE 3\nDELE 3\nQUIT\n",
	"\x00\xff\r\n\r\n\n\r",
	"AUTH PLAIN =\r\nAUTH PLAIN *\r\nAUTH PLAIN\r\n*\r\n",
}

// FuzzPOP3Session feeds arbitrary bytes to one POP3 session over a pipe:
// it must end without a panic or a hang, release its session and leave
// the store's counters consistent.
func FuzzPOP3Session(f *testing.F) {
	for _, s := range pop3Seeds {
		f.Add([]byte(s))
	}
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		refill(s)
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.handlePOP3(server)
		}()
		exchange(t, client, input)
		select {
		case <-done:
		case <-time.After(fuzzBound):
			t.Fatal("POP3 session did not end after its client closed")
		}
		checkReleased(t, s)
	})
}

// pipeListener hands net.Pipe connections to a server.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// notifyConn signals when the server closes its end.
type notifyConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *notifyConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { close(c.closed) })
	return err
}

var smtpSeeds = []string{
	"EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<x@elsewhere.org>\r\nDATA\r\nSubject: hi\r\nMessage-ID: <f@x>\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
	"EHLO x\r\nAUTH PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<>\r\nRCPT TO:<alice+Work@example.com>\r\nBDAT 5 LAST\r\nhello",
	"LHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<nobody@example.com>\r\nRCPT TO:<bob+a/b@example.com>\r\nDATA\r\nx\r\n.\r\n",
	"HELO x\r\nRSET\r\nNOOP\r\nVRFY alice\r\nHELP\r\nSTARTTLS\r\nDATA\r\n",
	"EHLO x\r\nMAIL FROM:<a@b.c> SIZE=99999999\r\nRCPT TO:<>\r\n",
	// LMTP's per-recipient replies, then commands pipelined after the
	// message (smtpMeter.transaction).
	"LHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nx\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n",
	"LHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@example.com>\r\nRCPT TO:<bob@example.com>\r\nBDAT 2\r\nhiBDAT 3 LAST\r\nyouNOOP\r\n",
}

// startTLSSeeds put STARTTLS where the meter answers it, where it is
// message data, a SASL response or a BDAT chunk, after another, and with
// plain text pipelined behind it.
var startTLSSeeds = []string{
	"EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a@example.com>\r\n",
	"EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\nSTARTTLS\r\n.\r\nNOOP\r\nSTARTTLS\r\n\x16\x03\x01",
	"EHLO x\r\nAUTH PLAIN\r\nSTARTTLS\r\nstarttls foo\r\nSTARTTLS\r\n",
	"EHLO x\r\nBDAT 10\r\nSTARTTLS\r\nSTARTTLS\r\nRSET\r\n",
	"NOOP\r\nNOOP\r\nSTART",
}

// fuzzSMTP fuzzes submission (or LMTP) sessions of fuzzServer.
func fuzzSMTP(f *testing.F, lmtp bool) { fuzzSMTPOn(f, lmtp, fuzzServer(f), smtpSeeds) }

// fuzzSMTPOn fuzzes submission (or LMTP) sessions of s from seeds.
func fuzzSMTPOn(f *testing.F, lmtp bool, s *Server, seeds []string) {
	for _, seed := range seeds {
		f.Add([]byte(seed))
	}
	ln := newPipeListener()
	served := make(chan struct{})
	go func() {
		defer close(served)
		s.serveSMTP(lmtp)(ln)
	}()
	f.Cleanup(func() {
		ln.Close()
		<-served
	})
	f.Fuzz(func(t *testing.T, input []byte) {
		server, client := net.Pipe()
		nc := &notifyConn{Conn: server, closed: make(chan struct{})}
		select {
		case ln.conns <- nc:
		case <-time.After(fuzzBound):
			t.Fatal("server does not accept")
		}
		exchange(t, client, input)
		select {
		case <-nc.closed:
		case <-time.After(fuzzBound):
			t.Fatal("SMTP session did not end after its client closed")
		}
		checkReleased(t, s)
	})
}

// FuzzSMTPSession feeds arbitrary bytes to a go-smtp submission session
// backed by the store, through the command meter.
func FuzzSMTPSession(f *testing.F) { fuzzSMTP(f, false) }

// FuzzLMTPSession does the same for LMTP.
func FuzzLMTPSession(f *testing.F) { fuzzSMTP(f, true) }

// FuzzSMTPStartTLS feeds arbitrary bytes to submission sessions of a
// server with TLS and a command rate limit, whose meter answers STARTTLS
// and holds the bytes it reads: the session must end, without a panic or
// a hang, once its client closes. Bytes after an answered STARTTLS go to
// the TLS handshake, which fails.
func FuzzSMTPStartTLS(f *testing.F) {
	cfg, err := SelfSignedTLS("127.0.0.1")
	if err != nil {
		f.Fatal(err)
	}
	s := fuzzServerWith(f, Options{TLS: cfg, MaxCommandsPerSecond: 1e9})
	fuzzSMTPOn(f, false, s, append(startTLSSeeds, smtpSeeds...))
}

// FuzzLineScanner checks that the meters' scanner never panics and keeps
// its memory bounded, however the input is split.
func FuzzLineScanner(f *testing.F) {
	f.Add([]byte("a1 APPEND INBOX {5}\r\nhello\r\na2 NOOP\r\n"), 3)
	f.Add([]byte("* 1 FETCH (BODY[] {99999999999999999999}\r\n"), 1)
	f.Fuzz(func(t *testing.T, input []byte, split int) {
		ls := lineScanner{literals: true}
		if split <= 0 || split > len(input) {
			split = len(input)
		}
		for len(input) > 0 {
			n := split
			if n > len(input) {
				n = len(input)
			}
			ls.feed(input[:n], func(head []byte, cont bool) {
				if len(head) > headMax {
					t.Fatalf("head of %d bytes", len(head))
				}
			})
			input = input[n:]
		}
		if len(ls.head) > headMax || ls.tailLen > len(ls.tail) {
			t.Fatalf("scanner state grew: head %d tail %d", len(ls.head), ls.tailLen)
		}
	})
}
