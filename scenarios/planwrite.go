package scenarios

import (
	"fmt"
	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Write prints the plan as a readable table: the scenario, seed, shard and
// times (wall and simulated), users per group, devices per profile and the
// expected rates.
func (p *Plan) Write(w io.Writer) error {
	s := p.Scenario
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	line("scenario\t%s (%s)", s.Name, s.Source)
	if s.Description != "" {
		line("description\t%s", s.Description)
	}
	line("seed\t%d", p.Seed)
	line("shard\t%s: %d of %d users", p.Shard, len(p.Users), p.TotalUsers)
	sim := func(d time.Duration) time.Duration { return time.Duration(float64(d) * s.TimeScale) }
	line("time scale\t%g simulated seconds per second", s.TimeScale)
	line("active\t%s wall = %s simulated", fmtDur(p.Duration), fmtDur(sim(p.Duration)))
	line("ramp-up\t%s wall", fmtDur(s.RampUp))
	if s.SettleUntil == SettleSynced {
		line("settle\tuntil every device synced, at most %s wall = %s simulated", fmtDur(s.Settle), fmtDur(sim(s.Settle)))
		line("total\tat most %s wall", fmtDur(p.Duration+s.Settle))
	} else {
		line("settle\t%s wall = %s simulated", fmtDur(s.Settle), fmtDur(sim(s.Settle)))
		line("total\t%s wall", fmtDur(p.Duration+s.Settle))
	}
	if s.Target == nil && s.Server.MaxCommandsPerSecond > 0 {
		line("server\tembedded (loopback), at most %g commands/s", s.Server.MaxCommandsPerSecond)
	} else if s.Target == nil {
		line("server\tembedded (loopback)")
	} else {
		line("server\t%s", describeTarget(s.Target))
	}
	c := s.Capacity
	line("capacity\tmailsim capacity: %d to at most %d users, steps of %s after ramp-up, ×%g, resolution %s, %d QoS lines%s",
		c.StartUsers, c.MaxUsers, fmtDur(c.StepDuration), c.Growth, fmtPercent(c.Resolution), len(c.QoS),
		map[bool]string{true: ", SPECmail confirmation", false: ""}[c.Confirm])
	line("")
	line("GROUP\tSHARE\tUSERS\tTHIS SHARD\tBEHAVIOR\tDEVICES")
	for _, g := range s.Groups {
		line("%s\t%s\t%d\t%d\t%s\t%s", g.Name, fmtPercent(g.Share), p.GroupTotals[g.Name], p.Rates.UsersByGroup[g.Name],
			g.Behavior, strings.Join(g.Devices, ", "))
	}
	line("")
	line("DEVICE PROFILE\tKIND\tPROTOCOL\tDEVICES\tSYNC")
	for _, name := range sortedKeys(p.Rates.DevicesByProfile) {
		d := s.Devices[name]
		line("%s\t%s\t%s\t%d\t%s", name, d.Kind, d.Protocol, p.Rates.DevicesByProfile[name], describeSync(d))
	}
	line("")
	r := p.Rates
	line("EXPECTED (this shard, wall clock)\t")
	line("inbound mail\t%s", fmtRate(r.InboundPerSec))
	line("spam\t%s", fmtRate(r.SpamPerSec))
	line("new mail sent\t%s", fmtRate(r.SendsPerSec))
	line("actions on new mail\t%s", fmtRate(r.ActionsPerSec))
	line("  of which replies and forwards\t%s", fmtRate(r.RepliesPerSec))
	line("logins after start\t%s", fmtRate(r.LoginsPerSec))
	line("long-lived IMAP connections\t%d", r.Connections)
	if len(s.Thresholds) > 0 {
		line("")
		line("THRESHOLDS\t")
		for _, t := range s.Thresholds {
			line("\t%s", t.Expr)
		}
	}
	return tw.Flush()
}

func describeTarget(t *Target) string {
	var parts []string
	add := func(name string, e *transport.Endpoint) {
		if e != nil {
			parts = append(parts, fmt.Sprintf("%s %s (tls %s)", name, e.Addr, e.TLS))
		}
	}
	add("imap", t.IMAP)
	add("pop3", t.POP3)
	add("submission", t.Submission)
	if t.Delivery != nil {
		parts = append(parts, fmt.Sprintf("delivery %s %s", t.Delivery.Protocol, t.Delivery.Addr))
	}
	return strings.Join(parts, "; ")
}

func describeSync(d *clients.Profile) string {
	var parts []string
	switch {
	case d.Protocol == clients.POP3:
		parts = append(parts, "poll "+fmtDur(d.PollInterval))
		if d.LeaveOnServer {
			keep := "leave on server"
			if d.DeleteAfter > 0 {
				keep += " " + fmtDur(d.DeleteAfter)
			}
			parts = append(parts, keep)
		} else {
			parts = append(parts, "download and delete")
		}
	case d.Kind == clients.KindWebmail:
		parts = append(parts, "refresh "+fmtDur(d.Refresh), fmt.Sprintf("page %d", d.PageSize))
	default:
		if d.Idle {
			parts = append(parts, "IDLE")
		}
		conn := fmt.Sprintf("%d conn", d.LongLivedConnections())
		if d.Connections > d.LongLivedConnections() {
			conn += fmt.Sprintf(" (connections %d: a %s uses at most %d)", d.Connections, d.Kind, d.LongLivedConnections())
		}
		parts = append(parts, "poll "+fmtDur(d.PollInterval), conn)
		if d.Window > 0 {
			parts = append(parts, fmt.Sprintf("window %d", d.Window))
		}
	}
	if d.Network != (transport.Network{}) {
		parts = append(parts, "shaped network")
	}
	return strings.Join(parts, ", ")
}

// fmtDur prints a duration without trailing zero units ("2h" not "2h0m0s"),
// with days for long ones.
func fmtDur(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	s = strings.Replace(s, "m0s", "m", 1)
	s = strings.Replace(s, "h0m", "h", 1)
	b.WriteString(s)
	return b.String()
}

func fmtRate(perSec float64) string {
	if perSec == 0 {
		return "none"
	}
	return fmt.Sprintf("%.3g/s (%.4g/min)", perSec, perSec*60)
}
