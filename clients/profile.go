package clients

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/mailsim/mailsim/internal/transport"
)

// Kind is the kind of a device.
type Kind string

// The device kinds.
const (
	KindPC      Kind = "pc"
	KindPhone   Kind = "phone"
	KindWebmail Kind = "webmail"
)

// Protocol is a mail access protocol of a device.
type Protocol string

// The access protocols of devices.
const (
	IMAP Protocol = "imap"
	POP3 Protocol = "pop3"
)

// Profile is a device kind × protocol with its settings: what New needs to
// know about a device besides its user and server. DefaultProfile gives
// the documented defaults; a zero setting that Validate accepts takes the
// default of its kind where the device needs one (a phone's window, a
// webmail's page size, the intervals). Settings that do not apply to the
// profile's protocol or kind are ignored.
type Profile struct {
	// Name names the profile in errors and reports.
	Name     string
	Kind     Kind
	Protocol Protocol

	// PollInterval is the simulated time between checks for new mail
	// (POP3, and IMAP without IDLE). Defaults: pc 10m, phone 15m.
	PollInterval time.Duration
	// LoginInterval, if set, makes the device log out and back in this
	// often (imaptest login_interval).
	LoginInterval time.Duration

	// POP3 only.
	LeaveOnServer            bool          // default true
	DeleteAfter              time.Duration // 0 = never; default 14d
	DeleteWhenDeletedLocally bool          // default true

	// IMAP only.
	Connections int    // long-lived connections; default pc 2, phone and webmail 1
	Idle        bool   // default pc true, phone false
	FetchNew    string // fetch items for new mail; default per kind (FetchNewThunderbird, FetchNewK9, FetchNewRoundcube)
	FetchOpen   string // fetch items when a message is opened; default FetchOpenDefault
	// FetchImmediate fetches bodies of new mail at once (imaptest
	// imap_fetch_immediate); default pc true, phone false.
	FetchImmediate bool
	Window         int // phone sync window, newest N; default 100 for phones, 0 (all) otherwise
	// IMAPClient is the IMAP client library the device speaks through:
	// IMAPClientLean (internal/leanimap, the default when "";
	// docs/performance.md) or IMAPClientGoIMAP (go-imap's client).
	IMAPClient string
	// StatusInterval is how often a PC checks its other folders with
	// STATUS and syncs those that changed (imaptest imap_status_interval;
	// Thunderbird autosync). 0 = the default, 10m. Phones and webmail
	// look at their other folders at each poll or page load.
	StatusInterval time.Duration

	// Webmail only.
	Refresh  time.Duration // default 60s
	PageSize int           // default 50

	Network transport.Network
}

// The IMAP clients a Profile can choose (Profile.IMAPClient).
const (
	IMAPClientGoIMAP = "goimap"
	IMAPClientLean   = "lean"
)

// IMAPClients are the values of Profile.IMAPClient.
var IMAPClients = []string{IMAPClientGoIMAP, IMAPClientLean}

// Defaults of the device profiles (docs/scenarios.md, "Where the built-in
// profiles come from").
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

	// DefaultPCPoll is a PC's poll interval, over IMAP and POP3.
	DefaultPCPoll = 10 * time.Minute
	// DefaultPhonePoll is a phone's poll interval, over IMAP and POP3.
	DefaultPhonePoll = 15 * time.Minute
	// DefaultDeleteAfter is how long a POP3 device leaves mail on the
	// server.
	DefaultDeleteAfter = 14 * 24 * time.Hour
	// DefaultPCConnections is the number of long-lived IMAP connections of
	// a PC, and the most it uses: one IDLEs on INBOX, one serves the other
	// folders and the actions.
	DefaultPCConnections = 2
	// DefaultPhoneWindow is a phone's IMAP sync window (newest N).
	DefaultPhoneWindow = 100
	// DefaultRefresh is a webmail's page reload interval.
	DefaultRefresh = 60 * time.Second
	// DefaultPageSize is a webmail's message-list page size.
	DefaultPageSize = 50
	// DefaultStatusInterval is a PC's STATUS check of its other folders
	// (Thunderbird autosync).
	DefaultStatusInterval = 10 * time.Minute
)

