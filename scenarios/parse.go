package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
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
	var doc scenarioDoc
	root, ok := d.decode(root, "the scenario", "a scenario must be a mapping of keys (version: 1, name: ..., users: ...)", &doc)
	if !ok {
		return nil, d.finish()
	}
	s := d.scenario(root, &doc)
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
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		d.errs = append(d.errs, yamlError(source, data, err))
		return d, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		d.errs = append(d.errs, &Error{Source: source, Line: 1, Column: 1, Msg: empty})
		return d, nil
	}
	// A second document would be ignored: say so rather than run
	// something other than what the file says.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.errs = append(d.errs, yamlError(source, data, err))
		return d, nil
	case emptyDocument(&next):
		// A bare "---" at the end (generated YAML often has one): an empty
		// document, nothing ignored.
	default:
		d.errs = append(d.errs, &Error{Source: source, Line: max(next.Line, 1), Column: 1,
			Msg: fmt.Sprintf("a second YAML document (after \"---\"): a %s is one document", what)})
		return d, nil
	}
	return d, doc.Content[0]
}

// decode fills the schema struct dst points to from the document's root
// node, which must be a mapping (notMapping is the problem when it is
// not, completed by what it is instead): the strict pass (decoder.check),
// then yaml.v3. It returns the root mapping, and false when the document
// cannot be read further: it is not a mapping, it is too complex, or
// yaml.v3 stopped (each reported).
func (d *decoder) decode(root *yaml.Node, what, notMapping string, dst any) (*yaml.Node, bool) {
	root = d.resolve(root, "")
	if root == nil {
		return nil, false
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "", "%s, not %s", notMapping, kindName(root))
		return nil, false
	}
	d.checkMapping(root, "", reflect.TypeOf(dst).Elem(), what)
	if d.exhausted {
		return nil, false
	}
	err := root.Decode(dst)
	if err == nil {
		return root, true
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		d.errs = append(d.errs, decodeError(d.source, strings.TrimPrefix(err.Error(), "yaml: ")))
		return nil, false
	}
	// The strict pass reports what yaml.v3 finds, with positions and key
	// paths; a problem only yaml.v3 found is reported as it says it.
	if len(d.errs) == 0 {
		for _, msg := range te.Errors {
			d.errs = append(d.errs, decodeError(d.source, msg))
		}
	}
	return root, true
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

var (
	yamlLine      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '([^']*)' referenced$`)
)

// yamlParserProblems are the problems yaml.v3's parser (not its scanner)
// reports. For these it gives the line counted from 0 — the line where
// the enclosing block or flow collection began, or the problem's own when
// that is the first line — where a scanner problem's line counts from 1.
var yamlParserProblems = []string{
	"did not find expected key", "did not find expected node content", "did not find expected '-' indicator",
	"did not find expected ',' or ']'", "did not find expected ',' or '}'", "did not find expected <document start>",
	"did not find expected <stream-start>", "found duplicate %TAG directive", "found duplicate %YAML directive",
	"found incompatible YAML document", "found undefined tag handle",
}

// yamlError turns a YAML syntax error into an Error with its line (1:1
// when yaml.v3 gives none and the source cannot tell).
func yamlError(source string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	col := 1
	for _, p := range yamlParserProblems {
		if msg == p {
			line++
			break
		}
	}
	// A problem past the last line with content is the end of the file:
	// point at that last line, where whatever is left open was.
	if last := bytes.Count(bytes.TrimRight(data, " \t\r\n"), []byte("\n")) + 1; line > last {
		line = last
		msg += " at the end of the file"
	}
	switch {
	case strings.HasSuffix(msg, "expected ',' or '}'"):
		msg += " (a '{' opened on this line is not closed)"
	case strings.HasSuffix(msg, "expected ',' or ']'"):
		msg += " (a '[' opened on this line is not closed)"
	}
	if m := unknownAnchor.FindStringSubmatch(msg); m != nil && line == 0 {
		line, col = findAlias(data, m[1])
		msg += " (no &" + m[1] + " before it)"
	}
	return &Error{Source: source, Line: max(line, 1), Column: max(col, 1), Msg: "YAML syntax: " + msg}
}

// emptyDocument reports whether doc holds nothing: no node, or a null
// without text (what yaml.v3 makes of a bare "---").
func emptyDocument(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return len(doc.Content) == 1 && n.Kind == yaml.ScalarNode && n.Tag == "!!null" && n.Value == ""
}

