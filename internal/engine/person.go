package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/backoff"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/scenarios"
)

// person is the simulated human behind one user: they receive mail, pick up
// a device, act on new mail and write new messages, on the scenario clock.
type person struct {
	u *user
	// env is what the person needs of the run (env.go).
	env *env
	// devCtx is the context a send the end of the active phase cut short
	// is finished on: it ends when the engine's wait for the people runs
	// out (Engine.waitPeople), at the latest when the devices stop. Nil:
	// the person's own context.
	devCtx context.Context
	// lateWaits counts the backoff waits finishSubmitted made after the
	// end of the active phase, over all the person's actions (bounded).
	lateWaits int

	b   *scenarios.Behavior
	rng *rand.Rand // the person's own decisions (devices in hand, sends)

	hand      *device
	handUntil time.Time

	nextSend, lastAction time.Time

	// pending holds the plan for every message noticed and not finished.
	pending map[string]*plannedMessage
	// order keeps pending message IDs in the order they were noticed, so
	// the person works through mail first-come first-served.
	order []string
	// due holds the pending messages' due times by their place in order
	// (plannedMessage.at), for actionDue and mailDue (due.go).
	due dueIndex
	// done holds messages the person finished with (or gave up on).
	done map[string]bool
	// decideSrc and decideRng are decide's random source, seeded anew
	// for each message.
	decideSrc *rand.PCG
	decideRng *rand.Rand
}

// plannedMessage is what the person will do with one message.
type plannedMessage struct {
	due time.Time
	// at is the message's place in person.order and person.due.
	at      int
	actions []clients.Action
	tries   int
	// resume, when set, finishes actions[0] on resumeOn: it submitted its
	// message and failed after, so it is not done again from the start.
	resume   *clients.Resume
	resumeOn *device
}

// maxTries bounds how often an action on a message is retried when the
// device in hand does not show it (yet).
const maxTries = 20

func newPerson(u *user) *person {
	seed := uint64(u.plan.Seed)
	p := &person{
		u:       u,
		env:     u.env,
		b:       u.plan.Behavior,
		rng:     rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		pending: map[string]*plannedMessage{},
		done:    map[string]bool{},
	}
	return p
}

// expDelay draws an exponentially distributed delay with the given mean
// (Poisson arrivals); a mean <= 0 means never (zero time).
func expDelay(r *rand.Rand, mean time.Duration) time.Duration {
	if mean <= 0 {
		return 0
	}
	return time.Duration(r.ExpFloat64() * float64(mean))
}

func next(now time.Time, r *rand.Rand, mean time.Duration) time.Time {
	if mean <= 0 {
		return time.Time{}
	}
	return now.Add(expDelay(r, mean))
}

func (p *person) run(ctx context.Context) {
	defer p.finishPending(ctx)
	now := p.env.clock.Now()
	p.nextSend = next(now, p.rng, p.b.Send.Interval)
	p.pickHand(now)
	dirty := true
	// One timer for all the person's waits, reset for each (a stopped
	// timer's channel holds no stale tick: go.mod's Go is 1.23 or later).
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for ctx.Err() == nil {
		now = p.env.clock.Now()
		if !now.Before(p.handUntil) {
			p.pickHand(now)
			dirty = true
		}
		if dirty {
			p.notice(now)
			dirty = false
		}
		if p.canAct(now) {
			p.late(p.actionDue(), now)
			if p.sendDue(now) {
				p.send(ctx)
			} else {
				p.actOnMail(ctx, now)
			}
			continue
		}
		wait := p.env.clock.Wall(p.nextWake(now).Sub(now))
		if wait < time.Millisecond {
			wait = time.Millisecond
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.u.wake:
			dirty = true
		case <-t.C:
		}
		t.Stop()
	}
}

// canAct reports whether the person may act now (action_repeat_delay since
// the last action) and has something due.
func (p *person) canAct(now time.Time) bool {
	if !p.lastAction.IsZero() && now.Before(p.lastAction.Add(p.b.ActionRepeatDelay)) {
		return false
	}
	return p.sendDue(now) || p.mailDue(now) != ""
}

