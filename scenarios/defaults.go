package scenarios

import (
	"time"

	"github.com/mailsim/mailsim/clients"
)

// Defaults of a scenario's top-level settings.
const (
	DefaultSeed     = 1
	DefaultDuration = time.Minute
	DefaultSettle   = 10 * time.Second
	DefaultAudit    = 2 * time.Second
	// DefaultStopGrace is stop_grace's default (clients.DefaultStopGrace).
	DefaultStopGrace = clients.DefaultStopGrace
	DefaultDomain    = "example.com"
	// DefaultUsername is the username pattern when users.username and
	// users.file are both omitted.
	DefaultUsername = "user{n}"
	// DefaultPassword is the password when users.password is omitted and
	// $MAILSIM_PASSWORD is unset (the embedded server's default too).
	DefaultPassword = "pass"
	// MaxUsers caps users.count and the --users override.
	MaxUsers = 10_000_000
)

// BuiltinProfiles returns the names of the built-in device profiles, sorted
// (clients.BuiltinNames).
func BuiltinProfiles() []string { return clients.BuiltinNames() }

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
func defaultHand() map[clients.Kind]float64 {
	return map[clients.Kind]float64{clients.KindPC: 0.6, clients.KindPhone: 0.3, clients.KindWebmail: 0.1}
}
