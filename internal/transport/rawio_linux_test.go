package transport

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, closed when the
// test ends.
func tcpPair(t *testing.T) (client *net.TCPConn, server *net.TCPConn) {
	t.Helper()
	c, s := pair(t, func(addr string) (net.Conn, error) { return net.Dial("tcp", addr) })
	return c.(*net.TCPConn), s
}

// rawPair returns a connection dialed by dialRaw and the server's end of
// it, closed when the test ends.
func rawPair(t *testing.T) (client *sockConn, server *net.TCPConn) {
	t.Helper()
	c, s := pair(t, func(addr string) (net.Conn, error) {
		c, ok, err := dialRaw(t.Context(), netip.MustParseAddrPort(addr), 10*time.Second, 0)
		if !ok {
			return nil, errors.New("dialRaw did not dial")
		}
		return c, err
	})
	return c.(*sockConn), s
}

// pair returns a connection made by dial to a listener on 127.0.0.1 and
// the server's end of it, closed when the test ends.
func pair(t *testing.T, dial func(addr string) (net.Conn, error)) (net.Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s.(*net.TCPConn)
}

// errClass is what callers look at in a read or write error: the classes
// transport's classifiers and the clients test, and the operation named.
func errClass(err error) string {
	if err == nil {
		return "nil"
	}
	var b bytes.Buffer
	for _, k := range []struct {
		name string
		is   error
	}{{"EOF", io.EOF}, {"deadline", os.ErrDeadlineExceeded}, {"closed", net.ErrClosed}, {"reset", syscall.ECONNRESET}, {"pipe", syscall.EPIPE}} {
		if errors.Is(err, k.is) {
			b.WriteString(k.name + " ")
		}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		b.WriteString("op=" + oe.Op + " net=" + oe.Net + " ")
		if oe.Source == nil || oe.Addr == nil {
			b.WriteString("no-addrs ")
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		b.WriteString("timeout ")
	}
	b.WriteString("outcome=" + string(OutcomeOf(err)))
	return b.String()
}

// TestRawIOAsNetConn checks that rawIO reads and writes a socket as
// net.Conn's Read and Write do: the same bytes, the same end of stream and
// errors of the same classes (EOF, a passed deadline, a closed or reset
// connection), each case run on both over a fresh loopback connection, and
// on a connection of dialRaw (a sockConn: rawIO over an *os.File's
// socket, its deadlines and Close the file's).
func TestRawIOAsNetConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB: the socket fills, the write waits
	tests := []struct {
		name string
		// run gets the client's reader/writer, its socket and the server's
		// end; it returns what the client saw, for comparison.
		run func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string
	}{
		{"data then EOF", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			s.Write([]byte("* OK hello\r\n"))
			s.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(rw)
			_, err2 := rw.Read(make([]byte, 8))
			return string(got) + " | " + errClass(err) + " | " + errClass(err2)
		}},
		{"data later", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			go func() {
				time.Sleep(20 * time.Millisecond)
				s.Write([]byte("late"))
			}()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 16)
			n, err := io.ReadAtLeast(rw, buf, 4)
			return string(buf[:n]) + " | " + errClass(err)
		}},
		{"empty read", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			n, err := rw.Read(nil)
			return errClass(err) + " " + string(rune('0'+n))
		}},
		{"deadline", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
			_, err := rw.Read(make([]byte, 8))
			// A passed deadline fails at once, before any wait.
			_, err2 := rw.Read(make([]byte, 8))
			return errClass(err) + " | " + errClass(err2)
		}},
		{"closed", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			c.Close()
			_, rerr := rw.Read(make([]byte, 8))
			_, werr := rw.Write([]byte("x"))
			return errClass(rerr) + " | " + errClass(werr)
		}},
		{"reset", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			s.SetLinger(0)
			s.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, err := rw.Read(make([]byte, 8))
			return errClass(err)
		}},
		{"big write", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			got := make(chan []byte, 1)
			go func() {
				s.SetDeadline(time.Now().Add(30 * time.Second))
				b, _ := io.ReadAll(io.LimitReader(s, int64(len(big))))
				got <- b
			}()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			n, err := rw.Write(big)
			b := <-got
			return errClass(err) + " " + string(rune('0'+boolInt(n == len(big)))) + string(rune('0'+boolInt(bytes.Equal(b, big))))
		}},
		{"write deadline", func(t *testing.T, rw io.ReadWriter, c net.Conn, s *net.TCPConn) string {
			// Nobody reads: the socket fills and the write waits to its deadline.
			c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := rw.Write(big)
			return errClass(err) + " " + string(rune('0'+boolInt(n > 0 && n < len(big))))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c1, s1 := tcpPair(t)
			want := tc.run(t, c1, c1, s1)
			c2, s2 := tcpPair(t)
			r := newRawIO(c2)
			if r == nil {
				t.Fatal("no raw I/O for a TCP connection")
			}
			if got := tc.run(t, r, c2, s2); got != want {
				t.Errorf("raw I/O: %q\nnet.Conn: %q", got, want)
			}
			c3, s3 := rawPair(t)
			if got := tc.run(t, c3, c3, s3); got != want {
				t.Errorf("dialRaw's connection: %q\nnet.Conn: %q", got, want)
			}
			t.Logf("%s", want)
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestRawIOUsed checks that a dialed connection reads and writes through
// rawIO, and that a read and a write of a round trip allocate nothing.
func TestRawIOUsed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		io.Copy(s, s) // echo
	}()
	c, err := Dial(t.Context(), Config{Protocol: "imap", Endpoint: Endpoint{Addr: ln.Addr().String()}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.wire.io == nil {
		t.Fatal("the connection does not use raw I/O")
	}
	msg, buf := []byte("a NOOP\r\n"), make([]byte, 64)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per round trip, want 0", allocs)
	}
}

// TestWriteReadAsWriteThenRead checks that rawIO.writeRead, the write
// made inside the read's wait, returns what net.Conn's Write followed by
// its Read return: the same bytes read, the same errors (of the write or
// of the read) in the same cases, on both kinds of socket.
func TestWriteReadAsWriteThenRead(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB: the socket fills, the write goes on as Write
	req := []byte("L1 NOOP\r\n")
	// serve reads n bytes of the request on s and then runs then.
	serve := func(s *net.TCPConn, n int, then func()) {
		go func() {
			s.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(s, make([]byte, n)); err != nil {
				return
			}
			then()
		}()
	}
	type writeRead func(p, b []byte) (int, error, error)
	tests := []struct {
		name string
		run  func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string
	}{
		{"reply", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			serve(s, len(req), func() { s.Write([]byte("L1 OK done\r\n")) })
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 64)
			n, werr, rerr := wr(req, b)
			return string(b[:n]) + " | " + errClass(werr) + " | " + errClass(rerr)
		}},
		{"reply later", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			serve(s, len(req), func() {
				time.Sleep(20 * time.Millisecond)
				s.Write([]byte("L1 OK late\r\n"))
			})
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 64)
			n, werr, rerr := wr(req, b)
			return string(b[:n]) + " | " + errClass(werr) + " | " + errClass(rerr)
		}},
		{"big request", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			serve(s, len(big), func() { s.Write([]byte("got it")) })
			c.SetDeadline(time.Now().Add(30 * time.Second))
			b := make([]byte, 64)
			n, werr, rerr := wr(big, b)
			return string(b[:n]) + " | " + errClass(werr) + " | " + errClass(rerr)
		}},
		{"EOF", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			serve(s, len(req), func() { s.Close() })
			c.SetDeadline(time.Now().Add(10 * time.Second))
			n, werr, rerr := wr(req, make([]byte, 64))
			return string(rune('0'+n)) + " | " + errClass(werr) + " | " + errClass(rerr)
		}},
		{"reset", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			serve(s, len(req), func() { s.SetLinger(0); s.Close() })
			c.SetDeadline(time.Now().Add(10 * time.Second))
			n, werr, rerr := wr(req, make([]byte, 64))
			return string(rune('0'+n)) + " | " + errClass(werr) + " | " + errClass(rerr)
		}},
		{"reset before", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			s.SetLinger(0)
			s.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			// The reset arrives first: the write fails (net.Conn's write
			// sees it as well), or, should it come late, the read.
			var werr, rerr error
			for i := 0; i < 3 && werr == nil && rerr == nil; i++ {
				_, werr, rerr = wr(req, make([]byte, 64))
			}
			return errClass(werr) + " | " + errClass(rerr)
		}},
		{"no reply", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			c.SetDeadline(time.Now().Add(30 * time.Millisecond))
			n, werr, rerr := wr(req, make([]byte, 64))
			// A passed deadline fails the next one before it writes.
			_, werr2, rerr2 := wr(req, make([]byte, 64))
			return string(rune('0'+n)) + " | " + errClass(werr) + " | " + errClass(rerr) + " | " + errClass(werr2) + " | " + errClass(rerr2)
		}},
		{"closed", func(t *testing.T, wr writeRead, c net.Conn, s *net.TCPConn) string {
			c.Close()
			n, werr, rerr := wr(req, make([]byte, 64))
			return string(rune('0'+n)) + " | " + errClass(werr) + " | " + errClass(rerr)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c1, s1 := tcpPair(t)
			want := tc.run(t, func(p, b []byte) (int, error, error) {
				if _, err := c1.Write(p); err != nil {
					return 0, err, nil
				}
				n, err := c1.Read(b)
				return n, nil, err
			}, c1, s1)
			for _, k := range []struct {
				name string
				pair func(t *testing.T) (net.Conn, *rawIO, *net.TCPConn)
			}{
				{"raw I/O", func(t *testing.T) (net.Conn, *rawIO, *net.TCPConn) {
					c, s := tcpPair(t)
					return c, newRawIO(c), s
				}},
				{"dialRaw's connection", func(t *testing.T) (net.Conn, *rawIO, *net.TCPConn) {
					c, s := rawPair(t)
					return c, &c.io, s
				}},
			} {
				c, r, s := k.pair(t)
				got := tc.run(t, func(p, b []byte) (int, error, error) {
					nw, nr, werr, rerr := r.writeRead(p, b)
					if werr == nil && nw != len(p) {
						t.Errorf("%s: wrote %d of %d bytes without an error", k.name, nw, len(p))
					}
					return nr, werr, rerr
				}, c, s)
				if got != want {
					t.Errorf("%s: %q\nnet.Conn: %q", k.name, got, want)
				}
			}
			t.Logf("%s", want)
		})
	}
}