func (p *person) sendDue(now time.Time) bool {
	return !p.nextSend.IsZero() && !now.Before(p.nextSend)
}

// nextWake is the next simulated time something is due.
func (p *person) nextWake(now time.Time) time.Time {
	w := p.handUntil
	consider := func(t time.Time) {
		if !t.IsZero() && t.Before(w) {
			w = t
		}
	}
	consider(p.actionDue())
	if w.Before(now) {
		return now
	}
	return w
}

// actionDue is the simulated time the person's next action is due: the
// earliest send or pending mail action, not before action_repeat_delay
// after the last action; zero when nothing is pending.
func (p *person) actionDue() time.Time {
	earliest := p.nextSend
	if due := p.due.earliest(); !due.IsZero() && (earliest.IsZero() || due.Before(earliest)) {
		earliest = due
	}
	if !earliest.IsZero() {
		if ready := p.lastAction.Add(p.b.ActionRepeatDelay); !p.lastAction.IsZero() && earliest.Before(ready) {
			earliest = ready
		}
	}
	return earliest
}

// late emits how much later than due (simulated) the person started
// something at now, in wall time (EventLate).
func (p *person) late(due, now time.Time) {
	if !due.IsZero() {
		p.env.late(LateAction, p.u.plan.Username, due, now)
	}
}

// pickHand chooses the device in hand for the next session, by the
// scenario's weights per device kind.
func (p *person) pickHand(now time.Time) {
	weights := p.env.hand
	total := 0.0
	for _, d := range p.u.devices {
		total += weights[d.dev.Profile().Kind]
	}
	p.hand = p.u.devices[0]
	if total > 0 {
		x := p.rng.Float64() * total
		for _, d := range p.u.devices {
			x -= weights[d.dev.Profile().Kind]
			if x < 0 {
				p.hand = d
				break
			}
		}
	} else {
		p.hand = p.u.devices[p.rng.IntN(len(p.u.devices))]
	}
	length := p.b.SessionLength
	if length <= 0 {
		length = 20 * time.Minute
	}
	p.handUntil = now.Add(length)
}

// The sizes of the mail a person writes: a new message's is drawn
// log-uniformly from NewMailMin to NewMailMax (drawSize), a reply's is
// ReplySize; a forward's is left to the device (clients: about as much).
const (
	NewMailMin = 1 << 10
	NewMailMax = 64 << 10
	ReplySize  = 4 << 10
)

// TypicalSent returns the median size of the mail a person of behavior
// b submits, for the estimate of a submission's length against its
// network's drops (cmd/mailsim/validate.go, networkWarnings): a new
// message's median (8 KiB, the geometric mean of NewMailMin and
// NewMailMax) when b writes new mail (send.interval), else ReplySize when
// b replies to or forwards the mail it reads; 0 when b sends nothing.
func TypicalSent(b *scenarios.Behavior) int64 {
	o := b.OnNewMail
	switch {
	case b.Send.Interval > 0:
		return int64(math.Round(math.Sqrt(float64(NewMailMin) * float64(NewMailMax))))
	case b.Inbound.Interval > 0 && o.Read > 0 && (o.Reply > 0 || o.Forward > 0):
		return ReplySize
	}
	return 0
}

// drawSize draws a message size, log-uniformly in the range (mail sizes
// span orders of magnitude; most messages are small).
func drawSize(r *rand.Rand, rg scenarios.Range) int64 {
	lo, hi := float64(rg.Min), float64(rg.Max)
	if lo < 512 {
		lo = 512
	}
	if hi <= lo {
		return int64(lo)
	}
	return int64(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo))))
}

var senderNames = []string{"alice.martin", "bob.okafor", "carla.rossi", "dmitri.ivanov", "emma.schmidt",
	"farid.haddad", "grace.lee", "hugo.dubois", "ines.garcia", "jonas.berg", "kiko.tanaka", "lena.novak"}

