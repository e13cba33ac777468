package clients

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/dovecottest"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
)

// bigMailbox is the INBOX size of TestBigMailboxDovecot: its UID SEARCH
// ALL and UID SORT answers are one line of 128,894 bytes, twice the
// default reply line bound (transport.DefaultMaxLine).
const bigMailbox = 20000

// TestBigMailboxDovecot: devices on a real mailbox of 20,000 messages
// (Dovecot) sync it without an error, with either IMAP client: the
// webmail's UID SORT (ARRIVAL) is answered in one line of about 129 KB,
// over the 64 KiB bound of other reply lines; the phone's window and the
// PC's FETCH of every message, and POP3's UIDL and LIST of the 20,000,
// pass too. Before, the webmail failed every page load
// ('failed commands [UID SORT:error]': "response line over 65536 bytes"
// with the lean client, "reply line over 65536 bytes" with go-imap's),
// counted against the server. It logs each device's heap after its sync
// (go test -v).
func TestBigMailboxDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20,000-message mailbox")
	}
	inst := dovecottest.Start(t, 1)
	user := inst.Username(1)
	gen := mailgen.Generator{Domain: "example.net"}
	rng := rand.New(rand.NewPCG(3, 4))
	date := time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)
	inst.FillInbox(t, user, bigMailbox, func(i int) []byte {
		return gen.New(rng, "carol@example.net", []string{user + "@example.com"}, 400, false, date.Add(time.Duration(i)*time.Second)).Raw
	})
	syncBigDevices(t, newIMAPEnvNoServer(), func(o *Options) {
		o.ID, o.Username, o.Password, o.Address = user+"/"+string(o.Profile.Kind), user, inst.Password, user+"@example.com"
		o.IMAP = transport.Endpoint{Addr: inst.IMAP, TLS: transport.TLSNone}
	})
	t.Run("pop3", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := transport.Dial(ctx, transport.Config{Protocol: ProtocolPOP3, Endpoint: transport.Endpoint{Addr: inst.POP3}, Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		p, err := transport.OpenPOP3(conn, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if err := p.Login(user, inst.Password); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range []string{"UIDL", "LIST"} {
			n := 0
			if err := p.Multi(cmd, cmd, func([]byte) error { n++; return nil }); err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if n != bigMailbox {
				t.Errorf("%s: %d lines, want %d", cmd, n, bigMailbox)
			}
		}
	})
}

// TestBigMailboxEmbedded: on the embedded server, which has no SORT, the
// webmail lists a 20,000-message INBOX with UID SEARCH ALL, answered in
// one line of 128,894 bytes, without an error with either IMAP client;
// so do the phone and the PC. Before, the webmail's UID SEARCH failed with
// outcome error ("reply line over 65536 bytes").
func TestBigMailboxEmbedded(t *testing.T) {
	if testing.Short() {
		t.Skip("a 20,000-message mailbox")
	}
	env := newIMAPEnv(t)
	lmtpDeliverMany(t, env.addrs.LMTP, "alice@example.com", bigMailbox, func(i int) []byte {
		return fmt.Appendf(nil, "Message-ID: <big%d@example.net>\r\nFrom: carol@example.net\r\nSubject: %d\r\n\r\nbody\r\n", i, i)
	})
	syncBigDevices(t, env, func(*Options) {})
}

// lmtpDeliverMany delivers n messages to rcpt over one LMTP session,
// msg(i) the i-th's raw text.
func lmtpDeliverMany(t *testing.T, addr, rcpt string, n int, msg func(i int) []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := c.Mail("carol@example.net", nil); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(rcpt, nil); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(msg(i)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBigDevices runs syncBig for a webmail, a phone and a PC of env,
// each with every IMAP client, set by at to the server.
func syncBigDevices(t *testing.T, env *imapEnv, at func(*Options)) {
	for _, kind := range []Kind{KindWebmail, KindPhone, KindPC} {
		for _, client := range IMAPClients {
			t.Run(string(kind)+"/"+client, func(t *testing.T) {
				rec := &imapRecorder{}
				env.client = client
				o := env.options(kind, rec, func(p *Profile) {
					p.PollInterval, p.Refresh, p.Idle = 24*time.Hour, 24*time.Hour, false
				})
				o.Timeout = 60 * time.Second
				at(&o)
				syncBig(t, o, rec)
			})
		}
	}
}

// syncBig runs a device of o on a mailbox of bigMailbox messages until
// its view shows its INBOX synced (the webmail's page, the phone's
// window, all of them on a PC), and fails the test if any command of its
// failed. It logs the heap after the sync.
func syncBig(t *testing.T, o Options, rec *imapRecorder) {
	t.Helper()
	want := bigMailbox
	switch o.Profile.Kind {
	case KindWebmail:
		want = DefaultPageSize
	case KindPhone:
		want = DefaultPhoneWindow
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	d := startDevice(t, o)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		v := d.View()
		if !v.FolderSynced["INBOX"].IsZero() && len(v.Messages) >= want {
			break
		}
		if bad := failed(rec.names()); len(bad) > 0 {
			t.Fatalf("failed commands %v", bad)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the view shows %d messages, want %d; commands %v", len(v.Messages), want, rec.names())
		}
		time.Sleep(20 * time.Millisecond)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("%s: heap %d KiB after the sync of %d messages (%d KiB before)", o.ID, m1.HeapAlloc>>10, len(d.View().Messages), m0.HeapAlloc>>10)
	if bad := failed(rec.names()); len(bad) > 0 {
		t.Fatalf("failed commands %v", bad)
	}
}

// failed returns the names of the commands that did not succeed
// (imapRecorder.names: "COMMAND:outcome").
func failed(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(n, ":") {
			out = append(out, n)
		}
	}
	return out
}
