package mailserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/transport"
)

// tlsServer starts a server like testServer with a fresh self-signed
// certificate and returns it with its configuration.
func tlsServer(t *testing.T, opts Options) (*Server, Addrs, *tls.Config) {
	t.Helper()
	cfg, err := SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	opts.TLS = cfg
	s, addrs := testServer(t, opts)
	return s, addrs, cfg
}

// smtpFrontends are the two frontends of go-smtp, whose STARTTLS the meter
// answers.
var smtpFrontends = []struct {
	proto string
	addr  func(Addrs) string
	hello string
}{
	{ProtoSMTP, func(a Addrs) string { return a.SMTP }, "EHLO"},
	{ProtoLMTP, func(a Addrs) string { return a.LMTP }, "LHLO"},
}

// ehlo sends hello and returns the capability lines of the reply.
func (r *rawSession) ehlo(hello string) []string {
	r.t.Helper()
	r.send(hello + " test.local\r\n")
	var caps []string
	for {
		l, ok := r.line()
		if !ok || !strings.HasPrefix(l, "250") {
			r.t.Fatalf("%s: %q", hello, l)
		}
		caps = append(caps, l[4:])
		if strings.HasPrefix(l, "250 ") {
			return caps
		}
	}
}

// handshake runs the client's TLS handshake on r's connection, trusting
// cfg's certificate, and returns the session over TLS.
func (r *rawSession) handshake(cfg *tls.Config) *rawSession {
	r.t.Helper()
	tc := tls.Client(r.c, clientTLS(cfg))
	if err := tc.Handshake(); err != nil {
		r.t.Fatalf("TLS handshake: %v", err)
	}
	return &rawSession{t: r.t, c: tc, br: bufio.NewReader(tc)}
}

// steps sends each line and reads until a line starting with its reply
// prefix.
func (r *rawSession) steps(steps [][2]string) {
	r.t.Helper()
	for _, st := range steps {
		r.send(st[0] + "\r\n")
		r.until(st[1])
	}
}

// rawSMTPStartTLS returns a raw session on the SMTP or LMTP server at addr
// after the greeting, hello, STARTTLS and the TLS handshake, trusting
// cfg's certificate.
func rawSMTPStartTLS(t *testing.T, addr, hello string, cfg *tls.Config) *rawSession {
	t.Helper()
	r := newRaw(t, addr)
	r.until("220 ")
	r.ehlo(hello)
	r.send("STARTTLS\r\n")
	if l, _ := r.line(); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("STARTTLS: %q", l)
	}
	return r.handshake(cfg)
}

// TestSMTPStartTLSMetered sends mail over STARTTLS, to submission with
// go-smtp's client and to LMTP on a raw connection (the project's clients
// never take LMTP to TLS, nor can go-smtp's LMTP client): every command
// after STARTTLS is recorded with its outcome, as over plain text; the
// mail is stored; the EHLO (LHLO) after TLS no longer announces STARTTLS.
func TestSMTPStartTLSMetered(t *testing.T) {
	for _, fe := range smtpFrontends {
		t.Run(fe.proto, func(t *testing.T) {
			rec := newCountingRecorder()
			s, addrs, cfg := tlsServer(t, Options{Recorder: rec})
			msg := testMessage("<tls@test>", "over TLS")
			if fe.proto == ProtoSMTP {
				sendStartTLS(t, fe.addr(addrs), cfg, msg)
			} else {
				r := rawSMTPStartTLS(t, fe.addr(addrs), fe.hello, cfg)
				if caps := r.ehlo(fe.hello); contains(caps, "STARTTLS") {
					t.Errorf("LHLO over TLS announces STARTTLS: %q", caps)
				}
				for _, st := range [][2]string{
					{"MAIL FROM:<bob@example.com>", "250 "}, {"RCPT TO:<nobody@example.com>", "550 "}, {"RCPT TO:<alice@example.com>", "250 "},
					{"DATA", "354 "}, {msg + ".", "250 "}, {"QUIT", "221 "},
				} {
					r.send(st[0] + "\r\n")
					if l, _ := r.line(); !strings.HasPrefix(l, st[1]) {
						t.Fatalf("%.20q: %q, want %q", st[0], l, st[1])
					}
				}
			}
			waitClosed(t, rec, fe.proto)
			want := map[string]int{
				fe.hello + " ok": 2, "STARTTLS ok": 1, "MAIL ok": 1, "RCPT no": 1, "RCPT ok": 1, "DATA ok": 1, "QUIT ok": 1,
			}
			if fe.proto == ProtoSMTP {
				want["AUTH ok"] = 1
			}
			for k, n := range want {
				if got := rec.count(fe.proto + " " + k); got != n {
					t.Errorf("%s %s recorded %d times, want %d", fe.proto, k, got, n)
				}
			}
			if n := rec.deliveries(fe.proto); n != 1 {
				t.Errorf("%d deliveries recorded, want 1", n)
			}
			st, err := s.UserState("alice")
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := st.Messages["<tls@test>"]; !ok {
				t.Error("the message sent over TLS is not stored")
			}
		})
	}
}