var externalDomains = []string{"example.net", "example.org", "mail.example.net", "partner.example.org"}

// externalAddress draws an address outside the simulated population.
func externalAddress(r *rand.Rand) string {
	return senderNames[r.IntN(len(senderNames))] + "@" + externalDomains[r.IntN(len(externalDomains))]
}

// detailAddress turns user@domain into user+folder@domain (Dovecot's
// lmtp_save_to_detail_mailbox).
func detailAddress(addr, folder string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[:i] + "+" + folder + addr[i:]
		}
	}
	return addr + "+" + folder
}

// notice looks at the device in hand and plans what to do with new INBOX
// messages it shows.
func (p *person) notice(now time.Time) {
	// Only the messages that came into INBOX since the person last looked
	// at this device (NewInInbox), of those the ones not seen before, in
	// Message-ID order: what the device shows in INBOX and the person has
	// not noticed, as the whole view would tell, at a cost that does not
	// grow with the mailbox. A message the device showed in INBOX at the
	// last look is done or pending already.
	var fresh []string
	fresh, p.hand.inbox = p.hand.dev.NewInInbox(p.hand.inbox)
	fresh = slices.DeleteFunc(fresh, func(id string) bool { return p.done[id] || p.pending[id] != nil })
	slices.Sort(fresh)
	fresh = slices.Compact(fresh) // NewInInbox may name a message twice
	for _, id := range fresh {
		actions, filtered := p.decide(id)
		if len(actions) == 0 {
			p.done[id] = true
			continue
		}
		due := now.Add(p.b.ActionDelay)
		if filtered {
			due = now // a filter rule acts as soon as the device sees the mail
		}
		p.plan(id, &plannedMessage{due: due, actions: actions})
	}
}

// plan makes pm the plan of message id, the last noticed, and counts its
// actions planned. pm.due must be set (a zero time is no due time to
// dueIndex).
func (p *person) plan(id string, pm *plannedMessage) {
	pm.at = len(p.order)
	p.pending[id] = pm
	p.due.set(pm.at, pm.due)
	p.order = append(p.order, id)
	for _, a := range pm.actions {
		p.env.events.Handle(Event{Type: EventActionsPlanned, Kind: string(a.Kind), Count: 1, User: p.u.plan.Username})
	}
}

// decide draws what the person will do with a message. The draw depends on
// the person's seed and the Message-ID only, so it does not depend on the
// order in which messages happen to be noticed. filtered is true when the
// message is moved to Junk by a filter rule (on_new_mail.move_filter, the
// client-side filter of imaptest's profiles), which acts at once and
// instead of the person.
func (p *person) decide(id string) (acts []clients.Action, filtered bool) {
	r := p.decisionRand(id)
	o := p.b.OnNewMail
	if r.Float64() < o.MoveFilter {
		return []clients.Action{{Kind: clients.ActMove, MessageID: id, Folder: view.FolderJunk}}, true
	}
	read := r.Float64() < o.Read
	if read {
		acts = append(acts, clients.Action{Kind: clients.ActRead, MessageID: id})
	}
	if r.Float64() < o.Flag {
		acts = append(acts, clients.Action{Kind: clients.ActFlag, MessageID: id})
	}
	if read && r.Float64() < o.Reply {
		acts = append(acts, clients.Action{Kind: clients.ActReply, MessageID: id, Size: ReplySize})
	}
	if read && r.Float64() < o.Forward {
		acts = append(acts, clients.Action{Kind: clients.ActForward, MessageID: id, To: []string{p.recipient(r)}})
	}
	switch x := r.Float64(); {
	case x < o.Delete:
		acts = append(acts, clients.Action{Kind: clients.ActDelete, MessageID: id})
	case x < o.Delete+o.Move && len(p.b.Folders) > 0:
		acts = append(acts, clients.Action{Kind: clients.ActMove, MessageID: id, Folder: p.b.Folders[r.IntN(len(p.b.Folders))]})
	}
	return acts, false
}

