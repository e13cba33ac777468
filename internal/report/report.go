package report

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/scenarios"
)

// CommandStat is the input shape of one command's figures: the engine
// converts them from its metrics. Latencies are in seconds; NaN when
// unknown.
type CommandStat struct {
	// Count counts the commands; Errors those that failed, Dropped those
	// the simulated network dropped (not in Errors: metrics.CommandStats).
	Count, Errors, Dropped uint64
	// ErrorsBy splits Errors by outcome (metrics.CommandStats.ErrorsBy);
	// nil when none failed.
	ErrorsBy      map[string]uint64
	P50, P95, P99 float64
	// Buckets and Max (seconds) are the latency histogram behind the
	// percentiles (metrics.CommandStats); nil when unknown.
	Buckets map[int]uint64
	Max     float64
}

// ByteStat counts bytes read (In) and written (Out) by the clients.
type ByteStat struct {
	In  int64 `json:"in"`
	Out int64 `json:"out"`
}

// LoginStat counts authentication attempts.
type LoginStat struct {
	OK     uint64 `json:"ok"`
	Failed uint64 `json:"failed"`
	// FailedBy splits Failed by outcome (auth, refused, timeout, tls, no,
	// error, dropped; docs/report.md); absent when nothing failed.
	FailedBy map[string]uint64 `json:"failed_by,omitempty"`
	// ClosedIdle counts the connections the server closed while their
	// device was idle between commands, which the device noticed and
	// reconnected before its next command (no failed command; its
	// reconnect counts in OK or Failed); absent when none
	// (docs/report.md, "Connections the server closed").
	ClosedIdle uint64 `json:"closed_idle,omitempty"`
}

// DeliveryCounts are the traffic injector's deliveries, one per recipient
// (see docs/report.md, Deliveries): Attempted == Delivered + sum(Failed).
type DeliveryCounts struct {
	Attempted, Delivered int64
	// Failed counts failed deliveries by reason.
	Failed map[string]int64
	// Retries counts tries beyond the first; Abandoned deliveries never
	// tried because the run ended.
	Retries, Abandoned int64
	// Queue is how long deliveries waited for one of the injector's
	// connections; zero Samples and Backlog leave messages.delivery_queue
	// null.
	Queue QueueInput
}

// QueueInput is the injector's queue over a run (engine.QueueWait): wall
// time waited for a connection from hand-over to first try (quantiles of a
// uniform sample, the exact maximum), the backlog the active phase left and
// settle's wait for it.
type QueueInput struct {
	// Connections is the injector's number of parallel connections
	// (max_parallel_deliveries).
	Connections   int
	Samples       int64
	P50, P99, Max time.Duration
	Backlog       int64
	Drain         time.Duration
	DrainCut      bool
}

// DeliveryQueue is messages.delivery_queue: how long inbound mail waited
// for one of the injector's connections (wall seconds from the hand-over to
// the first try, one sample per delivery) and the backlog the active phase
// left (docs/report.md, "Deliveries").
type DeliveryQueue struct {
	Connections int     `json:"connections"`
	Samples     int64   `json:"samples"`
	WaitP50S    float64 `json:"wait_p50_s"`
	WaitP99S    float64 `json:"wait_p99_s"`
	WaitMaxS    float64 `json:"wait_max_s"`
	// WaitP99SimS is WaitP99S × time_scale: how late the p99 delivery
	// reached the server in the simulated people's time.
	WaitP99SimS float64 `json:"wait_p99_sim_s"`
	// Backlog counts deliveries queued or being tried when the active
	// phase ended; DrainS is how long settle waited for them before its
	// own timer started, DrainCut whether it gave up with some left (the
	// injector goes on during settle: they may still be delivered; those
	// queued when settle ends are abandoned).
	Backlog  int64   `json:"backlog"`
	DrainS   float64 `json:"drain_s"`
	DrainCut bool    `json:"drain_cut"`
}

// MaxQueueSim is the p99 queue wait, in simulated time, above which the
// report notes that the injector delivered inbound mail late.
const MaxQueueSim = time.Minute

// scaleOr1 is a time_scale, 1 when it is unset (0 or less: an Input
// built without one).
func scaleOr1(timeScale float64) float64 {
	if timeScale <= 0 {
		return 1
	}
	return timeScale
}

// QueueLateWall is the wall time a delivery waits for one of the
// injector's connections that is late at timeScale: MaxQueueSim simulated.
func QueueLateWall(timeScale float64) time.Duration {
	timeScale = scaleOr1(timeScale)
	return time.Duration(float64(MaxQueueSim) / timeScale)
}

// QueueNote is the note about inbound mail that waited for the injector:
// a p99 wait above MaxQueueSim simulated, or a backlog settle gave up on.
// retries is the run's retried delivery tries (messages.delivery_retries):
// a retry holds a connection as a delivery does (its backoff included), so
// when there were some the wait may come from the server's failures as
// much as from the connections' number, and the note says so.
func QueueNote(q DeliveryQueue, timeScale float64, retries int64) string {
	s := fmt.Sprintf("inbound mail waited for one of the injector's %d delivery connections (max_parallel_deliveries): p99 %s wall, %s simulated at time_scale %g, max %s; "+
		"the server received it later than the scenario's arrivals, so it carried less load than planned, and the deliver lags (which start at the delivery) leave the wait out",
		q.Connections, fmtSeconds(q.WaitP99S), fmtSeconds(q.WaitP99SimS), timeScale, fmtSeconds(q.WaitMaxS))
	if q.Backlog > 0 {
		s += fmt.Sprintf("; %d deliveries were still queued when the active phase ended, and settle waited %s for them", q.Backlog, fmtSeconds(q.DrainS))
		if q.DrainCut {
			s += " before giving up (the injector went on during settle; what was still queued when settle ended is abandoned)"
		}
	}
	if retries > 0 {
		s += fmt.Sprintf("; the connections also retried %d failed tries in the run, which held them (see why the deliveries failed: messages.delivery_failed_by_reason, the LMTP/SMTP/APPEND errors)", retries)
	}
	return s + ": " + queueAdvice
}

// queueAdvice is what to do about inbound mail that waited for the
// injector.
const queueAdvice = "raise max_parallel_deliveries, or see how fast the server accepts mail (the LMTP/SMTP/APPEND latencies)"

// late says whether q held inbound mail back: a p99 wait above
// MaxQueueSim simulated, or a backlog settle gave up on (the rule of
// QueueNote and QueueProblem).
func (q *DeliveryQueue) late() bool {
	return q.WaitP99SimS > MaxQueueSim.Seconds() || q.DrainCut
}

// queueBehind ends a capacity step's validity problem about inbound mail
// that fell behind.
const queueBehind = ": the server carried less inbound mail than the step's users send, and the delivery lines judge only the deliveries that ended; " + queueAdvice

// QueueProblem is the validity problem of a capacity step run as a whole
// run whose inbound mail fell behind the scenario's arrivals (the rule of
// QueueNote: a p99 wait for one of the injector's connections above
// MaxQueueSim simulated, or a backlog settle gave up on), "" when it kept
// up or q is nil.
func QueueProblem(q *DeliveryQueue) string {
	if q == nil || !q.late() {
		return ""
	}
	s := fmt.Sprintf("inbound mail fell behind: the p99 delivery waited %s wall (%s simulated, over %s) for a delivery connection (max_parallel_deliveries %d)",
		fmtSeconds(q.WaitP99S), fmtSeconds(q.WaitP99SimS), fmtSeconds(MaxQueueSim.Seconds()), q.Connections)
	if q.DrainCut {
		s += fmt.Sprintf(", and %d were still queued when settle gave up on them", q.Backlog)
	}
	return s + queueBehind
}

// QueueWindow is what a live capacity step's window saw of the
// injector's queue (deliveries waiting for one of its connections).
type QueueWindow struct {
	// Waiting deliveries at the window's close, the oldest for Oldest
	// (wall). Here and in Late a delivery is one message to one recipient
	// (docs/report.md, Deliveries).
	Waiting int
	Oldest  time.Duration
	// Late deliveries left the queue within the window after waiting
	// longer than QueueLateWall, having passed it within the window (not
	// before it opened); Longest is the longest of their waits.
	Late    int
	Longest time.Duration
}

