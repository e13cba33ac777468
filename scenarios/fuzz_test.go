package scenarios

import (
	"io/fs"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics or hangs, and that whatever it
// accepts can be planned.
func FuzzParse(f *testing.F) {
	entries, _ := fs.ReadDir(shipped, ".")
	for _, e := range entries {
		data, err := shipped.ReadFile(e.Name())
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimal))
	f.Add([]byte(minimal + "devices:\n  pc-pop3: {idle: true}\nthresholds: [\"p99(imap.UID FETCH) < 5ms\", \"x <\"]\n"))
	f.Add([]byte("version: 1\nusers: {count: 10000000}\ngroups: [{name: g, devices: [pc-imap]}]\nbehaviors: {b: {}}\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b, *b]\n"))
	f.Add([]byte("version: 1\nusers: {count: 2, password: \"${X:-y}\", username: \"u{n:04}\"}\ngroups: [{name: g, share: 100%, devices: [webmail]}]\nbehaviors: {b: &x {action_delay: 1s}, c: {<<: *x}}\n"))
	f.Add([]byte("version: 1\ntarget: {imap: \"127.0.0.1:1\", delivery: {protocol: imap-append}}\n"))
	f.Add([]byte("version: 1\nbehaviors: {b: &a {<<: [*a, *a]}}\ndevices: {d: {kind: pc, <<: 5, window: 1, window: 2}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data, envOf(map[string]string{"X": "1"}))
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			for _, e := range err.(Errors) {
				if e.Msg == "" || !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
					t.Fatalf("bad error %q", e)
				}
			}
			return
		}
		if s.Users.Count > 10_000 {
			return // valid, but too big to plan quickly in a fuzz loop
		}
		p, err := NewPlan(s, PlanOptions{})
		if err != nil {
			t.Fatalf("valid scenario does not plan: %v", err)
		}
		if len(p.Users) != s.Users.Count {
			t.Fatalf("%d users planned, want %d", len(p.Users), s.Users.Count)
		}
		var b strings.Builder
		if err := p.Write(&b); err != nil {
			t.Fatal(err)
		}
	})
}