// decisionRand returns decide's random source for message id: the
// person's seed and the FNV-1a hash of id, as rand.New(rand.NewPCG(seed,
// fnv64a(id))) (hash/fnv's New64a), without their allocations: one source
// per person, seeded anew for each message.
func (p *person) decisionRand(id string) *rand.Rand {
	h := uint64(14695981039346656037) // FNV-1a 64 offset basis
	for i := 0; i < len(id); i++ {
		h = (h ^ uint64(id[i])) * 1099511628211 // FNV-1a 64 prime
	}
	if p.decideSrc == nil {
		p.decideSrc = new(rand.PCG)
		p.decideRng = rand.New(p.decideSrc)
	}
	p.decideSrc.Seed(uint64(p.u.plan.Seed), h)
	return p.decideRng
}

// recipient picks the address of new or forwarded mail: another simulated
// user of the run (send.internal share) or an external address.
func (p *person) recipient(r *rand.Rand) string {
	if n := p.env.peers.size(); n > 1 && r.Float64() < p.b.Send.Internal {
		for range 4 {
			other := p.env.peers.at(r.IntN(n))
			if other != p.u {
				return other.plan.Address
			}
		}
	}
	return externalAddress(r)
}

// mailDue returns the first pending message with an action due, or "".
func (p *person) mailDue(now time.Time) string {
	if i := p.due.first(now); i >= 0 {
		return p.order[i]
	}
	return ""
}

// actOnMail performs the next action on the first message that is due.
// An action that failed is tried again later, up to maxTries per message;
// one that submitted mail before it failed is resumed on the device that
// sent it, never repeated (when the end of the active phase cuts it short,
// at once: finishSubmitted); one whose submission got no reply after the
// message data (clients.ErrUnanswered) is given up at once, as the mail
// may have left, and the message's next actions go on. Actions given up
// are counted (actionsDropped), and so is an action the end of the active
// phase cut (cut); the message's later actions count pending when the
// person stops (finishPending).
func (p *person) actOnMail(ctx context.Context, now time.Time) {
	id := p.mailDue(now)
	pm := p.pending[id]
	a, d := pm.actions[0], p.hand
	if pm.resume != nil {
		a.Resume, d = pm.resume, pm.resumeOn
	}
	p.lastAction = now
	resume, err := p.doOn(ctx, d, a)
	switch {
	case err == nil:
		pm.actions = pm.actions[1:]
		pm.resume, pm.resumeOn = nil, nil
	case ctx.Err() != nil:
		// The end of the active phase cut the action short (no failed
		// try: a submission under way counts cut or unanswered,
		// trackingSubmitter); one that submitted its message is
		// finished while the devices run (done or given up), any other
		// counts cut. A resume that failed with nothing left to resume
		// is tried again by finishPending (done or given up there).
		switch {
		case resume != nil:
			_ = p.finishSubmitted(ctx, d, a, resume, err, id)
			pm.resume, pm.resumeOn = nil, nil
		case pm.resume != nil:
			return
		default:
			p.cut(d, a, id, err)
		}
		pm.actions = pm.actions[1:]
	case resume == nil && errors.Is(err, clients.ErrUnanswered):
		// The reply or forward may have left (the server may have taken
		// it): submitted again, it could reach its recipients twice.
		// Given up, without its copy in Sent or its flag (the device
		// did neither); the audit looks for the delivery
		// (trackingSubmitter).
		p.dropped(d, a, id, err)
		pm.actions = pm.actions[1:]
	default:
		if resume != nil {
			pm.resume, pm.resumeOn = resume, d
		}
		// ErrNoMessage: not on the device in hand (yet); else it failed.
		// Look again later either way.
		pm.tries++
		if pm.tries < maxTries {
			pm.due = now.Add(max(p.b.ActionRepeatDelay, time.Minute))
			p.due.set(pm.at, pm.due)
			return
		}
		for _, left := range pm.actions {
			p.env.events.Handle(Event{Type: EventActionsDropped, Kind: string(left.Kind), Count: 1,
				User: p.u.plan.Username, Device: d.dev.ID(), MessageID: id, Err: err})
		}
		p.env.log.Debug("actions given up", "device", d.dev.ID(), "message", id, "actions", len(pm.actions), "err", err)
		pm.actions = nil
	}
	if len(pm.actions) == 0 {
		delete(p.pending, id)
		p.due.set(pm.at, time.Time{})
		p.done[id] = true
		p.compact()
	}
}

