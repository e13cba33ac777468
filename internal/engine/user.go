package engine

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/cost"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// user is one simulated person with their devices.
type user struct {
	// env is what the user's person needs of the run (env.go).
	env     *env
	plan    *scenarios.User
	devices []*device
	// wake is signalled (non-blocking) when any device view changed, so the
	// person looks at the device in hand again.
	wake chan struct{}
	// started is set once the user's devices and person run.
	started atomic.Bool
	// rec is the recorder of the user's devices: the group's cost meter in
	// front of the run's recorder.
	rec clients.Recorder
	// meter is the group's cost meter; nil when the group has none.
	meter *cost.Meter
	// ids interns the Message-IDs the user's devices, person and audit
	// changes keep: one string per message (internal/view/intern.go).
	ids *view.Interner
}

// device is one device of a user with its run state.
type device struct {
	dev     clients.Device
	running atomic.Bool
	// inbox is where the person's last look at the device's new INBOX
	// messages ended (clients.Device.NewInInbox); only the person's
	// goroutine uses it.
	inbox clients.InboxCursor
}

func (e *Engine) newUser(pu *scenarios.User, people *env) (*user, error) {
	u := &user{env: people, plan: pu, wake: make(chan struct{}, 1), rec: e.o.Recorder, ids: view.NewInterner()}
	if pu.Group != nil {
		if m := e.costs.Group(pu.Group.Name); m != nil {
			u.meter, u.rec = m, m
		}
	}
	ep := e.o.Endpoints
	for i, pd := range pu.Devices {
		var sub clients.Submitter
		if ep.Submission.Addr != "" {
			// The device's sent mail leaves over its own network: its
			// submission is shaped as its IMAP or POP3 connections.
			sub = clients.NewSMTPSubmitter(ep.Submission, clients.SMTPOptions{
				Username: pu.Username,
				Password: pu.Password,
				TLS:      ep.TLS,
				Recorder: u.rec,
				Logger:   e.log,
				Late:     e.late,
				Network:  pd.Profile.Network,
				Clock:    e.clock,
				// A submission in flight at the end has the stop's
				// grace, as the device's own commands.
				StopGrace: e.plan.Scenario.StopGrace,
			})
		} else {
			sub = mtaSubmitter{peers: people.peers, queue: people.queue}
		}
		dev, err := clients.New(clients.Options{
			ID:       pd.ID,
			Profile:  pd.Profile,
			Username: pu.Username,
			Password: pu.Password,
			Address:  pu.Address,
			IMAP:     ep.IMAP,
			POP3:     ep.POP3,
			TLS:      ep.TLS,
			Submitter: &trackingSubmitter{next: sub, protocol: submitProtocol(ep), user: pu.Username, device: pd.ID,
				events: people.events, peers: people.peers, changes: people.changes},
			Clock:       e.clock,
			Recorder:    u.rec,
			Late:        e.late,
			IMAPCaps:    e.imapCaps,
			Seed:        scenarios.DeriveSeed(pu.Seed, int64(i)+1),
			OnChange:    u.changed,
			IDs:         u.ids,
			OnPush:      func(ids []string, at time.Time) { e.push.pushed(pu.Username, ids, at) },
			OnSyncRound: func(wall time.Duration, failed bool) { e.rounds.round(pd.Profile.Name, wall, failed) },
			Logger:      e.log,
			StopGrace:   e.plan.Scenario.StopGrace,
			// The IMAP literal bound follows the scenario's largest mail.
			MaxLiteral: literalCap(e.o.Plan.Scenario),
		})
		if err != nil {
			return nil, fmt.Errorf("user %s device %s: %w", pu.Username, pd.ID, err)
		}
		u.devices = append(u.devices, &device{dev: dev})
	}
	return u, nil
}

// submitProtocol is the protocol a device's sent mail goes to the server
// over, the protocol of its Observer.Sent: SMTP to the submission
// endpoint, else the injector's delivery protocol (IMAP for imap-append).
func submitProtocol(ep Endpoints) string {
	if ep.Submission.Addr != "" {
		return clients.ProtocolSMTP
	}
	if ep.Delivery.Protocol == scenarios.DeliverIMAPAppend {
		// The injector APPENDs it over IMAP: "imap-append" is no
		// protocol of the metrics (it counted under "other").
		return clients.ProtocolIMAP
	}
	return string(ep.Delivery.Protocol)
}

// changed is every device's OnChange: mark the user dirty for the auditor
// and wake the person. It never blocks.
func (u *user) changed() {
	u.env.changes.touch(u.plan.Username)
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *user) auditSpec() audit.UserSpec {
	spec := audit.UserSpec{Name: u.plan.Username, Group: u.plan.Group.Name}
	for _, d := range u.devices {
		dev := d.dev
		p := dev.Profile()
		spec.Devices = append(spec.Devices, audit.DeviceSpec{
			ID:       dev.ID(),
			Profile:  p.Name,
			Protocol: string(p.Protocol),
			Kind:     string(p.Kind),
			View:     func() view.Snapshot { return dev.View() },
		})
	}
	return spec
}

// start launches the user's devices (until devCtx ends) and the person
// (until actCtx ends, finishing the actions it cut short until lateCtx
// ends); running counts the devices that run.
func (u *user) start(devCtx, lateCtx, actCtx context.Context, devWG, actWG *sync.WaitGroup, running *atomic.Int64) {
	u.started.Store(true)
	for _, d := range u.devices {
		devWG.Add(1)
		d.running.Store(true)
		running.Add(1)
		go func(d *device) {
			defer devWG.Done()
			defer func() {
				d.running.Store(false)
				running.Add(-1)
			}()
			if err := d.dev.Run(devCtx); err != nil && devCtx.Err() == nil {
				u.env.log.Warn("device stopped", "device", d.dev.ID(), "err", err)
			}
		}(d)
	}
	actWG.Add(1)
	go func() {
		defer actWG.Done()
		p := newPerson(u)
		p.devCtx = lateCtx
		p.run(actCtx)
	}()
}