// QueueWindowProblem is the validity problem of a capacity step measured
// over a window of a live population whose inbound mail fell behind: at
// the window's close, deliveries waited for one of the injector's
// connections, the oldest longer than QueueLateWall — mail the server
// should have had a simulated minute ago, whatever the rate — or,
// within the window, deliveries left the queue after such a wait, though
// it drained before the close. "" when it kept up.
func QueueWindowProblem(q QueueWindow, timeScale float64) string {
	late := QueueLateWall(timeScale)
	var parts []string
	if q.Waiting > 0 && q.Oldest > late {
		parts = append(parts, fmt.Sprintf("at the window's close %d deliveries (one per recipient) waited for a delivery connection, the oldest for %s wall (%s simulated at time_scale %g, over %s)",
			q.Waiting, fmtSeconds(q.Oldest.Seconds()), fmtSeconds(q.Oldest.Seconds()*timeScale), timeScale, fmtSeconds(MaxQueueSim.Seconds())))
	}
	if q.Late > 0 && q.Longest > late {
		parts = append(parts, fmt.Sprintf("within the window %d deliveries (one per recipient) waited over %s simulated for a delivery connection, the longest %s wall (%s simulated at time_scale %g)",
			q.Late, fmtSeconds(MaxQueueSim.Seconds()), fmtSeconds(q.Longest.Seconds()), fmtSeconds(q.Longest.Seconds()*timeScale), timeScale))
	}
	if len(parts) == 0 {
		return ""
	}
	return "inbound mail fell behind: " + strings.Join(parts, ", and ") + queueBehind
}

// Input is everything the engine knows at the end of a run.
type Input struct {
	// Pending counts by protocol the commands in the command stats that
	// had no outcome yet: still in flight when a capacity step's window
	// closed, each counted as a sample of its age (docs/capacity.md, One
	// step). They are left out of error_rate's denominator
	// (Load.Pending).
	Pending   map[string]uint64
	Scenario  string
	Seed      int64
	Shard     string // "1/1"
	StartedAt time.Time
	// Wall is the wall-clock length of the run; Simulated the simulated
	// time it covered.
	Wall, Simulated time.Duration
	Users, Devices  int
	// DevicesByProfile counts the devices per profile name.
	DevicesByProfile map[string]int
	// Delivered and Sent messages; 0 takes the audit's counts.
	Delivered, Sent int
	// Submissions counts the devices' submissions by how they ended
	// (Started is ignored: it is their sum).
	Submissions Submissions
	// Deliveries are the injector's deliveries by outcome.
	Deliveries DeliveryCounts
	// DeviceProtocols are the protocols the run's devices use ("imap",
	// "pop3"), for the validity check of logins.
	DeviceProtocols []string
	// ValidityChecksOff reports validity problems without failing the run
	// (the scenario's validity_checks: false).
	ValidityChecksOff bool
	// Audit is the final audit.
	Audit audit.Result
	// Commands are the simulated clients' commands by protocol and
	// command; AuditorCommands those of the auditor's own sessions
	// (excluded from load figures).
	Commands, AuditorCommands map[string]map[string]CommandStat
	// Bytes and Logins by protocol.
	Bytes  map[string]ByteStat
	Logins map[string]LoginStat
	// PeakConnections is the highest number of open connections seen.
	PeakConnections int
	// Server storage at the end, and at the start (for growth).
	// StorageUnknown says the end is not known (the report says null),
	// StorageStartUnknown the start (a real server's is not read);
	// StorageUsers that the end is the simulated users' mailboxes read by
	// the final state reader, not the whole server's store.
	StoredMessages, StoredMessagesStart int
	StoredBytes, StoredBytesStart       int64
	StorageUnknown, StorageStartUnknown bool
	StorageUsers                        bool
	// Thresholds of the scenario, evaluated by Build.
	Thresholds []scenarios.Threshold
	// ThresholdScope names what the figures the thresholds judge cover,
	// in the notes of those with no data ("no deliveries in the run"):
	// "the run" when empty; a capacity step's "the step's window"
	// (docs/capacity.md, One step).
	ThresholdScope string
	// Settle is how the settle phase went.
	Settle Settle
	// Timeline holds the samples taken during the run; nil for none.
	Timeline *Timeline
	// Actions counts the simulated people's actions.
	Actions Actions
	// Cost is what each group costs the server (the engine's cost meters
	// and the server's storage); empty leaves the report without costs.
	Cost CostInput
	// Notes are remarks to carry into the report.
	Notes []string
	// StoppedEarly says a signal (or Stop) ended the active phase before
	// its time: the report judges what ran, which is not the run.
	StoppedEarly bool
	// StateUnread says why the final audit did not read the server's
	// state of every user (engine.Result.StateUnread); the note on the
	// users not read carries it. Empty when nothing says.
	StateUnread string
	// TimeScale is the scenario's time_scale (simulated seconds per wall
	// second), to weigh the server's push latency; 0 means 1.
	TimeScale float64
	// Push is the server's push latency measured by the IDLE-ing devices
	// (wall time); no samples leaves server.push_latency null.
	Push PushInput
	// SyncRounds are the devices' sync rounds by device profile (wall
	// time); empty leaves sync_rounds out of the report.
	SyncRounds map[string]SyncRoundInput
	// Harness is what mailsim's own process did over the run; nil leaves
	// the report's harness section null.
	Harness *HarnessInput
	// MailAtStart is what the preflight found in the users' mailboxes on
	// a real server before the run; nil leaves mail_at_start out (the
	// embedded server, which starts empty).
	MailAtStart *MailAtStart
}

// PushInput is the push latency the engine measured: the number of
// samples and their quantiles, in wall time; the deliveries it forgot to
// stay bounded and the shortest time it remembered one (Horizon).
type PushInput struct {
	Samples       int
	P50, P95, Max time.Duration
	Forgotten     int
	Horizon       time.Duration
}

// PushLatency is the server's push latency: from a delivery accepted to
// the IDLE notification a device got for it, in wall seconds, and its
// median in simulated seconds (× time_scale).
type PushLatency struct {
	Samples int     `json:"samples"`
	P50S    float64 `json:"p50_s"`
	P95S    float64 `json:"p95_s"`
	MaxS    float64 `json:"max_s"`
	// P50SimS is P50S × time_scale: what the delay means to the simulated
	// people.
	P50SimS float64 `json:"p50_sim_s"`
	// ForgottenDeliveries counts the deliveries the tracker forgot to
	// keep the latest 100,000 (internal/engine/push.go); HorizonS is the
	// shortest time it remembered one (wall seconds): a push slower than
	// that may have gone unmeasured. Both 0 when none was forgotten.
	ForgottenDeliveries int     `json:"forgotten_deliveries"`
	HorizonS            float64 `json:"horizon_s"`
}

// MaxPushSim is the simulated push latency (median) above which the report
// warns that the server's own timers distort the scenario's time scale.
const MaxPushSim = 5 * time.Minute

// PushSim returns a push latency of wall (wall time) in simulated time at
// timeScale (0 or less means 1), and whether it is large against the time
// scale: above MaxPushSim. It is the one rule behind the report's note and
// mailsim validate's warning.
func PushSim(wall time.Duration, timeScale float64) (sim time.Duration, large bool) {
	timeScale = scaleOr1(timeScale)
	sim = time.Duration(float64(wall) * timeScale)
	return sim, sim > MaxPushSim
}

// PushNote is the warning about a push latency large against the time
// scale; measured says what the latency is ("4s wall at the median"), sim
// is PushSim's.
func PushNote(measured string, sim time.Duration, timeScale float64) string {
	return fmt.Sprintf("the server's push latency (delivery to IDLE notification) is %s, %s simulated at time_scale %g: "+
		"its own timers are not compressed, so IDLE-ing devices see new mail late and their deliver lags and convergence are the server's timer, not the clients'; lower time_scale or configure the server to notify at once",
		measured, fmtSeconds(sim.Seconds()), timeScale)
}

// UsersNotStartedNote is the note of a run in which only started of its
// users had started — stopped during its ramp-up (interrupted), or whose
// ramp-up had not reached them when the active phase ended: the others'
// devices never ran, and count unsynced, not as users the server kept
// from syncing.
func UsersNotStartedNote(started, users int, interrupted bool) string {
	why := "the run was stopped during its ramp-up"
	if !interrupted {
		why = "the ramp-up had not started every user when the active phase ended (a ramp_up as long as the run, or a harness that fell behind)"
	}
	return fmt.Sprintf("%s: %d of %d users had started; the other %d never ran, and their devices count among the unsynced (users_unsynced), which is no failure of the server", why, started, users, users-started)
}

