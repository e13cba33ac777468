package clients

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
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
	// 20 of the 100 bytes announced, then the connection is gone, once
	// the client has read them all and asks for more.
	const greeting, cut = "* OK [CAPABILITY IMAP4rev1] ready\r\n", "* 1 FETCH (UID 7 BODY[] {100}\r\nFrom: a@example.com\r\n"
	testDone := make(chan struct{})
	served := make(chan struct{})
	cli, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	_ = cli.SetDeadline(time.Now().Add(10 * time.Second))
	starving := &starveConn{Conn: cli, want: int64(len(greeting) + len(cut)), starved: make(chan struct{})}
	go func() {
		defer close(served)
		srv, err := ln.Accept()
		if err != nil {
			return
		}
		defer srv.Close()
		_ = srv.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := srv.Write([]byte(greeting)); err != nil {
			return
		}
		if _, err := bufio.NewReader(srv).ReadString('\n'); err != nil { // the UID FETCH
			return
		}
		if _, err := srv.Write([]byte(cut)); err != nil {
			return
		}
		select {
		case <-starving.starved:
		case <-testDone:
		}
	}()
	defer func() {
		close(testDone)
		<-served
	}()
	c := imapclient.New(starving, nil)
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		t.Fatal(err)
	}
	var set imap.UIDSet
	set.AddNum(7)
	cmd := c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	m := cmd.Next()
	if m == nil {
		// The greeting's capabilities spare the library a CAPABILITY
		// command that the server would answer instead of the FETCH; the
		// message is handed over before the cut.
		t.Fatalf("the command ended before its message was handed over: %v", cmd.Close())
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

// starveConn closes starved when its reader asks for more bytes after it
// has read want bytes: it waits for bytes the server has not sent.
type starveConn struct {
	net.Conn
	want    int64
	read    atomic.Int64
	starved chan struct{}
	once    sync.Once
}

func (c *starveConn) Read(p []byte) (int, error) {
	if c.read.Load() >= c.want {
		c.once.Do(func() { close(c.starved) })
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
