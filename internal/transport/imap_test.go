package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestIMAPReplyBounds runs the go-imap client against servers that send
// what would make it buffer without end: the connection fails with
// ErrReplyTooLarge, having buffered about the limit at most, and neither
// the client nor the test hangs.
func TestIMAPReplyBounds(t *testing.T) {
	endless := func(c net.Conn) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for i := 0; i < 64<<10; i++ { // at most 2 GiB, ended by the client closing
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}
	tests := []struct {
		name string
		// afterCommand: the bad reply answers the first command; else it
		// is the greeting.
		afterCommand bool
		reply        func(net.Conn)
	}{
		{"endless greeting", false, func(c net.Conn) { _, _ = c.Write([]byte("* OK ")); endless(c) }},
		{"endless reply line", true, func(c net.Conn) { _, _ = c.Write([]byte("* CAPABILITY ")); endless(c) }},
		{"1 MiB reply line", true, func(c net.Conn) {
			_, _ = c.Write([]byte("* CAPABILITY " + strings.Repeat("X", 1<<20) + "\r\n"))
			// Wait for the client to hang up: closing first, with a
			// command of the client's unread, would reset the connection
			// and discard the reply the client has not read yet.
			_, _ = io.Copy(io.Discard, c)
		}},
		{"huge literal", true, func(c net.Conn) {
			_, _ = c.Write([]byte("* 1 FETCH (BODY[] {1099511627776}\r\n"))
			endless(c)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) {
				if tc.afterCommand {
					_, _ = c.Write([]byte("* OK fake\r\n"))
					if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
						return
					}
				}
				tc.reply(c)
			})
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)

			m := &meter{}
			conn, err := transport.Dial(context.Background(), transport.Config{
				Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}, Meter: m, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.LimitIMAP(0, 0)
			c, err := transport.OpenIMAP(conn, nil, false)
			if err == nil {
				_, err = c.Capability().Wait()
				err = conn.Explain(err)
				_ = c.Close()
			}
			if !errors.Is(err, transport.ErrReplyTooLarge) {
				t.Fatalf("err %v, want ErrReplyTooLarge", err)
			}
			in, _, _, _ := m.get()
			runtime.GC()
			runtime.ReadMemStats(&after)
			// The limit is 64 KiB; allow buffers and test noise, far
			// below the megabytes an unbounded reader would hold.
			grew := int64(after.HeapInuse) - int64(before.HeapInuse)
			if grew > 16<<20 {
				t.Errorf("heap grew by %d bytes (read %d)", grew, in)
			}
			t.Logf("read %d bytes, heap in use grew by %d bytes", in, grew)
			// Reading stops at the first read past the 64 KiB bound; one
			// read is at most the library's buffer.
			if in > 256<<10 {
				t.Errorf("read %d bytes, want reading to stop near the 64 KiB bound", in)
			}
		})
	}
}