// compact drops finished IDs from the order slice once they dominate it.
func (p *person) compact() {
	if len(p.order) < 64 || len(p.pending)*2 > len(p.order) {
		return
	}
	kept := p.order[:0]
	leaves := dueMinLeaves
	for leaves < len(p.pending) {
		leaves *= 2
	}
	p.due.reset(leaves) // every pending message is in order, once
	for _, id := range p.order {
		if pm := p.pending[id]; pm != nil {
			pm.at = len(kept)
			p.due.nodes[p.due.leaves+pm.at] = pm.due
			kept = append(kept, id)
		}
	}
	p.due.fix()
	p.order = kept
}

// send writes and sends a new message from the device in hand.
func (p *person) send(ctx context.Context) {
	now := p.env.clock.Now()
	p.nextSend = now.Add(expDelay(p.rng, p.b.Send.Interval))
	p.lastAction = now
	n := 1 + p.rng.IntN(2)
	to := make([]string, 0, n)
	for range n {
		to = append(to, p.recipient(p.rng))
	}
	to = clients.DistinctRecipients(to) // the same colleague drawn twice is one recipient
	size := drawSize(p.rng, scenarios.Range{Min: NewMailMin, Max: NewMailMax})
	p.env.events.Handle(Event{Type: EventActionsPlanned, Kind: string(clients.ActSend), Count: 1, User: p.u.plan.Username})
	_ = p.do(ctx, clients.Action{Kind: clients.ActSend, To: to, Size: size, WriteTime: p.b.Send.WriteTime})
}

// do performs one action on the device in hand and records the change.
// It is the path of sends, which are not submitted again: a send that
// failed before its submission, or whose later steps still failed after
// sendResumeTries resumes, is counted as given up; one the end of the
// active phase cut before it left (being written, or its submission under
// way), as cut.
func (p *person) do(ctx context.Context, a clients.Action) error {
	d := p.hand
	resume, err := p.doOn(ctx, d, a)
	switch {
	case err == nil:
	case resume != nil:
		// It left: finished, never sent again.
		err = p.finishSubmitted(ctx, d, a, resume, err, "")
	case ctx.Err() == nil:
		// Given up: it failed before it left.
		p.dropped(d, a, "", err)
	default:
		// Cut by the end of the active phase before it left, while it
		// was written or submitted: no failed try, not given up (its
		// submission, if one was under way, counts cut or unanswered,
		// trackingSubmitter).
		p.cut(d, a, "", err)
	}
	return err
}

// sendResumeTries bounds the tries to finish an action after its
// submission.
const sendResumeTries = 3

// lateResumeBackoff is the wait (simulated) between the tries to finish an
// action after the end of the active phase: 15 s, then 30 s, as the
// devices back off after a failed sync (clients/retry.go).
var lateResumeBackoff = backoff.Options{Base: 15 * time.Second, Max: time.Minute}