// DefaultProfile returns a profile of kind and protocol with every default
// applied (docs/scenarios.md, "Where the built-in profiles come from"). It
// does not check the combination; Validate does.
func DefaultProfile(name string, kind Kind, proto Protocol) *Profile {
	p := &Profile{Name: name, Kind: kind, Protocol: proto}
	if proto == POP3 {
		p.PollInterval = DefaultPCPoll
		if kind == KindPhone {
			p.PollInterval = DefaultPhonePoll
		}
		p.LeaveOnServer = true
		p.DeleteAfter = DefaultDeleteAfter
		p.DeleteWhenDeletedLocally = true
		return p
	}
	p.FetchOpen = FetchOpenDefault
	switch kind {
	case KindPC:
		p.Connections = DefaultPCConnections
		p.Idle = true
		p.PollInterval = DefaultPCPoll
		p.FetchNew = FetchNewThunderbird
		p.FetchImmediate = true
	case KindPhone:
		p.Connections = 1
		p.PollInterval = DefaultPhonePoll
		p.Window = DefaultPhoneWindow
		p.FetchNew = FetchNewK9
	case KindWebmail:
		p.Connections = 1
		p.FetchNew = FetchNewRoundcube
		p.Refresh = DefaultRefresh
		p.PageSize = DefaultPageSize
	}
	return p
}

// builtin are the kinds and protocols of the built-in profiles, by name.
var builtin = map[string]struct {
	kind  Kind
	proto Protocol
}{
	"pc-pop3":    {KindPC, POP3},
	"pc-imap":    {KindPC, IMAP},
	"phone-imap": {KindPhone, IMAP},
	"phone-pop3": {KindPhone, POP3},
	"webmail":    {KindWebmail, IMAP},
}

// Builtin returns the built-in profile of that name (pc-pop3, pc-imap,
// phone-imap, phone-pop3, webmail) with its defaults, or false.
func Builtin(name string) (*Profile, bool) {
	b, ok := builtin[name]
	if !ok {
		return nil, false
	}
	return DefaultProfile(name, b.kind, b.proto), true
}

// BuiltinNames returns the names of the built-in profiles, sorted.
func BuiltinNames() []string {
	names := make([]string, 0, len(builtin))
	for n := range builtin {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// FieldError is a problem with one setting of a profile.
type FieldError struct {
	// Field is the setting as a scenario spells it ("fetch_new",
	// "window", "network"); empty for the profile as a whole (kind and
	// protocol).
	Field string
	Err   error
}

// Error returns "field: problem", or the problem alone for the profile
// as a whole.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Err.Error()
	}
	return e.Field + ": " + e.Err.Error()
}

// Unwrap returns the problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Validate reports every problem of p as a *FieldError: an unknown kind or
// protocol or a combination that does not exist (webmail over POP3), a
// negative interval, count or network shaping, and, for IMAP, fetch_new
// and fetch_open item lists that do not parse (with the parser the device
// sends them with). A profile Validate accepts is one New accepts.
func (p *Profile) Validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Err: fmt.Errorf(format, args...)})
	}
	switch p.Kind {
	case KindPC, KindPhone, KindWebmail:
	default:
		bad("", "unknown kind %q", p.Kind)
	}
	switch p.Protocol {
	case IMAP:
		fn, fo := p.fetchItems()
		if _, err := parseFetchItems(fn); err != nil {
			bad("fetch_new", "%w", err)
		}
		if _, err := parseFetchItems(fo); err != nil {
			bad("fetch_open", "%w", err)
		}
		switch p.IMAPClient {
		case "", IMAPClientGoIMAP, IMAPClientLean:
		default:
			bad("imap_client", "unknown IMAP client %q (want %s or %s)", p.IMAPClient, IMAPClientGoIMAP, IMAPClientLean)
		}
	case POP3:
		if p.Kind == KindWebmail {
			bad("", "webmail speaks imap, not pop3")
		}
	default:
		bad("", "unknown protocol %q", p.Protocol)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"poll_interval", p.PollInterval}, {"delete_after", p.DeleteAfter}, {"login_interval", p.LoginInterval},
		{"status_interval", p.StatusInterval}, {"refresh", p.Refresh},
	} {
		if d.v < 0 {
			bad(d.field, "negative interval %s", d.v)
		}
	}
	if p.Connections < 0 {
		bad("connections", "negative connections %d", p.Connections)
	}
	if p.Window < 0 {
		bad("window", "negative window %d", p.Window)
	}
	if p.PageSize < 0 {
		bad("page_size", "negative page_size %d", p.PageSize)
	}
	if p.Network.Latency < 0 || p.Network.Bandwidth < 0 || p.Network.DisconnectEvery < 0 {
		bad("network", "negative network shaping")
	}
	return errs
}

