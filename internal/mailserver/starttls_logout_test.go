package mailserver

import (
	"strings"
	"testing"
)

// TestSMTPAuthStartTLSAuthAtUserLimit logs alice in, takes the connection
// to TLS and logs her in again, at MaxConnsPerUser 1: the session before
// STARTTLS gives its user's session back (Logout) before the session after
// it reads a command, so the second AUTH is never refused as a second
// connection. Repeated, since before that the two sessions raced; after
// QUIT both sessions have ended, so each round starts at zero.
func TestSMTPAuthStartTLSAuthAtUserLimit(t *testing.T) {
	_, addrs, cfg := tlsServer(t, Options{MaxConnsPerUser: 1})
	auth := "AUTH PLAIN " + plain("alice", "secret") + "\r\n"
	for i := range 50 {
		r := newRaw(t, addrs.SMTP)
		r.until("220 ")
		r.ehlo("EHLO")
		r.send(auth)
		if l, _ := r.line(); !strings.HasPrefix(l, "235 ") {
			t.Fatalf("round %d: AUTH before STARTTLS: %q", i, l)
		}
		r.send("STARTTLS\r\n")
		if l, _ := r.line(); !strings.HasPrefix(l, "220 ") {
			t.Fatalf("round %d: STARTTLS: %q", i, l)
		}
		tr := r.handshake(cfg)
		tr.send("EHLO test.local\r\n" + auth)
		tr.until("250 ")
		if l, _ := tr.line(); !strings.HasPrefix(l, "235 ") {
			t.Fatalf("round %d: AUTH after STARTTLS: %q", i, l)
		}
		tr.send("QUIT\r\n")
		tr.until("221 ")
		if l, ok := tr.line(); ok {
			t.Fatalf("round %d: after QUIT: %q", i, l)
		}
		r.c.Close()
	}
}
