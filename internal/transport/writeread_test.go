package transport_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestConnWriteRead checks that Conn.WriteRead counts as Write and Read
// do, on a plain connection (raw I/O) and over TLS (Write then Read).
func TestConnWriteRead(t *testing.T) {
	for _, tlsMode := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "tls"}[tlsMode], func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if tlsMode {
				srvTLS, err := mailserver.SelfSignedTLS("127.0.0.1")
				if err != nil {
					t.Fatal(err)
				}
				ln = tls.NewListener(ln, srvTLS)
			}
			go func() {
				s, err := ln.Accept()
				if err != nil {
					return
				}
				defer s.Close()
				io.Copy(s, s) // echo
			}()
			m := &meter{}
			cfg := transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: ln.Addr().String()}, Meter: m, Timeout: 10 * time.Second,
				TLS: &tls.Config{InsecureSkipVerify: true}}
			if tlsMode {
				cfg.Endpoint.TLS = transport.TLSImplicit
			}
			c, err := transport.Dial(t.Context(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Extend(0); err != nil {
				t.Fatal(err)
			}
			in0, out0, _, _ := m.get()
			w0 := c.Writes()
			msg, buf := []byte("L1 NOOP\r\n"), make([]byte, 64)
			n, werr, rerr := c.WriteRead(msg, buf)
			if werr != nil || rerr != nil || string(buf[:n]) != string(msg) {
				t.Fatalf("WriteRead: %q, %v, %v; want the echo", buf[:n], werr, rerr)
			}
			in, out, _, _ := m.get()
			if w := c.Writes() - w0; w != 1 {
				t.Errorf("%d writes counted, want 1", w)
			}
			if !tlsMode && (in-in0 != int64(len(msg)) || out-out0 != int64(len(msg))) {
				t.Errorf("bytes counted in %d out %d, want %d each", in-in0, out-out0, len(msg))
			}
			if tlsMode && (in-in0 <= int64(len(msg)) || out-out0 <= int64(len(msg))) {
				t.Errorf("TLS bytes counted in %d out %d, want more than %d each (records)", in-in0, out-out0, len(msg))
			}
			if !tlsMode {
				allocs := testing.AllocsPerRun(100, func() {
					if _, werr, rerr := c.WriteRead(msg, buf); werr != nil || rerr != nil {
						t.Fatal(werr, rerr)
					}
				})
				if allocs != 0 {
					t.Errorf("%v allocations per WriteRead, want 0", allocs)
				}
			}
		})
	}
}

// TestWriteReadPendingBytes: bytes the server sent before the request, not
// read yet (a BYE, then a half-close or silence), do not end WriteRead's
// wait, which began after the write; at the read deadline it still reads
// them, so the outcome is Write then Read's — the BYE, then EOF after a
// half-close — only late, not a timeout (rawIO.writeRead).
func TestWriteReadPendingBytes(t *testing.T) {
	const bye = "* BYE going away\r\n"
	for _, halfClose := range []bool{false, true} {
		t.Run(fmt.Sprintf("half-close %v", halfClose), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			sent := make(chan struct{})
			done := make(chan struct{})
			defer close(done)
			go func() {
				s, err := ln.Accept()
				if err != nil {
					return
				}
				defer s.Close()
				s.Write([]byte(bye))
				if halfClose {
					s.(*net.TCPConn).CloseWrite()
				}
				close(sent)
				s.Read(make([]byte, 100)) // the request; no answer
				<-done
			}()
			c, err := transport.Dial(t.Context(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: ln.Addr().String()}, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			<-sent
			time.Sleep(50 * time.Millisecond) // the BYE reaches the client's socket, unread
			if err := c.SetDeadline(time.Now().Add(300 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			n, werr, rerr := c.WriteRead([]byte("L1 NOOP\r\n"), buf)
			if werr != nil || rerr != nil || string(buf[:n]) != bye {
				t.Fatalf("WriteRead: %q, write error %v, read error %v; want %q and no error", buf[:n], werr, rerr, bye)
			}
			if !halfClose {
				return
			}
			if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if n, err := c.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("Read after the BYE: %d bytes, %v; want EOF", n, err)
			}
		})
	}
}
