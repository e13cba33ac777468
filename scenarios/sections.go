package scenarios

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
	"gopkg.in/yaml.v3"
)

var tlsModes = []string{string(transport.TLSNone), string(transport.TLSStartTLS), string(transport.TLSImplicit)}

// targetDoc is the target: block.
type targetDoc struct {
	IMAP               either[endpointDoc] `yaml:"imap" what:"an endpoint"`
	POP3               either[endpointDoc] `yaml:"pop3" what:"an endpoint"`
	Submission         either[endpointDoc] `yaml:"submission" what:"an endpoint"`
	Delivery           block[deliveryDoc]  `yaml:"delivery" what:"delivery"`
	InsecureSkipVerify flag                `yaml:"insecure_skip_verify"`
	MetricsURL         text                `yaml:"metrics_url"`
	Domain             text                `yaml:"domain"`
	Resources          block[resourcesDoc] `yaml:"resources" what:"target.resources"`
}

// endpointDoc is an endpoint written as a mapping; "HOST:PORT" alone is
// the short form.
type endpointDoc struct {
	Addr text   `yaml:"addr"`
	TLS  choice `yaml:"tls"`
}

// deliveryDoc is target.delivery.
type deliveryDoc struct {
	Protocol choice `yaml:"protocol"`
	Addr     text   `yaml:"addr"`
	TLS      choice `yaml:"tls"`
}

// target converts the target: block.
func (d *decoder) target(b *block[targetDoc]) *Target {
	t := &Target{Domain: DefaultDomain}
	doc := &b.doc
	path := d.pathOf(b.n)
	for _, ep := range []struct {
		key string
		v   *either[endpointDoc]
		dst **transport.Endpoint
	}{{"imap", &doc.IMAP, &t.IMAP}, {"pop3", &doc.POP3, &t.POP3}, {"submission", &doc.Submission, &t.Submission}} {
		if ep.v.given() {
			*ep.dst = d.endpoint(ep.v, joinPath(path, ep.key))
		}
	}
	if doc.Delivery.given() {
		t.Delivery = d.delivery(&doc.Delivery)
	}
	doc.InsecureSkipVerify.read(d, &t.InsecureSkipVerify)
	doc.MetricsURL.read(d, &t.MetricsURL)
	if doc.Resources.given() {
		t.Resources = d.resources(&doc.Resources)
	}
	doc.Domain.read(d, &t.Domain)
	t.resolveDelivery()
	return t
}

// Validate checks the target's endpoints (HOST:PORT addresses, TLS
// modes, a delivery protocol, an address unless it delivers by
// imap-append), its metrics URL and its mail domain. Whether it names a
// server for everything a scenario needs is Scenario.Validate's check.
func (t *Target) Validate() []error {
	var ps problems
	for _, ep := range []struct {
		key string
		ep  *transport.Endpoint
	}{{"imap", t.IMAP}, {"pop3", t.POP3}, {"submission", t.Submission}} {
		if ep.ep != nil {
			validateAddr(&ps, joinPath(ep.key, "addr"), ep.ep.Addr)
			validateTLS(&ps, joinPath(ep.key, "tls"), ep.ep.TLS)
		}
	}
	if dl := t.Delivery; dl != nil {
		switch dl.Protocol {
		case DeliverLMTP, DeliverSMTP, DeliverIMAPAppend:
		default:
			ps.add("delivery.protocol", "unknown delivery protocol %q; want one of: %s, %s, %s", dl.Protocol, DeliverLMTP, DeliverSMTP, DeliverIMAPAppend)
		}
		// An imap-append delivery without an address of its own has the
		// IMAP endpoint's (resolveDelivery), checked there.
		ownAddr := !(dl.Protocol == DeliverIMAPAppend && t.IMAP != nil && dl.Addr == t.IMAP.Addr)
		if ownAddr && (dl.Addr != "" || dl.Protocol != DeliverIMAPAppend) {
			validateAddr(&ps, "delivery.addr", dl.Addr)
		}
		validateTLS(&ps, "delivery.tls", dl.TLS)
	}
	// An empty metrics_url means no exporter, so that one target file
	// serves servers with and without one ("${METRICS_URL}" left empty).
	if t.MetricsURL != "" {
		u, err := url.Parse(t.MetricsURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			ps.add("metrics_url", "bad URL %q: want http://host:port/metrics", t.MetricsURL)
		}
	}
	if t.Domain == "" || strings.ContainsAny(t.Domain, "@ \t/") {
		ps.add("domain", "bad mail domain %q", t.Domain)
	}
	return ps
}

