package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/clients"
)

// noEnv is an environment with only the variables in m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// minimal is the smallest valid scenario; cases below build on it.
const minimal = `version: 1
users: {count: 2}
groups:
  - name: g
    devices: [pc-imap]
behaviors:
  b: {}
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each "line:col: path: fragment"
	}{
		{"version", "version: 2\nusers: {count: 1}\ngroups: [{name: g, devices: [pc-imap]}]\nbehaviors: {b: {}}\n",
			[]string{"1:10: version: unsupported version 2"}},
		{"missing version", "users: {count: 1}\ngroups: [{name: g, devices: [pc-imap]}]\nbehaviors: {b: {}}\n",
			[]string{"1:1: version: missing"}},
		{"null values are absent", "version:\nusers: {count: }\ngroups:\n  - name:\n    devices: [pc-imap]\nbehaviors: {b: {}}\n",
			[]string{"1:1: version: missing", "2:8: users.count: missing", "4:5: groups[0].name: missing"}},
		{"unknown top key", minimal + "colour: red\n",
			[]string{`8:1: colour: unknown key "colour" in the scenario; valid keys: audit, behaviors,`}},
		{"zero stop_grace", minimal + "stop_grace: 0s\n",
			[]string{"8:13: stop_grace: must be longer than 0 (leave it out for the default, 1s)"}},
		{"negative stop_grace", minimal + "stop_grace: -1s\n",
			[]string{`8:13: stop_grace: negative duration "-1s"`}},
		{"unknown behavior key", strings.Replace(minimal, "b: {}", "b: {inbund: {interval: 1m}}", 1),
			[]string{`7:7: behaviors.b.inbund: unknown key "inbund" in a behavior; valid keys: action_delay,`}},
		{"wrong type", strings.Replace(minimal, "count: 2", "count: many", 1),
			[]string{`2:16: users.count: bad whole number "many"`}},
		{"mapping for scalar", strings.Replace(minimal, "count: 2", "count: [2]", 1),
			[]string{`2:16: users.count: want a single value, not a list`}},
		{"shares", "version: 1\nusers: {count: 2}\ngroups:\n  - {name: a, share: 50%, devices: [pc-imap]}\n  - {name: c, share: 40%, devices: [pc-imap]}\nbehaviors: {b: {}}\n",
			[]string{"4:3: groups: group shares add up to 90%, not 100%"}},
		{"share without %", "version: 1\nusers: {count: 2}\ngroups:\n  - {name: a, share: 0.5, devices: [pc-imap]}\n  - {name: c, share: 50%, devices: [pc-imap]}\nbehaviors: {b: {}}\n",
			[]string{`4:22: groups[0].share: bad percentage "0.5": write it with a % sign`}},
		{"probability > 100%", strings.Replace(minimal, "b: {}", "b: {on_new_mail: {read: 120%}}", 1),
			[]string{"7:27: behaviors.b.on_new_mail.read: percentage 120% out of range: want 0% to 100%"}},
		{"probability < 0", strings.Replace(minimal, "b: {}", "b: {on_new_mail: {delete: -5%}}", 1),
			[]string{"7:29: behaviors.b.on_new_mail.delete: percentage -5% out of range"}},
		{"unknown device", strings.Replace(minimal, "[pc-imap]", "[pc-imap, tablet]", 1),
			[]string{`5:24: groups[0].devices: unknown device profile "tablet"; known: pc-imap, pc-pop3, phone-imap, phone-pop3, webmail`}},
		{"unknown behavior", strings.Replace(minimal, "devices: [pc-imap]", "devices: [pc-imap]\n    behavior: lazy", 1),
			[]string{`6:15: groups[0].behavior: unknown behavior "lazy"; known: b`}},
		{"imap setting on pop3", minimal + "devices:\n  pc-pop3: {idle: true}\n",
			[]string{"9:13: devices.pc-pop3.idle: idle is an IMAP setting; device pc-pop3 uses POP3"}},
		{"fetch_new on pop3", minimal + "devices:\n  old:\n    kind: pc\n    protocol: pop3\n    fetch_new: UID\n",
			[]string{"12:5: devices.old.fetch_new: fetch_new is an IMAP setting"}},
		{"pop3 setting on imap", minimal + "devices:\n  pc-imap: {leave_on_server: false}\n",
			[]string{"9:13: devices.pc-imap.leave_on_server: leave_on_server is a POP3 setting; device pc-imap uses IMAP"}},
		{"window on a pc", minimal + "devices:\n  pc-imap: {window: 50}\n",
			[]string{"9:13: devices.pc-imap.window: window is a phone's setting: a PC syncs every message of a folder"}},
		{"window on webmail", minimal + "devices:\n  webmail: {window: 50}\n",
			[]string{"9:13: devices.webmail.window: window is a phone's setting: webmail shows a page of page_size messages"}},
		{"login_interval on pop3", minimal + "devices:\n  pc-pop3: {login_interval: 5m}\n",
			[]string{"9:13: devices.pc-pop3.login_interval: login_interval is for IMAP PCs and phones, which keep their connections; device pc-pop3 logs in for every check"}},
		{"login_interval on webmail", minimal + "devices:\n  webmail: {login_interval: 5m}\n",
			[]string{"9:13: devices.webmail.login_interval: login_interval is for IMAP PCs and phones"}},
		{"webmail pop3", minimal + "devices:\n  wm: {kind: webmail, protocol: pop3}\n",
			[]string{"9:33: devices.wm.protocol: webmail reads mail over IMAP; protocol pop3 is not possible"}},
		{"device without kind", strings.Replace(minimal, "[pc-imap]", "[tablet]", 1) + "devices:\n  tablet: {protocol: imap}\n",
			[]string{"9:3: devices.tablet.kind: missing; want one of: pc, phone, webmail"}},
		{"target without pop3", strings.Replace(minimal, "[pc-imap]", "[pc-pop3]", 1) +
			"target:\n  imap: {addr: \"127.0.0.1:143\"}\n  delivery: {protocol: lmtp, addr: \"127.0.0.1:24\"}\n",
			[]string{"9:3: target.pop3: missing: the scenario has POP3 devices"}},
		{"target without imap and delivery", minimal + "target:\n  pop3: {addr: \"127.0.0.1:110\"}\n",
			[]string{"9:3: target.imap: missing", "9:3: target.delivery: missing: no way to deliver inbound mail"}},
		{"bad tls", minimal + "target:\n  imap: {addr: \"127.0.0.1:143\", tls: ssl}\n  delivery: {addr: \"127.0.0.1:24\"}\n",
			[]string{`9:38: target.imap.tls: unknown tls mode "ssl"; want one of: none, starttls, implicit`}},
		{"bad addr", minimal + "target:\n  imap: {addr: localhost}\n  delivery: {addr: \"127.0.0.1:24\"}\n",
			[]string{`9:16: target.imap.addr: bad address "localhost": want HOST:PORT`}},
		{"count 0", strings.Replace(minimal, "count: 2", "count: 0", 1),
			[]string{"2:16: users.count: empty population: count must be at least 1"}},
		{"no groups", "version: 1\nusers: {count: 2}\ngroups: []\n",
			[]string{"3:9: groups: empty population: add at least one group"}},
		{"group without devices", strings.Replace(minimal, "devices: [pc-imap]", "devices: []", 1),
			[]string{"5:14: groups[0].devices: empty group: list at least one device"}},
		{"duplicate group", "version: 1\nusers: {count: 2}\ngroups:\n  - {name: a, share: 50%, devices: [pc-imap]}\n  - {name: a, share: 50%, devices: [pc-imap]}\nbehaviors: {b: {}}\n",
			[]string{`5:12: groups[1].name: duplicate group name "a" (first at line 4)`}},
		{"duplicate key", strings.Replace(minimal, "  b: {}", "  b: {}\n  b: {}", 1),
			[]string{`8:3: behaviors.b: duplicate name "b" (first at line 7)`}},
		{"negative duration", minimal + "settle: -5s\n",
			[]string{`8:9: settle: negative duration "-5s"`}},
		{"duration without unit", minimal + "settle: 5\n",
			[]string{`8:9: settle: bad duration "5": missing or unknown unit`}},
		{"settle without max", minimal + "settle: {until: synced}\n",
			[]string{`8:9: settle.max: missing; want the longest settle`}},
		{"settle until what", minimal + "settle: {max: 30s, until: quiet}\n",
			[]string{`8:27: settle.until: unknown settle end "quiet"; want one of: timer, synced`}},
		{"settle unknown key", minimal + "settle: {max: 30s, untill: synced}\n",
			[]string{`8:20: settle.untill: unknown key "untill" in settle; valid keys: max, until`}},
		{"settle list", minimal + "settle: [30s]\n",
			[]string{`8:9: settle: settle must be a mapping (key: value), not a list`}},
		{"min > max", strings.Replace(minimal, "b: {}", "b: {inbound: {size: {min: 2MiB, max: 1KiB}}}", 1),
			[]string{"7:23: behaviors.b.inbound.size: min 2097152 bytes is larger than max 1024 bytes"}},
		{"bad size", strings.Replace(minimal, "b: {}", "b: {inbound: {size: 2QB}}", 1),
			[]string{`7:23: behaviors.b.inbound.size: bad size "2QB": unknown unit`}},
		{"bad bandwidth", minimal + "devices:\n  phone-imap: {network: {bandwidth: fast}}\n",
			[]string{`9:37: devices.phone-imap.network.bandwidth: bad bandwidth "fast"`}},
		{"unknown metric", minimal + "thresholds: [\"latency < 1s\"]\n",
			[]string{`8:14: thresholds[0]: unknown metric "latency" in threshold; known: bytes_per_user_day, commands_per_user_day,`}},
		{"unknown group in threshold", minimal + "thresholds: [\"divergence_ratio{group=nope} < 0.1\"]\n",
			[]string{`8:14: thresholds[0]: unknown group "nope" in divergence_ratio{group=...}; groups: g`}},
		{"unknown change", minimal + "thresholds: [\"convergence_p99{change=eat} < 1m\"]\n",
			[]string{`8:14: thresholds[0]: unknown change kind "eat"; known: deliver, read,`}},
		{"bad threshold syntax", minimal + "thresholds: [\"error_rate is small\"]\n",
			[]string{`8:14: thresholds[0]: bad threshold "error_rate is small"`}},
		{"threshold value", minimal + "thresholds: [\"error_rate < 200%\"]\n",
			[]string{`8:14: thresholds[0]: threshold "error_rate < 200%": value 200% out of range`}},
		{"unknown delivery reason", minimal + "thresholds: [\"delivery_failed{reason=bounced} == 0\"]\n",
			[]string{`8:14: thresholds[0]: unknown delivery failure reason "bounced"; known: refused, timeout,`}},
		{"delivery_failure_rate takes no labels", minimal + "thresholds: [\"delivery_failure_rate{protocol=lmtp} < 1%\"]\n",
			[]string{`8:14: thresholds[0]: delivery_failure_rate takes no labels`}},
		{"submission_failure_rate takes no labels", minimal + "thresholds: [\"submission_failure_rate{protocol=smtp} < 1%\"]\n",
			[]string{`8:14: thresholds[0]: submission_failure_rate takes no labels`}},
		{"submission_failure_rate is a ratio", minimal + "thresholds: [\"submission_failure_rate < 2s\"]\n",
			[]string{`8:14: thresholds[0]: `}},
		{"stored bytes is a size", minimal + "thresholds: [\"stored_bytes_per_user < lots\"]\n",
			[]string{`8:14: thresholds[0]: threshold "stored_bytes_per_user < lots": bad size "lots"`}},
		{"commands per day is a number", minimal + "thresholds: [\"commands_per_user_day < -3\"]\n",
			[]string{`8:14: thresholds[0]: threshold "commands_per_user_day < -3": bad value "-3": want a number >= 0`}},
		{"delivery_failed is a count", minimal + "thresholds: [\"delivery_failed < 1%\"]\n",
			[]string{`8:14: thresholds[0]: threshold "delivery_failed < 1%": bad value "1%": want a whole number`}},
		{"validity_checks", minimal + "validity_checks: sometimes\n",
			[]string{`8:18: validity_checks:`}},
		{"p99 without command", minimal + "thresholds: [\"p99 < 1s\"]\n",
			[]string{`8:14: thresholds[0]: p99 needs a command`}},
		{"unset env", strings.Replace(minimal, "{count: 2}", "{count: 2, password: \"${NOPE}\"}", 1),
			[]string{"2:29: users.password: environment variable NOPE is not set"}},
		{"yaml syntax", "version: 1\nusers: [\n",
			[]string{"2:1: YAML syntax: did not find expected node content at the end of the file"}},
		// yaml.v3 counts a parser problem's line from 0: these said 5:1,
		// 1:1 and 0:0.
		{"unclosed flow mapping", "version: 1\nname: x\n\n\nusers: {count: 1\ngroups: []\n",
			[]string{"5:1: YAML syntax: did not find expected ',' or '}' (a '{' opened on this line is not closed)"}},
		{"sequence in a mapping", "version: 1\n- a\n",
			[]string{"2:1: YAML syntax: did not find expected key"}},
		{"unknown alias", "version: 1\nname: *b\n",
			[]string{"2:7: YAML syntax: unknown anchor 'b' referenced (no &b before it)"}},
		{"empty", "", []string{"1:1: empty scenario"}},
		{"comments only", "# nothing\n", []string{"1:1: empty scenario"}},
		{"second document", "version: 1\nname: x\n---\nversion: 2\n",
			[]string{`3:1: a second YAML document (after "---"): a scenario is one document`}},
		// Scanner problems count from 1 already, though some also start
		// "did not find expected".
		{"anchor without a name", "version: 1\nname: x\nfoo: & bar\n",
			[]string{"3:1: YAML syntax: did not find expected alphabetic or numeric character"}},
		{"block scalar indicator", "version: 1\nfoo: |x\n  a\n",
			[]string{"2:1: YAML syntax: did not find expected comment or line break"}},
		{"unknown alias after a comment naming it", "version: 1\nname: x\n# *nope here\nfoo: *nope\n",
			[]string{"4:6: YAML syntax: unknown anchor 'nope'"}},
		{"unknown alias after a longer one", "version: 1\nname: x\nfoo: [*nope2]\nbar: *nope\n",
			[]string{"3:7: YAML syntax: unknown anchor 'nope2'"}},
		{"not a mapping", "- 1\n- 2\n",
			[]string{"1:1: a scenario must be a mapping"}},
		{"time_scale", minimal + "time_scale: 0\n",
			[]string{"8:13: time_scale: 0 out of range"}},
		{"username without n", strings.Replace(minimal, "{count: 2}", "{count: 2, username: bob}", 1),
			[]string{`2:29: users.username: pattern "bob" has no {n}: all 2 users would share one name`}},
		{"bad username pattern", strings.Replace(minimal, "{count: 2}", "{count: 2, username: \"u{x}\"}", 1),
			[]string{`2:29: users.username: bad username pattern "u{x}": unknown placeholder {x}`}},
		{"several behaviors, none named", strings.Replace(minimal, "b: {}", "b: {}\n  c: {}", 1),
			[]string{"4:5: groups[0].behavior: missing; name one of the behaviors: b, c"}},
		{"hand kind", minimal + "hand: {tablet: 10%}\n",
			[]string{`8:8: hand.tablet: unknown key "tablet" in hand; valid keys: pc, phone, webmail`}},
		{"server rate negative", minimal + "server: {max_commands_per_second: -1}\n",
			[]string{"8:35: server.max_commands_per_second: -1 out of range: want 0 (no limit) or more"}},
		{"server rate not a number", minimal + "server: {max_commands_per_second: fast}\n",
			[]string{`8:35: server.max_commands_per_second: bad number "fast"`}},
		{"server unknown key", minimal + "server: {max_connections: 5}\n",
			[]string{`8:10: server.max_connections: unknown key "max_connections" in server; valid keys: max_commands_per_second`}},
		{"server with target", minimal + "target: {imap: 127.0.0.1:143, delivery: {protocol: imap-append}}\nserver: {max_commands_per_second: 10}\n",
			[]string{"9:1: server: configures the embedded server, and this scenario runs against its target: instead"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src), envOf(nil))
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Parse = %v, want Errors", err)
			}
			if len(errs) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), "s.yaml:"+w) {
					t.Errorf("errors do not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestParseAllErrorsAtOnce(t *testing.T) {
	src := `version: 1
