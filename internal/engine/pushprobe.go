package engine

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/mailgen"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// probeTimeout bounds each network operation of the push probe (dial,
// one command, one delivery try).
const probeTimeout = 10 * time.Second

// PushProbe is what ProbePush measured: one push latency, a lower bound
// of it, or why nothing was measured.
type PushProbe struct {
	// User is the probe user: the plan's first.
	User string
	// Latency is the wall time from the start of the delivery's
	// hand-over (its DATA or APPEND, as in the run) to the IDLE
	// notification of its arrival; with TimedOut, the wait that
	// passed without one (a lower bound). Zero when Skipped.
	Latency time.Duration
	// TimedOut says no notification came within the wait.
	TimedOut bool
	// Skipped says why nothing was measured; empty when Latency is set.
	Skipped string
	// Removed says the probe message was expunged again (the server has
	// UIDPLUS, and the message arrived, if late); otherwise it stays in
	// the probe user's INBOX.
	Removed bool
}

// ProbePush measures the server's push latency once, as the run does
// (docs/report.md, "Push latency"): it logs in over ep.IMAP as the plan's
// first user, SELECTs INBOX and IDLEs, delivers one new message to that
// user's INBOX over ep.Delivery with the injector (LMTP, SMTP or IMAP
// APPEND), and takes the time from the start of its hand-over (the DATA
// or APPEND) to the untagged EXISTS that announces it, waiting at most
// wait (wall). It then expunges the message again (found by its
// Message-ID, also when it was not announced in time) where the server
// has UIDPLUS. Skipped names
// the reason when the plan has no user, the target no IMAP endpoint or no
// delivery path, or the server no IDLE. Every network operation is bounded
// by probeTimeout; a failed login, command or delivery is the error.
func ProbePush(ctx context.Context, plan *scenarios.Plan, ep Endpoints, wait time.Duration) (PushProbe, error) {
	switch {
	case len(plan.Users) == 0:
		return PushProbe{Skipped: "the plan has no user to probe as"}, nil
	case ep.IMAP.Addr == "":
		return PushProbe{Skipped: "the target has no IMAP endpoint to IDLE on"}, nil
	case ep.Delivery.Protocol == "" || ep.Delivery.Addr == "":
		return PushProbe{Skipped: "the target has no delivery path"}, nil
	}
	pu := plan.Users[0]
	res := PushProbe{User: pu.Username}
	ctx, cancel := context.WithTimeout(ctx, wait+4*probeTimeout)
	defer cancel()

	// exists carries the message counts of untagged EXISTS replies, with
	// the wall time they arrived.
	type count struct {
		n  uint32
		at time.Time
	}
	exists := make(chan count, 16)
	conn, c, err := transport.DialIMAP(ctx, transport.Config{Protocol: clients.ProtocolIMAP, Endpoint: ep.IMAP, Timeout: probeTimeout, TLS: ep.TLS},
		&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case exists <- count{*d.NumMessages, time.Now()}:
					default: // the probe needs only the first ones
					}
				}
			},
		}})
	if err != nil {
		if transport.Step(err) == transport.StepStartTLS {
			return res, fmt.Errorf("push probe: imap %s: %w", ep.IMAP.Addr, err)
		}
		return res, fmt.Errorf("push probe: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer c.Close()
	fail := func(what string, err error) error {
		return fmt.Errorf("push probe: imap %s: %s: %w", ep.IMAP.Addr, what, conn.Explain(err))
	}
	_ = conn.Extend(0)
	if err := transport.LoginIMAP(c, pu.Username, pu.Password); err != nil {
		return res, fail("login "+pu.Username, err)
	}
	_ = conn.Extend(0)
	caps, err := c.Capability().Wait()
	if err != nil {
		return res, fail("CAPABILITY", err)
	}
	if !caps.Has(imap.CapIdle) && !caps.Has(imap.CapIMAP4rev2) {
		_ = c.Logout().Wait()
		return PushProbe{User: pu.Username, Skipped: "the server does not announce IDLE"}, nil
	}
	_ = conn.Extend(0)
	sel, err := c.Select(view.FolderInbox, nil).Wait()
	if err != nil {
		return res, fail("SELECT INBOX", err)
	}
	before := sel.NumMessages
	_ = conn.Extend(wait + probeTimeout)
	idle, err := c.Idle()
	if err != nil {
		return res, fail("IDLE", err)
	}

	msg := mailgen.Generator{Domain: domain(plan)}.New(rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x9e3779b97f4a7c15)),
		"push-probe@mailsim.invalid", []string{pu.Address}, 2048, false, time.Now())
	start := time.Now()
	handed, err := probeDeliver(ctx, plan, ep, pu, msg.ID, msg.Raw)
	if err != nil {
		_ = idle.Close()
		return res, fmt.Errorf("push probe: %w", err)
	}
	t := time.NewTimer(max(wait-time.Since(start), 0))
	defer t.Stop()
