package scenarios

import (
	"strings"
	"testing"
)

func TestParseSeries(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "process_cpu_seconds_total", want: "process_cpu_seconds_total"},
		{in: ` node_cpu_seconds_total{mode!="idle", mode != "iowait"} `, want: `node_cpu_seconds_total{mode!="idle",mode!="iowait"}`},
		{in: `namedprocess_namegroup_memory_bytes{groupname="dovecot",memtype="resident"}`,
			want: `namedprocess_namegroup_memory_bytes{groupname="dovecot",memtype="resident"}`},
		{in: `x{}`, want: "x"},
		{in: "", err: "want a metric name"},
		{in: "1abc", err: "want a metric name"},
		{in: `x{mode="idle"`, err: "no closing }"},
		{in: `x{mode=idle}`, err: "double quotes"},
		{in: `x{mode="idle}`, err: "unterminated"},
		{in: `x{mode~"idle"}`, err: "want label="},
		{in: `x{a="1" b="2"}`, err: "want , between"},
		{in: `x{"a"="1"}`, err: "bad label name"},
		{in: `x{a="1",b="1",c="1",d="1",e="1",f="1",g="1",h="1",i="1"}`, err: "more than 8"},
	}
	for _, tt := range tests {
		got, err := ParseSeries(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSeries(%q) = %v, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseSeries(%q) = %q, %v; want %q", tt.in, got.String(), err, tt.want)
		}
		if again, err := ParseSeries(got.String()); err != nil || again.String() != got.String() {
			t.Errorf("ParseSeries(%q) does not read its own String back: %q, %v", got.String(), again.String(), err)
		}
	}
}

func TestParseTargetResources(t *testing.T) {
	src := `target:
  imap: 127.0.0.1:143
  delivery: {protocol: lmtp, addr: 127.0.0.1:24}
  metrics_url: http://127.0.0.1:9900/metrics
  resources:
    url: http://127.0.0.1:9100/metrics
    cpu_seconds: 'node_cpu_seconds_total{mode!="idle"}'
    memory_bytes: process_resident_memory_bytes
`
	tg, err := ParseTarget("t.yaml", []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := tg.Resources
	if r == nil || r.URL != "http://127.0.0.1:9100/metrics" || r.CPUSeconds == nil ||
		r.CPUSeconds.String() != `node_cpu_seconds_total{mode!="idle"}` || r.MemoryBytes == nil ||
		r.MemoryBytes.Name != "process_resident_memory_bytes" || len(r.MemoryBytes.Matchers) != 0 {
		t.Fatalf("resources %+v", r)
	}
	if c := cloneTarget(tg); c.Resources == r || *c.Resources != *r {
		t.Errorf("cloneTarget: resources %p %+v, want a copy of %p %+v", c.Resources, c.Resources, r, r)
	}

	for _, tt := range []struct{ name, block, want string }{
		{"bad url", "resources: {url: ftp://x/metrics}", `target.resources.url: bad URL "ftp://x/metrics"`},
		{"bad series", `resources: {cpu_seconds: "cpu{mode=idle}"}`, "target.resources.cpu_seconds: bad series"},
		{"unknown key", "resources: {cpu: x}", `target.resources.cpu: unknown key "cpu" in target.resources; valid keys: cpu_seconds, memory_bytes, url`},
		{"not a mapping", "resources: [x]", "target.resources: target.resources must be a mapping"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "target:\n  imap: 127.0.0.1:143\n  delivery: {protocol: lmtp, addr: 127.0.0.1:24}\n  " + tt.block + "\n"
			_, err := ParseTarget("t.yaml", []byte(src), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}
