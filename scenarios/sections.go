package scenarios

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

var tlsModes = []string{string(TLSNone), string(TLSStartTLS), string(TLSImplicit)}

// target decodes the target: block.
func (d *decoder) target(e entry) *Target {
	t := &Target{Domain: DefaultDomain}
	f := d.fields(e.val, e.path, "target", "imap", "pop3", "submission", "delivery", "insecure_skip_verify", "metrics_url", "domain", "resources")
	if v, ok := f["imap"]; ok && !isNull(v.val) {
		t.IMAP = d.endpoint(v)
	}
	if v, ok := f["pop3"]; ok && !isNull(v.val) {
		t.POP3 = d.endpoint(v)
	}
	if v, ok := f["submission"]; ok && !isNull(v.val) {
		t.Submission = d.endpoint(v)
	}
	if v, ok := f["delivery"]; ok && !isNull(v.val) {
		t.Delivery = d.delivery(v)
	}
	d.boolean(f["insecure_skip_verify"], &t.InsecureSkipVerify)
	// An empty metrics_url means no exporter, so that one target file
	// serves servers with and without one ("${METRICS_URL}" left empty).
	if d.str(f["metrics_url"], &t.MetricsURL) && t.MetricsURL != "" {
		u, err := url.Parse(t.MetricsURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			d.errorf(f["metrics_url"].val, f["metrics_url"].path, "bad URL %q: want http://host:port/metrics", t.MetricsURL)
		}
	}
	if v, ok := f["resources"]; ok && !isNull(v.val) {
		t.Resources = d.resources(v)
	}
	if d.str(f["domain"], &t.Domain) && (t.Domain == "" || strings.ContainsAny(t.Domain, "@ \t/")) {
		d.errorf(f["domain"].val, f["domain"].path, "bad mail domain %q", t.Domain)
	}
	t.resolveDelivery()
	return t
}

// endpoint decodes {addr: HOST:PORT, tls: MODE} or the short form
// "HOST:PORT".
func (d *decoder) endpoint(e entry) *Endpoint {
	ep := &Endpoint{TLS: TLSNone}
	n := d.resolve(e.val, e.path)
	if n != nil && n.Kind == yaml.ScalarNode {
		if d.str(e, &ep.Addr) {
			d.checkAddr(e, ep.Addr)
		}
		return ep
	}
	f := d.fields(n, e.path, "an endpoint", "addr", "tls")
	if a, ok := f["addr"]; !ok {
		d.errorf(n, joinPath(e.path, "addr"), "missing; want HOST:PORT")
	} else if d.str(a, &ep.Addr) {
		d.checkAddr(a, ep.Addr)
	}
	var mode string
	if d.enum(f["tls"], &mode, "tls mode", tlsModes...) {
		ep.TLS = TLSMode(mode)
	}
	return ep
}

func (d *decoder) checkAddr(e entry, addr string) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		d.errorf(e.val, e.path, "bad address %q: want HOST:PORT", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		d.errorf(e.val, e.path, "bad port in %q: want 1 to 65535", addr)
	}
}

// delivery decodes {protocol: lmtp|smtp|imap-append, addr, tls}.
func (d *decoder) delivery(e entry) *Delivery {
	dl := &Delivery{Protocol: DeliverLMTP, TLS: TLSNone}
	f := d.fields(e.val, e.path, "delivery", "protocol", "addr", "tls")
	var proto string
	if d.enum(f["protocol"], &proto, "delivery protocol", string(DeliverLMTP), string(DeliverSMTP), string(DeliverIMAPAppend)) {
		dl.Protocol = DeliveryProtocol(proto)
	}
	if a, ok := f["addr"]; ok {
		if d.str(a, &dl.Addr) {
			d.checkAddr(a, dl.Addr)
		}
	} else if dl.Protocol != DeliverIMAPAppend {
		d.errorf(e.val, joinPath(e.path, "addr"), "missing; want HOST:PORT of the %s server", dl.Protocol)
	}
	var mode string
	if d.enum(f["tls"], &mode, "tls mode", tlsModes...) {
		dl.TLS = TLSMode(mode)
	}
	return dl
}

