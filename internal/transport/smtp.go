package transport

import (
	"crypto/tls"

	"github.com/emersion/go-smtp"
)

// OpenSMTP starts an SMTP client on conn, which was dialed to ep: an LMTP
// client when lmtp (LMTP never upgrades to TLS here); with ep.TLS
// starttls, it reads the greeting and says EHLO and STARTTLS, and the
// client then runs the TLS handshake with TLSConfig(base, ep.Addr) at its
// next command (go-smtp's STARTTLS: a certificate the configuration does
// not trust fails the caller's Hello, the handshake is bounded by conn's
// deadlines, and conn.TLS stays false); otherwise a client that reads the
// greeting with its first command. The caller sets the client's
// timeouts, says hello, and passes errors through conn.Explain as it
// needs.
func OpenSMTP(conn *Conn, ep Endpoint, lmtp bool, base *tls.Config) (*smtp.Client, error) {
	switch {
	case lmtp:
		return smtp.NewClientLMTP(conn), nil
	case ep.TLS == TLSStartTLS:
		return smtp.NewClientStartTLS(conn, TLSConfig(base, ep.Addr))
	}
	return smtp.NewClient(conn), nil
}