// finishSubmitted finishes action a, which submitted its message on device
// d and failed after with err (resume: the steps left), a few times, a
// simulated minute apart, as a client retries saving to Sent; when the
// person stopped (ctx ended: the end of the active phase), on the devices'
// context while they still run: the first try at once, the next ones after
// lateResumeBackoff, so that a server refusing them is not asked again
// without a pause, at most sendResumeTries-1 such waits per person in all
// (p.lateWaits: the engine waits for every person before settling, so
// the late phase lasts at most 15 s + 30 s simulated per person; an
// action after the budget is spent gets its first try only); the tries
// end with devCtx, which the engine ends when its wait for the people
// runs out (peopleBudget) whatever the server does. An action
// that stays unfinished is counted as given up: its send change stays
// incomplete (action-incomplete, docs/report.md), and every such change is
// one counted action. id is the message acted on ("" for a new message).
// It returns the last error, nil when the action was finished.
func (p *person) finishSubmitted(ctx context.Context, d *device, a clients.Action, resume *clients.Resume, err error, id string) error {
	late := 0 // tries made after ctx ended
	for try := 0; resume != nil && try < sendResumeTries; try++ {
		rctx := ctx
		if ctx.Err() != nil || p.env.clock.Sleep(ctx, time.Minute) != nil {
			rctx = p.devCtx
			if rctx == nil {
				break
			}
			if late > 0 {
				// The person's budget of late waits, shared by all its
				// actions: the engine waits for every person before the
				// settle phase, so a person with many refused actions
				// must not hold it up by a backoff per action.
				if p.lateWaits >= sendResumeTries-1 {
					break
				}
				wait := lateResumeBackoff.Delay(p.lateWaits, nil)
				p.lateWaits++
				if p.env.clock.Sleep(rctx, wait) != nil {
					break
				}
			}
			late++
		}
		if rctx.Err() != nil {
			break
		}
		a.Resume = resume
		if resume, err = p.doOn(rctx, d, a); err == nil {
			return nil
		}
	}
	p.dropped(d, a, id, err)
	return err
}

// finishPending finishes, when the person stops (ctx ended), the actions
// that submitted their message and wait for their next try to finish
// (each done or given up), and counts the planned actions left: pending,
// waiting their turn or their next try (EventActionsPending).
func (p *person) finishPending(ctx context.Context) {
	var left, overdue int64
	now := p.env.clock.Now()
	for _, id := range p.order {
		pm := p.pending[id]
		if pm == nil {
			continue
		}
		if pm.resume != nil {
			err := fmt.Errorf("%s %s: %w", pm.resumeOn.dev.ID(), pm.actions[0].Kind, errUnfinished)
			_ = p.finishSubmitted(ctx, pm.resumeOn, pm.actions[0], pm.resume, err, id)
			pm.resume, pm.resumeOn = nil, nil
			pm.actions = pm.actions[1:]
		}
		left += int64(len(pm.actions))
		overdue += p.overdue(pm, now)
	}
	if left > 0 {
		p.env.events.Handle(Event{Type: EventActionsPending, Count: left, Overdue: overdue, User: p.u.plan.Username})
	}
}

// overdue counts pm's actions whose turn had come by now under the
// scenario's pace: the first at pm.due, each next one action_repeat_delay
// after the one before (as actionDue spaces them). A person who keeps the
// pace has few; one whose replies came slower than it has many
// (report.behindNote).
func (p *person) overdue(pm *plannedMessage, now time.Time) int64 {
	var n int64
	for i := range pm.actions {
		if pm.due.IsZero() || pm.due.Add(time.Duration(i)*p.b.ActionRepeatDelay).After(now) {
			break
		}
		n++
	}
	return n
}

// errUnfinished is why an action that waited for its next try to finish
// is given up: the devices stopped first.
var errUnfinished = errors.New("submitted, not finished when the run ended")

// cut counts action a, which the end of the active phase cut under way on
// device d (id: the message acted on, if any; err: what the device said).
func (p *person) cut(d *device, a clients.Action, id string, err error) {
	p.env.events.Handle(Event{Type: EventActionCut, Kind: string(a.Kind), User: p.u.plan.Username,
		Device: d.dev.ID(), Profile: d.dev.Profile().Name, MessageID: id, Err: err})
	p.env.log.Debug("action cut by the end of the active phase", "device", d.dev.ID(), "action", a.Kind, "message", id, "err", err)
}

