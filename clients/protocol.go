package clients

import "github.com/mailsim/mailsim/scenarios"

// The protocol names of mailsim's events: the values of
// CommandEvent.Protocol and of Recorder.Login's protocol, the protocol
// label of the client metrics (metrics.Protocols) and the protocol keys of
// the report and of the cost meters. IMAP and POP3 are the device access
// protocols of scenarios.Protocol.
const (
	ProtocolIMAP = string(scenarios.IMAP)
	ProtocolPOP3 = string(scenarios.POP3)
	ProtocolSMTP = "smtp"
	ProtocolLMTP = "lmtp"
)
