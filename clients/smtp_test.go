package clients

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/faketest"
	"github.com/mailsim/mailsim/internal/mailservertest"
	"github.com/mailsim/mailsim/internal/transport"
)

// c2SMTPBackend accepts mail for anyone but "nobody@...", after AUTH PLAIN.
type c2SMTPBackend struct {
	mu   sync.Mutex
	mail []c2Submission
}

type c2SMTPSession struct {
	b      *c2SMTPBackend
	authed bool
	from   string
	to     []string
}

func (b *c2SMTPBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &c2SMTPSession{b: b}, nil
}

func (s *c2SMTPSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *c2SMTPSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "alice" || pass != "secret" {
			return smtp.ErrAuthFailed
		}
		s.authed = true
		return nil
	}), nil
}

func (s *c2SMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *c2SMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if strings.HasPrefix(to, "nobody@") {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *c2SMTPSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.mail = append(s.b.mail, c2Submission{s.from, s.to, raw})
	return nil
}

func (s *c2SMTPSession) Reset()        { s.from, s.to = "", nil }
func (s *c2SMTPSession) Logout() error { return nil }

// startSMTP serves submission on 127.0.0.1:0; tlsCfg nil means plain text,
// implicit wraps the listener in TLS.
func startSMTP(t *testing.T, tlsCfg *tls.Config, implicit bool) (*c2SMTPBackend, string) {
	t.Helper()
	be := &c2SMTPBackend{}
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.ErrorLog = c2QuietLog{}
	var ln net.Listener
	var err error
	if implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		srv.TLSConfig = tlsCfg
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return be, ln.Addr().String()
}

// c2QuietLog drops the test server's log (clients hang up on it on purpose).
type c2QuietLog struct{}

func (c2QuietLog) Printf(string, ...interface{}) {}
func (c2QuietLog) Println(...interface{})        {}

func TestSMTPSubmitter(t *testing.T) {
	srvTLS, cliTLS := mailservertest.TLS(t)
	msg := []byte("Message-ID: <m1@example.com>\r\nSubject: hi\r\n\r\n.starts with a dot\r\nbody\r\n")
	tests := []struct {
		name      string
		tls       transport.TLSMode
		user      string
		to        []string
		wantCmds  string
		wantTo    []string // delivered to; nil: nothing delivered
		wantErr   bool
		rejected  int
		clientTLS *tls.Config
	}{
		{name: "plain", tls: transport.TLSNone, user: "alice", to: []string{"bob@example.com", "carol@example.com"},
			wantCmds: "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:ok DATA:ok QUIT:ok", wantTo: []string{"bob@example.com", "carol@example.com"}},
		{name: "recipient named twice", tls: transport.TLSNone, user: "alice", to: []string{"bob@example.com", "carol@example.com", "bob@EXAMPLE.com", "bob@example.com"},
			wantCmds: "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:ok DATA:ok QUIT:ok", wantTo: []string{"bob@example.com", "carol@example.com"}},
		{name: "starttls", tls: transport.TLSStartTLS, user: "alice", to: []string{"bob@example.com"}, clientTLS: cliTLS,
			wantCmds: "CONNECT:ok STARTTLS:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok DATA:ok QUIT:ok", wantTo: []string{"bob@example.com"}},
		{name: "implicit tls", tls: transport.TLSImplicit, user: "alice", to: []string{"bob@example.com"}, clientTLS: cliTLS,
			wantCmds: "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok DATA:ok QUIT:ok", wantTo: []string{"bob@example.com"}},
		{name: "one recipient refused", tls: transport.TLSNone, user: "alice", to: []string{"nobody@example.com", "bob@example.com"},
			wantCmds: "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:no RCPT:ok DATA:ok QUIT:ok", wantTo: []string{"bob@example.com"}, wantErr: true, rejected: 1},
		{name: "every recipient refused", tls: transport.TLSNone, user: "alice", to: []string{"nobody@example.com"},
			wantCmds: "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:no QUIT:ok", wantErr: true, rejected: 1},
		{name: "bad password", tls: transport.TLSNone, user: "mallory", to: []string{"bob@example.com"},
			wantCmds: "CONNECT:ok EHLO:ok AUTH:no QUIT:ok", wantErr: true},
		{name: "untrusted certificate", tls: transport.TLSStartTLS, user: "alice", to: []string{"bob@example.com"},
			// The server says 220 to STARTTLS; the handshake is STARTTLS's.
			wantCmds: "CONNECT:ok STARTTLS:tls", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var be *c2SMTPBackend
			var addr string
			switch tc.tls {
			case transport.TLSNone:
				be, addr = startSMTP(t, nil, false)
			case transport.TLSStartTLS:
				be, addr = startSMTP(t, srvTLS, false)
			case transport.TLSImplicit:
				be, addr = startSMTP(t, srvTLS, true)
			}
			rec := &c2Recorder{}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr, TLS: tc.tls}, SMTPOptions{
				Username: tc.user, Password: "secret", TLS: tc.clientTLS, Recorder: rec, Timeout: 5 * time.Second,
			})
			err := sub.Submit(context.Background(), "alice@example.com", tc.to, msg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Submit = %v, wantErr %v", err, tc.wantErr)
			}
			var certErr *tls.CertificateVerificationError
			if tc.clientTLS == nil && tc.tls != transport.TLSNone && !errors.As(err, &certErr) {
				t.Errorf("untrusted certificate: %v, want a verification error", err)
			}
			var re *RecipientsError
			if tc.rejected > 0 && (!errors.As(err, &re) || len(re.Rejected) != tc.rejected || !strings.Contains(err.Error(), "nobody@example.com")) {
				t.Errorf("error %v does not list the refused recipient", err)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq(tc.wantCmds)) {
				t.Errorf("commands\n got %v\nwant %v", got, tc.wantCmds)
			}
			if n := rec.open("smtp"); n != 0 || rec.opened != 1 {
				t.Errorf("connections: %d opened, %d left open", rec.opened, n)
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if tc.wantTo == nil {
				if len(be.mail) != 0 {
					t.Errorf("delivered %d messages, want none", len(be.mail))
				}
				return
			}
			if len(be.mail) != 1 {
				t.Fatalf("delivered %d messages, want 1", len(be.mail))
			}
			got := be.mail[0]
			if got.from != "alice@example.com" || !reflect.DeepEqual(got.to, tc.wantTo) || !bytes.Equal(got.raw, msg) {
				t.Errorf("delivered from %s to %v %q", got.from, got.to, got.raw)
			}
		})
	}
}

func TestSMTPSubmitterErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A server that accepts and never speaks: the timeout ends it.
	addr := serveLoopback(t, ln, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	rec := &c2Recorder{}
	sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Username: "alice", Password: "x", Recorder: rec, Timeout: 200 * time.Millisecond})
	err = sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("x\r\n"))
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("silent server: %v", err)
	}
	if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq("CONNECT:timeout")) {
		t.Errorf("commands %v", got)
	}
	// The same with a context that ends first.
	slow := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Timeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = slow.Submit(ctx, "alice@example.com", []string{"bob@example.com"}, []byte("x\r\n"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("cancelled submission: %v, want context.DeadlineExceeded", err)
	}
	if err := sub.Submit(context.Background(), "a@b", nil, nil); err == nil {
		t.Error("no recipients accepted")
	}
	// A server that refuses the connection (faketest.RefusedAddr: no
	// other test's listener can take its port, as one of a closed
	// listener could): the refusal itself, naming the server, counted
	// refused. Before 2026-12-05 the listener above was closed, and any
	// error naming its port passed.
	rec.take("smtp")
	refused := faketest.RefusedAddr(t)
	sub = NewSMTPSubmitter(transport.Endpoint{Addr: refused}, SMTPOptions{Username: "alice", Password: "x", Recorder: rec, Timeout: 5 * time.Second})
	err = sub.Submit(context.Background(), "a@b", []string{"c@d"}, []byte("x"))
	var se *transport.ServerError
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &se) || se.Addr != refused {
		t.Errorf("refused connection: %v, want the refusal (ECONNREFUSED) at %s", err, refused)
	}
	if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq("CONNECT:refused")) {
		t.Errorf("refused connection: commands %v, want CONNECT:refused", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.logins) == 0 || rec.logins[len(rec.logins)-1] != transport.OutcomeRefused {
		t.Errorf("refused connection: logins %v, the last want %s", rec.logins, transport.OutcomeRefused)
	}
}

