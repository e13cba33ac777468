package clients

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

func TestCheckProfile(t *testing.T) {
	tests := []struct {
		name string
		p    *Profile
		want []string // substrings of the error; none means valid
	}{
		{"pc pop3", &Profile{Name: "p", Kind: KindPC, Protocol: POP3}, nil},
		{"defaults of every imap kind", &Profile{Name: "p", Kind: KindWebmail, Protocol: IMAP}, nil},
		{"applemail", &Profile{Name: "applemail", Kind: KindPC, Protocol: IMAP,
			FetchNew:  "INTERNALDATE UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (date subject from message-id)] MODSEQ",
			FetchOpen: "BODYSTRUCTURE BODY.PEEK[]"}, nil},
		{"nil", nil, []string{"no device profile"}},
		{"bad fetch_new", &Profile{Name: "x", Kind: KindPC, Protocol: IMAP, FetchNew: "UID X-GM-LABELS"},
			[]string{`profile "x"`, "fetch_new", `unknown item "X-GM-LABELS"`}},
		{"bad fetch_open and fetch_new", &Profile{Name: "x", Kind: KindPhone, Protocol: IMAP, FetchNew: "BODY[NOPE]", FetchOpen: "BODY[]<1>"},
			[]string{"fetch_new", "fetch_open"}},
		{"fetch items of pop3 are not imap's business", &Profile{Name: "x", Kind: KindPC, Protocol: POP3, FetchNew: "BOGUS"}, nil},
		{"webmail pop3", &Profile{Name: "w", Kind: KindWebmail, Protocol: POP3}, []string{"webmail speaks imap"}},
		{"unknown kind and protocol", &Profile{Name: "t", Kind: "tablet", Protocol: "jmap"}, []string{`unknown kind "tablet"`, `unknown protocol "jmap"`}},
		{"negative interval", &Profile{Name: "n", Kind: KindPC, Protocol: IMAP, StatusInterval: -time.Second}, []string{"negative interval"}},
		{"negative counts", &Profile{Name: "n", Kind: KindPhone, Protocol: IMAP, Connections: -1, Window: -2, PageSize: -3},
			[]string{"negative connections -1", "negative window -2", "negative page_size -3"}},
		{"negative shaping", &Profile{Name: "n", Kind: KindPhone, Protocol: POP3, Network: transport.Network{Latency: -1}}, []string{"negative network shaping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkProfile(tt.p)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("checkProfile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("checkProfile: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestNewChecksProfile checks that New refuses what checkProfile refuses,
// naming the device.
func TestNewChecksProfile(t *testing.T) {
	o := validOptions()
	o.Profile = &Profile{Name: "x", Kind: KindPC, Protocol: IMAP, FetchOpen: "BODY[]<0.0>"}
	_, err := New(o)
	if err == nil || !strings.Contains(err.Error(), "device u1/pc-pop3") || !strings.Contains(err.Error(), "fetch_open") {
		t.Fatalf("New: %v, want the device and fetch_open named", err)
	}
	if cerr := checkProfile(o.Profile); cerr == nil || !strings.Contains(err.Error(), cerr.Error()) {
		t.Errorf("New's error %q does not carry checkProfile's %v", err, cerr)
	}
}

// TestValidateNamesTheField: every problem of Profile.Validate names the
// setting at fault, so that a scenario can point at its line.
func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		p      Profile
		fields []string // the FieldError fields, in order
	}{
		{"valid", Profile{Kind: KindPC, Protocol: IMAP}, nil},
		{"fetch items", Profile{Kind: KindPC, Protocol: IMAP, FetchNew: "UID X-GM-LABELS", FetchOpen: "BODY[]<1>"}, []string{"fetch_new", "fetch_open"}},
		{"unbalanced brackets", Profile{Kind: KindPhone, Protocol: IMAP, FetchNew: "BODY.PEEK[HEADER"}, []string{"fetch_new"}},
		{"kind and protocol", Profile{Kind: "tablet", Protocol: "jmap"}, []string{"", ""}},
		{"intervals and counts", Profile{Kind: KindWebmail, Protocol: IMAP, Refresh: -1, StatusInterval: -1, Connections: -1, Window: -1, PageSize: -1},
			[]string{"status_interval", "refresh", "connections", "window", "page_size"}},
		{"pop3", Profile{Kind: KindPhone, Protocol: POP3, DeleteAfter: -1, Network: transport.Network{Bandwidth: -1}}, []string{"delete_after", "network"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.p.Validate()
			var fields []string
			for _, err := range errs {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("%v is not a *FieldError", err)
				}
				fields = append(fields, fe.Field)
			}
			if !slices.Equal(fields, tt.fields) {
				t.Errorf("fields %q, want %q (errors %v)", fields, tt.fields, errs)
			}
		})
	}
}

// TestBuiltinProfilesAreValid: every built-in profile passes Validate and
// has the kind and protocol its name says.
func TestBuiltinProfilesAreValid(t *testing.T) {
	names := BuiltinNames()
	if len(names) != 5 {
		t.Fatalf("built-in profiles %q, want 5", names)
	}
	for _, name := range names {
		p, ok := Builtin(name)
		if !ok {
			t.Fatalf("Builtin(%q) not found", name)
		}
		if errs := p.Validate(); len(errs) > 0 {
			t.Errorf("%s: %v", name, errs)
		}
		if !strings.HasPrefix(name, string(p.Kind)) || (p.Kind != KindWebmail && !strings.HasSuffix(name, string(p.Protocol))) {
			t.Errorf("%s is %s/%s", name, p.Kind, p.Protocol)
		}
	}
	if _, ok := Builtin("tablet"); ok {
		t.Error("Builtin(tablet) found")
	}
}

// TestLongLivedConnections: what the plan counts is what the devices open.
func TestLongLivedConnections(t *testing.T) {
	tests := []struct {
		p    Profile
		want int
	}{
		{Profile{Kind: KindPC, Protocol: IMAP}, 2},
		{Profile{Kind: KindPC, Protocol: IMAP, Connections: 1}, 1},
		{Profile{Kind: KindPC, Protocol: IMAP, Connections: 5}, 2},
		{Profile{Kind: KindPhone, Protocol: IMAP, Connections: 3}, 1},
		{Profile{Kind: KindWebmail, Protocol: IMAP, Connections: 1}, 0},
		{Profile{Kind: KindPC, Protocol: POP3}, 0},
	}
	for _, tt := range tests {
		if got := tt.p.LongLivedConnections(); got != tt.want {
			t.Errorf("%s/%s connections %d: %d, want %d", tt.p.Kind, tt.p.Protocol, tt.p.Connections, got, tt.want)
		}
		if tt.p.Protocol != IMAP || tt.p.Kind == KindWebmail {
			continue
		}
		o := validOptions()
		p := tt.p
		p.Name = "x"
		o.Profile = &p
		d, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(d.(*imapDevice).slots); n != tt.want {
			t.Errorf("%s connections %d: the device keeps %d, LongLivedConnections says %d", p.Kind, p.Connections, n, tt.want)
		}
	}
}
