package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestOpenSMTP starts SMTP and LMTP clients on the embedded server: LMTP
// says LHLO (the server refuses EHLO), submission upgrades with STARTTLS
// when the endpoint says so and authenticates, and an untrusted
// certificate fails the hello after STARTTLS.
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
			_ = conn.Extend(0)
			c, err := transport.OpenSMTP(conn, tc.ep, tc.lmtp, tc.tls)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.CommandTimeout = 10 * time.Second
			err = c.Hello("mailsim-test.localhost")
			if tc.untrusted {
				// go-smtp shakes hands at the command after STARTTLS.
				var verr *tls.CertificateVerificationError
				if !errors.As(err, &verr) {
					t.Fatalf("err %v, want a certificate verification error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("hello: %v", conn.Explain(err))
			}
			if _, encrypted := c.TLSConnectionState(); encrypted != tc.wantTLS {
				t.Errorf("encrypted %v, want %v", encrypted, tc.wantTLS)
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
