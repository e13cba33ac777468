package audit

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/mailsim/mailsim/internal/view"
)

// Truth reads the server's state of a user's mailbox: every message in every
// folder, with its flags. Snapshot.Synced and Window are unused.
type Truth interface {
	UserState(ctx context.Context, user string) (view.Snapshot, error)
}

// KindResult is the outcome of the changes of one kind.
type KindResult struct {
	// Changes recorded; Converged of them reached every other device
	// (including changes with no other device to reach, which add no lag).
	Changes, Converged int
	// Lags of the converged changes, sorted ascending.
	Lags []time.Duration
	// LagsBounded counts the Lags that are not exact to the device's
	// sync: a device's sync log (view.SyncLog) dropped the sync that
	// first showed the change, or, for a delete that expunged a message
	// from a folder the change does not name (Change.From), the latest of
	// the device's folders counted; each is an upper bound. Or the
	// device came to show it by nothing its log tells of after a sync an
	// audit found it missing the change (pendingChange.missed): that
	// sync's start, a lower bound.
	LagsBounded int
	// Unconverged counts the changes that never converged, each once,
	// under the first reason in Reasons that applies to one of the devices
	// it did not reach.
	Unconverged map[Reason]int
}

// Quantile returns the q-quantile (0..1) of Lags by the nearest-rank
// method, and false when there is no lag.
func (k KindResult) Quantile(q float64) (time.Duration, bool) {
	return quantile(k.Lags, q)
}

func quantile(sorted []time.Duration, q float64) (time.Duration, bool) {
	if len(sorted) == 0 {
		return 0, false
	}
	i := int(q*float64(len(sorted))+0.999999999) - 1
	i = min(max(i, 0), len(sorted)-1)
	return sorted[i], true
}

// GroupResult is the final audit of one group of users.
type GroupResult struct {
	Divergence  Divergence
	Convergence map[ChangeKind]KindResult
	// Delivered and Sent count deliver and send changes; Lost the lost
	// messages.
	Delivered, Sent, Lost int
}

// LostMessage names one lost message.
type LostMessage struct {
	User, MessageID string
}

// MaxLostListed bounds Result.LostMessages.
const MaxLostListed = 1000

// MaxExamples bounds Result.Examples per change kind and reason.
const MaxExamples = 5

// Example is one unconverged change with the device that decided its
// reason.
type Example struct {
	Change Change
	Reason Reason
	// Device is the device the change did not reach (for that reason).
	Device string
}

// Result is the final audit of a run.
type Result struct {
	// Users and Devices audited.
	Users, Devices int
	// Overall divergence and by group.
	Overall Divergence
	Groups  map[string]GroupResult
	// Convergence by change kind over every user.
	Convergence map[ChangeKind]KindResult
	// Delivered and Sent count deliver and send changes; Lost counts lost
	// messages (delivered or sent, not deleted by a person, on no device
	// and not on the server).
	Delivered, Sent, Lost int
	// LostMessages lists the first MaxLostListed lost messages, sorted.
	LostMessages []LostMessage
	// Examples lists, for each change kind and reason, up to
	// MaxExamples unconverged changes, to look into.
	Examples []Example
	// ServerChecked is false when Final ran without a Truth, or when the
	// state of no user could be read: lost mail was then not counted and
	// reasons that need the server's state were not looked for.
	ServerChecked bool
	// UsersUnchecked counts the users whose server state was not read
	// (every user without a Truth). Their lost mail is not counted (Lost
	// is then a lower bound) and their unconverged changes get no reason
	// that needs the server's state (ReasonServerUnreadable instead).
	UsersUnchecked int
	// DivergentByReason explains every divergent message of Overall once:
	// under the first reason in Reasons of the unconverged changes to it,
	// or, when no change to it is pending, under the cause the views and
	// the server's state show (deleted-from-server, kept-locally,
	// not-synced-yet, outside-window, folder-not-synced, flags-not-synced,
	// server-unreadable), or else under ReasonUnexplained. Its counts sum to
	// Overall.Divergent.
	DivergentByReason map[Reason]int
	// Unexplained lists the first MaxUnexplainedListed divergent messages
	// counted under ReasonUnexplained, by user and Message-ID.
	Unexplained []UnexplainedMessage
	// POP3Marking is the server's POP3 read marking as the final state
	// shows it (only users whose state was read).
	POP3Marking POP3Marking
	// Unanswered is what became of the injector's deliveries whose fate
	// the server never told (Change.Unanswered).
	Unanswered Unanswered
	// SubmissionUnanswered is the same for the deliveries of the devices'
	// SMTP submissions whose reply never came (Change.Submitted), one per
	// simulated recipient.
	SubmissionUnanswered Unanswered
}

