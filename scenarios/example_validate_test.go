package scenarios_test

import (
	"fmt"
	"time"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/scenarios"
)

// A scenario built in Go, without YAML, gets the checks Parse runs after
// decoding a file, each problem with the key path a file would have.
func ExampleScenario_Validate() {
	pc, _ := clients.Builtin("pc-imap")
	s := &scenarios.Scenario{
		Version: 1, Duration: time.Minute, TimeScale: 1, Audit: 2 * time.Second,
		Settle: 10 * time.Second, SettleUntil: scenarios.SettleTimer,
		Users: scenarios.Users{Count: 10, Username: "user{n}", Start: 1},
		Groups: []*scenarios.Group{
			{Name: "office", Share: 0.6, Devices: []string{"pc-imap"}, Behavior: "office"},
			{Name: "office", Share: 0.3, Devices: []string{"tablet"}, Behavior: "office"},
		},
		Behaviors: map[string]*scenarios.Behavior{"office": {Name: "office", OnNewMail: scenarios.OnNewMail{Read: 0.9}}},
		Devices:   map[string]*clients.Profile{"pc-imap": pc},
		Capacity: scenarios.Capacity{StartUsers: scenarios.DefaultCapacityStart, MaxUsers: 100 * scenarios.DefaultCapacityStart,
			StepDuration: scenarios.DefaultCapacityStep, Growth: scenarios.DefaultCapacityGrowth, Resolution: scenarios.DefaultCapacityResolution},
	}
	for _, err := range s.Validate() {
		fmt.Println(err)
	}
	// Output:
	// groups[1].name: duplicate group name "office" (first at groups[0].name)
	// groups[1].devices[0]: unknown device profile "tablet"; known: pc-imap, pc-pop3, phone-imap, phone-pop3, webmail
	// groups: group shares add up to 90%, not 100%
}
