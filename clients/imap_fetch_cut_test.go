package clients

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestReadFetchedCutLiteral: a connection that ends in the middle of a
// FETCH literal (a dropped mobile connection, seen against Cyrus) makes
// readFetched return an error at once (a reset, or io.ErrUnexpectedEOF:
// a plain EOF is not the literal's end), and abandonReply end the
// connection before anything reads the reply again. Reading on would make the library
// discard the rest of the literal from the connection's buffer while its
// reader goroutine, released by the error, decodes from the same buffer:
// a data race (go test -race fails this test if it comes back).
func TestReadFetchedCutLiteral(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		srv, err := ln.Accept()
		if err != nil {
			return
		}
		defer srv.Close()
		_ = srv.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := srv.Write([]byte("* OK ready\r\n")); err != nil {
			return
		}
		if _, err := bufio.NewReader(srv).ReadString('\n'); err != nil { // the UID FETCH
			return
		}
		// 20 of the 100 bytes announced, then the connection is gone
		// (once the client had time to start reading the literal).
		_, _ = srv.Write([]byte("* 1 FETCH (UID 7 BODY[] {100}\r\nFrom: a@example.com\r\n"))
		time.Sleep(200 * time.Millisecond)
	}()
	cli, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	_ = cli.SetDeadline(time.Now().Add(10 * time.Second))
	c := imapclient.New(cli, nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	var set imap.UIDSet
	set.AddNum(7)
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	m := cmd.Next()
	if m == nil {
		// The library may end the command on the stall before it hands
		// the message over: then there is nothing to read.
		t.Skipf("the command ended before its message was handed over: %v", cmd.Close())
	}
	// As imapSession.fetch does: the error ends the reply and the
	// connection, nothing touches the reply again.
	if _, err := readFetched(m, false); err == nil {
		t.Error("readFetched of a cut literal: no error")
	}
	abandonReply(c, 5*time.Second)
	select {
	case <-c.Closed():
	default:
		t.Error("the client's reader did not end")
	}
}
