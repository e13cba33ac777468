package metrics

import (
	"strings"

	"github.com/mailsim/mailsim/clients"
	"github.com/mailsim/mailsim/internal/transport"
)

// Other is the label value that stands for every value outside an
// allow-list.
const Other = "other"

// Protocols lists the protocol label values, in a fixed order.
func Protocols() []string {
	return []string{clients.ProtocolIMAP, clients.ProtocolPOP3, clients.ProtocolSMTP, clients.ProtocolLMTP}
}

// Outcomes lists the outcome label values of commands and logins.
func Outcomes() []string { return append([]string(nil), outcomeNames[:]...) }

// ChangeKinds lists the change label values of the convergence metrics.
func ChangeKinds() []string {
	return []string{"deliver", "read", "reply", "forward", "flag", "move", "delete", "send"}
}

// Actions lists the action label values of mailsim_actions_total.
func Actions() []string {
	return []string{"read", "reply", "forward", "flag", "move", "delete", "send", "open", "sync"}
}

// plannedActions are the actions simulated people plan
// (internal/engine/person.go: decide, send): mailsim_actions_pending
// exposes them from the start.
var plannedActions = [...]string{"read", "reply", "forward", "flag", "move", "delete", "send"}

// DeliveryPaths lists the via label values of
// mailsim_messages_delivered_total.
func DeliveryPaths() []string {
	return append([]string(nil), deliveryPathNames[:len(deliveryPathNames)-1]...)
}

// DeliveryOutcomes lists the outcome label values of
// mailsim_delivery_attempts_total and mailsim_deliveries_total: ok, or why
// a delivery failed (the engine's Delivery* outcomes, docs/report.md).
func DeliveryOutcomes() []string { return append([]string(nil), deliveryOutcomeNames[:]...) }

// SubmissionOutcomes lists the outcome label values of
// mailsim_submissions_total: how a device's submission ended (the engine's
// Submission* outcomes, docs/report.md, "Submissions").
func SubmissionOutcomes() []string { return append([]string(nil), submissionOutcomeNames[:]...) }

// submissionOutcomeNames are the outcome label values of
// mailsim_submissions_total, in table order; anything else counts as
// "failed" (submissionFailedIndex).
var submissionOutcomeNames = [...]string{"sent", "failed", "unanswered", "cut"}

// submittingProtocols are the protocol indexes devices' mail is
// submitted over (the engine's submitProtocol, internal/engine/user.go):
// smtp to the target's submission server, or, without one, the
// injector's delivery protocol (lmtp, smtp, or imap for imap-append).
// pop3 never submits: mailsim_messages_sent_total and
// mailsim_submissions_total expose these from the start, the others when
// used.
var submittingProtocols = [...]int{protoIMAP, protoSMTP, protoLMTP}

// submissionFailedIndex is the table index of "failed".
const submissionFailedIndex = 1

// submissionOutcomeIndex returns the table index of a submission outcome.
func submissionOutcomeIndex(o string) int {
	for i, n := range submissionOutcomeNames {
		if o == n {
			return i
		}
	}
	return submissionFailedIndex
}

// Dimensions lists the dimension label values of
// mailsim_divergent_messages.
func Dimensions() []string { return []string{"presence", "folder", "flags"} }

// FolderRoles lists the folder label values of mailsim_server_stored_*.
func FolderRoles() []string {
	return []string{"inbox", "sent", "drafts", "trash", "junk", "archive"}
}

// commandNames is the allow-list of command names per protocol, in the
// order of their table index. Index 0 of every protocol is Other.
var commandNames = [...][]string{
	protoIMAP: {Other, "CONNECT",
		"CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "ENABLE", "ID",
		"SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE",
		"LIST", "LSUB", "NAMESPACE", "STATUS", "APPEND", "IDLE", "CHECK", "CLOSE", "UNSELECT",
		"EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE",
		"UID SEARCH", "UID FETCH", "UID STORE", "UID COPY", "UID MOVE", "UID EXPUNGE",
		"GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "GETMETADATA", "SETMETADATA", "COMPRESS",
		"SORT", "UID SORT", "THREAD", "UID THREAD",
	},
	protoPOP3: {Other, "CONNECT",
		"USER", "PASS", "APOP", "AUTH", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET",
		"QUIT", "TOP", "UIDL", "CAPA", "STLS",
	},
	protoSMTP: {Other, "CONNECT",
		"HELO", "EHLO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY",
		"NOOP", "QUIT",
	},
	protoLMTP: {Other, "CONNECT",
		"LHLO", "STARTTLS", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT",
	},
	protoOther: {Other},
}

// commandAliases maps spellings with arguments' keywords to the command.
var commandAliases = map[string]string{
	"MAIL FROM":  "MAIL",
	"RCPT TO":    "RCPT",
	"AUTH LOGIN": "AUTH", "AUTH PLAIN": "AUTH",
}

// Protocol indexes of the fixed tables.
const (
	protoIMAP = iota
	protoPOP3
	protoSMTP
	protoLMTP
	protoOther
	numProtocols
)

// Outcome indexes of the fixed tables.
const (
	outOK = iota
	outNo
	outBad
	outError
	outRefused
	outTimeout
	outTLS
	outAuth
	outDropped
	numOutcomes
)