// LongLivedConnections returns how many connections a device of p keeps
// open: a PC over IMAP its Connections (DefaultPCConnections when 0, and
// never more: more would sit unused), a phone over IMAP one; webmail and
// POP3 devices keep none, they log in for each check.
func (p *Profile) LongLivedConnections() int {
	if p.Protocol != IMAP {
		return 0
	}
	switch p.Kind {
	case KindPC:
		if p.Connections <= 0 || p.Connections > DefaultPCConnections {
			return DefaultPCConnections
		}
		return p.Connections
	case KindPhone:
		return 1
	}
	return 0
}

// pollEvery is p's poll interval or its kind's default (PC, phone; over
// IMAP and POP3 alike).
func (p *Profile) pollEvery() time.Duration {
	if p.PollInterval > 0 {
		return p.PollInterval
	}
	if p.Kind == KindPhone {
		return DefaultPhonePoll
	}
	return DefaultPCPoll
}

// refreshEvery is a webmail's page reload interval: p's refresh or the
// default.
func (p *Profile) refreshEvery() time.Duration {
	if p.Refresh > 0 {
		return p.Refresh
	}
	return DefaultRefresh
}

// statusEvery is how often a PC checks its other folders: p's
// status_interval or the default.
func (p *Profile) statusEvery() time.Duration {
	if p.StatusInterval > 0 {
		return p.StatusInterval
	}
	return DefaultStatusInterval
}

// checkProfile joins the problems Validate finds into one error naming the
// profile, nil for a valid one.
func checkProfile(p *Profile) error {
	if p == nil {
		return errors.New("clients: no device profile")
	}
	if errs := p.Validate(); len(errs) > 0 {
		return fmt.Errorf("profile %q: %w", p.Name, errors.Join(errs...))
	}
	return nil
}

// fetchItems returns the new-mail and open fetch items of an IMAP profile:
// its fetch_new and fetch_open, or the defaults of its kind.
func (p *Profile) fetchItems() (fetchNew, fetchOpen string) {
	fetchNew, fetchOpen = p.FetchNew, p.FetchOpen
	if fetchNew == "" {
		switch p.Kind {
		case KindPC:
			fetchNew = FetchNewThunderbird
		case KindPhone:
			fetchNew = FetchNewK9
		default:
			fetchNew = FetchNewRoundcube
		}
	}
	if fetchOpen == "" {
		fetchOpen = FetchOpenDefault
	}
	return fetchNew, fetchOpen
}

// imapFetchSpecs returns the parsed new-mail and open fetch items of an
// IMAP profile (Profile.fetchItems). The new-mail items always include UID
// and a source of the Message-ID.
func imapFetchSpecs(p *Profile) (fetchNew, fetchOpen *imap.FetchOptions, err error) {
	fn, fo := p.fetchItems()
	var errs []error
	fetchNew, err = parseFetchItems(fn)
	if err != nil {
		errs = append(errs, fmt.Errorf("fetch_new: %w", err))
	} else {
		// The view is keyed by Message-ID: make sure new-mail fetches return it.
		ensureMessageID(fetchNew)
		fetchNew.UID = true
	}
	fetchOpen, err = parseFetchItems(fo)
	if err != nil {
		errs = append(errs, fmt.Errorf("fetch_open: %w", err))
	} else {
		ensureMessageID(fetchOpen)
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return fetchNew, fetchOpen, nil
}