users: {count: 2}
groups:
  - name: g
    devices: [pc-imap, laptop]
behaviors:
  b: {action_delay: soon, on_new_mail: {read: 101%}}
`
	_, err := Parse("s.yaml", []byte(src), envOf(nil))
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 {
		t.Fatalf("want 3 errors, got %v", err)
	}
	// Ordered by position.
	for i, want := range []string{"s.yaml:5:24:", "s.yaml:7:21:", "s.yaml:7:47:"} {
		if !strings.HasPrefix(errs[i].Error(), want) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], want)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("dir/min.yaml", []byte(minimal+"devices:\n  pc-pop3: {}\n  phone-pop3: {}\n  webmail: {}\n  phone-imap: {}\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "min" || s.Seed != 1 || s.Duration != time.Minute || s.TimeScale != 1 || s.Settle != 10*time.Second ||
		s.Audit != 2*time.Second || s.RampUp != 0 || s.Target != nil || s.StopGrace != time.Second {
		t.Errorf("top-level defaults wrong: %+v", s)
	}
	if s.Hand[clients.KindPC] != 0.6 || s.Hand[clients.KindPhone] != 0.3 || s.Hand[clients.KindWebmail] != 0.1 {
		t.Errorf("hand = %v", s.Hand)
	}
	if s.Users.Username != "user{n}" || s.Users.Password != "pass" || s.Users.Start != 1 {
		t.Errorf("users = %+v", s.Users)
	}
	g := s.Groups[0]
	if g.Share != 1 || g.Behavior != "b" {
		t.Errorf("group = %+v", g)
	}
	b := s.Behaviors["b"]
	if b.Send.Internal != 0.5 || b.Inbound.Size != (Range{2048, 102400}) || len(b.Folders) != 1 || b.Folders[0] != "Archive" {
		t.Errorf("behavior = %+v", b)
	}
	want := map[string]clients.Profile{
		"pc-pop3": {Name: "pc-pop3", Kind: clients.KindPC, Protocol: clients.POP3, PollInterval: 10 * time.Minute, LeaveOnServer: true,
			DeleteAfter: 14 * 24 * time.Hour, DeleteWhenDeletedLocally: true},
		"phone-pop3": {Name: "phone-pop3", Kind: clients.KindPhone, Protocol: clients.POP3, PollInterval: 15 * time.Minute, LeaveOnServer: true,
			DeleteAfter: 14 * 24 * time.Hour, DeleteWhenDeletedLocally: true},
		"pc-imap": {Name: "pc-imap", Kind: clients.KindPC, Protocol: clients.IMAP, PollInterval: 10 * time.Minute, Connections: 2, Idle: true,
			FetchNew: clients.FetchNewThunderbird, FetchOpen: "BODY.PEEK[]", FetchImmediate: true},
		"phone-imap": {Name: "phone-imap", Kind: clients.KindPhone, Protocol: clients.IMAP, PollInterval: 15 * time.Minute, Connections: 1,
			FetchNew: clients.FetchNewK9, FetchOpen: "BODY.PEEK[]", Window: 100},
		"webmail": {Name: "webmail", Kind: clients.KindWebmail, Protocol: clients.IMAP, Connections: 1, FetchNew: clients.FetchNewRoundcube,
			FetchOpen: "BODY.PEEK[]", Refresh: time.Minute, PageSize: 50},
	}
	for name, w := range want {
		if got := s.Devices[name]; got == nil || *got != w {
			t.Errorf("device %s = %+v\nwant %+v", name, got, w)
		}
	}
}

func TestParseValues(t *testing.T) {
	src := minimal + `devices:
  phone-imap:
    network: {latency: 150ms, bandwidth: 5Mbit, disconnect_every: 1h30m}
  pc-pop3: {delete_after: 14d, leave_on_server: no}