// StateUnreadNote is the note of a run whose final audit did not read the
// server's state (no audit ran, or it failed).
const StateUnreadNote = "the server's state was not read: lost mail was not counted"

// AlertNote is the note on an [ALERT] a real server sent in the
// preflight's IMAP greeting or LOGIN reply: text, as the server sent it.
// Courier's "Filesystem notification initialization error" says it runs
// without file notification (no FAM or Gamin), which the note explains
// (docs/servers.md).
func AlertNote(text string) string {
	n := fmt.Sprintf("the server's IMAP login alerted %q", text)
	if strings.Contains(strings.ToLower(text), "filesystem notification") {
		n += ": the server has no file notification (Courier without FAM or Gamin), so IDLE polls the mailbox (push latency is its poll interval, not a notification) " +
			"and every folder it opens (LOGIN, SELECT, EXAMINE, STATUS, APPEND) waits about 1.2 s for the notification library to give up: command latencies measure that wait, not the server's work; " +
			"its reply to IDLE's DONE waits as long, so such a command or an IDLE in flight when the run ends counts a timeout unless the scenario's stop_grace (1s by default) exceeds that wait (stop_grace: 2s)"
	}
	return n
}

// Actions counts the simulated people's actions. Every action planned
// ended one way: Planned = Done + Dropped + Cut + Pending (docs/report.md,
// "Actions"); Failed counts tries, not actions.
type Actions struct {
	// Planned counts the actions the people planned: those they decided
	// on for the mail they noticed, and the new messages they began to
	// write (0 in a report from before 2026-12-04).
	Planned int64 `json:"planned"`
	// Done counts actions that succeeded.
	Done int64 `json:"done"`
	// Failed counts tries of an action that failed with an error (the
	// action is tried again later); a message not yet on the device in
	// hand is not an error.
	Failed int64 `json:"failed"`
	// Dropped counts actions given up after every try failed.
	Dropped int64 `json:"dropped"`
	// Cut counts the actions the end of the active phase (or a Stop)
	// cut under way on a device (being written, or its commands under
	// way) that were not finished: no failed try, not given up.
	Cut int64 `json:"cut"`
	// Pending counts the actions planned and not begun when the people
	// stopped: waiting their turn, or their next try after a failed one.
	Pending int64 `json:"pending"`
	// Overdue counts, of Pending, the actions whose turn had come by the
	// end under the scenario's pace (action_delay, then
	// action_repeat_delay between a message's actions): the people fell
	// behind by that many (behindNote). 0 in a report from before
	// 2026-12-05.
	Overdue int64 `json:"overdue"`
}

// add adds o's counts to a's.
func (a *Actions) add(o Actions) {
	a.Planned += o.Planned
	a.Done += o.Done
	a.Failed += o.Failed
	a.Dropped += o.Dropped
	a.Cut += o.Cut
	a.Pending += o.Pending
	a.Overdue += o.Overdue
}

// Summary is the summary line's account of the actions (the HTML report
// says the same): the partition of those planned, the overdue of the
// pending when any, then the failed tries;
// when the parts do not add up to Planned (a report from before
// 2026-12-04, or merged with one), the counts without the partition and
// why.
func (a Actions) Summary() string {
	if ended := a.Done + a.Dropped + a.Cut + a.Pending; ended != a.Planned {
		return fmt.Sprintf("actions %d done, %d failed tries, %d given up, %d cut under way, %d pending at the end of the run "+
			"(%d planned, not their sum %d: counted by mailsim from 2026-12-04 on, and a merge with an older shard's report adds none)",
			a.Done, a.Failed, a.Dropped, a.Cut, a.Pending, a.Planned, ended)
	}
	overdue := ""
	if a.Overdue > 0 {
		overdue = fmt.Sprintf(" (%d overdue)", a.Overdue)
	}
	return fmt.Sprintf("actions %d planned = %d done + %d given up + %d cut under way + %d pending at the end of the run%s; %d failed tries",
		a.Planned, a.Done, a.Dropped, a.Cut, a.Pending, overdue, a.Failed)
}

// Report is a finished run's report. Its JSON encoding is the JSON report
// contract of docs/report.md ("The report") plus further fields.
type Report struct {
	Scenario         string                 `json:"scenario"`
	Seed             int64                  `json:"seed"`
	Shard            string                 `json:"shard"`
	StartedAt        time.Time              `json:"started_at"`
	WallSeconds      float64                `json:"wall_seconds"`
	SimulatedSeconds float64                `json:"simulated_seconds"`
	Users            int                    `json:"users"`
	Devices          int                    `json:"devices"`
	Messages         Messages               `json:"messages"`
	Commands         CommandMap             `json:"commands"`
	AuditorCommands  CommandMap             `json:"auditor_commands"`
	Divergence       Divergence             `json:"divergence"`
	Convergence      map[string]Convergence `json:"convergence"`
	Server           Server                 `json:"server"`
	Thresholds       []ThresholdResult      `json:"thresholds"`

	// Beyond the contract.

	// Validity says whether the run's own measurements can be trusted.
	Validity Validity `json:"validity"`
	// Harness says whether mailsim itself was the bottleneck; null when
	// it was not measured.
	Harness *Harness `json:"harness"`
	// MailAtStart is what the users' mailboxes on a real server held
	// before the run, as the preflight found them; absent on the
	// embedded server, which starts empty.
	MailAtStart *MailAtStart `json:"mail_at_start,omitempty"`

	// DevicesByProfile counts devices per profile.
	DevicesByProfile map[string]int `json:"devices_by_profile,omitempty"`
	// Groups holds the per-group details.
	Groups map[string]Group `json:"groups"`
	// Load summarises the client load.
	Load Load `json:"load"`
	// Actions counts the people's actions, failed and given up.
	Actions Actions `json:"actions"`
	// UnconvergedExamples are a few unconverged changes per kind and
	// reason, to look into.
	UnconvergedExamples []UnconvergedExample `json:"unconverged_examples"`
	// UnexplainedExamples are the first divergent messages no change or
	// known cause explains (reason unexplained), up to 20.
	UnexplainedExamples []UnexplainedExample `json:"unexplained_examples"`
	// Settle is how the settle phase went.
	Settle Settle `json:"settle"`
	// Cost is what users cost the server: every user together and each
	// group against the reference group; each group's own figures are in
	// Groups[name].Cost. Absent when the run measured no groups.
	Cost *CostSection `json:"cost,omitempty"`
	// Timeline holds the samples taken during the run.
	Timeline []SampleJSON `json:"timeline"`
	// SyncRounds are the devices' sync rounds by device profile, in wall
	// time (docs/report.md, "Sync rounds and time compression"); absent
	// when no round ended.
	SyncRounds map[string]SyncRound `json:"sync_rounds,omitempty"`
	Notes      []string             `json:"notes,omitempty"`
	// StoppedEarly is true when a signal ended the run before its time (a
	// merged report: any shard's): "mailsim run" and "report merge" then
	// exit 4 rather than 0.
	StoppedEarly bool `json:"stopped_early"`
}

// Settle is how the settle phase went (docs/scenarios.md, settle).
type Settle struct {
	// Until is "timer" or "synced"; MaxSeconds the longest it could last.
	Until      string  `json:"until"`
	MaxSeconds float64 `json:"max_s"`
	// WallSeconds is how long it lasted.
	WallSeconds float64 `json:"wall_s"`
	// Ended is "timer", "synced", "max", "aborted" or "none".
	Ended string `json:"ended"`
	// ChangesWaiting counts the changes that still waited for a device to
	// sync when it ended (until synced only).
	ChangesWaiting int `json:"changes_waiting"`
	// PeopleWaitSeconds is how long the run waited, before settle, for the
	// people to finish the actions the end of the active phase cut short;
	// PeopleCut is true when that wait ran out of its budget and the
	// actions still unfinished were given up (counted in actions.dropped).
	PeopleWaitSeconds float64 `json:"people_wait_s"`
	PeopleCut         bool    `json:"people_cut"`
}

