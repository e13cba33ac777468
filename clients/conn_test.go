package clients

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// echoServer echoes every connection back on 127.0.0.1:0, through TLS if
// cfg is set.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	var ln net.Listener
	var err error
	if cfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", cfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	return serveLoopback(t, ln, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

func TestConnCountsAndShapes(t *testing.T) {
	tests := []struct {
		name string
		nw   transport.Network
	}{
		{"unshaped", transport.Network{}},
		{"latency and bandwidth", transport.Network{Latency: time.Millisecond, Bandwidth: 10_000_000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := echoServer(t, nil)
			rec := &c2Recorder{}
			o := &Options{Recorder: rec, Timeout: 5 * time.Second, Clock: c2Clock(),
				Profile: &Profile{Network: tc.nw}}
			c, err := transport.Dial(context.Background(), dialConfig(o, "imap", transport.Endpoint{Addr: addr, TLS: transport.TLSNone}))
			if err != nil {
				t.Fatal(err)
			}
			_ = c.Extend(0)
			msg := []byte(strings.Repeat("hello world\r\n", 1000))
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatal(err)
			}
			if string(got) != string(msg) {
				t.Error("echo differs")
			}
			if c.TLS() {
				t.Error("plain connection reports TLS")
			}
			c.Close()
			c.Close()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.in != int64(len(msg)) || rec.out != int64(len(msg)) {
				t.Errorf("bytes in %d out %d, want %d each", rec.in, rec.out, len(msg))
			}
			if rec.opened != 1 || rec.closed != 1 {
				t.Errorf("connection opened %d closed %d times, want once each", rec.opened, rec.closed)
			}
		})
	}
}

func TestConnImplicitTLS(t *testing.T) {
	srvTLS, cliTLS := mailservertest.TLS(t)
	addr := echoServer(t, srvTLS)
	ep := transport.Endpoint{Addr: addr, TLS: transport.TLSImplicit}

	rec := &c2Recorder{}
	_, err := transport.Dial(context.Background(), dialConfig(&Options{Recorder: rec, Timeout: 5 * time.Second}, "imap", ep))
	var certErr *tls.CertificateVerificationError
	if !errors.As(err, &certErr) || !strings.Contains(err.Error(), addr) {
		t.Errorf("untrusted certificate: %v, want a verification error naming %s", err, addr)
	}
	if rec.open("imap") != 0 {
		t.Error("failed dial left a connection counted open")
	}

	c, err := transport.Dial(context.Background(), dialConfig(&Options{Recorder: rec, Timeout: 5 * time.Second, TLS: cliTLS}, "imap", ep))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.TLS() {
		t.Error("implicit TLS connection does not report TLS")
	}
	_ = c.Extend(0)
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping\n" {
		t.Errorf("echo over TLS: %q %v", buf, err)
	}
	rec.mu.Lock()
	in := rec.in
	rec.mu.Unlock()
	if in <= 5 {
		t.Errorf("bytes in %d: the handshake is on the wire too", in)
	}
	if cliTLS.ServerName != "" {
		t.Error("tlsConfig changed the caller's config")
	}
}

func TestConnDisconnectEvery(t *testing.T) {
	addr := echoServer(t, nil)
	rec := &c2Recorder{}
	clock := c2Clock() // 60×: 6 s simulated is 100 ms of wall time
	o := &Options{Recorder: rec, Timeout: 5 * time.Second, Clock: clock,
		Profile: &Profile{Network: transport.Network{DisconnectEvery: 6 * time.Second}}}
	c, err := transport.Dial(context.Background(), dialConfig(o, "imap", transport.Endpoint{Addr: addr}))
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Extend(0)
	// Nothing to read: the read ends when the network drops the
	// connection, long before the 5 s deadline.
	_, err = c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read on a dropped connection: %v", err)
	}
	if rec.open("imap") != 0 {
		t.Error("dropped connection still counted open")
	}
	c.Close()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.closed != 1 {
		t.Errorf("closed counted %d times", rec.closed)
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct {
		name string
		ep   transport.Endpoint
		want string
	}{
		{"no address", transport.Endpoint{}, "no server address"},
		{"unknown tls mode", transport.Endpoint{Addr: "127.0.0.1:1", TLS: "ssl"}, `unknown tls mode "ssl"`},
		{"refused", transport.Endpoint{Addr: faketest.RefusedAddr(t)}, "refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := transport.Dial(context.Background(), dialConfig(&Options{Timeout: time.Second}, "pop3", tc.ep))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "pop3") {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestRecord checks record reports one command with the outcome of its
// error, and ignores a nil recorder.
func TestRecord(t *testing.T) {
	rec := &c2Recorder{}
	record(rec, "imap", "UID FETCH", time.Now(), &imap.Error{Type: imap.StatusResponseTypeNo})
	record(nil, "imap", "NOOP", time.Now(), nil) // a nil recorder is ignored
	if got := rec.take("imap"); len(got) != 1 || got[0] != "UID FETCH:no" {
		t.Errorf("recorded %v", got)
	}
}

func TestOptionsHelpers(t *testing.T) {
	var o *Options
	if o.timeout() != DefaultTimeout || o.recorder() == nil || o.logger() == nil {
		t.Error("nil Options helpers")
	}
	base := &tls.Config{MinVersion: tls.VersionTLS13}
	o = &Options{TLS: base, Timeout: time.Second}
	cfg := o.tlsConfig("mail.example.com:993")
	if cfg.ServerName != "mail.example.com" || cfg.MinVersion != tls.VersionTLS13 || cfg == base || base.ServerName != "" {
		t.Errorf("tlsConfig = %+v", cfg)
	}
	if o.timeout() != time.Second {
		t.Error("timeout not used")
	}
}
