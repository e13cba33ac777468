package mailserver

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"sync/atomic"
)

// tlsSwitch is a connection that turns to TLS in its middle, on STARTTLS,
// below the layers that read it: the IMAP guard (mutf7.go) and the SMTP
// and LMTP command meter (meter_smtp.go) answer STARTTLS themselves and
// call start, so that they, and the command meter, go on reading the
// commands in clear text. A protocol library starting TLS itself would wrap
// them in it and leave them encrypted bytes: commands unrecorded, not
// limited, not attributed. Read and Write go through TLS once started;
// deadlines and Close go to Conn, below it.
type tlsSwitch struct {
	net.Conn
	// conf is the server's TLS configuration; nil: STARTTLS is not
	// offered.
	conf *tls.Config
	// secure is set once the connection is encrypted: accepted over TLS
	// (implicit TLS) or after start.
	secure atomic.Bool
	// tlsConn is, after start, the TLS server connection over Conn; nil
	// before. Written once by the reading goroutine, read by writers too.
	tlsConn atomic.Pointer[tls.Conn]
}

// init sets the switch over c with the server's configuration conf. A c
// that is a *tls.Conn is taken for encrypted already.
func (s *tlsSwitch) init(c net.Conn, conf *tls.Config) {
	s.Conn, s.conf = c, conf
	_, secure := c.(*tls.Conn)
	s.secure.Store(secure)
}

// conn is the connection to read and write: the TLS one after start, else
// Conn.
func (s *tlsSwitch) conn() net.Conn {
	if t := s.tlsConn.Load(); t != nil {
		return t
	}
	return s.Conn
}

func (s *tlsSwitch) Read(p []byte) (int, error)  { return s.conn().Read(p) }
func (s *tlsSwitch) Write(p []byte) (int, error) { return s.conn().Write(p) }

// canStart reports whether STARTTLS may start TLS now: the server has a
// configuration and the connection is not encrypted yet.
func (s *tlsSwitch) canStart() bool { return s.conf != nil && !s.secure.Load() }

// start makes every later Read and Write go through a TLS server
// connection over Conn, once the STARTTLS command is answered. readAhead
// is what the caller had read past the command's line: the start of the
// client's TLS handshake, never commands (RFC 3207 and RFC 2595 forbid
// pipelining past STARTTLS; plain text there is an injection attempt, and
// TLS takes it for a broken handshake). The handshake runs in the first
// Read or Write, under Conn's deadlines.
func (s *tlsSwitch) start(readAhead []byte) {
	var below net.Conn = s.Conn
	if len(readAhead) > 0 {
		below = &prefixConn{Conn: s.Conn, prefix: bytes.Clone(readAhead)}
	}
	s.tlsConn.Store(tls.Server(below, s.conf))
	s.secure.Store(true)
}

// prefixConn reads prefix before reading Conn: the bytes read past
// STARTTLS, the start of the client's TLS handshake.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.prefix)
	c.prefix = c.prefix[n:]
	return n, nil
}

// errLibraryTLS fails a TLS handshake a protocol library started itself
// (refusingTLS).
var errLibraryTLS = errors.New("mailserver: STARTTLS is answered below the protocol library")

// refusingTLS is the TLS configuration given to a protocol library whose
// STARTTLS is answered below it (go-smtp: see meter_smtp.go): having one,
// the library announces STARTTLS, but every handshake it starts fails, so
// that no command can pass encrypted above the command meter even if a
// STARTTLS reached the library (one the meter took for message data).
func refusingTLS() *tls.Config {
	return &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return nil, errLibraryTLS
	}}
}
