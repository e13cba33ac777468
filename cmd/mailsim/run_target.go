package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mailsim/mailsim/internal/audit"
	"github.com/mailsim/mailsim/internal/engine"
	"github.com/mailsim/mailsim/internal/mailserver"
	"github.com/mailsim/mailsim/internal/report"
	"github.com/mailsim/mailsim/internal/serverstate"
	"github.com/mailsim/mailsim/internal/transport"
	"github.com/mailsim/mailsim/internal/view"
	"github.com/mailsim/mailsim/metrics"
	"github.com/mailsim/mailsim/scenarios"
)

// target is the server a run talks to: the embedded one, started here, or
// the real one the scenario names.
type target struct {
	endpoints engine.Endpoints
	truth     audit.Truth
	// embedded is the in-process server, nil for a real target.
	embedded *mailserver.Server
	server   *metrics.Server
	// storage receives what each user stores on a real server, as the
	// state reader reads it at the end; nil for the embedded server.
	storage *serverstate.UserStorage
	// auditor records the auditor's own commands on a real server,
	// excluded from load figures.
	auditor *metrics.Client
	// mailAtStart is what the preflight found in the users' mailboxes on
	// a real server; nil for the embedded server, which starts empty.
	mailAtStart *report.MailAtStart
	// alert is what a real server's IMAP greeting or LOGIN reply said
	// in an [ALERT] at the preflight (serverstate.MailAtStart.Alert);
	// "" for none.
	alert string
	close func()
}

// usage returns the server's stored messages and bytes, when known.
func (t *target) usage() (messages int, bytes int64, ok bool) {
	if t.embedded == nil {
		return 0, 0, false
	}
	for _, u := range t.embedded.Usage() {
		messages += u.Messages
		bytes += u.Bytes
	}
	return messages, bytes, true
}

// groupStorage returns what each group's users store on the server, by
// folder role, summed over the plan's users; nil with the reason when the
// server cannot tell per user.
func (t *target) groupStorage(plan *scenarios.Plan) (map[string]report.StorageStat, string) {
	if t.embedded == nil && t.storage == nil {
		return nil, "the server's storage per user is not known: no IMAP endpoint to read it"
	}
	out := map[string]report.StorageStat{}
	read, users := map[string]int{}, map[string]int{}
	for _, u := range plan.Users {
		if u.Group == nil {
			continue
		}
		g := u.Group.Name
		users[g]++
		byRole := map[string]serverstate.RoleUsage{}
		if t.embedded != nil {
			usage, ok := t.embedded.UserUsage(u.Username)
			if !ok {
				continue
			}
			for _, f := range usage {
				byRole[f.Role] = serverstate.RoleUsage{Messages: int64(f.Messages), Bytes: f.Bytes}
			}
		} else {
			var ok bool
			if byRole, ok = t.storage.User(u.Username); !ok {
				continue // its state was not read
			}
		}
		read[g]++
		st, seen := out[g]
		if !seen {
			st = report.StorageStat{Messages: map[string]int64{}, Bytes: map[string]int64{}}
		}
		for role, ru := range byRole {
			st.Messages[role] += ru.Messages
			st.Bytes[role] += ru.Bytes
		}
		out[g] = st
	}
	for g, st := range out {
		if read[g] < users[g] {
			st.UsersRead = read[g]
		}
		st.StartUnknown = t.embedded == nil
		out[g] = st
	}
	return out, ""
}

// groupServiceSeconds returns, per group, the seconds the server spent
// answering the IMAP and POP3 commands of the group's users; nil with the
// reason when the server cannot attribute its work to users.
func (t *target) groupServiceSeconds(plan *scenarios.Plan) (map[string]float64, string) {
	if t.embedded == nil {
		return nil, "a real server's work per user is not measured (only the embedded server attributes its command time to users)"
	}
	out := map[string]float64{}
	for _, u := range plan.Users {
		if u.Group == nil {
			continue
		}
		if d, ok := t.embedded.UserServiceTime(u.Username); ok {
			out[u.Group.Name] += d.Seconds()
		}
	}
	return out, ""
}

// targetEndpoints returns the endpoints a scenario's target names.
func targetEndpoints(tt *scenarios.Target) engine.Endpoints {
	ep := engine.Endpoints{TLS: transport.BaseTLS(tt.InsecureSkipVerify)}
	if tt.IMAP != nil {
		ep.IMAP = *tt.IMAP
	}
	if tt.POP3 != nil {
		ep.POP3 = *tt.POP3
	}
	if tt.Submission != nil {
		ep.Submission = *tt.Submission
	}
	if tt.Delivery != nil {
		ep.Delivery = *tt.Delivery
	}
	return ep
}

