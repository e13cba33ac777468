package transport

import (
	"net"
	"testing"
	"time"
)

// TestPeerClosed: Conn.PeerClosed, asked about an idle connection, tells
// a server that closed it (its FIN, a reset, a BYE with or without the
// FIN after it) from one that did not (nothing sent, or an update that
// announces no close), and never takes the simulated network's drop for
// the server's close. It reads nothing: after a look, the bytes the
// server sent are still there for the client.
func TestPeerClosed(t *testing.T) {
	tests := []struct {
		name string
		// server acts on the server's end of the connection.
		server func(s *net.TCPConn)
		// drop: the simulated network drops the connection first.
		drop bool
		want bool
		// unread is what the client reads afterwards ("": nothing is
		// waited for).
		unread string
	}{
		{name: "quiet", server: func(*net.TCPConn) {}},
		{name: "fin", server: func(s *net.TCPConn) { _ = s.Close() }, want: true},
		{name: "reset", server: func(s *net.TCPConn) { _ = s.SetLinger(0); _ = s.Close() }, want: true},
		{name: "bye then fin", server: func(s *net.TCPConn) {
			_, _ = s.Write([]byte("* BYE Server shutting down.\r\n"))
			_ = s.Close()
		}, want: true, unread: "* BYE Server shutting down.\r\n"},
		{name: "bye, open", server: func(s *net.TCPConn) { _, _ = s.Write([]byte("* BYE Disconnected for inactivity.\r\n")) },
			want: true, unread: "* BYE Disconnected for inactivity.\r\n"},
		{name: "bye after an update, open", server: func(s *net.TCPConn) { _, _ = s.Write([]byte("* 4 EXISTS\r\n* bye\r\n")) },
			want: true, unread: "* 4 EXISTS\r\n* bye\r\n"},
		{name: "update, open", server: func(s *net.TCPConn) { _, _ = s.Write([]byte("* 4 EXISTS\r\n")) },
			unread: "* 4 EXISTS\r\n"},
		{name: "bye inside a literal, open", server: func(s *net.TCPConn) {
			_, _ = s.Write([]byte("* 1 FETCH (BODY[] {13}\r\n* BYE inside)\r\n"))
		}, unread: "* 1 FETCH (BODY[] {13}\r\n"},
		{name: "dropped, then fin", drop: true, server: func(s *net.TCPConn) { _ = s.Close() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Protocol: "imap", Timeout: 10 * time.Second}
			if tt.drop {
				cfg.DropAfter = time.Millisecond
			}
			client, server := pair(t, func(addr string) (net.Conn, error) {
				cfg.Endpoint = Endpoint{Addr: addr}
				return Dial(t.Context(), cfg)
			})
			c := client.(*Conn)
			if c.wire.io == nil {
				t.Skip("no raw socket I/O")
			}
			for tt.drop && !c.Dropped() {
				time.Sleep(time.Millisecond)
			}
			tt.server(server)
			// Wait for what the server did to reach the client's socket:
			// a close, or the bytes it sent.
			deadline := time.Now().Add(10 * time.Second)
			for !tt.drop && tt.server != nil && time.Now().Before(deadline) {
				closed, pending := c.wire.io.peer()
				if closed || pending || tt.name == "quiet" {
					break
				}
				time.Sleep(time.Millisecond)
			}
			if got := c.PeerClosed(IMAPBye); got != tt.want {
				t.Errorf("PeerClosed: %v, want %v", got, tt.want)
			}
			if tt.unread == "" {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, len(tt.unread))
			if n, err := c.Read(buf); string(buf[:n]) != tt.unread {
				t.Errorf("read after the look: %q, %v; want %q", buf[:n], err, tt.unread)
			}
		})
	}
}

// TestIMAPBye: the BYE lines IMAPBye finds in what a server sent.
func TestIMAPBye(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"* BYE\r\n", true},
		{"* bye Autologout; idle for too long\r\n", true},
		{"* BYE Server shutting down.", false}, // the line is not all there
		{"* BYEBYE\r\n", false},
		{"* OK still here\r\n* BYE going\r\n", true},
		{"A1 OK done\r\n", false},
		{"* 1 FETCH (BODY[] {7}\r\n* BYE\r\n)\r\n", false},
	} {
		if got := IMAPBye([]byte(tt.in)); got != tt.want {
			t.Errorf("IMAPBye(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// BenchmarkPeerClosed is the cost of one look at an open, quiet
// connection (one ppoll(2)): what a device pays before the first command
// after a second or more of idleness (clients/imap_session.go,
// closedWhileIdle), never per command.
func BenchmarkPeerClosed(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	c, err := Dial(b.Context(), Config{Protocol: "imap", Endpoint: Endpoint{Addr: ln.Addr().String()}, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	for b.Loop() {
		if c.PeerClosed(IMAPBye) {
			b.Fatal("closed")
		}
	}
}