thresholds:
  - "p99(imap.UID FETCH) < 500ms"
  - "p95(imap.UID_FETCH) <= 2"
  - "error_rate < 1%"
  - "convergence_p99{change=read} < 10m"
  - "users_converged_ratio{group=g} >= 0.9"
  - "lost_messages == 0"
  - "delivery_failure_rate < 1%"
  - "delivery_failed{reason=4xx} == 0"
  - "login_failure_rate{protocol=imap} <= 0.5%"
validity_checks: false
stop_grace: 30s
`
	src = strings.Replace(src, "b: {}", "b: {inbound: {interval: 90s, size: 200KB, attachments: 12.5%}}", 1)
	s, err := Parse("v.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.StopGrace != 30*time.Second {
		t.Errorf("stop_grace = %v, want 30s", s.StopGrace)
	}
	n := s.Devices["phone-imap"].Network
	if n.Latency != 150*time.Millisecond || n.Bandwidth != 5_000_000 || n.DisconnectEvery != 90*time.Minute {
		t.Errorf("network = %+v", n)
	}
	if p := s.Devices["pc-pop3"]; p.DeleteAfter != 336*time.Hour || p.LeaveOnServer {
		t.Errorf("pc-pop3 = %+v", p)
	}
	in := s.Behaviors["b"].Inbound
	if in.Interval != 90*time.Second || in.Size != (Range{200000, 200000}) || in.Attachments != 0.125 {
		t.Errorf("inbound = %+v", in)
	}
	th := s.Thresholds
	if len(th) != 9 {
		t.Fatalf("thresholds = %+v", th)
	}
	if th[0].Metric != "p99" || th[0].Protocol != "imap" || th[0].Command != "UID FETCH" || th[0].Op != "<" || th[0].Value != 0.5 {
		t.Errorf("threshold 0 = %+v", th[0])
	}
	if th[1].Command != "UID FETCH" || th[1].Op != "<=" || th[1].Value != 2 {
		t.Errorf("threshold 1 = %+v", th[1])
	}
	if th[2].Value != 0.01 || th[3].Labels["change"] != "read" || th[3].Value != 600 || th[4].Labels["group"] != "g" || th[4].Value != 0.9 {
		t.Errorf("thresholds = %+v", th)
	}
	if th[6].Metric != "delivery_failure_rate" || th[6].Value != 0.01 || th[7].Labels["reason"] != "4xx" || th[7].Value != 0 ||
		th[8].Labels["protocol"] != "imap" || th[8].Value != 0.005 {
		t.Errorf("delivery and login thresholds = %+v", th[6:])
	}
	if !s.ValidityChecksOff {
		t.Error("validity_checks: false did not turn the checks off")
	}
	if d, err := Parse("s.yaml", []byte(minimal), envOf(nil)); err != nil || d.ValidityChecksOff {
		t.Errorf("validity checks are off by default (%v)", err)
	}
}

func TestValueParsers(t *testing.T) {
	durations := map[string]time.Duration{"90s": 90 * time.Second, "15m": 15 * time.Minute, "14d": 336 * time.Hour,
		"1h30m": 90 * time.Minute, "500ms": 500 * time.Millisecond, "0": 0, "1.5h": 90 * time.Minute}
	for in, want := range durations {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1s", "5", "5x", "m", "1e400h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
	sizes := map[string]Size{"2KiB": 2048, "5MiB": 5 << 20, "200KB": 200000, "4096": 4096, "1gb": 1e9, "10 B": 10}
	for in, want := range sizes {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bws := map[string]int64{"5Mbit": 5e6, "512kbit": 512e3, "1Gbit": 1e9, "100": 100, "2mbps": 2e6}
	for in, want := range bws {
		if got, err := ParseBandwidth(in); err != nil || got != want {
			t.Errorf("ParseBandwidth(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-5Mbit", "5 Mbyte", "fast", ""} {
		if _, err := ParseBandwidth(bad); err == nil {
			t.Errorf("ParseBandwidth(%q) succeeded", bad)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	env := envOf(map[string]string{"PW": "s3cret", "EMPTY": "", "DUR": "45s"})
	tests := []struct{ in, want, err string }{
		{"${PW}", "s3cret", ""},
		{"x-${PW}-y", "x-s3cret-y", ""},
		{"${MISSING:-dflt}", "dflt", ""},
		{"${EMPTY:-dflt}", "dflt", ""},
		{"${EMPTY}", "", ""},
		{"$${PW}", "${PW}", ""},
		{"a$b", "a$b", ""},
		{"${MISSING}", "", "environment variable MISSING is not set"},
		{"${PW", "", "unclosed ${"},
		{"${1X}", "", "bad variable name"},
	}
	for _, tt := range tests {
		got, err := expandEnv(tt.in, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expandEnv(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	// Expansion works in any scalar, before its value is parsed.
	s, err := Parse("e.yaml", []byte(minimal+"duration: ${DUR}\nsettle: ${SETTLE:-3s}\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	if s.Duration != 45*time.Second || s.Settle != 3*time.Second {
		t.Errorf("duration %v settle %v", s.Duration, s.Settle)
	}
	// MAILSIM_PASSWORD is the default password.
	s, err = Parse("e.yaml", []byte(minimal), envOf(map[string]string{"MAILSIM_PASSWORD": "envpw"}))
	if err != nil || s.Users.Password != "envpw" {
		t.Errorf("password = %q, %v", s.Users.Password, err)
	}
}

func TestUserFile(t *testing.T) {
	dir := t.TempDir()
	users := "# staff\nalice:pw1\n\nbob\n  carol:pw3  \n"
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte(users), 0o600); err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(minimal, "users: {count: 2}", "users: {file: users.txt, password: common}", 1)
	s, err := Parse(filepath.Join(dir, "s.yaml"), []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.Users.Count != 3 || len(s.Users.Names) != 3 || s.Users.Names[2] != (Credential{"carol", "pw3"}) {
		t.Fatalf("users = %+v", s.Users)
	}
	p, err := NewPlan(s, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := []Credential{p.Users[0].Credential, p.Users[1].Credential, p.Users[2].Credential}
	want := []Credential{{"alice", "pw1"}, {"bob", "common"}, {"carol", "pw3"}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("user %d = %+v, want %+v", i+1, got[i], want[i])
		}
	}
	if p.Users[1].Address != "bob@example.com" || p.Users[1].Devices[0].ID != "bob/pc-imap" {
		t.Errorf("user 2 = %+v, device %s", p.Users[1], p.Users[1].Devices[0].ID)
	}
	// Errors: more users than lines, a missing file, a duplicate user.
	src = strings.Replace(minimal, "users: {count: 2}", "users: {file: users.txt, count: 5}", 1)
	if _, err := Parse(filepath.Join(dir, "s.yaml"), []byte(src), envOf(nil)); err == nil || !strings.Contains(err.Error(), "2:33: users.count: 5 users wanted but users.txt has only 3") {
		t.Errorf("count > lines: %v", err)
	}
	src = strings.Replace(minimal, "users: {count: 2}", "users: {file: nope.txt}", 1)
	if _, err := Parse(filepath.Join(dir, "s.yaml"), []byte(src), envOf(nil)); err == nil || !strings.Contains(err.Error(), "users.file: users file:") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dup.txt"), []byte("a\nb\na\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src = strings.Replace(minimal, "users: {count: 2}", "users: {file: dup.txt}", 1)
	if _, err := Parse(filepath.Join(dir, "s.yaml"), []byte(src), envOf(nil)); err == nil || !strings.Contains(err.Error(), `dup.txt:3: duplicate user "a"`) {
		t.Errorf("duplicate: %v", err)
	}
}

func TestUsernamePattern(t *testing.T) {
	tests := []struct {
		pattern string
		n       int
		want    string
	}{
		{"user{n}", 7, "user7"},
		{"u{n:04}", 7, "u0007"},
		{"test_{n:03}@example.com", 12, "test_012@example.com"},
	}
	for _, tt := range tests {
		if got := FormatUsername(tt.pattern, tt.n); got != tt.want {
			t.Errorf("FormatUsername(%q, %d) = %q, want %q", tt.pattern, tt.n, got, tt.want)
		}
	}
}

func TestMergeKeys(t *testing.T) {
	src := minimal + `devices:
  base: &base {kind: phone, protocol: imap, poll_interval: 5m, window: 20}
  fast:
    <<: *base
    poll_interval: 1m
