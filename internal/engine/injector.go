package engine

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/scenarios"
)

// recipient is one envelope recipient of a delivery; user is nil for an
// address outside the simulated population.
type recipient struct {
	addr   string
	user   *user
	folder string
}

// delivery is one message for the injector to put on the server.
type delivery struct {
	from  string
	rcpts []recipient
	id    string
	raw   []byte
	// inbound is true for mail from outside the simulated population (the
	// scenario's inbound and spam), false for mail a device sent.
	inbound bool
	// arrival is the simulated time inbound mail was scheduled to arrive.
	arrival time.Time
}

// injector puts inbound mail on the server through target.delivery (LMTP,
// SMTP or IMAP APPEND) with a few parallel connections, like an MTA.
type injector struct {
	e        *Engine
	workers  int
	queue    chan delivery
	inflight atomic.Int64
	// idle gets a token whenever inflight drops to zero (see drain).
	idle    chan struct{}
	timeout time.Duration
}

// injectorQueue bounds deliveries waiting for a connection; people block
// (back-pressure) when it is full.
const injectorQueue = 4096

func newInjector(e *Engine, workers int) *injector {
	return &injector{e: e, workers: workers, queue: make(chan delivery, injectorQueue), idle: make(chan struct{}, 1),
		timeout: 30 * time.Second}
}

// enqueue hands a delivery to the workers; it blocks while the queue is
// full, until ctx ends.
func (in *injector) enqueue(ctx context.Context, d delivery) {
	in.inflight.Add(1)
	select {
	case in.queue <- d:
	case <-ctx.Done():
		in.done()
	}
}

// done ends one delivery (attempted, or never queued).
func (in *injector) done() {
	if in.inflight.Add(-1) == 0 {
		select {
		case in.idle <- struct{}{}:
		default:
		}
	}
}

// drain waits until every queued delivery was attempted, or ctx ends, or a
// minute passes.
func (in *injector) drain(ctx context.Context) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for in.inflight.Load() > 0 {
		select {
		case <-in.idle: // look again: a token may be stale
		case <-ctx.Done():
			return
		case <-t.C:
			return
		}
	}
}

// run runs the workers until ctx ends.
func (in *injector) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range in.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in.worker(ctx)
		}()
	}
	wg.Wait()
}

func (in *injector) worker(ctx context.Context) {
	var c *smtpConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-in.queue:
			var err error
			if in.e.o.Endpoints.Delivery.Protocol == scenarios.DeliverIMAPAppend {
				err = in.appendIMAP(ctx, d)
			} else {
				if c == nil {
					c, err = in.dial(ctx)
				}
				if err == nil {
					err = c.deliver(d, in.e)
					if err != nil && !isRecipientError(err) {
						c.close()
						c = nil
					}
				}
			}
			if err != nil && ctx.Err() == nil {
				in.e.log.Warn("delivery failed", "message", d.id, "err", err)
			}
			in.done()
		}
	}
}

// delivered records one successful delivery to one recipient.
func (in *injector) delivered(d delivery, r recipient, via string) {
	in.e.o.Observer.Delivered(via)
	if r.user == nil {
		return
	}
	in.e.delivered.Add(1)
	if r.user.meter != nil {
		r.user.meter.Delivered()
	}
	in.e.trace(Event{Kind: "deliver", User: r.user.plan.Username, MessageID: d.id, Folder: r.folder, Inbound: d.inbound, Arrival: d.arrival})
	in.e.recordChange(audit.Change{
		User:      r.user.plan.Username,
		Kind:      audit.ChangeKind("deliver"),
		MessageID: d.id,
		Folder:    r.folder,
		Published: true,
	})
}

// smtpConn is one injector connection speaking LMTP or SMTP.
type smtpConn struct {
	c        *smtp.Client
	conn     net.Conn
	timeout  time.Duration
	protocol string
	rec      clients.Recorder
}

