package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
)

func TestConfigValidate(t *testing.T) {
	ok := transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: "127.0.0.1:1"}}
	tests := []struct {
		name string
		mod  func(*transport.Config)
		want []string // substrings, one per expected error
	}{
		{"valid", func(*transport.Config) {}, nil},
		{"no protocol", func(c *transport.Config) { c.Protocol = "" }, []string{"no protocol"}},
		{"no address", func(c *transport.Config) { c.Endpoint.Addr = "" }, []string{"no server address"}},
		{"bad tls mode", func(c *transport.Config) { c.Endpoint.TLS = "sometimes" }, []string{`unknown tls mode "sometimes"`}},
		{"negative durations", func(c *transport.Config) { c.Timeout, c.DropAfter = -1, -1 }, []string{"negative timeout", "negative drop"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			errs := c.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("errors %v, want %d", errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %q lacks %q", errs[i], w)
				}
			}
			if len(tc.want) > 0 {
				if _, err := transport.Dial(context.Background(), c); err == nil {
					t.Error("Dial accepted an invalid config")
				}
			}
		})
	}
}

func TestTLSConfig(t *testing.T) {
	base := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	tests := []struct {
		name       string
		base       *tls.Config
		addr       string
		serverName string
		minVersion uint16
		skip       bool
	}{
		{"default", nil, "mail.example.com:993", "mail.example.com", tls.VersionTLS12, false},
		{"no port", nil, "mail.example.com", "mail.example.com", tls.VersionTLS12, false},
		{"base kept", base, "127.0.0.1:993", "127.0.0.1", tls.VersionTLS13, true},
		{"server name kept", &tls.Config{ServerName: "other"}, "127.0.0.1:993", "other", 0, false},
		{"target base", transport.BaseTLS(false), "mail.example.com:993", "mail.example.com", tls.VersionTLS12, false},
		{"target base, insecure", transport.BaseTLS(true), "mail.example.com:993", "mail.example.com", tls.VersionTLS12, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := transport.TLSConfig(tc.base, tc.addr)
			if got.ServerName != tc.serverName || got.MinVersion != tc.minVersion || got.InsecureSkipVerify != tc.skip {
				t.Errorf("got ServerName %q MinVersion %x skip %v", got.ServerName, got.MinVersion, got.InsecureSkipVerify)
			}
			if tc.base != nil && got == tc.base {
				t.Error("base returned, not a copy")
			}
		})
	}
	if base.ServerName != "" {
		t.Error("base modified")
	}
}

// TestPOP3 logs in over each TLS mode of the embedded server, and checks a
// server without STLS fails with ErrTLSRefused.
func TestPOP3(t *testing.T) {
	addrs, cliTLS := embedded(t)
	tests := []struct {
		name string
		ep   transport.Endpoint
		pass string
		auth bool // want a -ERR to the login
	}{
		{"plain", transport.Endpoint{Addr: addrs.POP3}, "secret", false},
		{"stls", transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSStartTLS}, "secret", false},
		{"implicit", transport.Endpoint{Addr: addrs.POP3S, TLS: transport.TLSImplicit}, "secret", false},
		{"wrong password", transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSStartTLS}, "wrong", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &meter{}
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "pop3", Endpoint: tc.ep, Meter: m, TLS: cliTLS, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			var cmds []string
			p, err := transport.OpenPOP3(conn, observeFunc(func(cmd string, _ time.Time, err error) {
				if err != nil {
					cmd += ":err"
				}
				cmds = append(cmds, cmd)
			}))
			if err != nil {
				t.Fatal(err)
			}
			if tc.ep.TLS == transport.TLSStartTLS {
				err = p.STLS(transport.TLSConfig(cliTLS, tc.ep.Addr))
			} else {
				err = p.Capabilities()
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.ep.TLS == transport.TLSStartTLS || tc.ep.TLS == transport.TLSImplicit; conn.TLS() != want {
				t.Errorf("TLS %v", conn.TLS())
			}
			err = p.Login("alice", tc.pass)
			var pe *transport.POP3Error
			if tc.auth != errors.As(err, &pe) || !tc.auth && err != nil {
				t.Fatalf("login: %v", err)
			}
			if err := p.Quit(0); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{true: "AUTH:err", false: "AUTH"}[tc.auth]; !strings.Contains(strings.Join(cmds, " "), want) {
				t.Errorf("commands %v lack %s", cmds, want)
			}
			if in, out, open, total := m.get(); in == 0 || out == 0 || open != 0 || total != 1 {
				t.Errorf("meter in %d out %d open %d total %d", in, out, open, total)
			}
		})
	}
	t.Run("no stls offered", func(t *testing.T) {
		addr := fakeServer(t, func(c net.Conn) {
			_, _ = c.Write([]byte("+OK fake\r\n"))
			br := bufio.NewReader(c)
			for i := 0; i < 10; i++ {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "CAPA") {
					_, _ = c.Write([]byte("+OK\r\nUSER\r\n.\r\n"))
				} else {
					_, _ = c.Write([]byte("-ERR no\r\n"))
				}
			}
		})
		p := openPOP3(t, addr)
		if err := p.STLS(nil); !errors.Is(err, transport.ErrTLSRefused) {
			t.Fatalf("err %v, want ErrTLSRefused", err)
		}
	})
}

// TestDialFailures checks Dial's errors keep their cause for the
// classifiers: a closed port is a dial error, an untrusted certificate a
// certificate error, and a failed Dial leaves no connection counted.
func TestDialFailures(t *testing.T) {
	addrs, _ := embedded(t)
	m := &meter{}
	_, err := transport.Dial(context.Background(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: faketest.RefusedAddr(t)}, Meter: m})
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Errorf("closed port: %v, want a dial error", err)
	}
	_, err = transport.Dial(context.Background(), transport.Config{Protocol: "imap",
		Endpoint: transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, Meter: m, Timeout: 5 * time.Second})
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Errorf("untrusted certificate: %v, want a certificate error", err)
	}
	if _, _, open, total := m.get(); open != 0 || total != 1 {
		t.Errorf("open %d total %d, want 0 and 1 (the TLS attempt)", open, total)
	}
}

// observeFunc is a transport.POP3Observer told only of finished commands:
// Started returns the time.
type observeFunc func(command string, start time.Time, err error)

func (observeFunc) Started(string) time.Time { return time.Now() }

func (f observeFunc) Done(command string, start time.Time, err error) { f(command, start, err) }