`
	s, err := Parse("m.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Devices["fast"]
	if f.Kind != clients.KindPhone || f.PollInterval != time.Minute || f.Window != 20 {
		t.Errorf("fast = %+v", f)
	}
}

// TestParseStrictPass: what yaml.v3 alone would stop at, skip or report
// without a column (a key written twice, an unknown key, a merge key of
// the wrong shape, too many aliases) is reported at its place, and the
// rest of the document is still read and checked.
func TestParseStrictPass(t *testing.T) {
	laughs := "a: &a [" + strings.Repeat("x, ", 999) + "x]\nversion: 1\nusers: {count: 2}\nbehaviors: {b: {}}\ngroups:\n" +
		strings.Repeat("  - {name: h, devices: *a}\n", 1001)
	tests := []struct {
		name string
		src  string
		want []string // each "line:col: path: message", in order
	}{
		{"an unknown key twice, and a bad value after it", minimal + "colour: red\ncolour: blue\nsettle: 5\n",
			[]string{`8:1: colour: unknown key "colour" in the scenario`, `9:1: colour: unknown key "colour" in the scenario`,
				`10:9: settle: bad duration "5"`}},
		{"a key twice: the first counts, the second is not read", minimal + "settle: 30s\nsettle: 5\n",
			[]string{`9:1: settle: duplicate key "settle" (first at line 8)`}},
		{"a key twice in a nested mapping", minimal + "settle: {max: 5s, until: synced, max: 6s}\nduration: soon\n",
			[]string{`8:34: settle.max: duplicate key "max" (first at line 8)`, `9:11: duration: bad duration "soon"`}},
		{"a merge key of the wrong shape, and a bad value beside it", minimal + "devices:\n  d: {kind: phone, <<: 5, window: many}\n",
			[]string{`9:24: devices.d: << must merge a mapping or a list of mappings, not the value "5"`,
				`9:35: devices.d.window: bad whole number "many"`}},
		{"a merged setting of another protocol, at its key", minimal + "devices:\n  base: &base {kind: pc, idle: true}\n  pop: {<<: *base, protocol: pop3}\n",
			[]string{"9:26: devices.pop.idle: idle is an IMAP setting; device pop uses POP3"}},
		{"a merged bad value, once where it is written", minimal + "devices:\n  base: &base {kind: phone, window: lots}\n  fast: {<<: *base, poll_interval: 1m}\n",
			[]string{`9:37: devices.base.window: bad whole number "lots"`}},
		{"an aliased group, each missing its name", "version: 1\nusers: {count: 2}\nbehaviors: {b: {}}\ngroups:\n  - &g {share: 50%, devices: [pc-imap]}\n  - *g\n",
			[]string{"5:5: groups[0].name: missing", "5:5: groups[1].name: missing"}},
		{"a merge key that refers to its own mapping", minimal + "settle: &s {max: 5s, <<: [*s, *s]}\n",
			[]string{"8:9: settle: << merges a mapping into itself"}},
		{"a key that is not a word", minimal + "? [a]\n: 1\n",
			[]string{"8:3: keys must be plain words, not a list"}},
		{"too many values after alias expansion", laughs,
			[]string{`1:1: a: unknown key "a" in the scenario`, "document too complex"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("s.yaml", []byte(tt.src), envOf(nil))
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Parse = %v, want Errors", err)
			}
			if len(es) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(es), len(tt.want), es)
			}
			for i, e := range es {
				if got := strings.TrimPrefix(e.Error(), "s.yaml:"); !strings.HasPrefix(got, tt.want[i]) && !strings.Contains(got, tt.want[i]) {
					t.Errorf("error %d = %q, want %q", i, got, tt.want[i])
				}
			}
		})
	}
}

// TestMergeKeyPrecedence: keys written in the mapping win over merged
// ones, and of a list of merged mappings the first wins, as yaml.v3 and
// the YAML merge key spec have it.
func TestMergeKeyPrecedence(t *testing.T) {
	src := minimal + `devices:
  a: &a {kind: phone, window: 5, connections: 1}
  b: &b {kind: pc, connections: 2, poll_interval: 2m, idle: true}
  c: {<<: [*a, *b], poll_interval: 1m}
