package leanimap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

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

// TestEndlessResponses: a server whose responses to a SEARCH, a SORT or a
// LIST never end — each response short and well-formed — fails the
// command with ErrReplyTooLarge once the responses kept pass
// Options.MaxKept, holding about that much, not all the server sends
// until the deadline (before the bound: 449 MiB held after a second of
// SEARCH responses on loopback); the client stays failed and nothing is
// left running.
func TestEndlessResponses(t *testing.T) {
	const maxKept = 1 << 20
	for _, tt := range []struct {
		name string
		line string // the response the server repeats
		run  func(*Client) error
	}{
		{"search", "* SEARCH" + strings.Repeat(" 4294967295", 100), func(c *Client) error {
			_, err := c.UIDSearch(nil, "ALL")
			return err
		}},
		{"sort", "* SORT 1 2 3 4 5 6 7 8 9", func(c *Client) error {
			_, err := c.UIDSort(nil, "ARRIVAL", "ALL")
			return err
		}},
		{"list", `* LIST (\HasNoChildren) "/" "a mailbox"`, func(c *Client) error {
			_, err := c.List("", "*", false)
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			srv := faketest.StartIMAP(t, faketest.IMAPEndlessStream, faketest.Options{StreamLine: tt.line, EndlessLimit: 64 << 20})
			conn, err := transport.Dial(context.Background(), transport.Config{
				Protocol: "imap", Endpoint: transport.Endpoint{Addr: srv.Addr}, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			c, err := New(conn, Options{Timeout: 10 * time.Second, MaxKept: maxKept})
			must(t, err)
			must(t, c.Login("alice", "secret"))
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			err = tt.run(c)
			runtime.ReadMemStats(&m1)
			if !errors.Is(err, transport.ErrReplyTooLarge) {
				t.Errorf("error %.200v, want ErrReplyTooLarge", err)
			}
			if grew := m1.TotalAlloc - m0.TotalAlloc; grew > 16*maxKept {
				t.Errorf("the command allocated %d MiB, the bound is %d MiB kept", grew>>20, maxKept>>20)
			}
			if err2 := c.Noop(); err2 != err {
				t.Errorf("next command: %v, want the same error", err2)
			}
			_ = conn.Close()
			srv.Close()
			faketest.GoroutinesBack(t, before, 5*time.Second, "after Close")
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

// TestSent: Sent says whether a failed APPEND went out whole, so that its
// caller can tell a message the server may have stored (the reply lost
// after the literal) from one it cannot have (the failure came first):
// true after the literal when the server then closes, stalls or answers
// garbage, and when a real server stored it and a proxy held the reply;
// false when the server refused or never requested the literal, or
// stopped reading it.
func TestSent(t *testing.T) {
	const timeout = 2 * time.Second // the embedded server under -race on a loaded machine
	fake := func(mode faketest.IMAPMode, take bool) func(t *testing.T) (string, func()) {
		return func(t *testing.T) (string, func()) {
			return faketest.StartIMAP(t, mode, faketest.Options{TakeLiterals: take}).Addr, func() {}
		}
	}
	// deaf announces LITERAL+ and reads nothing after LOGIN: the
	// literal's write fails at the deadline.
	deaf := func(t *testing.T) (string, func()) {
		return faketest.Start(t, faketest.Options{}, func(c net.Conn) {
			r := bufio.NewReader(c)
			io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n")
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, _, _ := strings.Cut(line, " ")
			io.WriteString(c, tag+" OK logged in\r\n")
			time.Sleep(3 * timeout) // reads nothing more; then closes
		}).Addr, func() {}
	}
	// heldReply is the embedded server behind a proxy that holds its
	// reply to the APPEND: the message is stored, the reply never comes.
	heldReply := func(t *testing.T) (string, func()) {
		srv, p := embeddedBehindProxy(t)
		p.StallOnReply([]byte("APPENDUID"))
		return srv.imap, p.Resume
	}
	small, _ := message(1, 2000)
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (addr string, resume func())
		msg   []byte
		sent  bool
		want  error // errors.Is; nil: OK, or NO with no
		no    bool
	}{
		{"embedded server, answered", func(t *testing.T) (string, func()) { return embedded(t).imap, func() {} }, small, true, nil, false},
		{"closed after the literal", fake(faketest.IMAPClose, true), small, true, io.EOF, false},
		{"silent after the literal", fake(faketest.IMAPSilent, true), small, true, os.ErrDeadlineExceeded, false},
		{"garbage after the literal", fake(faketest.IMAPGarbage, true), small, true, ErrProtocol, false},
		{"reply held after storing", heldReply, small, true, os.ErrDeadlineExceeded, false},
		{"NO instead of the continuation", fake(faketest.IMAPRefuse, false), small, false, nil, true},
		{"closed before the literal", fake(faketest.IMAPClose, false), small, false, io.EOF, false},
		{"silent before the literal", fake(faketest.IMAPSilent, false), small, false, os.ErrDeadlineExceeded, false},
		{"literal never read", deaf, bytes.Repeat([]byte("x"), 64<<20), false, os.ErrDeadlineExceeded, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, resume := tc.start(t)
			defer resume()
			c := dial(t, addr, Options{Timeout: timeout})
			if err := c.Login("alice", "secret"); err != nil {
				t.Fatalf("login: %v", err)
			}
			if !c.Sent() {
				t.Error("Sent false after an answered LOGIN")
			}
			_, err := c.Append("INBOX", nil, time.Time{}, tc.msg)
			var ie *imap.Error
			switch {
			case tc.no:
				if !errors.As(err, &ie) || ie.Type != imap.StatusResponseTypeNo {
					t.Fatalf("APPEND: %v, want NO", err)
				}
			case tc.want == nil && err != nil, tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("APPEND: %v, want %v", err, tc.want)
			}
			if c.Sent() != tc.sent {
				t.Errorf("Sent %v after %v, want %v", c.Sent(), err, tc.sent)
			}
		})
	}
}

// TestInventedFetch: a server that answers UID FETCH 1:* in a mailbox of
// 10 messages with FETCH responses of messages it invents without end
// fails the command with ErrReplyTooLarge once they pass
// MaxFetchResponses(10), having given the caller no more of them; before,
// the caller got every invented UID until the deadline (a device renews
// it while messages come) or the server stopped (here at 256 MiB: 'error
// read: EOF, want ErrReplyTooLarge').
func TestInventedFetch(t *testing.T) {
	srv := faketest.StartIMAP(t, faketest.IMAPInventedFetch, faketest.Options{EndlessLimit: 256 << 20})
	c := dial(t, srv.Addr, Options{Timeout: 5 * time.Second})
	must(t, c.Login("alice", "secret"))
	if _, err := c.Select("INBOX", false); err != nil {
		t.Fatal(err)
	}
	got := int64(0)
	err := c.UIDFetch(imapAll, "(UID FLAGS)", func(*Message) error { got++; return nil })
	if !errors.Is(err, transport.ErrReplyTooLarge) {
		t.Fatalf("error %v, want ErrReplyTooLarge", err)
	}
	if most := MaxFetchResponses(faketest.InventedExists); got > most {
		t.Errorf("the caller got %d messages, the bound is %d", got, most)
	}
}