// Messages counts mail.
type Messages struct {
	Delivered int `json:"delivered"`
	Sent      int `json:"sent"`
	Lost      int `json:"lost"`
	// LostIDs lists lost messages (bounded).
	LostIDs []LostMessage `json:"lost_ids,omitempty"`
	// ServerChecked is false when the server's state could not be read,
	// so Lost was not counted.
	ServerChecked bool `json:"server_checked"`
	// DeliveryAttempted counts the injector's deliveries (one per
	// recipient) tried at least once; DeliveryFailed those whose last try
	// failed, by reason in DeliveryFailedByReason. The others were
	// delivered.
	DeliveryAttempted      int64            `json:"delivery_attempted"`
	DeliveryFailed         int64            `json:"delivery_failed"`
	DeliveryFailedByReason map[string]int64 `json:"delivery_failed_by_reason"`
	// DeliveryUnknown sorts the deliveries that failed unknown (the
	// server never answered for them after the message data) by what the
	// end of the run shows; null when none did.
	DeliveryUnknown *DeliveryUnknown `json:"delivery_unknown"`
	// SubmissionUnknown sorts the same way the deliveries of the devices'
	// SMTP submissions whose reply never came after the message data (one
	// per simulated recipient); null when none did.
	SubmissionUnknown *DeliveryUnknown `json:"submission_unknown"`
	// Submissions accounts for every submission the devices started, by
	// how it ended; null when none was started (or in a report from
	// before 2026-12-04).
	Submissions *Submissions `json:"submissions"`
	// DeliveryRetries counts tries beyond the first.
	DeliveryRetries int64 `json:"delivery_retries"`
	// DeliveryAbandoned counts deliveries the run ended before trying.
	DeliveryAbandoned int64 `json:"delivery_abandoned"`
	// DeliveryQueue is how long deliveries waited for an injector
	// connection; null when the injector delivered nothing.
	DeliveryQueue *DeliveryQueue `json:"delivery_queue"`
	// UsersUnchecked counts the users whose server state was not read:
	// Lost does not count their mail (it is a lower bound when this is
	// not 0) and their unconverged changes carry no server-derived reason.
	UsersUnchecked int `json:"users_unchecked"`
}

// Submissions counts the devices' submissions of their messages (a send,
// reply or forward tried once: one call of the device's submitter, over
// SMTP or through the injector playing the MTA) by how each ended
// (docs/report.md, "Submissions"): Started = Sent + Failed + Unanswered +
// Cut.
type Submissions struct {
	// Started counts the submissions started.
	Started int64 `json:"started"`
	// Sent: the server took the message, for every recipient or for some
	// (messages.sent).
	Sent int64 `json:"sent"`
	// Failed: it failed while the active phase went on (each is a failed
	// try of the person's action, actions.failed).
	Failed int64 `json:"failed"`
	// Unanswered: the message data went out whole and the reply to it
	// never came, the run's end included: the server may have taken it
	// (its simulated recipients are in submission_unknown).
	Unanswered int64 `json:"unanswered"`
	// UnansweredAtEnd: of Unanswered, those whose device still waited for
	// the reply, within its deadline, when the run's end came: left out
	// of submission_failure_rate (no failure of the server's shown yet).
	UnansweredAtEnd int64 `json:"unanswered_at_end"`
	// Cut: the end of the active phase came first and the message did not
	// leave (its action counts in actions.cut).
	Cut int64 `json:"cut"`
}

// AtEndNote is " (N at the run's end)" for the unanswered ones the run's
// end came to, "" when none.
func (s Submissions) AtEndNote() string {
	if s.UnansweredAtEnd == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d at the run's end)", s.UnansweredAtEnd)
}

// add adds o's counts to s's.
func (s *Submissions) add(o Submissions) {
	s.Started += o.Started
	s.Sent += o.Sent
	s.Failed += o.Failed
	s.Unanswered += o.Unanswered
	s.UnansweredAtEnd += o.UnansweredAtEnd
	s.Cut += o.Cut
}

// DeliveryUnknown is what became of the deliveries that failed unknown,
// one per delivery (audit.Unanswered).
type DeliveryUnknown struct {
	// Stored: the server had the message after all (its state at the
	// end, a device or a person's action shows it).
	Stored int `json:"stored"`
	// NotStored: nothing shows it, and the user's state on the server
	// was read.
	NotStored int `json:"not_stored"`
	// Unchecked: nothing shows it, and the user's state on the server
	// was not read.
	Unchecked int `json:"unchecked"`
}

// unknownOf returns the report's counts of u, nil when there are none.
func unknownOf(u audit.Unanswered) *DeliveryUnknown {
	if u == (audit.Unanswered{}) {
		return nil
	}
	return &DeliveryUnknown{Stored: u.Stored, NotStored: u.NotStored, Unchecked: u.Unchecked}
}

// add adds o's counts to u.
func (u *DeliveryUnknown) add(o DeliveryUnknown) {
	u.Stored += o.Stored
	u.NotStored += o.NotStored
	u.Unchecked += o.Unchecked
}

// addUnknown adds o to *u (both may be nil).
func addUnknown(u **DeliveryUnknown, o *DeliveryUnknown) {
	if o == nil {
		return
	}
	if *u == nil {
		*u = &DeliveryUnknown{}
	}
	(*u).add(*o)
}

// DeliveriesDone returns the injector's deliveries that were delivered:
// those attempted whose last try did not fail (the summary's and the HTML
// report's "delivered").
func (m Messages) DeliveriesDone() int64 { return m.DeliveryAttempted - m.DeliveryFailed }

// notDelivered returns the deliveries handed to the injector and those of
// them not delivered (failed or abandoned).
func (m Messages) notDelivered() (missing, injected int64) {
	return m.DeliveryFailed + m.DeliveryAbandoned, m.DeliveryAttempted + m.DeliveryAbandoned
}

// Validity says whether a run measured what it meant to: a run whose
// deliveries mostly failed, or whose devices never logged in, measured an
// outage, not the server's behaviour (docs/report.md, Validity).
type Validity struct {
	// Enabled is false when the scenario turned the checks off
	// (validity_checks: false): problems are then listed but do not fail
	// the run.
	Enabled bool `json:"enabled"`
	// OK is true when no problem was found.
	OK bool `json:"ok"`
	// Problems says what is wrong, one sentence each.
	Problems []string `json:"problems"`
	// DeviceProtocols are the protocols the run's devices use, whose
	// logins the check expects (kept so that shard reports merge).
	DeviceProtocols []string `json:"device_protocols,omitempty"`
}

// MaxUndelivered is the share of the injected deliveries that may fail
// before a run's measurements are invalid.
const MaxUndelivered = 0.01

// LostMessage names one lost message.
type LostMessage struct {
	User      string `json:"user"`
	MessageID string `json:"message_id"`
}

// UnconvergedExample is one change that did not reach every device.
type UnconvergedExample struct {
	Change    string    `json:"change"`
	Reason    string    `json:"reason"`
	User      string    `json:"user"`
	Origin    string    `json:"origin_device"` // "" for a delivery
	Device    string    `json:"device"`        // a device it did not reach
	MessageID string    `json:"message_id"`
	At        time.Time `json:"at"` // simulated: when the person acted (audit.Change.At; a lag counts from the action's end)
}

// UnexplainedExample is a divergent message nothing explains.
type UnexplainedExample struct {
	User      string `json:"user"`
	MessageID string `json:"message_id"`
	// Dimension lists the dimensions it diverges in, e.g. "folder,flags".
	Dimension string `json:"dimension"`
	// Shown is what each device shows: folder and flags, "-" for nothing.
	Shown map[string]string `json:"shown"`
	// Server is what the server's state shows ("-": nothing; "": not read).
	Server string `json:"server"`
}

// CommandMap holds command figures by protocol and command.
type CommandMap map[string]map[string]Command