`
	s, err := Parse("m.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Devices["c"]
	if c.Kind != clients.KindPhone || c.Window != 5 || c.Connections != 1 || c.PollInterval != time.Minute || !c.Idle {
		t.Errorf("c = %+v, want kind phone, window 5 and connections 1 from a (not b's 2), poll_interval 1m of its own, idle from b", c)
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load("no-such-scenario", envOf(nil)); err == nil || !strings.Contains(err.Error(), "shipped: ") {
		t.Errorf("Load(unknown) = %v", err)
	}
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte(minimal), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path, envOf(nil))
	if err != nil || s.Name != "mine" || s.Source != path {
		t.Errorf("Load(file) = %+v, %v", s, err)
	}
}

func TestShippedScenariosValidate(t *testing.T) {
	names := Shipped()
	want := []string{"imaptest-profile", "mobile-heavy", "office-day", "pop3-vs-imap", "quickstart"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("Shipped() = %v, want %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			s, err := Load(name, envOf(nil))
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != name || s.Target != nil || s.Users.Count > 200 || s.Description == "" {
				t.Errorf("%s: name %q, target %v, %d users", name, s.Name, s.Target, s.Users.Count)
			}
			p, err := NewPlan(s, PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := p.Write(&b); err != nil || !strings.Contains(b.String(), name) {
				t.Errorf("Write: %v\n%s", err, b.String())
			}
		})
	}
	if s, err := Load("quickstart", envOf(nil)); err == nil && (s.Duration > 30*time.Second || s.Users.Count > 10) {
		t.Errorf("quickstart is not quick: %v, %d users", s.Duration, s.Users.Count)
	}
}

// TestParseSettle: settle is a duration (the timer) or {max, until}.
func TestParseSettle(t *testing.T) {
	for _, tt := range []struct {
		src   string
		max   time.Duration
		until SettleUntil
	}{
		{"", DefaultSettle, SettleTimer},
		{"settle: 30s\n", 30 * time.Second, SettleTimer},
		{"settle: {max: 45s, until: synced}\n", 45 * time.Second, SettleSynced},
		{"settle: {max: 1m}\n", time.Minute, SettleTimer},
		{"settle: {max: 20s, until: timer}\n", 20 * time.Second, SettleTimer},
	} {
		s, err := Parse("s.yaml", []byte(minimal+tt.src), envOf(nil))
		if err != nil {
			t.Errorf("%q: %v", tt.src, err)
			continue
		}
		if s.Settle != tt.max || s.SettleUntil != tt.until {
			t.Errorf("%q: settle %s until %q, want %s until %q", tt.src, s.Settle, s.SettleUntil, tt.max, tt.until)
		}
	}
}

// TestParseServer reads the embedded server's settings, which the plan
// states.
func TestParseServer(t *testing.T) {
	tests := []struct {
		src      string
		want     float64
		planLine string
	}{
		{minimal, 0, "embedded (loopback)\n"},
		{minimal + "server:\n", 0, "embedded (loopback)\n"},
		{minimal + "server: {max_commands_per_second: 200}\n", 200, "embedded (loopback), at most 200 commands/s\n"},
		{minimal + "server: {max_commands_per_second: 0.5}\n", 0.5, "embedded (loopback), at most 0.5 commands/s\n"},
	}
	for _, tt := range tests {
		s, err := Parse("s.yaml", []byte(tt.src), envOf(nil))
		if err != nil {
			t.Fatalf("%q: %v", tt.src, err)
		}
		if s.Server.MaxCommandsPerSecond != tt.want {
			t.Errorf("%q: max_commands_per_second = %v, want %v", tt.src, s.Server.MaxCommandsPerSecond, tt.want)
		}
		p, err := NewPlan(s, PlanOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := p.Write(&b); err != nil || !strings.Contains(b.String(), tt.planLine) {
			t.Errorf("%q: plan lacks %q (%v):\n%s", tt.src, tt.planLine, err, b.String())
		}
	}
}

// TestParseCapacity reads the capacity: block with its defaults, and
// reports each bad value at its place.
func TestParseCapacity(t *testing.T) {
	s, err := Parse("s.yaml", []byte(minimal+"thresholds: [\"lost_messages == 0\"]\n"), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Capacity
	if c.StartUsers != 10 || c.MaxUsers != 1000 || c.StepDuration != 30*time.Second || c.Growth != 2 ||
		c.Resolution != 0.1 || !c.Confirm || len(c.QoS) != 1 || c.QoS[0].Expr != "lost_messages == 0" {
		t.Errorf("defaults %+v, want the documented ones with the thresholds as QoS", c)
	}
	s, err = Parse("s.yaml", []byte(minimal+`capacity:
  start_users: 4
  max_users: 64
  step_duration: 10s
  growth: 1.5
  resolution: 5%
  confirm: false
  qos: ["p95(imap.UID FETCH) < 300ms", "error_rate < 1%", "lost_messages == 0"]
`), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	c = s.Capacity
	if c.StartUsers != 4 || c.MaxUsers != 64 || c.StepDuration != 10*time.Second || c.Growth != 1.5 ||
		c.Resolution != 0.05 || c.Confirm || len(c.QoS) != 3 || c.QoS[0].Metric != "p95" {
		t.Errorf("capacity %+v", c)
	}
	for _, tt := range []struct{ src, want string }{
		{"capacity: {start_users: 0}\n", "capacity.start_users"},
		{"capacity: {start_users: 20, max_users: 10}\n", "below start_users"},
		{"capacity: {growth: 1}\n", "capacity.growth"},
		{"capacity: {resolution: 0%}\n", "capacity.resolution"},
		{"capacity: {step_duration: 0s}\n", "capacity.step_duration"},
		{"capacity: {qos: []}\n", "capacity.qos"},
		{"capacity: {qos: [\"p95(imap.FETCH) < soon\"]}\n", "capacity.qos[0]"},
		{"capacity: {steps: 3}\n", "steps"},
	} {
		_, err := Parse("s.yaml", []byte(minimal+tt.src), envOf(nil))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want it to name %q", tt.src, err, tt.want)
		}
	}
}

// TestParseTrailingDocumentMarker: a bare "---" (or one with only a
// comment) after the scenario is an empty document, not a second one.
func TestParseTrailingDocumentMarker(t *testing.T) {
	for _, tail := range []string{"---\n", "---\n# end\n", "...\n"} {
		if _, err := Parse("s.yaml", []byte(minimal+tail), nil); err != nil {
			t.Errorf("%q after a scenario: %v", tail, err)
		}
	}
}
