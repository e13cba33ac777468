package serverstate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/backoff"
	"github.com/mailsim/mailsim/internal/transport"
)

// ErrUnreachable marks a preflight failure caused by a server that could not
// be reached or did not speak its protocol.
var ErrUnreachable = errors.New("server unreachable")

// ErrLoginRefused marks a preflight failure caused by the server refusing
// the credentials (as opposed to an unreachable server).
var ErrLoginRefused = errors.New("login refused")

const (
	// preflightTimeout bounds each attempt of a preflight check.
	preflightTimeout = 10 * time.Second
	// preflightTries is how often a check is tried when the connection
	// was refused or reset (outcomes refused and error).
	preflightTries = 3
	// preflightBackoff is the wait before the second try; it doubles.
	preflightBackoff = 250 * time.Millisecond
	// preflightSample is how many users' credentials are checked: the
	// first, the last and evenly spaced ones between.
	preflightSample = 5
)

// User is one user's credentials.
type User struct {
	Username, Password string
}

// Preflight checks, before a run against a real server, that the server
// answers and accepts the users' credentials. It is built from what the
// run will use (internal/engine's Endpoints.Preflight builds it from a
// plan); a nil endpoint is not checked.
type Preflight struct {
	// IMAP and POP3 are the access endpoints the devices use; nil when no
	// device uses the protocol.
	IMAP, POP3 *transport.Endpoint
	// Submission is where devices send mail; nil when they do not submit.
	Submission *transport.Endpoint
	// Delivery is the LMTP or SMTP endpoint inbound mail is delivered to
	// (LMTP says which); nil when mail is not delivered over SMTP or LMTP
	// (IMAP APPEND, or no delivery).
	Delivery *transport.Endpoint
	LMTP     bool
	// TLS is the base TLS configuration (verification, roots); nil
	// verifies against the system roots.
	TLS *tls.Config
	// Users are the population; the first is checked on every endpoint,
	// a sample of the others (sampleUsers) logs in too.
	Users []User
}

// Check checks every endpoint p names with the first user's credentials
// (one IMAP login, one POP3 login, one submission AUTH, one delivery
// greeting), and that a sample of the users — the first, the last and up
// to three between — can log in (over IMAP when p has IMAP, else POP3, else
// submission). A check whose connection was refused or reset is tried up
// to 3 times within about a second. Errors wrap ErrUnreachable or
// ErrLoginRefused, say which endpoint failed and with which outcome
// (refused, timeout, tls, error), and name every sampled user the server
// refused.
//
// In the sampled users' sessions it also looks at what their mailboxes
// hold (MailAtStart: over IMAP, else POP3); what it finds is returned
// whatever the error, and a look the server did not answer is no error.
func (p *Preflight) Check(ctx context.Context) (MailAtStart, error) {
	if len(p.Users) == 0 {
		return MailAtStart{}, nil
	}
	u := p.Users[0]
	var (
		errs  []error
		login func(user, pass string) error // the sampled users' check
		look  mailLook
	)
	check := func(f func() error) error {
		err := retry(ctx, f)
		errs = append(errs, err)
		return err
	}
	var first error // the first user's result of the sampled check
	if ep := p.IMAP; ep != nil {
		first = check(func() error { return preflightIMAP(ctx, *ep, p.TLS, u.Username, u.Password, &look, true) })
		login = func(user, pass string) error { return preflightIMAP(ctx, *ep, p.TLS, user, pass, &look, false) }
	}
	if ep := p.POP3; ep != nil {
		pop3Look := &look
		if login != nil {
			pop3Look = nil // IMAP looks at every folder
		}
		err := check(func() error { return preflightPOP3(ctx, *ep, p.TLS, u.Username, u.Password, pop3Look) })
		if login == nil {
			first = err
			login = func(user, pass string) error { return preflightPOP3(ctx, *ep, p.TLS, user, pass, &look) }
		}
	}
	if ep := p.Submission; ep != nil {
		err := check(func() error { return preflightSMTP(ctx, "submission", *ep, p.TLS, false, u.Username, u.Password) })
		if login == nil {
			first = err
			login = func(user, pass string) error {
				return preflightSMTP(ctx, "submission", *ep, p.TLS, false, user, pass)
			}
		}
	}
	if ep := p.Delivery; ep != nil {
		what := clients.ProtocolSMTP
		if p.LMTP {
			what = clients.ProtocolLMTP
		}
		check(func() error { return preflightSMTP(ctx, what, *ep, p.TLS, p.LMTP, "", "") })
	}
	if login != nil && !errors.Is(first, ErrUnreachable) {
		errs = append(errs, checkSample(ctx, p.Users, first, login))
	}
	return look.found, errors.Join(errs...)
}