// Unanswered sorts the deliveries whose fate the server never told
// (Change.Unanswered), one per user and Message-ID, by what the end of
// the run shows.
type Unanswered struct {
	// Stored: the server had the message after all. Its state at the
	// end holds it, a device shows it, or a person acted on it (a change
	// other than deliver and send: it was on a device).
	Stored int
	// NotStored: none of that, and the user's state on the server was
	// read: the server did not store it.
	NotStored int
	// Unchecked: nothing shows it, and the user's state on the server
	// was not read.
	Unchecked int
}

// add sorts u's deliveries of unknown fate (mark: markUnanswered or
// markSubmitUnanswered) into res by the views of u's devices and server,
// u's state on the server (nil when not read).
func (res *Unanswered) add(u *user, mark msgMarks, views []view.Snapshot, server *view.Snapshot) {
	for _, id := range u.marked(mark) {
		onServer := false
		if server != nil {
			_, onServer = server.Messages[id]
		}
		switch {
		case onServer, onAnyDevice(views, id), u.has(id, markActed), u.has(id, markDeleted):
			res.Stored++
		case server == nil:
			res.Unchecked++
		default:
			res.NotStored++
		}
	}
}

// POP3Marking is what the server showed of POP3 read marking: of the
// messages a POP3 device downloaded (RETR) and no person acted on over IMAP
// (no published change but their delivery), still on the server at the
// end, how many it shows \Seen. Dovecot and the embedded server mark a
// downloaded message \Seen, Cyrus by default does not.
type POP3Marking struct {
	// Downloaded counts those messages; Seen those the server shows \Seen.
	Downloaded, Seen int
}

// MarksSeen says whether the server marks downloaded mail \Seen: true when
// at least 90% of the messages are \Seen, false when at most 10% are, and
// known false when there is no such message or the share is in between
// (mixed: a download cut before QUIT may leave the flag unset).
func (m POP3Marking) MarksSeen() (marks, known bool) {
	if m.Downloaded == 0 {
		return false, false
	}
	switch share := float64(m.Seen) / float64(m.Downloaded); {
	case share >= 0.9:
		return true, true
	case share <= 0.1:
		return false, true
	}
	return false, false
}

