// Package mailservertest starts the embedded mail server
// (internal/mailserver) for the tests of the packages that talk to it over
// TCP: on loopback, with a fresh self-signed certificate and a client TLS
// configuration that trusts it, closed in the test's cleanup.
package mailservertest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"testing"

	"github.com/mailsim/mailsim/internal/mailserver"
)

// Domain is the mail domain of the servers Start starts.
const Domain = "example.com"

// User is an account of the server.
type User struct {
	Name, Password string
}

// Numbered returns the users user1…userN, password "pw", except those
// whose number is in except.
func Numbered(n int, except ...int) []User {
	users := make([]User, 0, n)
	for i := 1; i <= n; i++ {
		if !slices.Contains(except, i) {
			users = append(users, User{Name: fmt.Sprintf("user%d", i), Password: "pw"})
		}
	}
	return users
}

// TLS returns a server TLS configuration with a fresh self-signed
// certificate for 127.0.0.1 (mailserver.SelfSignedTLS) and a client
// configuration that trusts it.
func TLS(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	server, err := mailserver.SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return server, Trusting(t, server)
}

// Trusting returns a client TLS configuration that trusts the certificate
// of server (its first one) and no other.
func Trusting(t testing.TB, server *tls.Config) *tls.Config {
	t.Helper()
	if len(server.Certificates) == 0 || len(server.Certificates[0].Certificate) == 0 {
		t.Fatal("mailservertest: the server configuration has no certificate")
	}
	cert := server.Certificates[0].Leaf
	if cert == nil {
		var err error
		if cert, err = x509.ParseCertificate(server.Certificates[0].Certificate[0]); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{RootCAs: pool}
}

// Start starts the embedded server with the domain Domain, users and TLS
// (TLS), every frontend on 127.0.0.1:0 (IMAP, IMAPS, POP3, POP3S, SMTP
// submission, LMTP), and closes it in t's cleanup. It returns the
// frontends' addresses and a client TLS configuration that trusts the
// server.
func Start(t testing.TB, users ...User) (mailserver.Addrs, *tls.Config) {
	t.Helper()
	_, addrs, cliTLS := StartServer(t, users...)
	return addrs, cliTLS
}

// StartServer is Start, returning the server as well, for a test that
// reads its store (the truth a client's reading is checked against) or
// closes it before its end (Close is idempotent).
func StartServer(t testing.TB, users ...User) (*mailserver.Server, mailserver.Addrs, *tls.Config) {
	t.Helper()
	srvTLS, cliTLS := TLS(t)
	srv := mailserver.New(mailserver.Options{Domain: Domain, TLS: srvTLS})
	t.Cleanup(func() { srv.Close() })
	for _, u := range users {
		if err := srv.AddUser(u.Name, u.Password); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0",
		POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	return srv, addrs, cliTLS
}