// findAlias returns the line and column (from 1) of the first use of the
// alias *name in data — outside a comment, not the start of a longer name
// — or 0, 0. (Quoted text is not told apart: a quoted "*name" before the
// alias would be found first.)
func findAlias(data []byte, name string) (line, col int) {
	for n, text := range bytes.Split(data, []byte("\n")) {
		if c := bytes.Index(text, []byte(" #")); c >= 0 {
			text = text[:c]
		} else if bytes.HasPrefix(text, []byte("#")) {
			continue
		}
		for off := 0; ; {
			i := bytes.Index(text[off:], []byte("*"+name))
			if i < 0 {
				break
			}
			end := off + i + 1 + len(name)
			if end == len(text) || bytes.IndexByte([]byte(" \t,]}\r"), text[end]) >= 0 {
				return n + 1, off + i + 1
			}
			off = end
		}
	}
	return 0, 0
}

var decodeLine = regexp.MustCompile(`^line (\d+): (.*)$`)

// decodeError turns a problem yaml.v3's Decode reports ("line N: ...")
// into an Error with its line.
func decodeError(source, msg string) *Error {
	e := &Error{Source: source, Msg: msg}
	if m := decodeLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		e.Msg = m[2]
	}
	return e
}

// scenarioDoc is a scenario document.
type scenarioDoc struct {
	Version               whole                     `yaml:"version"`
	Name                  text                      `yaml:"name"`
	Description           text                      `yaml:"description"`
	Seed                  whole                     `yaml:"seed"`
	Duration              duration                  `yaml:"duration"`
	TimeScale             number                    `yaml:"time_scale"`
	RampUp                duration                  `yaml:"ramp_up"`
	Settle                either[settleDoc]         `yaml:"settle" what:"settle"` // or a duration
	Target                block[targetDoc]          `yaml:"target" what:"target"`
	Users                 block[usersDoc]           `yaml:"users" what:"users"`
	Groups                list[block[groupDoc]]     `yaml:"groups" what:"groups" item:"a group"`
	Behaviors             named[block[behaviorDoc]] `yaml:"behaviors" what:"behaviors" item:"a behavior"`
	Devices               named[block[deviceDoc]]   `yaml:"devices" what:"devices" item:"a device profile"`
	Thresholds            list[text]                `yaml:"thresholds" what:"thresholds"`
	Hand                  block[handDoc]            `yaml:"hand" what:"hand"`
	Audit                 duration                  `yaml:"audit"`
	MaxParallelDeliveries whole                     `yaml:"max_parallel_deliveries"`
	StopGrace             duration                  `yaml:"stop_grace"`
	ValidityChecks        flag                      `yaml:"validity_checks"`
	Server                block[serverDoc]          `yaml:"server" what:"server"`
	Capacity              block[capacityDoc]        `yaml:"capacity" what:"capacity"`
}

