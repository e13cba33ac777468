package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// fakeServer runs serve for every connection to a listener on
// 127.0.0.1:0 and returns its address. The listener and every connection
// are closed, and every handler waited for, when the test ends.
func fakeServer(t *testing.T, serve func(net.Conn)) string {
	t.Helper()
	return faketest.Start(t, faketest.Options{}, serve).Addr
}

// openPOP3 dials the POP3 server at addr without TLS and reads its
// greeting; the connection is closed when the test ends.
func openPOP3(t *testing.T, addr string) *transport.POP3 {
	t.Helper()
	conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "pop3", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	p, err := transport.OpenPOP3(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// embedded starts the embedded server with TLS and user alice/secret on
// every frontend (IMAP, POP3, SMTP submission, LMTP).
func embedded(t *testing.T) (mailserver.Addrs, *tls.Config) {
	t.Helper()
	return mailservertest.Start(t, mailservertest.User{Name: "alice", Password: "secret"})
}

// meter counts what a Conn reports.
type meter struct {
	mu          sync.Mutex
	in, out     int64
	open, total int
}

func (m *meter) Bytes(_ string, in, out int64) {
	m.mu.Lock()
	m.in += in
	m.out += out
	m.mu.Unlock()
}

func (m *meter) Connection(_ string, delta int) {
	m.mu.Lock()
	m.open += delta
	if delta > 0 {
		m.total++
	}
	m.mu.Unlock()
}

func (m *meter) get() (in, out int64, open, total int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.in, m.out, m.open, m.total
}

// scriptedSMTP starts a fake SMTP server that sends greeting, then answers
// each command line starting with a key of replies with its value and any
// other with 221, and hangs up; at most 10 commands.
func scriptedSMTP(t *testing.T, greeting string, replies map[string]string) string {
	t.Helper()
	return fakeServer(t, func(c net.Conn) {
		_, _ = c.Write([]byte(greeting))
		r := bufio.NewReader(c)
		for range 10 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
			reply, ok := replies[strings.ToUpper(cmd)]
			if !ok {
				_, _ = c.Write([]byte("221 bye\r\n"))
				return
			}
			_, _ = c.Write([]byte(reply))
		}
	})
}
