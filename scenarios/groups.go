package scenarios

import (
	"fmt"
	"math"
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

// groups decodes the groups: list and checks it against the behaviors and
// device profiles. unknownDevices reports whether a group named a device
// profile that does not exist.
func (d *decoder) groups(e entry, s *Scenario) (groups []*Group, unknownDevices bool) {
	items := d.seq(e.val, e.path, "groups")
	if len(items) == 0 {
		d.errorf(e.val, e.path, "empty population: add at least one group")
		if e.val == nil {
			d.errs[len(d.errs)-1].Line, d.errs[len(d.errs)-1].Column = e.key.Line, e.key.Column
		}
		return nil, false
	}
	if len(items) > maxGroups {
		d.errorf(e.val, e.path, "%d groups: at most %d", len(items), maxGroups)
		return nil, false
	}
	known := knownProfiles(s)
	behaviors := make([]string, 0, len(s.Behaviors))
	for name := range s.Behaviors {
		behaviors = append(behaviors, name)
	}
	sort.Strings(behaviors)
	names := map[string]int{}
	total := 0.0
	sharesOK := true
	for i, item := range items {
		path := fmt.Sprintf("%s[%d]", e.path, i)
		var doc groupDoc
		d.mapping(item, path, "a group", &doc)
		node := d.resolve(item, path)
		if node == nil {
			return groups, unknownDevices
		}
		g := &Group{}
		if ne := doc.Name.e; !doc.Name.given() {
			d.errorf(node, joinPath(path, "name"), "missing; every group needs a name")
		} else if doc.Name.read(d, &g.Name) {
			if err := checkName(g.Name); err != nil {
				d.errorf(ne.val, ne.path, "%v", err)
			} else if line, dup := names[g.Name]; dup {
				d.errorf(ne.val, ne.path, "duplicate group name %q (first at line %d)", g.Name, line)
			}
			names[g.Name] = ne.val.Line
		}
		if se := doc.Share.e; !doc.Share.given() {
			if len(items) == 1 {
				g.Share = 1
			} else {
				sharesOK = false
				d.errorf(node, joinPath(path, "share"), "missing; with several groups each needs a share, like 50%%")
			}
		} else if doc.Share.read(d, &g.Share) {
			if g.Share == 0 {
				d.errorf(se.val, se.path, "share must be above 0%%; remove the group instead")
			}
		} else {
			sharesOK = false
		}
		total += g.Share
		de, ok := doc.Devices.e, doc.Devices.given()
		if !ok {
			d.errorf(node, joinPath(path, "devices"), "missing; list the devices each user of the group has, e.g. [pc-imap, phone-imap]")
		}
		devs, dnodes := doc.Devices.read(d)
		if ok && len(devs) == 0 {
			n := de.val
			if n == nil || isNull(n) {
				n = de.key
			}
			d.errorf(n, de.path, "empty group: list at least one device")
		}
		seen := map[string]bool{}
		for j, dev := range devs {
			switch {
			case d.badDevices[dev]:
				unknownDevices = true
			case known[dev] == "":
				unknownDevices = true
				d.errorf(dnodes[j], de.path, "unknown device profile %q; known: %s", dev, strings.Join(sortedKeys(known), ", "))
			case seen[dev]:
				d.errorf(dnodes[j], de.path, "device %q listed twice: a user has one device of each profile", dev)
			}
			seen[dev] = true
		}
		g.Devices = devs
		be, ok := doc.Behavior.e, doc.Behavior.given()
		switch {
		case ok:
			if doc.Behavior.read(d, &g.Behavior) && s.Behaviors[g.Behavior] == nil {
				d.errorf(be.val, be.path, "unknown behavior %q; known: %s", g.Behavior, listOrNone(behaviors))
			}
		case len(s.Behaviors) == 1:
			g.Behavior = behaviors[0]
		default:
			d.errorf(node, joinPath(path, "behavior"), "missing; name one of the behaviors: %s", listOrNone(behaviors))
		}
		groups = append(groups, g)
	}
	if sharesOK && math.Abs(total-1) > shareTolerance {
		d.errorf(e.val, e.path, "group shares add up to %s, not 100%%", fmtPercent(total))
	}
	return groups, unknownDevices
}

// knownProfiles maps every device profile name a group may use (built-in
// and defined) to its protocol.
func knownProfiles(s *Scenario) map[string]Protocol {
	known := map[string]Protocol{}
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
			needIMAP = needIMAP || p.Protocol == IMAP
			needPOP3 = needPOP3 || p.Protocol == POP3
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
