package clients

import (
	"strings"
	"testing"
	"time"

	"github.com/mailsim/mailsim/scenarios"
)

func TestCheckProfile(t *testing.T) {
	tests := []struct {
		name string
		p    *scenarios.DeviceProfile
		want []string // substrings of the error; none means valid
	}{
		{"pc pop3", &scenarios.DeviceProfile{Name: "p", Kind: scenarios.KindPC, Protocol: scenarios.POP3}, nil},
		{"defaults of every imap kind", &scenarios.DeviceProfile{Name: "p", Kind: scenarios.KindWebmail, Protocol: scenarios.IMAP}, nil},
		{"applemail", &scenarios.DeviceProfile{Name: "applemail", Kind: scenarios.KindPC, Protocol: scenarios.IMAP,
			FetchNew:  "INTERNALDATE UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (date subject from message-id)] MODSEQ",
			FetchOpen: "BODYSTRUCTURE BODY.PEEK[]"}, nil},
		{"nil", nil, []string{"no device profile"}},
		{"bad fetch_new", &scenarios.DeviceProfile{Name: "x", Kind: scenarios.KindPC, Protocol: scenarios.IMAP, FetchNew: "UID X-GM-LABELS"},
			[]string{`profile "x"`, "fetch_new", `unknown item "X-GM-LABELS"`}},
		{"bad fetch_open and fetch_new", &scenarios.DeviceProfile{Name: "x", Kind: scenarios.KindPhone, Protocol: scenarios.IMAP, FetchNew: "BODY[NOPE]", FetchOpen: "BODY[]<1>"},
			[]string{"fetch_new", "fetch_open"}},
		{"fetch items of pop3 are not imap's business", &scenarios.DeviceProfile{Name: "x", Kind: scenarios.KindPC, Protocol: scenarios.POP3, FetchNew: "BOGUS"}, nil},
		{"webmail pop3", &scenarios.DeviceProfile{Name: "w", Kind: scenarios.KindWebmail, Protocol: scenarios.POP3}, []string{"webmail speaks imap"}},
		{"unknown kind and protocol", &scenarios.DeviceProfile{Name: "t", Kind: "tablet", Protocol: "jmap"}, []string{`unknown kind "tablet"`, `unknown protocol "jmap"`}},
		{"negative interval", &scenarios.DeviceProfile{Name: "n", Kind: scenarios.KindPC, Protocol: scenarios.IMAP, StatusInterval: -time.Second}, []string{"negative interval"}},
		{"negative counts", &scenarios.DeviceProfile{Name: "n", Kind: scenarios.KindPhone, Protocol: scenarios.IMAP, Connections: -1, Window: -2, PageSize: -3},
			[]string{"negative connections -1", "negative window -2", "negative page_size -3"}},
		{"negative shaping", &scenarios.DeviceProfile{Name: "n", Kind: scenarios.KindPhone, Protocol: scenarios.POP3, Network: scenarios.Network{Latency: -1}}, []string{"negative network shaping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckProfile(tt.p)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckProfile: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckProfile: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestNewChecksProfile checks that New refuses what CheckProfile refuses,
// naming the device.
func TestNewChecksProfile(t *testing.T) {
	o := validOptions()
	o.Profile = &scenarios.DeviceProfile{Name: "x", Kind: scenarios.KindPC, Protocol: scenarios.IMAP, FetchOpen: "BODY[]<0.0>"}
	_, err := New(o)
	if err == nil || !strings.Contains(err.Error(), "device u1/pc-pop3") || !strings.Contains(err.Error(), "fetch_open") {
		t.Fatalf("New: %v, want the device and fetch_open named", err)
	}
	if cerr := CheckProfile(o.Profile); cerr == nil || !strings.Contains(err.Error(), cerr.Error()) {
		t.Errorf("New's error %q does not carry CheckProfile's %v", err, cerr)
	}
}
