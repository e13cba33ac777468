package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// dialShaped dials addr without TLS through a network shaped as nw,
// counting on m; the connection is closed when the test ends.
func dialShaped(t *testing.T, addr string, nw transport.Network, m transport.Meter) *transport.Conn {
	t.Helper()
	conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr},
		Timeout: 10 * time.Second, Network: nw, Meter: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// TestCloseEndsShapingWait closes a shaped connection while the simulated
// network holds its bytes for minutes (no shaped write is then reported) — a write's latency of an hour, a
// read's or a write's pace at 1 bit/s — with and without a LateCloser
// (the raw close, rawIO.release, and net.Conn's): the wait ends
// with the close, and the read or write (or the next one) fails as on a
// closed connection. Before, the wait was a time.Sleep that the close
// could not end. The 20 s bound is a liveness bound, not a timing
// assertion.
func TestCloseEndsShapingWait(t *testing.T) {
	const reply = "* OK a reply of some bytes that take long at 1 bit/s\r\n"
	for _, tc := range []struct {
		name string
		nw   transport.Network
		// read: the client reads the server's reply, else writes.
		read bool
	}{
		{"write latency", transport.Network{Latency: time.Hour}, false},
		{"write pace", transport.Network{Bandwidth: 1}, false},
		{"read pace", transport.Network{Bandwidth: 1}, true},
	} {
		for _, late := range []bool{false, true} {
			name := tc.name
			if late {
				name += "/latecloser"
			}
			t.Run(name, func(t *testing.T) {
				addr := fakeServer(t, func(c net.Conn) {
					_, _ = io.WriteString(c, reply)
					_, _ = io.Copy(io.Discard, c)
				})
				m := &shapeMeter{}
				conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr},
					Timeout: 10 * time.Second, Network: tc.nw, Meter: m, LateCloser: lateCloser(late)})
				if err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() {
					if !tc.read {
						_, err := conn.Write([]byte("a1 NOOP\r\n"))
						done <- err
						return
					}
					buf := make([]byte, 4096)
					for range 2 { // the first read holds after it; the second fails
						if _, err := conn.Read(buf); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				if tc.read {
					// The read's bytes are counted before its pace.
					for i := 0; ; i++ {
						if in, _, _, _ := m.get(); in > 0 {
							break
						}
						if i == 2000 {
							t.Fatal("the reply never came")
						}
						time.Sleep(10 * time.Millisecond)
					}
				}
				_ = conn.Close()
				select {
				case err := <-done:
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("after the close: %v, want an error wrapping net.ErrClosed", err)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("the shaping wait outlived the connection's close by 20 s")
				}
				// A write the close cut never left: no shaped write.
				m.mu.Lock()
				defer m.mu.Unlock()
				if len(m.delays) != 0 {
					t.Errorf("shaped writes reported %v, want none: the close ended the wait", m.delays)
				}
			})
		}
	}
}

// lateCloser returns a LateCloser when late, else nil.
func lateCloser(late bool) *transport.LateCloser {
	if !late {
		return nil
	}
	return transport.NewLateCloser()
}

// TestHeldFor: a connection's HeldFor says how long the simulated
// network held its bytes since a mark: never on an unshaped connection;
// on a shaped one, not while the client waits for a silent server, but at
// least the latency a write waits, and the pace of a reply it reads.
func TestHeldFor(t *testing.T) {
	answers := make(chan string, 1)
	addr := fakeServer(t, func(c net.Conn) {
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "ANSWER") {
				_, _ = io.WriteString(c, <-answers)
			}
		}
	})
	const reply = "* OK 0123456789\r\n" // 17 bytes
	for _, tc := range []struct {
		name string
		nw   transport.Network
		// byWrite, byRead: the least HeldFor after a write of
		// "ANSWER\r\n" (8 bytes), after a read of the reply.
		byWrite, byRead time.Duration
	}{
		{"unshaped", transport.Network{}, 0, 0},
		{"latency", transport.Network{Latency: 5 * time.Millisecond}, 5 * time.Millisecond, 0},
		// 8 bits a millisecond: a byte a millisecond.
		{"bandwidth", transport.Network{Bandwidth: 8000}, 8 * time.Millisecond, 17 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialShaped(t, addr, tc.nw, nil)
			m := conn.HoldMark()
			if d := conn.HeldFor(m); d != 0 {
				t.Errorf("held %v with nothing sent", d)
			}
			// A silent server: the read waits for it, the network holds
			// nothing.
			_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			buf := make([]byte, 64)
			if _, err := conn.Read(buf); transport.OutcomeOf(err) != transport.OutcomeTimeout {
				t.Fatalf("read from a silent server: %v, want a timeout", err)
			}
			if d := conn.HeldFor(m); d != 0 {
				t.Errorf("held %v while the server was silent", d)
			}
			if _, err := conn.Write([]byte("ANSWER\r\n")); err != nil {
				t.Fatal(err)
			}
			if got := conn.HeldFor(m); got < tc.byWrite || tc.byWrite == 0 && got != 0 {
				t.Errorf("after a write: held %v, want %v or more (0 when 0)", got, tc.byWrite)
			}
			m = conn.HoldMark()
			answers <- reply
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			n := 0
			for n < len(reply) {
				k, err := conn.Read(buf[n:])
				if err != nil {
					t.Fatal(err)
				}
				n += k
			}
			if got := conn.HeldFor(m); got < tc.byRead || tc.byRead == 0 && got != 0 {
				t.Errorf("after a read: held %v, want %v or more (0 when 0)", got, tc.byRead)
			}
		})
	}
}

// TestSlowLinkIsNoTimeout: the time the simulated network paces a reply
// is the link's, not the server's, so it does not use up the read
// deadline (watchdog.shift): a 2 KiB reply paced over 2 s a KiB, read a
// KiB at a time under a 1 s deadline (ample for the loopback server),
// arrives whole. Before, the
// second read failed with a timeout, blamed on a server that had sent
// everything at once.
func TestSlowLinkIsNoTimeout(t *testing.T) {
	reply := strings.Repeat("x", 2048)
	addr := fakeServer(t, func(c net.Conn) {
		buf := make([]byte, 64)
		if _, err := c.Read(buf); err != nil {
			return
		}
		_, _ = io.WriteString(c, reply)
		_, _ = c.Read(buf) // until the client hangs up
	})
	// 4,096 bit/s: 1 KiB in 2 s.
	conn := dialShaped(t, addr, transport.Network{Bandwidth: 4096}, nil)
	if _, err := conn.Write([]byte("GO\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1024)
	got := 0
	for got < len(reply) {
		n, err := conn.Read(buf)
		got += n
		if err != nil {
			t.Fatalf("read %d of %d bytes: %v (outcome %s)", got, len(reply), err, transport.OutcomeOf(err))
		}
	}
}
