package clients

import "time"

// sessionRoundTrips are the fewest round trips of one poll that downloads
// one message: POP3 CAPA, AUTH, STAT, UIDL, LIST, RETR and QUIT; IMAP
// CAPABILITY, LOGIN, LIST, EXAMINE, UID SEARCH, two UID FETCHes and
// LOGOUT (clients/pop3_device.go, clients/imap_phone.go).
var sessionRoundTrips = map[Protocol]int{POP3: 7, IMAP: 8}

// SessionLength is the least length of a session of a device beside its
// network's drop interval (SessionLengthOf).
type SessionLength struct {
	// Trips are the session's round trips (sessionRoundTrips), Wall its
	// least length in wall time: Trips × Network.Latency.
	Trips int
	Wall  time.Duration
	// InRun is the session's simulated length in a run (Wall × the
	// run's time_scale: the latency is wall time, not compressed) as a
	// share of Network.DisconnectEvery; OnNetwork the share on a real
	// network with the same figures (Wall ÷ DisconnectEvery). Past 1
	// every session is cut before it ends.
	InRun, OnNetwork float64
}

// SessionLengthOf compares the least length of a session of a device of
// profile p with its network's drop interval (Network.DisconnectEvery,
// simulated time: a connection is dropped that long after it opens) in a
// run at timeScale. Transfers at Network.Bandwidth are left out, so the
// shares are lower bounds. ok is false when the profile's network drops
// nothing or adds no latency.
func SessionLengthOf(p *Profile, timeScale float64) (l SessionLength, ok bool) {
	nw := p.Network
	l.Trips = sessionRoundTrips[p.Protocol]
	if nw.DisconnectEvery <= 0 || nw.Latency <= 0 || l.Trips == 0 || timeScale <= 0 {
		return SessionLength{}, false
	}
	l.Wall = time.Duration(l.Trips) * nw.Latency
	l.OnNetwork = float64(l.Wall) / float64(nw.DisconnectEvery)
	l.InRun = l.OnNetwork * timeScale
	return l, true
}
