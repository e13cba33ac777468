package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/mailsim/mailsim/internal/audit"
)

// TestDivergenceByReasonInReport: the reasons of the divergent messages and
// the unexplained examples reach the JSON report and the summary; a run
// with unexplained divergence says so in a note.
func TestDivergenceByReasonInReport(t *testing.T) {
	in := sampleInput(t)
	in.Audit.DivergentByReason = map[audit.Reason]int{audit.ReasonDeletedFromServer: 2, audit.ReasonPOP3LocalOnly: 6, audit.ReasonUnexplained: 4, audit.ReasonLost: 0}
	in.Audit.Unexplained = []audit.UnexplainedMessage{{
		User: "u1", MessageID: "<m1@x>", Dimensions: []string{"folder", "flags"},
		Shown: map[string]string{"u1/pc": `INBOX (\Seen)`, "u1/phone": "Archive ()"}, Server: "Archive ()",
	}}
	r := Build(in)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Divergence struct {
			Final struct {
				ByReason map[string]int `json:"by_reason"`
			} `json:"final"`
		} `json:"divergence"`
		Unexplained []map[string]any `json:"unexplained_examples"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"deleted-from-server": 2, "pop3-local-only": 6, "unexplained": 4}; !reflect.DeepEqual(doc.Divergence.Final.ByReason, want) {
		t.Errorf("by_reason = %v, want %v", doc.Divergence.Final.ByReason, want)
	}
	want := []map[string]any{{
		"user": "u1", "message_id": "<m1@x>", "dimension": "folder,flags", "server": "Archive ()",
		"shown": map[string]any{"u1/pc": `INBOX (\Seen)`, "u1/phone": "Archive ()"},
	}}
	if !reflect.DeepEqual(doc.Unexplained, want) {
		t.Errorf("unexplained_examples = %v, want %v", doc.Unexplained, want)
	}
	buf.Reset()
	if err := r.WriteSummary(&buf); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"divergent messages by reason: deleted-from-server=2 pop3-local-only=6 unexplained=4",
		"note: 4 divergent messages are unexplained",
	} {
		if !strings.Contains(buf.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, buf.String())
		}
	}
	// A converged run has an empty list, and no note.
	r = Build(Input{Scenario: "converged"})
	buf.Reset()
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"unexplained_examples": []`) || !strings.Contains(buf.String(), `"by_reason": {}`) ||
		strings.Contains(strings.Join(r.Notes, "\n"), "unexplained") {
		t.Errorf("converged run: notes %q, JSON\n%s", r.Notes, buf.String())
	}
}