// sendStartTLS submits msg to alice over STARTTLS with go-smtp's client,
// logged in as alice, after a refused recipient.
func sendStartTLS(t *testing.T, addr string, cfg *tls.Config, msg string) {
	t.Helper()
	c, err := smtp.NewClientStartTLS(dial(t, addr), clientTLS(cfg))
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice", "secret")); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Errorf("EHLO over TLS announces STARTTLS")
	}
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("the client is not over TLS")
	}
	if err := c.Mail("bob@example.com", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt("nobody@example.com", nil); err == nil {
		t.Error("RCPT of an unknown user accepted")
	}
	if err := c.Rcpt("alice@example.com", nil); err != nil {
		t.Fatalf("RCPT: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if _, err := io.WriteString(w, msg); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("DATA end: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
}

// TestSMTPStartTLSAnswers checks the replies around STARTTLS on a raw
// connection: announced before TLS only, refused (and recorded) once
// over TLS, and a session after it that knows nothing of the one before
// (RFC 3207 4.2): the AUTH given before STARTTLS no longer counts.
func TestSMTPStartTLSAnswers(t *testing.T) {
	rec := newCountingRecorder()
	s, addrs, cfg := tlsServer(t, Options{Recorder: rec})
	plain := newRaw(t, addrs.SMTP)
	plain.until("220 ")
	if caps := plain.ehlo("EHLO"); !contains(caps, "STARTTLS") {
		t.Errorf("plain EHLO lacks STARTTLS: %q", caps)
	}

	r := newRaw(t, addrs.SMTP)
	r.until("220 ")
	r.ehlo("EHLO")
	r.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
	r.until("235 ")
	r.send("STARTTLS\r\n")
	r.until("220 ")
	r = r.handshake(cfg)
	if caps := r.ehlo("EHLO"); contains(caps, "STARTTLS") || !contains(caps, "AUTH PLAIN") {
		t.Errorf("EHLO over TLS: %q", caps)
	}
	r.send("STARTTLS\r\n")
	if l, _ := r.line(); !strings.HasPrefix(l, "502 ") {
		t.Errorf("STARTTLS over TLS: %q", l)
	}
	r.send("MAIL FROM:<alice@example.com>\r\n")
	if l, _ := r.line(); !strings.HasPrefix(l, "530 ") {
		t.Errorf("MAIL over TLS without AUTH: %q (the AUTH before STARTTLS still counts)", l)
	}
	r.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<alice@example.com>\r\nQUIT\r\n")
	for _, want := range []string{"235 ", "250 ", "221 "} {
		if l, _ := r.line(); !strings.HasPrefix(l, want) {
			t.Errorf("over TLS: %q, want %q", l, want)
		}
	}
	waitClosedAll(t, rec, ProtoSMTP, plain)
	// Both sessions, before and after STARTTLS, ended before the
	// connection closed.
	if n := s.store.user("alice").sessions.Load(); n != 0 {
		t.Errorf("alice has %d sessions open after her connection closed", n)
	}
	for k, n := range map[string]int{"EHLO ok": 3, "AUTH ok": 2, "STARTTLS ok": 1, "STARTTLS bad": 1, "MAIL no": 1, "MAIL ok": 1, "QUIT ok": 1} {
		if got := rec.count("smtp " + k); got != n {
			t.Errorf("smtp %s recorded %d times, want %d", k, got, n)
		}
	}
}

// waitClosedAll closes the raw sessions and waits until the server has no
// open connection of proto.
func waitClosedAll(t *testing.T, rec *countingRecorder, proto string, rs ...*rawSession) {
	t.Helper()
	for _, r := range rs {
		r.c.Close()
	}
	waitClosed(t, rec, proto)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// replyLine matches an SMTP reply line, or a POP3 status line.
var replyLine = regexp.MustCompile(`^([0-9]{3}[ -]|\+OK|-ERR)`)

// TestStartTLSInjection pipelines a command in plain text behind
// STARTTLS (STLS): it must be neither answered nor recorded. The server
// takes it for the start of the TLS handshake, which fails.
func TestStartTLSInjection(t *testing.T) {
	cases := []struct {
		proto, greeting, hello, stls, ok, injected string
		addr                                       func(Addrs) string
	}{
		{ProtoSMTP, "220 ", "EHLO x\r\n", "STARTTLS\r\n", "220 ", "NOOP", func(a Addrs) string { return a.SMTP }},
		{ProtoLMTP, "220 ", "LHLO x\r\n", "STARTTLS\r\n", "220 ", "NOOP", func(a Addrs) string { return a.LMTP }},
		{ProtoPOP3, "+OK", "CAPA\r\n", "STLS\r\n", "+OK", "NOOP", func(a Addrs) string { return a.POP3 }},
	}
	for _, tc := range cases {
		t.Run(tc.proto, func(t *testing.T) {
			rec := newCountingRecorder()
			_, addrs, cfg := tlsServer(t, Options{Recorder: rec})
			r := newRaw(t, tc.addr(addrs))
			r.until(tc.greeting)
			r.send(tc.hello)
			if tc.proto == ProtoPOP3 {
				r.until(".")
			} else {
				r.until("250 ")
			}
			r.send(tc.stls + tc.injected + "\r\n")
			if l, _ := r.line(); !strings.HasPrefix(l, tc.ok) {
				t.Fatalf("%q: %q", tc.stls, l)
			}
			// The handshake fails (or, should the server have dropped the
			// plain text, succeeds): either way no reply may follow in
			// plain text, nor inside TLS.
			tlsc := tls.Client(r.c, clientTLS(cfg))
			if tlsc.Handshake() == nil {
				tlsc.SetDeadline(time.Now().Add(time.Second))
				if l, err := bufio.NewReader(tlsc).ReadString('\n'); err == nil || l != "" {
					t.Errorf("answered inside TLS: %q", l)
				}
			}
			for {
				l, ok := r.line()
				if !ok {
					break
				}
				if replyLine.MatchString(l) {
					t.Errorf("plain text after %q answered: %q", tc.stls, l)
				}
			}
			waitClosedAll(t, rec, tc.proto, r)
			for _, outcome := range []string{OutcomeOK, OutcomeNo, OutcomeBad, OutcomeError} {
				if n := rec.count(tc.proto + " " + tc.injected + " " + outcome); n != 0 {
					t.Errorf("the injected %s recorded as a command: %s %d times", tc.injected, outcome, n)
				}
			}
		})
	}
}

// TestRateLimitAfterStartTLS runs a session of each protocol over
// STARTTLS (STLS) against an empty bucket on a frozen clock: every command
// line, before and after TLS starts, takes one token and waits for it, and
// is recorded.
func TestRateLimitAfterStartTLS(t *testing.T) {
	cases := []struct {
		proto    string
		addr     func(Addrs) string
		greeting string
		before   [][2]string // line sent, reply prefix awaited, in plain text
		after    [][2]string // the same after the handshake
		commands int
	}{
		{ProtoSMTP, func(a Addrs) string { return a.SMTP }, "220 ",
			[][2]string{{"EHLO test", "250 "}, {"STARTTLS", "220 "}},
			[][2]string{{"EHLO test", "250 "}, {"AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 "}, {"NOOP", "250 "}, {"RSET", "250 "}, {"QUIT", "221 "}}, 7},
		{ProtoLMTP, func(a Addrs) string { return a.LMTP }, "220 ",
			[][2]string{{"LHLO test", "250 "}, {"STARTTLS", "220 "}},
			[][2]string{{"LHLO test", "250 "}, {"MAIL FROM:<x@example.net>", "250 "}, {"RCPT TO:<alice@example.com>", "250 "},
				{"DATA", "354 "}, {"Subject: rate\r\n\r\nNOOP\r\n.", "250 "}, {"QUIT", "221 "}}, 7},
		{ProtoPOP3, func(a Addrs) string { return a.POP3 }, "+OK",
			[][2]string{{"STLS", "+OK"}},
			[][2]string{{"USER alice", "+OK"}, {"PASS secret", "+OK"}, {"STAT", "+OK"}, {"QUIT", "+OK"}}, 5},
	}
	for _, tc := range cases {
		t.Run(tc.proto, func(t *testing.T) {
			cfg, err := SelfSignedTLS("127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			rec := newDurationRecorder()
			clock := newVirtualClock()
			srv, addrs := testServer(t, Options{TLS: cfg, Recorder: rec, MaxCommandsPerSecond: 200, now: clock.now})
			drain(srv.limit)
			r := newRaw(t, tc.addr(addrs))
			r.until(tc.greeting)
			r.steps(tc.before)
			r = r.handshake(cfg)
			r.steps(tc.after)
			waitClosedAll(t, rec.countingRecorder, tc.proto, r)
			n, _ := rec.commands(tc.proto)
			st := srv.LimiterStats()
			if n != tc.commands || st.Granted != int64(tc.commands) || st.Waited != int64(tc.commands) || st.Cancelled != 0 {
				t.Errorf("%d commands recorded, limiter %+v; want %d recorded and granted, all after waiting", n, st, tc.commands)
			}
		})
	}
}

// TestPOP3STLSAttributed logs in over STLS with the project's POP3 client
// (internal/transport): the commands after STLS are recorded with their
// outcomes and their service time is attributed to the user.
func TestPOP3STLSAttributed(t *testing.T) {
	rec := newCountingRecorder()
	s, addrs, cfg := tlsServer(t, Options{Recorder: rec})
	conn, err := transport.Dial(context.Background(), transport.Config{
		Protocol: "pop3", Endpoint: transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSStartTLS}, Timeout: testDeadline,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := transport.OpenPOP3(conn, nil)
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	defer p.Close()
	if d, _ := s.UserServiceTime("alice"); d != 0 {
		t.Fatalf("alice has service time %v before logging in", d)
	}
	if err := p.STLS(clientTLS(cfg)); err != nil {
		t.Fatalf("STLS: %v", err)
	}
	if err := p.Login("alice", "secret"); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := p.Cmd("STAT", "STAT"); err != nil {
		t.Fatalf("STAT: %v", err)
	}
	var pe *transport.POP3Error
	if _, err := p.Cmd("RETR", "RETR 9"); !errors.As(err, &pe) {
		t.Fatalf("RETR of no message: %v", err)
	}
	if err := p.Quit(testDeadline); err != nil {
		t.Fatalf("QUIT: %v", err)
	}
	waitClosed(t, rec, ProtoPOP3)
	for k, n := range map[string]int{"CAPA ok": 2, "STLS ok": 1, "AUTH ok": 1, "STAT ok": 1, "RETR no": 1, "QUIT ok": 1} {
		if got := rec.count("pop3 " + k); got != n {
			t.Errorf("pop3 %s recorded %d times, want %d", k, got, n)
		}
	}
	if d, _ := s.UserServiceTime("alice"); d <= 0 {
		t.Errorf("alice's commands after STLS not attributed to her: service time %v", d)
	}
}

// TestStartTLSHangUpMidHandshake starts TLS on every protocol and leaves
// the handshake unfinished: a client that hangs up is let go, and one that
// stays silent does not hold Server.Close back.
func TestStartTLSHangUpMidHandshake(t *testing.T) {
	cfg, err := SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rec := newCountingRecorder()
	s := New(Options{TLS: cfg, Recorder: rec})
	if err := s.AddUser("alice", "secret"); err != nil {
		t.Fatal(err)
	}
	addrs, err := s.Listen(ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	// A TLS record header and the start of a ClientHello, no more.
	const partialHello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"
	sessions := []struct {
		proto, addr, greeting string
		steps                 [][2]string
	}{
		{ProtoSMTP, addrs.SMTP, "220 ", [][2]string{{"EHLO x", "250 "}, {"STARTTLS", "220 "}}},
		{ProtoLMTP, addrs.LMTP, "220 ", [][2]string{{"LHLO x", "250 "}, {"STARTTLS", "220 "}}},
		{ProtoPOP3, addrs.POP3, "+OK", [][2]string{{"STLS", "+OK"}}},
		{ProtoIMAP, addrs.IMAP, "* OK", [][2]string{{"s STARTTLS", "s OK"}}},
	}
	start := func(addr, greeting string, steps [][2]string) *rawSession {
		r := newRaw(t, addr)
		r.until(greeting)
		r.steps(steps)
		r.send(partialHello)
		return r
	}
	for _, ss := range sessions {
		start(ss.addr, ss.greeting, ss.steps).c.Close() // hangs up
		waitClosed(t, rec, ss.proto)
		start(ss.addr, ss.greeting, ss.steps) // stays, silent
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		closed = true
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Server.Close hangs on connections in the middle of a TLS handshake")
	}
	for _, ss := range sessions {
		if n := rec.open(ss.proto); n != 0 {
			t.Errorf("%d %s connections still open after Close", n, ss.proto)
		}
	}
}
