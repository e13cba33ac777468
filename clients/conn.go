package clients

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/mailsim/mailsim/internal/simclock"
	"github.com/mailsim/mailsim/internal/transport"
)

// DefaultTimeout bounds every network operation when Options.Timeout is
// zero.
const DefaultTimeout = transport.DefaultTimeout

// timeout returns o.Timeout or DefaultTimeout.
func (o *Options) timeout() time.Duration {
	if o == nil || o.Timeout <= 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

// logger returns o.Logger or a logger that discards.
func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return discardLogger
	}
	return o.Logger
}

// recorder returns o.Recorder or a recorder that discards; never nil.
func (o *Options) recorder() Recorder {
	if o == nil || o.Recorder == nil {
		return DiscardRecorder{}
	}
	return o.Recorder
}

// tlsConfig returns the TLS configuration for addr built from o.TLS (see
// transport.TLSConfig).
func (o *Options) tlsConfig(addr string) *tls.Config {
	var base *tls.Config
	if o != nil {
		base = o.TLS
	}
	return transport.TLSConfig(base, addr)
}

var discardLogger = slog.New(slog.DiscardHandler)

// DiscardRecorder is a Recorder that keeps nothing: the one used when none
// is configured.
type DiscardRecorder struct{}

func (DiscardRecorder) Command(CommandEvent)            {}
func (DiscardRecorder) Bytes(string, int64, int64)      {}
func (DiscardRecorder) Connection(string, int)          {}
func (DiscardRecorder) Login(string, transport.Outcome) {}

// dialConfig is the transport.Config of a connection to ep for protocol
// ("imap", "pop3", "smtp") with o's timeout, TLS settings, Recorder and
// the network shaping of o.Profile (its drops: dropInterval). With ep.TLS
// implicit the TLS handshake is done before the dial returns; with
// starttls the protocol code sends its STARTTLS command and calls
// Conn.StartTLS. A device dials it under the stop's rule
// (transport.Setup: dialWatched, imapDevice.dialIMAP): the dial, the
// implicit TLS handshake and the greeting have the stop's grace.
func dialConfig(o *Options, protocol string, ep transport.Endpoint) transport.Config {
	var nw transport.Network
	var clock *simclock.Clock
	var tlsBase *tls.Config
	var late *transport.LateCloser
	if o != nil {
		clock, tlsBase, late = o.Clock, o.TLS, o.Late
		if o.Profile != nil {
			nw = o.Profile.Network
		}
	}
	return transport.Config{
		Protocol:   protocol,
		Endpoint:   ep,
		Meter:      o.recorder(),
		Timeout:    o.timeout(),
		TLS:        tlsBase,
		Network:    nw,
		DropAfter:  dropInterval(nw, clock),
		LateCloser: late,
	}
}

// dropInterval returns the wall time after which a connection of a
// device on network nw (its profile's Network) is dropped in a scenario
// run on clock (transport.Config.DropAfter): nw.DisconnectEvery of
// simulated time, at least 1 ms; zero, never, without DisconnectEvery or
// without a clock. The device's IMAP and POP3 connections (dial) and its
// submission's (NewSMTPSubmitter) are dropped alike.
func dropInterval(nw transport.Network, clock *simclock.Clock) time.Duration {
	if nw.DisconnectEvery <= 0 || clock == nil {
		return 0
	}
	return max(clock.Wall(nw.DisconnectEvery), time.Millisecond)
}