// validateAddr checks a HOST:PORT address.
func validateAddr(ps *problems, path, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		ps.add(path, "bad address %q: want HOST:PORT", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		ps.add(path, "bad port in %q: want 1 to 65535", addr)
	}
}

// validateTLS checks a TLS mode; empty is none.
func validateTLS(ps *problems, path string, mode transport.TLSMode) {
	if mode != "" && !slices.Contains(tlsModes, string(mode)) {
		ps.add(path, "unknown tls mode %q; want one of: %s", mode, strings.Join(tlsModes, ", "))
	}
}

// endpoint converts {addr: HOST:PORT, tls: MODE} or the short form
// "HOST:PORT", the endpoint at path.
func (d *decoder) endpoint(v *either[endpointDoc], path string) *transport.Endpoint {
	ep := &transport.Endpoint{TLS: transport.TLSNone}
	doc := v.mapping()
	if doc == nil {
		// The short form's problems are the address's, reported where
		// it is written.
		d.recordItem(joinPath(path, "addr"), d.vals[path])
		(text{v.value}).read(d, &ep.Addr)
		return ep
	}
	if !doc.Addr.given() {
		d.errorf(v.n, joinPath(path, "addr"), "missing; want HOST:PORT")
	}
	doc.Addr.read(d, &ep.Addr)
	var mode string
	if doc.TLS.read(d, &mode, "tls mode", tlsModes...) {
		ep.TLS = transport.TLSMode(mode)
	}
	return ep
}

// delivery converts {protocol: lmtp|smtp|imap-append, addr, tls}.
func (d *decoder) delivery(b *block[deliveryDoc]) *Delivery {
	dl := &Delivery{Protocol: DeliverLMTP, TLS: transport.TLSNone}
	doc := &b.doc
	var proto string
	if doc.Protocol.read(d, &proto, "delivery protocol", string(DeliverLMTP), string(DeliverSMTP), string(DeliverIMAPAppend)) {
		dl.Protocol = DeliveryProtocol(proto)
	}
	if !doc.Addr.given() && dl.Protocol != DeliverIMAPAppend {
		d.errorf(b.n, joinPath(d.pathOf(b.n), "addr"), "missing; want HOST:PORT of the %s server", dl.Protocol)
	}
	if doc.Addr.read(d, &dl.Addr) && dl.Addr == "" {
		// Written empty, not left out: not the IMAP endpoint's either.
		d.errorAt(doc.Addr.n, "bad address %q: want HOST:PORT", dl.Addr)
	}
	var mode string
	if doc.TLS.read(d, &mode, "tls mode", tlsModes...) {
		dl.TLS = transport.TLSMode(mode)
	}
	return dl
}

// usersDoc is the users: block.
type usersDoc struct {
	Count    whole `yaml:"count"`
	Username text  `yaml:"username"`
	Password text  `yaml:"password"`
	File     text  `yaml:"file"`
	Start    whole `yaml:"start"`
}

// users converts the users: block. With a users.file it returns the
// block, for readUsers to read the file once the document is converted.
func (d *decoder) users(b *block[usersDoc], u *Users) (withFile *usersDoc) {
	doc := &b.doc
	path := d.pathOf(b.n)
	u.Start = 1
	doc.Start.read(d, &u.Start, 0, MaxUsers)
	u.Password = DefaultPassword
	if v, ok := d.env("MAILSIM_PASSWORD"); ok && v != "" {
		u.Password = v
	}
	doc.Password.read(d, &u.Password)
	if !doc.Count.given() && !doc.File.given() {
		d.errorf(b.n, joinPath(path, "count"), "missing; say how many users, e.g. \"count: 10\"")
	}
	doc.Count.read(d, &u.Count, 0, MaxUsers)
	if !doc.File.given() {
		u.Username = DefaultUsername
		doc.Username.read(d, &u.Username)
		return nil
	}
	if doc.Username.given() {
		p := joinPath(path, "username")
		d.errorf(d.keys[p], p, "username and file exclude each other: use one")
	}
	if !doc.File.read(d, &u.File) {
		d.unsettleUsers(path)
		return nil
	}
	return doc
}

// unsettleUsers notes that the population of the users: block at path is
// unknown: its file could not be read.
func (d *decoder) unsettleUsers(path string) {
	for _, k := range []string{"count", "username", "file"} {
		d.unsettle(joinPath(path, k))
	}
}

