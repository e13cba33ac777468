package mailserver

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/mailsim/mailsim/internal/view"
)

func TestLMTPDeliverySeenByIMAPAndPOP3(t *testing.T) {
	rec := newCountingRecorder()
	_, addrs := testServer(t, Options{Recorder: rec})
	msg := testMessage("<m1@test>", "first")
	if errs := lmtpSend(t, addrs.LMTP, msg, "alice@example.com"); errs[0] != nil {
		t.Fatalf("rcpt: %v", errs[0])
	}

	c := imapLogin(t, addrs.IMAP, "alice", nil)
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 1 {
		t.Fatalf("INBOX has %d messages, want 1", sel.NumMessages)
	}
	bs := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{UID: true, Envelope: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{bs}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("fetched %d messages", len(msgs))
	}
	if got := string(msgs[0].FindBodySection(bs)); got != msg {
		t.Errorf("IMAP body = %q, want %q", got, msg)
	}
	if msgs[0].Envelope == nil || msgs[0].Envelope.MessageID != "m1@test" {
		t.Errorf("envelope = %+v", msgs[0].Envelope)
	}
	if msgs[0].RFC822Size != int64(len(msg)) {
		t.Errorf("RFC822.SIZE = %d, want %d", msgs[0].RFC822Size, len(msg))
	}

	p := pop3Login(t, addrs.POP3, "alice")
	defer p.Quit()
	n, size, err := p.Stat()
	if err != nil || n != 1 || size != len(msg) {
		t.Fatalf("STAT = %d %d %v, want 1 %d", n, size, err, len(msg))
	}
	raw, err := p.RetrRaw(1)
	if err != nil {
		t.Fatal(err)
	}
	// go-pop3 does not undo dot-stuffing: the server must have doubled the dot.
	if want := strings.Replace(msg, "\r\n.leading", "\r\n..leading", 1); raw.String() != want {
		t.Errorf("RETR = %q, want %q", raw.String(), want)
	}
	if got := rec.deliveries("lmtp"); got != 1 {
		t.Errorf("Delivered(lmtp) = %d, want 1", got)
	}
}

func TestIDLESeesFlagsFromOtherSession(t *testing.T) {
	_, addrs := testServer(t, Options{})
	lmtpSend(t, addrs.LMTP, testMessage("<f1@test>", "flags"), "alice@example.com")

	flagsSeen := make(chan []imap.Flag, 4)
	watcher := imapLogin(t, addrs.IMAP, "alice", &imapclient.UnilateralDataHandler{
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err == nil {
				flagsSeen <- buf.Flags
			}
		},
	})
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}

	actor := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := actor.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged, imap.FlagSeen}}
	if err := actor.Store(imap.SeqSetNum(1), store, nil).Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case flags := <-flagsSeen:
		got := map[imap.Flag]bool{}
		for _, f := range flags {
			got[f] = true
		}
		if !got[imap.FlagFlagged] || !got[imap.FlagSeen] {
			t.Errorf("IDLE saw flags %v, want \\Flagged and \\Seen", flags)
		}
	case <-time.After(testDeadline):
		t.Fatal("no FETCH FLAGS during IDLE")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestPOP3DeleSeenAsIMAPExpunge(t *testing.T) {
	s, addrs := testServer(t, Options{})
	lmtpSend(t, addrs.LMTP, testMessage("<d1@test>", "one"), "alice@example.com")
	lmtpSend(t, addrs.LMTP, testMessage("<d2@test>", "two"), "alice@example.com")

	expunged := make(chan uint32, 4)
	watcher := imapLogin(t, addrs.IMAP, "alice", &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunged <- seq },
	})
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}

	p := pop3Login(t, addrs.POP3, "alice")
	ids, err := p.Uidl(0)
	if err != nil || len(ids) != 2 {
		t.Fatalf("UIDL = %v, %v", ids, err)
	}
	if err := p.Dele(1); err != nil {
		t.Fatal(err)
	}
	// Nothing is removed before QUIT.
	if st, _ := s.UserState("alice"); len(st.Messages) != 2 {
		t.Fatalf("before QUIT the server has %d messages, want 2", len(st.Messages))
	}
	if err := p.Quit(); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-expunged:
		if seq != 1 {
			t.Errorf("EXPUNGE %d, want 1", seq)
		}
	case <-time.After(testDeadline):
		t.Fatal("no EXPUNGE after POP3 DELE+QUIT")
	}
	idle.Close()
	idle.Wait()

	st, err := s.UserState("alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Messages["<d1@test>"]; ok || len(st.Messages) != 1 {
		t.Errorf("server state after DELE: %v", st.IDs())
	}

	// The remaining message keeps its UIDL in a new session.
	p2 := pop3Login(t, addrs.POP3, "alice")
	defer p2.Quit()
	ids2, err := p2.Uidl(0)
	if err != nil || len(ids2) != 1 || ids2[0].UID != ids[1].UID {
		t.Errorf("UIDL after delete = %v (%v), want [%v]", ids2, err, ids[1].UID)
	}
}

