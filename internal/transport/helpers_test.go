package transport_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailserver"
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

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// tlsPair returns the embedded server's self-signed configuration and a
// client configuration that trusts it.
func tlsPair(t *testing.T) (srv, cli *tls.Config) {
	t.Helper()
	srv, err := mailserver.SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(srv.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return srv, &tls.Config{RootCAs: pool}
}

// embedded starts the embedded server with TLS and user alice/secret on
// every frontend (IMAP, POP3, SMTP submission, LMTP).
func embedded(t *testing.T) (mailserver.Addrs, *tls.Config) {
	t.Helper()
	srvTLS, cliTLS := tlsPair(t)
	srv := mailserver.New(mailserver.Options{Domain: "example.com", TLS: srvTLS})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0",
		POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return addrs, cliTLS
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