// Command is one command's figures in the JSON report; latencies in
// milliseconds, null when unknown.
type Command struct {
	Count  uint64 `json:"count"`
	Errors uint64 `json:"errors"`
	// Dropped counts the commands the simulated network dropped (outcome
	// dropped, a profile's disconnect_every): in Count, not in Errors;
	// absent when none was.
	Dropped uint64 `json:"dropped,omitempty"`
	// ErrorsBy splits Errors by outcome (no, bad, error, refused,
	// timeout, tls, auth: docs/report.md, Outcomes); absent when none
	// failed.
	ErrorsBy map[string]uint64 `json:"errors_by,omitempty"`
	P50ms    Num               `json:"p50_ms"`
	P95ms    Num               `json:"p95_ms"`
	P99ms    Num               `json:"p99_ms"`
	// Latency is the histogram behind the percentiles, for "mailsim
	// report merge"; absent when unknown.
	Latency *LatencyHist `json:"latency_histogram,omitempty"`
}

// LatencyHist is a command's latency histogram in the JSON report: the
// counts per bucket of metrics' log-linear histogram (bucket index →
// count; metrics/loghist.go: each bucket within 1.6% of its values) and the
// largest latency. Histograms of shards add bucket by bucket, and their
// percentiles (metrics.LatencyQuantiles) are then those one process would
// have reported.
type LatencyHist struct {
	Buckets map[int]uint64 `json:"buckets"`
	MaxMs   Num            `json:"max_ms"`
}

// Dimensions counts divergent messages per dimension.
type Dimensions struct {
	Presence int `json:"presence"`
	Folder   int `json:"folder"`
	Flags    int `json:"flags"`
}

// FinalDivergence is the divergence over every user at the end.
type FinalDivergence struct {
	Ratio               float64    `json:"ratio"`
	DivergentMessages   int        `json:"divergent_messages"`
	UsersConvergedRatio float64    `json:"users_converged_ratio"`
	ByDimension         Dimensions `json:"by_dimension"`
	Messages            int        `json:"messages"` // the union
	// ByReason counts each divergent message once, by the reason that
	// explains it, "unexplained" included (docs/report.md).
	ByReason map[string]int `json:"by_reason"`
	// Users and ConvergedUsers are the numerator and denominator of
	// UsersConvergedRatio, so that shard reports merge exactly.
	Users          int `json:"users"`
	ConvergedUsers int `json:"converged_users"`
	// UnsyncedUsers counts the users with a device that never completed
	// a sync (audit.UserDivergence.Unsynced): not converged, whether or
	// not a message diverges (docs/report.md). Shards older than it
	// (before 2026-12-05) count none, and counted such users converged.
	UnsyncedUsers int `json:"users_unsynced"`
}

// GroupDivergence is one group's divergence.
type GroupDivergence struct {
	Ratio               float64 `json:"ratio"`
	UsersConvergedRatio float64 `json:"users_converged_ratio"`
}

// Divergence is the "divergence" section.
type Divergence struct {
	Final   FinalDivergence            `json:"final"`
	ByGroup map[string]GroupDivergence `json:"by_group"`
}

// Convergence is the outcome of one change kind; lags in simulated
// seconds, null when no change converged.
type Convergence struct {
	Changes   int `json:"changes"`
	Converged int `json:"converged"`
	P50s      Num `json:"p50_s"`
	P95s      Num `json:"p95_s"`
	P99s      Num `json:"p99_s"`
	// LagsBounded counts the lags that are bounds, not exact to the
	// device's sync (audit.KindResult.LagsBounded).
	LagsBounded int            `json:"lags_bounded"`
	Unconverged map[string]int `json:"unconverged"`
	// Histogram counts the lags per bucket (upper bounds in LagBuckets).
	Histogram []int `json:"histogram"`
	// LagHistogram is the fine, mergeable histogram of the lags that
	// "mailsim report merge" recomputes percentiles from (see LagHist).
	LagHistogram LagHist `json:"lag_histogram,omitempty"`
}

// LagBuckets are the upper bounds, in simulated seconds, of the lag
// histogram buckets; the last bucket is unbounded.
var LagBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, math.Inf(1)}

// Server is the server's state at the end.
type Server struct {
	// StoredMessages and StoredBytes at the end: the embedded server's
	// whole store, or on a real server the simulated users' mailboxes as
	// the final state reader read them (StorageSource says which); null
	// when not known (a real server without IMAP, or users left unread).
	StoredMessages  *int   `json:"stored_messages"`
	StoredBytes     *int64 `json:"stored_bytes"`
	StorageSource   string `json:"storage_source"`
	PeakConnections int    `json:"peak_connections"`
	// Storage at the start, for growth figures; null on a real server
	// (its storage at the start is not read).
	StoredMessagesStart *int   `json:"stored_messages_start"`
	StoredBytesStart    *int64 `json:"stored_bytes_start"`
	// POP3MarksSeen is whether the server marked the mail POP3 devices
	// downloaded \Seen, as the final state showed it (audit.POP3Marking);
	// null when no downloaded message was left to look at or the result
	// was mixed. POP3Checked and POP3Seen are the messages looked at and
	// those found \Seen.
	POP3MarksSeen *bool `json:"pop3_marks_seen"`
	POP3Checked   int   `json:"pop3_checked"`
	POP3Seen      int   `json:"pop3_seen"`
	// PushLatency is the server's push latency; null when no IDLE
	// notification brought a delivered message (no IDLE-ing PC or phone, no
	// delivery while one IDLEd).
	PushLatency *PushLatency `json:"push_latency"`
}

// Group is one group's details.
type Group struct {
	Users               int     `json:"users"`
	Messages            int     `json:"messages"`
	DivergentMessages   int     `json:"divergent_messages"`
	Ratio               float64 `json:"ratio"`
	UsersConvergedRatio float64 `json:"users_converged_ratio"`
	ConvergedUsers      int     `json:"converged_users"`
	// UnsyncedUsers is FinalDivergence.UnsyncedUsers for the group.
	UnsyncedUsers int                    `json:"users_unsynced"`
	ByDimension   Dimensions             `json:"by_dimension"`
	Delivered     int                    `json:"delivered"`
	Sent          int                    `json:"sent"`
	Lost          int                    `json:"lost"`
	Convergence   map[string]Convergence `json:"convergence"`
	// Cost is what one user of the group costs the server.
	Cost *Cost `json:"cost,omitempty"`
}

// Load summarises what the simulated clients did.
type Load struct {
	// Commands and Errors count every client command and those that
	// failed, Dropped those the simulated network dropped (not in Errors);
	// LoginAttempts and LoginFailures every login (for the injector's
	// LMTP/SMTP connections, every session setup) and those that failed,
	// connections refused and logins dropped included, LoginsDropped
	// those the simulated network dropped. ErrorRate is the server's
	// failures over the operations it answered: (Errors + LoginFailures -
	// LoginsDropped) / (Commands - Dropped + LoginAttempts -
	// LoginsDropped).
	Commands      uint64 `json:"commands"`
	Errors        uint64 `json:"errors"`
	Dropped       uint64 `json:"dropped"`
	LoginAttempts uint64 `json:"login_attempts"`
	LoginFailures uint64 `json:"login_failures"`
	LoginsDropped uint64 `json:"logins_dropped"`
	// ClosedIdle counts the connections servers closed while their
	// device was idle between commands (LoginStat.ClosedIdle, over the
	// protocols): neither commands nor logins, so not in ErrorRate.
	ClosedIdle uint64 `json:"closed_idle"`
	// Pending counts by protocol the Commands still in flight at a
	// capacity step's window close (samples of their age, with no
	// outcome yet): ErrorRate and the error_rate threshold leave them
	// out of the denominator too, (Errors + LoginFailures -
	// LoginsDropped) / (Commands - Pending - Dropped + LoginAttempts -
	// LoginsDropped). Absent in a run's report.
	Pending   map[string]uint64 `json:"pending,omitempty"`
	ErrorRate Num               `json:"error_rate"`
	// CommandsPerSecond by protocol, per wall second (what the server saw).
	CommandsPerSecond map[string]float64   `json:"commands_per_second"`
	Bytes             map[string]ByteStat  `json:"bytes"`
	Logins            map[string]LoginStat `json:"logins"`
}

func commandMap(in map[string]map[string]CommandStat) CommandMap {
	out := CommandMap{}
	for p, cmds := range in {
		m := map[string]Command{}
		for c, s := range cmds {
			cmd := Command{Count: s.Count, Errors: s.Errors, Dropped: s.Dropped, ErrorsBy: maps.Clone(s.ErrorsBy),
				P50ms: ms(s.P50, s.Count), P95ms: ms(s.P95, s.Count), P99ms: ms(s.P99, s.Count)}
			if len(s.Buckets) > 0 {
				cmd.Latency = &LatencyHist{Buckets: maps.Clone(s.Buckets), MaxMs: ms(s.Max, s.Count)}
			}
			m[c] = cmd
		}
		out[p] = m
	}
	return out
}