// checkSample logs in the sampled users after the first (whose result is
// first) and returns an error naming every refused one, plus the other
// failures.
func checkSample(ctx context.Context, users []User, first error, login func(user, pass string) error) error {
	sample := sampleUsers(len(users), preflightSample)
	var (
		refused, slowed []string
		errs            []error
	)
	if errors.Is(first, ErrLoginRefused) {
		refused = append(refused, users[0].Username)
	}
	for _, i := range sample[1:] {
		u := users[i]
		err := retry(ctx, func() error { return login(u.Username, u.Password) })
		switch {
		case err == nil:
		case errors.Is(err, ErrLoginRefused):
			refused = append(refused, u.Username)
		case len(refused) > 0 && transport.LoginOutcome(err) == transport.OutcomeTimeout:
			// After a refused login a server may hold its next answers
			// back (Dovecot's auth penalty grows with each failure from
			// an address): not a server out of reach.
			slowed = append(slowed, u.Username)
		default:
			errs = append(errs, err)
		}
	}
	// The first user's refusal alone is already told by its endpoint check.
	if len(refused) > 1 || len(refused) == 1 && !errors.Is(first, ErrLoginRefused) {
		errs = append(errs, fmt.Errorf("%w for %d of %d sampled users: %s (add them to the server or fix their passwords)",
			ErrLoginRefused, len(refused), len(sample), strings.Join(refused, ", ")))
	}
	if len(slowed) > 0 {
		errs = append(errs, fmt.Errorf("logins not answered within %s for %s, after the server had refused one: servers slow their answers after refused logins (as Dovecot's auth penalty does), or this one stopped answering; fix the refused users first, then check again",
			preflightTimeout, strings.Join(slowed, ", ")))
	}
	return errors.Join(errs...)
}

// sampleUsers returns up to k indices of n users in order: the first, the
// last and evenly spaced ones between, without repeats.
func sampleUsers(n, k int) []int {
	if n <= 0 || k <= 0 {
		return nil
	}
	if k > n {
		k = n
	}
	if k == 1 {
		return []int{0}
	}
	out := make([]int, 0, k)
	for i := 0; i < k; i++ {
		idx := i * (n - 1) / (k - 1)
		if len(out) == 0 || out[len(out)-1] != idx {
			out = append(out, idx)
		}
	}
	return out
}

// retry runs f up to preflightTries times while it fails with a refused or
// reset connection, waiting preflightBackoff (doubling) between tries, and
// returns its last error. It stops early when ctx ends.
func retry(ctx context.Context, f func() error) error {
	return backoff.Retry(ctx, backoff.Options{Base: preflightBackoff, Tries: preflightTries}, nil, transient, f)
}

// transient reports whether a failed check is worth trying again: the
// connection was refused or reset, not refused credentials, a timeout or a
// TLS failure.
func transient(err error) bool {
	if !errors.Is(err, ErrUnreachable) {
		return false
	}
	switch transport.LoginOutcome(err) {
	case transport.OutcomeRefused, transport.OutcomeError:
		return true
	}
	return false
}

// unreachable wraps a failure to reach or talk to a server, naming its
// outcome (see transport.LoginOutcome).
func unreachable(what, addr string, err error) error {
	return fmt.Errorf("%s %s: %w (%s): %w", what, addr, ErrUnreachable, transport.LoginOutcome(err), err)
}

// refusedOrUnreachable wraps the failure of a login command: refused
// credentials (outcome auth) wrap ErrLoginRefused, anything else
// ErrUnreachable.
func refusedOrUnreachable(what, addr, user string, err error) error {
	if transport.LoginOutcome(err) == transport.OutcomeAuth {
		return fmt.Errorf("%s %s: %w for %s: %w", what, addr, ErrLoginRefused, user, err)
	}
	return unreachable(what, addr, err)
}

