package clients

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// SMTPOptions configure an SMTP submitter.
type SMTPOptions struct {
	// Username and Password authenticate with AUTH PLAIN; an empty Username
	// skips AUTH.
	Username, Password string
	// TLS is the base TLS configuration for starttls and implicit
	// endpoints (ServerName is filled from the address when empty). Nil
	// verifies against the system roots.
	TLS *tls.Config
	// Recorder receives every command (protocol "smtp"). Nil discards.
	Recorder Recorder
	// Timeout bounds the dial and every command. Default 30s.
	Timeout time.Duration
	// StopGrace is how long a command in flight when Submit's context
	// ends has to be answered before the connection is closed under it
	// (StopGrace, the type). Default DefaultStopGrace, 1s.
	StopGrace time.Duration
	// Logger receives diagnostics. Nil discards.
	Logger *slog.Logger
	// LocalName is the EHLO name. Default "localhost".
	LocalName string
	// Late, shared by the connections of a run, closes the descriptors
	// of released connections late (transport.LateCloser). Nil closes
	// them at once.
	Late *transport.LateCloser
	// Network shapes every submission connection as the sending device's
	// others (its profile's Network, transport.Config.Network): latency
	// before each write, bandwidth, and a drop DisconnectEvery of Clock's
	// simulated time after the connection opens (none without Clock).
	// The zero value does not shape.
	Network transport.Network
	// Clock is the scenario clock, for Network.DisconnectEvery.
	Clock *simclock.Clock
}

// ServerClosed reports whether err shows that an SMTP or LMTP server
// closed the connection: its 421 reply (closing the channel, RFC 5321,
// section 3.8, as Dovecot says to every LMTP connection when it shuts
// down), the end of the stream, or a reset or broken pipe. No further
// command, not even QUIT, can be answered on it: one sent would only fail
// and count as a failed command of its own.
func ServerClosed(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se) && se.Code == 421 ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TimedOut reports whether err is a deadline that passed before the
// server answered (outcome timeout): the connection is out of step with
// the server, so no QUIT goes out on it (a late reply would be read as
// the QUIT's), and the server's one stall counts once.
func TimedOut(err error) bool {
	return err != nil && transport.NetOutcome(err) == transport.OutcomeTimeout
}

// RecipientsError is returned by an SMTP submission when the server
// refused some recipients; the others were sent the message.
type RecipientsError struct {
	// Rejected maps each refused recipient to the server's reply.
	Rejected map[string]error
	// Accepted counts the recipients that were sent the message.
	Accepted int
}

// Error implements error.
func (e *RecipientsError) Error() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "smtp: %d recipient(s) refused (%d accepted):", len(e.Rejected), e.Accepted)
	for rcpt, err := range e.Rejected {
		fmt.Fprintf(&sb, " %s: %v;", rcpt, err)
	}
	return strings.TrimSuffix(sb.String(), ";")
}

// ErrUnanswered is wrapped by the error of a submission whose message data
// went out whole and whose final reply never came (UnansweredError).
var ErrUnanswered = errors.New("no reply after the message data")

// UnansweredError is returned by an SMTP submission whose message data,
// the end of data included, went out whole (every byte reached the
// socket: transport.Conn.WriteFailed) and whose reply to it never came:
// the server closed the connection, the reply's deadline passed, it
// answered something that is no reply, or the run's end closed the
// connection after the stop's grace. The server may have taken the
// message for the recipients or not; submitting it again could deliver
// it twice. errors.Is finds ErrUnanswered and the failure under it (Err).
// A submitter returns it with the server named first (transport.ServerError:
// "smtp ADDR: no reply after the message data ..."); errors.As finds it.
type UnansweredError struct {
	// Recipients are those the server accepted (RCPT) before the data:
	// each may have been sent the message.
	Recipients []string
	// Err is the failure that ended the wait for the reply.
	Err error
}

// Error implements error.
func (e *UnansweredError) Error() string {
	return ErrUnanswered.Error() + " (the server may have taken it): " + e.Err.Error()
}

// Unwrap returns ErrUnanswered and Err.
func (e *UnansweredError) Unwrap() []error { return []error{ErrUnanswered, e.Err} }

// smtpSubmitter submits each message over a new SMTP connection.
type smtpSubmitter struct {
	ep  transport.Endpoint
	o   SMTPOptions
	rec Recorder
}

// NewSMTPSubmitter returns a Submitter that sends each message over a new
// submission connection to ep, as a mail client does: greeting, EHLO,
// STARTTLS when ep asks for it (then EHLO again), AUTH PLAIN, MAIL, one
// RCPT per recipient, DATA, QUIT. Every command is recorded with protocol
// "smtp", the connect and greeting as CONNECT (CommandConnect); the
// authentication also as a Login.
func NewSMTPSubmitter(ep transport.Endpoint, o SMTPOptions) Submitter {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.LocalName == "" {
		o.LocalName = "localhost"
	}
	if o.Logger == nil {
		o.Logger = discardLogger
	}
	rec := o.Recorder
	if rec == nil {
		rec = DiscardRecorder{}
	}
	return &smtpSubmitter{ep: ep, o: o, rec: rec}
}

