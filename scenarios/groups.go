package scenarios

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/mailsim/mailsim/clients"
)

// shareTolerance is how far the sum of group shares may be from 100%.
const shareTolerance = 0.0001

// maxGroups caps the number of groups.
const maxGroups = 1000

// groupDoc is one item of groups:.
type groupDoc struct {
	Name     text    `yaml:"name"`
	Share    percent `yaml:"share"`
	Devices  words   `yaml:"devices"`
	Behavior text    `yaml:"behavior"`
}

// groups converts the groups: list. Whether the groups fit together and
// name behaviors and device profiles that exist is Validate's check.
func (d *decoder) groups(l *list[block[groupDoc]], s *Scenario) (groups []*Group) {
	lpath := d.pathOf(l.n)
	items := l.items
	if len(items) == 0 {
		d.errorf(l.n, lpath, "empty population: add at least one group")
		return nil
	}
	if len(items) > maxGroups {
		d.errorf(l.n, lpath, "%d groups: at most %d", len(items), maxGroups)
		return nil
	}
	behaviors := sortedKeys(s.Behaviors)
	for i := range items {
		path := fmt.Sprintf("%s[%d]", lpath, i)
		doc := &items[i].doc
		node := d.valueAt(path)
		g := &Group{}
		if !doc.Name.given() {
			d.errorf(node, joinPath(path, "name"), "missing; every group needs a name")
		}
		doc.Name.read(d, &g.Name)
		switch {
		case doc.Share.given():
			if !doc.Share.read(d, &g.Share) {
				d.unsettle(lpath) // the sum of the shares
			}
		case len(items) == 1:
			g.Share = 1
		default:
			d.unsettle(lpath)
			d.errorf(node, joinPath(path, "share"), "missing; with several groups each needs a share, like 50%%")
		}
		if !doc.Devices.given() {
			d.errorf(node, joinPath(path, "devices"), "missing; list the devices each user of the group has, e.g. [pc-imap, phone-imap]")
		}
		g.Devices = doc.Devices.read(d)
		for j, dev := range g.Devices {
			if d.badDevices[dev] {
				d.unsettle(fmt.Sprintf("%s.devices[%d]", path, j))
			}
		}
		switch {
		case doc.Behavior.given():
			doc.Behavior.read(d, &g.Behavior)
		case len(s.Behaviors) == 1:
			g.Behavior = behaviors[0]
		default:
			d.errorf(node, joinPath(path, "behavior"), "missing; name one of the behaviors: %s", listOrNone(behaviors))
		}
		groups = append(groups, g)
	}
	return groups
}

// Validate checks one group on its own: a name, a share above 0% and at
// most 100%, at least one device. Whether the devices and behavior exist
// is Scenario.Validate's check.
func (g *Group) Validate() []error {
	var ps problems
	if err := checkName(g.Name); err != nil {
		ps.add("name", "%v", err)
	}
	if g.Share == 0 {
		ps.add("share", "share must be above 0%%; remove the group instead")
	} else {
		validatePercent(&ps, "share", g.Share)
	}
	if len(g.Devices) == 0 {
		ps.add("devices", "empty group: list at least one device")
	}
	return ps
}

// validateGroups checks the groups: each on its own, their names
// distinct, their shares summing to 100%, and the device profiles and
// behaviors they name defined.
func (s *Scenario) validateGroups() []error {
	var ps problems
	if len(s.Groups) == 0 {
		ps.add("groups", "empty population: add at least one group")
		return ps
	}
	known := knownProfiles(s)
	names := map[string]string{}
	total := 0.0
	for i, g := range s.Groups {
		path := fmt.Sprintf("groups[%d]", i)
		ps.under(path, g.Validate())
		if first, dup := names[g.Name]; dup && checkName(g.Name) == nil {
			ps.add(joinPath(path, "name"), "%w", &DuplicateError{What: "group name", Name: g.Name, First: first})
		} else if !dup {
			names[g.Name] = joinPath(path, "name")
		}
		total += g.Share
		seen := map[string]bool{}
		for j, dev := range g.Devices {
			dp := fmt.Sprintf("%s.devices[%d]", path, j)
			switch {
			case known[dev] == "":
				ps.add(dp, "unknown device profile %q; known: %s", dev, strings.Join(sortedKeys(known), ", "))
			case seen[dev]:
				ps.add(dp, "device %q listed twice: a user has one device of each profile", dev)
			}
			seen[dev] = true
		}
		if s.Behaviors[g.Behavior] == nil {
			ps.add(joinPath(path, "behavior"), "unknown behavior %q; known: %s", g.Behavior, listOrNone(sortedKeys(s.Behaviors)))
		}
	}
	if math.Abs(total-1) > shareTolerance {
		ps.add("groups", "group shares add up to %s, not 100%%", fmtPercent(total))
	}
	return ps
}

// knownProfiles maps every device profile name a group may use (built-in
// and defined) to its protocol.
func knownProfiles(s *Scenario) map[string]clients.Protocol {
	known := map[string]clients.Protocol{}
	for _, name := range clients.BuiltinNames() {
		p, _ := clients.Builtin(name)
		known[name] = p.Protocol
	}
	for name, p := range s.Devices {
		known[name] = p.Protocol
	}
	return known
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "(none defined under behaviors:)"
	}
	return strings.Join(l, ", ")
}

// validateTarget checks that the target names a server for every
// protocol the population needs. A group naming a device profile the
// scenario does not have is reported by validateGroups; the target is
// not checked then.
func (s *Scenario) validateTarget() []error {
	t := s.Target
	if t == nil {
		return nil
	}
	// No submission server is needed: without one, mailsim's injector plays
	// the MTA for the mail devices send and delivers it through
	// target.delivery.
	var needIMAP, needPOP3 bool
	for _, g := range s.Groups {
		for _, name := range g.Devices {
			p := s.Devices[name]
			if p == nil {
				return nil
			}
			needIMAP = needIMAP || p.Protocol == clients.IMAP
			needPOP3 = needPOP3 || p.Protocol == clients.POP3
		}
	}
	if t.Delivery != nil && t.Delivery.Protocol == DeliverIMAPAppend && t.Delivery.Addr == "" {
		needIMAP = true
	}
	var ps problems
	if needIMAP && t.IMAP == nil {
		ps.add("target.imap", "missing: the scenario has IMAP devices (or delivers by imap-append); add imap: {addr: HOST:PORT}")
	}
	if needPOP3 && t.POP3 == nil {
		ps.add("target.pop3", "missing: the scenario has POP3 devices; add pop3: {addr: HOST:PORT}")
	}
	if t.Delivery == nil {
		ps.add("target.delivery", "missing: no way to deliver inbound mail; add delivery: {protocol: lmtp, addr: HOST:PORT}")
	}
	return ps
}

// FiledFolders are the distinct folders the behaviors file mail into
// (move), sorted. A webmail pages through them with the special-use
// folders, one a page load (clients.SyncCycle).
func (s *Scenario) FiledFolders() []string {
	var out []string
	for _, b := range s.Behaviors {
		for _, f := range b.Folders {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	slices.Sort(out)
	return out
}