func TestAppendToSentSeenByOtherSession(t *testing.T) {
	rec := newCountingRecorder()
	s, addrs := testServer(t, Options{Recorder: rec})
	exists := make(chan uint32, 4)
	watcher := imapLogin(t, addrs.IMAP, "alice", &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	})
	if _, err := watcher.Select("Sent", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		t.Fatal(err)
	}

	phone := imapLogin(t, addrs.IMAP, "alice", nil)
	msg := testMessage("<sent1@test>", "sent")
	cmd := phone.Append("Sent", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}})
	cmd.Write([]byte(msg))
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if data.UID != 1 || data.UIDValidity == 0 {
		t.Errorf("APPENDUID = %+v", data)
	}
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(testDeadline):
		t.Fatal("no EXISTS after APPEND")
	}
	idle.Close()
	idle.Wait()

	st, _ := s.UserState("alice")
	if got := st.Messages["<sent1@test>"]; got.Folder != "Sent" || got.Flags != view.Seen {
		t.Errorf("server state = %+v", got)
	}
	if rec.deliveries("imap-append") != 1 {
		t.Errorf("Delivered(imap-append) = %d", rec.deliveries("imap-append"))
	}
	if n := rec.count("imap APPEND ok"); n != 1 {
		t.Errorf("recorded APPEND ok %d times, want 1", n)
	}
	if n := rec.count("imap IDLE ok"); n != 1 {
		t.Errorf("recorded IDLE ok %d times, want 1", n)
	}
}

func TestLMTPRecipients(t *testing.T) {
	s, addrs := testServer(t, Options{})
	errs := lmtpSend(t, addrs.LMTP, testMessage("<r1@test>", "rcpts"),
		"alice+Projects@example.com", "nobody@example.com", "bob@example.com", "someone@elsewhere.org")
	if errs[0] != nil || errs[2] != nil || errs[3] != nil {
		t.Fatalf("accepted recipients failed: %v", errs)
	}
	var se *smtp.SMTPError
	if !errorsAs(errs[1], &se) || se.Code != 550 {
		t.Fatalf("unknown recipient: %v, want 550", errs[1])
	}
	a, _ := s.UserState("alice")
	if got := a.Messages["<r1@test>"].Folder; got != "Projects" {
		t.Errorf("alice+Projects delivered to %q", got)
	}
	b, _ := s.UserState("bob")
	if got := b.Messages["<r1@test>"].Folder; got != "INBOX" {
		t.Errorf("bob delivered to %q", got)
	}
	if s.External() != 1 {
		t.Errorf("External() = %d, want 1", s.External())
	}
}

func TestSMTPSubmission(t *testing.T) {
	rec := newCountingRecorder()
	s, addrs := testServer(t, Options{Recorder: rec})
	c := smtp.NewClient(dial(t, addrs.SMTP))
	defer c.Close()
	if err := c.Hello("client"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@example.com", nil); err == nil {
		t.Fatal("MAIL accepted without AUTH")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice", "wrong")); err == nil {
		t.Fatal("AUTH accepted a wrong password")
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice", "secret")); err != nil {
		t.Fatal(err)
	}
	msg := testMessage("<s1@test>", "submitted")
	if err := c.SendMail("alice@example.com", []string{"bob@example.com", "x@example.org"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	b, _ := s.UserState("bob")
	if _, ok := b.Messages["<s1@test>"]; !ok {
		t.Errorf("bob did not get the message: %v", b.IDs())
	}
	if s.External() != 1 || rec.deliveries("smtp") != 1 {
		t.Errorf("external %d, delivered(smtp) %d; want 1, 1", s.External(), rec.deliveries("smtp"))
	}
	for _, key := range []string{"smtp EHLO ok", "smtp MAIL no", "smtp AUTH no", "smtp AUTH ok", "smtp DATA ok", "smtp QUIT ok"} {
		if rec.count(key) != 1 {
			t.Errorf("recorded %q %d times, want 1", key, rec.count(key))
		}
	}
	if rec.count("smtp RCPT ok") != 2 {
		t.Errorf("recorded RCPT ok %d times, want 2", rec.count("smtp RCPT ok"))
	}
}

func TestUserStateAndUsage(t *testing.T) {
	s, addrs := testServer(t, Options{})
	m1 := testMessage("<u1@test>", "one")
	m2 := testMessage("<u2@test>", "two")
	lmtpSend(t, addrs.LMTP, m1, "alice@example.com")
	lmtpSend(t, addrs.LMTP, m2, "alice@example.com", "bob@example.com")

	c := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered, "$Forwarded"}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.SeqSetNum(2), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := s.UserState("alice")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]view.Message{
		"<u1@test>": {ID: "<u1@test>", Folder: "INBOX", Flags: view.Answered | view.Forwarded},
		"<u2@test>": {ID: "<u2@test>", Folder: "Archive"},
	}
	if len(st.Messages) != len(want) {
		t.Errorf("state has %v", st.IDs())
	}
	for id, w := range want {
		if got := st.Messages[id]; got != w {
			t.Errorf("%s = %+v, want %+v", id, got, w)
		}
	}
	usage := map[string]FolderUsage{}
	for _, u := range s.Usage() {
		usage[u.Role] = u
	}
	if u := usage["inbox"]; u.Messages != 2 || u.Bytes != int64(len(m1)+len(m2)) {
		t.Errorf("inbox usage %+v, want 2 messages %d bytes", u, len(m1)+len(m2))
	}
	if u := usage["archive"]; u.Messages != 1 || u.Bytes != int64(len(m2)) {
		t.Errorf("archive usage %+v", u)
	}
	if _, err := s.UserState("nobody"); err == nil {
		t.Error("UserState of an unknown user did not fail")
	}
}

