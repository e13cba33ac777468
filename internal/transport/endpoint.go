package transport

import "time"

// TLSMode is how a connection is secured.
type TLSMode string

// The TLS modes of an endpoint.
const (
	TLSNone     TLSMode = "none"
	TLSStartTLS TLSMode = "starttls"
	TLSImplicit TLSMode = "implicit"
)

// Endpoint is a server address with its TLS mode. An empty TLS is TLSNone.
type Endpoint struct {
	Addr string
	TLS  TLSMode
}

// Network shapes a device's connection. Zero values mean no shaping.
type Network struct {
	// Latency is added (wall time) before each write reaches the server.
	Latency time.Duration
	// Bandwidth in bits per second; 0 is unlimited.
	Bandwidth int64
	// DisconnectEvery drops the connection after this simulated time.
	DisconnectEvery time.Duration
}