// Validate checks the population: a count of at least one user, a
// username pattern with {n} when there are several, not both a pattern
// and a file, and a file that lists the users wanted.
func (u *Users) Validate() []error {
	var ps problems
	if u.Start < 0 || u.Start > MaxUsers {
		ps.add("start", "%d out of range: want %d to %d", u.Start, 0, MaxUsers)
	}
	if u.Count < 0 || u.Count > MaxUsers {
		ps.add("count", "%d out of range: want %d to %d", u.Count, 0, MaxUsers)
	}
	if u.File != "" {
		if u.Username != "" {
			ps.addKey("username", "username and file exclude each other: use one")
		}
		if len(u.Names) > 0 && u.Count > len(u.Names) {
			ps.add("count", "%d users wanted but %s has only %d", u.Count, u.File, len(u.Names))
		}
		if len(u.Names) == 0 {
			ps.add("file", "empty population: %s lists no users", u.File)
		}
		return ps
	}
	hasN, err := checkUsernamePattern(u.Username)
	switch {
	case err != nil:
		ps.add("username", "%v", err)
	case !hasN && u.Count > 1:
		ps.add("username", "pattern %q has no {n}: all %d users would share one name", u.Username, u.Count)
	}
	if u.Count == 0 {
		ps.add("count", "empty population: count must be at least 1")
	}
	return ps
}

// readUsers reads the users.file of doc (relative to the scenario file)
// into u: its entries, and the count when users.count is absent.
func (d *decoder) readUsers(doc *usersDoc, u *Users) {
	names, err := readUserFile(d.userFilePath(u.File))
	if err != nil {
		d.errorAt(doc.File.n, "%v", err)
		d.unsettleUsers(parentPath(d.pathOf(doc.File.n)))
		return
	}
	u.Names = names
	if !doc.Count.given() {
		u.Count = len(names)
	}
}

// userFilePath resolves a users.file relative to the scenario file.
func (d *decoder) userFilePath(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(d.source), name)
}

// maxUserFile caps the size of a users.file.
const maxUserFile = 256 << 20

// readUserFile reads lines "username" or "username:password"; blank lines
// and lines starting with # are skipped.
func readUserFile(name string) ([]Credential, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("users file %s: not a regular file", name)
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	defer f.Close()
	var out []Credential
	seen := map[string]int{}
	sc := bufio.NewScanner(io.LimitReader(f, maxUserFile))
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		user, pass, hasPass := strings.Cut(t, ":")
		if user == "" {
			return nil, fmt.Errorf("users file %s:%d: empty username", name, line)
		}
		if first, dup := seen[user]; dup {
			return nil, fmt.Errorf("users file %s:%d: duplicate user %q (first on line %d)", name, line, user, first)
		}
		seen[user] = line
		c := Credential{Username: user}
		if hasPass {
			c.Password = pass
		}
		out = append(out, c)
		if len(out) > MaxUsers {
			return nil, fmt.Errorf("users file %s: more than %d users", name, MaxUsers)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("users file %s: %w", name, err)
	}
	return out, nil
}

// behaviorDoc is one entry of behaviors:.
type behaviorDoc struct {
	Inbound           inboundDoc   `yaml:"inbound" what:"inbound mail"`
	Spam              inboundDoc   `yaml:"spam" what:"inbound mail"`
	Send              sendDoc      `yaml:"send" what:"send"`
	OnNewMail         onNewMailDoc `yaml:"on_new_mail" what:"on_new_mail"`
	ActionDelay       duration     `yaml:"action_delay"`
	ActionRepeatDelay duration     `yaml:"action_repeat_delay"`
	Folders           words        `yaml:"folders"`
	SessionLength     duration     `yaml:"session_length"`
}

// inboundDoc is a behavior's inbound: or spam: block.
type inboundDoc struct {
	Interval    duration             `yaml:"interval"`
	Size        either[sizeRangeDoc] `yaml:"size" what:"size"` // or a size
	Attachments percent              `yaml:"attachments"`
}

// sizeRangeDoc is a size range {min, max}.
type sizeRangeDoc struct {
	Min size `yaml:"min"`
	Max size `yaml:"max"`
}

// sendDoc is a behavior's send: block.
type sendDoc struct {
	Interval  duration `yaml:"interval"`
	WriteTime duration `yaml:"write_time"`
	Internal  percent  `yaml:"internal"`
}

