package scenarios

import (
	"sort"
	"time"
)

// Defaults of a scenario's top-level settings.
const (
	DefaultSeed     = 1
	DefaultDuration = time.Minute
	DefaultSettle   = 10 * time.Second
	DefaultAudit    = 2 * time.Second
	DefaultDomain   = "example.com"
	// DefaultUsername is the username pattern when users.username and
	// users.file are both omitted.
	DefaultUsername = "user{n}"
	// DefaultPassword is the password when users.password is omitted and
	// $MAILSIM_PASSWORD is unset (the embedded server's default too).
	DefaultPassword = "pass"
	// MaxUsers caps users.count and the --users override.
	MaxUsers = 10_000_000
)

// Fetch items of the built-in device profiles (docs/scenarios.md, "Where the built-in profiles come from").
const (
	// FetchNewThunderbird is Thunderbird's header fetch for new mail.
	FetchNewThunderbird = "UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To Received)]"
	// FetchNewK9 is Thunderbird for Android's (K-9's) header fetch.
	FetchNewK9 = "UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (date subject from content-type to cc bcc reply-to message-id references in-reply-to)]"
	// FetchNewRoundcube is Roundcube's message-list fetch.
	FetchNewRoundcube = "UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT CONTENT-TYPE CC REPLY-TO LIST-POST DISPOSITION-NOTIFICATION-TO X-PRIORITY)]"
	// FetchOpenDefault is what every built-in profile fetches to open a
	// message.
	FetchOpenDefault = "BODY.PEEK[]"
)

// builtinProfiles are the device profiles every scenario knows without
// defining them, by name.
var builtinProfiles = map[string]struct {
	kind  Kind
	proto Protocol
}{
	"pc-pop3":    {KindPC, POP3},
	"pc-imap":    {KindPC, IMAP},
	"phone-imap": {KindPhone, IMAP},
	"phone-pop3": {KindPhone, POP3},
	"webmail":    {KindWebmail, IMAP},
}

// BuiltinProfiles returns the names of the built-in device profiles, sorted.
func BuiltinProfiles() []string {
	names := make([]string, 0, len(builtinProfiles))
	for n := range builtinProfiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// defaultProfile returns the default settings of a device of kind and
// protocol (docs/scenarios.md, "Where the built-in profiles come from").
func defaultProfile(name string, kind Kind, proto Protocol) *DeviceProfile {
	p := &DeviceProfile{Name: name, Kind: kind, Protocol: proto}
	if proto == POP3 {
		p.PollInterval = 10 * time.Minute
		if kind == KindPhone {
			p.PollInterval = 15 * time.Minute
		}
		p.LeaveOnServer = true
		p.DeleteAfter = 14 * 24 * time.Hour
		p.DeleteWhenDeletedLocally = true
		return p
	}
	p.FetchOpen = FetchOpenDefault
	switch kind {
	case KindPC:
		p.Connections = 2
		p.Idle = true
		p.PollInterval = 10 * time.Minute
		p.FetchNew = FetchNewThunderbird
		p.FetchImmediate = true
	case KindPhone:
		p.Connections = 1
		p.PollInterval = 15 * time.Minute
		p.Window = 100
		p.FetchNew = FetchNewK9
	case KindWebmail:
		p.Connections = 1
		p.FetchNew = FetchNewRoundcube
		p.Refresh = 60 * time.Second
		p.PageSize = 50
	}
	return p
}

// defaultBehavior returns a behavior with every default applied: nothing
// happens until the scenario says so, except the message sizes (2KiB to
// 100KiB), the share of internal mail (50%) and the folder mail is filed
// into (Archive).
func defaultBehavior(name string) *Behavior {
	r := Range{Min: 2 << 10, Max: 100 << 10}
	return &Behavior{
		Name:    name,
		Inbound: Inbound{Size: r},
		Spam:    Inbound{Size: r},
		Send:    Send{Internal: 0.5},
		Folders: []string{"Archive"},
	}
}

// defaultHand is how likely each device kind is in hand.
func defaultHand() map[Kind]float64 {
	return map[Kind]float64{KindPC: 0.6, KindPhone: 0.3, KindWebmail: 0.1}
}