// DistinctRecipients returns to without the addresses named again, in
// their first spelling and order. Addresses are the same when their local
// parts are equal and their domains equal in any case, as Dovecot's LMTP
// compares them (internal/mailserver/smtp.go sameAddress). A message goes
// to each recipient once: a submitter gives each one RCPT, and each gets
// one deliver change.
func DistinctRecipients(to []string) []string {
	out := make([]string, 0, len(to))
	for _, addr := range to {
		local, domain, _ := strings.Cut(addr, "@")
		if !slices.ContainsFunc(out, func(o string) bool {
			l, d, _ := strings.Cut(o, "@")
			return l == local && strings.EqualFold(d, domain)
		}) {
			out = append(out, addr)
		}
	}
	return out
}

// DialSMTP connects as cfg says and opens a go-smtp client on the
// connection (an LMTP client when lmtp), as SMTP submission and the
// injector's LMTP/SMTP deliveries do, recording on rec under
// cfg.Protocol: the connect and the server's greeting
// (transport.ReadSMTPGreeting) are one command, CONNECT, as a POP3 or
// IMAP device's; with cfg.Endpoint.TLS starttls the EHLO that asks for
// the extension, STARTTLS and the TLS handshake (transport.StartTLSSMTP)
// are one command, STARTTLS. Each of those waits is bounded by
// cfg.Timeout, and so is each of the client's commands (transport.OpenSMTP
// sets its timeouts). The connect and the greeting, and every command
// after them, have the stop's grace (grace; 0: DefaultStopGrace) under
// the returned watch (StopGrace, dialWatched), until the caller releases
// it: a wait the stop cut after the grace counts a timeout, one it cut
// within the grace nothing. On failure the error is explained by the
// connection (transport.Conn.Explain), the connection is closed and
// returned (nil when the dial failed) with its released watch (never
// nil), whose Stopping says whether the stop cut it and CountLogin
// counts the login by the stop's rule. The caller may
// change the client's timeouts, says hello (EHLO, LHLO), releases the
// watch and closes the connection.
func DialSMTP(ctx context.Context, rec Recorder, cfg transport.Config, lmtp bool, grace time.Duration) (*transport.Conn, *smtp.Client, *StopGrace, error) {
	conn, w, connect, err := dialWatched(ctx, rec, cfg, grace)
	if err != nil {
		w.Release()
		return nil, nil, w, err
	}
	fail := func(err error) (*transport.Conn, *smtp.Client, *StopGrace, error) {
		w.Release()
		_ = conn.Close()
		return conn, nil, w, err
	}
	// The greeting has the stop's grace, as the dial (dialWatched).
	nc, err := transport.ReadSMTPGreeting(conn)
	err = conn.Explain(err)
	if w.End(CommandConnect, connect, err); err != nil {
		return fail(err)
	}
	starttls := !lmtp && cfg.Endpoint.TLS == transport.TLSStartTLS
	var start time.Time
	if starttls {
		start = w.Start("STARTTLS")
	}
	c, err := transport.OpenSMTP(conn, nc, cfg.Endpoint, lmtp, cfg.TLS)
	if starttls {
		err = conn.Explain(err)
		w.End("STARTTLS", start, err)
	}
	if err != nil {
		return fail(err)
	}
	return conn, c, w, nil
}

