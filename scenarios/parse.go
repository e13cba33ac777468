package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mailsim/mailsim/clients"
	"gopkg.in/yaml.v3"
)

//go:embed *.yaml
var shipped embed.FS

// MaxSourceSize caps the size of a scenario file.
const MaxSourceSize = 4 << 20

// Shipped returns the names of the scenarios shipped with mailsim, sorted.
func Shipped() []string {
	entries, err := fs.ReadDir(shipped, ".")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load reads a scenario from a file path, or, when no such file exists, the
// shipped scenario of that name. env looks up ${VAR}s; nil means
// os.LookupEnv. Problems in the scenario come back as Errors.
func Load(nameOrPath string, env func(string) (string, bool)) (*Scenario, error) {
	if fi, err := os.Stat(nameOrPath); err == nil {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("scenario %s: not a regular file", nameOrPath)
		}
		if fi.Size() > MaxSourceSize {
			return nil, fmt.Errorf("scenario %s: larger than %d bytes", nameOrPath, MaxSourceSize)
		}
		data, err := os.ReadFile(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", nameOrPath, err)
		}
		return Parse(nameOrPath, data, env)
	}
	if !strings.ContainsAny(nameOrPath, `/\`) {
		data, err := shipped.ReadFile(strings.TrimSuffix(nameOrPath, ".yaml") + ".yaml")
		if err == nil {
			return Parse(strings.TrimSuffix(nameOrPath, ".yaml"), data, env)
		}
	}
	return nil, fmt.Errorf("scenario %s: no such file, and no shipped scenario of that name (shipped: %s)",
		nameOrPath, strings.Join(Shipped(), ", "))
}

// Parse decodes and validates a scenario. source names it in errors and is
// the base of a relative users.file. env looks up ${VAR}s; nil means
// os.LookupEnv. Every problem found comes back at once as Errors.
func Parse(source string, data []byte, env func(string) (string, bool)) (*Scenario, error) {
	d, root := decodeDocument(source, data, env, "scenario", "empty scenario: start with \"version: 1\"")
	if root == nil {
		return nil, d.errs
	}
	s := d.scenario(root)
	d.validated(s.Validate())
	if len(d.errs) > 0 {
		return nil, d.finish()
	}
	return s, nil
}

// decodeDocument checks the size of data, parses it as YAML and returns a
// decoder for it with the document's root node, or a nil root (and the
// decoder's errors) when there is none. what names the document in errors;
// empty is the error for a document without content.
func decodeDocument(source string, data []byte, env func(string) (string, bool), what, empty string) (*decoder, *yaml.Node) {
	if env == nil {
		env = os.LookupEnv
	}
	d := &decoder{source: source, env: env, budget: nodeBudget}
	if len(data) > MaxSourceSize {
		d.errorf(nil, "", "%s larger than %d bytes", what, MaxSourceSize)
		return d, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		d.errs = append(d.errs, yamlError(source, err))
		return d, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errorf(nil, "", "%s", empty)
		return d, nil
	}
	return d, doc.Content[0]
}

// finish deduplicates (merged anchors can report one problem several times)
// and orders the errors.
func (d *decoder) finish() Errors {
	seen := map[Error]bool{}
	out := d.errs[:0]
	for _, e := range d.errs {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	out.sortByPosition()
	return out
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML syntax error into an Error with its line.
func yamlError(source string, err error) *Error {
	msg := err.Error()
	e := &Error{Source: source, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		e.Msg = "YAML syntax: " + m[2]
	}
	return e
}

// scenarioDoc is a scenario document.
type scenarioDoc struct {
	Version               whole    `yaml:"version"`
	Name                  text     `yaml:"name"`
	Description           text     `yaml:"description"`
	Seed                  whole    `yaml:"seed"`
	Duration              duration `yaml:"duration"`
	TimeScale             number   `yaml:"time_scale"`
	RampUp                duration `yaml:"ramp_up"`
	Settle                raw      `yaml:"settle"` // a duration, or settleDoc
	Target                raw      `yaml:"target"` // targetDoc
	Users                 raw      `yaml:"users"`  // usersDoc
	Groups                raw      `yaml:"groups"` // a list of groupDoc
	Behaviors             raw      `yaml:"behaviors"`
	Devices               raw      `yaml:"devices"`
	Thresholds            raw      `yaml:"thresholds"`
	Hand                  raw      `yaml:"hand"` // handDoc
	Audit                 duration `yaml:"audit"`
	MaxParallelDeliveries whole    `yaml:"max_parallel_deliveries"`
	ValidityChecks        flag     `yaml:"validity_checks"`
	Server                raw      `yaml:"server"`   // serverDoc
	Capacity              raw      `yaml:"capacity"` // the capacity: block
}

// scenario decodes the whole document.
func (d *decoder) scenario(root *yaml.Node) *Scenario {
	s := &Scenario{
		Source:      d.source,
		Seed:        DefaultSeed,
		Duration:    DefaultDuration,
		TimeScale:   1,
		Settle:      DefaultSettle,
		SettleUntil: SettleTimer,
		Audit:       DefaultAudit,
		Hand:        defaultHand(),
		Behaviors:   map[string]*Behavior{},
		Devices:     map[string]*clients.Profile{},
	}
	root = d.resolve(root, "")
	if root == nil {
		return s
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "a scenario must be a mapping of keys (version: 1, name: ..., users: ...), not %s", kindName(root))
		return s
	}
	var doc scenarioDoc
	d.mapping(root, "", "the scenario", &doc)

	var version int64
	if !doc.Version.given() {
		d.errorf(root, "version", "missing; add \"version: 1\"")
	} else {
		doc.Version.read64(d, &version, 0, 1<<31)
	}
	s.Version = int(version)
	base := strings.TrimSuffix(path.Base(filepath.ToSlash(d.source)), ".yaml")
	s.Name = strings.TrimSuffix(base, ".yml")
	doc.Name.read(d, &s.Name)
	doc.Description.read(d, &s.Description)
	doc.Seed.read64(d, &s.Seed, -1<<63, 1<<63-1)
	doc.Duration.read(d, &s.Duration)
	doc.TimeScale.read(d, &s.TimeScale)
	doc.RampUp.read(d, &s.RampUp)
	if doc.Settle.given() {
		d.settle(doc.Settle.e, s)
	}
	doc.Audit.read(d, &s.Audit)
	doc.MaxParallelDeliveries.read(d, &s.MaxParallelDeliveries, 0, 1<<20)
	validity := true
	if doc.ValidityChecks.read(d, &validity) {
		s.ValidityChecksOff = !validity
	}
	if doc.Hand.given() {
		s.Hand = d.hand(doc.Hand.e)
	}
	if doc.Target.given() {
		s.Target = d.target(doc.Target.e)
	}
	if doc.Server.given() {
		d.server(doc.Server.e, s)
	}
	var usersFile *usersDoc
	if doc.Users.given() {
		usersFile = d.users(doc.Users.e, &s.Users)
	} else {
		d.errorf(root, "users", "missing; add e.g. \"users: {count: 10}\"")
	}
	for _, it := range d.namedItems(doc.Behaviors.e.val, "behaviors", "behaviors") {
		s.Behaviors[it.key.Value] = d.behavior(it)
	}
	for _, it := range d.namedItems(doc.Devices.e.val, "devices", "devices") {
		if p := d.device(it); p != nil {
			s.Devices[it.key.Value] = p
		} else {
			if d.badDevices == nil {
				d.badDevices = map[string]bool{}
			}
			d.badDevices[it.key.Value] = true
		}
	}
	if doc.Groups.given() {
		s.Groups = d.groups(doc.Groups.e, s)
	} else {
		d.errorf(root, "groups", "missing; add at least one group with its devices and behavior")
	}
	d.usedProfiles(s)
	s.Thresholds, _ = d.thresholds(doc.Thresholds.e, "thresholds", s)
	s.Capacity = defaultCapacity()
	if doc.Capacity.given() {
		d.capacity(doc.Capacity.e, s)
	}
	if len(s.Capacity.QoS) == 0 {
		s.Capacity.QoS = s.Thresholds
	}
	// Files are read once the document is decoded.
	if usersFile != nil {
		d.readUsers(usersFile, &s.Users)
	}
	return s
}

// settleDoc is settle: written as a mapping.
type settleDoc struct {
	Max   duration `yaml:"max"`
	Until choice   `yaml:"until"`
}

// settle decodes settle: a duration ("settle: 30s"), or a mapping
// {max: DURATION, until: timer|synced}.
func (d *decoder) settle(e entry, s *Scenario) {
	n := d.resolve(e.val, e.path)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind == yaml.ScalarNode {
		duration{value{e}}.read(d, &s.Settle)
		return
	}
	var doc settleDoc
	d.mapping(n, e.path, "settle", &doc)
	if n.Kind != yaml.MappingNode {
		return // mapping said so
	}
	if !doc.Max.given() {
		d.errorf(n, joinPath(e.path, "max"), "missing; want the longest settle, e.g. \"max: 30s\"")
	} else {
		doc.Max.read(d, &s.Settle)
	}
	var until string
	if doc.Until.read(d, &until, "settle end", string(SettleTimer), string(SettleSynced)) {
		s.SettleUntil = SettleUntil(until)
	}
}

// thresholds decodes a list of thresholds at path (thresholds:,
// capacity.qos:), reporting each bad one at its place; n is the number of
// items in the list, good or bad.
func (d *decoder) thresholds(e entry, path string, s *Scenario) (out []Threshold, n int) {
	nodes := d.seq(e.val, path, path)
	for i, node := range nodes {
		p := fmt.Sprintf("%s[%d]", path, i)
		text, tn, ok := d.scalar(node, p)
		if !ok {
			continue
		}
		t, err := parseThreshold(text, s)
		if err != nil {
			d.errorf(tn, p, "%v", err)
			continue
		}
		out = append(out, t)
	}
	return out, len(nodes)
}

// serverDoc is the server: block.
type serverDoc struct {
	MaxCommandsPerSecond number `yaml:"max_commands_per_second"`
}

// server decodes the server: block, the embedded server's settings.
func (d *decoder) server(e entry, s *Scenario) {
	var doc serverDoc
	d.mapping(e.val, e.path, "server", &doc)
	doc.MaxCommandsPerSecond.read(d, &s.Server.MaxCommandsPerSecond)
	// Validate finds a server setting beside a target; an empty server:
	// block beside one is refused here.
	if s.Target != nil && s.Server == (ServerSettings{}) {
		d.errorf(e.key, e.path, "configures the embedded server, and this scenario runs against its target: instead")
	}
}

// usedProfiles adds the built-in device profiles the groups use and the
// scenario does not define.
func (d *decoder) usedProfiles(s *Scenario) {
	for _, g := range s.Groups {
		for _, name := range g.Devices {
			if _, ok := s.Devices[name]; ok {
				continue
			}
			if p, ok := clients.Builtin(name); ok {
				s.Devices[name] = p
			}
		}
	}
}

// handDoc is the hand: block, a weight per device kind.
type handDoc struct {
	PC      percent `yaml:"pc"`
	Phone   percent `yaml:"phone"`
	Webmail percent `yaml:"webmail"`
}

// hand decodes hand: {pc: 60%, phone: 30%, webmail: 10%}.
func (d *decoder) hand(e entry) map[clients.Kind]float64 {
	var doc handDoc
	f := d.mapping(e.val, e.path, "hand", &doc)
	h := map[clients.Kind]float64{}
	for _, kv := range []struct {
		k clients.Kind
		v percent
	}{{clients.KindPC, doc.PC}, {clients.KindPhone, doc.Phone}, {clients.KindWebmail, doc.Webmail}} {
		var w float64
		kv.v.read(d, &w)
		h[kv.k] = w
	}
	if len(f) == 0 {
		// hand: {} leaves every weight at 0, as it always has.
		d.unsettle(e.path)
	}
	return h
}
