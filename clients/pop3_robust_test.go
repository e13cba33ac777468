package clients

import (
	"bufio"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
)

// scriptedPOP3 answers each command verb with a fixed raw reply ("" closes
// the connection; "hang" answers nothing; a reply ending in NUL is sent,
// then the connection closed). The greeting is script["greeting"].
func scriptedPOP3(t *testing.T, script map[string]string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveLoopback(t, ln, func(c net.Conn) {
		r := bufio.NewReader(c)
		send := func(reply string) bool {
			switch reply {
			case "":
				return false
			case "hang":
				_, _ = r.ReadString('\n') // until the client gives up
				return false
			}
			closeAfter := strings.HasSuffix(reply, "\x00")
			_, err := c.Write([]byte(strings.TrimSuffix(reply, "\x00")))
			return err == nil && !closeAfter
		}
		if !send(script["greeting"]) {
			return
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
			if !send(script[strings.ToUpper(verb)]) {
				return
			}
		}
	})
}

func TestPOP3BadServers(t *testing.T) {
	ok := map[string]string{
		"greeting": "+OK hi\r\n",
		"CAPA":     "+OK\r\nUIDL\r\nSASL PLAIN\r\n.\r\n",
		"AUTH":     "+OK\r\n",
		"STAT":     "+OK 1 100\r\n",
		"LIST":     "+OK\r\n1 100\r\n.\r\n",
		"UIDL":     "+OK\r\n1 abc\r\n.\r\n",
		"RETR":     "+OK\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n.\r\n",
		"DELE":     "+OK\r\n",
		"QUIT":     "+OK\r\n",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	tests := []struct {
		name    string
		script  map[string]string
		wantErr string // "" means the poll works
		wantCmd string // last recorded command with its outcome
	}{
		{"good", ok, "", "QUIT:ok"},
		{"garbage greeting", with("greeting", "* OK imap?\r\n"), "greeting", ""},
		{"greeting over 4 KiB", with("greeting", "+OK "+strings.Repeat("x", 5000)+"\r\n"), "malformed", ""},
		{"err greeting", with("greeting", "-ERR go away\r\n"), "go away", ""},
		{"empty STAT", with("STAT", "+OK\r\n"), "malformed", "STAT:ok"},
		{"short UIDL line", with("UIDL", "+OK\r\n1\r\n.\r\n"), "malformed", "UIDL:error"},
		{"UIDL -ERR", with("UIDL", "-ERR not supported\r\n"), "not supported", "UIDL:no"},
		{"bad LIST number", with("LIST", "+OK\r\nx 100\r\n.\r\n"), "malformed", "LIST:error"},
		{"dies in RETR", with("RETR", "+OK\r\nMessage-ID: <x@y>\r\n\x00"), "EOF", "RETR:error"},
		{"hangs in RETR", with("RETR", "hang"), "timeout", "RETR:timeout"},
		{"garbage reply", with("STAT", "WHAT\r\n"), "unknown response", "STAT:error"},
		{"no CAPA", with("CAPA", "-ERR unknown command\r\n"), "", "QUIT:ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no CAPA" {
				// Without CAPA there is no SASL: USER/PASS.
				tc.script["USER"], tc.script["PASS"] = "+OK\r\n", "+OK\r\n"
			}
			addr := scriptedPOP3(t, tc.script)
			rec := &c2Recorder{}
			o := validOptions()
			o.POP3 = transport.Endpoint{Addr: addr}
			o.Recorder = rec
			o.Timeout = 300 * time.Millisecond
			d, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			err = d.(*pop3Device).Poll(context.Background())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("poll: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("poll error %v, want it to mention %q and the address", err, tc.wantErr)
			}
			if tc.name == "hangs in RETR" && !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("hang: %v is not a deadline error", err)
			}
			cmds := rec.take("pop3")
			if tc.wantCmd != "" && (len(cmds) == 0 || cmds[len(cmds)-1] != tc.wantCmd) {
				t.Errorf("commands %v, want last %s", cmds, tc.wantCmd)
			}
			if n := rec.open("pop3"); n != 0 {
				t.Errorf("%d connections left open", n)
			}
		})
	}
}

// TestPOP3NetworkDrop: a phone whose network drops mid-download fails the
// poll with a closed-connection error (not a timeout), the RETR the drop
// cut is dropped (not the server's error), and nothing is left open.
func TestPOP3NetworkDrop(t *testing.T) {
	addr := scriptedPOP3(t, map[string]string{
		"greeting": "+OK hi\r\n", "CAPA": "-ERR\r\n", "USER": "+OK\r\n", "PASS": "+OK\r\n",
		"STAT": "+OK 1 10\r\n", "LIST": "+OK\r\n1 10\r\n.\r\n", "UIDL": "+OK\r\n1 u1\r\n.\r\n", "RETR": "hang",
	})
	rec := &c2Recorder{}
	o := validOptions()
	o.Profile = &Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3,
		Network: transport.Network{DisconnectEvery: 6 * time.Second}} // 100 ms of wall time at 60×
	o.POP3 = transport.Endpoint{Addr: addr}
	o.Recorder = rec
	o.Timeout = 10 * time.Second
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	err = d.(*pop3Device).Poll(context.Background())
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("poll over a dropping network: %v", err)
	}
	if cmds := rec.take("pop3"); len(cmds) == 0 || cmds[len(cmds)-1] != "RETR:dropped" {
		t.Errorf("commands %v, want RETR:dropped last", cmds)
	}
	if n := rec.open("pop3"); n != 0 {
		t.Errorf("%d connections left open", n)
	}
}

// TestPOP3NetworkDropEmbedded: a phone on a network that drops every
// session before it ends (latency on every write, disconnect_every shorter
// than a session) polls the embedded server: the commands and logins the
// drops cut are dropped, none an error — the server failed nothing.
func TestPOP3NetworkDropEmbedded(t *testing.T) {
	e := startEmbedded(t)
	g := mailgen.Generator{Domain: "example.org"}
	for i := range 3 {
		m := g.New(rand.New(rand.NewPCG(uint64(i), 1)), "bob@example.com", []string{"alice@example.com"}, 2000, true, time.Now())
		e.lmtp(t, "alice@example.com", m.Raw)
	}
	rec := &c2Recorder{}
	o := validOptions()
	// 20 ms before every write; the drop after 6 s simulated, 100 ms of
	// wall time at 60×: about five commands into each session.
	o.Profile = &Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3, LeaveOnServer: true,
		Network: transport.Network{Latency: 20 * time.Millisecond, DisconnectEvery: 6 * time.Second}}
	o.POP3 = transport.Endpoint{Addr: e.addrs.POP3}
	o.Username, o.Password, o.Address = "alice", "secret", "alice@example.com"
	o.Clock, o.Recorder, o.Timeout = c2Clock(), rec, 10*time.Second
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	var cmds []string
	for range 5 {
		_ = d.(*pop3Device).Poll(context.Background())
		cmds = append(cmds, rec.take("pop3")...)
	}
	checkDropped(t, cmds)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, l := range rec.logins {
		if l != transport.OutcomeOK && l != transport.OutcomeDropped {
			t.Errorf("login %s, want ok or dropped (logins %v)", l, rec.logins)
		}
	}
	if n := rec.conns["pop3"]; n != 0 {
		t.Errorf("%d connections left open", n)
	}
}