// scenario converts the decoded document, the mapping root.
func (d *decoder) scenario(root *yaml.Node, doc *scenarioDoc) *Scenario {
	s := &Scenario{
		Source:      d.source,
		Seed:        DefaultSeed,
		Duration:    DefaultDuration,
		TimeScale:   1,
		Settle:      DefaultSettle,
		SettleUntil: SettleTimer,
		Audit:       DefaultAudit,
		StopGrace:   DefaultStopGrace,
		Hand:        defaultHand(),
		Behaviors:   map[string]*Behavior{},
		Devices:     map[string]*clients.Profile{},
	}
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
		d.settle(&doc.Settle, s)
	}
	doc.Audit.read(d, &s.Audit)
	doc.MaxParallelDeliveries.read(d, &s.MaxParallelDeliveries, 0, 1<<20)
	if doc.StopGrace.read(d, &s.StopGrace) && s.StopGrace == 0 {
		// 0 is the default only for a Scenario built in Go: a file
		// that writes it means no grace, which mailsim has not.
		d.errorAt(doc.StopGrace.n, "must be longer than 0 (leave it out for the default, %s)", DefaultStopGrace)
	}
	validity := true
	if doc.ValidityChecks.read(d, &validity) {
		s.ValidityChecksOff = !validity
	}
	if doc.Hand.given() {
		s.Hand = d.hand(&doc.Hand)
	}
	if doc.Target.given() {
		s.Target = d.target(&doc.Target)
	}
	if doc.Server.given() {
		d.server(&doc.Server, s)
	}
	var usersFile *usersDoc
	if doc.Users.given() {
		usersFile = d.users(&doc.Users, &s.Users)
	} else {
		d.errorf(root, "users", "missing; add e.g. \"users: {count: 10}\"")
	}
	for _, it := range doc.Behaviors.items {
		s.Behaviors[it.key.Value] = d.behavior(it.key, &it.doc)
	}
	for _, it := range doc.Devices.items {
		if p := d.device(it.key, &it.doc); p != nil {
			s.Devices[it.key.Value] = p
		} else {
			if d.badDevices == nil {
				d.badDevices = map[string]bool{}
			}
			d.badDevices[it.key.Value] = true
		}
	}
	if doc.Groups.given() {
		s.Groups = d.groups(&doc.Groups, s)
	} else {
		d.errorf(root, "groups", "missing; add at least one group with its devices and behavior")
	}
	d.usedProfiles(s)
	if doc.Thresholds.given() {
		s.Thresholds, _ = d.thresholds(&doc.Thresholds, "thresholds", s)
	}
	s.Capacity = defaultCapacity()
	if doc.Capacity.given() {
		d.capacity(&doc.Capacity, s)
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

// settle converts settle: a duration ("settle: 30s"), or a mapping
// {max: DURATION, until: timer|synced}.
func (d *decoder) settle(v *either[settleDoc], s *Scenario) {
	if v.n.Kind == yaml.ScalarNode {
		duration{v.value}.read(d, &s.Settle)
		return
	}
	doc := v.mapping()
	if doc == nil {
		return // the strict pass reported it
	}
	if !doc.Max.given() {
		d.errorf(v.n, joinPath(d.pathOf(v.n), "max"), "missing; want the longest settle, e.g. \"max: 30s\"")
	} else {
		doc.Max.read(d, &s.Settle)
	}
	var until string
	if doc.Until.read(d, &until, "settle end", string(SettleTimer), string(SettleSynced)) {
		s.SettleUntil = SettleUntil(until)
	}
}

// thresholds converts a list of thresholds at path (thresholds:,
// capacity.qos:), reporting each bad one at its place; n is the number of
// items in the list, good or bad.
func (d *decoder) thresholds(l *list[text], path string, s *Scenario) (out []Threshold, n int) {
	for i, item := range l.items {
		p := fmt.Sprintf("%s[%d]", path, i)
		var expr string
		node := item.n
		if item.given() {
			if !item.read(d, &expr) {
				continue
			}
		} else if node = d.valueAt(p); node != nil {
			expr = node.Value // an empty item
		}
		t, err := parseThreshold(expr, s)
		if err != nil {
			d.errorf(node, p, "%v", err)
			continue
		}
		out = append(out, t)
	}
	return out, len(l.items)
}

// serverDoc is the server: block.
type serverDoc struct {
	MaxCommandsPerSecond number `yaml:"max_commands_per_second"`
}

// server converts the server: block, the embedded server's settings.
func (d *decoder) server(b *block[serverDoc], s *Scenario) {
	b.doc.MaxCommandsPerSecond.read(d, &s.Server.MaxCommandsPerSecond)
	// Validate finds a server setting beside a target; an empty server:
	// block beside one is refused here.
	if s.Target != nil && s.Server == (ServerSettings{}) {
		p := d.pathOf(b.n)
		d.errorf(d.keys[p], p, "configures the embedded server, and this scenario runs against its target: instead")
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

// hand converts hand: {pc: 60%, phone: 30%, webmail: 10%}.
func (d *decoder) hand(b *block[handDoc]) map[clients.Kind]float64 {
	doc := &b.doc
	h := map[clients.Kind]float64{}
	for _, kv := range []struct {
		k clients.Kind
		v percent
	}{{clients.KindPC, doc.PC}, {clients.KindPhone, doc.Phone}, {clients.KindWebmail, doc.Webmail}} {
		var w float64
		kv.v.read(d, &w)
		h[kv.k] = w
	}
	if !doc.PC.given() && !doc.Phone.given() && !doc.Webmail.given() {
		// hand: {} leaves every weight at 0, as it always has.
		d.unsettle(d.pathOf(b.n))
	}
	return h
}