// stallingSMTP is a submission server that greets and then leaves one
// step of a STARTTLS upgrade unanswered: the EHLO ("ehlo"), STARTTLS
// ("starttls") or, having said 220 to STARTTLS, the TLS handshake
// ("handshake"). It holds the connection until its deadline.
func stallingSMTP(stall string) func(net.Conn) {
	return func(c net.Conn) {
		_, _ = c.Write([]byte("220 stall.test ESMTP\r\n"))
		r := bufio.NewReader(c)
		for range 10 {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO") && stall != "ehlo":
				_, _ = c.Write([]byte("250-stall.test\r\n250 STARTTLS\r\n"))
				continue
			case cmd == "STARTTLS" && stall == "handshake":
				_, _ = c.Write([]byte("220 go ahead\r\n"))
			}
			_, _ = io.Copy(io.Discard, r) // the stall
			return
		}
	}
}

// TestSMTPStartTLSStalled submits over starttls to servers that stall
// at each step of the upgrade, with a short timeout: the submission fails
// as a timeout of STARTTLS soon after, where go-smtp's own 5-minute
// command timeout held it (a hold over 20 s fails the test).
func TestSMTPStartTLSStalled(t *testing.T) {
	_, cliTLS := mailservertest.TLS(t)
	for _, stall := range []string{"ehlo", "starttls", "handshake"} {
		t.Run(stall, func(t *testing.T) {
			srv := faketest.Start(t, faketest.Options{ConnTimeout: time.Minute}, stallingSMTP(stall))
			rec := &c2Recorder{}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: srv.Addr, TLS: transport.TLSStartTLS}, SMTPOptions{
				Username: "alice", Password: "secret", TLS: cliTLS, Recorder: rec, Timeout: 300 * time.Millisecond,
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- sub.Submit(ctx, "alice@example.com", []string{"bob@example.com"}, []byte("x\r\n")) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				cancel()
				t.Fatalf("the submission still waits after 20 s (its timeout is 300ms)")
			}
			if o := transport.OutcomeOf(err); o != transport.OutcomeTimeout {
				t.Errorf("Submit = %v (%s), want a timeout", err, o)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq("CONNECT:ok STARTTLS:timeout")) {
				t.Errorf("commands %v, want CONNECT:ok STARTTLS:timeout", got)
			}
			if !reflect.DeepEqual(rec.logins, []transport.Outcome{transport.OutcomeTimeout}) {
				t.Errorf("logins %v, want one timeout", rec.logins)
			}
		})
	}
}

// TestSMTPSubmitterServerClosed: a submission server that answers 421
// (closing the connection, as at its shutdown), or hangs up, fails that
// command, and the submitter sends nothing after it: a QUIT would only
// fail and count as a second failed command.
func TestSMTPSubmitterServerClosed(t *testing.T) {
	for _, tt := range []struct {
		at   string // the verb answered 421, or, ending in "!", hung up at
		want string // the commands recorded
	}{
		{"AUTH", "CONNECT:ok EHLO:ok AUTH:no"},
		{"MAIL", "CONNECT:ok EHLO:ok AUTH:ok MAIL:no"},
		{"RCPT", "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:no"},
		{"MAIL!", "CONNECT:ok EHLO:ok AUTH:ok MAIL:error"},
	} {
		t.Run(tt.at, func(t *testing.T) {
			addr := fakeSubmission(t, func(c net.Conn, verb string) (bool, bool) {
				switch verb {
				case tt.at:
					fmt.Fprintf(c, "421 4.3.2 Shutting down\r\n")
					return true, false
				case strings.TrimSuffix(tt.at, "!"):
					return true, false // hangs up without a word
				}
				return false, true
			})
			rec := &c2Recorder{}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Username: "alice", Password: "x", Recorder: rec, Timeout: 2 * time.Second})
			if err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("x\r\n")); !ServerClosed(err) {
				t.Errorf("submission: %v, want the 421", err)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq(tt.want)) {
				t.Errorf("commands %v, want %v", got, c2Seq(tt.want))
			}
		})
	}
}