// onNewMailDoc is a behavior's on_new_mail: block.
type onNewMailDoc struct {
	Read       percent `yaml:"read"`
	Reply      percent `yaml:"reply"`
	Forward    percent `yaml:"forward"`
	Flag       percent `yaml:"flag"`
	Move       percent `yaml:"move"`
	Delete     percent `yaml:"delete"`
	MoveFilter percent `yaml:"move_filter"`
}

// behavior converts one entry of behaviors:, named by key.
func (d *decoder) behavior(key *yaml.Node, bl *block[behaviorDoc]) *Behavior {
	b := defaultBehavior(key.Value)
	doc := &bl.doc
	d.inbound(&doc.Inbound, &b.Inbound)
	d.inbound(&doc.Spam, &b.Spam)
	doc.Send.Interval.read(d, &b.Send.Interval)
	doc.Send.WriteTime.read(d, &b.Send.WriteTime)
	doc.Send.Internal.read(d, &b.Send.Internal)
	o, od := &b.OnNewMail, &doc.OnNewMail
	od.Read.read(d, &o.Read)
	od.Reply.read(d, &o.Reply)
	od.Forward.read(d, &o.Forward)
	od.Flag.read(d, &o.Flag)
	od.Move.read(d, &o.Move)
	od.Delete.read(d, &o.Delete)
	od.MoveFilter.read(d, &o.MoveFilter)
	doc.ActionDelay.read(d, &b.ActionDelay)
	doc.ActionRepeatDelay.read(d, &b.ActionRepeatDelay)
	doc.SessionLength.read(d, &b.SessionLength)
	if doc.Folders.given() {
		b.Folders = doc.Folders.read(d)
	}
	return b
}

// inbound converts an inbound: or spam: block; a size is one size or a
// range {min, max}.
func (d *decoder) inbound(doc *inboundDoc, in *Inbound) {
	doc.Interval.read(d, &in.Interval)
	doc.Attachments.read(d, &in.Attachments)
	if !doc.Size.given() {
		return
	}
	r := doc.Size.mapping()
	if r == nil {
		var s Size
		if (size{doc.Size.value}).read(d, &s) {
			in.Size = Range{Min: s, Max: s}
		}
		return
	}
	r.Min.read(d, &in.Size.Min)
	r.Max.read(d, &in.Size.Max)
}

// Validate checks a behavior: probabilities and shares from 0% to 100%,
// size ranges with min at most max, intervals not negative, folders to
// file into other than INBOX and distinct, and some when it moves mail.
func (b *Behavior) Validate() []error {
	var ps problems
	for _, in := range []struct {
		key string
		in  *Inbound
	}{{"inbound", &b.Inbound}, {"spam", &b.Spam}} {
		validateNotNegative(&ps, joinPath(in.key, "interval"), in.in.Interval)
		validatePercent(&ps, joinPath(in.key, "attachments"), in.in.Attachments)
		if in.in.Size.Min > in.in.Size.Max {
			ps.add(joinPath(in.key, "size"), "min %d bytes is larger than max %d bytes", in.in.Size.Min, in.in.Size.Max)
		}
	}
	validateNotNegative(&ps, "send.interval", b.Send.Interval)
	validateNotNegative(&ps, "send.write_time", b.Send.WriteTime)
	validatePercent(&ps, "send.internal", b.Send.Internal)
	o := &b.OnNewMail
	for _, p := range []struct {
		key string
		v   float64
	}{{"read", o.Read}, {"reply", o.Reply}, {"forward", o.Forward}, {"flag", o.Flag}, {"move", o.Move}, {"delete", o.Delete}, {"move_filter", o.MoveFilter}} {
		validatePercent(&ps, joinPath("on_new_mail", p.key), p.v)
	}
	validateNotNegative(&ps, "action_delay", b.ActionDelay)
	validateNotNegative(&ps, "action_repeat_delay", b.ActionRepeatDelay)
	validateNotNegative(&ps, "session_length", b.SessionLength)
	seen := map[string]bool{}
	for i, name := range b.Folders {
		p := fmt.Sprintf("folders[%d]", i)
		if name == "" || strings.EqualFold(name, "INBOX") {
			ps.add(p, "folder %q: want a folder name other than INBOX", name)
		} else if seen[name] {
			ps.add(p, "duplicate folder %q", name)
		}
		seen[name] = true
	}
	if len(b.Folders) == 0 && b.OnNewMail.Move > 0 {
		ps.add("folders", "on_new_mail.move is above 0%% but there are no folders to move to")
	}
	return ps
}

