package clients

import (
	"context"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// loginTimeout bounds the logins of TestLoginOutcomes that wait it out (a
// server that never greets); the others have answerTimeout, far longer
// than a TLS handshake on a loaded machine takes (with 2 s, one under
// -race and three busy loops timed out: a timeout, not the tls outcome
// the case wants).
const (
	loginTimeout  = 2 * time.Second
	answerTimeout = 30 * time.Second
)

// TestLoginOutcomes makes one login attempt per protocol and failure and
// checks it is counted once, with the outcome of its cause: wrong
// credentials are auth, a closed port refused, a server that never greets
// timeout, an untrusted certificate tls, a greeting that refuses the
// session (IMAP "* BYE" or "* NO", POP3 -ERR, SMTP 554) no, with either
// IMAP client (before 2026-12-05: auth for POP3, SMTP and go-imap's "* NO",
// though no credentials were sent, and error for "* BYE").
func TestLoginOutcomes(t *testing.T) {
	srvTLS, _ := mailservertest.TLS(t)
	srv := mailserver.New(mailserver.Options{Domain: "example.com", TLS: srvTLS})
	if err := srv.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{IMAP: "127.0.0.1:0", IMAPS: "127.0.0.1:0",
		POP3: "127.0.0.1:0", POP3S: "127.0.0.1:0", SMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silent := serveLoopback(t, ln, func(c net.Conn) {
		// Accept and never greet; the read ends when the client hangs up.
		_, _ = c.Read(make([]byte, 1))
	})
	closed := faketest.RefusedAddr(t)
	// greets starts a server whose greeting is g; it then reads until the
	// client hangs up.
	greets := func(g string) string {
		return faketest.Start(t, faketest.Options{ConnTimeout: time.Minute}, func(c net.Conn) {
			_, _ = c.Write([]byte(g))
			_, _ = c.Read(make([]byte, 1))
		}).Addr
	}
	bye, no, popERR, smtp554 := greets("* BYE go away\r\n"), greets("* NO not now\r\n"), greets("-ERR go away\r\n"), greets("554 5.3.2 go away\r\n")
	// Greetings out of turn, no refusal: the server's garbage (review A:
	// these counted no).
	bad, exists, noop, smtp250 := greets("* BAD what\r\n"), greets("* 3 EXISTS\r\n"), greets("* NOOP\r\n"), greets("250 hello\r\n")
	byeBare := greets("* bye\r\n")

	// An attempt fails the test when the login succeeds, and returns its
	// error.
	type attempt func(t *testing.T, ep transport.Endpoint, pass string, rec Recorder, timeout time.Duration) error
	// imapLoginWith is the attempt of a PC speaking through client.
	imapLoginWith := func(client string) attempt {
		return func(t *testing.T, ep transport.Endpoint, pass string, rec Recorder, timeout time.Duration) error {
			d, err := New(Options{
				ID: "alice/pc-imap", Profile: &Profile{Name: "pc-imap", Kind: KindPC, Protocol: IMAP, IMAPClient: client},
				Username: "alice", Password: pass, Address: "alice@example.com", IMAP: ep,
				Clock: c2Clock(), Recorder: rec, Timeout: timeout,
			})
			if err != nil {
				t.Fatal(err)
			}
			s, err := d.(*imapDevice).dialIMAP(context.Background(), true)
			if err == nil {
				s.close()
				t.Fatal("login succeeded")
			}
			return err
		}
	}
	imapLogin := imapLoginWith(IMAPClientLean)
	pop3Login := func(t *testing.T, ep transport.Endpoint, pass string, rec Recorder, timeout time.Duration) error {
		d, err := New(Options{
			ID: "alice/phone-pop3", Profile: &Profile{Name: "phone-pop3", Kind: KindPhone, Protocol: POP3},
			Username: "alice", Password: pass, Address: "alice@example.com", POP3: ep,
			Clock: c2Clock(), Recorder: rec, Timeout: timeout,
		})
		if err != nil {
			t.Fatal(err)
		}
		err = d.(*pop3Device).Poll(context.Background())
		if err == nil {
			t.Fatal("poll succeeded")
		}
		return err
	}
	smtpLogin := func(t *testing.T, ep transport.Endpoint, pass string, rec Recorder, timeout time.Duration) error {
		s := NewSMTPSubmitter(ep, SMTPOptions{Username: "alice", Password: pass, Recorder: rec, Timeout: timeout})
		err := s.Submit(context.Background(), "alice@example.com", []string{"alice@example.com"}, []byte("Subject: x\r\n\r\nx\r\n"))
		if err == nil {
			t.Fatal("submission succeeded")
		}
		return err
	}
	tests := []struct {
		name  string
		try   attempt
		ep    transport.Endpoint
		pass  string
		proto string
		want  transport.Outcome
	}{
		{"imap wrong password", imapLogin, transport.Endpoint{Addr: addrs.IMAP}, "wrong", "imap", transport.OutcomeAuth},
		{"imap closed port", imapLogin, transport.Endpoint{Addr: closed}, "secret", "imap", transport.OutcomeRefused},
		{"imap no greeting", imapLogin, transport.Endpoint{Addr: silent}, "secret", "imap", transport.OutcomeTimeout},
		{"imap untrusted certificate", imapLogin, transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, "secret", "imap", transport.OutcomeTLS},
		{"imap starttls untrusted certificate", imapLogin, transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSStartTLS}, "secret", "imap", transport.OutcomeTLS},
		{"pop3 wrong password", pop3Login, transport.Endpoint{Addr: addrs.POP3}, "wrong", "pop3", transport.OutcomeAuth},
		{"pop3 closed port", pop3Login, transport.Endpoint{Addr: closed}, "secret", "pop3", transport.OutcomeRefused},
		{"pop3 no greeting", pop3Login, transport.Endpoint{Addr: silent}, "secret", "pop3", transport.OutcomeTimeout},
		{"pop3 untrusted certificate", pop3Login, transport.Endpoint{Addr: addrs.POP3S, TLS: transport.TLSImplicit}, "secret", "pop3", transport.OutcomeTLS},
		{"pop3 stls untrusted certificate", pop3Login, transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSStartTLS}, "secret", "pop3", transport.OutcomeTLS},
		{"smtp wrong password", smtpLogin, transport.Endpoint{Addr: addrs.SMTP}, "wrong", "smtp", transport.OutcomeAuth},
		{"smtp closed port", smtpLogin, transport.Endpoint{Addr: closed}, "secret", "smtp", transport.OutcomeRefused},
		{"smtp no greeting", smtpLogin, transport.Endpoint{Addr: silent}, "secret", "smtp", transport.OutcomeTimeout},
		{"imap greeting BYE", imapLogin, transport.Endpoint{Addr: bye}, "secret", "imap", transport.OutcomeNo},
		{"imap greeting BYE, go-imap", imapLoginWith(IMAPClientGoIMAP), transport.Endpoint{Addr: bye}, "secret", "imap", transport.OutcomeNo},
		{"imap greeting NO", imapLogin, transport.Endpoint{Addr: no}, "secret", "imap", transport.OutcomeNo},
		{"imap greeting NO, go-imap", imapLoginWith(IMAPClientGoIMAP), transport.Endpoint{Addr: no}, "secret", "imap", transport.OutcomeNo},
		{"imap starttls greeting BYE", imapLogin, transport.Endpoint{Addr: bye, TLS: transport.TLSStartTLS}, "secret", "imap", transport.OutcomeNo},
		{"pop3 greeting -ERR", pop3Login, transport.Endpoint{Addr: popERR}, "secret", "pop3", transport.OutcomeNo},
		{"smtp greeting 554", smtpLogin, transport.Endpoint{Addr: smtp554}, "secret", "smtp", transport.OutcomeNo},
		{"imap greeting BAD", imapLogin, transport.Endpoint{Addr: bad}, "secret", "imap", transport.OutcomeError},
		{"imap greeting BAD, go-imap", imapLoginWith(IMAPClientGoIMAP), transport.Endpoint{Addr: bad}, "secret", "imap", transport.OutcomeBad},
		{"imap greeting EXISTS", imapLogin, transport.Endpoint{Addr: exists}, "secret", "imap", transport.OutcomeError},
		{"imap starttls greeting NOOP", imapLogin, transport.Endpoint{Addr: noop, TLS: transport.TLSStartTLS}, "secret", "imap", transport.OutcomeError},
		{"imap starttls greeting EXISTS", imapLogin, transport.Endpoint{Addr: exists, TLS: transport.TLSStartTLS}, "secret", "imap", transport.OutcomeError},
		{"imap starttls greeting bye, lower case and bare", imapLogin, transport.Endpoint{Addr: byeBare, TLS: transport.TLSStartTLS}, "secret", "imap", transport.OutcomeNo},
		{"smtp greeting 250", smtpLogin, transport.Endpoint{Addr: smtp250}, "secret", "smtp", transport.OutcomeError},
		{"smtp untrusted certificate", smtpLogin, transport.Endpoint{Addr: addrs.IMAPS, TLS: transport.TLSImplicit}, "secret", "smtp", transport.OutcomeTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &loginRecorder{}
			timeout := answerTimeout
			if tc.ep.Addr == silent {
				timeout = loginTimeout
			}
			err := tc.try(t, tc.ep, tc.pass, rec, timeout)
			if tc.ep.Addr == silent {
				// A server that never greets is named once, with what
				// the deadline cut.
				if want := tc.proto + " " + silent + ": greeting: no greeting within " + loginTimeout.String(); !strings.HasPrefix(err.Error(), want) ||
					strings.Count(err.Error(), tc.proto+" "+silent) != 1 || strings.Count(err.Error(), "greeting") != 2 {
					t.Errorf("error %q, want it to say %q once", err, want)
				}
			}
			want := []string{tc.proto + ":" + string(tc.want)}
			if got := rec.take(); !reflect.DeepEqual(got, want) {
				t.Errorf("logins %v, want %v", got, want)
			}
		})
	}
}