func TestCloseEndsOpenSessions(t *testing.T) {
	rec := newCountingRecorder()
	s := New(Options{Recorder: rec})
	s.AddUser("alice", "secret")
	addrs, err := s.Listen(ListenConfig{IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c := imapLogin(t, addrs.IMAP, "alice", nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Idle(); err != nil {
		t.Fatal(err)
	}
	p := pop3Login(t, addrs.POP3, "alice")
	_ = p
	lm := newRaw(t, addrs.LMTP)
	lm.until("220")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, proto := range []string{"imap", "pop3", "lmtp"} {
		if n := rec.open(proto); n != 0 {
			t.Errorf("%s connections open after Close: %d", proto, n)
		}
	}
	if _, err := s.Listen(ListenConfig{IMAP: "127.0.0.1:0"}); err == nil {
		t.Error("Listen after Close succeeded")
	}
}

func TestSelfSignedTLS(t *testing.T) {
	cfg, err := SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := testServer(t, Options{TLS: cfg})
	addrs, err := s.Listen(ListenConfig{IMAPS: "127.0.0.1:0", POP3S: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := imapclient.DialTLS(addrs.IMAPS, &imapclient.Options{TLSConfig: clientTLS(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Logout().Wait()
	if _, err := New(Options{}).Listen(ListenConfig{IMAPS: "127.0.0.1:0"}); err == nil {
		t.Error("IMAPS without Options.TLS did not fail")
	}
}

func errorsAs(err error, target interface{}) bool { return err != nil && errors.As(err, target) }

// clientTLS trusts the self-signed certificate of cfg.
func clientTLS(cfg *tls.Config) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(cfg.Certificates[0].Leaf)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func TestSTARTTLS(t *testing.T) {
	cfg, err := SelfSignedTLS("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	rec := newCountingRecorder()
	_, addrs := testServer(t, Options{TLS: cfg, Recorder: rec})

	ic, err := imapclient.NewStartTLS(dial(t, addrs.IMAP), &imapclient.Options{TLSConfig: clientTLS(cfg)})
	if err != nil {
		t.Fatalf("imap starttls: %v", err)
	}
	defer ic.Close()
	if err := ic.Login("alice", "secret").Wait(); err != nil {
		t.Fatal(err)
	}

	sc, err := smtp.NewClientStartTLS(dial(t, addrs.SMTP), clientTLS(cfg))
	if err != nil {
		t.Fatalf("smtp starttls: %v", err)
	}
	defer sc.Close()
	if err := sc.Auth(sasl.NewPlainClient("", "alice", "secret")); err != nil {
		t.Fatal(err)
	}

	r := newRaw(t, addrs.POP3)
	r.until("+OK")
	r.send("CAPA\r\n")
	if l := r.until("STLS"); l != "STLS" {
		t.Fatalf("CAPA lacks STLS")
	}
	r.until(".")
	r.send("STLS\r\n")
	r.until("+OK")
	tr := r.handshake(cfg)
	tr.send("USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")
	tr.until("+OK")
	tr.until("+OK logged in")
	if l := tr.until("+OK"); l != "+OK 0 0" {
		t.Errorf("STAT over TLS = %q", l)
	}
	for _, key := range []string{"imap STARTTLS ok", "smtp STARTTLS ok", "pop3 STLS ok"} {
		if rec.count(key) != 1 {
			t.Errorf("%s recorded %d times", key, rec.count(key))
		}
	}
}
