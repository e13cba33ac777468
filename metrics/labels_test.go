package metrics

import (
	"slices"
	"testing"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/cost"
	"github.com/mailsim/mailsim/internal/transport"
)

func TestNormalizeCommand(t *testing.T) {
	tests := []struct{ protocol, command, want string }{
		{"imap", "UID FETCH", "UID FETCH"},
		{"imap", "uid fetch", "UID FETCH"},
		{"imap", "FETCH", "FETCH"},
		{"imap", "XYZZY", "other"},
		{"imap", "RETR", "other"}, // a POP3 command is not an IMAP one
		{"pop3", "RETR", "RETR"},
		{"pop3", "retr", "RETR"},
		{"smtp", "MAIL FROM", "MAIL"},
		{"smtp", "RCPT TO", "RCPT"},
		{"lmtp", "LHLO", "LHLO"},
		{"smtp", "LHLO", "other"},
		{"imap", "", "other"},
		{"imap", "FETCH 1:* (FLAGS) and some very long arguments", "other"},
		{"gopher", "GET", "other"},
		{"IMAP", "SELECT", "SELECT"},
	}
	for _, tt := range tests {
		if got := NormalizeCommand(tt.protocol, tt.command); got != tt.want {
			t.Errorf("NormalizeCommand(%q, %q) = %q, want %q", tt.protocol, tt.command, got, tt.want)
		}
	}
}

func TestNormalizeLabels(t *testing.T) {
	tests := []struct {
		name string
		f    func(string) string
		in   string
		want string
	}{
		{"protocol", NormalizeProtocol, "pop3", "pop3"},
		{"protocol unknown", NormalizeProtocol, "nntp", "other"},
		{"outcome", NormalizeOutcome, "no", "no"},
		{"outcome timeout", NormalizeOutcome, "timeout", "timeout"},
		{"outcome unknown", NormalizeOutcome, "weird", "error"},
		{"change", NormalizeChange, "move", "move"},
		{"change unknown", NormalizeChange, "teleport", "other"},
		{"action", NormalizeAction, "reply", "reply"},
		{"action unknown", NormalizeAction, "print", "other"},
		{"via", NormalizeDeliveryPath, "imap-append", "imap-append"},
		{"via unknown", NormalizeDeliveryPath, "pigeon", "other"},
		{"dimension", NormalizeDimension, "flags", "flags"},
		{"folder role", NormalizeFolderRole, `\Sent`, "sent"},
		{"folder name", NormalizeFolderRole, "INBOX", "inbox"},
		{"folder spam", NormalizeFolderRole, "Spam", "junk"},
		{"folder custom", NormalizeFolderRole, "Projects", "other"},
		{"scenario name", boundedName, "pc-imap", "pc-imap"},
		{"scenario name with space", boundedName, "pc imap", "other"},
		{"empty name", boundedName, "", "other"},
	}
	for _, tt := range tests {
		if got := tt.f(tt.in); got != tt.want {
			t.Errorf("%s: %q → %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

// Every protocol name an event can carry (clients.Protocol*) is a label
// value of its own, not "other", in metrics and in the cost meters; and
// the values are the ones the dashboards query (a contract).
func TestProtocolNamesKnown(t *testing.T) {
	tests := []struct{ constant, label string }{
		{clients.ProtocolIMAP, "imap"},
		{clients.ProtocolPOP3, "pop3"},
		{clients.ProtocolSMTP, "smtp"},
		{clients.ProtocolLMTP, "lmtp"},
	}
	if got := len(Protocols()); got != len(tests) {
		t.Errorf("Protocols() has %d values, want %d", got, len(tests))
	}
	for _, tt := range tests {
		if tt.constant != tt.label {
			t.Errorf("protocol constant %q, dashboards query %q", tt.constant, tt.label)
		}
		if got := NormalizeProtocol(tt.constant); got != tt.label {
			t.Errorf("NormalizeProtocol(%q) = %q", tt.constant, got)
		}
		if !slices.Contains(Protocols(), tt.constant) {
			t.Errorf("Protocols() lacks %q", tt.constant)
		}
		if !slices.Contains(cost.Protocols[:], tt.constant) {
			t.Errorf("cost.Protocols lacks %q", tt.constant)
		}
	}
}

// TestOutcomesAreTransports pins the outcome label values to the
// classifiers' vocabulary (internal/transport/outcome.go): every outcome
// a classifier returns is a label value of its own, in the same order.
func TestOutcomesAreTransports(t *testing.T) {
	var want []string
	for _, o := range transport.Outcomes() {
		want = append(want, string(o))
		if got := NormalizeOutcome(string(o)); got != string(o) {
			t.Errorf("NormalizeOutcome(%q) = %q", o, got)
		}
	}
	if got := Outcomes(); !slices.Equal(got, want) {
		t.Errorf("Outcomes() = %v, want transport's %v", got, want)
	}
}
