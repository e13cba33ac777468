package scenarios

import (
	"errors"
	"github.com/mailsim/mailsim/internal/transport"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dovecotEnv is the environment "scripts/dovecot.sh start" writes.
var dovecotEnv = envOf(map[string]string{
	"IMAP_ADDR":   "127.0.0.1:20143",
	"POP3_ADDR":   "127.0.0.1:20110",
	"LMTP_ADDR":   "127.0.0.1:20024",
	"METRICS_URL": "http://127.0.0.1:20900/metrics",
})

func TestParseTarget(t *testing.T) {
	src := `target:
  imap: {addr: "${IMAP_ADDR}", tls: none}
  pop3: "${POP3_ADDR}"
  delivery: {protocol: lmtp, addr: "${LMTP_ADDR}"}
  metrics_url: "${METRICS_URL}"
`
	got, err := ParseTarget("t.yaml", []byte(src), dovecotEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Target{
		IMAP:       &transport.Endpoint{Addr: "127.0.0.1:20143", TLS: transport.TLSNone},
		POP3:       &transport.Endpoint{Addr: "127.0.0.1:20110", TLS: transport.TLSNone},
		Delivery:   &Delivery{Protocol: DeliverLMTP, Addr: "127.0.0.1:20024", TLS: transport.TLSNone},
		MetricsURL: "http://127.0.0.1:20900/metrics",
		Domain:     DefaultDomain,
	}
	if *got.IMAP != *want.IMAP || *got.POP3 != *want.POP3 || *got.Delivery != *want.Delivery ||
		got.Submission != nil || got.MetricsURL != want.MetricsURL || got.Domain != want.Domain {
		t.Errorf("got %+v imap %+v pop3 %+v delivery %+v", got, got.IMAP, got.POP3, got.Delivery)
	}
}

func TestParseTargetErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each "line:col: path: fragment"
	}{
		{"empty", "", []string{"1:1: empty target file"}},
		{"not a mapping", "- imap\n", []string{"1:1: a target file must be a mapping"}},
		{"no target key", "other: 1\n", []string{`1:1: other: unknown key "other" in a target file; valid keys: target`}},
		{"null target", "target:\n", []string{"1:1: target: missing"}},
		{"scenario keys beside target", "version: 1\ntarget: {imap: 127.0.0.1:143}\n",
			[]string{`1:1: version: unknown key "version" in a target file`}},
		{"no server", "target: {metrics_url: http://127.0.0.1:1/metrics}\n", []string{"1:9: target: names no server"}},
		{"unknown target key", "target:\n  imap: 127.0.0.1:143\n  smtp: 127.0.0.1:25\n",
			[]string{`3:3: target.smtp: unknown key "smtp" in target; valid keys: delivery, domain, imap,`}},
		{"bad address", "target:\n  imap: {addr: \"localhost\"}\n", []string{`2:16: target.imap.addr: bad address "localhost"`}},
		{"bad port", "target: {pop3: \"127.0.0.1:0\"}\n", []string{`1:16: target.pop3: bad port in "127.0.0.1:0"`}},
		{"bad tls", "target:\n  imap: {addr: 127.0.0.1:993, tls: ssl}\n", []string{`2:36: target.imap.tls: unknown tls mode "ssl"`}},
		{"delivery without addr", "target:\n  delivery: {protocol: lmtp}\n", []string{"2:13: target.delivery.addr: missing"}},
		{"unset variable", "target:\n  imap: {addr: \"${NOPE}\"}\n", []string{"2:16: target.imap.addr: environment variable NOPE is not set"}},
		{"bad metrics url", "target:\n  imap: 127.0.0.1:143\n  metrics_url: ftp://x\n", []string{`3:16: target.metrics_url: bad URL "ftp://x"`}},
		{"yaml syntax", "target: {imap: \n", []string{"YAML syntax"}},
		{"several at once", "target:\n  imap: {addr: nohost}\n  pop3: {addr: 127.0.0.1:110, tls: maybe}\n",
			[]string{`2:16: target.imap.addr: bad address`, `3:36: target.pop3.tls: unknown tls mode`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTarget("t.yaml", []byte(tt.src), dovecotEnv)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("want Errors, got %v", err)
			}
			if len(errs) != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tt.want), err)
			}
			for _, w := range tt.want {
				if strings.HasPrefix(w, "YAML") {
					w = "1:1: " + w
				}
				if !strings.Contains(err.Error(), "t.yaml:"+w) {
					t.Errorf("no error t.yaml:%s in:\n%v", w, err)
				}
			}
		})
	}
}

