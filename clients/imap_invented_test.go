package clients

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/leanimap"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestGoIMAPInventedFetch: go-imap's path of the devices bounds a FETCH
// by the lean client's rule: a server that answers UID FETCH 1:* in a
// mailbox of 10 messages with messages it invents without end fails the
// fetch with an error wrapping transport.ErrReplyTooLarge (outcome error)
// once they pass leanimap.MaxFetchResponses(10), the callback (a sync's
// per-UID state) given no more of them; before, it got them until the
// deadline, which the device renews while messages come, or the server
// stopped (here at 64 MiB: 'error unexpected EOF (outcome error), want
// ErrReplyTooLarge (error) after 1733277 messages').
func TestGoIMAPInventedFetch(t *testing.T) {
	srv := faketest.StartIMAP(t, faketest.IMAPInventedFetch, faketest.Options{EndlessLimit: 64 << 20})
	conn, c, err := transport.DialIMAP(context.Background(), transport.Config{
		Protocol: ProtocolIMAP, Endpoint: transport.Endpoint{Addr: srv.Addr}, Timeout: 10 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	g := goimapConn{c: c, conn: conn, wait: 5 * time.Second}
	if err := g.Login("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Select("INBOX", false); err != nil {
		t.Fatal(err)
	}
	got := int64(0)
	err = g.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}, false,
		func(fetched) { got++ }, func() { _ = conn.Extend(0) })
	if !errors.Is(err, transport.ErrReplyTooLarge) || transport.OutcomeOf(err) != transport.OutcomeError {
		t.Fatalf("error %v (outcome %v), want ErrReplyTooLarge (error) after %d messages", err, transport.OutcomeOf(err), got)
	}
	if most := leanimap.MaxFetchResponses(faketest.InventedExists); got > most {
		t.Errorf("the callback got %d messages, the bound is %d", got, most)
	}
}
