//go:build !linux

package transport

import "net"

// rawIO is the raw socket reader and writer of rawio_linux.go; on other
// platforms there is none and connections use net.Conn's Read and Write.
type rawIO struct{ net.Conn }

// newRawIO returns nil: no raw I/O on this platform.
func newRawIO(net.Conn) *rawIO { return nil }

// writeRead is never called: there is no rawIO on this platform.
func (r *rawIO) writeRead(p, b []byte) (nw, nr int, werr, rerr error) {
	if nw, werr = r.Write(p); werr != nil {
		return nw, 0, werr, nil
	}
	nr, rerr = r.Read(b)
	return nw, nr, nil, rerr
}

// peer reports nothing: there is no raw look at the socket here.
func (r *rawIO) peer() (closed, pending bool) { return false, false }

// peek reads nothing.
func (r *rawIO) peek([]byte) int { return 0 }

// release returns false: the caller closes the connection.
func (r *rawIO) release() bool { return false }

// openFilesLimit returns 0: no placeholders to hold on this platform.
func openFilesLimit() uint64 { return 0 }