// dropped counts action a given up on device d (id: the message acted
// on, if any).
func (p *person) dropped(d *device, a clients.Action, id string, err error) {
	p.env.events.Handle(Event{Type: EventActionsDropped, Kind: string(a.Kind), Count: 1, User: p.u.plan.Username,
		Device: d.dev.ID(), MessageID: id, Err: err})
	p.env.log.Debug("action given up", "device", d.dev.ID(), "message", id, "err", err)
}

// doOn performs one action on device d and records the change. Mail the
// action submitted is recorded as a send change at once, also when a later
// step failed (the mail left; it belongs in Sent), and only once: a
// resumed action submits nothing. A failed action returns the Resume that
// finishes it, if any.
func (p *person) doOn(ctx context.Context, d *device, a clients.Action) (*clients.Resume, error) {
	dev := d.dev
	at := p.env.clock.Now()
	res, err := dev.Do(ctx, a)
	// The server had the action's changes by its end (audit.Change.Done):
	// a send's copy reaches Sent after the writing time.
	done := p.env.clock.Now()
	if res.Sent != "" && a.Resume == nil {
		// A send whose later steps failed is incomplete until a resume
		// stores its copy in Sent (then the change converges).
		p.env.changes.record(audit.Change{User: p.u.plan.Username, Device: dev.ID(), Kind: audit.ChangeKind(clients.ActSend),
			MessageID: p.u.ids.Intern(res.Sent), At: at, Done: done, Folder: view.FolderSent, Published: res.Published, Incomplete: err != nil})
	}
	if res.Sent != "" && a.Resume != nil && err == nil {
		// The resume stored the copy: the send change is complete.
		p.env.changes.record(audit.Change{User: p.u.plan.Username, Device: dev.ID(), Kind: audit.ChangeKind(clients.ActSend),
			MessageID: res.Sent, Done: done, Completes: true})
	}
	if res.Draft != "" {
		// A send that ended before its message left: its draft stays on
		// the server, no mail, but a message the devices show.
		p.env.changes.record(audit.Change{User: p.u.plan.Username, Device: dev.ID(), MessageID: p.u.ids.Intern(res.Draft),
			At: res.DraftSaved, Folder: res.Folder, Published: true, Draft: true})
	}
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, clients.ErrNoMessage) {
			p.env.events.Handle(Event{Type: EventActionFailed, Kind: string(a.Kind), User: p.u.plan.Username,
				Device: dev.ID(), Profile: dev.Profile().Name, Err: err})
			p.env.log.Debug("action failed", "device", dev.ID(), "action", a.Kind, "err", err)
		}
		return res.Resume, fmt.Errorf("%s %s: %w", dev.ID(), a.Kind, err)
	}
	c := audit.Change{
		User:      p.u.plan.Username,
		Device:    dev.ID(),
		Kind:      audit.ChangeKind(a.Kind),
		MessageID: a.MessageID,
		At:        at,
		Done:      done,
		Published: res.Published,
	}
	switch a.Kind {
	case clients.ActRead:
		c.Flags = view.Seen
	case clients.ActReply:
		c.Flags = view.Answered
	case clients.ActForward:
		c.Flags = view.Forwarded
	case clients.ActFlag:
		c.Flags = view.Flagged
	case clients.ActMove, clients.ActDelete:
		c.Folder, c.From = res.Folder, res.From
	case clients.ActSend:
		c.MessageID = "" // recorded above, when it was submitted
	}
	if c.MessageID != "" {
		p.env.changes.record(c)
	}
	acted := a.MessageID
	if a.Kind == clients.ActSend {
		acted = res.Sent
	}
	p.env.events.Handle(Event{Type: EventAction, Kind: string(a.Kind), User: p.u.plan.Username, Device: dev.ID(),
		Profile: dev.Profile().Name, MessageID: acted, Folder: a.Folder})
	return nil, nil
}
