package mailservertest

import (
	"crypto/tls"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

func TestNumbered(t *testing.T) {
	var got []string
	for _, u := range Numbered(5, 2, 5, 9) {
		got = append(got, u.Name+":"+u.Password)
	}
	if want := []string{"user1:pw", "user3:pw", "user4:pw"}; !slices.Equal(got, want) {
		t.Errorf("Numbered(5, 2, 5, 9) = %q, want %q", got, want)
	}
}

// TestStart logs in over IMAPS, verifying the certificate with the client
// configuration Start returns, and checks a configuration that trusts
// another certificate is refused.
func TestStart(t *testing.T) {
	addrs, cliTLS := Start(t, Numbered(2, 1)...)
	login := func(cfg *tls.Config, user string) error {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addrs.IMAPS, cfg)
		if err != nil {
			return err
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		c := imapclient.New(conn, nil)
		defer c.Close()
		return c.Login(user, "pw").Wait()
	}
	if err := login(cliTLS, "user2"); err != nil {
		t.Errorf("user2 over IMAPS: %v", err)
	}
	if err := login(cliTLS, "user1"); err == nil {
		t.Error("user1, left out, logged in")
	}
	_, other := TLS(t)
	if err := login(other, "user2"); err == nil {
		t.Error("a client trusting another certificate was not refused")
	}
}
