package scenarios

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// A target file points a scenario at another server without editing it
// ("mailsim run NAME --target FILE"). It is a YAML document with one key,
// target:, holding a block exactly as in a scenario:
//
//	target:
//	  imap:     {addr: "${IMAP_ADDR}", tls: none}
//	  pop3:     {addr: "${POP3_ADDR}", tls: none}
//	  delivery: {protocol: lmtp, addr: "${LMTP_ADDR}"}
//	  metrics_url: "${METRICS_URL}"

// targetFileDoc is a target file's document.
type targetFileDoc struct {
	Target block[targetDoc] `yaml:"target" what:"target"`
}

// LoadTarget reads a target file. env looks up ${VAR}s; nil means
// os.LookupEnv. Problems in the file come back as Errors, each with its
// file:line:col, decoded by the same rules as a scenario's target: block.
// Whether the target serves a given scenario is Retarget's check.
func LoadTarget(path string, env func(string) (string, bool)) (*Target, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("target file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("target file %s: not a regular file", path)
	}
	if fi.Size() > MaxSourceSize {
		return nil, fmt.Errorf("target file %s: larger than %d bytes", path, MaxSourceSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("target file: %w", err)
	}
	return ParseTarget(path, data, env)
}

// ParseTarget decodes a target file's content; source names it in errors.
// env looks up ${VAR}s; nil means os.LookupEnv. Every problem found comes
// back at once as Errors.
func ParseTarget(source string, data []byte, env func(string) (string, bool)) (*Target, error) {
	d, doc := decodeDocument(source, data, env, "target file", "empty target file: want \"target: {imap: ..., delivery: ...}\"")
	if doc == nil {
		return nil, d.errs
	}
	var tf targetFileDoc
	root, ok := d.decode(doc, "a target file", "a target file must be a mapping with one key, target:", &tf)
	if !ok {
		return nil, d.finish()
	}
	if !tf.Target.given() {
		if len(d.errs) == 0 {
			d.errorf(root, "target", "missing: want \"target: {imap: {addr: HOST:PORT}, delivery: {protocol: lmtp, addr: HOST:PORT}}\"")
		}
		return nil, d.finish()
	}
	t := d.target(&tf.Target)
	d.validated(prefixed("target", t.Validate()))
	if len(d.errs) == 0 && t.IMAP == nil && t.POP3 == nil && t.Submission == nil && t.Delivery == nil {
		d.errorf(tf.Target.n, "target", "names no server: give at least one of imap, pop3, delivery")
	}
	if len(d.errs) > 0 {
		return nil, d.finish()
	}
	return t, nil
}

// Retarget returns a copy of the scenario that runs against t instead of
// its own target (or the embedded server), after checking that t names a
// server for everything the scenario needs, by the rules a scenario's own
// target: block is checked with: IMAP when a group has IMAP devices (or
// delivery is imap-append without an address), POP3 when a group has POP3
// devices, and always a delivery path. The scenario is not changed; the
// copy shares its read-only groups, behaviors and devices.
func (s *Scenario) Retarget(t *Target) (*Scenario, error) {
	if t == nil {
		return nil, errors.New("retarget: no target")
	}
	if s.Server != (ServerSettings{}) {
		return nil, errors.New("the scenario's server: block configures the embedded server, which a target replaces; remove it to run against a target")
	}
	tc := cloneTarget(t)
	c := *s
	c.Target = tc
	if errs := c.validateTarget(); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, err := range errs {
			msgs[i] = err.Error()
		}
		return nil, fmt.Errorf("the target does not serve scenario %s:\n%s", s.Name, strings.Join(msgs, "\n"))
	}
	return &c, nil
}

// cloneTarget copies t and the endpoints it points to.
func cloneTarget(t *Target) *Target {
	c := *t
	if t.IMAP != nil {
		v := *t.IMAP
		c.IMAP = &v
	}
	if t.POP3 != nil {
		v := *t.POP3
		c.POP3 = &v
	}
	if t.Submission != nil {
		v := *t.Submission
		c.Submission = &v
	}
	if t.Delivery != nil {
		v := *t.Delivery
		c.Delivery = &v
	}
	if t.Resources != nil {
		v := *t.Resources
		c.Resources = &v
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	c.resolveDelivery()
	return &c
}

// resolveDelivery points an imap-append delivery without an address at the
// IMAP endpoint (its address and TLS mode), as docs/scenarios.md promises.
// Without an IMAP endpoint the address stays empty, which checkTarget
// reports.
func (t *Target) resolveDelivery() {
	if t.Delivery != nil && t.Delivery.Protocol == DeliverIMAPAppend && t.Delivery.Addr == "" && t.IMAP != nil {
		t.Delivery.Addr = t.IMAP.Addr
		t.Delivery.TLS = t.IMAP.TLS
	}
}
