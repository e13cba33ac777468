package clients

import (
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

func validOptions() Options {
	return Options{
		ID:       "u1/pc-pop3",
		Profile:  &scenarios.DeviceProfile{Name: "pc-pop3", Kind: scenarios.KindPC, Protocol: scenarios.POP3},
		Username: "u1", Password: "pw", Address: "u1@example.com",
		POP3:  scenarios.Endpoint{Addr: "127.0.0.1:1110"},
		IMAP:  scenarios.Endpoint{Addr: "127.0.0.1:1143"},
		Clock: c2Clock(),
	}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string // "" means valid
	}{
		{"valid pop3", func(*Options) {}, ""},
		{"no ID", func(o *Options) { o.ID = "" }, "ID is required"},
		{"no profile", func(o *Options) { o.Profile = nil }, "Profile is required"},
		{"no username", func(o *Options) { o.Username = "" }, "Username is required"},
		{"no password", func(o *Options) { o.Password = "" }, "Password is required"},
		{"no address", func(o *Options) { o.Address = "" }, "Address is required"},
		{"no clock", func(o *Options) { o.Clock = nil }, "Clock is required"},
		{"no pop3 address", func(o *Options) { o.POP3.Addr = "" }, "no pop3 server address"},
		{"bad tls", func(o *Options) { o.POP3.TLS = "tls" }, `unknown tls mode "tls"`},
		{"webmail pop3", func(o *Options) { o.Profile.Kind = scenarios.KindWebmail }, "webmail speaks imap"},
		{"unknown kind", func(o *Options) { o.Profile.Kind = "tablet" }, `unknown kind "tablet"`},
		{"unknown protocol", func(o *Options) { o.Profile.Protocol = "jmap" }, `unknown protocol "jmap"`},
		{"negative poll", func(o *Options) { o.Profile.PollInterval = -time.Second }, "negative interval"},
		{"negative timeout", func(o *Options) { o.Timeout = -1 }, "negative"},
		{"imap without address", func(o *Options) { o.Profile.Protocol = scenarios.IMAP; o.IMAP.Addr = "" }, "no imap server address"},
		{"several", func(o *Options) { o.Username, o.Address = "", "" }, "Address is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := validOptions()
			p := *o.Profile
			o.Profile = &p
			tc.mod(&o)
			d, err := New(o)
			if tc.want == "" {
				if err != nil || d == nil {
					t.Fatalf("New = %v, %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNewDispatches(t *testing.T) {
	for _, kind := range []scenarios.Kind{scenarios.KindPC, scenarios.KindPhone} {
		o := validOptions()
		o.Profile = &scenarios.DeviceProfile{Name: "x", Kind: kind, Protocol: scenarios.POP3}
		d, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		pd, ok := d.(*pop3Device)
		if !ok {
			t.Fatalf("%s/pop3: got %T", kind, d)
		}
		want := DefaultPCPOP3Poll
		if kind == scenarios.KindPhone {
			want = DefaultPhonePOP3Poll
		}
		if pd.poll != want || d.ID() != o.ID || d.Profile() != o.Profile {
			t.Errorf("%s/pop3: poll %v ID %s", kind, pd.poll, d.ID())
		}
	}
	for _, kind := range []scenarios.Kind{scenarios.KindPC, scenarios.KindPhone, scenarios.KindWebmail} {
		o := validOptions()
		o.Profile = &scenarios.DeviceProfile{Name: "x", Kind: kind, Protocol: scenarios.IMAP}
		d, err := New(o)
		if err == nil {
			if _, isPOP3 := d.(*pop3Device); isPOP3 {
				t.Errorf("%s/imap built a POP3 device", kind)
			}
		}
	}
}