func (in *injector) dial(ctx context.Context) (*smtpConn, error) {
	dl := in.e.o.Endpoints.Delivery
	proto := string(dl.Protocol)
	dctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "tcp", dl.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", proto, dl.Addr, err)
	}
	rec := in.e.o.Recorder
	conn = &countingConn{Conn: conn, rec: rec, protocol: proto}
	if dl.TLS == scenarios.TLSImplicit {
		conn = tls.Client(conn, in.tlsConfig(dl.Addr))
	}
	rec.Connection(proto, 1)
	_ = conn.SetDeadline(time.Now().Add(in.timeout))
	var c *smtp.Client
	hello := "EHLO"
	switch {
	case dl.Protocol == scenarios.DeliverLMTP:
		c, hello = smtp.NewClientLMTP(conn), "LHLO"
	case dl.TLS == scenarios.TLSStartTLS:
		// go-smtp says EHLO and STARTTLS in one step.
		c, err = smtp.NewClientStartTLS(conn, in.tlsConfig(dl.Addr))
		hello = "STARTTLS"
	default:
		c = smtp.NewClient(conn)
	}
	sc := &smtpConn{c: c, conn: conn, timeout: in.timeout, protocol: proto, rec: rec}
	if err == nil {
		c.CommandTimeout = in.timeout
		c.SubmissionTimeout = in.timeout
		err = c.Hello("mailsim-injector.localhost")
	}
	sc.record(hello, start, err)
	_ = conn.SetDeadline(time.Time{})
	if err != nil {
		if c == nil {
			conn.Close()
			rec.Connection(proto, -1)
			return nil, fmt.Errorf("%s %s: %w", proto, dl.Addr, err)
		}
		sc.close()
		return nil, fmt.Errorf("%s %s: %w", proto, dl.Addr, err)
	}
	return sc, nil
}

func (in *injector) tlsConfig(addr string) *tls.Config {
	var cfg *tls.Config
	if in.e.o.Endpoints.TLS != nil {
		cfg = in.e.o.Endpoints.TLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	return cfg
}

func (sc *smtpConn) record(cmd string, start time.Time, err error) {
	sc.rec.Command(clients.CommandEvent{Protocol: sc.protocol, Command: cmd, Outcome: smtpOutcome(err), Duration: time.Since(start)})
}

func smtpOutcome(err error) clients.Outcome {
	var se *smtp.SMTPError
	var le smtp.LMTPDataError
	switch {
	case err == nil:
		return clients.OutcomeOK
	case errors.As(err, &se), errors.As(err, &le):
		return clients.OutcomeNo
	default:
		return clients.OutcomeError
	}
}

// isRecipientError reports whether err is the server refusing a recipient
// or a message (the connection is still usable), not a broken connection.
func isRecipientError(err error) bool {
	var se *smtp.SMTPError
	var le smtp.LMTPDataError
	var re *recipientsRefused
	return errors.As(err, &se) || errors.As(err, &le) || errors.As(err, &re)
}

// recipientsRefused lists recipients the server refused while others got
// the message.
type recipientsRefused struct{ errs []error }

func (r *recipientsRefused) Error() string {
	return "recipients refused: " + errors.Join(r.errs...).Error()
}

func (sc *smtpConn) deliver(d delivery, e *Engine) error {
	c := sc.c
	start := time.Now()
	err := c.Mail(d.from, nil)
	sc.record("MAIL", start, err)
	if err != nil {
		_ = c.Reset()
		return err
	}
	var accepted []recipient
	var refused []error
	for _, r := range d.rcpts {
		start = time.Now()
		err := c.Rcpt(r.addr, nil)
		sc.record("RCPT", start, err)
		if err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return err
			}
			refused = append(refused, fmt.Errorf("<%s>: %w", r.addr, err))
			continue
		}
		accepted = append(accepted, r)
	}
	if len(accepted) == 0 {
		_ = c.Reset()
		return &recipientsRefused{errs: refused}
	}
	start = time.Now()
	w, err := c.Data()
	if err == nil {
		// go-smtp bounds commands and the final reply, not the message
		// data: a server that stops reading must not hold the worker.
		_ = sc.conn.SetWriteDeadline(time.Now().Add(sc.timeout))
		_, err = w.Write(d.raw)
		if err == nil {
			if sc.protocol == string(scenarios.DeliverLMTP) {
				var resp map[string]*smtp.DataResponse
				resp, err = w.CloseWithLMTPResponse()
				sc.record("DATA", start, err)
				for _, r := range accepted {
					if _, ok := resp[r.addr]; ok {
						sc.inj(e).delivered(d, r, sc.protocol)
					}
				}
				if le := (smtp.LMTPDataError)(nil); errors.As(err, &le) {
					for rcpt, se := range le {
						refused = append(refused, fmt.Errorf("<%s>: %w", rcpt, se))
					}
					err = nil
				}
				if err != nil {
					return err
				}
				if len(refused) > 0 {
					return &recipientsRefused{errs: refused}
				}
				return nil
			}
			err = w.Close()
		}
	}
	sc.record("DATA", start, err)
	if err != nil {
		return err
	}
	for _, r := range accepted {
		sc.inj(e).delivered(d, r, sc.protocol)
	}
	if len(refused) > 0 {
		return &recipientsRefused{errs: refused}
	}
	return nil
}

func (sc *smtpConn) inj(e *Engine) *injector { return e.inj }