// validatePercent checks a probability or share, 0% to 100%.
func validatePercent(ps *problems, path string, f float64) {
	if f < 0 || f > 1 || f != f {
		ps.add(path, "percentage %s out of range: want 0%% to 100%%", fmtPercent(f))
	}
}

// validateNotNegative checks an interval or delay.
func validateNotNegative(ps *problems, path string, d time.Duration) {
	if d < 0 {
		ps.add(path, "must not be negative")
	}
}

// deviceDoc is one entry of devices:, a device profile: the settings of
// every device, then those of one protocol or kind, which a profile of
// another may not set.
type deviceDoc struct {
	Kind          choice     `yaml:"kind"`
	Protocol      choice     `yaml:"protocol"`
	PollInterval  duration   `yaml:"poll_interval"`
	LoginInterval duration   `yaml:"login_interval"`
	Network       networkDoc `yaml:"network" what:"network"`
	IMAP          imapDoc    `yaml:",inline"`
	POP3          pop3Doc    `yaml:",inline"`
	Webmail       webmailDoc `yaml:",inline"`
}

// imapDoc are the settings of IMAP devices.
type imapDoc struct {
	Idle           flag     `yaml:"idle"`
	Connections    whole    `yaml:"connections"`
	FetchNew       text     `yaml:"fetch_new"`
	FetchOpen      text     `yaml:"fetch_open"`
	Window         whole    `yaml:"window"`
	FetchImmediate flag     `yaml:"fetch_immediate"`
	StatusInterval duration `yaml:"status_interval"`
	IMAPClient     choice   `yaml:"imap_client"`
}

// pop3Doc are the settings of POP3 devices.
type pop3Doc struct {
	LeaveOnServer            flag     `yaml:"leave_on_server"`
	DeleteAfter              duration `yaml:"delete_after"`
	DeleteWhenDeletedLocally flag     `yaml:"delete_when_deleted_locally"`
}

// webmailDoc are the settings of webmail devices.
type webmailDoc struct {
	Refresh  duration `yaml:"refresh"`
	PageSize whole    `yaml:"page_size"`
}

// networkDoc is a device's network: block.
type networkDoc struct {
	Latency         duration  `yaml:"latency"`
	Bandwidth       bandwidth `yaml:"bandwidth"`
	DisconnectEvery duration  `yaml:"disconnect_every"`
}

var (
	deviceKinds       = []string{string(clients.KindPC), string(clients.KindPhone), string(clients.KindWebmail)}
	deviceProtocols   = []string{string(clients.IMAP), string(clients.POP3)}
	maxConnections    = int64(64)
	maxWindowOrPaging = int64(1_000_000)
)

