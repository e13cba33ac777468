package mailserver

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestFetchCutShortReleasesTheSession: a client that resets its
// connection while the server writes a large BODY[] leaves the session
// to end, and Close returns. The write fails inside the FETCH response;
// go-imap holds the connection's encoder until the response writer is
// closed, and a writer left open blocked the session's next reply (and
// Close, waiting for the session) for ever: a faulted run's test hung on
// it (cmd/mailsim, startEmbedded's cleanup).
func TestFetchCutShortReleasesTheSession(t *testing.T) {
	s, addrs := testServer(t, Options{})
	// Larger than the loopback socket buffers of both ends, so the server
	// is still writing when the reset arrives.
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 48<<20/78)
	lmtpSend(t, addrs.LMTP, testMessage("<big@test>", "big")+body, "alice@example.com")

	r := newRaw(t, addrs.IMAP)
	r.until("* OK")
	r.send("a1 LOGIN alice secret\r\na2 SELECT INBOX\r\n")
	r.until("a2 OK")
	r.send("a3 FETCH 1 BODY[]\r\n")
	r.until("* 1 FETCH")
	if err := r.c.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	r.c.Close() // a reset: the server's next writes fail

	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testDeadline):
		t.Fatalf("Close did not return within %s after a client reset its connection during a FETCH", testDeadline)
	}
	if n := s.store.user("alice").sessions.Load(); n != 0 {
		t.Errorf("alice still has %d sessions", n)
	}
}
