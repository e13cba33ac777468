package scenarios

import (
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// Scenario is a loaded, validated scenario (docs/scenarios.md, version 1) with every
// default applied and every ${VAR} expanded. Treat it as read-only.
type Scenario struct {
	// Source is the file the scenario came from ("quickstart" for a shipped
	// one), used in error messages and reports.
	Source      string
	Version     int
	Name        string
	Description string
	// Seed makes runs reproducible. Default 1.
	Seed int64
	// Duration is the wall-clock length of the active phase. Default 1m.
	Duration time.Duration
	// TimeScale is simulated seconds per wall second. Default 1.
	TimeScale float64
	// RampUp spreads user starts evenly over this wall time. Default 0.
	RampUp time.Duration
	// Settle is the wall time after Duration when people stop acting and
	// devices keep syncing (with SettleUntil synced: its maximum).
	// Default 10s.
	Settle time.Duration
	// SettleUntil says when settle ends: after Settle (SettleTimer, the
	// default), or as soon as every device has synced since the changes
	// it does not show, Settle at most (SettleSynced).
	SettleUntil SettleUntil
	// Target is nil when the scenario runs against the embedded server.
	Target *Target
	Users  Users
	// Groups in the order the scenario lists them.
	Groups []*Group
	// Behaviors and Devices by name.
	Behaviors map[string]*Behavior
	Devices   map[string]*clients.Profile
	// Hand says how likely the person is to use each device kind when
	// acting (the device "in hand"); weights, not necessarily summing to 1.
	// Default pc 0.6, phone 0.3, webmail 0.1.
	Hand map[clients.Kind]float64
	// Audit is the wall-clock interval between divergence audits. Default 2s.
	Audit      time.Duration
	Thresholds []Threshold
	// MaxParallelDeliveries caps concurrent inbound deliveries by the
	// traffic injector (imaptest lmtp_max_parallel_count): the number of
	// delivery connections it keeps; 0 = mailsim's default, 4.
	MaxParallelDeliveries int
	// StopGrace is how long a command in flight when a device or the
	// injector is told to stop (the end of the run, of a capacity step)
	// has to be answered before its connection is closed under it and it
	// counts a timeout (clients.StopGrace; docs/report.md, Outcomes).
	// Parse sets DefaultStopGrace, 1s; 0 (a Scenario built in Go) is that
	// default too.
	StopGrace time.Duration
	// ValidityChecksOff is set by "validity_checks: false": a run whose own
	// measurements are invalid (more than 1% of its deliveries not
	// delivered, no successful login for a protocol its devices use) then
	// still exits 0 when its thresholds hold (docs/report.md, Validity).
	ValidityChecksOff bool
	// Server configures the embedded server; a scenario with a target
	// cannot set it.
	Server ServerSettings
	// Capacity configures "mailsim capacity" (the capacity: block, with
	// its defaults when absent).
	Capacity Capacity
}

// ServerSettings configure the embedded server (the scenario's server:
// block).
type ServerSettings struct {
	// MaxCommandsPerSecond limits the embedded server to this many commands
	// per second over all protocols (see MaxCommandsPerSecond in
	// internal/mailserver/server.go); 0 = no limit.
	MaxCommandsPerSecond float64
}

// SettleUntil is when the settle phase ends.
type SettleUntil string

// The ends of the settle phase.
const (
	// SettleTimer ends settle after Scenario.Settle.
	SettleTimer SettleUntil = "timer"
	// SettleSynced ends settle as soon as no change waits any longer for
	// a device: every device shows each change or has completed a sync
	// since it; after Scenario.Settle at the latest.
	SettleSynced SettleUntil = "synced"
)

// DeliveryProtocol is how the traffic injector puts inbound mail on the server.
type DeliveryProtocol string

// The delivery protocols.
const (
	DeliverLMTP       DeliveryProtocol = "lmtp"
	DeliverSMTP       DeliveryProtocol = "smtp"
	DeliverIMAPAppend DeliveryProtocol = "imap-append"
)

// Delivery is the inbound injection endpoint.
type Delivery struct {
	Protocol DeliveryProtocol
	Addr     string
	TLS      transport.TLSMode
}

// Target names a real server. Nil endpoints are not configured.
type Target struct {
	IMAP               *transport.Endpoint
	POP3               *transport.Endpoint
	Submission         *transport.Endpoint
	Delivery           *Delivery
	InsecureSkipVerify bool
	MetricsURL         string
	// Resources says where the server's CPU and memory are read during a
	// capacity search; nil means the defaults (see [Resources]).
	Resources *Resources
	// Domain is the mail domain of the simulated users' addresses
	// (user1@Domain). Default "example.com".
	Domain string
}

// Users is the population.
type Users struct {
	Count int
	// Username is the pattern with {n} / {n:04}; empty when File is used.
	Username string
	// Password for every user (after ${VAR} expansion); ignored for users
	// from File that carry their own.
	Password string
	// File, if set, is the user file that was read (lines "user" or
	// "user:password"); Names holds its entries in order.
	File  string
	Names []Credential
	// Start is the number {n} of the first user (imaptest
	// username_start_index). Default 1.
	Start int
}

// Credential is one user's login.
type Credential struct {
	Username string
	Password string
}

// Group is a share of the population with its devices and behavior.
type Group struct {
	Name string
	// Share of the population, 0 < Share <= 1.
	Share float64
	// Devices names device profiles, in order; a user of the group has one
	// device of each.
	Devices  []string
	Behavior string
}

// Size is a byte count.
type Size int64

// Range is an inclusive size range.
type Range struct{ Min, Max Size }

// Inbound is the mail arriving to each user.
type Inbound struct {
	// Interval is the mean simulated time between arrivals (Poisson); 0
	// means no mail of this kind.
	Interval time.Duration
	Size     Range
	// Attachments is the share of messages with an attachment, 0..1.
	Attachments float64
}

// Send is how often the person writes new mail.
type Send struct {
	// Interval is the mean simulated time between new messages; 0 disables.
	Interval time.Duration
	// WriteTime is how long a message sits in Drafts before it is sent.
	WriteTime time.Duration
	// Recipients: share of new mail addressed to other simulated users
	// (the rest goes to an external domain). Default 0.5.
	Internal float64
}

// OnNewMail holds the probabilities (0..1) of each action on a new message.
type OnNewMail struct {
	Read, Reply, Forward, Flag, Move, Delete float64
	// MoveFilter is the probability that a new message is moved to Junk as
	// soon as a device sees it, without ActionDelay (imaptest
	// mail_inbox_move_filter_percentage).
	MoveFilter float64
}

// Behavior is what a person does, whatever device is in hand.
type Behavior struct {
	Name    string
	Inbound Inbound
	// Spam arrives into the Junk folder (user+Junk).
	Spam              Inbound
	Send              Send
	OnNewMail         OnNewMail
	ActionDelay       time.Duration
	ActionRepeatDelay time.Duration
	// Folders the person files mail into (move).
	Folders []string
	// SessionLength is how long the person keeps one device in hand.
	SessionLength time.Duration
}

// Threshold is one pass/fail rule from the scenario, parsed.
type Threshold struct {
	// Expr is the text as written.
	Expr string
	// Metric is one of: divergence_ratio, users_converged_ratio, p50, p95,
	// p99, error_rate, lost_messages, convergence_p50, convergence_p99.
	Metric string
	// Labels: for divergence_ratio / users_converged_ratio "group", for
	// convergence_* "change"; for pXX the command as Protocol/Command.
	Labels map[string]string
	// Protocol and Command for pXX(imap.FETCH).
	Protocol, Command string
	// Op is one of < <= > >= == !=.
	Op string
	// Value is the right-hand side in base units: seconds for durations, a
	// fraction for percentages ("1%" = 0.01), a plain number otherwise.
	Value float64
}