// preflightDial connects to ep for protocol with the preflight's bounds;
// the connection closes when ctx ends or stop is called.
func preflightDial(ctx context.Context, protocol string, ep transport.Endpoint, base *tls.Config) (conn *transport.Conn, stop func(), err error) {
	conn, err = transport.Dial(ctx, transport.Config{Protocol: protocol, Endpoint: ep, Timeout: preflightTimeout, TLS: base})
	if err != nil {
		return nil, nil, err
	}
	after := context.AfterFunc(ctx, func() { _ = conn.Close() })
	return conn, func() { after(); _ = conn.Close() }, nil
}

// preflightIMAP logs user in over IMAP at ep, then looks at
// the user's mailbox (mailLook.imap: every folder when first, else the
// INBOX) and, when first, keeps the [ALERT] of the greeting or the LOGIN
// reply (MailAtStart.Alert); the first user's session ends with LOGOUT,
// the others' are closed.
func preflightIMAP(ctx context.Context, ep transport.Endpoint, base *tls.Config, user, pass string, look *mailLook, first bool) error {
	var opts *imapclient.Options
	var alert *alertWatch
	if first {
		alert = &alertWatch{}
		opts = &imapclient.Options{DebugWriter: alert}
	}
	conn, c, err := transport.DialIMAP(ctx, transport.Config{Protocol: clients.ProtocolIMAP, Endpoint: ep, Timeout: preflightTimeout, TLS: base}, opts)
	if err != nil {
		return unreachable(clients.ProtocolIMAP, ep.Addr, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer c.Close()
	_ = conn.Extend(0)
	err = conn.Explain(transport.LoginIMAP(c, user, pass))
	if alert != nil {
		look.found.Alert = alert.stop()
	}
	if err != nil {
		return refusedOrUnreachable(clients.ProtocolIMAP, ep.Addr, user, err)
	}
	if look.imap(conn, c, user, first) && first {
		// Only the first user's, counted with the look's commands
		// (docs/dovecot.md counts it in Dovecot's command counters); a
		// session the look broke is closed without it.
		look.sent("LOGOUT")
		_ = conn.Extend(0)
		_ = c.Logout().Wait()
	}
	return nil
}

// preflightPOP3 logs user in over POP3 at ep and, with look, counts the
// user's messages (STAT) before QUIT; a session the look broke (garbage,
// a timeout, a hang-up) is closed without QUIT.
func preflightPOP3(ctx context.Context, ep transport.Endpoint, base *tls.Config, user, pass string, look *mailLook) error {
	conn, stop, err := preflightDial(ctx, clients.ProtocolPOP3, ep, base)
	if err != nil {
		return unreachable(clients.ProtocolPOP3, ep.Addr, err)
	}
	defer stop()
	p, err := transport.OpenPOP3(conn, nil)
	if err == nil {
		if ep.TLS == transport.TLSStartTLS {
			err = p.STLS(transport.TLSConfig(base, ep.Addr))
		} else {
			err = p.Capabilities()
		}
	}
	if err != nil {
		return unreachable(clients.ProtocolPOP3, ep.Addr, err)
	}
	if err := p.Login(user, pass); err != nil {
		return refusedOrUnreachable(clients.ProtocolPOP3, ep.Addr, user, conn.Explain(err))
	}
	if look != nil && !look.pop3(p, user) {
		return nil
	}
	_ = p.Quit(0)
	return nil
}

func preflightSMTP(ctx context.Context, what string, ep transport.Endpoint, base *tls.Config, lmtp bool, user, pass string) error {
	protocol := clients.ProtocolSMTP
	if lmtp {
		protocol = clients.ProtocolLMTP
	}
	conn, stop, err := preflightDial(ctx, protocol, ep, base)
	if err != nil {
		return unreachable(what, ep.Addr, err)
	}
	defer stop()
	greeted, err := transport.ReadSMTPGreeting(conn)
	if err != nil {
		return unreachable(what, ep.Addr, conn.Explain(err))
	}
	// The client's commands have the preflight's timeout, conn's.
	c, err := transport.OpenSMTP(conn, greeted, ep, lmtp, base)
	if err != nil {
		return unreachable(what, ep.Addr, conn.Explain(err))
	}
	defer c.Close()
	if err := c.Hello("mailsim-preflight.localhost"); err != nil {
		return unreachable(what, ep.Addr, conn.Explain(err))
	}
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			return refusedOrUnreachable(what, ep.Addr, user, conn.Explain(err))
		}
	}
	_ = c.Quit()
	return nil
}
