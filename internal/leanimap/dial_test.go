package leanimap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestDial opens lean sessions on the embedded server in every TLS mode
// and logs in, and names the step a failed setup failed in, leaving no
// connection open.
func TestDial(t *testing.T) {
	srvTLS, err := mailserver.SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(srvTLS.Certificates[0].Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cliTLS := &tls.Config{RootCAs: pool}
	srv := mailserver.New(mailserver.Options{Domain: "example.com", TLS: srvTLS})
	t.Cleanup(func() { srv.Close() })
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	closed := faketest.RefusedAddr(t)
	silent := faketest.Start(t, faketest.Options{}, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) }).Addr // never greets
	hangup := faketest.Start(t, faketest.Options{}, func(net.Conn) {}).Addr                                   // closes at once
	for _, tc := range []struct {
		name     string
		ep       transport.Endpoint
		tls      *tls.Config
		cancel   bool // end ctx while the server has not greeted
		wantStep string
		wantTLS  bool
		wantIs   error
	}{
		{name: "plain", ep: transport.Endpoint{Addr: addrs.IMAP}},
		{name: "starttls", ep: transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, tls: cliTLS, wantTLS: true},
		{name: "implicit", ep: transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, tls: cliTLS, wantTLS: true},
		{name: "closed port", ep: transport.Endpoint{Addr: closed}, wantStep: transport.StepConnect, wantIs: syscall.ECONNREFUSED},
		{name: "untrusted certificate", ep: transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, wantStep: transport.StepStartTLS},
		{name: "hang-up", ep: transport.Endpoint{Addr: hangup}, wantStep: transport.StepGreeting},
		{name: "context ends", ep: transport.Endpoint{Addr: silent}, cancel: true, wantStep: transport.StepGreeting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				stop := time.AfterFunc(50*time.Millisecond, cancel)
				defer stop.Stop()
			}
			m := &connMeter{}
			conn, c, err := Dial(ctx, transport.Config{Protocol: "imap", Endpoint: tc.ep, TLS: tc.tls, Meter: m, Timeout: 30 * time.Second}, Options{})
			if tc.wantStep != "" {
				if err == nil || conn != nil || c != nil {
					t.Fatalf("conn %v client %v err %v, want a failure", conn, c, err)
				}
				if got := transport.Step(err); got != tc.wantStep {
					t.Errorf("step %q (%v), want %q", got, err, tc.wantStep)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("err %v, want %v", err, tc.wantIs)
				}
				if tc.cancel && errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("err %v: the setup waited for its timeout, not for ctx", err)
				}
				if m.open() != 0 {
					t.Errorf("%d connections left open", m.open())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if conn.TLS() != tc.wantTLS {
				t.Errorf("encrypted %v, want %v", conn.TLS(), tc.wantTLS)
			}
			if err := c.Login("alice", "secret"); err != nil {
				t.Fatal(err)
			}
			if err := c.Logout(); err != nil {
				t.Fatal(err)
			}
			c.Close()
			if m.open() != 0 {
				t.Errorf("%d connections open after Close", m.open())
			}
		})
	}
}

// connMeter counts the connections a transport.Conn reports open.
type connMeter struct{ n atomic.Int64 }

func (m *connMeter) Bytes(string, int64, int64) {}
func (m *connMeter) Connection(_ string, d int) { m.n.Add(int64(d)) }
func (m *connMeter) open() int64                { return m.n.Load() }
