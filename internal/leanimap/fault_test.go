package leanimap

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/faultproxy"
	"github.com/mailsim/mailsim/internal/transport"
)

// TestFaults checks that a misbehaving server gives an error, never a
// hang: the error, and that the client stays failed (the next command
// returns the same error without a round trip). How the devices classify
// these errors is clients' TestLeanOutcomes.
func TestFaults(t *testing.T) {
	const timeout = 500 * time.Millisecond
	midLiteral := func(c net.Conn) {
		r := bufio.NewReader(c)
		io.WriteString(c, "* OK [CAPABILITY IMAP4rev1] ready\r\n")
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(line, " ")
			if strings.HasPrefix(rest, "LOGIN") {
				io.WriteString(c, tag+" OK logged in\r\n")
				continue
			}
			// Half a literal, then the connection goes.
			io.WriteString(c, "* 1 FETCH (UID 1 BODY[] {1000}\r\n"+strings.Repeat("x", 100))
			return
		}
	}
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
		want error // errors.Is
	}{
		{"garbage", func(t *testing.T) string { return faketest.StartIMAP(t, faketest.IMAPGarbage, faketest.Options{}).Addr },
			ErrProtocol},
		{"huge line", func(t *testing.T) string {
			return faketest.StartIMAP(t, faketest.IMAPHugeLine, faketest.Options{}).Addr
		},
			transport.ErrReplyTooLarge},
		{"endless line", func(t *testing.T) string {
			return faketest.StartIMAP(t, faketest.IMAPEndlessLine, faketest.Options{}).Addr
		}, transport.ErrReplyTooLarge},
		{"silent", func(t *testing.T) string { return faketest.StartIMAP(t, faketest.IMAPSilent, faketest.Options{}).Addr },
			os.ErrDeadlineExceeded},
		{"drop mid-literal", func(t *testing.T) string { return faketest.Start(t, faketest.Options{}, midLiteral).Addr },
			io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, tc.addr(t), Options{Timeout: timeout})
			if err := c.Login("alice", "secret"); err != nil {
				t.Fatalf("login: %v", err)
			}
			err := c.UIDFetch(imapAll, "(UID BODY.PEEK[])", func(*Message) error { return nil })
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if err2 := c.Noop(); err2 != err {
				t.Fatalf("next command: %v, want the same error %v", err2, err)
			}
		})
	}
}

// TestStall checks that a server stalled behind a proxy (the connection
// open, nothing flowing) times out the command in progress and IDLE's
// wait ends with its context.
func TestStall(t *testing.T) {
	srv, p := embeddedBehindProxy(t)
	c := login(t, srv, Options{Timeout: 500 * time.Millisecond})
	_, err := c.Select("INBOX", false)
	must(t, err)
	idler := login(t, srv, Options{Timeout: 500 * time.Millisecond})
	_, err = idler.Select("INBOX", false)
	must(t, err)
	must(t, idler.Idle())

	p.Stall(0)
	defer p.Resume()
	err = c.Noop()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("NOOP on a stalled server: %v, want a timeout", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := idler.Wait(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a stalled server: %v, want the context's deadline", err)
	}
}

// TestSetTimeout checks that SetTimeout bounds the commands that follow:
// with Options.Timeout a minute, a NOOP on a stalled server set to a
// short bound fails with a timeout well before the minute (a generous
// bound, not a timing assertion).
func TestSetTimeout(t *testing.T) {
	srv, p := embeddedBehindProxy(t)
	c := login(t, srv, Options{Timeout: time.Minute})
	must(t, c.Noop())
	c.SetTimeout(200 * time.Millisecond)
	p.Stall(0)
	defer p.Resume()
	start := time.Now()
	err := c.Noop()
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("NOOP on a stalled server: %v, want a timeout", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("NOOP took %v: the client's own timeout, not SetTimeout's", took)
	}
}

// embeddedBehindProxy returns the embedded server reached through a fault
// proxy (srv.imap is the proxy's address), and the proxy.
func embeddedBehindProxy(t *testing.T) (server, *faultproxy.Proxy) {
	t.Helper()
	srv := embedded(t)
	p, err := faultproxy.New(faultproxy.Options{Backend: srv.imap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	srv.imap = p.Addr()
	return srv, p
}