// Submit sends raw from from to every distinct recipient in to. When the
// server refuses some recipients the others still get the message and
// Submit returns a *RecipientsError; when it refuses all, nothing is sent.
// When the message data went out whole and the reply to it never came,
// Submit returns an *UnansweredError (ErrUnanswered): the server may have
// taken the message.
func (s *smtpSubmitter) Submit(ctx context.Context, from string, to []string, raw []byte) (err error) {
	to = DistinctRecipients(to)
	if len(to) == 0 {
		return errors.New("smtp: no recipients")
	}
	addr := s.ep.Addr
	// A failure before AUTH counts as a login attempt with its cause, by
	// the stop's rule (w: the connection's watch).
	unreached := func(err error, w *StopGrace) {
		if s.o.Username != "" {
			w.CountLogin(err)
		}
	}
	// cause puts the stop before err when it cut the session.
	cause := func(err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%w (%v)", ctxErr, err)
		}
		return err
	}
	wrap := func(err error) error { return transport.NameServer(ProtocolSMTP, addr, cause(err)) }
	conn, c, w, err := DialSMTP(ctx, s.rec, transport.Config{
		Protocol: ProtocolSMTP, Endpoint: s.ep, Meter: s.rec, Timeout: s.o.Timeout, TLS: s.o.TLS,
		Network: s.o.Network, DropAfter: dropInterval(s.o.Network, s.o.Clock), LateCloser: s.o.Late,
	}, false, s.o.StopGrace)
	if err != nil {
		unreached(err, w)
		if conn == nil {
			return err // the dial's error names the address
		}
		return wrap(err)
	}
	defer conn.Close()
	defer w.Release()

	// Every command has the stop's grace (StopGrace).
	start := w.Start("EHLO")
	err = conn.Explain(c.Hello(s.o.LocalName))
	w.End("EHLO", start, err)
	if err != nil {
		unreached(err, w)
		return wrap(err)
	}
	if s.o.Username != "" {
		start = w.Start("AUTH")
		err = conn.Explain(c.Auth(sasl.NewPlainClient("", s.o.Username, s.o.Password)))
		w.End("AUTH", start, err)
		w.CountLogin(err)
		if err != nil {
			s.quit(w, c, err)
			return wrap(fmt.Errorf("auth: %w", err))
		}
	}
	start = w.Start("MAIL")
	err = c.Mail(from, nil)
	w.End("MAIL", start, err)
	if err != nil {
		s.quit(w, c, err)
		return wrap(err)
	}
	var rejected map[string]error
	accepted := make([]string, 0, len(to))
	for _, rcpt := range to {
		start = w.Start("RCPT")
		err = c.Rcpt(rcpt, nil)
		w.End("RCPT", start, err)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			accepted = append(accepted, rcpt)
		case errors.As(err, &se) && !ServerClosed(err):
			if rejected == nil {
				rejected = make(map[string]error)
			}
			rejected[rcpt] = err
		default:
			return wrap(err)
		}
	}
	if len(accepted) == 0 {
		s.quit(w, c, nil)
		return wrap(&RecipientsError{Rejected: rejected})
	}
	start = w.Start("DATA")
	sent, err := s.data(c, conn, raw)
	w.End("DATA", start, err)
	if err != nil {
		if sent {
			// The server first, as every transport error: "smtp
			// ADDR: no reply after the message data ...: EOF".
			return transport.NameServer(ProtocolSMTP, addr, &UnansweredError{Recipients: accepted, Err: cause(err)})
		}
		return wrap(err)
	}
	s.quit(w, c, nil)
	if rejected != nil {
		// The message has left for the accepted recipients, stop or
		// not: the error stays a *RecipientsError, which the device
		// counts as sent (device.go, submit), never the stop's.
		return transport.NameServer(ProtocolSMTP, addr, &RecipientsError{Rejected: rejected, Accepted: len(accepted)})
	}
	return nil
}

// data sends DATA, raw and the end of data, and reads the server's reply
// to them. sent reports, with an error, that the message went out whole
// and the failure is no reply of the server's (an *smtp.SMTPError) but
// the lack of one: the connection closed or reset, the reply's deadline
// passed, a garbled reply, the stop's close after its grace. go-smtp's
// DataCommand.Close writes the end of data and reads the reply in one
// call, and Cork leaves the data's bytes to that read, whose error may be
// the write's: the connection tells whether a write failed
// (transport.Conn.WriteFailed). What cannot be told is decided towards
// unanswered: bytes the kernel took count as gone out, though a server
// that closed before it read them all never saw the end of data (the
// final audit then finds the message not stored, docs/report.md).
func (s *smtpSubmitter) data(c *smtp.Client, conn *transport.Conn, raw []byte) (sent bool, err error) {
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	// go-smtp sets no deadline of its own for writing the message data:
	// the connection's timeout bounds it, and go-smtp's own timeout the
	// final reply; on a shaped network the link's time moves both
	// (transport's watchdog.shift), so a slow link is no timeout.
	_ = conn.Extend(0)
	// go-smtp writes the data 4 KiB at a time: on a shaped network it
	// leaves in one write, when go-smtp reads the reply, held back the
	// latency once as an IMAP APPEND's literal is, not once a piece.
	conn.Cork()
	if _, err := w.Write(raw); err != nil {
		_ = w.Close()
		return false, err
	}
	if !bytes.HasSuffix(raw, []byte("\r\n")) {
		if _, err := w.Write([]byte("\r\n")); err != nil {
			_ = w.Close()
			return false, err
		}
	}
	err = w.Close()
	var reply *smtp.SMTPError
	return err != nil && !errors.As(err, &reply) && !conn.WriteFailed(), err
}

// quit says QUIT best-effort; the message is already accepted or refused.
// It is recorded as every command of the session (w: StopGrace; once
// ctx has ended, w.Start closes the connection first and it counts
// nothing). It says nothing once the server closed the connection (after:
// the failure that ended the session, ServerClosed) or the simulated
// network dropped it (transport.ErrDropped): a QUIT would only fail and
// count as a second failure; nor once a reply did not come in time
// (TimedOut): a QUIT would wait out its own deadline and count the
// server's one stall twice.
func (s *smtpSubmitter) quit(w *StopGrace, c *smtp.Client, after error) {
	if ServerClosed(after) || TimedOut(after) || errors.Is(after, transport.ErrDropped) {
		return
	}
	start := w.Start("QUIT")
	err := c.Quit()
	w.End("QUIT", start, err)
	if err != nil {
		s.o.Logger.Debug("smtp quit", "addr", s.ep.Addr, "err", err)
	}
}
