package mailserver

import (
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// serveSMTP returns a function serving SMTP submission (lmtp false) or LMTP
// on a listener until it is closed.
func (s *Server) serveSMTP(lmtp bool) func(net.Listener) {
	return func(ln net.Listener) {
		proto := ProtoSMTP
		if lmtp {
			proto = ProtoLMTP
		}
		srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
			base := &deliverySession{srv: s, via: proto}
			if lmtp {
				return &lmtpSession{base}, nil
			}
			return &submissionSession{deliverySession: base}, nil
		}))
		srv.LMTP = lmtp
		srv.Domain = "mailsim"
		srv.MaxMessageBytes = s.opts.MaxMessageSize
		srv.MaxLineLength = s.opts.MaxLineLength
		srv.MaxRecipients = s.opts.MaxRecipients
		srv.AllowInsecureAuth = true
		srv.ReadTimeout = s.opts.IdleTimeout
		srv.WriteTimeout = s.opts.IdleTimeout
		if s.opts.TLS != nil {
			// The meter answers STARTTLS (meter_smtp.go); go-smtp only
			// announces it.
			srv.TLSConfig = refusingTLS()
		}
		srv.ErrorLog = slogPrintf{s.log, proto}
		ml := &smtpMeterListener{Listener: ln, srv: s, proto: proto, next: make(chan net.Conn), done: make(chan struct{})}
		afterTLS := make(chan struct{})
		go func() {
			defer close(afterTLS)
			srv.Serve(startTLSListener{ml})
		}()
		err := srv.Serve(ml)
		close(ml.done)
		<-afterTLS
		if err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("smtp serve", "protocol", proto, "err", err)
		}
	}
}

// recipient is one accepted RCPT TO.
type recipient struct {
	addr   string
	user   *user  // nil for an external recipient
	folder string // "INBOX" or the +detail folder
	// dup marks an address named again in the same transaction: it is
	// accepted, but gets no second copy, as in Dovecot.
	dup bool
}

// sameAddress reports whether two envelope addresses are the same, as
// Dovecot's LMTP compares them to deliver one copy per recipient: the local
// part exactly, the domain case-insensitively. (Dovecot stores two copies
// for user@ and USER@ naming one user, and so does this server.)
func sameAddress(a, b string) bool {
	la, da, _ := strings.Cut(a, "@")
	lb, db, _ := strings.Cut(b, "@")
	return la == lb && strings.EqualFold(da, db)
}

// accept adds rc to the transaction, marking it dup when an earlier
// recipient has the same address.
func (d *deliverySession) accept(rc recipient) {
	for _, o := range d.rcpts {
		if sameAddress(o.addr, rc.addr) {
			rc.dup = true
			break
		}
	}
	d.rcpts = append(d.rcpts, rc)
}

// deliverySession is the transaction state shared by SMTP and LMTP. Nothing
// is stored before DATA completes.
type deliverySession struct {
	srv   *Server
	via   string
	rcpts []recipient
}

func (d *deliverySession) Reset()        { d.rcpts = nil }
func (d *deliverySession) Logout() error { return nil }

func (d *deliverySession) Mail(from string, _ *smtp.MailOptions) error {
	d.rcpts = nil
	return nil
}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

var errNoSuchRecipient = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}

func (d *deliverySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	local, domain, hasDomain := strings.Cut(to, "@")
	if hasDomain && !strings.EqualFold(domain, d.srv.opts.Domain) {
		if local == "" || domain == "" {
			return errNoSuchRecipient
		}
		d.accept(recipient{addr: to})
		return nil
	}
	name, detail, _ := strings.Cut(local, "+")
	u := d.srv.store.user(name)
	if u == nil {
		return errNoSuchRecipient
	}
	folder := "INBOX"
	if detail != "" {
		folder = detail
	}
	d.accept(recipient{addr: to, user: u, folder: folder})
	return nil
}

// readMessage reads the DATA of one transaction, bounded by MaxMessageSize
// (go-smtp enforces it too).
func (d *deliverySession) readMessage(r io.Reader) ([]byte, error) {
	limit := d.srv.opts.MaxMessageSize
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	}
	return raw, nil
}

// deliver stores msg for one recipient or counts it as external; a
// recipient named again in the transaction (dup) adds nothing.
func (d *deliverySession) deliver(rc recipient, msg *message) error {
	if rc.dup {
		return nil
	}
	if rc.user == nil {
		d.srv.store.external.Add(1)
		return nil
	}
	d.srv.deliver(rc.user, rc.folder, copyMessage(msg))
	d.srv.rec.Delivered(d.via)
	return nil
}

// deliver appends msg to folder of u, creating the folder if missing (as
// Dovecot's lda_mailbox_autocreate); if it cannot be created, INBOX.
func (s *Server) deliver(u *user, folder string, msg *message) {
	u.mu.Lock()
	defer u.mu.Unlock()
	mb := u.mailboxLocked(folder)
	if mb == nil {
		var err error
		if mb, err = s.store.createLocked(u, folder, ""); err != nil {
			mb = u.mailboxLocked("INBOX")
		} else {
			mb.subscribed = true // lda_mailbox_autosubscribe
		}
	}
	s.store.appendLocked(mb, msg)
}

func (d *deliverySession) Data(r io.Reader) error {
	raw, err := d.readMessage(r)
	if err != nil {
		return err
	}
	msg, err := newMessage(raw, nil, time.Now())
	if err != nil {
		return err
	}
	for _, rc := range d.rcpts {
		d.deliver(rc, msg)
	}
	d.rcpts = nil
	return nil
}

// lmtpSession is an LMTP session: DATA answers once per recipient.
type lmtpSession struct{ *deliverySession }

var _ smtp.LMTPSession = lmtpSession{}

func (l lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	raw, err := l.readMessage(r)
	if err != nil {
		return err
	}
	msg, err := newMessage(raw, nil, time.Now())
	if err != nil {
		return err
	}
	for _, rc := range l.rcpts {
		status.SetStatus(rc.addr, l.deliver(rc, msg))
	}
	l.rcpts = nil
	return nil
}

// submissionSession is an SMTP submission session: AUTH PLAIN is required
// before MAIL.
type submissionSession struct {
	*deliverySession
	user *user
}

var _ smtp.AuthSession = (*submissionSession)(nil)

func (s *submissionSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *submissionSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if s.user != nil {
			return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Already authenticated"}
		}
		u, ok := s.srv.authenticate(username, password)
		if !ok {
			return smtp.ErrAuthFailed
		}
		if !s.srv.openSession(u) {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many connections for this user"}
		}
		s.user = u
		return nil
	}), nil
}

func (s *submissionSession) Mail(from string, opts *smtp.MailOptions) error {
	if s.user == nil {
		return errAuthRequired
	}
	return s.deliverySession.Mail(from, opts)
}

func (s *submissionSession) Logout() error {
	if s.user != nil {
		s.srv.closeSession(s.user)
		s.user = nil
	}
	return nil
}