// Final audits every user one last time, reads each user's server state
// from truth (nil: none), classifies every change that did not converge and
// counts lost mail. A user whose state truth cannot read (or whose read
// ctx no longer allows) is audited without it and counted in
// Result.UsersUnchecked; the other users are audited normally. The error
// then says how many users were not read and why the first was not; the
// Result is complete either way. Final does not consume the pending
// changes: calling it again re-examines them.
func (a *Auditor) Final(ctx context.Context, truth Truth) (Result, error) {
	a.auditMu.Lock()
	defer a.auditMu.Unlock()
	a.dirtyMu.Lock()
	a.dirty = nil
	a.dirtyMu.Unlock()
	a.usersMu.RLock()
	users := slices.Clone(a.order)
	a.usersMu.RUnlock()

	res := Result{
		Groups:            make(map[string]GroupResult),
		Convergence:       make(map[ChangeKind]KindResult),
		DivergentByReason: make(map[Reason]int),
	}
	var firstErr error
	type extra struct {
		unconverged map[ChangeKind]map[Reason]int
		lost        int
	}
	byGroup := make(map[string]*extra)
	examples := make(map[kindReason]int)
	for _, u := range users {
		devs, views := a.auditUser(u)
		server, err := userState(ctx, truth, u.name)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if server == nil {
			res.UsersUnchecked++
		}
		res.Users++
		res.Devices += len(devs)
		ex := byGroup[u.group]
		if ex == nil {
			ex = &extra{unconverged: make(map[ChangeKind]map[Reason]int)}
			byGroup[u.group] = ex
		}
		// The reason of each message's unconverged changes, to explain
		// its divergence.
		explained := make(map[string]Reason)
		for _, p := range u.pending {
			r, dev := p.finalReason(u, devs, views, server)
			if e, ok := explained[p.c.MessageID]; !ok || reasonRank(r) < reasonRank(e) {
				explained[p.c.MessageID] = r
			}
			m := ex.unconverged[p.c.Kind]
			if m == nil {
				m = make(map[Reason]int)
				ex.unconverged[p.c.Kind] = m
			}
			m[r]++
			if examples[kindReason{p.c.Kind, r}] < MaxExamples {
				examples[kindReason{p.c.Kind, r}]++
				res.Examples = append(res.Examples, Example{Change: p.c, Reason: r, Device: dev})
			}
		}
		for _, d := range divergentMessages(views) {
			r, ok := explained[d.id]
			if !ok {
				r = changelessReason(u, devs, views, server, d)
			}
			res.DivergentByReason[r]++
			if r == ReasonUnexplained && len(res.Unexplained) < MaxUnexplainedListed {
				res.Unexplained = append(res.Unexplained, unexplained(u.name, devs, views, server, d))
			}
		}
		if server != nil {
			m := pop3Marking(u, devs, views, *server)
			res.POP3Marking.Downloaded += m.Downloaded
			res.POP3Marking.Seen += m.Seen
			for _, id := range u.marked(markStored) {
				if u.has(id, markDeleted) || onAnyDevice(views, id) {
					continue
				}
				if u.has(id, markUnstored) {
					continue
				}
				if _, ok := server.Messages[id]; ok {
					continue
				}
				ex.lost++
				res.Lost++
				if len(res.LostMessages) < MaxLostListed {
					res.LostMessages = append(res.LostMessages, LostMessage{u.name, id})
				}
			}
		}
		res.Unanswered.add(u, markUnanswered, views, server)
		res.SubmissionUnanswered.add(u, markSubmitUnanswered, views, server)
		res.Delivered += u.delivered
		res.Sent += u.sent
	}
	res.ServerChecked = truth != nil && (res.UsersUnchecked < res.Users || res.Users == 0)
	sort.Slice(res.LostMessages, func(i, j int) bool {
		x, y := res.LostMessages[i], res.LostMessages[j]
		if x.User != y.User {
			return x.User < y.User
		}
		return x.MessageID < y.MessageID
	})

	// Per-user delivered/sent counts by group.
	counts := make(map[string][2]int)
	for _, u := range users {
		c := counts[u.group]
		c[0] += u.delivered
		c[1] += u.sent
		counts[u.group] = c
	}

	a.stateMu.Lock()
	defer a.stateMu.Unlock()
	for name, g := range a.groups {
		gr := GroupResult{Divergence: g.div, Convergence: make(map[ChangeKind]KindResult)}
		gr.Delivered, gr.Sent = counts[name][0], counts[name][1]
		ex := byGroup[name]
		if ex != nil {
			gr.Lost = ex.lost
		}
		for k, ka := range g.kinds {
			kr := KindResult{
				Changes:     ka.changes,
				Converged:   ka.converged,
				Lags:        slices.Clone(ka.lags),
				LagsBounded: ka.bounded,
				Unconverged: make(map[Reason]int),
			}
			if n := ka.unconverged[ReasonSuperseded]; n > 0 {
				kr.Unconverged[ReasonSuperseded] = n
			}
			if ex != nil {
				for r, n := range ex.unconverged[k] {
					kr.Unconverged[r] += n
				}
			}
			slices.Sort(kr.Lags)
			gr.Convergence[k] = kr

			all := res.Convergence[k]
			all.Changes += kr.Changes
			all.Converged += kr.Converged
			all.LagsBounded += kr.LagsBounded
			all.Lags = append(all.Lags, kr.Lags...)
			if all.Unconverged == nil {
				all.Unconverged = make(map[Reason]int)
			}
			for r, n := range kr.Unconverged {
				all.Unconverged[r] += n
			}
			res.Convergence[k] = all
		}
		if gr.Divergence.Users > 0 || len(gr.Convergence) > 0 {
			res.Groups[name] = gr
		}
		res.Overall.Users += g.div.Users
		res.Overall.ConvergedUsers += g.div.ConvergedUsers
		res.Overall.UnsyncedUsers += g.div.UnsyncedUsers
		res.Overall.Union += g.div.Union
		res.Overall.Divergent += g.div.Divergent
		res.Overall.ByDimension.add(g.div.ByDimension, 1)
	}
	for k, kr := range res.Convergence {
		slices.Sort(kr.Lags)
		res.Convergence[k] = kr
	}
	if firstErr != nil {
		return res, fmt.Errorf("audit: server state of %d of %d users not read: %w", res.UsersUnchecked, res.Users, firstErr)
	}
	return res, nil
}