// openTarget starts the embedded server with the plan's users, or checks
// that the scenario's real server answers and accepts the credentials.
func openTarget(ctx context.Context, plan *scenarios.Plan, reg prometheus.Registerer, log *slog.Logger) (*target, error) {
	s := plan.Scenario
	if s.Target == nil {
		return openEmbedded(plan, reg, log)
	}
	ep := targetEndpoints(s.Target)
	found, err := ep.Preflight(plan).Check(ctx)
	if err != nil {
		return nil, fmt.Errorf("target check failed:\n%w", err)
	}
	passwords := map[string]string{}
	for _, u := range plan.Users {
		passwords[u.Username] = u.Password
	}
	t := &target{endpoints: ep, auditor: metrics.NewClient(nil), mailAtStart: mailAtStart(found), alert: found.Alert, close: func() {}}
	if ep.IMAP.Addr != "" {
		t.storage = &serverstate.UserStorage{}
		t.truth = &serverstate.IMAPReader{
			Endpoint: ep.IMAP,
			TLS:      ep.TLS,
			Password: func(u string) string { return passwords[u] },
			Recorder: t.auditor,
			Storage:  t.storage,
		}
	}
	if s.Target.MetricsURL != "" {
		if err := registerServerExporter(reg, s.Target.MetricsURL); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// mailAtStart is the report's form of what the preflight found in the
// users' mailboxes; nil when it did not look (no IMAP or POP3 endpoint).
func mailAtStart(found serverstate.MailAtStart) *report.MailAtStart {
	if found.Protocol == "" {
		return nil
	}
	users := make([]report.UserMailAtStart, 0, len(found.Users))
	for _, u := range found.Users {
		ru := report.UserMailAtStart{User: u.User, Messages: u.Messages(), Folders: []report.FolderMailAtStart{}, FoldersListed: u.Listed, NamespaceRefused: u.NamespaceRefused}
		for _, f := range u.Folders {
			ru.Folders = append(ru.Folders, report.FolderMailAtStart{Name: f.Name, Messages: f.Messages})
		}
		users = append(users, ru)
	}
	return report.NewMailAtStart(found.Protocol, users, found.Incomplete, found.Commands)
}

// openEmbedded starts the embedded server on loopback ports with every user
// of the plan.
func openEmbedded(plan *scenarios.Plan, reg prometheus.Registerer, log *slog.Logger) (*target, error) {
	t := &target{}
	domain := "example.com"
	var srv *mailserver.Server
	t.server = metrics.NewServerWithOptions(reg, metrics.ServerOptions{Usage: func() []metrics.FolderUsage {
		var out []metrics.FolderUsage
		for _, u := range srv.Usage() {
			out = append(out, metrics.FolderUsage{Role: u.Role, Messages: u.Messages, Bytes: u.Bytes})
		}
		return out
	}})
	srv = mailserver.New(mailserver.Options{Domain: domain, Logger: log, Recorder: t.server,
		MaxCommandsPerSecond: plan.Scenario.Server.MaxCommandsPerSecond})
	for _, u := range plan.Users {
		if err := srv.AddUser(u.Username, u.Password); err != nil {
			srv.Close()
			return nil, fmt.Errorf("embedded server: %w", err)
		}
	}
	addrs, err := srv.Listen(mailserver.ListenConfig{
		IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", SMTP: "127.0.0.1:0", LMTP: "127.0.0.1:0",
	})
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	t.embedded = srv
	t.endpoints = engine.Endpoints{
		IMAP:       transport.Endpoint{Addr: addrs.IMAP, TLS: transport.TLSNone},
		POP3:       transport.Endpoint{Addr: addrs.POP3, TLS: transport.TLSNone},
		Submission: transport.Endpoint{Addr: addrs.SMTP, TLS: transport.TLSNone},
		Delivery:   scenarios.Delivery{Protocol: scenarios.DeliverLMTP, Addr: addrs.LMTP, TLS: transport.TLSNone},
	}
	t.truth = embeddedTruth{srv}
	t.close = func() { srv.Close() }
	return t, nil
}

// embeddedTruth reads the embedded server's store directly.
type embeddedTruth struct{ s *mailserver.Server }

func (e embeddedTruth) UserState(ctx context.Context, user string) (view.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return view.Snapshot{}, err
	}
	return e.s.UserState(user)
}