// loginRecorder keeps the login attempts, as "protocol:outcome".
type loginRecorder struct {
	DiscardRecorder
	mu     sync.Mutex
	logins []string
}

func (r *loginRecorder) Login(protocol string, o transport.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logins = append(r.logins, protocol+":"+string(o))
}

func (r *loginRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logins
}

// TestIMAPOversizedReply runs a PC against a server that answers
// CAPABILITY with an endless line: the command and the login attempt are
// error, the device keeps retrying on new connections without growing, and
// it stops cleanly.
func TestIMAPOversizedReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := serveLoopback(t, ln, func(c net.Conn) {
		_, _ = c.Write([]byte("* OK fake\r\n"))
		if _, err := c.Read(make([]byte, 512)); err != nil {
			return
		}
		_, _ = c.Write([]byte("* CAPABILITY "))
		chunk := make([]byte, 32<<10)
		for i := range chunk {
			chunk[i] = 'X'
		}
		for i := 0; i < 1<<15; i++ { // at most 1 GiB; ends when the client hangs up
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	})
	rec := &imapRecorder{}
	o := Options{
		ID: "alice/pc-imap", Profile: &Profile{Name: "pc-imap", Kind: KindPC, Protocol: IMAP, Connections: 1},
		Username: "alice", Password: "secret", Address: "alice@example.com",
		IMAP: transport.Endpoint{Addr: addr}, Clock: c2Clock(), Recorder: rec, Timeout: 5 * time.Second,
	}
	_ = startDevice(t, o)
	c2WaitFor(t, "three failed login attempts (a retry after backoff)", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.logins) >= 3
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, l := range rec.logins {
		if l != transport.OutcomeError {
			t.Errorf("login outcome %s, want error", l)
		}
	}
	sawCap := false
	for _, ev := range rec.cmds {
		if ev.Command == "CAPABILITY" {
			sawCap = true
			if ev.Outcome != transport.OutcomeError {
				t.Errorf("CAPABILITY outcome %s, want error", ev.Outcome)
			}
		}
	}
	if !sawCap {
		t.Error("no CAPABILITY recorded")
	}
}