func (sc *smtpConn) close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		err := sc.c.Quit()
		sc.record("QUIT", start, err)
		_ = sc.c.Close()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = sc.c.Close()
		<-done
	}
	sc.rec.Connection(sc.protocol, -1)
}

// appendIMAP delivers by logging in as each recipient and APPENDing the
// message to the folder (target.delivery protocol imap-append).
func (in *injector) appendIMAP(ctx context.Context, d delivery) error {
	for _, r := range d.rcpts {
		if r.user == nil {
			continue
		}
		if err := in.appendOne(ctx, d, r); err != nil {
			return err
		}
		in.delivered(d, r, string(scenarios.DeliverIMAPAppend))
	}
	return nil
}

func (in *injector) appendOne(ctx context.Context, d delivery, r recipient) error {
	dl := in.e.o.Endpoints.Delivery
	rec := in.e.o.Recorder
	ctx, cancel := context.WithTimeout(ctx, in.timeout)
	defer cancel()
	var nd net.Dialer
	conn, err := nd.DialContext(ctx, "tcp", dl.Addr)
	if err != nil {
		return fmt.Errorf("imap-append %s: %w", dl.Addr, err)
	}
	conn = &countingConn{Conn: conn, rec: rec, protocol: "imap"}
	if dl.TLS == scenarios.TLSImplicit {
		conn = tls.Client(conn, in.tlsConfig(dl.Addr))
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	rec.Connection("imap", 1)
	defer rec.Connection("imap", -1)
	c := imapclient.New(conn, nil)
	defer c.Close()
	cmd := func(name string, start time.Time, err error) error {
		rec.Command(clients.CommandEvent{Protocol: "imap", Command: name, Outcome: imapOutcome(err), Duration: time.Since(start)})
		return err
	}
	start := time.Now()
	if err := cmd("LOGIN", start, c.Login(r.user.plan.Username, r.user.plan.Password).Wait()); err != nil {
		return fmt.Errorf("imap-append %s: login %s: %w", dl.Addr, r.user.plan.Username, err)
	}
	start = time.Now()
	ac := c.Append(r.folder, int64(len(d.raw)), nil)
	_, werr := ac.Write(d.raw)
	cerr := ac.Close()
	_, err = ac.Wait()
	err = errors.Join(werr, cerr, err)
	if err := cmd("APPEND", start, err); err != nil {
		return fmt.Errorf("imap-append %s: APPEND %s: %w", dl.Addr, r.folder, err)
	}
	start = time.Now()
	_ = cmd("LOGOUT", start, c.Logout().Wait())
	return nil
}

func imapOutcome(err error) clients.Outcome {
	var ie *imap.Error
	switch {
	case err == nil:
		return clients.OutcomeOK
	case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeBad:
		return clients.OutcomeBad
	case errors.As(err, &ie):
		return clients.OutcomeNo
	default:
		return clients.OutcomeError
	}
}

// trackingSubmitter wraps a device's Submitter: it counts sent mail and, for
// recipients inside the simulated population whose mail the server delivers
// itself, records the deliver change.
type trackingSubmitter struct {
	e        *Engine
	next     clients.Submitter
	protocol string
}

func (t *trackingSubmitter) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	if err := t.next.Submit(ctx, from, to, raw); err != nil {
		return err
	}
	t.e.sent.Add(1)
	t.e.o.Observer.Sent(t.protocol)
	if _, isMTA := t.next.(mtaSubmitter); isMTA {
		return nil // the injector records its own deliveries
	}
	id := messageID(raw)
	for _, addr := range to {
		if u := t.e.byAddr[addr]; u != nil && id != "" {
			t.e.delivered.Add(1)
			t.e.trace(Event{Kind: "deliver", User: u.plan.Username, MessageID: id, Folder: "INBOX"})
			t.e.recordChange(audit.Change{User: u.plan.Username, Kind: audit.ChangeKind("deliver"),
				MessageID: id, Folder: "INBOX", Published: true})
		}
	}
	return nil
}

// mtaSubmitter is used when the target has no submission server: the
// injector plays the MTA and delivers the devices' mail to simulated
// recipients through target.delivery; external recipients are only counted.
type mtaSubmitter struct{ e *Engine }

func (m mtaSubmitter) Submit(ctx context.Context, from string, to []string, raw []byte) error {
	var rcpts []recipient
	for _, addr := range to {
		if u := m.e.byAddr[addr]; u != nil {
			rcpts = append(rcpts, recipient{addr: addr, user: u, folder: "INBOX"})
		}
	}
	if len(rcpts) == 0 {
		return nil
	}
	m.e.inj.enqueue(ctx, delivery{from: from, rcpts: rcpts, id: messageID(raw), raw: raw})
	return nil
}