// TestTargetResolution checks what a target file resolves to: an empty
// metrics_url is no exporter, and imap-append without addr delivers
// through the IMAP endpoint.
func TestTargetResolution(t *testing.T) {
	tests := []struct {
		name         string
		src          string
		env          map[string]string
		wantMetrics  string
		wantDelivery Delivery
	}{
		{"empty metrics_url", "target:\n  imap: 127.0.0.1:143\n  delivery: {protocol: lmtp, addr: 127.0.0.1:24}\n  metrics_url: \"\"\n",
			nil, "", Delivery{Protocol: DeliverLMTP, Addr: "127.0.0.1:24", TLS: transport.TLSNone}},
		{"metrics_url from an empty variable", "target:\n  imap: 127.0.0.1:143\n  delivery: {protocol: lmtp, addr: 127.0.0.1:24}\n  metrics_url: \"${M}\"\n",
			map[string]string{"M": ""}, "", Delivery{Protocol: DeliverLMTP, Addr: "127.0.0.1:24", TLS: transport.TLSNone}},
		{"imap-append without addr", "target:\n  imap: {addr: 127.0.0.1:993, tls: implicit}\n  delivery: {protocol: imap-append}\n",
			nil, "", Delivery{Protocol: DeliverIMAPAppend, Addr: "127.0.0.1:993", TLS: transport.TLSImplicit}},
		{"imap-append with its own addr", "target:\n  imap: {addr: 127.0.0.1:993, tls: implicit}\n  delivery: {protocol: imap-append, addr: 127.0.0.1:143}\n",
			nil, "", Delivery{Protocol: DeliverIMAPAppend, Addr: "127.0.0.1:143", TLS: transport.TLSNone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, err := ParseTarget("t.yaml", []byte(tt.src), envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if tg.MetricsURL != tt.wantMetrics || *tg.Delivery != tt.wantDelivery {
				t.Errorf("metrics_url %q delivery %+v, want %q %+v", tg.MetricsURL, *tg.Delivery, tt.wantMetrics, tt.wantDelivery)
			}
		})
	}
	// A scenario's own target: block resolves the same way.
	src := strings.Replace(minimal, "groups:", "target:\n  imap: 127.0.0.1:143\n  delivery: {protocol: imap-append}\n  metrics_url: \"\"\ngroups:", 1)
	s, err := Parse("s.yaml", []byte(src), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := *s.Target.Delivery; got.Addr != "127.0.0.1:143" || got.Protocol != DeliverIMAPAppend {
		t.Errorf("scenario target delivery %+v", got)
	}
	// Retarget resolves a programmatic target too, without changing it.
	in := &Target{IMAP: &transport.Endpoint{Addr: "127.0.0.1:143", TLS: transport.TLSStartTLS}, Delivery: &Delivery{Protocol: DeliverIMAPAppend}}
	c, err := s.Retarget(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := *c.Target.Delivery; got.Addr != "127.0.0.1:143" || got.TLS != transport.TLSStartTLS {
		t.Errorf("retargeted delivery %+v", got)
	}
	if in.Delivery.Addr != "" {
		t.Error("Retarget changed its argument")
	}
}

func TestLoadTarget(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("target: {imap: \"${IMAP_ADDR}\", delivery: {protocol: imap-append}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := LoadTarget(good, dovecotEnv)
	if err != nil {
		t.Fatal(err)
	}
	if tg.IMAP.Addr != "127.0.0.1:20143" || tg.Delivery.Protocol != DeliverIMAPAppend {
		t.Errorf("got imap %+v delivery %+v", tg.IMAP, tg.Delivery)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("target:\n  imap: {adr: 127.0.0.1:143}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadTarget(bad, dovecotEnv)
	if err == nil || !strings.Contains(err.Error(), bad+":2:10: target.imap.adr: unknown key") {
		t.Errorf("bad file: %v", err)
	}
	for _, p := range []string{filepath.Join(dir, "missing.yaml"), dir} {
		if _, err := LoadTarget(p, dovecotEnv); err == nil || !strings.Contains(err.Error(), "target file") {
			t.Errorf("LoadTarget(%s): %v, want a target file error", p, err)
		}
	}
}

// TestShippedDovecotTarget loads scripts/dovecot-target.yaml with the
// variables dovecot.sh writes, and fails clearly when one is missing.
func TestShippedDovecotTarget(t *testing.T) {
	path := filepath.Join("..", "scripts", "dovecot-target.yaml")
	tg, err := LoadTarget(path, dovecotEnv)
	if err != nil {
		t.Fatal(err)
	}
	if tg.IMAP == nil || tg.IMAP.Addr != "127.0.0.1:20143" || tg.POP3 == nil || tg.POP3.Addr != "127.0.0.1:20110" ||
		tg.Delivery == nil || tg.Delivery.Protocol != DeliverLMTP || tg.Delivery.Addr != "127.0.0.1:20024" ||
		tg.Submission != nil || tg.MetricsURL != "http://127.0.0.1:20900/metrics" {
		t.Errorf("got %+v", tg)
	}
	for _, name := range Shipped() {
		s, err := Load(name, envOf(nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Retarget(tg); err != nil {
			t.Errorf("%s does not take the Dovecot target: %v", name, err)
		}
	}
	_, err = LoadTarget(path, envOf(map[string]string{"IMAP_ADDR": "127.0.0.1:1"}))
	if err == nil || !strings.Contains(err.Error(), "POP3_ADDR is not set") {
		t.Errorf("without the env: %v", err)
	}
}

func TestRetarget(t *testing.T) {
	mixed := strings.Replace(minimal, "devices: [pc-imap]", "devices: [pc-imap, pc-pop3]", 1)
	s, err := Parse("s.yaml", []byte(mixed), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	imap := &transport.Endpoint{Addr: "127.0.0.1:143", TLS: transport.TLSNone}
	pop3 := &transport.Endpoint{Addr: "127.0.0.1:110", TLS: transport.TLSNone}
	lmtp := &Delivery{Protocol: DeliverLMTP, Addr: "127.0.0.1:24", TLS: transport.TLSNone}
	tests := []struct {
		name    string
		target  *Target
		missing []string // the target.* paths reported missing; nil: ok
	}{
		{"complete", &Target{IMAP: imap, POP3: pop3, Delivery: lmtp}, nil},
		{"no pop3", &Target{IMAP: imap, Delivery: lmtp}, []string{"target.pop3"}},
		{"no delivery", &Target{IMAP: imap, POP3: pop3}, []string{"target.delivery"}},
		{"only metrics", &Target{MetricsURL: "http://127.0.0.1:1/metrics"},
			[]string{"target.imap", "target.pop3", "target.delivery"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Retarget(tt.target)
			if tt.missing == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got == s || got.Target == tt.target || got.Target.IMAP == tt.target.IMAP {
					t.Error("Retarget shares the scenario or the target instead of copying")
				}
				if *got.Target.POP3 != *pop3 || got.Target.Domain != DefaultDomain || got.Name != s.Name || len(got.Groups) != len(s.Groups) {
					t.Errorf("copy: %+v", got)
				}
				if s.Target != nil {
					t.Error("Retarget changed the original scenario")
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, p := range tt.missing {
				if !strings.Contains(err.Error(), p+": missing") {
					t.Errorf("error lacks %s: %v", p, err)
				}
			}
			if n := strings.Count(err.Error(), ": missing"); n != len(tt.missing) {
				t.Errorf("%d problems, want %d: %v", n, len(tt.missing), err)
			}
		})
	}
	if _, err := s.Retarget(nil); err == nil {
		t.Error("Retarget(nil) succeeded")
	}
	limited := *s
	limited.Server.MaxCommandsPerSecond = 100
	if _, err := limited.Retarget(&Target{IMAP: imap, POP3: pop3, Delivery: lmtp}); err == nil || !strings.Contains(err.Error(), "server:") {
		t.Errorf("Retarget of a scenario with server: = %v, want an error naming server:", err)
	}

	imapOnly, err := Parse("s.yaml", []byte(minimal), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imapOnly.Retarget(&Target{IMAP: imap, Delivery: lmtp}); err != nil {
		t.Errorf("an IMAP-only scenario needs no POP3: %v", err)
	}
	if _, err := imapOnly.Retarget(&Target{Delivery: &Delivery{Protocol: DeliverIMAPAppend}}); err == nil ||
		!strings.Contains(err.Error(), "target.imap: missing") {
		t.Errorf("imap-append delivery without IMAP: %v", err)
	}
}
