package clients

import (
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

func validOptions() Options {
	return Options{
		ID:       "u1/pc-pop3",
		Profile:  &Profile{Name: "pc-pop3", Kind: KindPC, Protocol: POP3},
		Username: "u1", Password: "pw", Address: "u1@example.com",
		POP3:  transport.Endpoint{Addr: "127.0.0.1:1110"},
		IMAP:  transport.Endpoint{Addr: "127.0.0.1:1143"},
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
		{"no pop3 address", func(o *Options) { o.POP3.Addr = "" }, "no pop3 server address"},
		{"bad tls", func(o *Options) { o.POP3.TLS = "tls" }, `unknown tls mode "tls"`},
		{"webmail pop3", func(o *Options) { o.Profile.Kind = KindWebmail }, "webmail speaks imap"},
		{"unknown kind", func(o *Options) { o.Profile.Kind = "tablet" }, `unknown kind "tablet"`},
		{"unknown protocol", func(o *Options) { o.Profile.Protocol = "jmap" }, `unknown protocol "jmap"`},
		{"negative poll", func(o *Options) { o.Profile.PollInterval = -time.Second }, "negative interval"},
		{"negative timeout", func(o *Options) { o.Timeout = -1 }, "negative"},
		{"imap without address", func(o *Options) { o.Profile.Protocol = IMAP; o.IMAP.Addr = "" }, "no imap server address"},
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
	for _, kind := range []Kind{KindPC, KindPhone} {
		o := validOptions()
		o.Profile = &Profile{Name: "x", Kind: kind, Protocol: POP3}
		d, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		pd, ok := d.(*pop3Device)
		if !ok {
			t.Fatalf("%s/pop3: got %T", kind, d)
		}
		want := DefaultPCPoll
		if kind == KindPhone {
			want = DefaultPhonePoll
		}
		if pd.poll != want || d.ID() != o.ID || d.Profile() != o.Profile {
			t.Errorf("%s/pop3: poll %v ID %s", kind, pd.poll, d.ID())
		}
	}
	for _, kind := range []Kind{KindPC, KindPhone, KindWebmail} {
		o := validOptions()
		o.Profile = &Profile{Name: "x", Kind: kind, Protocol: IMAP}
		d, err := New(o)
		if err == nil {
			if _, isPOP3 := d.(*pop3Device); isPOP3 {
				t.Errorf("%s/imap built a POP3 device", kind)
			}
		}
	}
}

// TestNewWithoutClock: a program builds a device from a built-in profile
// without a scenario clock; the device then runs on wall-clock time.
func TestNewWithoutClock(t *testing.T) {
	for _, name := range []string{"pc-pop3", "phone-pop3"} {
		p, ok := Builtin(name)
		if !ok {
			t.Fatalf("no built-in profile %s", name)
		}
		o := validOptions()
		o.Profile, o.Clock = p, nil
		d, err := New(o)
		if err != nil {
			t.Fatalf("%s: New without a clock: %v", name, err)
		}
		pd := d.(*pop3Device)
		if pd.o.Clock == nil || pd.o.Clock.Scale() != 1 {
			t.Errorf("%s: clock %v, want wall-clock time (scale 1)", name, pd.o.Clock)
		}
		if pd.poll != p.PollInterval {
			t.Errorf("%s: poll %v, want the profile's %v", name, pd.poll, p.PollInterval)
		}
	}
}
