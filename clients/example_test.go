package clients_test

import (
	"fmt"

	"github.com/mailsim/mailsim/clients"
)

// A program builds a device from a built-in profile, without a scenario
// file and without a clock (the device then runs on wall-clock time). Run
// connects it; New only checks the options.
func ExampleNew() {
	p, _ := clients.Builtin("phone-imap")
	p.Window = 50
	o := clients.Options{ID: "alice/phone", Profile: p, Username: "alice", Password: "secret", Address: "alice@example.com"}
	o.IMAP.Addr = "127.0.0.1:1143"
	d, err := clients.New(o)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.ID(), d.Profile().Kind, d.Profile().Protocol, d.Profile().Window, d.Profile().PollInterval)

	p.FetchNew = "UID X-GM-LABELS"
	for _, err := range p.Validate() {
		fmt.Println(err)
	}
	// Output:
	// alice/phone phone imap 50 15m0s
	// fetch_new: fetch items "UID X-GM-LABELS": unknown item "X-GM-LABELS"
}