// TestSMTPSubmitterStalled: a submission server that leaves a command
// unanswered fails it with a timeout, and the submitter closes without a
// QUIT: one would wait out its own deadline, count the server's one stall
// a second time, and read a late reply as its own.
func TestSMTPSubmitterStalled(t *testing.T) {
	for _, tt := range []struct {
		at   string // the verb left unanswered
		want string // the commands recorded
	}{
		{"AUTH", "CONNECT:ok EHLO:ok AUTH:timeout"},
		{"MAIL", "CONNECT:ok EHLO:ok AUTH:ok MAIL:timeout"},
		{"RCPT", "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:timeout"},
	} {
		t.Run(tt.at, func(t *testing.T) {
			stalled := false
			addr := fakeSubmission(t, func(c net.Conn, verb string) (bool, bool) {
				if stalled || verb == tt.at {
					stalled = true // reads on, answers nothing
					return true, true
				}
				return false, true
			})
			rec := &c2Recorder{}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Username: "alice", Password: "x", Recorder: rec, Timeout: 300 * time.Millisecond})
			if err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("x\r\n")); !TimedOut(err) {
				t.Errorf("submission: %v, want a timeout", err)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq(tt.want)) {
				t.Errorf("commands %v, want %v", got, c2Seq(tt.want))
			}
		})
	}
}

// TestSMTPSubmitterEndlessReply: a submission server whose reply never
// ends (endless "250-" lines, each short) fails the command it answers at
// once, counted once as error, the connection closed: go-smtp's reply is
// bounded (internal/transport/smtp.go, replyLimiter). An endless reply to
// the end of data leaves the message unanswered: it went out whole.
func TestSMTPSubmitterEndlessReply(t *testing.T) {
	for _, tt := range []struct {
		at         string // the verb answered without end
		unanswered bool
		want       string // the commands recorded
	}{
		{"EHLO", false, "CONNECT:ok EHLO:error"},
		{"RCPT", false, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:error"},
		{".", true, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok DATA:error"},
	} {
		t.Run(tt.at, func(t *testing.T) {
			addr := fakeSubmission(t, func(c net.Conn, verb string) (bool, bool) {
				if verb != tt.at {
					return false, true
				}
				_ = faketest.Repeat(c, []byte("250-hostile never ends\r\n"), 64<<20)
				return true, false
			})
			rec := &c2Recorder{}
			sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Username: "alice", Password: "x", Recorder: rec, Timeout: 5 * time.Second})
			err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com"}, []byte("Subject: x\r\n\r\nx\r\n"))
			if !errors.Is(err, transport.ErrReplyTooLarge) || errors.Is(err, ErrUnanswered) != tt.unanswered {
				t.Errorf("submission: %.300v; want ErrReplyTooLarge, unanswered %v", err, tt.unanswered)
			}
			if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq(tt.want)) {
				t.Errorf("commands %v, want %v", got, c2Seq(tt.want))
			}
			if n := rec.open("smtp"); n != 0 {
				t.Errorf("%d connections left open", n)
			}
		})
	}
}