// withProtocols makes sure the client protocols of the contract are present,
// empty when no command of theirs ran.
func withProtocols(m CommandMap) CommandMap {
	for _, p := range []string{clients.ProtocolIMAP, clients.ProtocolPOP3, clients.ProtocolSMTP} {
		if m[p] == nil {
			m[p] = map[string]Command{}
		}
	}
	return m
}

func ms(sec float64, count uint64) Num {
	if count == 0 || math.IsNaN(sec) || math.IsInf(sec, 0) {
		return NaN()
	}
	return Num(sec * 1000)
}

func dims(d audit.Dimensions) Dimensions {
	return Dimensions{Presence: d.Presence, Folder: d.Folder, Flags: d.Flags}
}

func convergence(k audit.KindResult) Convergence {
	c := Convergence{Changes: k.Changes, Converged: k.Converged, LagsBounded: k.LagsBounded, Unconverged: map[string]int{}, Histogram: make([]int, len(LagBuckets))}
	q := func(p float64) Num {
		d, ok := k.Quantile(p)
		if !ok {
			return NaN()
		}
		return Num(d.Seconds())
	}
	c.P50s, c.P95s, c.P99s = q(0.50), q(0.95), q(0.99)
	for r, n := range k.Unconverged {
		c.Unconverged[string(r)] = n
	}
	c.LagHistogram = LagHist{}
	for _, l := range k.Lags {
		c.LagHistogram.Add(l)
		s := l.Seconds()
		i := sort.SearchFloat64s(LagBuckets, s) // first bound >= s
		c.Histogram[min(i, len(LagBuckets)-1)]++
	}
	return c
}

// Build assembles the report and evaluates the thresholds.
func Build(in Input) *Report {
	res := in.Audit
	r := &Report{
		Scenario:         in.Scenario,
		Seed:             in.Seed,
		Shard:            in.Shard,
		StartedAt:        in.StartedAt,
		WallSeconds:      in.Wall.Seconds(),
		SimulatedSeconds: in.Simulated.Seconds(),
		Users:            in.Users,
		Devices:          in.Devices,
		DevicesByProfile: in.DevicesByProfile,
		Messages: Messages{
			Delivered: in.Delivered, Sent: in.Sent, Lost: res.Lost, ServerChecked: res.ServerChecked,
			DeliveryAttempted: in.Deliveries.Attempted, DeliveryFailedByReason: map[string]int64{},
			DeliveryRetries: in.Deliveries.Retries, DeliveryAbandoned: in.Deliveries.Abandoned,
			UsersUnchecked: res.UsersUnchecked,
		},
		Commands:        withProtocols(commandMap(in.Commands)),
		AuditorCommands: commandMap(in.AuditorCommands),
		Divergence: Divergence{
			Final: FinalDivergence{
				Ratio:               res.Overall.Ratio(),
				DivergentMessages:   res.Overall.Divergent,
				UsersConvergedRatio: res.Overall.UsersConvergedRatio(),
				ByDimension:         dims(res.Overall.ByDimension),
				Messages:            res.Overall.Union,
				ByReason:            map[string]int{},
				Users:               res.Overall.Users,
				ConvergedUsers:      res.Overall.ConvergedUsers,
				UnsyncedUsers:       res.Overall.UnsyncedUsers,
			},
			ByGroup: map[string]GroupDivergence{},
		},
		Convergence:  map[string]Convergence{},
		Server:       serverOf(in),
		Groups:       map[string]Group{},
		Settle:       in.Settle,
		Timeline:     in.Timeline.jsonSamples(),
		Notes:        append([]string(nil), in.Notes...),
		StoppedEarly: in.StoppedEarly,
		MailAtStart:  in.MailAtStart,
	}
	if r.Messages.Delivered == 0 {
		r.Messages.Delivered = res.Delivered
	}
	if r.Messages.Sent == 0 {
		r.Messages.Sent = res.Sent
	}
	if r.Users == 0 {
		r.Users = res.Users
	}
	if r.Devices == 0 {
		r.Devices = res.Devices
	}
	if r.Shard == "" {
		r.Shard = "1/1"
	}
	for _, l := range res.LostMessages {
		r.Messages.LostIDs = append(r.Messages.LostIDs, LostMessage{User: l.User, MessageID: l.MessageID})
	}
	r.Messages.DeliveryUnknown = unknownOf(res.Unanswered)
	r.Messages.SubmissionUnknown = unknownOf(res.SubmissionUnanswered)
	if s := in.Submissions; s.Sent+s.Failed+s.Unanswered+s.Cut > 0 {
		s.Started = s.Sent + s.Failed + s.Unanswered + s.Cut
		r.Messages.Submissions = &s
	}
	r.UnconvergedExamples = []UnconvergedExample{}
	for _, e := range res.Examples {
		r.UnconvergedExamples = append(r.UnconvergedExamples, UnconvergedExample{
			Change: string(e.Change.Kind), Reason: string(e.Reason), User: e.Change.User, Origin: e.Change.Device,
			Device: e.Device, MessageID: e.Change.MessageID, At: e.Change.At,
		})
	}
	for reason, n := range res.DivergentByReason {
		if n > 0 {
			r.Divergence.Final.ByReason[string(reason)] = n
		}
	}
	r.UnexplainedExamples = []UnexplainedExample{}
	for _, u := range res.Unexplained {
		r.UnexplainedExamples = append(r.UnexplainedExamples, UnexplainedExample{
			User: u.User, MessageID: u.MessageID, Dimension: strings.Join(u.Dimensions, ","), Shown: u.Shown, Server: u.Server,
		})
	}
	if n := res.DivergentByReason[audit.ReasonUnexplained]; n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d divergent messages are unexplained (no pending change, no known cause): see unexplained_examples", n))
	}
	r.pushLatency(in)
	r.deliveryQueue(in)
	r.Server.POP3Checked, r.Server.POP3Seen = res.POP3Marking.Downloaded, res.POP3Marking.Seen
	if marks, known := res.POP3Marking.MarksSeen(); known {
		r.Server.POP3MarksSeen = &marks
		if !marks {
			r.Notes = append(r.Notes, fmt.Sprintf("the server does not mark mail downloaded over POP3 \\Seen (%d of %d downloaded messages no one read over IMAP are unread on it): other devices of POP3 users show such mail unread", res.POP3Marking.Downloaded-res.POP3Marking.Seen, res.POP3Marking.Downloaded))
		}
	} else if res.POP3Marking.Downloaded > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("POP3 read marking is mixed: %d of %d downloaded messages no one read over IMAP are \\Seen on the server (downloads cut before QUIT, or a server rule)", res.POP3Marking.Seen, res.POP3Marking.Downloaded))
	}
	why := ""
	if in.StateUnread != "" {
		why = " (" + in.StateUnread + ")"
	}
	if !res.ServerChecked {
		r.Notes = append(r.Notes, StateUnreadNote+why)
	} else if res.UsersUnchecked > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("the server's state of %d of %d users was not read%s: their lost mail was not counted (lost is a lower bound) and their changes are classified server-unreadable", res.UsersUnchecked, res.Users, why))
	}
	for k, kr := range res.Convergence {
		r.Convergence[string(k)] = convergence(kr)
	}
	for name, g := range res.Groups {
		d := g.Divergence
		r.Divergence.ByGroup[name] = GroupDivergence{Ratio: d.Ratio(), UsersConvergedRatio: d.UsersConvergedRatio()}
		gr := Group{
			Users: d.Users, Messages: d.Union, DivergentMessages: d.Divergent,
			Ratio: d.Ratio(), UsersConvergedRatio: d.UsersConvergedRatio(), ConvergedUsers: d.ConvergedUsers, UnsyncedUsers: d.UnsyncedUsers, ByDimension: dims(d.ByDimension),
			Delivered: g.Delivered, Sent: g.Sent, Lost: g.Lost, Convergence: map[string]Convergence{},
		}
		for k, kr := range g.Convergence {
			gr.Convergence[string(k)] = convergence(kr)
		}
		r.Groups[name] = gr
	}
	for reason, n := range in.Deliveries.Failed {
		if n > 0 {
			r.Messages.DeliveryFailedByReason[reason] = n
			r.Messages.DeliveryFailed += n
		}
	}
	r.Load = load(in, r.Commands)
	if note := failedNote(r.Commands, r.Load); note != "" {
		r.Notes = append(r.Notes, note)
	}
	if note := droppedNote(r.Commands, r.Load); note != "" {
		r.Notes = append(r.Notes, note)
	}
	r.Actions = in.Actions
	buildCost(r, in.Cost, in.Simulated.Seconds())
	r.Harness = newHarness(in.Harness)
	if note := behindNote(r.Actions, r.Harness); note != "" {
		r.Notes = append(r.Notes, note)
	}
	r.Thresholds = evaluate(r, res, in.Thresholds, in.ThresholdScope)
	r.syncRounds(in)
	r.markUnreliable()
	r.Validity = validity(r, in)
	return r
}