// TestIMAPLiteralWithinBounds checks a FETCH literal larger than the line
// bound passes when it is within the literal bound.
func TestIMAPLiteralWithinBounds(t *testing.T) {
	body := strings.Repeat("a", 200<<10) // over DefaultMaxLine
	addr := fakeServer(t, func(c net.Conn) {
		_, _ = c.Write([]byte("* OK fake\r\n"))
		br := bufio.NewReader(c)
		for i := 0; i < 10; i++ {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			tag, cmd, _ := strings.Cut(strings.TrimSpace(line), " ")
			reply := "* CAPABILITY IMAP4rev1\r\n" // the library may ask first
			if strings.Contains(cmd, "FETCH") {
				reply = "* 1 FETCH (UID 7 BODY[] {" + itoa(len(body)) + "}\r\n" + body + ")\r\n"
			}
			_, _ = c.Write([]byte(reply + tag + " OK done\r\n"))
		}
	})
	conn, err := transport.Dial(context.Background(), transport.Config{
		Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr}, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.LimitIMAP(0, 0)
	c, err := transport.OpenIMAP(conn, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs, err := c.Fetch(seqAll, fetchBody).Collect()
	if err != nil {
		t.Fatal(conn.Explain(err))
	}
	if len(msgs) != 1 || len(msgs[0].BodySection) != 1 || len(msgs[0].BodySection[0].Bytes) != len(body) {
		t.Fatalf("fetched %+v", msgs)
	}
}

// TestStartTLSIMAP upgrades a connection to the embedded server and logs
// in; a refused or injected STARTTLS fails with ErrTLSRefused.
func TestStartTLSIMAP(t *testing.T) {
	addrs, cliTLS := embedded(t)
	t.Run("embedded server", func(t *testing.T) {
		m := &meter{}
		conn, err := transport.Dial(context.Background(), transport.Config{
			Protocol: "imap", Endpoint: transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS},
			Meter: m, Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		conn.LimitIMAP(0, 0)
		if err := transport.StartTLSIMAP(conn, transport.TLSConfig(cliTLS, addrs.IMAP)); err != nil {
			t.Fatal(err)
		}
		if !conn.TLS() {
			t.Fatal("not encrypted after STARTTLS")
		}
		c, err := transport.OpenIMAP(conn, &imapclient.Options{}, true)
		if err != nil {
			t.Fatal(err)
		}
		if err := transport.LoginIMAP(c, "alice", "secret"); err != nil {
			t.Fatal(err)
		}
		_ = c.Logout().Wait()
		_ = c.Close()
		_ = conn.Close()
		in, out, open, total := m.get()
		if in == 0 || out == 0 || open != 0 || total != 1 {
			t.Errorf("meter in %d out %d open %d total %d", in, out, open, total)
		}
	})
	for _, tc := range []struct{ name, greeting, reply string }{
		{"refused", "* OK fake\r\n", "T0 NO no tls here\r\n"},
		{"preauth", "* PREAUTH fake\r\n", ""},
		{"injected data", "* OK fake\r\n", "T0 OK begin\r\n* OK injected\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeServer(t, func(c net.Conn) {
				_, _ = c.Write([]byte(tc.greeting))
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
				_, _ = c.Write([]byte(tc.reply))
				_, _ = c.Read(make([]byte, 1))
			})
			conn, err := transport.Dial(context.Background(), transport.Config{
				Protocol: "imap", Endpoint: transport.Endpoint{Addr: addr, TLS: transport.TLSStartTLS}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = transport.StartTLSIMAP(conn, nil)
			if !errors.Is(err, transport.ErrTLSRefused) {
				t.Fatalf("err %v, want ErrTLSRefused", err)
			}
		})
	}
}

// TestDialIMAP opens IMAP sessions on the embedded server in every TLS
// mode, and names the step a failed setup failed in.
func TestDialIMAP(t *testing.T) {
	addrs, cliTLS := embedded(t)
	closed := faketest.RefusedAddr(t)
	silent := fakeServer(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 1)) }) // never greets
	hangup := fakeServer(t, func(c net.Conn) {})                                 // closes at once
	tests := []struct {
		name     string
		ep       transport.Endpoint
		tls      *tls.Config
		cancel   bool // end ctx while the server has not greeted
		wantStep string
		wantTLS  bool
		wantIs   error
	}{
		{name: "plain", ep: transport.Endpoint{Addr: addrs.IMAP}},
		{name: "starttls", ep: transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, tls: cliTLS, wantTLS: true},
		{name: "implicit", ep: transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, tls: cliTLS, wantTLS: true},
		{name: "closed port", ep: transport.Endpoint{Addr: closed}, wantStep: transport.StepConnect, wantIs: syscall.ECONNREFUSED},
		{name: "untrusted certificate", ep: transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, wantStep: transport.StepStartTLS,
			wantIs: &tls.CertificateVerificationError{}},
		{name: "hang-up", ep: transport.Endpoint{Addr: hangup}, wantStep: transport.StepGreeting},
		{name: "context ends", ep: transport.Endpoint{Addr: silent}, cancel: true, wantStep: transport.StepGreeting},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				stop := time.AfterFunc(50*time.Millisecond, cancel)
				defer stop.Stop()
			}
			m := &meter{}
			conn, c, err := transport.DialIMAP(ctx, transport.Config{Protocol: "imap", Endpoint: tc.ep, TLS: tc.tls, Meter: m, Timeout: 30 * time.Second}, nil)
			if tc.wantStep != "" {
				if err == nil || conn != nil || c != nil {
					t.Fatalf("conn %v client %v err %v, want a failure", conn, c, err)
				}
				if got := transport.Step(err); got != tc.wantStep {
					t.Errorf("step %q (%v), want %q", got, err, tc.wantStep)
				}
				switch want := tc.wantIs.(type) {
				case *tls.CertificateVerificationError:
					if !errors.As(err, &want) {
						t.Errorf("err %v, want a certificate verification error", err)
					}
				case error:
					if !errors.Is(err, want) {
						t.Errorf("err %v, want %v", err, want)
					}
				}
				if tc.cancel && errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("err %v: the setup waited for its timeout, not for ctx", err)
				}
				if _, _, open, _ := m.get(); open != 0 {
					t.Errorf("%d connections left open", open)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if conn.TLS() != tc.wantTLS {
				t.Errorf("encrypted %v, want %v", conn.TLS(), tc.wantTLS)
			}
			if err := transport.LoginIMAP(c, "alice", "secret"); err != nil {
				t.Fatal(err)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if got := transport.Step(errors.New("other")); got != "" {
		t.Errorf("Step of another error: %q", got)
	}
}
