package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	pop3 "github.com/knadh/go-pop3"

	"github.com/mailsim/mailsim/scenarios"
)

// ErrUnreachable marks a preflight failure caused by a server that could not
// be reached or did not speak its protocol.
var ErrUnreachable = errors.New("server unreachable")

// preflightTimeout bounds each preflight check.
const preflightTimeout = 10 * time.Second

// Preflight checks, before a run against a real server, that every endpoint
// the plan uses answers and accepts one user's credentials: one IMAP login,
// one POP3 login, one submission AUTH and one delivery greeting. Errors wrap
// ErrUnreachable or ErrLoginRefused and say which endpoint failed.
func Preflight(ctx context.Context, plan *scenarios.Plan, ep Endpoints) error {
	if len(plan.Users) == 0 {
		return nil
	}
	u := plan.Users[0]
	uses := map[scenarios.Protocol]bool{}
	for _, pu := range plan.Users {
		for _, d := range pu.Devices {
			uses[d.Profile.Protocol] = true
		}
	}
	var errs []error
	if uses[scenarios.IMAP] {
		errs = append(errs, preflightIMAP(ctx, ep.IMAP, ep.TLS, u.Username, u.Password))
	}
	if uses[scenarios.POP3] {
		errs = append(errs, preflightPOP3(ctx, ep.POP3, ep.TLS, u.Username, u.Password))
	}
	if ep.Submission.Addr != "" {
		errs = append(errs, preflightSMTP(ctx, "submission", ep.Submission.Addr, ep.Submission.TLS, ep.TLS, false, u.Username, u.Password))
	}
	if ep.Delivery.Addr != "" && ep.Delivery.Protocol != scenarios.DeliverIMAPAppend {
		errs = append(errs, preflightSMTP(ctx, string(ep.Delivery.Protocol), ep.Delivery.Addr, ep.Delivery.TLS, ep.TLS,
			ep.Delivery.Protocol == scenarios.DeliverLMTP, "", ""))
	}
	return errors.Join(errs...)
}

func dialCtx(ctx context.Context, addr string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(preflightTimeout))
	// A protocol client may move the deadline (go-imap's imapclient sets
	// its own 30 s read timeouts): the check still ends at
	// preflightTimeout, and at once when ctx ends (a ^C).
	time.AfterFunc(preflightTimeout, func() { conn.Close() })
	context.AfterFunc(ctx, func() { conn.Close() })
	return conn, nil
}

func withServerName(base *tls.Config, addr string) *tls.Config {
	cfg := &tls.Config{}
	if base != nil {
		cfg = base.Clone()
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

func preflightIMAP(ctx context.Context, ep scenarios.Endpoint, base *tls.Config, user, pass string) error {
	conn, err := dialCtx(ctx, ep.Addr)
	if err != nil {
		return fmt.Errorf("imap %s: %w: %v", ep.Addr, ErrUnreachable, err)
	}
	var c *imapclient.Client
	switch ep.TLS {
	case scenarios.TLSImplicit:
		c = imapclient.New(tls.Client(conn, withServerName(base, ep.Addr)), nil)
	case scenarios.TLSStartTLS:
		c, err = imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: withServerName(base, ep.Addr)})
		if err != nil {
			conn.Close()
			return fmt.Errorf("imap %s: %w: starttls: %v", ep.Addr, ErrUnreachable, err)
		}
	default:
		c = imapclient.New(conn, nil)
	}
	defer c.Close()
	if err := c.WaitGreeting(); err != nil {
		return fmt.Errorf("imap %s: %w: no greeting: %v", ep.Addr, ErrUnreachable, err)
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		if isNetErr(err) {
			return fmt.Errorf("imap %s: %w: %v", ep.Addr, ErrUnreachable, err)
		}
		return fmt.Errorf("imap %s: %w for %s: %v", ep.Addr, ErrLoginRefused, user, err)
	}
	_ = c.Logout().Wait()
	return nil
}

// deadlineDialer gives go-pop3 connections a deadline.
type deadlineDialer struct{ ctx context.Context }

func (d deadlineDialer) Dial(network, addr string) (net.Conn, error) { return dialCtx(d.ctx, addr) }

func preflightPOP3(ctx context.Context, ep scenarios.Endpoint, base *tls.Config, user, pass string) error {
	host, portStr, err := net.SplitHostPort(ep.Addr)
	if err != nil {
		return fmt.Errorf("pop3 %s: %w", ep.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("pop3 %s: bad port: %w", ep.Addr, err)
	}
	if ep.TLS == scenarios.TLSStartTLS {
		// go-pop3 has no STLS; the devices handle it. Check reachability only.
		conn, err := dialCtx(ctx, ep.Addr)
		if err != nil {
			return fmt.Errorf("pop3 %s: %w: %v", ep.Addr, ErrUnreachable, err)
		}
		return conn.Close()
	}
	c := pop3.New(pop3.Opt{Host: host, Port: port, DialTimeout: preflightTimeout, Dialer: deadlineDialer{ctx},
		TLSEnabled: ep.TLS == scenarios.TLSImplicit, TLSSkipVerify: base != nil && base.InsecureSkipVerify})
	conn, err := c.NewConn()
	if err != nil {
		return fmt.Errorf("pop3 %s: %w: %v", ep.Addr, ErrUnreachable, err)
	}
	defer conn.Quit()
	if err := conn.Auth(user, pass); err != nil {
		if isNetErr(err) {
			return fmt.Errorf("pop3 %s: %w: %v", ep.Addr, ErrUnreachable, err)
		}
		return fmt.Errorf("pop3 %s: %w for %s: %v", ep.Addr, ErrLoginRefused, user, err)
	}
	return nil
}

func preflightSMTP(ctx context.Context, what, addr string, mode scenarios.TLSMode, base *tls.Config, lmtp bool, user, pass string) error {
	conn, err := dialCtx(ctx, addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w: %v", what, addr, ErrUnreachable, err)
	}
	if mode == scenarios.TLSImplicit {
		conn = tls.Client(conn, withServerName(base, addr))
	}
	var c *smtp.Client
	switch {
	case lmtp:
		c = smtp.NewClientLMTP(conn)
	case mode == scenarios.TLSStartTLS:
		if c, err = smtp.NewClientStartTLS(conn, withServerName(base, addr)); err != nil {
			conn.Close()
			return fmt.Errorf("%s %s: %w: starttls: %v", what, addr, ErrUnreachable, err)
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout = preflightTimeout
	if err := c.Hello("mailsim-preflight.localhost"); err != nil {
		return fmt.Errorf("%s %s: %w: %v", what, addr, ErrUnreachable, err)
	}
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			if isNetErr(err) {
				return fmt.Errorf("%s %s: %w: %v", what, addr, ErrUnreachable, err)
			}
			return fmt.Errorf("%s %s: %w for %s: %v", what, addr, ErrLoginRefused, user, err)
		}
	}
	_ = c.Quit()
	return nil
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, net.ErrClosed)
}