// userState reads one user's server state from truth; nil without a truth
// or when the read fails (the error says why) or ctx has ended.
func userState(ctx context.Context, truth Truth, user string) (*view.Snapshot, error) {
	if truth == nil {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("server state of %s: %w", user, err)
	}
	s, err := truth.UserState(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("server state of %s: %w", user, err)
	}
	return &s, nil
}

// marked returns the Message-IDs of u with every mark of m, sorted.
func (u *user) marked(m msgMarks) []string {
	var ks []string
	for k, got := range u.marks {
		if got&m == m {
			ks = append(ks, k)
		}
	}
	sort.Strings(ks)
	return ks
}

func onAnyDevice(views []view.Snapshot, id string) bool {
	for _, v := range views {
		if _, ok := v.Messages[id]; ok {
			return true
		}
	}
	return false
}

// finalReason classifies a change that did not converge: the most
// fundamental reason over the devices it did not reach.
func (p *pendingChange) finalReason(u *user, devs []DeviceSpec, views []view.Snapshot, server *view.Snapshot) (Reason, string) {
	best, dev := ReasonPending, ""
	for _, id := range p.waiting {
		i := deviceIndex(devs, id)
		if i < 0 {
			continue
		}
		r := p.deviceReason(u, devs[i].Protocol, views[i], views, server)
		if reasonRank(r) < reasonRank(best) {
			best, dev = r, id
		}
	}
	if best == ReasonPending {
		best = ReasonNotShown
	}
	return best, dev
}

// deviceReason says why v, the view of a device speaking protocol, does not
// show the change, from what the views and the server's state (nil:
// unknown) tell.
func (p *pendingChange) deviceReason(u *user, protocol string, v view.Snapshot, views []view.Snapshot, server *view.Snapshot) Reason {
	c := p.c
	if c.Device != "" && !c.Published {
		return ReasonPOP3LocalOnly
	}
	if c.Incomplete {
		return ReasonActionIncomplete
	}
	id := c.MessageID
	dm, shown := v.Messages[id]
	var sm view.Message
	onServer := false
	if server != nil {
		sm, onServer = server.Messages[id]
		if !onServer {
			if p.requiresAbsence() {
				return ReasonKeptLocally // the device shows what the server dropped
			}
			del := u.has(id, markDeleted)
			if !del && !onAnyDevice(views, id) {
				return ReasonLost
			}
			if del && p.repeat {
				// The person deleted the first copy, and the server
				// dropped the repeated delivery as a duplicate.
				return ReasonSuperseded
			}
			return ReasonDeletedFromServer
		}
		if !p.onServerOK(sm) {
			return ReasonServerDisagrees
		}
	}
	// Where the message is: the server's folder when it has it, else
	// where the changes put it.
	folder := p.folder
	if onServer {
		folder = sm.Folder
	}
	if s := syncedSince(v, folder, dm.Folder); s.IsZero() || s.Before(c.Stored()) {
		return ReasonNotSyncedYet
	}
	if server == nil {
		// Without the server's state, a synced device that misses the
		// change is not blamed on the device.
		return ReasonServerUnreadable
	}
	if !shown {
		if outsideWindow(v, sm.Folder) {
			return ReasonOutsideWindow
		}
		if !showsServerFolder(protocol, v, *server, sm.Folder) {
			return ReasonFolderNotSynced
		}
		return ReasonNotShown
	}
	if c.Kind.folderChange() && !view.SameFolder(dm.Folder, sm.Folder) {
		return ReasonFolderNotSynced
	}
	if !c.Kind.folderChange() && !dm.Flags.Has(c.Flags) {
		return ReasonFlagsNotSynced
	}
	return ReasonNotShown
}