// validity checks the run's own measurements: more than MaxUndelivered of
// the injected deliveries not delivered, or no successful login for a
// protocol the devices use, make them invalid.
func validity(r *Report, in Input) Validity {
	return checkValidity(r, !in.ValidityChecksOff, in.DeviceProtocols)
}

// checkValidity checks r's deliveries and logins; protocols are those the
// devices use.
func checkValidity(r *Report, enabled bool, protocols []string) Validity {
	v := Validity{Enabled: enabled, Problems: []string{}}
	if missing, injected := r.Messages.notDelivered(); injected > 0 && float64(missing) > MaxUndelivered*float64(injected) {
		var why []string
		for _, reason := range sortedKeys(r.Messages.DeliveryFailedByReason) {
			why = append(why, fmt.Sprintf("%s %d", reason, r.Messages.DeliveryFailedByReason[reason]))
		}
		if r.Messages.DeliveryAbandoned > 0 {
			why = append(why, fmt.Sprintf("abandoned %d", r.Messages.DeliveryAbandoned))
		}
		v.Problems = append(v.Problems, fmt.Sprintf("%d of %d deliveries (%.1f%%) were not delivered (%s): more than %g%% of the injected mail",
			missing, injected, 100*float64(missing)/float64(injected), strings.Join(why, ", "), 100*MaxUndelivered))
	}
	protos := slices.Clone(protocols)
	slices.Sort(protos)
	v.DeviceProtocols = slices.Compact(protos)
	loginProblems(&v, r.Load.Logins)
	v.OK = len(v.Problems) == 0
	return v
}

// loginProblems adds a problem for every device protocol of v without a
// successful login.
func loginProblems(v *Validity, logins map[string]LoginStat) {
	for _, p := range v.DeviceProtocols {
		switch l := logins[p]; {
		case l.OK > 0:
		case l.Failed == 0:
			v.Problems = append(v.Problems, fmt.Sprintf("no %s login was attempted, though devices use %s", p, p))
		default:
			v.Problems = append(v.Problems, fmt.Sprintf("no successful %s login: all %d attempts failed", p, l.Failed))
		}
	}
}

// Valid reports whether the run's measurements count: true when they are
// valid or the scenario turned the validity checks off.
func (r *Report) Valid() bool { return r.Validity.OK || !r.Validity.Enabled }

// errorRate is failed / operations, NaN without operations.
func errorRate(failed, operations uint64) Num {
	if operations == 0 {
		return NaN()
	}
	return Num(float64(failed) / float64(operations))
}

func load(in Input, cmds CommandMap) Load {
	return sumLoad(cmds, in.Wall.Seconds(), []map[string]ByteStat{in.Bytes}, []map[string]LoginStat{in.Logins}, in.Pending)
}

// sumLoad is the load of cmds over wall seconds, with the bytes and logins
// of one run or of several shards summed; pending (Input.Pending, nil but
// in a capacity step) and the commands and logins the simulated network
// dropped are left out of the error rate (serverOutcomes).
func sumLoad(cmds CommandMap, wall float64, bytes []map[string]ByteStat, logins []map[string]LoginStat, pending map[string]uint64) Load {
	l := Load{CommandsPerSecond: map[string]float64{}, Bytes: map[string]ByteStat{}, Logins: map[string]LoginStat{},
		Pending: maps.Clone(pending)}
	for p, m := range cmds {
		var n uint64
		for _, c := range m {
			n += c.Count
			l.Errors += c.Errors
			l.Dropped += c.Dropped
		}
		l.Commands += n
		if wall > 0 {
			l.CommandsPerSecond[p] = float64(n) / wall
		}
	}
	for _, bm := range bytes {
		for p, b := range bm {
			cur := l.Bytes[p]
			l.Bytes[p] = ByteStat{In: cur.In + b.In, Out: cur.Out + b.Out}
		}
	}
	for _, lm := range logins {
		for p, s := range lm {
			cur := l.Logins[p]
			cur.OK += s.OK
			cur.Failed += s.Failed
			for outcome, n := range s.FailedBy {
				if cur.FailedBy == nil {
					cur.FailedBy = map[string]uint64{}
				}
				cur.FailedBy[outcome] += n
			}
			cur.ClosedIdle += s.ClosedIdle
			l.Logins[p] = cur
			l.ClosedIdle += s.ClosedIdle
			l.LoginAttempts += s.OK + s.Failed
			l.LoginFailures += s.Failed
			l.LoginsDropped += min(s.FailedBy[string(transport.OutcomeDropped)], s.Failed)
		}
	}
	l.ErrorRate = errorRate(serverCounts(cmds, l.Logins, pending, ""))
	return l
}

// serverCounts returns the failures and the outcomes of the commands and
// logins the server answered, error_rate's numerator and denominator:
// commands still in flight at a capacity window's close (pending, by
// protocol) and what the simulated network dropped are left out
// (serverOutcomes, serverLogins). protocol, when not "", keeps that
// protocol's alone.
func serverCounts(cmds CommandMap, logins map[string]LoginStat, pending map[string]uint64, protocol string) (failed, answered uint64) {
	for p, m := range cmds {
		if protocol != "" && p != protocol {
			continue
		}
		for _, c := range m {
			failed += c.Errors
		}
		answered += serverOutcomes(m, pending[p])
	}
	for p, l := range logins {
		if protocol != "" && p != protocol {
			continue
		}
		a, f := serverLogins(l)
		answered += a
		failed += f
	}
	return failed, answered
}

// failedNote names the commands that failed and why: the five that failed
// most, each with its errors by outcome (Command.ErrorsBy), so that no
// error in the load table goes without its cause. "" when none failed.
func failedNote(cmds CommandMap, l Load) string {
	if l.Errors == 0 {
		return ""
	}
	parts := topCommands(cmds, func(c Command) uint64 { return c.Errors }, func(c Command) string {
		var why []string
		for _, o := range sortedKeys(c.ErrorsBy) {
			why = append(why, fmt.Sprintf("%s %d", o, c.ErrorsBy[o]))
		}
		if len(why) == 0 {
			return ""
		}
		return " (" + strings.Join(why, ", ") + ")"
	})
	return fmt.Sprintf("%d commands failed: %s; by outcome (docs/report.md, Outcomes) in each command's errors_by", l.Errors, strings.Join(parts, ", "))
}

// behindShare is the share of the planned actions overdue at the end of a
// run (Actions.Overdue) above which behindNote says the people fell
// behind. A run that keeps the scenario's pace leaves few overdue — the
// actions pending then mostly wait out their action_delay —; a server too
// slow for the pace left 4,488 of 7,551 pending (docs/report.md, People
// who fell behind).
const behindShare = 0.25

// behindMinPlanned is the fewest planned actions behindNote judges: fewer,
// and a share of them says little.
const behindMinPlanned = 20

