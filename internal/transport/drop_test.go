package transport_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// TestDropOutcome checks that the I/O errors of a connection the simulated
// network dropped (Config.DropAfter) classify as dropped — a read in
// flight when the drop closes the connection, a write or a WriteRead on
// the dead connection after it, over plain TCP and TLS — and that a
// connection the server reset stays an error: the server's failure.
func TestDropOutcome(t *testing.T) {
	silent := fakeServer(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	// reset greets, then resets the connection when the client's request
	// comes: the server's failure mid-session (a reset before its first
	// byte is a refusal: TestUnservedIsRefused).
	reset := fakeServer(t, func(c net.Conn) {
		if _, err := c.Write([]byte("* OK\r\n")); err != nil {
			return
		}
		if _, err := c.Read(make([]byte, 1)); err != nil {
			return
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.Close()
	})
	addrs, tlsCfg := embedded(t)
	// A drop well after the dial but long before the connection's own
	// timeout: the read waits for it, the timeout is only a backstop.
	const drop = 100 * time.Millisecond
	tests := []struct {
		name  string
		ep    transport.Endpoint
		drop  time.Duration
		greet bool // read the server's greeting line first
		// op fails on the connection and returns its error.
		op   func(t *testing.T, c *transport.Conn) error
		want transport.Outcome
	}{
		{name: "read in flight", ep: transport.Endpoint{Addr: silent}, drop: drop, op: readOnce, want: transport.OutcomeDropped},
		{name: "write after", ep: transport.Endpoint{Addr: silent}, drop: drop, op: func(t *testing.T, c *transport.Conn) error {
			waitDropped(t, c)
			_, err := c.Write([]byte("a NOOP\r\n"))
			return err
		}, want: transport.OutcomeDropped},
		{name: "write-read after", ep: transport.Endpoint{Addr: silent}, drop: drop, op: func(t *testing.T, c *transport.Conn) error {
			waitDropped(t, c)
			_, werr, rerr := c.WriteRead([]byte("a NOOP\r\n"), make([]byte, 64))
			return errors.Join(werr, rerr)
		}, want: transport.OutcomeDropped},
		{name: "tls read in flight", ep: transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, drop: drop, greet: true,
			op: readOnce, want: transport.OutcomeDropped},
		{name: "server reset", ep: transport.Endpoint{Addr: reset}, greet: true, op: request, want: transport.OutcomeError},
		{name: "server reset with a drop to come", ep: transport.Endpoint{Addr: reset}, drop: time.Hour, greet: true, op: request, want: transport.OutcomeError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "imap", Endpoint: tc.ep, TLS: tlsCfg,
				Timeout: 30 * time.Second, DropAfter: tc.drop})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			if err := conn.Extend(0); err != nil {
				t.Fatal(err)
			}
			if tc.greet {
				if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
					t.Fatalf("greeting: %v", err)
				}
			}
			err = tc.op(t, conn)
			if err == nil {
				t.Fatal("no error")
			}
			if got := transport.OutcomeOf(conn.Explain(err)); got != tc.want {
				t.Errorf("OutcomeOf(%v) = %s, want %s", err, got, tc.want)
			}
			if got := transport.LoginOutcome(conn.Explain(err)); got != tc.want {
				t.Errorf("LoginOutcome(%v) = %s, want %s", err, got, tc.want)
			}
		})
	}
}

// readOnce reads from c until it fails.
func readOnce(_ *testing.T, c *transport.Conn) error {
	buf := make([]byte, 64)
	for range 1000 {
		if _, err := c.Read(buf); err != nil {
			return err
		}
	}
	return errors.New("the server kept sending")
}

// request writes a command to c and reads until the read fails.
func request(t *testing.T, c *transport.Conn) error {
	if _, err := c.Write([]byte("a NOOP\r\n")); err != nil {
		return err
	}
	return readOnce(t, c)
}

// waitDropped waits for the drop to close c: its read fails.
func waitDropped(t *testing.T, c *transport.Conn) {
	t.Helper()
	if err := readOnce(t, c); !errors.Is(err, transport.ErrDropped) {
		t.Fatalf("read before the drop: %v, want one wrapping ErrDropped", err)
	}
}

// TestDropOutcomeSMTP checks that go-smtp's failure on a connection the
// simulated network dropped classifies as dropped once the connection
// explains it (clients/smtp.go does, after every command): a command on
// the dead connection after the drop, over the embedded server.
func TestDropOutcomeSMTP(t *testing.T) {
	addrs, _ := embedded(t)
	m := &meter{}
	conn, err := transport.Dial(context.Background(), transport.Config{Protocol: "smtp", Endpoint: transport.Endpoint{Addr: addrs.SMTP},
		Meter: m, Timeout: 30 * time.Second, DropAfter: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.Extend(0)
	nc, err := transport.ReadSMTPGreeting(conn)
	if err != nil {
		t.Fatal(err)
	}
	c, err := transport.OpenSMTP(conn, nc, transport.Endpoint{Addr: addrs.SMTP}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("drop.test"); err != nil {
		t.Fatal(err)
	}
	// The drop closes the connection: the meter sees it close.
	for i := 0; ; i++ {
		if _, _, open, _ := m.get(); open == 0 {
			break
		}
		if i == 3000 {
			t.Fatal("the connection was not dropped within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	err = conn.Explain(c.Mail("alice@example.com", nil))
	if got := transport.OutcomeOf(err); got != transport.OutcomeDropped {
		t.Errorf("OutcomeOf(%v) = %s, want dropped", err, got)
	}
}
