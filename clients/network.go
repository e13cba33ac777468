package clients

import (
	"time"

	"github.com/mailsim/mailsim/internal/transport"
)

// sessionRoundTrips are the fewest round trips of one poll that downloads
// one message: POP3 CAPA, AUTH, STAT, UIDL, LIST, RETR and QUIT; IMAP
// CAPABILITY, LOGIN, LIST, EXAMINE, UID SEARCH, two UID FETCHes and
// LOGOUT (clients/pop3_device.go, clients/imap_phone.go).
var sessionRoundTrips = map[Protocol]int{POP3: 7, IMAP: 8}

// SessionLength is the least length of a session of a device beside its
// network's drop interval (SessionLengthOf, SubmissionLengthOf).
type SessionLength struct {
	// Trips are the session's round trips (sessionRoundTrips,
	// submissionRoundTrips); Transfer the wall time its one message
	// takes at Network.Bandwidth; Wall its least length in wall time:
	// Trips × Network.Latency + Transfer.
	Trips    int
	Transfer time.Duration
	Wall     time.Duration
	// InRun is the session's simulated length in a run (Wall × the
	// run's time_scale: latency and bandwidth are wall time, not
	// compressed) as a share of Network.DisconnectEvery; OnNetwork the
	// share on a real network with the same figures (Wall ÷
	// DisconnectEvery). Past 1 every session is cut before it ends.
	InRun, OnNetwork float64
}

// submissionRoundTrips are the fewest round trips of an SMTP submission
// (clients/smtp.go): EHLO, AUTH, MAIL, one RCPT, DATA, the message data
// and QUIT.
const submissionRoundTrips = 7

// SessionLengthOf compares the least length of a session of a device of
// profile p that downloads one message of message bytes (the smallest a
// session that brings mail moves; 0 leaves the transfer out) with its
// network's drop interval (Network.DisconnectEvery, simulated time: a
// connection is dropped that long after it opens) in a run at timeScale.
// An IMAP device downloads bodies only when FetchImmediate (else
// headers), so its transfer is left out otherwise. ok is false when the
// profile's network drops nothing or slows nothing.
func SessionLengthOf(p *Profile, timeScale float64, message int64) (l SessionLength, ok bool) {
	if p.Protocol == IMAP && !p.FetchImmediate {
		message = 0
	}
	return lengthOf(p.Network, sessionRoundTrips[p.Protocol], timeScale, message)
}

// SubmissionLengthOf is SessionLengthOf for the SMTP submission of one
// message of message bytes by a device on network nw (its profile's
// Network, which shapes its submission as its other connections:
// SMTPOptions.Network): its round trips (submissionRoundTrips) and the
// upload of the message at the bandwidth. Each submission has a
// connection of its own, dropped Network.DisconnectEvery after it opens:
// one that lasts longer is cut.
func SubmissionLengthOf(nw transport.Network, timeScale float64, message int64) (l SessionLength, ok bool) {
	return lengthOf(nw, submissionRoundTrips, timeScale, message)
}

// lengthOf is the least length of a session of trips round trips that
// moves message bytes (0: none) on network nw beside its drop interval
// in a run at timeScale; ok is false when nw drops nothing or slows
// nothing.
func lengthOf(nw transport.Network, trips int, timeScale float64, message int64) (l SessionLength, ok bool) {
	l.Trips = trips
	if nw.Bandwidth > 0 && message > 0 {
		l.Transfer = time.Duration(message * 8 * int64(time.Second) / nw.Bandwidth)
	}
	l.Wall = time.Duration(l.Trips)*nw.Latency + l.Transfer
	if nw.DisconnectEvery <= 0 || l.Trips == 0 || timeScale <= 0 || l.Wall <= 0 {
		return SessionLength{}, false
	}
	l.OnNetwork = float64(l.Wall) / float64(nw.DisconnectEvery)
	l.InRun = l.OnNetwork * timeScale
	return l, true
}
