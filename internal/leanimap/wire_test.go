package leanimap

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// TestCommandWire checks commands as written: ID's parameters are quoted
// strings, never atoms (RFC 2971; Cyrus answers BAD to atoms); FETCH by
// message number writes its set as given, "*" for a range to 0.
func TestCommandWire(t *testing.T) {
	noop := func(*Message) error { return nil }
	for _, tc := range []struct {
		name string
		run  func(c *Client) error
		want string
	}{
		{"ID", func(c *Client) error { return c.ID("mailsim", "1") }, "L1 ID (\"name\" \"mailsim\" \"version\" \"1\")\r\n"},
		{"FETCH all", func(c *Client) error { return c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, "(UID FLAGS)", noop) }, "L1 FETCH 1:* (UID FLAGS)\r\n"},
		{"FETCH ranges", func(c *Client) error {
			return c.Fetch(imap.SeqSet{{Start: 2, Stop: 2}, {Start: 4, Stop: 9}}, "(RFC822.SIZE)", noop)
		}, "L1 FETCH 2,4:9 (RFC822.SIZE)\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer client.Close()
			defer server.Close()
			_ = server.SetDeadline(time.Now().Add(10 * time.Second))
			got := make(chan string, 1)
			go func() {
				defer close(got)
				if _, err := server.Write([]byte("* OK ready\r\n")); err != nil {
					return
				}
				line, err := bufio.NewReader(server).ReadString('\n')
				if err != nil {
					return
				}
				got <- line
				_, _ = server.Write([]byte("L1 OK done\r\n"))
			}()
			c, err := New(client, Options{Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.run(c); err != nil {
				t.Fatal(err)
			}
			if line := <-got; line != tc.want {
				t.Fatalf("written as %q, want %q", line, tc.want)
			}
		})
	}
}