// users decodes the users: block.
func (d *decoder) users(e entry, u *Users) {
	f := d.fields(e.val, e.path, "users", "count", "username", "password", "file", "start")
	u.Start = 1
	d.intField(f["start"], &u.Start, 0, MaxUsers)
	u.Password = DefaultPassword
	if v, ok := d.env("MAILSIM_PASSWORD"); ok && v != "" {
		u.Password = v
	}
	d.str(f["password"], &u.Password)
	countE, hasCount := f["count"]
	countOK := hasCount && d.intField(countE, &u.Count, 0, MaxUsers)
	if fe, ok := f["file"]; ok && !isNull(fe.val) {
		if _, both := f["username"]; both {
			d.errorf(f["username"].key, f["username"].path, "username and file exclude each other: use one")
		}
		if !d.str(fe, &u.File) {
			return
		}
		names, err := readUserFile(d.userFilePath(u.File))
		if err != nil {
			d.errorf(fe.val, fe.path, "%v", err)
			return
		}
		u.Names = names
		if !hasCount {
			u.Count = len(names)
		} else if countOK && u.Count > len(names) {
			d.errorf(countE.val, countE.path, "%d users wanted but %s has only %d", u.Count, u.File, len(names))
		}
		if len(names) == 0 {
			d.errorf(fe.val, fe.path, "empty population: %s lists no users", u.File)
		}
		return
	}
	u.Username = DefaultUsername
	if d.str(f["username"], &u.Username) {
		hasN, err := checkUsernamePattern(u.Username)
		switch {
		case err != nil:
			d.errorf(f["username"].val, f["username"].path, "%v", err)
		case !hasN && u.Count > 1:
			d.errorf(f["username"].val, f["username"].path, "pattern %q has no {n}: all %d users would share one name", u.Username, u.Count)
		}
	}
	if !hasCount {
		d.errorf(e.val, joinPath(e.path, "count"), "missing; say how many users, e.g. \"count: 10\"")
	} else if countOK && u.Count == 0 {
		d.errorf(countE.val, countE.path, "empty population: count must be at least 1")
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

// behavior decodes one entry of behaviors:.
func (d *decoder) behavior(it entry) *Behavior {
	b := defaultBehavior(it.key.Value)
	f := d.fields(it.val, it.path, "a behavior", "inbound", "spam", "send", "on_new_mail", "action_delay",
		"action_repeat_delay", "folders", "session_length")
	d.inbound(f["inbound"], &b.Inbound)
	d.inbound(f["spam"], &b.Spam)
	if e, ok := f["send"]; ok {
		sf := d.fields(e.val, e.path, "send", "interval", "write_time", "internal")
		d.duration(sf["interval"], &b.Send.Interval)
		d.duration(sf["write_time"], &b.Send.WriteTime)
		d.percent(sf["internal"], &b.Send.Internal)
	}
	if e, ok := f["on_new_mail"]; ok {
		of := d.fields(e.val, e.path, "on_new_mail", "read", "reply", "forward", "flag", "move", "delete", "move_filter")
		o := &b.OnNewMail
		for k, dst := range map[string]*float64{"read": &o.Read, "reply": &o.Reply, "forward": &o.Forward,
			"flag": &o.Flag, "move": &o.Move, "delete": &o.Delete, "move_filter": &o.MoveFilter} {
			d.percent(of[k], dst)
		}
	}
	d.duration(f["action_delay"], &b.ActionDelay)
	d.duration(f["action_repeat_delay"], &b.ActionRepeatDelay)
	d.duration(f["session_length"], &b.SessionLength)
	if e, ok := f["folders"]; ok {
		folders, nodes := d.strList(e)
		seen := map[string]bool{}
		for i, name := range folders {
			if name == "" || strings.EqualFold(name, "INBOX") {
				d.errorf(nodes[i], e.path, "folder %q: want a folder name other than INBOX", name)
			} else if seen[name] {
				d.errorf(nodes[i], e.path, "duplicate folder %q", name)
			}
			seen[name] = true
		}
		b.Folders = folders
		if len(folders) == 0 && b.OnNewMail.Move > 0 {
			d.errorf(e.val, e.path, "on_new_mail.move is above 0%% but there are no folders to move to")
		}
	}
	return b
}

// inbound decodes {interval, size, attachments}.
func (d *decoder) inbound(e entry, in *Inbound) {
	if e.val == nil {
		return
	}
	f := d.fields(e.val, e.path, "inbound mail", "interval", "size", "attachments")
	d.duration(f["interval"], &in.Interval)
	d.percent(f["attachments"], &in.Attachments)
	se, ok := f["size"]
	if !ok || isNull(se.val) {
		return
	}
	n := d.resolve(se.val, se.path)
	if n != nil && n.Kind == yaml.ScalarNode {
		var s Size
		if d.size(se, &s) {
			in.Size = Range{Min: s, Max: s}
		}
		return
	}
	sf := d.fields(n, se.path, "size", "min", "max")
	d.size(sf["min"], &in.Size.Min)
	d.size(sf["max"], &in.Size.Max)
	if in.Size.Min > in.Size.Max {
		d.errorf(n, se.path, "min %d bytes is larger than max %d bytes", in.Size.Min, in.Size.Max)
	}
}

// Keys of device profiles, by where they apply.
var (
	commonDeviceKeys  = []string{"kind", "protocol", "poll_interval", "login_interval", "network"}
	imapOnlyKeys      = []string{"idle", "connections", "fetch_new", "fetch_open", "window", "fetch_immediate", "status_interval"}
	pop3OnlyKeys      = []string{"leave_on_server", "delete_after", "delete_when_deleted_locally"}
	webmailOnlyKeys   = []string{"refresh", "page_size"}
	allDeviceKeys     = concat(commonDeviceKeys, imapOnlyKeys, pop3OnlyKeys, webmailOnlyKeys)
	deviceKinds       = []string{string(KindPC), string(KindPhone), string(KindWebmail)}
	deviceProtocols   = []string{string(IMAP), string(POP3)}
	networkKeys       = []string{"latency", "bandwidth", "disconnect_every"}
	maxConnections    = int64(64)
	maxWindowOrPaging = int64(1_000_000)
)

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// device decodes one entry of devices:.
func (d *decoder) device(it entry) *DeviceProfile {
	name := it.key.Value
	f := d.fields(it.val, it.path, "a device profile", allDeviceKeys...)
	var kind Kind
	var proto Protocol
	if b, ok := builtinProfiles[name]; ok {
		kind, proto = b.kind, b.proto
	} else {
		proto = IMAP
	}
	var s string
	if d.enum(f["kind"], &s, "device kind", deviceKinds...) {
		kind = Kind(s)
	} else if _, given := f["kind"]; !given && kind == "" {
		d.errorf(it.key, joinPath(it.path, "kind"), "missing; want one of: %s", strings.Join(deviceKinds, ", "))
		return nil
	}
	if kind == "" {
		return nil
	}
	if d.enum(f["protocol"], &s, "protocol", deviceProtocols...) {
		proto = Protocol(s)
	}
	if kind == KindWebmail && proto == POP3 {
		n, path := f["protocol"].val, f["protocol"].path
		if n == nil {
			n, path = it.key, it.path
		}
		d.errorf(n, path, "webmail reads mail over IMAP; protocol pop3 is not possible for kind webmail")
		return nil
	}
	for _, k := range imapOnlyKeys {
		if e, ok := f[k]; ok && proto == POP3 {
			d.errorf(e.key, e.path, "%s is an IMAP setting; device %s uses POP3", k, name)
		}
	}
	for _, k := range pop3OnlyKeys {
		if e, ok := f[k]; ok && proto == IMAP {
			d.errorf(e.key, e.path, "%s is a POP3 setting; device %s uses IMAP", k, name)
		}
	}
	for _, k := range webmailOnlyKeys {
		if e, ok := f[k]; ok && kind != KindWebmail {
			d.errorf(e.key, e.path, "%s is a webmail setting; device %s is a %s", k, name, kind)
		}
	}
	if e, ok := f["poll_interval"]; ok && kind == KindWebmail {
		d.errorf(e.key, e.path, "webmail reloads its page instead of polling: use refresh")
	}
	p := defaultProfile(name, kind, proto)
	d.duration(f["poll_interval"], &p.PollInterval)
	d.duration(f["login_interval"], &p.LoginInterval)
	if proto == POP3 {
		d.boolean(f["leave_on_server"], &p.LeaveOnServer)
		d.duration(f["delete_after"], &p.DeleteAfter)
		d.boolean(f["delete_when_deleted_locally"], &p.DeleteWhenDeletedLocally)
	} else {
		if d.intField(f["connections"], &p.Connections, 0, maxConnections) && p.Connections == 0 {
			d.errorf(f["connections"].val, f["connections"].path, "want at least 1 connection")
		}
		d.boolean(f["idle"], &p.Idle)
		d.fetchItems(f["fetch_new"], &p.FetchNew)
		d.fetchItems(f["fetch_open"], &p.FetchOpen)
		d.boolean(f["fetch_immediate"], &p.FetchImmediate)
		d.intField(f["window"], &p.Window, 0, maxWindowOrPaging)
		d.duration(f["status_interval"], &p.StatusInterval)
	}
	if kind == KindWebmail {
		if d.duration(f["refresh"], &p.Refresh) && p.Refresh == 0 {
			d.errorf(f["refresh"].val, f["refresh"].path, "must be longer than 0")
		}
		if d.intField(f["page_size"], &p.PageSize, 0, maxWindowOrPaging) && p.PageSize == 0 {
			d.errorf(f["page_size"].val, f["page_size"].path, "want at least 1")
		}
	}
	if e, ok := f["poll_interval"]; ok && kind != KindWebmail && p.PollInterval == 0 && !(proto == IMAP && p.Idle) {
		d.errorf(e.val, e.path, "0 would never check for mail: give an interval (or idle: true)")
	}
	if e, ok := f["network"]; ok {
		nf := d.fields(e.val, e.path, "network", networkKeys...)
		d.duration(nf["latency"], &p.Network.Latency)
		parsed(d, nf["bandwidth"], &p.Network.Bandwidth, ParseBandwidth)
		d.duration(nf["disconnect_every"], &p.Network.DisconnectEvery)
	}
	return p
}

// fetchItems decodes IMAP fetch items, checking brackets balance.
func (d *decoder) fetchItems(e entry, dst *string) {
	var s string
	if !d.str(e, &s) {
		return
	}
	if strings.TrimSpace(s) == "" {
		d.errorf(e.val, e.path, "empty fetch items")
		return
	}
	depth := 0
	for _, c := range s {
		switch c {
		case '(', '[', '<':
			depth++
		case ')', ']', '>':
			depth--
		}
		if depth < 0 {
			break
		}
	}
	if depth != 0 {
		d.errorf(e.val, e.path, "unbalanced brackets in fetch items %q", s)
		return
	}
	*dst = s
}
