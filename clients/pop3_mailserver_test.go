package clients

import (
	"bytes"
	"context"
	"crypto/tls"
	"math/rand/v2"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// embedded is the embedded mail server on loopback with users alice and
// bob, TLS on every protocol, and a client TLS config that trusts it.
type embedded struct {
	srv    *mailserver.Server
	addrs  mailserver.Addrs
	cliTLS *tls.Config
}

func startEmbedded(t *testing.T) *embedded {
	t.Helper()
	srvTLS, cliTLS := mailservertest.TLS(t)
	srv := mailserver.New(mailserver.Options{TLS: srvTLS})
	for _, u := range []string{"alice", "bob"} {
		if err := srv.AddUser(u, "secret"); err != nil {
			t.Fatal(err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{
		POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &embedded{srv: srv, addrs: addrs, cliTLS: cliTLS}
}

// lmtp delivers raw to rcpt over LMTP, as the traffic injector does.
func (e *embedded) lmtp(t *testing.T, rcpt string, raw []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", e.addrs.LMTP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("injector"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("bob@example.com", []string{rcpt}, bytes.NewReader(raw)); err != nil {
		t.Fatalf("LMTP delivery: %v", err)
	}
	_ = c.Quit()
}

func (e *embedded) folders(t *testing.T, user string) map[string]string {
	t.Helper()
	s, err := e.srv.UserState(user)
	if err != nil {
		t.Fatal(err)
	}
	return folders(s)
}

func TestPOP3EmbeddedServer(t *testing.T) {
	tests := []struct {
		name string
		prof Profile
		tls  transport.TLSMode
	}{
		{"pc starttls", Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3,
			LeaveOnServer: true, DeleteWhenDeletedLocally: true, DeleteAfter: 14 * 24 * time.Hour}, transport.TLSStartTLS},
		{"phone implicit tls shaped", Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3,
			LeaveOnServer: true, DeleteWhenDeletedLocally: true,
			Network: transport.Network{Latency: time.Millisecond, Bandwidth: 50_000_000, DisconnectEvery: time.Hour}}, transport.TLSImplicit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmbedded(t)
			rec := &c2Recorder{}
			addr := e.addrs.POP3
			if tc.tls == transport.TLSImplicit {
				addr = e.addrs.POP3S
			}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: e.addrs.SMTP, TLS: transport.TLSStartTLS},
				SMTPOptions{Username: "alice", Password: "secret", TLS: e.cliTLS, Recorder: rec, Timeout: 5 * time.Second})
			prof := tc.prof
			d, err := New(Options{
				ID: "alice/" + prof.Name, Profile: &prof, Username: "alice", Password: "secret", Address: "alice@example.com",
				POP3: transport.Endpoint{Addr: addr, TLS: tc.tls}, TLS: e.cliTLS, Submitter: sub,
				Clock: c2Clock(), Recorder: rec, Seed: 3, Timeout: 5 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			dev := d.(*pop3Device)

			// Scripted mail: a generated message, and one with dot lines
			// and a line over 4 KiB.
			g := mailgen.Generator{Domain: "example.org"}
			m1 := g.New(rand.New(rand.NewPCG(1, 1)), "bob@example.com", []string{"alice@example.com"}, 3000, true, time.Now())
			m2 := []byte("Message-ID: <odd@example.org>\r\nFrom: bob@example.com\r\nSubject: odd lines\r\n\r\n.\r\n..twice\r\n" +
				strings.Repeat("w", 6000) + "\r\n.end\r\n")
			e.lmtp(t, "alice@example.com", m1.Raw)
			e.lmtp(t, "alice@example.com", m2)

			if err := dev.Poll(context.Background()); err != nil {
				t.Fatalf("poll: %v", err)
			}
			want := "CONNECT:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok RETR:ok QUIT:ok"
			if tc.tls == transport.TLSStartTLS {
				want = "CONNECT:ok CAPA:ok STLS:ok CAPA:ok AUTH:ok STAT:ok LIST:ok UIDL:ok RETR:ok RETR:ok QUIT:ok"
			}
			if got := rec.take("pop3"); !reflect.DeepEqual(got, c2Seq(want)) {
				t.Errorf("commands\n got %v\nwant %v", got, want)
			}
			if got, want := folders(dev.View()), map[string]string{m1.ID: "INBOX()", "<odd@example.org>": "INBOX()"}; !reflect.DeepEqual(got, want) {
				t.Errorf("view %v, want %v", got, want)
			}

			// Actions: read and delete locally; reply through submission.
			ctx := context.Background()
			if _, err := dev.Do(ctx, Action{Kind: ActRead, MessageID: m1.ID}); err != nil {
				t.Fatal(err)
			}
			res, err := dev.Do(ctx, Action{Kind: ActReply, MessageID: m1.ID})
			if err != nil {
				t.Fatalf("reply: %v", err)
			}
			if _, err := dev.Do(ctx, Action{Kind: ActDelete, MessageID: "<odd@example.org>"}); err != nil {
				t.Fatal(err)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq("CONNECT:ok STARTTLS:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok DATA:ok QUIT:ok")) {
				t.Errorf("smtp commands %v", got)
			}
			// Local flags stay local (POP3 has none), but the server, like
			// Dovecot without pop3_no_flag_updates, set \Seen on what RETR
			// downloaded when the first poll QUIT.
			if got := e.folders(t, "alice"); got[m1.ID] != `INBOX(\Seen)` || got["<odd@example.org>"] != `INBOX(\Seen)` {
				t.Errorf("server state of alice %v", got)
			}
			// Bob got the reply.
			if got := e.folders(t, "bob"); got[res.Sent] != "INBOX()" {
				t.Errorf("bob's mailbox %v lacks the reply %s", got, res.Sent)
			}
			// The next poll deletes on the server what was deleted locally.
			if err := dev.Poll(context.Background()); err != nil {
				t.Fatalf("second poll: %v", err)
			}
			if got := rec.take("pop3"); !strings.Contains(strings.Join(got, " "), "UIDL:ok DELE:ok QUIT:ok") {
				t.Errorf("second poll %v", got)
			}
			if got := e.folders(t, "alice"); !reflect.DeepEqual(got, map[string]string{m1.ID: `INBOX(\Seen)`}) {
				t.Errorf("server state after DELE %v", got)
			}
			wantView := map[string]string{m1.ID: `INBOX(\Seen \Answered)`, "<odd@example.org>": "Trash()", res.Sent: `Sent(\Seen)`}
			if got := folders(dev.View()); !reflect.DeepEqual(got, wantView) {
				t.Errorf("view %v, want %v", got, wantView)
			}
			if n := rec.open("pop3") + rec.open("smtp"); n != 0 {
				t.Errorf("%d connections left open", n)
			}
		})
	}
}

// TestPOP3EmbeddedRoundTrip checks that the bytes RETR gives the device
// are those delivered, for messages with dot lines and long lines.
func TestPOP3EmbeddedRoundTrip(t *testing.T) {
	e := startEmbedded(t)
	bodies := [][]byte{
		[]byte("Message-ID: <a@x>\r\nSubject: a\r\n\r\n.\r\n..\r\n...x\r\n" + strings.Repeat("q", 9000) + "\r\n." + strings.Repeat("r", 4500) + "\r\n"),
	}
	g := mailgen.Generator{}
	r := rand.New(rand.NewPCG(5, 5))
	for i := 0; i < 10; i++ {
		bodies = append(bodies, g.New(r, "bob@example.com", []string{"alice@example.com"}, 5000, i%2 == 0, time.Now()).Raw)
	}
	for _, b := range bodies {
		e.lmtp(t, "alice@example.com", b)
	}
	s := pop3Login(t, &Options{Timeout: 5 * time.Second}, e.addrs.POP3)
	defer s.close()
	for i, want := range bodies {
		got, err := s.retr(i + 1)
		if err != nil {
			t.Fatal(err)
		}
		// The server may add trace headers: compare from our first header.
		if j := bytes.Index(got, want[:20]); j < 0 || !bytes.Equal(got[j:], want) {
			t.Errorf("message %d: delivered %d bytes, RETR %d bytes, differ at %d", i+1, len(want), len(got), firstDiff(got, want))
		}
	}
	if err := s.quit(time.Second); err != nil {
		t.Fatal(err)
	}
}