var (
	protocolNames = [numProtocols]string{clients.ProtocolIMAP, clients.ProtocolPOP3, clients.ProtocolSMTP, clients.ProtocolLMTP, Other}
	// outcomeNames are transport's outcome vocabulary
	// (internal/transport/outcome.go), in the order of the indexes above.
	outcomeNames = [numOutcomes]string{string(transport.OutcomeOK), string(transport.OutcomeNo), string(transport.OutcomeBad),
		string(transport.OutcomeError), string(transport.OutcomeRefused), string(transport.OutcomeTimeout),
		string(transport.OutcomeTLS), string(transport.OutcomeAuth), string(transport.OutcomeDropped)}
	// commandIndex maps a protocol's command names to their index in
	// commandNames. It is built once and only read afterwards.
	commandIndex = buildCommandIndex()
)

func buildCommandIndex() [numProtocols]map[string]int {
	var idx [numProtocols]map[string]int
	for p, names := range commandNames {
		idx[p] = make(map[string]int, len(names))
		for i, n := range names {
			if i > 0 {
				idx[p][n] = i
			}
		}
	}
	return idx
}

// protocolIndex returns the table index of a protocol name.
func protocolIndex(p string) int {
	switch p {
	case clients.ProtocolIMAP:
		return protoIMAP
	case clients.ProtocolPOP3:
		return protoPOP3
	case clients.ProtocolSMTP:
		return protoSMTP
	case clients.ProtocolLMTP:
		return protoLMTP
	case "IMAP", "POP3", "SMTP", "LMTP":
		return protocolIndex(strings.ToLower(p))
	}
	return protoOther
}

// outcomeIndex returns the table index of an outcome; unknown outcomes count
// as "error".
func outcomeIndex(o string) int {
	switch o {
	case string(transport.OutcomeOK), "OK":
		return outOK
	case string(transport.OutcomeNo), "NO":
		return outNo
	case string(transport.OutcomeBad), "BAD":
		return outBad
	case string(transport.OutcomeRefused):
		return outRefused
	case string(transport.OutcomeTimeout):
		return outTimeout
	case string(transport.OutcomeTLS):
		return outTLS
	case string(transport.OutcomeAuth):
		return outAuth
	case string(transport.OutcomeDropped):
		return outDropped
	}
	return outError
}

// cmdIndex returns the table index of command c of protocol p (0 for other).
// It does not allocate for names already in canonical upper case.
func cmdIndex(p int, c string) int {
	if i, ok := commandIndex[p][c]; ok {
		return i
	}
	if a, ok := commandAliases[c]; ok {
		return commandIndex[p][a]
	}
	if len(c) == 0 || len(c) > 32 {
		return 0
	}
	u := strings.ToUpper(strings.TrimSpace(c))
	if u == c {
		return 0
	}
	if i, ok := commandIndex[p][u]; ok {
		return i
	}
	if a, ok := commandAliases[u]; ok {
		return commandIndex[p][a]
	}
	return 0
}

// NormalizeProtocol returns the protocol label value for p: one of
// [Protocols], or "other".
func NormalizeProtocol(p string) string { return protocolNames[protocolIndex(p)] }

// NormalizeOutcome returns the outcome label value for o: one of
// [Outcomes]; anything unknown is "error".
func NormalizeOutcome(o string) string { return outcomeNames[outcomeIndex(o)] }

// NormalizeCommand returns the command label value for command c of
// protocol p: the upper-case command name ("UID FETCH") when it is in the
// protocol's allow-list, else "other". "CONNECT" stands for connecting and
// reading the greeting.
func NormalizeCommand(protocol, c string) string {
	p := protocolIndex(protocol)
	return commandNames[p][cmdIndex(p, c)]
}

// normalizeIn returns v when it is in allowed, else "other".
func normalizeIn(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return Other
}

// NormalizeChange returns the change label value: one of [ChangeKinds], or
// "other".
func NormalizeChange(c string) string { return normalizeIn(c, ChangeKinds()) }

// NormalizeAction returns the action label value: one of [Actions], or
// "other".
func NormalizeAction(a string) string { return normalizeIn(a, Actions()) }

// NormalizeDeliveryPath returns the via label value: one of
// [DeliveryPaths], or "other".
func NormalizeDeliveryPath(v string) string { return deliveryPathNames[deliveryPathIndex(v)] }

// NormalizeDeliveryOutcome returns the outcome label value of a delivery:
// one of [DeliveryOutcomes]; anything unknown is "error".
func NormalizeDeliveryOutcome(o string) string {
	return deliveryOutcomeNames[deliveryOutcomeIndex(o)]
}

// NormalizeDimension returns the dimension label value: one of
// [Dimensions], or "other".
func NormalizeDimension(d string) string { return normalizeIn(d, Dimensions()) }

// NormalizeFolderRole returns the folder label value for a folder role or
// name: one of [FolderRoles] (matched case-insensitively, "\Sent" and "Sent"
// alike), or "other" for every other folder.
func NormalizeFolderRole(r string) string {
	r = strings.ToLower(strings.TrimPrefix(r, `\`))
	switch r {
	case "spam":
		return "junk"
	case "all", "archives":
		return "archive"
	}
	return normalizeIn(r, FolderRoles())
}

// boundedName returns a label value for a name taken from the scenario
// (device profile, group): names are kept when short and made of
// [A-Za-z0-9_.:/-], everything else is "other".
func boundedName(s string) string {
	if s == "" || len(s) > 64 {
		return Other
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':' || c == '/') {
			return Other
		}
	}
	return s
}
