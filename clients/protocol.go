package clients

// The protocol names of mailsim's events: the values of
// CommandEvent.Protocol and of Recorder.Login's protocol, the protocol
// label of the client metrics (metrics.Protocols) and the protocol keys of
// the report and of the cost meters. IMAP and POP3 are also the device access
// protocols (Protocol).
const (
	ProtocolIMAP = string(IMAP)
	ProtocolPOP3 = string(POP3)
	ProtocolSMTP = "smtp"
	ProtocolLMTP = "lmtp"
)