// TestSMTPSubmitterUnanswered: a submission whose message data went out
// whole and whose reply never came — the server hung up, stalled past the
// deadline, or answered garbage — fails with an *UnansweredError naming
// the recipients the server accepted (it may have taken the message);
// one that failed before the data went out, or that the server answered,
// is no such failure.
func TestSMTPSubmitterUnanswered(t *testing.T) {
	for _, tt := range []struct {
		name       string
		at         string // the verb misbehaved at ("." the end of data)
		reply      string // what the server says there ("" hangs up, "stall" reads on)
		unanswered bool
		want       string // the commands recorded
	}{
		{"hang-up after the data", ".", "", true, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:no DATA:error"},
		{"stall after the data", ".", "stall", true, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:no DATA:timeout"},
		{"garbage after the data", ".", "hello\r\n", true, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:no DATA:error"},
		{"refused after the data", ".", "554 5.6.0 no\r\n", false, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:no DATA:no"},
		{"421 after the data", ".", "421 4.3.2 Shutting down\r\n", false, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:no DATA:no"},
		{"hang-up at DATA", "DATA", "", false, "CONNECT:ok EHLO:ok AUTH:ok MAIL:ok RCPT:ok RCPT:no DATA:error"},
	} {
		for _, network := range []transport.Network{{}, {Latency: 2 * time.Millisecond}} {
			name := tt.name
			if network.Latency > 0 {
				name += "/shaped" // the data waits for the reply's read (transport.Conn.Cork)
			}
			t.Run(name, func(t *testing.T) {
				stalled, rcpts := false, 0
				addr := fakeSubmission(t, func(c net.Conn, verb string) (bool, bool) {
					if verb == "RCPT" {
						rcpts++
					}
					switch {
					case stalled:
						return true, true
					case verb == "RCPT" && rcpts == 2:
						fmt.Fprintf(c, "550 5.1.1 no such user\r\n")
						return true, true
					case verb != tt.at:
						return false, true
					case tt.reply == "stall":
						stalled = true // reads on, answers nothing
						return true, true
					case tt.reply == "":
						return true, false
					}
					fmt.Fprint(c, tt.reply)
					return true, !strings.HasPrefix(tt.reply, "421")
				})
				rec := &c2Recorder{}
				// Short for the stall, which waits it out; long elsewhere,
				// so that a loaded machine's slow reply is no timeout.
				timeout := 10 * time.Second
				if tt.reply == "stall" {
					timeout = 300 * time.Millisecond
				}
				sub := NewSMTPSubmitter(transport.Endpoint{Addr: addr}, SMTPOptions{Username: "alice", Password: "x", Recorder: rec,
					Timeout: timeout, Network: network})
				err := sub.Submit(context.Background(), "alice@example.com", []string{"bob@example.com", "nobody@example.com"}, []byte("Subject: x\r\n\r\nx\r\n"))
				var ue *UnansweredError
				if got := errors.As(err, &ue); got != tt.unanswered || got != errors.Is(err, ErrUnanswered) {
					t.Fatalf("submission: %v; unanswered %v, want %v", err, got, tt.unanswered)
				}
				if ue != nil && !reflect.DeepEqual(ue.Recipients, []string{"bob@example.com"}) {
					t.Errorf("recipients %v, want the one accepted", ue.Recipients)
				}
				if tt.reply == "stall" && !TimedOut(err) {
					t.Errorf("submission: %v, want a timeout under it", err)
				}
				if got := rec.take("smtp"); !reflect.DeepEqual(got, c2Seq(tt.want)) {
					t.Errorf("commands %v, want %v", got, c2Seq(tt.want))
				}
			})
		}
	}
}

// fakeSubmission serves a submission server on loopback for the test:
// it greets, then gives each command's verb (upper case) to answer, which
// replies on c or not, and returns false to hang up; EHLO, AUTH and the
// rest are answered as a working server would when answer leaves them
// (handled false). A DATA answer leaves is followed by the message data,
// read whole, and then by the verb "." for its end.
func fakeSubmission(t *testing.T, answer func(c net.Conn, verb string) (handled, goOn bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveLoopback(t, ln, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		fmt.Fprintf(c, "220 fake\r\n")
		for n := 0; n < 100; n++ {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
			if handled, goOn := answer(c, verb); handled {
				if !goOn {
					return
				}
				continue
			}
			switch verb {
			case "DATA":
				fmt.Fprintf(c, "354 go on\r\n")
				for line != ".\r\n" {
					if line, err = r.ReadString('\n'); err != nil {
						return
					}
				}
				if handled, goOn := answer(c, "."); handled {
					if !goOn {
						return
					}
					continue
				}
				fmt.Fprintf(c, "250 ok\r\n")
			case "EHLO":
				fmt.Fprintf(c, "250-fake\r\n250 AUTH PLAIN\r\n")
			case "AUTH":
				fmt.Fprintf(c, "235 ok\r\n")
			default:
				fmt.Fprintf(c, "250 ok\r\n")
			}
		}
	})
}