// behindNote says, when more than behindShare of the planned actions were
// overdue at the end (their turn had come under the scenario's pace), that
// the people fell behind it, with how late their actions began (h's
// LateP99ms, when measured): the load and the changes the report measures
// are those of the actions done, not the pace the scenario asks for. ""
// otherwise. Actions still waiting out their action_delay are no sign of
// it: a long action_delay leaves many pending and none overdue.
func behindNote(a Actions, h *Harness) string {
	if a.Planned < behindMinPlanned || float64(a.Overdue) <= behindShare*float64(a.Planned) {
		return ""
	}
	late := ""
	if h != nil && !h.LateP99ms.Missing() {
		late = fmt.Sprintf(", and their actions began up to %s late (p99, wall)", fmtMs(h.LateP99ms))
	}
	return fmt.Sprintf("the people fell behind the scenario's pace: %d of %d planned actions (%.0f%%) were overdue at the end of the run (their turn had come; %d pending in all)%s — each person does one action at a time, so replies slower than the pace (the server's, or a saturated harness's: see harness), or mail that comes faster than action_repeat_delay lets a person act, hold the rest back; the load, divergence and lags measured are those of the %d actions done, not of the pace the scenario asks for",
		a.Overdue, a.Planned, 100*float64(a.Overdue)/float64(a.Planned), a.Pending, late, a.Done)
}

// droppedNote says, when the simulated network dropped commands or logins
// (a profile's disconnect_every), how many, the commands that lost most
// first: the measured figure behind the network warning's estimate
// (cmd/mailsim/validate.go, networkWarnings), and why error_rate does not
// count them. "" when nothing was dropped.
func droppedNote(cmds CommandMap, l Load) string {
	if l.Dropped == 0 && l.LoginsDropped == 0 {
		return ""
	}
	parts := topCommands(cmds, func(c Command) uint64 { return c.Dropped }, nil)
	what := fmt.Sprintf("%d commands", l.Dropped)
	if len(parts) > 0 {
		what += " (" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprintf("the simulated network (disconnect_every) dropped %s and %d logins under the clients: "+
		"outcome dropped, counted apart from errors (load.dropped, load.logins_dropped) and left out of error_rate", what, l.LoginsDropped)
}

// topCommands names the commands of cmds with a count (count) above 0,
// the largest first (ties by name), as "protocol COMMAND N" and what
// detail (nil: nothing) adds; past maxNamed, one "N more across K other
// commands" stands for the rest.
func topCommands(cmds CommandMap, count func(Command) uint64, detail func(Command) string) []string {
	type named struct {
		name string
		n    uint64
		c    Command
	}
	var top []named
	for p, m := range cmds {
		for name, c := range m {
			if n := count(c); n > 0 {
				top = append(top, named{p + " " + name, n, c})
			}
		}
	}
	slices.SortFunc(top, func(a, b named) int {
		if a.n != b.n {
			return cmp.Compare(b.n, a.n)
		}
		return strings.Compare(a.name, b.name)
	})
	var parts []string
	for i, t := range top {
		if i == maxNamed {
			var rest uint64
			for _, t := range top[i:] {
				rest += t.n
			}
			parts = append(parts, fmt.Sprintf("%d more across %d other commands", rest, len(top)-i))
			break
		}
		part := fmt.Sprintf("%s %d", t.name, t.n)
		if detail != nil {
			part += detail(t.c)
		}
		parts = append(parts, part)
	}
	return parts
}

// maxNamed is how many commands topCommands names.
const maxNamed = 5

// serverOutcomes returns how many of one protocol's commands m ended with
// the server's outcome, error_rate's denominator: neither still in flight
// at a capacity window's close (pending of them: no outcome yet) nor
// dropped by the simulated network (mailsim cut them, not the server).
func serverOutcomes(m map[string]Command, pending uint64) uint64 {
	var n, dropped uint64
	for _, c := range m {
		n += c.Count
		dropped += c.Dropped
	}
	n -= min(dropped, n)
	return n - min(pending, n)
}

// serverLogins returns the login attempts of l that ended with the
// server's outcome and those of them that failed: the simulated network's
// drops left out, as from error_rate's commands (serverOutcomes).
func serverLogins(l LoginStat) (attempts, failed uint64) {
	dropped := min(l.FailedBy[string(transport.OutcomeDropped)], l.Failed)
	return l.OK + l.Failed - dropped, l.Failed - dropped
}

// PendingTotal returns the commands still in flight at a capacity
// window's close, over every protocol (Pending).
func (l Load) PendingTotal() uint64 {
	var n uint64
	for _, k := range l.Pending {
		n += k
	}
	return n
}

// deliveryQueue fills messages.delivery_queue from in.Deliveries.Queue and
// notes inbound mail delivered late: a p99 wait above MaxQueueSim
// simulated, or a backlog settle gave up on.
func (r *Report) deliveryQueue(in Input) {
	q := in.Deliveries.Queue
	if q.Samples == 0 && q.Backlog == 0 {
		return
	}
	scale := scaleOr1(in.TimeScale)
	sim := time.Duration(float64(q.P99) * scale)
	dq := &DeliveryQueue{
		Connections: q.Connections, Samples: q.Samples,
		WaitP50S: q.P50.Seconds(), WaitP99S: q.P99.Seconds(), WaitMaxS: q.Max.Seconds(), WaitP99SimS: sim.Seconds(),
		Backlog: q.Backlog, DrainS: q.Drain.Seconds(), DrainCut: q.DrainCut,
	}
	r.Messages.DeliveryQueue = dq
	if dq.late() {
		r.Notes = append(r.Notes, QueueNote(*dq, scale, in.Deliveries.Retries))
	}
}

// pushLatency fills server.push_latency from in.Push and notes a push
// latency large against the time scale (above MaxPushSim simulated).
func (r *Report) pushLatency(in Input) {
	p := in.Push
	if p.Samples == 0 {
		return
	}
	scale := scaleOr1(in.TimeScale)
	sim, large := PushSim(p.P50, scale)
	r.Server.PushLatency = &PushLatency{
		Samples: p.Samples, P50S: p.P50.Seconds(), P95S: p.P95.Seconds(), MaxS: p.Max.Seconds(), P50SimS: sim.Seconds(),
		ForgottenDeliveries: p.Forgotten, HorizonS: p.Horizon.Seconds(),
	}
	if large {
		r.Notes = append(r.Notes, PushNote(fmtSeconds(p.P50.Seconds())+" wall at the median", sim, scale))
	}
	if n := r.Server.PushLatency.horizonNote(); n != "" {
		r.Notes = append(r.Notes, n)
	}
}

// horizonNote says, when the push tracker forgot deliveries, which pushes
// the latency may leave out; "" when it forgot none.
func (p *PushLatency) horizonNote() string {
	if p.ForgottenDeliveries == 0 {
		return ""
	}
	return fmt.Sprintf("push latency: to stay bounded the tracker forgot %d deliveries, the soonest %s wall after its try, so a push slower than that may be missing from server.push_latency",
		p.ForgottenDeliveries, fmtSeconds(p.HorizonS))
}

// Storage sources (Server.StorageSource).
const (
	// StorageServer: the embedded server's store, at the start and the end.
	StorageServer = "server"
	// StorageUsers: the simulated users' mailboxes on a real server, read
	// at the end by the final state reader.
	StorageUsers = "users"
	// StorageUnknown: not known.
	StorageUnknown = "unknown"
)

// serverOf is the report's server section of in.
func serverOf(in Input) Server {
	s := Server{PeakConnections: in.PeakConnections, StorageSource: StorageUnknown}
	if in.StorageUnknown {
		return s
	}
	s.StoredMessages, s.StoredBytes = &in.StoredMessages, &in.StoredBytes
	s.StorageSource = StorageServer
	if in.StorageUsers {
		s.StorageSource = StorageUsers
	}
	if !in.StorageStartUnknown {
		s.StoredMessagesStart, s.StoredBytesStart = &in.StoredMessagesStart, &in.StoredBytesStart
	}
	return s
}

// Storage returns the stored messages and bytes at the end; ok is false
// when they are not known.
func (s Server) Storage() (messages int, bytes int64, ok bool) {
	if s.StoredMessages == nil || s.StoredBytes == nil {
		return 0, 0, false
	}
	return *s.StoredMessages, *s.StoredBytes, true
}

// StorageGrowth returns the stored messages and bytes gained from the
// start to the end; ok is false when either end is not known.
func (s Server) StorageGrowth() (messages int, bytes int64, ok bool) {
	m, b, ok := s.Storage()
	if !ok || s.StoredMessagesStart == nil || s.StoredBytesStart == nil {
		return 0, 0, false
	}
	return m - *s.StoredMessagesStart, b - *s.StoredBytesStart, true
}