// device converts one entry of devices:, named by key.
func (d *decoder) device(key *yaml.Node, b *block[deviceDoc]) *clients.Profile {
	name := key.Value
	path := joinPath("devices", name)
	doc := &b.doc
	var kind clients.Kind
	var proto clients.Protocol
	if b, ok := clients.Builtin(name); ok {
		kind, proto = b.Kind, b.Protocol
	} else {
		proto = clients.IMAP
	}
	var s string
	if doc.Kind.read(d, &s, "device kind", deviceKinds...) {
		kind = clients.Kind(s)
	} else if !doc.Kind.given() && kind == "" {
		d.errorf(key, joinPath(path, "kind"), "missing; want one of: %s", strings.Join(deviceKinds, ", "))
		return nil
	}
	if kind == "" {
		return nil
	}
	if doc.Protocol.read(d, &s, "protocol", deviceProtocols...) {
		proto = clients.Protocol(s)
	}
	if kind == clients.KindWebmail && proto == clients.POP3 {
		n, p := doc.Protocol.n, joinPath(path, "protocol")
		if n == nil {
			n, p = key, path
		}
		d.errorf(n, p, "webmail reads mail over IMAP; protocol pop3 is not possible for kind webmail")
		return nil
	}
	for _, k := range schemaKeys(reflect.TypeOf(*doc)) {
		p := joinPath(path, k.name)
		if d.keys[p] == nil || isNull(d.valueAt(p)) {
			continue
		}
		switch {
		case k.group == "IMAP" && proto == clients.POP3:
			d.errorf(d.keys[p], p, "%s is an IMAP setting; device %s uses POP3", k.name, name)
		case k.group == "POP3" && proto == clients.IMAP:
			d.errorf(d.keys[p], p, "%s is a POP3 setting; device %s uses IMAP", k.name, name)
		case k.group == "Webmail" && kind != clients.KindWebmail:
			d.errorf(d.keys[p], p, "%s is a webmail setting; device %s is a %s", k.name, name, kind)
		}
	}
	if doc.PollInterval.given() && kind == clients.KindWebmail {
		p := joinPath(path, "poll_interval")
		d.errorf(d.keys[p], p, "webmail reloads its page instead of polling: use refresh")
	}
	// Settings a kind would accept and ignore.
	if p := joinPath(path, "window"); proto == clients.IMAP && kind != clients.KindPhone && doc.IMAP.Window.given() {
		why := "a PC syncs every message of a folder"
		if kind == clients.KindWebmail {
			why = "webmail shows a page of page_size messages"
		}
		d.errorf(d.keys[p], p, "window is a phone's setting: %s", why)
	}
	if p := joinPath(path, "login_interval"); (proto == clients.POP3 || kind == clients.KindWebmail) && doc.LoginInterval.given() {
		d.errorf(d.keys[p], p, "login_interval is for IMAP PCs and phones, which keep their connections; device %s logs in for every check", name)
	}
	p := clients.DefaultProfile(name, kind, proto)
	doc.PollInterval.read(d, &p.PollInterval)
	doc.LoginInterval.read(d, &p.LoginInterval)
	if proto == clients.POP3 {
		doc.POP3.LeaveOnServer.read(d, &p.LeaveOnServer)
		doc.POP3.DeleteAfter.read(d, &p.DeleteAfter)
		doc.POP3.DeleteWhenDeletedLocally.read(d, &p.DeleteWhenDeletedLocally)
	} else {
		im := &doc.IMAP
		im.Connections.read(d, &p.Connections, 0, maxConnections)
		im.Idle.read(d, &p.Idle)
		d.fetchItems(im.FetchNew, &p.FetchNew)
		d.fetchItems(im.FetchOpen, &p.FetchOpen)
		im.FetchImmediate.read(d, &p.FetchImmediate)
		im.Window.read(d, &p.Window, 0, maxWindowOrPaging)
		im.StatusInterval.read(d, &p.StatusInterval)
		im.IMAPClient.read(d, &p.IMAPClient, "IMAP client", clients.IMAPClients...)
	}
	if kind == clients.KindWebmail {
		doc.Webmail.Refresh.read(d, &p.Refresh)
		doc.Webmail.PageSize.read(d, &p.PageSize, 0, maxWindowOrPaging)
	}
	nw := &doc.Network
	nw.Latency.read(d, &p.Network.Latency)
	nw.Bandwidth.read(d, &p.Network.Bandwidth)
	nw.DisconnectEvery.read(d, &p.Network.DisconnectEvery)
	return p
}

// validateDevice checks device profile p: what the devices find wrong
// with it (clients.Profile.Validate: fetch items they cannot send,
// negative settings), and the settings a scenario must not leave at 0:
// connections, a page size, a refresh, and a poll interval unless the
// device idles.
func validateDevice(p *clients.Profile) []error {
	var ps problems
	for _, err := range p.Validate() {
		var fe *clients.FieldError
		if errors.As(err, &fe) && fe.Field != "" {
			ps.add(fe.Field, "%w", fe.Err)
			continue
		}
		ps = append(ps, &FieldError{Key: true, Err: err})
	}
	if p.Protocol == clients.IMAP && p.Connections == 0 {
		ps.add("connections", "want at least 1 connection")
	}
	if p.Kind == clients.KindWebmail {
		if p.Refresh == 0 {
			ps.add("refresh", "must be longer than 0")
		}
		if p.PageSize == 0 {
			ps.add("page_size", "want at least 1")
		}
	} else if p.PollInterval == 0 && !(p.Protocol == clients.IMAP && p.Idle) {
		ps.add("poll_interval", "0 would never check for mail: give an interval (or idle: true)")
	}
	return ps
}

// fetchItems decodes IMAP fetch items; whether the devices can send them
// is checkProfile's business.
func (d *decoder) fetchItems(v text, dst *string) {
	var s string
	if !v.read(d, &s) {
		return
	}
	if strings.TrimSpace(s) == "" {
		d.errorAt(v.n, "empty fetch items")
		return
	}
	*dst = s
}