// onServerOK reports whether the server's message reflects the change.
func (p *pendingChange) onServerOK(sm view.Message) bool {
	if p.requiresAbsence() {
		return false
	}
	if p.c.Kind.folderChange() {
		return p.accepts(sm.Folder)
	}
	return sm.Flags.Has(p.c.Flags)
}

// outsideWindow reports whether device view v keeps only the newest
// v.Window messages of each folder (a phone's sync window, a webmail's
// page) and its window of folder is full: it shows as many of the folder
// as the window takes, less those its last sync of the folder left out by
// design within the window (v.Hidden: messages flagged \Deleted). A
// message of folder it does not show is then outside its window; one
// missing within a window that is not full is not. Phones and webmail
// window every folder they sync, Sent and Archive as INBOX
// (clients/imap_sync.go, syncWindow and syncPage).
func outsideWindow(v view.Snapshot, folder string) bool {
	if v.Window <= 0 {
		return false
	}
	n := 0
	for name, h := range v.Hidden {
		if view.SameFolder(name, folder) {
			n += h
		}
	}
	if n >= v.Window {
		return true
	}
	for _, m := range v.Messages {
		if view.SameFolder(m.Folder, folder) {
			if n++; n >= v.Window {
				return true
			}
		}
	}
	return false
}

// showsServerFolder reports whether v, the view of a device speaking
// protocol, shows any message the server has in folder, in that folder.
// A POP3 device reads the server's INBOX alone: it shows no other server
// folder, whatever its own folders of that name hold (a message the person
// deleted on the PC, in its local Trash, that another device deleted on
// the server too).
func showsServerFolder(protocol string, v view.Snapshot, server view.Snapshot, folder string) bool {
	if protocol == "pop3" && view.FolderRole(folder) != view.RoleInbox {
		return false
	}
	for id, m := range v.Messages {
		if !view.SameFolder(m.Folder, folder) {
			continue
		}
		if sm, ok := server.Messages[id]; ok && view.SameFolder(sm.Folder, folder) {
			return true
		}
	}
	return false
}

// pop3Marking counts, for one user, the messages the user's POP3 devices
// downloaded and no person acted on (see POP3Marking) that the server still
// has, and those of them it shows \Seen. A message counts once however
// many POP3 devices downloaded it.
func pop3Marking(u *user, devs []DeviceSpec, views []view.Snapshot, server view.Snapshot) POP3Marking {
	var m POP3Marking
	counted := make(map[string]bool)
	for i, v := range views {
		if devs[i].Protocol != "pop3" {
			continue
		}
		for id := range v.Messages {
			if counted[id] {
				continue
			}
			if !u.has(id, markStored) {
				continue // not delivered mail (the device's own drafts)
			}
			if u.has(id, markActed) {
				continue
			}
			sm, ok := server.Messages[id]
			if !ok {
				continue
			}
			counted[id] = true
			m.Downloaded++
			if sm.Flags.Has(view.Seen) {
				m.Seen++
			}
		}
	}
	return m
}