listen:
	for {
		select {
		case e := <-exists:
			if e.n > before {
				res.Latency = max(e.at.Sub(handed), 0)
				break listen
			}
		case <-t.C:
			res.Latency, res.TimedOut = wait, true
			break listen
		case <-c.Closed():
			return res, fail("IDLE", conn.Err())
		case <-ctx.Done():
			return res, fail("IDLE", ctx.Err())
		}
	}
	_ = conn.Extend(0)
	if err := idle.Close(); err != nil {
		return res, fail("DONE", err)
	}
	if err := idle.Wait(); err != nil {
		return res, fail("IDLE", err)
	}
	if caps.Has(imap.CapUIDPlus) {
		removed, err := removeProbe(c, msg.ID)
		if err != nil {
			return res, fail("removing the probe message", err)
		}
		res.Removed = removed
	}
	_ = c.Logout().Wait()
	return res, nil
}

// probeDeliver delivers the probe message to pu's INBOX over ep's delivery
// path, once, with the run's injector (no retry: a failure is the probe's
// result).
func probeDeliver(ctx context.Context, plan *scenarios.Plan, ep Endpoints, pu *scenarios.User, id string, raw []byte) (handed time.Time, err error) {
	in := newInjector(injectorParts{delivery: ep.Delivery, tls: ep.TLS, rec: clients.DiscardRecorder{}, log: slog.New(slog.DiscardHandler),
		events: SinkFunc(func(Event) {}), changes: discardChanges{}, push: newPushTracker()}, 1)
	in.timeout = probeTimeout
	d := delivery{from: "push-probe@mailsim.invalid", id: id, raw: raw, inbound: true,
		rcpts: []recipient{{addr: pu.Address, user: &user{plan: pu}, folder: view.FolderInbox}}}
	var results []rcptResult
	if ep.Delivery.Protocol == scenarios.DeliverIMAPAppend {
		results = in.appendIMAP(ctx, d, d.rcpts)
	} else {
		var sc *smtpConn
		results = in.trySMTP(ctx, &sc, d, d.rcpts)
		if sc != nil {
			sc.close()
		}
	}
	for _, r := range results {
		if r.err != nil {
			return time.Time{}, fmt.Errorf("delivery by %s: %w", ep.Delivery.Protocol, r.err)
		}
		handed = r.handed
	}
	return handed, nil
}

// removeProbe expunges the message with Message-ID id from the selected
// mailbox (UID EXPUNGE: no other message marked \Deleted goes with it)
// and reports whether it found it.
func removeProbe(c *imapclient.Client, id string) (bool, error) {
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
	if err != nil {
		return false, err
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return false, nil
	}
	set := imap.UIDSetNum(uids...)
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		return false, err
	}
	if err := c.UIDExpunge(set).Close(); err != nil {
		return false, err
	}
	return true, nil
}

// discardChanges is a changeSink that keeps nothing: the probe's message is
// no simulated user's change.
type discardChanges struct{}

func (discardChanges) record(audit.Change) {}
func (discardChanges) touch(string)        {}
func (discardChanges) now() time.Time      { return time.Time{} }
