package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// Failed logins are told apart by outcome in the JSON report and the
// summary.
func TestLoginsByOutcome(t *testing.T) {
	in := sampleInput(t)
	in.Logins = map[string]LoginStat{
		"imap": {OK: 20},
		"pop3": {OK: 40, Failed: 4, FailedBy: map[string]uint64{"auth": 1, "refused": 3}},
	}
	r := Build(in)
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Load struct {
			Logins map[string]map[string]any `json:"logins"`
		} `json:"load"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	pop3 := doc.Load.Logins["pop3"]
	by, _ := pop3["failed_by"].(map[string]any)
	if pop3["failed"] != 4.0 || by["auth"] != 1.0 || by["refused"] != 3.0 {
		t.Errorf("load.logins.pop3 = %v", pop3)
	}
	if _, ok := doc.Load.Logins["imap"]["failed_by"]; ok {
		t.Errorf("load.logins.imap has failed_by with no failure: %v", doc.Load.Logins["imap"])
	}
	var sum bytes.Buffer
	if err := r.WriteSummary(&sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"logins pop3: 40 ok, 4 failed (refused 3, auth 1)\n", "logins imap: 20 ok, 0 failed\n"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
}
