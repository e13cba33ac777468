package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestOpenSMTP starts SMTP and LMTP clients on the embedded server: LMTP
// says LHLO (the server refuses EHLO), submission upgrades with STARTTLS
// when the endpoint says so and authenticates, an untrusted certificate
// fails OpenSMTP's handshake, and the client's timeouts are the
// connection's.
func TestOpenSMTP(t *testing.T) {
	addrs, cliTLS := embedded(t)
	tests := []struct {
		name      string
		ep        transport.Endpoint
		lmtp      bool
		tls       *tls.Config
		auth      bool
		wantTLS   bool
		untrusted bool
	}{
		{name: "lmtp", ep: transport.Endpoint{Addr: addrs.LMTP}, lmtp: true},
		{name: "lmtp ignores starttls", ep: transport.Endpoint{Addr: addrs.LMTP, TLS: transport.TLSStartTLS}, lmtp: true},
		{name: "smtp plain", ep: transport.Endpoint{Addr: addrs.SMTP}, auth: true},
		{name: "smtp starttls", ep: transport.Endpoint{Addr: addrs.SMTP, TLS: transport.TLSStartTLS}, tls: cliTLS, auth: true, wantTLS: true},
		{name: "smtp starttls untrusted", ep: transport.Endpoint{Addr: addrs.SMTP, TLS: transport.TLSStartTLS}, untrusted: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp", Endpoint: tc.ep, TLS: tc.tls, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			nc, err := transport.ReadSMTPGreeting(conn)
			if err != nil {
				t.Fatal(err)
			}
			c, err := transport.OpenSMTP(conn, nc, tc.ep, tc.lmtp, tc.tls)
			if tc.untrusted {
				// The handshake is OpenSMTP's (StartTLSSMTP).
				var verr *tls.CertificateVerificationError
				if !errors.As(err, &verr) {
					t.Fatalf("err %v, want a certificate verification error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.CommandTimeout != 10*time.Second || c.SubmissionTimeout != 10*time.Second {
				t.Errorf("client timeouts %v, %v, want the connection's 10s", c.CommandTimeout, c.SubmissionTimeout)
			}
			if conn.TLS() != tc.wantTLS {
				t.Errorf("conn.TLS %v, want %v", conn.TLS(), tc.wantTLS)
			}
			err = c.Hello("mailsim-test.localhost")
			if err != nil {
				t.Fatalf("hello: %v", conn.Explain(err))
			}
			if tc.auth {
				if err := c.Auth(sasl.NewPlainClient("", "alice", "secret")); err != nil {
					t.Fatalf("auth: %v", err)
				}
			}
			if err := c.Quit(); err != nil {
				t.Errorf("quit: %v", err)
			}
		})
	}
}

// TestReadSMTPGreeting reads greetings apart from go-smtp's client: a
// multi-line 220 greeting is read whole and then read again by the client,
// which goes on with EHLO; another code is the server's *smtp.SMTPError;
// a line that is no reply fails the greeting.
func TestReadSMTPGreeting(t *testing.T) {
	for _, tc := range []struct {
		name, greeting string
		wantCode       int // 220: the client says EHLO after it
	}{
		{"one line", "220 fake ESMTP\r\n", 220},
		{"multi-line", "220-fake ESMTP\r\n220-welcome\r\n220 ready\r\n", 220},
		{"refused", "554 5.3.2 no service here\r\n", 554},
		{"garbage", "hello there\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedSMTP(t, tc.greeting, map[string]string{"EHLO": "250-fake\r\n250 8BITMIME\r\n"})
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			nc, err := transport.ReadSMTPGreeting(conn)
			var se *smtp.SMTPError
			switch {
			case tc.wantCode == 220:
				if err != nil {
					t.Fatalf("greeting: %v", err)
				}
				c, err := transport.OpenSMTP(conn, nc, transport.Endpoint{Addr: addr}, false, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Hello("mailsim-test.localhost"); err != nil {
					t.Fatalf("hello after the greeting: %v", err)
				}
				if ok, _ := c.Extension("8BITMIME"); !ok {
					t.Error("the client did not read the EHLO reply")
				}
			case tc.wantCode != 0:
				if !errors.As(err, &se) || se.Code != tc.wantCode {
					t.Fatalf("greeting: %v, want an SMTP error %d", err, tc.wantCode)
				}
			default:
				if err == nil || errors.As(err, &se) {
					t.Fatalf("greeting: %v, want a malformed greeting", err)
				}
			}
		})
	}
}

// TestStartTLSSMTPRefused upgrades sessions whose server does not offer
// STARTTLS, refuses it, or refuses the EHLO before it: a STARTTLS not
// offered or refused is tls, as IMAP's and POP3's; a refused EHLO is the
// server's no.
func TestStartTLSSMTPRefused(t *testing.T) {
	for _, tc := range []struct {
		name, ehlo, starttls string
		want                 transport.Outcome
	}{
		{"not offered", "250-fake\r\n250 8BITMIME\r\n", "", transport.OutcomeTLS},
		{"refused", "250-fake\r\n250 STARTTLS\r\n", "454 4.7.0 TLS not available\r\n", transport.OutcomeTLS},
		{"ehlo refused", "554 5.7.1 go away\r\n", "", transport.OutcomeNo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := scriptedSMTP(t, "220 fake ESMTP\r\n", map[string]string{"EHLO": tc.ehlo, "STARTTLS": tc.starttls})
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := transport.ReadSMTPGreeting(conn); err != nil {
				t.Fatal(err)
			}
			err = transport.StartTLSSMTP(conn, nil)
			if o := transport.OutcomeOf(err); o != tc.want {
				t.Errorf("StartTLSSMTP = %v (%s), want %s", err, o, tc.want)
			}
		})
	}
}
